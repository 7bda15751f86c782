"""Source schedules of the paper-000 protocols, as arrays a :class:`DeviceModel` can drive.

These build the same piecewise-constant schedule the simulated instrument hands to the device
(an SMU list sweep is one step per point; an SMU pulse train is a pulse step, a zero-volt gap
and a read step per pulse), so the device physics can be exercised and benchmarked without
the instrument stack. The calibration tests and report use them where a protocol of the
protocol layer does not exist yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Schedule:
    """A drive schedule and where its read steps are.

    Attributes
    ----------
    dt, v, i_limit : per-step duration (s), programmed voltage (V) and current limit (A).
    read_index : indices of the steps whose reading is a read of the state (one per pulse).
    """

    dt: NDArray[np.float64]
    v: NDArray[np.float64]
    i_limit: NDArray[np.float64]
    read_index: NDArray[np.int64]


def dc_loop(
    v_max: float = 3.0,
    v_min: float = -3.0,
    step: float = 1e-3,
    dwell: float = 1e-3,
    compliance: float = 5e-3,
    reset_compliance: float | None = None,
) -> Schedule:
    """The bipolar loop 0 -> v_max -> 0 -> v_min -> 0 of paper 000 Fig. 2, as a list sweep.

    ``step`` = 1 mV gives 12 000 points for +-3 V ("step voltage of 1 mV", the likelier
    reading of the paper's "1 mVs^-1"); ``dwell`` is the time per point.
    ``reset_compliance`` applies to the negative half (default: the same as ``compliance``).
    """
    n_up = int(round(v_max / step))
    n_dn = int(round(-v_min / step))
    up = np.arange(n_up) * step
    dn = np.arange(n_dn) * step
    v = np.concatenate([up, v_max - up, -dn, v_min + dn])
    lim = np.concatenate(
        [
            np.full(2 * n_up, compliance),
            np.full(2 * n_dn, compliance if reset_compliance is None else reset_compliance),
        ]
    )
    return Schedule(np.full(v.size, dwell), v, lim, np.arange(v.size))


def pulse_train(
    amplitudes: NDArray[np.float64] | list[float],
    width: float,
    compliance: float,
    read_v: float | NDArray[np.float64] = 0.1,
    read_width: float = 1e-3,
    gap: float = 1e-3,
    samples_per_pulse: int = 1,
    read_compliance: float = 1e-3,
) -> Schedule:
    """Pulses, each followed by a read step and a zero-volt gap (the SMU pulse protocols).

    ``read_v`` may be an array (one read voltage per pulse, e.g. +-0.1 V following the pulse
    polarity); ``read_width = 0`` leaves the reads out (then ``read_index`` points at the
    last sample of each pulse). ``samples_per_pulse`` splits each pulse into equal steps
    (a captured waveform).
    """
    amps = np.asarray(amplitudes, dtype=float)
    reads = np.broadcast_to(np.asarray(read_v, dtype=float), amps.shape)
    s = int(samples_per_pulse)
    with_read = read_width > 0
    per = s + 1 + int(with_read)
    v = np.zeros((amps.size, per))
    dt = np.zeros((amps.size, per))
    lim = np.full((amps.size, per), float(compliance))
    v[:, :s] = amps[:, None]
    dt[:, :s] = width / s
    if with_read:
        v[:, s] = reads
        dt[:, s] = read_width
        lim[:, s] = read_compliance
    dt[:, -1] = max(gap, 0.0)
    read_index = np.arange(amps.size) * per + (s if with_read else s - 1)
    return Schedule(dt.ravel(), v.ravel(), lim.ravel(), read_index)


def reads_at(
    times: NDArray[np.float64], read_v: float, read_width: float = 1e-3,
    read_compliance: float = 1e-3,
) -> Schedule:
    """Reads starting at ``times`` (s, from the schedule start), zero volts in between."""
    t = np.asarray(times, dtype=float)
    ends = np.concatenate(([0.0], t[:-1] + read_width))
    gaps = t - ends
    if np.any(gaps < -1e-12):
        raise ValueError(f"times: reads of {read_width} s overlap; need spacing >= read_width")
    v = np.zeros((t.size, 2))
    dt = np.zeros((t.size, 2))
    v[:, 1] = read_v
    dt[:, 0] = np.maximum(gaps, 0.0)
    dt[:, 1] = read_width
    lim = np.full((t.size, 2), float(read_compliance))
    return Schedule(dt.ravel(), v.ravel(), lim.ravel(), np.arange(t.size) * 2 + 1)


def concatenate(*schedules: Schedule) -> Schedule:
    """One schedule running the given ones back to back (read indices shifted)."""
    offsets = np.cumsum([0] + [s.v.size for s in schedules[:-1]])
    return Schedule(
        np.concatenate([s.dt for s in schedules]),
        np.concatenate([s.v for s in schedules]),
        np.concatenate([s.i_limit for s in schedules]),
        np.concatenate([s.read_index + o for s, o in zip(schedules, offsets, strict=True)]),
    )
