"""Synthetic traces with known ground truth, for validating the analysis (tests and
benchmarks import it from here; ``python -m benchmarks`` runs from the repository root).

The generators return the data *and* the truth (plateau edges and levels, telegraph
states, model parameters), so tests and benchmarks can score a method instead of
checking that it returns something. They are seeded through a ``numpy.random.Generator``
and fully vectorised so that 10^6-10^7 samples take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.nonlinearity import g_ltd, g_ltp
from labcore.constants import G0
from labcore.runfile import RunWriter


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


def sweep_samples(rng: np.random.Generator, cycles: int = 2, *, step: float = 0.01,
                  v_max: float = 2.0, noise_g0: float = 0.05) -> dict[str, NDArray]:
    """A bipolar DC sweep with QC staircases (samples stream columns, dc-sweep layout).

    SET (segment 1): HRS 0.05 G0 until V_SET, then n/2 steps upward every ~0.1 V;
    RESET (segment 3): steps downward from the top level from -V_RESET on.
    """
    cols: dict[str, list] = {k: [] for k in ("time_s", "voltage_V", "current_A",
                                             "cycle", "segment")}
    up = np.arange(0, v_max + step / 2, step)
    parts = [(1, up), (2, up[::-1][1:]), (3, -up[1:]), (4, -up[::-1][1:])]
    t0 = 0.0
    for c in range(cycles):
        v_set = rng.uniform(0.8, 1.2)
        v_reset = rng.uniform(0.6, 1.0)
        top = 0.0
        for seg, v in parts:
            if seg == 1:
                n_up = np.clip(np.floor((v - v_set) / 0.1) + 1, 0, None)
                g = np.where(v < v_set, 0.05, 2.5 + 1.5 * n_up)
                top = float(g[-1])
            elif seg == 2:
                g = np.full(v.size, top)
            elif seg == 3:
                n_dn = np.clip(np.floor((-v - v_reset) / 0.1) + 1, 0, None)
                g = np.maximum(top - 1.5 * n_dn, 0.05)
            else:
                g = np.full(v.size, 0.05)
            g_meas = g + rng.normal(0, noise_g0, v.size) * (g > 0.1)
            cols["time_s"].append(t0 + np.arange(v.size) * 0.01)
            t0 += v.size * 0.01
            cols["voltage_V"].append(v)
            cols["current_A"].append(v * g_meas * G0)
            cols["cycle"].append(np.full(v.size, c))
            cols["segment"].append(np.full(v.size, seg))
    return {k: np.concatenate(v) for k, v in cols.items()}


def write_synthetic_run(path: str, kind: str, rng: np.random.Generator, **kw) -> str:
    """Write a synthetic run file of ``kind`` in the labapp schema; returns the run id.

    Kinds: ``dc-sweep`` (samples with segments), ``reset-train`` (pulse waveforms),
    ``ltp-ltd`` (reads with polarity), ``retention`` (drifting reads),
    ``read-noise`` (telegraph samples). Used by tests, benchmarks and the docs.
    """
    base = {"time_s": "f8", "voltage_V": "f8", "current_A": "f8", "conductance_G0": "f8"}
    if kind == "dc-sweep":
        s = sweep_samples(rng, **kw)
        s["conductance_G0"] = s["current_A"] / np.where(s["voltage_V"] == 0, np.nan,
                                                        s["voltage_V"]) / G0
        spec = {"samples": {**base, "cycle": "i4", "segment": "i1"}}
        params = {"v_set": (2.0, "V"), "compliance_set": (5e-3, "A")}
        with RunWriter(path, kind, params, spec) as w:
            w.append("samples", s)
            return w.run_id
    if kind == "reset-train":
        n = kw.get("n_pulses", 100)
        v, i, _ = reset_train_waveforms(rng, n, samples=kw.get("samples", 50))
        spec = {"samples": {**base, "pulse_index": "i4"}}
        with RunWriter(path, kind, {"n_pulses": (n, ""), "v_pulse": (-1.5, "V")}, spec,
                       waveforms={"voltage_V": (v.shape[1], "V"),
                                  "current_A": (i.shape[1], "A")}) as w:
            w.append_waveforms("voltage_V", v)
            w.append_waveforms("current_A", i)
            tt = np.arange(v.size) * 1e-4
            w.append("samples", {"time_s": tt, "voltage_V": v.ravel(), "current_A": i.ravel(),
                                 "conductance_G0": i.ravel() / v.ravel() / G0,
                                 "pulse_index": np.repeat(np.arange(1, n + 1), v.shape[1])})
            return w.run_id
    if kind == "ltp-ltd":
        g, pol = ltp_ltd_train(rng, **kw)
        v_read = np.where(pol > 0, 0.2, -0.2)
        cur = g * G0 * v_read
        spec = {"reads": {**base, "pulse_index": "i4", "polarity": ("i1", "")}}
        with RunWriter(path, kind, {"n_potentiation": (30, ""), "v_read": (0.2, "V")},
                       spec) as w:
            w.append("reads", {"time_s": np.arange(g.size) * 0.01, "voltage_V": v_read,
                               "current_A": cur, "conductance_G0": g,
                               "pulse_index": np.arange(g.size), "polarity": pol})
            return w.run_id
    if kind == "retention":
        t = np.logspace(0, 3.8, 80)
        g = 8.0 * t ** -0.01 * (1 + rng.normal(0, 0.002, t.size))
        spec = {"samples": base}
        with RunWriter(path, kind, {"v_read": (0.1, "V")}, spec) as w:
            w.append("samples", {"time_s": t, "voltage_V": np.full(t.size, 0.1),
                                 "current_A": 0.1 * g * G0, "conductance_G0": g})
            return w.run_id
    if kind == "read-noise":
        t, x, _ = telegraph(rng, kw.get("n", 20_000), low=2.0, high=2.5)
        spec = {"samples": base}
        with RunWriter(path, kind, {"v_read": (0.1, "V")}, spec) as w:
            w.append("samples", {"time_s": t, "voltage_V": np.full(t.size, 0.1),
                                 "current_A": 0.1 * x * G0, "conductance_G0": x})
            return w.run_id
    raise ValueError(f"unknown synthetic run kind {kind!r}")
