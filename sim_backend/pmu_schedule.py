"""Turn a PMU test (pulse train or Segment Arb) into one device drive schedule.

A PMU test is a piecewise-linear programmed voltage repeated over units (one pulse period
of a burst, or one pass of a Segment Arb sequence). Inside measurement windows the
schedule has one step per A/D sample (1/rate); between windows each flat piece is one
step and each ramp a few steps, so the device sees the edges without the schedule growing
with idle time. The whole test becomes one ``device.drive`` call; the arrays are built
with numpy (no per-sample Python loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim_backend.kxci_common import KXCIError
from sim_backend.pmu_state import R_SOURCE, PulseChannel

RAMP_STEPS = 8
#: most steps a spot-mean window gets (its mean needs no more; keeps long windows cheap)
SPOT_SAMPLES = 64


@dataclass(frozen=True)
class Window:
    """A measurement window [start, stop) within a unit; kind "wave" or "spot"."""

    start: float
    stop: float
    kind: str
    tag: int = 0  # spot: 0 high / 1 low (pulse) or the segment index (Segment Arb)
    average: bool = False  # one record (spot) or one waveform for all repeats of the unit

    def points(self, rate: float, repeats: int) -> int:
        """Records this window yields at sample ``rate`` over ``repeats`` repeats."""
        per = 1 if self.kind == "spot" else int(np.floor((self.stop - self.start) * rate
                                                          + 1e-6))
        return per * (1 if self.average else repeats)


@dataclass
class UnitSchedule:
    """Steps of one unit and where its samples are."""

    dt: np.ndarray
    level: np.ndarray
    t_start: np.ndarray  # start time of every step within the unit
    windows: list[tuple[Window, int, int]]  # (window, first step index, samples)
    duration: float


def _level(bt: np.ndarray, bv: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.interp(t, bt, bv)


def unit_schedule(bt, bv, windows: list[Window], rate: float) -> UnitSchedule:
    """Steps for one unit with breakpoints (``bt``, ``bv``) and measurement ``windows``."""
    bt = np.asarray(bt, dtype=float)
    bv = np.asarray(bv, dtype=float)
    duration = float(bt[-1])
    wins = sorted((w for w in windows if w.stop > w.start), key=lambda w: w.start)
    dts: list[np.ndarray] = []
    levels: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    placed: list[tuple[Window, int, int]] = []
    n_steps = 0
    cursor = 0.0

    def gap(a: float, b: float) -> None:
        nonlocal n_steps
        if b <= a + 1e-15:
            return
        cuts = np.concatenate(([a], bt[(bt > a) & (bt < b)], [b]))
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            v_lo, v_hi = _level(bt, bv, np.array([lo + 1e-15, hi - 1e-15]))
            k = 1 if abs(v_hi - v_lo) < 1e-12 else RAMP_STEPS
            edges = np.linspace(lo, hi, k + 1)
            dts.append(np.diff(edges))
            levels.append(_level(bt, bv, 0.5 * (edges[:-1] + edges[1:])))
            starts.append(edges[:-1])
            n_steps += k

    for w in wins:
        a = max(w.start, cursor)
        gap(cursor, a)
        m = int(np.floor((w.stop - a) * rate + 1e-6))
        step = 1.0 / rate
        if w.kind == "spot":
            m = max(1, min(m, SPOT_SAMPLES))
            step = (w.stop - a) / m
        if m <= 0 or step <= 0:
            continue
        t = a + np.arange(m) * step
        dts.append(np.full(m, step))
        levels.append(_level(bt, bv, t))
        starts.append(t)
        placed.append((w, n_steps, m))
        n_steps += m
        cursor = a + m * step
    gap(cursor, duration)

    def cat(xs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs) if xs else np.empty(0)

    return UnitSchedule(cat(dts), cat(levels), cat(starts), placed, duration)


@dataclass
class UnitSpec:
    """One repeated piece of a test: breakpoints, measure windows, repeats."""

    bt: np.ndarray
    bv: np.ndarray
    windows: list[Window]
    repeats: int
    gain: float = 1.0  # internal source voltage per programmed volt
    open_spans: tuple[tuple[float, float], ...] = ()  # output relay open (Segment Arb)
    schedule: UnitSchedule | None = None



def source_gain(c: PulseChannel) -> float:
    """Internal source volts per programmed volt: ``(R_load + 50)/R_load`` [M 7-11]."""
    return (c.load + R_SOURCE) / c.load


def check_internal(c: PulseChannel, spec: UnitSpec) -> None:
    """-964 when the internal source would exceed the channel's source range."""
    peak = float(np.max(np.abs(spec.bv), initial=0.0)) * spec.gain
    if peak > c.v_range * (1 + 1e-9):
        raise KXCIError(-964, f"{peak:g} V internal on the {c.v_range} V range of "
                        f"channel {c.number} (load {c.load:g} ohm)")


def pulse_breakpoints(base: float, top: float, period: float, width: float, rise: float,
                      fall: float, delay: float) -> tuple[np.ndarray, np.ndarray]:
    """One period of a trapezoidal pulse; ``width`` is the full width at half maximum."""
    t_top = width - 0.5 * (rise + fall)
    t = [0.0, delay, delay + rise, delay + rise + t_top, delay + rise + t_top + fall, period]
    v = [base, base, top, top, base, base]
    return np.array(t), np.array(v)


def segment_breakpoints(start_v, stop_v, times) -> tuple[np.ndarray, np.ndarray]:
    """A Segment Arb sequence as breakpoints (segments are seamless)."""
    edges = np.concatenate(([0.0], np.cumsum(times)))
    t = np.repeat(edges, 2)[1:-1]
    v = np.column_stack([start_v, stop_v]).ravel()
    return t, v
