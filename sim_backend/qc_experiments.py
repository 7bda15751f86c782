"""The paper-000 calibration experiments, run on a device model, with their targets.

One function per row of the calibration table (issue "A physically grounded
quantized-conductance memristor"): it drives the protocol's schedule
(:mod:`sim_backend.qc_stimulus`) into a device, extracts the measured quantity the paper
reports with the project's analysis functions, and returns the traces for a figure. The
target and the accepted range of every metric live in :data:`CHECKS`, the one place the
calibration tests and the calibration report both read them from.

Protocol details the paper leaves open are chosen here and written next to the experiment
(e.g. the compliance of the amplitude series, the amplitude of the pulse-count series).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from analysis.constants import G0
from sim_backend.device import DeviceModel, DriveResult
from sim_backend.qc_device import QCDevice
from sim_backend.qc_stimulus import Schedule, dc_loop, pulse_train, read_train

DeviceFactory = Callable[[int], DeviceModel]


def default_factory(seed: int) -> DeviceModel:
    """A fresh QC device for ``seed`` (device-to-device spread drawn from the seed)."""
    return QCDevice(seed)


@dataclass
class Experiment:
    """Measured metrics of one calibration row and the traces behind them."""

    row: str
    metrics: dict[str, float]
    traces: dict[str, NDArray[np.float64]] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One metric's paper target and the range the simulator must land in."""

    row: str
    metric: str
    target: str
    lo: float
    hi: float

    def ok(self, value: float) -> bool:
        return bool(np.isfinite(value) and self.lo <= value <= self.hi)


def _run(dev: DeviceModel, s: Schedule, r_source: float = 0.0) -> DriveResult:
    return dev.drive(s.dt, s.v, s.i_limit, r_source)


def _g(res: DriveResult, idx: NDArray[np.int64] | slice | None = None) -> NDArray[np.float64]:
    v = res.v if idx is None else res.v[idx]
    i = res.i if idx is None else res.i[idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(v) > 1e-3, i / v / G0, np.nan)


# --------------------------------------------------------------------------- DC loop
DC_DWELL = 1e-3  # s per 1 mV point (the paper gives "1 mVs^-1"; 1 mV steps, 1 ms each)


def dc_loop_experiment(seed: int, compliance: float, factory: DeviceFactory = default_factory
                       ) -> Experiment:
    """0 -> 3 -> 0 -> -3 -> 0 V in 1 mV steps at the given compliance (Fig. 2)."""
    dev = factory(seed)
    s = dc_loop(compliance=compliance, dwell=DC_DWELL)
    res = _run(dev, s)
    g = _g(res)
    q = s.v.size // 4
    up, down, neg = slice(0, q), slice(0, 2 * q), slice(2 * q, 4 * q)
    v_up = s.v[up]
    # SET onset: first point of the up-sweep where G exceeds 1 G0 (HRS is below 0.1 G0)
    above = np.flatnonzero(g[up] > 1.0)
    onset = float(v_up[above[0]]) if above.size else np.nan
    top = float(np.nanmax(np.where(np.abs(s.v[down]) > 0.3, g[down], np.nan)))
    gn, vn = g[neg], s.v[neg]
    start = float(np.nanmedian(gn[(vn < -0.2) & (vn > -0.5) & (np.arange(vn.size) < q)]))
    first = np.flatnonzero((gn < 0.9 * start) & (np.arange(vn.size) < q))
    reset_on = float(vn[first[0]]) if first.size else np.nan
    back = (np.abs(vn) > 0.2) & (np.abs(vn) < 0.5) & (np.arange(vn.size) >= q)
    end = float(np.nanmedian(gn[back]))
    # half-integer plateaus: time the true partial channel spends half open, per branch
    half = (res.partial > 0.3) & (res.partial < 0.7)
    half_set = int(_count_runs(half[down] & (res.n_channels[down] < 25)))
    half_reset = int(_count_runs(half[neg] & (res.n_channels[neg] < 25)))
    return Experiment(
        "dc_loop",
        {
            "set_onset_V": onset,
            "top_G0": top,
            "reset_start_G0": start,
            "reset_onset_V": reset_on,
            "reset_end_G0": end,
            "half_plateaus_set": half_set,
            "half_plateaus_reset": half_reset,
            "compliance_mA": compliance * 1e3,
        },
        {"v": s.v, "i": res.i, "g": g, "n": res.n_channels + res.partial},
    )


def _count_runs(mask: NDArray[np.bool_], min_len: int = 5) -> int:
    """Number of runs of True at least ``min_len`` long."""
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(m)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return int(np.sum(ends - starts >= min_len))


# --------------------------------------------------------------------------- pulsed SET
PULSE_W = 20e-3  # Fig. 5: 20 ms SET/RESET pulses
READ_W = 2e-3
GAP = 2e-3


def _set_reset_staircase(v_lo: float, v_hi: float, step: float, repeat: int) -> NDArray:
    amps = np.repeat(np.arange(v_lo, v_hi + step / 2, step), repeat)
    return np.concatenate([amps, -amps])


def pulsed_cc_experiment(seed: int, compliance: float,
                         factory: DeviceFactory = default_factory) -> Experiment:
    """SET then RESET staircases 0.6 -> 2.0 V of 20 ms pulses, +-0.1 V reads (Fig. 5a).

    The paper states "increasing pulse amplitude conditions" without the values; the
    staircase used here is 0.6 to 2.0 V in 0.1 V steps, two pulses per step.
    """
    dev = factory(seed)
    amps = _set_reset_staircase(0.6, 2.0, 0.1, 2)
    s = pulse_train(amps, PULSE_W, compliance, np.sign(amps) * 0.1, READ_W, GAP)
    res = _run(dev, s)
    g = _g(res, s.read_index)
    half = amps.size // 2
    return Experiment(
        "pulsed_cc",
        {"max_G0": float(np.nanmax(g[:half])), "after_reset_G0": float(g[-1]),
         "compliance_mA": compliance * 1e3},
        {"pulse": np.arange(1, amps.size + 1, dtype=float), "amplitude": amps, "g": g},
    )


AMPLITUDE_CC = 2e-3  # "constant compliance" (value not given): 2 mA, the CC of Fig. 1
AMPLITUDE_PULSES = 10


def amplitude_experiment(seed: int, amplitude: float,
                         factory: DeviceFactory = default_factory) -> Experiment:
    """Ten identical 20 ms SET pulses of ``amplitude`` at 2 mA, +0.1 V reads (Fig. 5b)."""
    dev = factory(seed)
    s = pulse_train([amplitude] * AMPLITUDE_PULSES, PULSE_W, AMPLITUDE_CC, 0.1, READ_W, GAP)
    g = _g(_run(dev, s), s.read_index)
    return Experiment(
        "amplitude",
        {"final_G0": float(g[-1]), "first_G0": float(g[0]), "amplitude_V": amplitude},
        {"pulse": np.arange(1, g.size + 1, dtype=float), "g": g},
    )


COUNT_AMPLITUDE = 1.8  # identical pulses; amplitude not given in the paper
COUNT_CC = 5e-3


def count_experiment(seed: int, count: int, factory: DeviceFactory = default_factory
                     ) -> Experiment:
    """``count`` identical 20 ms SET pulses at 1.8 V, 5 mA, +0.1 V reads (Fig. 5d)."""
    dev = factory(seed)
    s = pulse_train([COUNT_AMPLITUDE] * count, PULSE_W, COUNT_CC, 0.1, READ_W, GAP)
    g = _g(_run(dev, s), s.read_index)
    return Experiment("count", {"final_G0": float(g[-1]), "count": count},
                      {"pulse": np.arange(1, g.size + 1, dtype=float), "g": g})


# --------------------------------------------------------------------------- read disturb
def read_disturb_experiment(seed: int, read_v: float, factory: DeviceFactory = default_factory
                            ) -> Experiment:
    """SET with 20 ms pulses, then 200 reads (5 ms, 20 per s) at ``read_v`` (Fig. 5c).

    Disturb = how far the reads move the baseline: |median of the last 100 reads - median
    of the first 10| in G0, and the fraction of reads whose true state differs from the
    first one.
    """
    dev = factory(seed)
    prog = pulse_train([1.6] * 3, PULSE_W, 5e-3, 0.1, READ_W, GAP)
    _run(dev, prog)
    s = read_train(200, read_v, read_width=5e-3, period=0.05)
    res = _run(dev, s)
    g = _g(res, s.read_index)
    truth = res.g_true_g0[s.read_index]
    # medians over the first 10 and the last 100 reads average the RTN out
    shift = float(np.median(g[100:]) - np.median(g[:10]))
    return Experiment(
        "read_disturb",
        {"mean_shift_G0": abs(shift),
         "moved_fraction": float(np.mean(np.abs(truth - truth[0]) > 0.25)),
         "read_V": read_v},
        {"read": np.arange(1, g.size + 1, dtype=float), "g": g},
    )


# --------------------------------------------------------------------------- RESET train
RESET_SAMPLES = 100


def reset_train_experiment(seed: int, factory: DeviceFactory = default_factory,
                           pulses: int = 500) -> Experiment:
    """SET (5 x 1.8 V / 20 ms, 5 mA), then 500 pulses of -1.5 V / 5 ms (Fig. 6).

    Each RESET pulse is sampled 100 times (PMU, 50 Ohm source); the per-pulse current is
    the mean of the top portion of the pulse (:func:`analysis.pulses.levels_from_waveforms`).
    """
    from analysis.pulses import levels_from_waveforms

    dev = factory(seed)
    _run(dev, pulse_train([1.8] * 5, PULSE_W, 5e-3, 0.1, READ_W, GAP))
    s = pulse_train([-1.5] * pulses, 5e-3, np.inf, 0.0, 1e-3, 1e-3, RESET_SAMPLES)
    res = _run(dev, s, r_source=50.0)
    per = RESET_SAMPLES + 2
    cur = res.i.reshape(pulses, per)[:, :RESET_SAMPLES]
    volt = res.v.reshape(pulses, per)[:, :RESET_SAMPLES]
    lv = levels_from_waveforms(np.abs(cur), np.abs(volt))
    i_pulse = lv.current_A
    ratio = i_pulse / i_pulse[0]
    g = lv.g_g0
    steps = np.diff(i_pulse)
    rel = steps / i_pulse[:-1]
    noise = 0.02  # pairs within 2 % count as "on the unity line" (plateau scatter)
    not_above = float(np.mean(rel < noise))
    # level changes well beyond the scatter, in the quantized regime (G >= 1 G0; below it
    # the tunnelling gap's RTN alone moves the current by tens of per cent)
    changed = (np.abs(rel) >= 0.1) & (g[:-1] >= 1.0)
    falling_of_changed = float(np.mean(rel[changed] < 0)) if changed.any() else np.nan
    cv = _plateau_cv(i_pulse, g)
    return Experiment(
        "reset_train",
        {"final_ratio": float(ratio[-1]), "first_G0": float(g[0]), "last_G0": float(g[-1]),
         "not_above_fraction": not_above, "falling_of_changed": falling_of_changed,
         "plateau_cv_pct": cv},
        {"pulse": np.arange(1, pulses + 1, dtype=float), "ratio": ratio, "g": g,
         "i": i_pulse},
    )


def _plateau_cv(values: NDArray, g: NDArray) -> float:
    """Median sigma/mu (in %) of the per-pulse values on the quantized levels."""
    from analysis.timelag import variability_per_level

    levels = variability_per_level(values, g, min_length=3)
    cvs = [d["cv"] for d in levels if d["n_pulses"] >= 5]
    return float(100 * np.median(cvs)) if cvs else np.nan


# --------------------------------------------------------------------------- LTP / LTD
def ltp_ltd_experiment(seed: int, factory: DeviceFactory = default_factory) -> Experiment:
    """30 x +1.5 V then 30 x -1.5 V, 5 ms, reads +-0.2 V (Fig. 7b), fitted nonlinearity.

    Starting state: the device after a 2.0 V / 20 ms SET pulse and a -1.8 V / 20 ms RESET
    pulse (the paper's starting state is not given). Compliance 5 mA on the pulses.
    """
    from analysis.nonlinearity import fit_update

    dev = factory(seed)
    _run(dev, pulse_train([1.7, -1.8], PULSE_W, 5e-3, 0.0, READ_W, GAP))
    amps = np.concatenate([np.full(30, 1.5), np.full(30, -1.5)])
    s = pulse_train(amps, 5e-3, 5e-3, np.sign(amps) * 0.2, READ_W, GAP)
    g = _g(_run(dev, s), s.read_index)
    pot = fit_update(g[:30], "potentiation")
    dep = fit_update(np.concatenate([g[29:30], g[30:]]), "depression")
    return Experiment(
        "ltp_ltd",
        {"nl_potentiation": abs(pot.label), "nl_depression": abs(dep.label),
         "g_min_G0": float(np.min(g)), "g_max_G0": float(np.max(g))},
        {"pulse": np.arange(1, 61, dtype=float), "g": g},
    )


# --------------------------------------------------------------------------- retention
RETENTION_PROGRAMS: tuple[tuple[float, ...], ...] = ((1.6, -1.6), (1.5,), (1.9,))


def retention_experiment(seed: int, factory: DeviceFactory = default_factory,
                         program: tuple[float, ...] = (1.5,), duration: float = 6e3
                         ) -> Experiment:
    """Program with 20 ms pulses, then read at 0.1 V once per second for 6x10^3 s (Fig. S5).

    Several states are reached by different programs (:data:`RETENTION_PROGRAMS`: a SET
    and partial RESET for a low state, SET pulses of two amplitudes) on fresh copies of
    the device; the metric is the worst relative excursion max|G/G(first read) - 1|.
    """
    dev = factory(seed)
    _run(dev, pulse_train(list(program), PULSE_W, 5e-3, 0.1, READ_W, GAP))
    n = int(duration)
    s = read_train(n, 0.1, read_width=2e-3, period=1.0)
    res = _run(dev, s)
    g = _g(res, s.read_index)
    dev_rel = float(np.max(np.abs(g / g[0] - 1.0)))
    return Experiment(
        "retention",
        {"initial_G0": float(g[0]), "max_rel_change": dev_rel, "final_G0": float(g[-1])},
        {"t": res.t[s.read_index] - res.t[s.read_index][0], "g": g},
    )


# --------------------------------------------------------------------------- RTN
def rtn_experiment(seed: int, factory: DeviceFactory = default_factory) -> Experiment:
    """Constant 0.1 V for 4 s, sampled every 0.5 ms, at a low state (~1-3 G0).

    The state is prepared by a SET pulse and a partial RESET; the trace is analysed with
    :func:`analysis.rtn.analyze_rtn` (two levels, dwell times).
    """
    from analysis.rtn import analyze_rtn

    dev = factory(seed)
    _run(dev, pulse_train([1.5, -1.7], PULSE_W, 1e-3, 0.1, READ_W, GAP))
    n = 8000
    res = dev.drive(np.full(n, 5e-4), np.full(n, 0.1), np.full(n, 1e-3))
    g = _g(res)
    r = analyze_rtn(res.t, g, n_levels=2)
    amp = float(np.diff(r.levels)[0]) if r.levels.size > 1 else 0.0
    return Experiment(
        "rtn",
        {"level_G0": float(np.median(g)), "amplitude_G0": amp,
         "relative_amplitude": amp / float(np.median(g)),
         "transitions": int(np.sum(np.diff(r.states) != 0))},
        {"t": res.t - res.t[0], "g": g},
    )


# --------------------------------------------------------------------------- targets
CHECKS: tuple[Check, ...] = (
    Check("dc_loop", "set_onset_V", "SET starts ~1-1.5 V", 0.9, 1.6),
    Check("dc_loop", "top_G0", ">= 20 G0 (5 mA: 24, 7 mA: 28)", 20.0, 45.0),
    Check("dc_loop", "cc_monotone", "higher CC -> higher top level (5 < 7 < 10 mA)", 1.0, 1.0),
    Check("dc_loop", "reset_onset_V", "RESET steps from about -1.5 V", -1.8, -0.6),
    Check("dc_loop", "reset_end_G0", "down to a few G0 or below", 0.0, 5.0),
    Check("dc_loop", "half_plateaus_set", "n + 1/2 plateaus in SET", 1, np.inf),
    Check("dc_loop", "half_plateaus_reset", "n + 1/2 plateaus in RESET", 1, np.inf),
    Check("pulsed_cc", "ratio_5_to_1", "~20 G0 (5 mA) vs ~1 G0 (1 mA)", 2.0, np.inf),
    Check("pulsed_cc", "max_G0_5mA", "up to ~20 G0 at 5 mA", 15.0, 45.0),
    Check("amplitude", "final_G0_1.5V", "~6 G0, slow rise", 2.0, 14.0),
    Check("amplitude", "final_G0_2.3V", "~12 G0", 8.0, 18.0),
    Check("amplitude", "ratio_2.3_to_1.5", "~2", 1.2, np.inf),
    Check("count", "mean_G0_6to10", "~25 G0", 18.0, 32.0),
    Check("count", "gain_6to10_over_2to4", "~18 -> ~25 G0", 1.0, np.inf),
    Check("read_disturb", "shift_ratio_0.15_to_0.1", "visible at 0.15 V, little at 0.1 V",
          3.0, np.inf),
    Check("read_disturb", "mean_shift_G0_0.1V", "minimal at 0.1 V", 0.0, 0.15),
    Check("reset_train", "not_above_fraction", "I_{i+1} < I_i for most pulses", 0.7, 1.0),
    Check("reset_train", "falling_of_changed", "changes are decreases", 0.8, 1.0),
    Check("reset_train", "final_ratio", "gradual decay I_i/I_1", 0.0, 0.7),
    Check("reset_train", "plateau_cv_pct", "5-10 % scatter around levels", 1.5, 12.0),
    Check("ltp_ltd", "nl_potentiation", "NL 5.08", 2.0, 9.0),
    Check("ltp_ltd", "nl_depression", "NL 4.85", 2.0, 9.0),
    Check("retention", "max_rel_change", "states >= 2 G0 within +-10 % over 6e3 s", 0.0, 0.10),
    Check("rtn", "transitions", "two-level RTN visible", 10, np.inf),
    Check("rtn", "relative_amplitude", "stronger at low G", 0.01, 0.5),
)


# --------------------------------------------------------------------------- ensemble
DC_COMPLIANCES = (5e-3, 7e-3, 10e-3)
CC_PULSED = (1e-3, 5e-3)
AMPLITUDES = (1.5, 1.9, 2.3)
COUNTS = (2, 4, 6, 8, 10)
READ_VOLTAGES = (0.1, 0.15)


@dataclass
class Calibration:
    """Ensemble metrics per row (medians over devices) and one example run per setting."""

    seeds: tuple[int, ...]
    metrics: dict[str, dict[str, float]]
    examples: dict[str, list[Experiment]]

    def results(self) -> list[tuple[Check, float, bool]]:
        """Every check with the measured ensemble value and whether it is in range."""
        out = []
        for c in CHECKS:
            value = self.metrics.get(c.row, {}).get(c.metric, np.nan)
            out.append((c, value, c.ok(value)))
        return out


def _median(exps: list[Experiment], key: str) -> float:
    return float(np.nanmedian([e.metrics[key] for e in exps]))


def calibrate(
    seeds: tuple[int, ...] = (0, 1, 2, 3),
    rows: tuple[str, ...] | None = None,
    factory: DeviceFactory = default_factory,
) -> Calibration:
    """Run the calibration rows on an ensemble of devices (one per seed).

    ``rows`` selects rows by name (default: all). The first seed's runs are kept as
    examples for the figures.
    """
    want = set(rows) if rows is not None else None

    def on(name: str) -> bool:
        return want is None or name in want

    m: dict[str, dict[str, float]] = {}
    ex: dict[str, list[Experiment]] = {}
    if on("dc_loop"):
        per_cc = {cc: [dc_loop_experiment(s, cc, factory) for s in seeds] for cc in DC_COMPLIANCES}
        first = per_cc[DC_COMPLIANCES[0]]
        tops = [_median(per_cc[cc], "top_G0") for cc in DC_COMPLIANCES]
        all_runs = [e for runs in per_cc.values() for e in runs]
        m["dc_loop"] = {
            "set_onset_V": _median(all_runs, "set_onset_V"),
            "top_G0": tops[0],
            "top_G0_7mA": tops[1],
            "top_G0_10mA": tops[2],
            "cc_monotone": float(all(a < b for a, b in zip(tops, tops[1:], strict=False))),
            "reset_onset_V": _median(all_runs, "reset_onset_V"),
            "reset_end_G0": _median(first, "reset_end_G0"),
            "half_plateaus_set": _median(all_runs, "half_plateaus_set"),
            "half_plateaus_reset": _median(all_runs, "half_plateaus_reset"),
        }
        ex["dc_loop"] = [per_cc[cc][0] for cc in DC_COMPLIANCES]
    if on("pulsed_cc"):
        runs = {cc: [pulsed_cc_experiment(s, cc, factory) for s in seeds] for cc in CC_PULSED}
        lo, hi = (_median(runs[cc], "max_G0") for cc in CC_PULSED)
        m["pulsed_cc"] = {"max_G0_1mA": lo, "max_G0_5mA": hi, "ratio_5_to_1": hi / lo}
        ex["pulsed_cc"] = [runs[cc][0] for cc in CC_PULSED]
    if on("amplitude"):
        runs = {a: [amplitude_experiment(s, a, factory) for s in seeds] for a in AMPLITUDES}
        fin = {a: _median(runs[a], "final_G0") for a in AMPLITUDES}
        m["amplitude"] = {f"final_G0_{a}V": fin[a] for a in AMPLITUDES}
        m["amplitude"]["ratio_2.3_to_1.5"] = fin[2.3] / fin[1.5]
        ex["amplitude"] = [runs[a][0] for a in AMPLITUDES]
    if on("count"):
        runs = {c: [count_experiment(s, c, factory) for s in seeds] for c in COUNTS}
        fin = {c: _median(runs[c], "final_G0") for c in COUNTS}
        few = float(np.mean([fin[c] for c in (2, 4)]))
        many = float(np.mean([fin[c] for c in (6, 8, 10)]))
        m["count"] = {"mean_G0_2to4": few, "mean_G0_6to10": many,
                      "gain_6to10_over_2to4": many - few}
        ex["count"] = [runs[c][0] for c in COUNTS]
    if on("read_disturb"):
        runs = {v: [read_disturb_experiment(s, v, factory) for s in seeds] for v in READ_VOLTAGES}
        lo, hi = (_median(runs[v], "mean_shift_G0") for v in READ_VOLTAGES)
        m["read_disturb"] = {"mean_shift_G0_0.1V": lo, "mean_shift_G0_0.15V": hi,
                             "shift_ratio_0.15_to_0.1": hi / max(lo, 1e-3)}
        ex["read_disturb"] = [runs[v][0] for v in READ_VOLTAGES]
    if on("reset_train"):
        runs = [reset_train_experiment(s, factory) for s in seeds]
        m["reset_train"] = {k: _median(runs, k) for k in runs[0].metrics}
        ex["reset_train"] = runs[:1]
    if on("ltp_ltd"):
        runs = [ltp_ltd_experiment(s, factory) for s in seeds]
        m["ltp_ltd"] = {k: _median(runs, k) for k in runs[0].metrics}
        ex["ltp_ltd"] = runs[:1]
    if on("retention"):
        runs = [retention_experiment(s, factory, p) for s in seeds for p in RETENTION_PROGRAMS]
        kept = [e for e in runs if e.metrics["initial_G0"] >= 2.0]
        m["retention"] = {
            "max_rel_change": max((e.metrics["max_rel_change"] for e in kept), default=np.nan),
            "states": float(len(kept)),
        }
        ex["retention"] = runs[:3]
    if on("rtn"):
        runs = [rtn_experiment(s, factory) for s in seeds]
        m["rtn"] = {k: _median(runs, k) for k in runs[0].metrics}
        ex["rtn"] = runs[:1]
    return Calibration(tuple(seeds), m, ex)
