"""Time axis of captured pulse waveforms: each pulse at its recorded time, gaps kept.

Paper 000 Fig. 6a-c plots the applied voltage pulses against time; a pulse train of
5 ms pulses every 20 ms spends three quarters of its time between pulses, and a figure
that lays the captures end to end (sample number as the axis) hides that. The run file
holds what is needed to place every captured sample in time:

* the ``time_s`` waveform: time of each sample since its pulse's capture started
  (``reset-train`` writes it, SMU and PMU alike), and
* the per-pulse rows of the ``samples`` stream (``time_s``: when that pulse ended, on the
  instrument's clock), one row per captured pulse;

so sample j of pulse i sits at ``T_i - tau_i,last + tau_i,j`` (T_i the recorded time of
pulse i, tau the waveform time). Files without a per-pulse time but with a ``samples``
row per waveform sample (CSV imports, older writers) use those sample times; with only the
waveform time, the protocol's ``period`` parameter spaces the pulses. Without any, there
is no time axis (the caller falls back to sample numbers and says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labcore.runfile import RunData

SOURCE_PULSE_TIMES = "recorded pulse times"
SOURCE_SAMPLE_TIMES = "recorded sample times"
SOURCE_PERIOD = "period parameter"


@dataclass(frozen=True)
class PulseTimes:
    """Absolute time of every captured sample (s, from the first pulse's first sample)."""

    t_s: NDArray[np.float64]  # (pulses, samples)
    source: str


def waveform_times(run: RunData, n_pulses: int) -> PulseTimes | None:
    """Times of the first ``n_pulses`` captured pulses, or None when the run has none.

    See the module docstring for the sources, tried in this order: recorded pulse times
    with the waveform time, recorded sample times, the waveform time with ``period``.
    """
    wf = run.waveforms
    tau = wf.get("time_s")
    ns = wf["current_A"].shape[1]
    rows = wf["current_A"].shape[0]
    stream = run.streams.get("samples", {})
    t_rec = stream.get("time_s")
    if tau is not None and t_rec is not None and t_rec.size == rows:
        tau = np.asarray(tau[:n_pulses], dtype=float)
        start = np.asarray(t_rec[:n_pulses], dtype=float) - tau[:, -1]
        return _from_zero(start[:, None] + tau, SOURCE_PULSE_TIMES)
    if t_rec is not None and t_rec.size == rows * ns:
        return _from_zero(np.asarray(t_rec, dtype=float).reshape(rows, ns)[:n_pulses],
                          SOURCE_SAMPLE_TIMES)
    period = run.parameters.get("period", {}).get("value")
    if tau is not None and period:
        tau = np.asarray(tau[:n_pulses], dtype=float)
        return _from_zero(np.arange(tau.shape[0])[:, None] * float(period) + tau,
                          SOURCE_PERIOD)
    return None


def _from_zero(t: NDArray[np.float64], source: str) -> PulseTimes:
    return PulseTimes(t - t[0, 0], source)


def time_unit(span_s: float) -> tuple[float, str]:
    """(factor, unit) that shows a time span of ``span_s`` seconds in readable numbers."""
    if span_s < 1e-3:
        return 1e6, "µs"
    if span_s < 1.0:
        return 1e3, "ms"
    return 1.0, "s"


def with_gaps(t: NDArray[np.float64], y: NDArray[np.float64]
              ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Flattened (pulse, sample) arrays with a NaN after each pulse, so that a line or a
    shaded area stops at the end of a pulse and resumes at the next one."""
    pad = np.full((t.shape[0], 1), np.nan)
    return (np.hstack((t, pad)).ravel(), np.hstack((np.asarray(y, dtype=float), pad)).ravel())
