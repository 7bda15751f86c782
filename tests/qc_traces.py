"""Truth-labelled conductance traces with the nuisances of real measurements.

An independent generator, written apart from ``tests/support/synthetic.py`` (the analysis'
own test data), so the analysis is scored on data its author did not shape. Every
trace is seeded and carries its truth: the plateaus (first and last sample, n/2 label),
the series resistance, the RTN time constants, the switching voltages.

Nuisances (one at a time, or combined):

* ``white``: Gaussian noise, sigma in G0;
* ``pink``: 1/f noise (power spectrum 1/f from 1/N to Nyquist), rms in G0;
* ``prop``: noise proportional to G (sigma = prop * G), as a current amplifier's
  range-relative error gives;
* ``spikes``: a fraction of samples replaced by single-sample glitches of 1-5 G0;
* ``rtn``: fast two-level telegraph of total amplitude ``rtn`` G0 centred on the level
  (mean dwell 2-4 samples; the level's mean stays on n/2);
* ``drift``: a slow additive baseline (half a sine period over the trace), peak ``drift`` G0;
* ``series_r``: a series resistance (ohm) in the current path, G_meas = G / (1 + R G);
* ``off_lattice``: fraction of plateau levels placed between n/2 values (non-quantized
  steps of a few-atom contact);
* DC sweeps with current noise proportional to |I| and a compliance clamp.

Traces are written as CSV in the labapp export columns and read back through
``labapp import-csv`` and ``labapp analyze --json`` by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: G0 = 2 e^2 / h from the exact SI values (independent of analysis.constants)
G0_S = 2 * 1.602176634e-19**2 / 6.62607015e-34
V_READ = 0.1


@dataclass
class Trace:
    """Samples plus the truth they were made from."""

    columns: dict[str, np.ndarray]
    plateaus: list[tuple[int, int, float]]  # (first, last, true n/2 label; nan = off-lattice)
    protocol: str = ""
    params: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)

    def scaled(self, factor: float) -> Trace:
        """The same trace with the current multiplied by ``factor``."""
        cols = dict(self.columns)
        cols["current_A"] = cols["current_A"] * factor
        return Trace(cols, self.plateaus, self.protocol, self.params, self.truth)

    def write_csv(self, path: Path) -> Path:
        """labapp export CSV: header comments, then one row per sample."""
        names = list(self.columns)
        lines = []
        if self.protocol:
            lines.append(f"# protocol: {self.protocol}")
        for k, (v, unit) in self.params.items():
            lines.append(f"# param {k} = {v} {unit}".rstrip())
        lines.append(",".join(names))
        data = np.column_stack([np.asarray(self.columns[n], float) for n in names])
        body = "\n".join(",".join(f"{x:.10g}" for x in row) for row in data)
        path.write_text("\n".join(lines) + "\n" + body + "\n")
        return path


def ladder_walk(rng: np.random.Generator, n: int, lo: float = 0.5, hi: float = 10.0,
                off_lattice: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n plateau levels (G0): a walk on n/2 with steps of 0.5-2 G0; some off-lattice.

    Returns (levels, on_lattice flags).
    """
    levels = np.empty(n)
    on = np.ones(n, dtype=bool)
    g = float(rng.choice(np.arange(lo, hi / 2, 0.5)))
    for k in range(n):
        while True:
            step = rng.choice([0.5, 1.0, 1.5, 2.0]) * rng.choice([-1, 1])
            nxt = g + step
            if lo <= nxt <= hi:
                break
        g = nxt
        levels[k] = g
    if off_lattice > 0:
        pick = rng.random(n) < off_lattice
        levels[pick] += rng.choice([-1, 1], pick.sum()) * rng.uniform(0.18, 0.25, pick.sum())
        on[pick] = False
    return levels, on


def pink_noise(rng: np.random.Generator, n: int, rms: float) -> np.ndarray:
    """1/f noise (power ~ 1/f from 1/n to Nyquist), scaled to the given rms."""
    if rms <= 0:
        return np.zeros(n)
    spec = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    f = np.arange(n // 2 + 1, dtype=float)
    f[0] = 1.0
    spec /= np.sqrt(f)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x * (rms / x.std())


def telegraph(rng: np.random.Generator, n: int, dwell_a: float, dwell_b: float
              ) -> np.ndarray:
    """0/1 telegraph signal with geometric dwells of mean dwell_a (state 0), dwell_b (1)."""
    out = np.empty(n, dtype=np.int8)
    i, s = 0, int(rng.integers(2))
    while i < n:
        d = int(rng.geometric(1.0 / (dwell_a if s == 0 else dwell_b)))
        out[i:i + d] = s
        i += d
        s = 1 - s
    return out


def read_trace(seed: int, *, n_plateaus: int = 20, length: tuple[int, int] = (40, 300),
               white: float = 0.02, pink: float = 0.0, prop: float = 0.0,
               spikes: float = 0.0, rtn: float = 0.0, drift: float = 0.0,
               series_r: float = 0.0, off_lattice: float = 0.0, hi: float = 10.0
               ) -> Trace:
    """A read-out time trace (V = 0.1 V) through a staircase of plateaus.

    Transitions between plateaus are 1-4-sample linear ramps (not part of any plateau).
    """
    rng = np.random.default_rng(seed)
    levels, on = ladder_walk(rng, n_plateaus, hi=hi, off_lattice=off_lattice)
    parts, plateaus, pos = [], [], 0
    for k, lev in enumerate(levels):
        if k:
            tr = int(rng.integers(1, 5))
            parts.append(np.linspace(levels[k - 1], lev, tr + 2)[1:-1])
            pos += tr
        m = int(rng.integers(*length))
        parts.append(np.full(m, lev))
        plateaus.append((pos, pos + m - 1, float(lev) if on[k] else float("nan")))
        pos += m
    g = np.concatenate(parts)
    n = g.size
    if rtn > 0:
        g = g + rtn * (telegraph(rng, n, rng.uniform(2, 4), rng.uniform(2, 4)) - 0.5)
    if drift > 0:
        g = g + drift * np.sin(np.pi * np.arange(n) / n) * rng.choice([-1, 1])
    noisy = g + rng.normal(0, white, n) + pink_noise(rng, n, pink) + rng.normal(0, 1, n) * prop * g
    meas = noisy / (1 + series_r * G0_S * noisy) if series_r else noisy
    if spikes > 0:
        hit = rng.random(n) < spikes
        meas[hit] += rng.choice([-1, 1], hit.sum()) * rng.uniform(1, 5, hit.sum())
    cols = {"time_s": np.arange(n) * 1e-3, "voltage_V": np.full(n, V_READ),
            "current_A": meas * G0_S * V_READ}
    return Trace(cols, plateaus, truth={"series_r": series_r, "levels": levels, "on": on})


def sweep_trace(seed: int, *, cycles: int = 3, noise: float = 0.01, step_v: float = 0.01,
                v_max: float = 1.0, compliance_a: float | None = None,
                flag: bool = True) -> Trace:
    """Bipolar DC sweeps (segments 1-4) with SET/RESET staircases and noise on I.

    Segment 1 (0 -> +V) climbs 1-3 n/2 steps at random voltages, segment 2 stays at the
    top level, segment 3 (0 -> -V) falls back in 1-3 steps, segment 4 stays low. Current
    noise is ``noise * |I|`` (plus 1 pA). With ``compliance_a`` the current is clamped at
    I_cc while G V G0 > I_cc (flagged in the ``compliance`` column when ``flag``): no
    plateau there. Truth plateaus are cut where |V| < 0.02 V (G is undefined at 0 V).
    Truth: ``v_set`` / ``v_reset`` per cycle (first step voltage on segments 1 and 3).
    """
    rng = np.random.default_rng(seed)
    up = np.round(np.arange(0, v_max + step_v / 2, step_v), 10)
    segs = [(1, up), (2, up[::-1][1:]), (3, -up[1:]), (4, -up[::-1][1:])]
    v_all, g_all, seg_all, cyc_all, plateaus = [], [], [], [], []
    v_set, v_reset = [], []
    g_low = float(rng.choice([0.5, 1.0, 1.5]))
    for c in range(cycles):
        n_up = int(rng.integers(1, 4))
        top = g_low + 0.5 * float(rng.integers(2, 6)) * n_up
        ups = np.sort(rng.choice(np.arange(20, len(up) - 15), n_up, replace=False))
        ups = ups[np.concatenate(([True], np.diff(ups) >= 12))]
        lv_up = np.linspace(g_low, top, ups.size + 1)
        lv_up = np.round(2 * lv_up) / 2
        n_dn = int(rng.integers(1, 4))
        downs = np.sort(rng.choice(np.arange(20, len(up) - 15), n_dn, replace=False))
        downs = downs[np.concatenate(([True], np.diff(downs) >= 12))]
        new_low = float(rng.choice([0.5, 1.0, 1.5]))
        lv_dn = np.round(2 * np.linspace(top, new_low, downs.size + 1)) / 2
        v_set.append(float(up[ups[0]]))
        v_reset.append(float(-up[1:][downs[0] - 1]))
        for sid, v in segs:
            if sid == 1:
                k = np.searchsorted(ups, np.arange(v.size), side="right")
                g = lv_up[k]
            elif sid == 2:
                g = np.full(v.size, lv_up[-1])
            elif sid == 3:
                k = np.searchsorted(downs - 1, np.arange(v.size), side="right")
                g = lv_dn[k]
            else:
                g = np.full(v.size, lv_dn[-1])
            v_all.append(v)
            g_all.append(g)
            seg_all.append(np.full(v.size, sid))
            cyc_all.append(np.full(v.size, c))
        g_low = float(lv_dn[-1])
    v = np.concatenate(v_all)
    g = np.concatenate(g_all)
    seg = np.concatenate(seg_all)
    cyc = np.concatenate(cyc_all)
    i_true = g * G0_S * v
    comp = np.zeros(v.size, dtype=bool)
    if compliance_a is not None:
        comp = np.abs(i_true) >= compliance_a
        i_true = np.clip(i_true, -compliance_a, compliance_a)
    i = i_true + rng.normal(0, 1, v.size) * (noise * np.abs(i_true) + 1e-12)
    # truth plateaus: runs of constant g within one segment and cycle, |V| >= 0.02 V,
    # not in compliance
    ok = (np.abs(v) >= 0.02) & ~comp
    key = np.where(ok, g, np.nan)
    change = np.flatnonzero((key[1:] != key[:-1]) | (seg[1:] != seg[:-1])
                            | (cyc[1:] != cyc[:-1])) + 1
    starts = np.concatenate(([0], change))
    ends = np.append(change, v.size) - 1
    for a, b in zip(starts, ends, strict=True):
        if ok[a] and b - a + 1 >= 5:
            plateaus.append((int(a), int(b), float(g[a])))
    cols = {"time_s": np.arange(v.size) * 0.01, "voltage_V": v, "current_A": i,
            "segment": seg, "cycle": cyc}
    if compliance_a is not None and flag:
        cols["compliance"] = comp.astype(float)
    params = {} if compliance_a is None else {"compliance_set": (compliance_a, "A")}
    return Trace(cols, plateaus, "dc-sweep", params,
                 {"v_set": np.array(v_set), "v_reset": np.array(v_reset),
                  "compliance_samples": int(comp.sum())})


def rtn_trace(seed: int, *, n: int = 100_000, dt: float = 1e-3, tau_low: float = 0.05,
              tau_high: float = 0.03, step_g0: float = 0.5, noise_ratio: float = 0.5,
              level_g0: float = 3.0) -> Trace:
    """Two-level RTN at a read bias: dwell means tau_low / tau_high (s), white noise of
    ``noise_ratio`` times the step."""
    rng = np.random.default_rng(seed)
    s = telegraph(rng, n, tau_low / dt, tau_high / dt)
    g = level_g0 + step_g0 * s + rng.normal(0, noise_ratio * step_g0, n)
    cols = {"time_s": np.arange(n) * dt, "voltage_V": np.full(n, V_READ),
            "current_A": g * G0_S * V_READ}
    return Trace(cols, [], "read-noise", truth={"tau": (tau_low, tau_high)})


def score(summary: dict, trace: Trace) -> tuple[float, float, float]:
    """(precision, recall, label accuracy) of ``labapp analyze --json`` against truth.

    A detected plateau matches a true one when they overlap by half of both
    (``analysis.plateaus.match_plateaus`` semantics, re-implemented here). Label
    accuracy: among matched plateaus with an n/2 truth, the fraction labelled with that
    n/2 and kind "quantized"; off-lattice truths count as right when not "quantized".
    """
    det = [(p["start_index"], p["end_index"]) for p in summary["plateaus"]]
    used: set[int] = set()
    pairs = []
    for i, (a, b) in enumerate(det):
        for j, (c, d, _) in enumerate(trace.plateaus):
            if j in used:
                continue
            ov = min(b, d) - max(a, c) + 1
            if ov >= 0.5 * (d - c + 1) and ov >= 0.5 * (b - a + 1):
                pairs.append((i, j))
                used.add(j)
                break
    prec = len(pairs) / max(len(det), 1)
    rec = len(pairs) / max(len(trace.plateaus), 1)
    ok = []
    for i, j in pairs:
        p, lab = summary["plateaus"][i], trace.plateaus[j][2]
        if np.isnan(lab):
            ok.append(p["kind"] != "quantized")
        else:
            ok.append(p["kind"] == "quantized" and abs(p["label_g0"] - lab) < 1e-9)
    return prec, rec, float(np.mean(ok)) if ok else 0.0
