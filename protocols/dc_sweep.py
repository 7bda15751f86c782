"""DC double sweep 0 -> +v_set -> 0 -> -v_reset -> 0 with current compliance.

Compliance is set per half (SET: segments 1-2, RESET: 3-4) and is always a positive
current: ``0`` is refused (it used to mean "none", i.e. silently the safety profile's
maximum, which destroys a device that needed a low limit). A half whose compliance the
user did not set runs at the parameter's default, and the run says which value it used
(:meth:`~protocols.base.Protocol.compliances`: the CLI start line and the run file's
``compliances`` attribute); every cycle records the values used. ``compliance_ladder``
repeats the loop ``cycles`` times at each SET compliance of the list (the "thickness
knob" series of paper 000 Fig. 2).
``sweep = set-only`` runs segments 1-2 only (forming: one slow sweep at low compliance,
see the ``forming`` preset). The ``cycles`` stream holds per cycle the compliance used and
the V_SET / V_RESET candidates: the first current jump by at least ``jump_ratio`` (or
the first point in compliance) on the way out of segments 1 and 3 (paper 000's "first
current jump during the SET and RESET process").

The SET half (0 -> +v_set -> 0) and the RESET half (0 -> -v_reset -> 0) run as separate
instrument tests because one KXCI list sweep carries one compliance [M 5-16]; each half is
further split into consecutive tests of at most 4096 points, so the paper's 1 mV steps over
+-3 V (12 000 points) run without a gap in the record or a jump in the applied voltage
(every chunk starts at the point after the previous chunk's last one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from analysis.conductance import conductance_g0
from analysis.switching import switching_voltage as detect_switch
from drivers.keithley4200 import (
    INTEGRATION_PLC,
    MAX_LIST_POINTS,
    SMU_I_MAX,
    SMU_V_MAX,
    SweepData,
)
from drivers.system_mode import TestInterrupted
from drivers.validation import ParameterError
from protocols.base import STEP, Channels, Protocol, Record, RunContext, Step, as_columns
from protocols.parameters import Param
from protocols.pulsing import LINE_HZ, wait_bound


def ramp(a: float, b: float, step: float, include_start: bool) -> np.ndarray:
    """Points from a to b (inclusive) spaced by at most ``step``."""
    n = max(1, int(np.ceil(abs(b - a) / step - 1e-9)))
    pts = np.linspace(a, b, n + 1)
    return pts if include_start else pts[1:]


def segments(v_set: float, v_reset: float, step: float) -> list[tuple[int, np.ndarray]]:
    """The four segments (1: 0->+V, 2: +V->0, 3: 0->-V, 4: -V->0), no repeated points."""
    return [
        (1, ramp(0.0, v_set, step, True)),
        (2, ramp(v_set, 0.0, step, False)),
        (3, ramp(0.0, -v_reset, step, False)),
        (4, ramp(-v_reset, 0.0, step, False)),
    ]


def chunks(n: int, size: int = MAX_LIST_POINTS) -> list[slice]:
    """Consecutive slices of at most ``size`` points covering ``range(n)``."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


class DCSweep(Protocol):
    """Bipolar DC I-V loop with separate SET and RESET compliance, N cycles."""

    name = "dc-sweep"
    title = "DC double sweep"
    params = (
        Param("v_set", 3.0, "V", 0.0, SMU_V_MAX, "SET sweep end voltage (top electrode +)",
              lo_open=True, safety="voltage"),
        Param("v_reset", 3.0, "V", 0.0, SMU_V_MAX,
              "RESET sweep magnitude: the sweep goes to -v_reset", lo_open=True,
              safety="voltage"),
        Param("step", 0.01, "V", 0.0, 1.0, "voltage step between points", lo_open=True),
        Param("dwell", 0.0, "s", 0.0, 6.553, "delay at each point before measuring (DT)"),
        Param("compliance_set", 5e-3, "A", 0.0, SMU_I_MAX,
              "current compliance, SET half (always explicit: 0 is refused)",
              lo_open=True, safety="current"),
        Param("compliance_reset", 0.02, "A", 0.0, SMU_I_MAX,
              "current compliance, RESET half (always explicit: 0 is refused)",
              lo_open=True, safety="current"),
        Param("cycles", 1, "", 1, 10000, "number of loops (per ladder step)", kind="int"),
        Param("compliance_ladder", [], "A", 0.0, SMU_I_MAX,
              "SET compliances run one after the other, cycles loops each (empty: off)",
              kind="floats", lo_open=True, safety="current"),
        Param("sweep", "bipolar", "", doc="bipolar: segments 1-4; set-only: 1-2 (forming)",
              kind="str", choices=("bipolar", "set-only")),
        Param("jump_ratio", 3.0, "", 1.0, 1e9,
              "current ratio between neighbouring points that marks V_SET / V_RESET",
              lo_open=True),
        Param("integration", "normal", "", doc="A/D integration: short 0.1 PLC, normal 1 PLC, "
              "long 10 PLC", kind="str", choices=("short", "normal", "long")),
        Param("smu", 1, "", 1, 8, "SMU wired to the top electrode", kind="int"),
        Param("points_per_test", MAX_LIST_POINTS, "", 2, MAX_LIST_POINTS,
              "largest list sweep per instrument test (points are shown live while a test "
              "runs; its rows are stored when it ends, or when an abort ends it)",
              kind="int"),
    )
    streams = {
        "samples": {
            "time_s": "f8", "v_program_V": "f8", "voltage_V": "f8", "current_A": "f8",
            "conductance_G0": "f8", "cycle": "i4", "segment": "i1", "compliance": "?",
        },
        "cycles": {
            "time_s": "f8", "cycle": "i4", "compliance_set_A": ("f8", "A"),
            "compliance_reset_A": ("f8", "A"), "v_set_V": ("f8", "V"),
            "v_reset_V": ("f8", "V"),
        },
    }

    def segments(self) -> list[tuple[int, np.ndarray]]:
        v = self.values
        segs = segments(v.v_set, v.v_reset, v.step)
        return segs[:2] if v.sweep == "set-only" else segs

    def set_compliances(self) -> list[float]:
        """SET compliance of every cycle (the ladder, or compliance_set)."""
        v = self.values
        ladder = list(v.compliance_ladder) or [v.compliance_set]
        return [c for c in ladder for _ in range(v.cycles)]

    def count_points(self) -> int:
        """Points per loop from the parameters alone (the arrays are not built: a tiny
        step would otherwise allocate gigabytes before being refused)."""
        v = self.values

        def n(span: float) -> int:  # as ramp(): ceil(span / step) points after the start
            return max(1, int(np.ceil(abs(span) / v.step - 1e-9)))

        set_half = 1 + 2 * n(v.v_set)
        return set_half if v.sweep == "set-only" else set_half + 2 * n(v.v_reset)

    def check(self) -> None:
        v = self.values
        n = self.count_points()
        if n < 4:
            raise ParameterError("step", v.step, f"< v_set and v_reset ({n} points per loop)")
        if n > 10_000_000:
            raise ParameterError("step", v.step,
                                 f">= {(2 * v.v_set + 2 * v.v_reset) / 1e7:g} V "
                                 "(at most 1e7 points per loop)")

    def channels(self) -> Channels:
        return Channels(smus=(self.values.smu,))

    def instrument_settings(self) -> dict:
        v = self.values
        return {"smu": v.smu, "integration": v.integration, "delay_s": v.dwell}

    def points_per_cycle(self) -> int:
        return sum(s.size for _, s in self.segments())

    def estimated_duration(self) -> float:
        v = self.values
        per_point = v.dwell + INTEGRATION_PLC[v.integration] / LINE_HZ
        return self.points_per_cycle() * per_point * len(self.set_compliances())

    def _live_view(self, ctx: RunContext, t0: float, first: int, program: np.ndarray,
                   seg_id: np.ndarray, cycle: int, done: int, total: int
                   ) -> Callable[[SweepData], None]:
        """The ``live`` callback of one test: its points as rows, with the run's progress."""
        shown = [first]

        def show(part: SweepData) -> None:
            ctx.live(Record("samples", self._columns(part, t0, shown[0], program, seg_id,
                                                     cycle)),
                     (done + (shown[0] + part.current.size) / program.size) / total)
            shown[0] += part.current.size

        return show

    @staticmethod
    def _columns(data: SweepData, t0: float, first: int, program: np.ndarray,
                 seg_id: np.ndarray, cycle: int) -> dict[str, np.ndarray]:
        """The ``samples`` rows of a test's points that start at ``first`` of the half."""
        n = data.current.size
        return as_columns(
            time_s=t0 + data.time, v_program_V=program[first:first + n],
            voltage_V=data.voltage, current_A=data.current,
            conductance_G0=conductance_g0(data.voltage, data.current), cycle=cycle,
            segment=seg_id[first:first + n], compliance=data.compliance)

    def plan(self, ctx: RunContext) -> Iterator[Record | Step]:
        v = self.values
        segs = self.segments()
        comp_reset = v.compliance_reset
        halves = [(1, 2), (3, 4)][: (len(segs) + 1) // 2]
        cycles = self.set_compliances()
        total = len(cycles) * len(halves)
        per_point = v.dwell + INTEGRATION_PLC[v.integration] / LINE_HZ
        done = 0
        for cycle, comp_set in enumerate(cycles):
            found = {}
            for half, comp in zip(halves, (comp_set, comp_reset), strict=False):
                program = np.concatenate([s for k, s in segs if k in half])
                seg_id = np.concatenate([np.full(s.size, k, np.int8) for k, s in segs if k in half])
                parts = []
                for sl in chunks(program.size, v.points_per_test):
                    ctx.check_abort()
                    t0 = ctx.now()
                    show = self._live_view(ctx, t0, sl.start, program, seg_id, cycle,
                                           done, total)

                    try:
                        data = ctx.instrument.list_sweep(
                            v.smu, program[sl], comp, delay=v.dwell,
                            integration=v.integration, should_stop=ctx.should_abort,
                            timeout=wait_bound(program[sl].size * per_point), live=show,
                        )
                    except TestInterrupted as exc:  # aborted mid-test: keep what it measured
                        if exc.partial is not None and exc.partial.current.size:
                            yield Record("samples", self._columns(
                                exc.partial, t0, sl.start, program, seg_id, cycle))
                        raise
                    rec = self._columns(data, t0, sl.start, program, seg_id, cycle)
                    parts.append(rec)
                    yield Record("samples", rec)
                cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
                found[half[0]] = switching_voltage(cols, half[0], v.jump_ratio)
                done += 1
                yield Step(done / total)
            yield Record("cycles", as_columns(
                time_s=ctx.now(), cycle=cycle, compliance_set_A=comp_set,
                compliance_reset_A=comp_reset if len(halves) > 1 else np.nan,
                v_set_V=found.get(1, np.nan), v_reset_V=found.get(3, np.nan)))
        yield STEP


def switching_voltage(cols: dict[str, np.ndarray], segment: int, ratio: float) -> float:
    """Programmed voltage of the first current jump by ``ratio`` in ``segment``.

    SET (segment 1): the first lasting rise of G = I/V by ``ratio`` or the first point in
    compliance, whichever comes first; RESET (segment 3): the first lasting fall to
    1/``ratio``. NaN when there is none. The rule is the analysis' own
    (:func:`analysis.switching.switching_voltage`), so the candidates recorded here and
    ``labapp analyze`` give one value; points below 10 mV are ignored.
    """
    m = cols["segment"] == segment
    comp = cols["compliance"][m] if segment == 1 and "compliance" in cols else None
    return detect_switch(cols["v_program_V"][m], cols["current_A"][m],
                         +1 if segment == 1 else -1, ratio=ratio, compliance=comp, v_min=0.01)
