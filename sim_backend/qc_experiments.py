"""The paper-000 calibration experiments: protocol settings, metrics, targets, ensembles.

One entry per row of the calibration table (issue "A physically grounded
quantized-conductance memristor"). Each row is

* a protocol with fixed settings (:data:`SETTINGS`; details the paper leaves open are
  chosen here and said so),
* a *runner* method that executes it on one device and returns the measured arrays: the
  :class:`DirectRunner` below drives the device model with the same schedule the
  simulated instrument would hand it; ``labapp.calibration.InstrumentRunner`` runs the
  real protocols through the driver and the simulated 4200A,
* a metric function that turns those arrays into the quantity the paper reports, using
  the project's analysis functions, and
* the accepted range of every metric (:data:`CHECKS`), the one place the calibration tests
  and the calibration report read them from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from analysis.constants import G0
from sim_backend.device import DeviceModel, DriveResult
from sim_backend.qc_device import QCDevice
from sim_backend.qc_stimulus import Schedule, concatenate, dc_loop, pulse_train, reads_at

Array = NDArray[np.float64]


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """Protocol settings of the calibration rows (SI units)."""

    dc_step: float = 1e-3  # paper: "1 mVs^-1" read as 1 mV steps (12 000 points)
    dc_point_time: float = 0.1 / 60 + 3.3e-5  # 0.1 PLC integration + overhead per point
    dc_compliances: tuple[float, ...] = (5e-3, 7e-3, 10e-3)
    pulse_width: float = 20e-3  # Fig. 5: 20 ms
    read_width: float = 2e-3
    pulse_period: float = 30e-3
    staircase: tuple[float, float, float] = (0.6, 0.05, 29)  # start, step, count (Fig. S10a)
    cc_pulsed: tuple[float, ...] = (1e-3, 5e-3)
    amplitudes: tuple[float, ...] = (1.5, 1.9, 2.3)
    amplitude_count: int = 10
    amplitude_compliance: float = 1.5e-3  # "constant compliance" (value not given)
    counts: tuple[int, ...] = (2, 4, 6, 8, 10)
    count_amplitude: float = 1.8  # "identical pulses", amplitude not given
    count_compliance: float = 5e-3
    program_compliance: float = 5e-3
    read_voltages: tuple[float, ...] = (0.1, 0.15)
    disturb_reads: int = 200
    disturb_interval: float = 0.05
    disturb_read_width: float = 5e-3
    reset_amplitude: float = -1.5  # Fig. 6: 500 x 1.5 V / 5 ms (RESET is negative)
    reset_width: float = 5e-3
    reset_period: float = 7e-3
    reset_count: int = 500
    reset_samples: int = 30  # as many 0.01 PLC points as fit in 5 ms on the SMU
    reset_compliance: float = 20e-3
    reset_set: tuple[float, int] = (1.8, 5)  # SET before the train: amplitude, pulses
    ltp_amplitude: float = 1.5  # Fig. 7b: 30 + 30 pulses of +-1.5 V / 5 ms, reads +-0.2 V
    ltp_width: float = 5e-3
    ltp_count: int = 30
    ltp_read: float = 0.2
    ltp_period: float = 20e-3
    ltp_read_width: float = 5e-3
    ltp_prepare: tuple[float, float] = (1.7, -1.8)  # SET / RESET pulse before the train
    retention_duration: float = 6e3
    retention_first: float = 1.0  # log-spaced reads from 1 s, 10 per decade
    retention_read_width: float = 20e-3
    retention_programs: tuple[tuple[float, ...], ...] = ((1.6, -1.6), (1.5,), (1.9,))
    rtn_prepare: tuple[float, float] = (1.5, -2.0)  # SET at 1 mA, partial RESET
    rtn_duration: float = 4.0
    rtn_rate: float = 2000.0


SETTINGS = Settings()


def staircase(s: Settings = SETTINGS) -> Array:
    start, step, count = s.staircase
    return start + step * np.arange(int(count))


def log_read_times(s: Settings = SETTINGS) -> Array:
    """Read times after programming: 10 per decade from ``retention_first`` to the end."""
    decades = np.log10(s.retention_duration / s.retention_first)
    n = int(np.ceil(10 * decades)) + 1
    return s.retention_first * 10 ** np.linspace(0.0, decades, n)


# --------------------------------------------------------------------------- results
@dataclass
class Experiment:
    """Measured metrics of one run of a calibration row and the traces behind them."""

    row: str
    metrics: dict[str, float]
    traces: dict[str, Array] = field(default_factory=dict)


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


def conductance(v: Array, i: Array) -> Array:
    """G / G0 from measured voltage and current (NaN where |V| < 1 mV)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(v) > 1e-3, i / v / G0, np.nan)


# --------------------------------------------------------------------------- metrics
def dc_loop_metrics(segment: Array, v: Array, i: Array, r_series: float = 30.0
                    ) -> Experiment:
    """SET onset, top level, RESET onset and end, n + 1/2 plateaus of one DC loop.

    ``segment`` labels the points 1: 0 -> +V, 2: +V -> 0, 3: 0 -> -V, 4: -V -> 0.
    Plateaus are found by :func:`analysis.plateaus.detect_plateaus` on the series-corrected
    conductance (``r_series``, the nominal device series resistance) in each half.
    """
    from analysis.conductance import series_correct
    from analysis.plateaus import detect_plateaus

    g = conductance(v, i)
    s1, set_half, s3, s4 = segment == 1, segment <= 2, segment == 3, segment == 4
    above = np.flatnonzero(s1 & (g > 1.0))
    onset = float(v[above[0]]) if above.size else np.nan
    top = float(np.nanmax(np.where(set_half & (np.abs(v) > 0.3), g, np.nan)))
    start = float(np.nanmedian(g[s3 & (v < -0.2) & (v > -0.5)]))
    first = np.flatnonzero(s3 & (g < 0.9 * start))
    reset_on = float(v[first[0]]) if first.size else np.nan
    end = float(np.nanmedian(g[s4 & (v < -0.2) & (v > -0.5)]))
    g_corr = series_correct(np.where(np.abs(v) > 0.05, g, np.nan), r_series)
    halves = []
    for mask in (set_half, ~set_half):
        res = detect_plateaus(g_corr[mask], v[mask], min_length=5)
        halves.append(sum(1 for p in res.plateaus if p.on_half_integer
                          and abs(p.label_g0 % 1 - 0.5) < 1e-9))
    return Experiment(
        "dc_loop",
        {"set_onset_V": onset, "top_G0": top, "reset_start_G0": start,
         "reset_onset_V": reset_on, "reset_end_G0": end,
         "half_plateaus_set": float(halves[0]), "half_plateaus_reset": float(halves[1])},
        {"v": v, "i": i, "g": g},
    )


def read_series_metrics(row: str, g_reads: Array, **extra: float) -> Experiment:
    """Maximum and final read conductance of a pulse train (reads after each pulse)."""
    return Experiment(row, {"max_G0": float(np.nanmax(g_reads)), "final_G0": float(g_reads[-1]),
                            **extra},
                      {"pulse": np.arange(1, g_reads.size + 1, dtype=float), "g": g_reads})


def read_disturb_metrics(g_reads: Array, read_v: float) -> Experiment:
    """How much a read series disturbs the state it reads.

    * ``disturbed_fraction``: reads more than 1/4 G0 (half a half-quantum) away from the
      median of the first ten reads: the metastable filament tip opened by the read bias
      (elevated baseline) or a modification of the filament; RTN at these levels is far
      smaller;
    * ``baseline_shift_G0``: mean of all reads minus the median of the first ten.
    """
    ref = float(np.median(g_reads[:10]))
    return Experiment(
        "read_disturb",
        {"disturbed_fraction": float(np.mean(np.abs(g_reads - ref) > 0.25)),
         "baseline_shift_G0": float(np.mean(g_reads) - ref), "read_V": read_v},
        {"read": np.arange(1, g_reads.size + 1, dtype=float), "g": g_reads},
    )


def reset_train_metrics(current_wf: Array, voltage_wf: Array) -> Experiment:
    """I_i (top-portion mean of each pulse), I_i/I_1, the time-lag and the level scatter.

    * ``not_above_fraction``: pairs with I_{i+1} < 1.02 I_i (on or below the unity line
      within the 2 % plateau scatter), over the pulses on quantized levels (G_i >= 1/2 G0;
      in the tunnelling regime below, RTN alone moves the current by tens of per cent);
    * ``falling_of_changed``: of the level steps (|G_{i+1} - G_i| >= 0.4 G0, i.e. a half
      or whole quantum, well beyond the scatter of a level), the fraction that fall;
    * ``plateau_cv_pct``: median sigma/mu of I_i on the quantized levels
      (:func:`analysis.timelag.variability_per_level`);
    * ``plateau_range_pct``: median over the quantized plateaus (>= 5 pulses) of the
      5-95 % range of I_i over its mean (the paper's "variability ranges of 5-10 %" does
      not say which spread it means; both are reported).
    """
    from analysis.plateaus import detect_plateaus
    from analysis.pulses import levels_from_waveforms
    from analysis.timelag import variability_per_level

    lv = levels_from_waveforms(np.abs(current_wf), np.abs(voltage_wf))
    i_pulse = lv.current_A
    g = lv.g_g0
    ratio = i_pulse / i_pulse[0]
    rel = np.diff(i_pulse) / i_pulse[:-1]
    quantized = g[:-1] >= 0.5
    changed = (np.abs(np.diff(g)) >= 0.4) & quantized  # level steps (1/2 or 1 G0)
    levels = variability_per_level(i_pulse, g, min_length=3)
    cvs = [d["cv"] for d in levels if d["n_pulses"] >= 5]
    ranges = []
    for pl in detect_plateaus(g, min_length=5).plateaus:
        if pl.on_half_integer:
            seg = i_pulse[pl.start_index: pl.end_index + 1]
            lo, hi = np.percentile(seg, [5, 95])
            ranges.append((hi - lo) / np.mean(seg))
    return Experiment(
        "reset_train",
        {"final_ratio": float(ratio[-1]), "first_G0": float(g[0]), "last_G0": float(g[-1]),
         "not_above_fraction": float(np.mean(rel[quantized] < 0.02)) if quantized.any()
         else np.nan,
         "falling_of_changed": float(np.mean(rel[changed] < 0)) if changed.any() else np.nan,
         "plateau_cv_pct": float(100 * np.median(cvs)) if cvs else np.nan,
         "plateau_range_pct": float(100 * np.median(ranges)) if ranges else np.nan},
        {"pulse": np.arange(1, i_pulse.size + 1, dtype=float), "ratio": ratio, "g": g,
         "i": i_pulse},
    )


def ltp_ltd_metrics(g_reads: Array, count: int) -> Experiment:
    """NeuroSim nonlinearity labels of the potentiation and depression halves.

    ``g_reads`` holds the read before the first pulse and one read after each of the
    ``count`` potentiation and ``count`` depression pulses.
    """
    from analysis.nonlinearity import fit_update

    pot = fit_update(g_reads[: count + 1], "potentiation")
    dep = fit_update(g_reads[count:], "depression")
    return Experiment(
        "ltp_ltd",
        {"nl_potentiation": abs(pot.label), "nl_depression": abs(dep.label),
         "g_min_G0": float(np.min(g_reads[1:])), "g_max_G0": float(np.max(g_reads))},
        {"pulse": np.arange(g_reads.size, dtype=float), "g": g_reads},
    )


def retention_metrics(t: Array, g: Array) -> Experiment:
    """Worst relative excursion max|G/G(first read) - 1| over the run."""
    return Experiment(
        "retention",
        {"initial_G0": float(g[0]), "max_rel_change": float(np.max(np.abs(g / g[0] - 1))),
         "final_G0": float(g[-1])},
        {"t": t, "g": g},
    )


def rtn_metrics(t: Array, g: Array) -> Experiment:
    """Two-level fit (:func:`analysis.rtn.analyze_rtn`): amplitude and transitions."""
    from analysis.rtn import analyze_rtn

    r = analyze_rtn(t, g, n_levels=2)
    amp = float(np.diff(r.levels)[0]) if r.levels.size > 1 else 0.0
    level = float(np.median(g))
    return Experiment(
        "rtn",
        {"level_G0": level, "amplitude_G0": amp, "relative_amplitude": amp / level,
         "transitions": float(np.sum(np.diff(r.states) != 0))},
        {"t": t - t[0], "g": g},
    )


# --------------------------------------------------------------------------- runners
class Runner(Protocol):
    """Runs one calibration row on the device of ``seed`` and returns the measurement."""

    def dc_loop(self, seed: int, compliance: float) -> Experiment: ...
    def pulsed_cc(self, seed: int, compliance: float) -> Experiment: ...
    def amplitude(self, seed: int, amplitude: float) -> Experiment: ...
    def count(self, seed: int, count: int) -> Experiment: ...
    def read_disturb(self, seed: int, read_v: float) -> Experiment: ...
    def reset_train(self, seed: int) -> Experiment: ...
    def ltp_ltd(self, seed: int) -> Experiment: ...
    def retention(self, seed: int, program: tuple[float, ...]) -> Experiment: ...
    def rtn(self, seed: int) -> Experiment: ...


class DirectRunner:
    """Drives the device model with the schedules the simulated instrument would use.

    No driver, no KXCI: for benchmarks and quick model-level checks. The schedules mirror
    the protocol layer: a pulse, then its read, then zero volts for the rest of the period.
    """

    def __init__(self, factory: Callable[[int], DeviceModel] = QCDevice,
                 settings: Settings = SETTINGS) -> None:
        self.factory = factory
        self.s = settings

    def _run(self, dev: DeviceModel, sch: Schedule, r_source: float = 0.0) -> DriveResult:
        return dev.drive(sch.dt, sch.v, sch.i_limit, r_source)

    def _pulses(self, amps, width: float, cc: float, read_v, period: float | None = None,
                read_width: float | None = None) -> Schedule:
        s = self.s
        rw = s.read_width if read_width is None else read_width
        per = s.pulse_period if period is None else period
        return pulse_train(amps, width, cc, read_v, rw, per - width - rw)

    def _reads(self, dev: DeviceModel, sch: Schedule) -> Array:
        res = self._run(dev, sch)
        return conductance(res.v[sch.read_index], res.i[sch.read_index])

    def dc_loop(self, seed: int, compliance: float) -> Experiment:
        s = self.s
        sch = dc_loop(step=s.dc_step, dwell=s.dc_point_time, compliance=compliance)
        res = self._run(self.factory(seed), sch)
        q = sch.v.size // 4
        segment = np.repeat([1, 2, 3, 4], q)
        e = dc_loop_metrics(segment, res.v, res.i)
        e.metrics["compliance_mA"] = compliance * 1e3
        return e

    def pulsed_cc(self, seed: int, compliance: float) -> Experiment:
        s = self.s
        dev = self.factory(seed)
        amps = staircase(s)
        g = self._reads(dev, self._pulses(amps, s.pulse_width, compliance, 0.1))
        self._run(dev, self._pulses(-amps, s.pulse_width, compliance, -0.1))
        return read_series_metrics("pulsed_cc", g, compliance_mA=compliance * 1e3)

    def amplitude(self, seed: int, amplitude: float) -> Experiment:
        s = self.s
        g = self._reads(self.factory(seed), self._pulses(
            [amplitude] * s.amplitude_count, s.pulse_width, s.amplitude_compliance, 0.1))
        return read_series_metrics("amplitude", g, amplitude_V=amplitude)

    def count(self, seed: int, count: int) -> Experiment:
        s = self.s
        g = self._reads(self.factory(seed), self._pulses(
            [s.count_amplitude] * count, s.pulse_width, s.count_compliance, 0.1))
        return read_series_metrics("count", g, count=float(count))

    def read_disturb(self, seed: int, read_v: float) -> Experiment:
        s = self.s
        dev = self.factory(seed)
        self._run(dev, self._pulses([1.6] * 3, s.pulse_width, s.program_compliance, 0.1))
        times = s.disturb_interval * np.arange(s.disturb_reads)
        g = self._reads(dev, reads_at(times, read_v, s.disturb_read_width))
        return read_disturb_metrics(g, read_v)

    def reset_train(self, seed: int) -> Experiment:
        s = self.s
        dev = self.factory(seed)
        amp, n = s.reset_set
        self._run(dev, self._pulses([amp] * n, s.pulse_width, s.program_compliance, 0.1))
        per = s.reset_samples + 1
        sch = pulse_train([s.reset_amplitude] * s.reset_count, s.reset_width,
                          s.reset_compliance, 0.0, 0.0, s.reset_period - s.reset_width,
                          samples_per_pulse=s.reset_samples)
        res = self._run(dev, sch)
        shape = (s.reset_count, per)
        cur = res.i.reshape(shape)[:, : s.reset_samples]
        volt = res.v.reshape(shape)[:, : s.reset_samples]
        return reset_train_metrics(cur, volt)

    def ltp_ltd(self, seed: int) -> Experiment:
        s = self.s
        dev = self.factory(seed)
        self._run(dev, self._pulses(list(s.ltp_prepare), s.pulse_width, s.program_compliance,
                                    0.0))
        amps = np.concatenate([np.full(s.ltp_count, s.ltp_amplitude),
                               np.full(s.ltp_count, -s.ltp_amplitude)])
        first = reads_at(np.zeros(1), s.ltp_read, s.ltp_read_width)
        train = self._pulses(amps, s.ltp_width, s.program_compliance,
                             np.sign(amps) * s.ltp_read, s.ltp_period, s.ltp_read_width)
        g = self._reads(dev, concatenate(first, train))
        return ltp_ltd_metrics(g, s.ltp_count)

    def retention(self, seed: int, program: tuple[float, ...]) -> Experiment:
        s = self.s
        dev = self.factory(seed)
        self._run(dev, self._pulses(list(program), s.pulse_width, s.program_compliance, 0.0))
        times = np.concatenate([[s.pulse_period], log_read_times(s)])
        sch = reads_at(times, 0.1, s.retention_read_width)
        res = self._run(dev, sch)
        idx = sch.read_index
        return retention_metrics(res.t[idx] - res.t[0], conductance(res.v[idx], res.i[idx]))

    def rtn(self, seed: int) -> Experiment:
        s = self.s
        dev = self.factory(seed)
        self._run(dev, self._pulses(list(s.rtn_prepare), s.pulse_width, 1e-3, 0.0))
        n = int(s.rtn_duration * s.rtn_rate)
        res = dev.drive(np.full(n, 1.0 / s.rtn_rate), np.full(n, 0.1), np.full(n, 1e-3))
        return rtn_metrics(res.t, conductance(res.v, res.i))


# --------------------------------------------------------------------------- targets
CHECKS: tuple[Check, ...] = (
    Check("dc_loop", "set_onset_V", "SET starts ~1-1.5 V", 0.9, 1.6),
    Check("dc_loop", "top_G0", ">= 20 G0 (5 mA: 24, 7 mA: 28)", 20.0, 45.0),
    Check("dc_loop", "reset_start_G0", "level kept after SET: 22-24 G0", 18.0, 28.0),
    Check("dc_loop", "cc_monotone", "higher CC -> higher top level (5 < 7 < 10 mA)", 1.0, 1.0),
    Check("dc_loop", "reset_onset_V", "RESET steps from about -1.5 V", -1.9, -1.0),
    Check("dc_loop", "reset_end_G0", "down to a few G0 or below", 0.0, 5.0),
    Check("dc_loop", "half_plateaus_set", "n + 1/2 plateaus in SET", 1.0, np.inf),
    Check("dc_loop", "half_plateaus_reset", "n + 1/2 plateaus in RESET", 1.0, np.inf),
    Check("pulsed_cc", "ratio_5_to_1", "~20 G0 (5 mA) vs ~1 G0 (1 mA)", 2.0, np.inf),
    Check("pulsed_cc", "max_G0_1mA", "few narrow steps reaching ~1 G0 at 1 mA", 0.0, 4.0),
    Check("pulsed_cc", "max_G0_5mA", "up to ~20 G0 at 5 mA", 15.0, 45.0),
    Check("amplitude", "final_G0_1.5V", "~6 G0, slow rise", 2.0, 14.0),
    Check("amplitude", "final_G0_2.3V", "~12 G0", 9.0, 16.0),
    Check("amplitude", "ratio_2.3_to_1.5", "~2", 1.2, np.inf),
    Check("count", "mean_G0_6to10", "~25 G0", 18.0, 32.0),
    Check("count", "gain_6to10_over_2to4", "~18 -> ~25 G0", 1.0, np.inf),
    Check("read_disturb", "disturbed_fraction_0.15V", "visible disturb at 0.15 V", 0.05, 1.0),
    Check("read_disturb", "disturb_ratio_0.15_to_0.1", "little at 0.1 V", 3.0, np.inf),
    Check("read_disturb", "disturbed_fraction_0.1V", "minimal at 0.1 V", 0.0, 0.02),
    Check("reset_train", "not_above_fraction", "I_{i+1} < I_i for most pulses", 0.7, 1.0),
    Check("reset_train", "falling_of_changed", "changes are decreases", 0.8, 1.0),
    Check("reset_train", "final_ratio", "gradual decay of I_i/I_1", 0.0, 0.7),
    Check("reset_train", "plateau_range_pct", "5-10 % variability range around levels",
          3.0, 20.0),
    Check("reset_train", "plateau_cv_pct", "(sigma/mu of the same scatter)", 1.0, 12.0),
    Check("ltp_ltd", "nl_potentiation", "NL 5.08", 2.0, 9.0),
    Check("ltp_ltd", "nl_depression", "NL 4.85", 2.0, 9.0),
    Check("retention", "max_rel_change", "states >= 2 G0 within +-10 % over 6e3 s", 0.0, 0.10),
    Check("rtn", "transitions", "two-level RTN visible", 10.0, np.inf),
    Check("rtn", "relative_amplitude", "RTN stronger at low G", 0.01, 0.5),
)

ROWS = ("dc_loop", "pulsed_cc", "amplitude", "count", "read_disturb", "reset_train",
        "ltp_ltd", "retention", "rtn")


# --------------------------------------------------------------------------- ensemble
@dataclass
class Calibration:
    """Ensemble metrics per row (medians over devices) and one example run per setting."""

    seeds: tuple[int, ...]
    metrics: dict[str, dict[str, float]]
    examples: dict[str, list[Experiment]]

    def results(self) -> list[tuple[Check, float, bool]]:
        """Every check of the rows that ran, with the measured value and its verdict."""
        out = []
        for c in CHECKS:
            if c.row in self.metrics:
                value = self.metrics[c.row].get(c.metric, np.nan)
                out.append((c, value, c.ok(value)))
        return out


def _median(exps: list[Experiment], key: str) -> float:
    return float(np.nanmedian([e.metrics[key] for e in exps]))


def calibrate(runner: Runner, seeds: tuple[int, ...] = (0, 1, 2, 3),
              rows: tuple[str, ...] = ROWS, settings: Settings = SETTINGS) -> Calibration:
    """Run the calibration rows on an ensemble of devices (one per seed).

    Ensemble values are medians over the devices (for retention: the worst state).
    The first seed's runs are kept as examples for the figures.
    """
    unknown = set(rows) - set(ROWS)
    if unknown:
        raise ValueError(f"rows: unknown {sorted(unknown)}, allowed {list(ROWS)}")
    s = settings
    m: dict[str, dict[str, float]] = {}
    ex: dict[str, list[Experiment]] = {}
    if "dc_loop" in rows:
        per = {cc: [runner.dc_loop(k, cc) for k in seeds] for cc in s.dc_compliances}
        tops = [_median(per[cc], "top_G0") for cc in s.dc_compliances]
        runs = [e for r in per.values() for e in r]
        m["dc_loop"] = {
            "set_onset_V": _median(runs, "set_onset_V"),
            "top_G0": tops[0],
            **{f"top_G0_{cc * 1e3:g}mA": t for cc, t in zip(s.dc_compliances, tops,
                                                           strict=True)},
            "cc_monotone": float(all(a < b for a, b in zip(tops, tops[1:], strict=False))),
            "reset_onset_V": _median(runs, "reset_onset_V"),
            "reset_start_G0": _median(per[s.dc_compliances[0]], "reset_start_G0"),
            "reset_end_G0": _median(per[s.dc_compliances[0]], "reset_end_G0"),
            "half_plateaus_set": _median(runs, "half_plateaus_set"),
            "half_plateaus_reset": _median(runs, "half_plateaus_reset"),
        }
        ex["dc_loop"] = [per[cc][0] for cc in s.dc_compliances]
    if "pulsed_cc" in rows:
        per = {cc: [runner.pulsed_cc(k, cc) for k in seeds] for cc in s.cc_pulsed}
        lo, hi = (_median(per[cc], "max_G0") for cc in s.cc_pulsed[:2])
        m["pulsed_cc"] = {"max_G0_1mA": lo, "max_G0_5mA": hi, "ratio_5_to_1": hi / lo}
        ex["pulsed_cc"] = [per[cc][0] for cc in s.cc_pulsed]
    if "amplitude" in rows:
        per = {a: [runner.amplitude(k, a) for k in seeds] for a in s.amplitudes}
        fin = {a: _median(per[a], "final_G0") for a in s.amplitudes}
        m["amplitude"] = {f"final_G0_{a:g}V": fin[a] for a in s.amplitudes}
        m["amplitude"]["ratio_2.3_to_1.5"] = fin[s.amplitudes[-1]] / fin[s.amplitudes[0]]
        ex["amplitude"] = [per[a][0] for a in s.amplitudes]
    if "count" in rows:
        per = {c: [runner.count(k, c) for k in seeds] for c in s.counts}
        fin = {c: _median(per[c], "final_G0") for c in s.counts}
        few = float(np.mean([fin[c] for c in s.counts if c <= 4]))
        many = float(np.mean([fin[c] for c in s.counts if c >= 6]))
        m["count"] = {"mean_G0_2to4": few, "mean_G0_6to10": many,
                      "gain_6to10_over_2to4": many - few}
        ex["count"] = [per[c][0] for c in s.counts]
    if "read_disturb" in rows:
        per = {v: [runner.read_disturb(k, v) for k in seeds] for v in s.read_voltages}
        lo, hi = (_median(per[v], "disturbed_fraction") for v in s.read_voltages[:2])
        m["read_disturb"] = {
            "disturbed_fraction_0.1V": lo, "disturbed_fraction_0.15V": hi,
            "disturb_ratio_0.15_to_0.1": hi / max(lo, 1.0 / s.disturb_reads),
            **{f"baseline_shift_G0_{v:g}V": _median(per[v], "baseline_shift_G0")
               for v in s.read_voltages}}
        ex["read_disturb"] = [per[v][0] for v in s.read_voltages]
    for row, fn in (("reset_train", runner.reset_train), ("ltp_ltd", runner.ltp_ltd),
                    ("rtn", runner.rtn)):
        if row in rows:
            runs = [fn(k) for k in seeds]
            m[row] = {key: _median(runs, key) for key in runs[0].metrics}
            ex[row] = runs[:1]
    if "retention" in rows:
        runs = [runner.retention(k, p) for k in seeds for p in s.retention_programs]
        kept = [e for e in runs if e.metrics["initial_G0"] >= 2.0]
        m["retention"] = {
            "max_rel_change": max((e.metrics["max_rel_change"] for e in kept), default=np.nan),
            "states_tested": float(len(kept)),
            "lowest_state_G0": min((e.metrics["initial_G0"] for e in kept), default=np.nan),
        }
        ex["retention"] = runs[: len(s.retention_programs)]
    return Calibration(tuple(seeds), m, ex)
