"""Synthetic traces with known ground truth, for validating the analysis.

The generators return the data *and* the truth (plateau edges and levels, telegraph
states, model parameters), so tests and benchmarks can score a method instead of
checking that it returns something. They are seeded through a ``numpy.random.Generator``
and fully vectorised so that 10^6-10^7 samples take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.constants import G0


@dataclass
class TrueTrace:
    """A conductance trace and its ground-truth plateaus (inclusive index ranges)."""

    g_g0: NDArray[np.float64]
    starts: NDArray[np.int64]
    ends: NDArray[np.int64]
    levels: NDArray[np.float64]

    def plateaus(self) -> list[tuple[int, int]]:
        """True plateaus as (start, end) pairs."""
        return list(zip(self.starts.tolist(), self.ends.tolist(), strict=True))


def staircase(
    rng: np.random.Generator,
    n_plateaus: int = 50,
    *,
    noise_g0: float = 0.05,
    length: tuple[int, int] = (20, 200),
    transition: tuple[int, int] = (1, 5),
    max_level_g0: float = 20.0,
    fractional: float = 0.0,
) -> TrueTrace:
    """Piecewise-constant n/2 levels + Gaussian noise + linear transitions.

    Parameters
    ----------
    n_plateaus : number of plateaus.
    noise_g0 : white noise sigma in G0.
    length : range of plateau lengths (samples).
    transition : range of transition lengths (samples, linear ramp between levels).
    max_level_g0 : highest level.
    fractional : probability that a level is off the n/2 ladder (by 0.2-0.3 G0).
    """
    k = rng.integers(1, int(2 * max_level_g0) + 1, size=n_plateaus)
    # consecutive levels must differ
    for _ in range(10):
        same = np.flatnonzero(k[1:] == k[:-1]) + 1
        if not same.size:
            break
        k[same] = rng.integers(1, int(2 * max_level_g0) + 1, size=same.size)
    levels = k / 2.0
    if fractional > 0:
        off = rng.random(n_plateaus) < fractional
        levels = levels + off * rng.choice([-1, 1], n_plateaus) * rng.uniform(0.2, 0.3,
                                                                               n_plateaus)
    lens = rng.integers(length[0], length[1] + 1, size=n_plateaus)
    trans = rng.integers(transition[0], transition[1] + 1, size=n_plateaus)
    trans[0] = 0
    total = int(lens.sum() + trans.sum())
    g = np.empty(total)
    pos = 0
    starts = np.empty(n_plateaus, np.int64)
    for j in range(n_plateaus):  # O(n_plateaus) slices, each vectorised
        if trans[j]:
            g[pos:pos + trans[j]] = np.linspace(levels[j - 1], levels[j], trans[j] + 2)[1:-1]
            pos += trans[j]
        starts[j] = pos
        g[pos:pos + lens[j]] = levels[j]
        pos += lens[j]
    g += rng.normal(0.0, noise_g0, total)
    return TrueTrace(g, starts, starts + lens - 1, levels)


def ltp_ltd_train(rng: np.random.Generator, *, a_ltp: float = 5.08, a_ltd: float = 4.85,
                  g_min: float = 2.0, g_max: float = 20.0, n_pulses: int = 30,
                  noise_g0: float = 0.1) -> tuple[NDArray, NDArray]:
    """Reads of a potentiation train then a depression train from the NeuroSim model.

    Returns (g, polarity): n_pulses + 1 potentiation reads (pulse 0 = initial state)
    followed by n_pulses depression reads; polarity +1 / -1 per read.
    """
    from analysis.nonlinearity import g_ltd, g_ltp

    p = np.arange(n_pulses + 1, dtype=float)
    up = g_ltp(p, a_ltp, g_min, g_max, n_pulses)
    down = g_ltd(n_pulses - p[1:], a_ltd, g_min, g_max, n_pulses)
    g = np.concatenate((up, down)) + rng.normal(0.0, noise_g0, 2 * n_pulses + 1)
    pol = np.concatenate((np.ones(n_pulses + 1), -np.ones(n_pulses)))
    return g, pol


def telegraph(rng: np.random.Generator, n: int, *, dt: float = 1e-3, tau_low: float = 0.05,
              tau_high: float = 0.02, low: float = 2.0, high: float = 2.5,
              noise: float = 0.05) -> tuple[NDArray, NDArray, NDArray]:
    """Two-level telegraph signal with exponential dwells; returns (t, x, true_state)."""
    mean = 0.5 * (tau_low + tau_high)
    n_dw = int(n * dt / mean * 1.5) + 10
    taus = np.where(np.arange(n_dw) % 2 == 0, tau_low, tau_high)
    dw = np.maximum(1, np.round(rng.exponential(taus) / dt).astype(np.int64))
    state = np.repeat(np.arange(n_dw) % 2, dw)[:n]
    x = np.where(state == 1, high, low) + rng.normal(0, noise, state.size)
    return np.arange(state.size) * dt, x, state


def reset_train_waveforms(rng: np.random.Generator, n_pulses: int = 100, *,
                          samples: int = 50, v_pulse: float = -1.5, g_start: float = 12.0,
                          noise_rel: float = 0.02) -> tuple[NDArray, NDArray, NDArray]:
    """(voltage, current) pulse waveforms of a RESET train and the true G per pulse.

    The true conductance steps down the n/2 ladder at random pulses; every pulse has a
    rising edge, a flat top with a current spike at its start, and a falling edge.
    """
    steps = rng.random(n_pulses) < 0.08
    steps[0] = False
    g_true = np.maximum(g_start - 0.5 * np.cumsum(steps), 0.5)
    shape_v = np.ones(samples)
    edge = max(1, samples // 10)
    shape_v[:edge] = np.linspace(0, 1, edge + 1)[1:]
    shape_v[-edge:] = np.linspace(1, 0, edge + 1)[:-1]
    v = v_pulse * np.tile(shape_v, (n_pulses, 1))
    i = v * g_true[:, None] * G0
    i[:, edge] *= 1.5  # transient spike at the start of the flat top
    i *= 1 + rng.normal(0, noise_rel, i.shape)
    return v, i, g_true
