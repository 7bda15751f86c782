"""SMU pulses and reads shared by the pulse protocols, and the columns they record.

Why the SMU: a compliance-limited write must be limited by the source itself (true
compliance), which only the SMU offers; the 4225-PMU has no true compliance (its current
limit is a measurement range, not a clamp). So every write pulse here is an SMU test.

How a pulse is made: one system-mode list sweep (``VL`` with the pulse level, ``DT`` =
width less one integration) [M 5-16, 5-10, 5-40]: the source holds the level for the
width and measures at its end, with the sweep's compliance. (The driver's
``smu_pulse_train`` holds every level ``DT + t_int``; here the integration is taken out
of ``DT`` so that ``width`` is the time at the level.) A captured waveform is the same list
sweep with ``n`` equal points, so V(t) and I(t) are sampled every ``width / n`` (at
least one fastest integration, ``IT4`` with 0.01 PLC = 0.167 ms). Reads are list sweeps of
one point at the read voltage, measured with the longest integration that fits the
read width. The wait between pulses is host-timed (:meth:`RunContext.sleep`), so ``period`` is
the pulse-to-pulse time on the simulator and a lower bound on hardware.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analysis.conductance import conductance_g0
from drivers.keithley4200 import INTEGRATION_PLC, MAX_LIST_POINTS, SweepData
from drivers.system_mode import TestInterrupted
from drivers.validation import ParameterError
from protocols.base import Record, RunContext, as_columns

#: line frequency the PLC integration times refer to (Hz)
LINE_HZ = 60.0
#: fastest custom A/D integration (``IT4``) in PLC [M 5-40]
PLC_MIN = 0.01
#: shortest time one SMU list point can take: one fastest integration
T_POINT_MIN = PLC_MIN / LINE_HZ

#: per-pulse table of every pulse protocol (the level measured at the end of the pulse)
PULSE_COLUMNS = {
    "time_s": "f8", "pulse_index": "i8", "cycle": "i4", "phase": "i1",
    "v_program_V": "f8", "voltage_V": "f8", "current_A": "f8", "compliance": "?",
    "width_s": ("f8", "s"), "compliance_A": ("f8", "A"),
}
#: read table of every pulse protocol (one read after each pulse; the main table)
READ_COLUMNS = {
    "time_s": "f8", "pulse_index": "i8", "cycle": "i4", "phase": "i1",
    "v_program_V": "f8", "voltage_V": "f8", "current_A": "f8", "conductance_G0": "f8",
    "compliance": "?",
}
PULSE_STREAMS = {"samples": READ_COLUMNS, "pulses": PULSE_COLUMNS}

#: phase codes: +1 SET / potentiation, -1 RESET / depression, 0 a read without a pulse
SET, RESET, NONE = 1, -1, 0


@dataclass
class Shot:
    """Points measured by one SMU list test, in absolute instrument time."""

    time: np.ndarray
    v_program: np.ndarray
    voltage: np.ndarray
    current: np.ndarray
    compliance: np.ndarray

    @property
    def conductance_g0(self) -> np.ndarray:
        return conductance_g0(self.voltage, self.current)


def wait_bound(duration: float) -> float:
    """Bound on the wait for one instrument test of nominal ``duration`` seconds."""
    return 2.0 * duration + 30.0


def integration_for(point_time: float) -> str | float:
    """Longest A/D integration that fits in ``point_time`` (better reads, same timing):
    a named mode (0.1, 1, 10 PLC) when one fits, else a custom PLC number."""
    for name in ("long", "normal", "short"):
        if INTEGRATION_PLC[name] / LINE_HZ <= point_time + 1e-12:
            return name
    return float(max(PLC_MIN, round(point_time * LINE_HZ, 4)))


def integration_time(integration: str | float) -> float:
    """Seconds of one A/D integration."""
    plc = INTEGRATION_PLC[integration] if isinstance(integration, str) else integration
    return plc / LINE_HZ


def check_point_time(name: str, value: float, n: int = 1) -> None:
    """An SMU pulse/read of ``n`` points needs ``value / n`` >= one fastest integration."""
    if value / n < T_POINT_MIN - 1e-12:
        raise ParameterError(
            name, value,
            f">= {n * T_POINT_MIN:.4g} s ({n} SMU point(s) of >= {PLC_MIN} PLC; shorter "
            "pulses need the PMU)")


def smu_levels(ctx: RunContext, smu: int, levels: np.ndarray, compliance: float,
               point_time: float, integration: str | float | None = None,
               live: Callable[[Shot], None] | None = None) -> Shot:
    """Source ``levels`` one after the other, each for ``point_time``, measuring at its end.

    ``live`` receives the points while the test runs (see ``list_sweep``); an abort raises
    :class:`~drivers.system_mode.TestInterrupted` whose ``shot`` holds the points measured
    before it (or None).
    """
    integration = integration or integration_for(point_time)
    t_int = integration_time(integration)
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    ctx.check_abort()
    t0 = ctx.now()

    def shot(data: SweepData, first: int = 0) -> Shot:
        n = data.current.size
        return Shot(t0 + data.time, levels[first:first + n], data.voltage, data.current,
                    data.compliance)

    seen = [0]

    def show(part: SweepData) -> None:
        live(shot(part, seen[0]))
        seen[0] += part.current.size

    try:
        data = ctx.instrument.list_sweep(
            smu, levels, compliance, delay=max(0.0, point_time - t_int),
            integration=integration, should_stop=ctx.should_abort,
            timeout=wait_bound(levels.size * point_time), live=show if live else None,
        )
    except TestInterrupted as exc:
        exc.shot = shot(exc.partial) if exc.partial is not None else None
        raise
    return shot(data)


def join(shots: list[Shot]) -> Shot:
    """Consecutive points of one test as one Shot."""
    return Shot(*(np.concatenate([getattr(s, f) for s in shots]) for f in
                  ("time", "v_program", "voltage", "current", "compliance")))


def pulse(ctx: RunContext, smu: int, amplitude: float, width: float,
          compliance: float) -> Shot:
    """One write pulse with true compliance, measured at its end (0.1 PLC or faster)."""
    return smu_levels(ctx, smu, np.array([amplitude]), compliance, width,
                      "short" if width >= integration_time("short") else PLC_MIN)


def read(ctx: RunContext, smu: int, v_read: float, width: float, compliance: float) -> Shot:
    """One low-voltage read, integrated as long as ``width`` allows."""
    return smu_levels(ctx, smu, np.array([v_read]), compliance, width)


def pulse_record(shot: Shot, pulse_index: int, cycle: int, phase: int, width: float,
                 compliance: float) -> Record:
    """The ``pulses`` row of one pulse (its last point)."""
    return Record("pulses", as_columns(
        time_s=shot.time[-1:], pulse_index=pulse_index, cycle=cycle, phase=phase,
        v_program_V=shot.v_program[-1:], voltage_V=shot.voltage[-1:],
        current_A=shot.current[-1:], compliance=shot.compliance[-1:], width_s=width,
        compliance_A=compliance,
    ))


def read_record(shot: Shot, pulse_index: int, cycle: int, phase: int) -> Record:
    """The ``samples`` row of one read."""
    return Record("samples", as_columns(
        time_s=shot.time, pulse_index=pulse_index, cycle=cycle, phase=phase,
        v_program_V=shot.v_program, voltage_V=shot.voltage, current_A=shot.current,
        conductance_G0=shot.conductance_g0, compliance=shot.compliance,
    ))


def train_layout(width: float, read_width: float, period: float
                 ) -> tuple[float, int, int, int] | None:
    """Point time and points per pulse, read and period of an instrument-timed train.

    A list sweep holds every point for the same time [M 5-10, 5-16], so a train of
    (pulse, read, 0 V rest) periods fits one list only when ``width``, ``read_width`` and
    ``period`` are whole multiples of a common point time (on a 1 us grid) of at least
    one fastest integration, and one period fits in 4096 points. Returns
    ``(point_time, pulse_points, read_points, period_points)`` or None.
    """
    grid = [x * 1e6 for x in (width, read_width, period)]
    ints = [round(g) for g in grid]
    if any(abs(g - i) > 1e-6 * max(1.0, g) or i <= 0 for g, i in zip(grid, ints, strict=True)):
        return None
    q_us = math.gcd(*ints)
    q = q_us * 1e-6
    a, b, c = (i // q_us for i in ints)
    if q < T_POINT_MIN - 1e-12 or c < a + b or c > MAX_LIST_POINTS:
        return None
    return q, a, b, c


def wait_rest(ctx: RunContext, period: float, used: float) -> None:
    """Wait out the rest of a pulse period (nothing to do when the period is used up)."""
    if period > used:
        ctx.sleep(period - used)
