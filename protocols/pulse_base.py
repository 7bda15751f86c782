"""Common ground of the write-pulse protocols: shared parameters and the pulse-then-read step.

Pulse train, potentiation/depression, write-verify and endurance all apply an SMU write
pulse, then read at a low voltage, and record both (``pulses`` and ``samples`` streams,
see :mod:`protocols.pulsing`). Declaring the shared parameters once keeps their names,
units and limits identical across protocols, which scripts and the GUI rely on.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

import numpy as np

from analysis.conductance import conductance_g0
from drivers.keithley4200 import MAX_LIST_POINTS, SMU_I_MAX, SMU_V_MAX
from drivers.system_mode import TestInterrupted
from drivers.validation import ParameterError
from protocols import pulsing
from protocols.base import Channels, Protocol, Record, RunContext, Step, as_columns
from protocols.parameters import Param


def width_param(default: float = 5e-3, name: str = "width",
                doc: str = "write pulse width") -> Param:
    return Param(name, default, "s", 0.0, 6.5, doc, lo_open=True)


def read_width_param(default: float = 0.02) -> Param:
    return Param("read_width", default, "s", 0.0, 6.5, "duration of each read", lo_open=True)


def period_param(default: float = 0.05) -> Param:
    return Param("period", default, "s", 0.0, 3600.0,
                 "pulse start to next pulse start (includes the read)", lo_open=True)


def v_read_param(default: float = 0.1, doc: str = "read voltage") -> Param:
    return Param("v_read", default, "V", -SMU_V_MAX, SMU_V_MAX, doc, safety="voltage")


def compliance_param(name: str = "compliance", default: float = 5e-3,
                     doc: str = "current compliance of the write pulses (SMU, true "
                     "compliance)") -> Param:
    return Param(name, default, "A", 0.0, SMU_I_MAX, doc, lo_open=True, safety="current")


def amplitude_param(name: str = "amplitude", default: float = 1.5,
                    doc: str = "pulse amplitude (magnitude; the sign follows the polarity)"
                    ) -> Param:
    return Param(name, default, "V", 0.0, SMU_V_MAX, doc, lo_open=True, safety="voltage")


TIMING_PARAM = Param(
    "timing", "host", "",
    doc="host: one test per pulse and per read (own read compliance, a record per pulse); "
    "instrument: the train as SMU lists of pulse, read and 0 V points (exact period; reads "
    "share the pulse compliance; records per list); auto: instrument when width, "
    "read_width and period share a point time",
    kind="str", choices=("auto", "instrument", "host"))
SMU_PARAM = Param("smu", 1, "", 1, 8, "SMU wired to the top electrode", kind="int")
READ_COMPLIANCE_PARAM = compliance_param("read_compliance", 1e-3,
                                         "current compliance of the reads")
#: the closing parameters of a train whose timing is chosen by ``timing`` (pulse train,
#: potentiation/depression): pulse and read compliance, timing, SMU
TIMED_TRAIN_PARAMS = (
    compliance_param(default=5e-3),
    READ_COMPLIANCE_PARAM,
    TIMING_PARAM,
    SMU_PARAM,
)
#: compliance of SET and RESET write pulses (endurance, write-verify)
SET_RESET_COMPLIANCE = (
    compliance_param("compliance_set", 5e-3, "SET pulse compliance"),
    compliance_param("compliance_reset", 0.02, "RESET pulse compliance"),
)


class PulseProtocol(Protocol):
    """Base of the write/read pulse protocols (see module docstring)."""

    streams = pulsing.PULSE_STREAMS

    def check_timing(self) -> None:
        """Width and read width fit the SMU; the period holds a pulse and its read."""
        v = self.values
        pulsing.check_point_time("width", v.width)
        pulsing.check_point_time("read_width", v.read_width)
        if v.period < v.width + v.read_width - 1e-12:
            raise ParameterError("period", v.period,
                                 f">= width + read_width = {v.width + v.read_width:g} s")

    def check(self) -> None:
        self.check_timing()
        if self.timing() == "instrument" and self.layout() is None:
            raise ParameterError(
                "timing", "instrument",
                "host or auto here: width, read_width and period need a common point time "
                f">= {pulsing.T_POINT_MIN:.3g} s on a 1 us grid and <= 4096 points per period")

    def timing(self) -> str:
        """How the train is timed: ``host`` unless the protocol declares ``timing``
        (:data:`TIMING_PARAM`: pulse train, potentiation/depression)."""
        return "host"

    def channels(self) -> Channels:
        return Channels(smus=(self.values.smu,))

    def layout(self) -> tuple[float, int, int, int] | None:
        """Instrument-timed train layout, or None for host timing (see ``timing``)."""
        v = self.values
        if self.timing() == "host":
            return None
        return pulsing.train_layout(v.width, v.read_width, v.period)

    def instrument_settings(self) -> dict:
        v = self.values
        lay = self.layout()
        out = {"smu": v.smu, "pulse_source": "SMU list sweep (true compliance)"}
        if lay:
            out.update(timing="instrument: one list of pulse, read and 0 V points",
                       point_time_s=lay[0], read_integration=pulsing.integration_for(lay[0]),
                       read_compliance="the pulse compliance (one compliance per list)")
        else:
            out.update(timing="host: one test per pulse and per read",
                       read_integration=pulsing.integration_for(v.read_width))
        return out

    def train(self, ctx: RunContext, amplitudes, v_reads, index, cycle, phase,
              compliance: float, progress: tuple[int, int] = (0, 0),
              ) -> Iterator[Record | Step]:
        """Pulses ``amplitudes[k]`` each followed by a read at ``v_reads[k]``.

        Instrument-timed when :meth:`layout` allows (lists of whole periods, <= 4096
        points per test), else one pulse and one read at a time with host-timed rests.
        ``progress = (done, total)`` pulses for the progress fraction.
        """
        amps, reads = np.asarray(amplitudes, float), np.asarray(v_reads, float)
        idx, cyc, ph = (np.broadcast_to(np.asarray(x), amps.shape) for x in (index, cycle, phase))
        done0, total = progress
        total = total or amps.size
        lay = self.layout()
        if lay is None:
            for k in range(amps.size):
                yield from self.write_read(ctx, int(idx[k]), int(cyc[k]), int(ph[k]),
                                           float(amps[k]), float(reads[k]), compliance)
                yield Step((done0 + k + 1) / total)
            return
        q, a, b, c = lay
        per_test = MAX_LIST_POINTS // c
        v = self.values
        for start in range(0, amps.size, per_test):
            sl = slice(start, min(start + per_test, amps.size))
            m = sl.stop - sl.start
            levels = np.zeros((m, c))
            levels[:, :a] = amps[sl, None]
            levels[:, a:a + b] = reads[sl, None]
            meta = (idx[sl], cyc[sl], ph[sl])
            show = self._live_periods(ctx, lay, meta, compliance, done0 + start, total)
            try:
                shot = pulsing.smu_levels(ctx, v.smu, levels.ravel(), compliance, q,
                                          live=show)
            except TestInterrupted as exc:  # aborted mid-list: keep the whole periods
                if exc.shot is not None and exc.shot.current.size >= c:
                    yield list(self._period_records(exc.shot, 0, exc.shot.current.size // c,
                                                    lay, meta, compliance))
                raise
            if shot.current.size < m * c:
                raise RuntimeError(f"pulses {start + 1}..{sl.stop}: {shot.current.size} of "
                                   f"{m * c} points returned")
            yield from self._period_records(shot, 0, m, lay, meta, compliance)
            yield Step((done0 + sl.stop) / total)

    def _period_records(self, shot: pulsing.Shot, p0: int, p1: int, lay: tuple,
                        meta: tuple, compliance: float) -> Iterator[Record]:
        """``pulses`` and ``samples`` rows of periods ``p0..p1`` of one list's points."""
        _, a, b, c = lay
        idx, cyc, ph = (x[p0:p1] for x in meta)
        cols = {name: arr[p0 * c: p1 * c].reshape(p1 - p0, c) for name, arr in (
            ("t", shot.time), ("vp", shot.v_program), ("v", shot.voltage),
            ("i", shot.current), ("comp", shot.compliance))}
        at_pulse = {k: x[:, a - 1] for k, x in cols.items()}
        at_read = {k: x[:, a + b - 1] for k, x in cols.items()}
        yield Record("pulses", as_columns(
            time_s=at_pulse["t"], pulse_index=idx, cycle=cyc, phase=ph,
            v_program_V=at_pulse["vp"], voltage_V=at_pulse["v"], current_A=at_pulse["i"],
            compliance=cols["comp"][:, :a].any(axis=1), width_s=self.values.width,
            compliance_A=compliance))
        yield Record("samples", as_columns(
            time_s=at_read["t"], pulse_index=idx, cycle=cyc, phase=ph,
            v_program_V=at_read["vp"], voltage_V=at_read["v"], current_A=at_read["i"],
            conductance_G0=conductance_g0(at_read["v"], at_read["i"]),
            compliance=at_read["comp"]))

    def _live_periods(self, ctx: RunContext, lay: tuple, meta: tuple, compliance: float,
                      done: int, total: int) -> Callable[[pulsing.Shot], None]:
        """The live callback of one list: each whole period measured, as live rows."""
        c = lay[3]
        parts: list[pulsing.Shot] = []
        shown = [0]

        def show(part: pulsing.Shot) -> None:
            parts.append(part)
            points = pulsing.join(parts)
            k = points.current.size // c
            if k > shown[0]:
                *first, last = self._period_records(points, shown[0], k, lay, meta,
                                                    compliance)
                for rec in first:
                    ctx.live(rec)
                ctx.live(last, (done + k) / total)  # with the progress of the whole run
                shown[0] = k

        return show

    def write_read(self, ctx: RunContext, index: int, cycle: int, phase: int,
                   amplitude: float, v_read: float, compliance: float,
                   ) -> Generator[Record, None, float]:
        """Pulse, read, wait out the period; yields both rows, returns the read G in G0."""
        v = self.values
        shot = pulsing.pulse(ctx, v.smu, amplitude, v.width, compliance)
        yield pulsing.pulse_record(shot, index, cycle, phase, v.width, compliance)
        rd = pulsing.read(ctx, v.smu, v_read, v.read_width, v.read_compliance)
        yield pulsing.read_record(rd, index, cycle, phase)
        pulsing.wait_rest(ctx, v.period, v.width + v.read_width)
        return float(rd.conductance_g0[-1]) if rd.current.size else float("nan")

    def initial_read(self, ctx: RunContext, v_read: float, cycle: int = 0
                     ) -> Generator[Record, None, float]:
        """A read before the first pulse (``pulse_index`` 0, ``phase`` 0)."""
        v = self.values
        rd = pulsing.read(ctx, v.smu, v_read, v.read_width, v.read_compliance)
        yield pulsing.read_record(rd, 0, cycle, pulsing.NONE)
        return float(rd.conductance_g0[-1]) if rd.current.size else float("nan")


class TimedTrainProtocol(PulseProtocol):
    """A pulse protocol that declares :data:`TIMED_TRAIN_PARAMS`: its ``timing`` value says
    how the train is timed."""

    def timing(self) -> str:
        return self.values.timing
