"""One run, analysed: the lazy :class:`RunAnalysis` and its JSON summary.

``RunAnalysis`` computes each result once, on first use (conductance trace, plateaus,
histogram and mixture fit, per-pulse levels, nonlinearity, switching, retention,
endurance, RTN), so the CLI's ``--json``, every figure and the batch workers share the
work. Which results apply follows from the kind of run (:class:`analysis.run_kind.RunKind`:
from the protocol the file names, else from the columns) *and* the data present, so a
CSV export without a protocol still gets every analysis its columns allow. The JSON
summary is built from one section per result (:data:`SECTIONS`), each present only
where its result applies.

The JSON keys are documented in ``docs/analysis.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analysis.conductance import conductance_g0, series_correct
from analysis.endurance import EnduranceResult, endurance_from_reads
from analysis.histograms import (
    Histogram,
    MixtureFit,
    conductance_histogram,
    fit_mixture,
    state_histogram,
)
from analysis.inputs import main_stream
from analysis.masks import Masks, sample_masks
from analysis.nonlinearity import NonlinearityFit, fit_update, split_ltp_ltd
from analysis.options import AnalysisOptions
from analysis.plateaus import (
    KIND_ABOVE,
    PlateauResult,
    breaks_from_labels,
    detect_plateaus,
    drift_baseline,
    relabel,
)
from analysis.provenance import is_simulated, sim_seed
from analysis.pulses import (
    PulseLevels,
    levels_from_reads,
    levels_from_samples,
    levels_from_waveforms,
)
from analysis.retention import DriftFit, fit_drift
from analysis.rtn import RTNResult, analyze_rtn
from analysis.run_kind import TIME_TRACE_KINDS, RunKind, kind_of_protocol
from analysis.series import SeriesEstimate, estimate_series_r, relabel_with_series
from analysis.switching import SwitchingResult, switching_analysis, top_level_vs_compliance
from analysis.timelag import (
    below_unity_fraction,
    clearly_above_unity_fraction,
    variability_per_level,
)
from labcore.runfile import RunData

__all__ = ["AnalysisOptions", "RunAnalysis", "jsonable", "summarize"]

#: per-read columns that give the write polarity (+ potentiation / SET, - depression)
POLARITY_COLUMNS = ("phase", "polarity", "v_pulse_V", "v_program_V")


class RunAnalysis:
    """Lazily computed analyses of one run (see module docstring)."""

    def __init__(self, run: RunData, options: AnalysisOptions | None = None) -> None:
        self.run = run
        self.options = options or AnalysisOptions()

    # -- data ------------------------------------------------------------------------
    @cached_property
    def samples(self) -> dict[str, NDArray]:
        """The main stream (``samples`` or the first stream with I and V)."""
        return main_stream(self.run)

    @cached_property
    def masks(self) -> Masks:
        """Near-zero-bias and compliance samples of the main stream (excluded, counted)."""
        s = self.samples
        cc = None
        if "compliance" not in s and self.is_sweep:
            per = self.compliance_per_cycle
            if per and "cycle" in s:
                cc = np.array([per.get(int(c), np.nan) for c in s["cycle"]], dtype=float)
            elif per:
                cc = next(iter(per.values()))
        branch = None
        if self.is_sweep:
            seg = np.asarray(s.get("segment", np.zeros(len(s["voltage_V"]), int)), np.int64)
            cyc = np.asarray(s.get("cycle", np.zeros(seg.size, int)), np.int64)
            branch = cyc * 16 + seg
        return sample_masks(s["voltage_V"], s["current_A"], self.options.v_min,
                            flag=s.get("compliance"), compliance_a=cc, branch=branch,
                            detect_clamp=self.is_sweep)

    @cached_property
    def g(self) -> NDArray[np.float64]:
        """G/G0 of every sample (masked below v_min and in compliance, series-R corrected
        if asked)."""
        s = self.samples
        g = conductance_g0(s["voltage_V"], s["current_A"], self.options.v_min,
                           series_resistance_ohm=self.options.series_resistance_ohm)
        return np.where(self.masks.compliance, np.nan, g)

    @property
    def protocol(self) -> str:
        """Protocol name ("" for a CSV without one)."""
        return self.run.protocol

    @cached_property
    def kind(self) -> RunKind:
        """What kind of run this is: the kind of the protocol the file names, else (a
        CSV without one) a sweep for a ``segment`` column without pulses, a
        potentiation/depression run for reads with ``phase`` or ``polarity``."""
        named = kind_of_protocol(self.protocol)
        if named is not None:
            return named
        if "segment" in self.samples and not self.has_pulses:
            return RunKind.SWEEP
        rs = self.read_stream
        if rs is not None and ("phase" in rs or "polarity" in rs):
            return RunKind.LTP_LTD
        return RunKind.OTHER

    @cached_property
    def is_sweep(self) -> bool:
        """A DC sweep (:attr:`kind`)."""
        return self.kind is RunKind.SWEEP

    @cached_property
    def has_pulses(self) -> bool:
        """Per-pulse data exists (waveforms, a reads stream or a pulse_index column).

        Retention and read-noise runs count reads, not pulses: they are time traces.
        """
        if "current_A" in self.run.waveforms:
            return True
        if kind_of_protocol(self.protocol) in TIME_TRACE_KINDS:
            return False
        reads = self.run.streams.get("reads", {})
        if reads and len(reads.get("current_A", ())) > 0:
            return True
        for cols in self.run.streams.values():
            if "pulse_index" in cols and np.any(np.asarray(cols["pulse_index"]) >= 0):
                return True
        return False

    # -- per-pulse levels ----------------------------------------------------------------
    @cached_property
    def pulses(self) -> PulseLevels | None:
        """Per-pulse levels: waveforms (top portion) > reads stream > samples pulse_index."""
        if not self.has_pulses:
            return None
        wf = self.run.waveforms
        if "current_A" in wf and wf["current_A"].size:
            return levels_from_waveforms(wf["current_A"], wf.get("voltage_V"),
                                         portion=self.options.portion)
        reads = self.run.streams.get("reads", {})
        if reads and len(reads.get("current_A", ())) > 0:
            return levels_from_reads(reads)
        # the main table (reads after each pulse) before any other table with pulse_index
        # (e.g. ``pulses``: the current at the end of each write pulse)
        tables = [self.samples] + [c for c in self.run.streams.values() if c is not self.samples]
        for cols in tables:
            if "pulse_index" in cols and "current_A" in cols and len(cols["current_A"]):
                return levels_from_samples(cols["voltage_V"], cols["current_A"],
                                           cols["pulse_index"], portion=self.options.portion)
        return None

    @cached_property
    def read_stream(self) -> dict[str, NDArray] | None:
        """The table with one read per pulse: ``reads``, else a main stream with pulse_index."""
        reads = self.run.streams.get("reads", {})
        if reads and len(reads.get("current_A", ())) > 0:
            return reads
        if self.has_pulses and "pulse_index" in self.samples:
            return self.samples
        return None

    @cached_property
    def read_levels(self) -> PulseLevels | None:
        """Per-pulse levels from the reads (the state *after* each pulse), else ``pulses``."""
        rs = self.read_stream
        if rs is not None:
            if "pulse_index" in rs:
                return levels_from_samples(rs["voltage_V"], rs["current_A"], rs["pulse_index"],
                                           portion=self.options.portion)
            return levels_from_reads(rs)
        return self.pulses

    # -- plateaus ----------------------------------------------------------------------
    @cached_property
    def level_trace(self) -> tuple[NDArray, NDArray, str]:
        """(G/G0, x, x unit) the plateaus are searched in.

        Pulse runs: G_i per pulse vs pulse number; sweeps: G vs V; otherwise G vs time.
        """
        if self.has_pulses and not self.is_sweep and self.pulses is not None:
            p = self.read_levels or self.pulses
            g = p.g_g0
            if self.options.series_resistance_ohm:
                g = series_correct(g, self.options.series_resistance_ohm)
            first = float(p.pulse_index[0]) if p.pulse_index.size else 1.0
            return np.abs(g), first + np.arange(g.size, dtype=float), "pulse"
        s = self.samples
        if self.is_sweep:
            return np.abs(self.g), np.asarray(s["voltage_V"], float), "V"
        return np.abs(self.g), np.asarray(s["time_s"], float), "s"

    @cached_property
    def plateaus(self) -> PlateauResult:
        """Plateaus of the level trace (breaks at segment and cycle changes of sweeps)."""
        g, x, _ = self.level_trace
        o = self.options
        breaks = None
        if self.is_sweep:
            breaks = breaks_from_labels(self.samples.get("segment"), self.samples.get("cycle"))
        min_len = o.min_length if x.size > 50 * o.min_length else max(2, min(o.min_length, 3))
        res = detect_plateaus(g, x, breaks=breaks, min_length=min_len, merge_g0=o.merge_g0,
                              label_tol_g0=o.label_tol_g0, g_range_max=o.g_range_max)
        est = self.series_estimate_for(res)
        base = drift_baseline(res.levels(), tol=o.label_tol_g0) if res.plateaus else None
        report = self.series_report(est)
        if report.get("applied") and est is not None and base is not None:
            report, base = _series_or_baseline(res.levels(), est, base, report,
                                               o.label_tol_g0)
        if report.get("applied") and est is not None:  # an option's R_s is already in g
            res = relabel_with_series(res, est.ohm, tol=o.label_tol_g0, g_max=o.g_range_max)
            base = drift_baseline(res.levels(), tol=o.label_tol_g0)
        res.params["series_resistance"] = report
        if base is not None:
            res = relabel(res, res.levels() - base, tol=o.label_tol_g0, g_max=o.g_range_max)
            res.params["baseline_g0"] = base.tolist()
        return res

    def series_estimate_for(self, res: PlateauResult) -> SeriesEstimate | None:
        """Automatic R_s from the plateau levels (None when an R_s was given or auto is off)."""
        o = self.options
        if o.series_resistance_ohm is not None or not o.series_auto:
            return None
        return estimate_series_r([p.level_g0 for p in res.plateaus if p.kind != KIND_ABOVE],
                                 tol=o.label_tol_g0)

    def series_report(self, est: SeriesEstimate | None) -> dict:
        """``series_resistance`` of the JSON summary: source, value, whether applied."""
        o = self.options
        if est is None:
            return {"source": "option" if o.series_resistance_ohm is not None else "off",
                    "ohm": o.series_resistance_ohm, "applied": bool(o.series_resistance_ohm),
                    "warning": None}
        applied = bool(est.identifiable and est.ohm and est.ohm > 2 * (est.uncertainty_ohm
                                                                      or 0.0))
        return {"source": "auto", **est.as_dict(), "applied": applied}

    # -- histograms --------------------------------------------------------------------
    @cached_property
    def histogram(self) -> Histogram:
        """Trace histogram of |G|/G0 of every sample on fixed bins (0 .. g_range_max)."""
        return conductance_histogram(np.abs(self.g), bin_width=self.options.bin_width_g0,
                                     g_range=(0.0, self.options.g_range_max))

    @cached_property
    def mixture(self) -> MixtureFit:
        """Gaussian-mixture fit of the trace histogram (of per-pulse G for pulse runs)."""
        h = self.histogram
        if self.has_pulses and not self.is_sweep:
            g, _, _ = self.level_trace
            h = conductance_histogram(g, bin_width=max(self.options.bin_width_g0, 0.05),
                                      g_range=(0.0, self.options.g_range_max))
        return fit_mixture(h, mode=self.options.mixture_mode)

    @cached_property
    def state_histogram(self) -> Histogram:
        """One count per plateau level (0.1 G0 bins)."""
        return state_histogram(self.plateaus.levels(),
                               g_range=(0.0, self.options.g_range_max))

    # -- protocol-specific ---------------------------------------------------------------
    @cached_property
    def is_ltp_ltd(self) -> bool:
        """A potentiation/depression run (:attr:`kind`)."""
        return self.kind is RunKind.LTP_LTD

    @cached_property
    def ltp_ltd_halves(self) -> tuple[NDArray, NDArray] | None:
        """The first cycle's reads (G0) of an ltp-ltd run, split into its two halves.

        Reads are taken row by row from the read table; the sign of ``phase`` (or
        ``polarity``, ``v_pulse_V``, ``v_program_V``) splits potentiation from
        depression, else a parameter ``count``/``n_potentiation``, else the maximum.
        """
        rs = self.read_stream
        if not self.is_ltp_ltd or rs is None:
            return None
        g = np.abs(conductance_g0(rs["voltage_V"], rs["current_A"], self.options.v_min))
        keep = np.ones(g.size, dtype=bool)
        if "cycle" in rs and len(rs["cycle"]) == g.size and g.size:
            keep = np.asarray(rs["cycle"]) == np.asarray(rs["cycle"])[0]
        g = g[keep]
        pol = None
        for name in POLARITY_COLUMNS:
            if name in rs and len(rs[name]) == keep.size:
                cand = np.sign(np.asarray(rs[name], float)[keep])
                if np.any(cand < 0) and np.any(cand > 0):
                    pol = cand
                    break
        n_pot = None
        if pol is None:
            for name in ("n_potentiation", "count", "n_pulses_potentiation", "n_ltp"):
                if name in self.run.parameters:
                    n_pot = int(self.run.param(name)) + 1  # + the initial read
                    break
        return split_ltp_ltd(g, polarity=pol, n_potentiation=n_pot)

    @cached_property
    def nonlinearity(self) -> dict[str, NonlinearityFit] | None:
        """Potentiation and depression fits of the first cycle of an ltp-ltd run."""
        halves = self.ltp_ltd_halves
        if halves is None:
            return None
        up, down = halves
        out = {}
        if np.isfinite(up).sum() >= 4:
            out["potentiation"] = fit_update(up, "potentiation")
        if np.isfinite(down).sum() >= 4:
            out["depression"] = fit_update(down, "depression")
        return out or None

    @cached_property
    def switching(self) -> SwitchingResult | None:
        """V_SET/V_RESET, R_HRS/R_LRS, top level per cycle of a sweep."""
        if not self.is_sweep:
            return None
        s = self.samples
        ratio = self.run.param("jump_ratio") if "jump_ratio" in self.run.parameters else None
        return switching_analysis(s["voltage_V"], s["current_A"], segment=s.get("segment"),
                                  cycle=s.get("cycle"), v_min=max(self.options.v_min, 0.05),
                                  jump_ratio=ratio if isinstance(ratio, int | float) else None,
                                  compliance=s.get("compliance"))

    @cached_property
    def compliance_per_cycle(self) -> dict[int, float]:
        """SET compliance (A) of each sweep cycle: the ``cycles`` table of a compliance
        ladder, else the ``compliance_set`` (or ``compliance``) parameter for every cycle."""
        cyc = self.run.streams.get("cycles", {})
        if "compliance_set_A" in cyc and "cycle" in cyc:
            return {int(c): float(a) for c, a in zip(cyc["cycle"], cyc["compliance_set_A"],
                                                      strict=False)}
        for name in ("compliance_set", "compliance"):
            if name in self.run.parameters:
                val = self.run.param(name)
                if isinstance(val, int | float):
                    ids = np.unique(self.samples.get("cycle", np.zeros(1, int)))
                    return {int(c): float(val) for c in ids}
        return {}

    @cached_property
    def retention(self) -> DriftFit | None:
        """Power-law drift fit of a retention run."""
        if self.kind is not RunKind.RETENTION:
            return None
        src = self.run.streams.get("reads") or self.samples
        g = conductance_g0(src["voltage_V"], src["current_A"], self.options.v_min)
        try:
            if "elapsed_s" in src:  # time since the program pulse: t_program = 0
                return fit_drift(src["elapsed_s"], np.abs(g), t_program=0.0)
            return fit_drift(src["time_s"], np.abs(g))
        except ValueError:
            return None

    @cached_property
    def endurance(self) -> EnduranceResult | None:
        """LRS/HRS per cycle of an endurance run."""
        if self.kind is not RunKind.ENDURANCE:
            return None
        cyc = self.run.streams.get("cycles", {})
        if "g_set_G0" in cyc and "g_reset_G0" in cyc and len(cyc["g_set_G0"]):
            return EnduranceResult(np.asarray(cyc["cycle"]).astype(np.int64),
                                   np.abs(np.asarray(cyc["g_set_G0"], float)),
                                   np.abs(np.asarray(cyc["g_reset_G0"], float)), 2.0)
        src = self.run.streams.get("reads") or self.samples
        if "cycle" not in src:
            return None
        g = conductance_g0(src["voltage_V"], src["current_A"], self.options.v_min)
        return endurance_from_reads(src["cycle"], g)

    @cached_property
    def rtn(self) -> RTNResult | None:
        """Levels and dwell times of a read-noise run."""
        if self.kind is not RunKind.READ_NOISE:
            return None
        s = self.samples
        g = np.abs(self.g)
        try:
            return analyze_rtn(s["time_s"], g)
        except ValueError:
            return None

    # -- summary -------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The machine-readable summary (``labapp analyze FILE --json``): the common part,
        then each section of :data:`SECTIONS` whose result applies to this run."""
        out = _common_summary(self)
        for key, section in SECTIONS:
            value = section(self)
            if value is not None:
                out[key] = value
        base = self.plateaus.params.get("baseline_g0")
        drift = None
        if base:
            drift = (f"levels relabelled after removing a drifting baseline of up to "
                     f"{max(np.abs(base)):.2f} G0 (plateaus[].baseline_g0)")
        out["warnings"] = [w for w in ((out.get("series_resistance") or {}).get("warning"),
                                       out["histogram"].get("warning"), drift) if w]
        return jsonable(out)

    def write_verify_summary(self) -> dict[str, Any]:
        """Target, final read and pulse count of a write-verify run."""
        g = np.abs(self.read_levels.g_g0)
        fin = g[np.isfinite(g)]
        params = self.run.parameters
        target = params.get("target_g0", {}).get("value")
        tol = params.get("tolerance", {}).get("value")
        mode = params.get("tolerance_mode", {}).get("value", "relative")
        final = float(fin[-1]) if fin.size else None
        ok = None
        if final is not None and target is not None and tol is not None:
            band = tol * target if mode == "relative" else tol
            ok = abs(final - target) <= band
        return {"target_g0": target, "final_g0": final, "reads": int(g.size),
                "within_tolerance": ok, "outcome": self.run.attrs.get("outcome"),
                "reason": self.run.attrs.get("reason")}


def _series_or_baseline(lv: NDArray, est: SeriesEstimate, base: NDArray, report: dict,
                        tol: float) -> tuple[dict, NDArray | None]:
    """Both a series resistance and a drifting baseline move the plateau levels ``lv``
    onto n/2: keep the one whose levels sit 3x tighter on n/2 (the right model leaves
    only the levels' own error), else the one that puts more plateaus on n/2; if they
    are equally good the cause cannot be told, and neither is applied.

    Returns the series-resistance report and the baseline to remove (None: none).
    """
    n_r, rms_r = _ladder_fit(series_correct(lv, est.ohm), tol)
    n_b, rms_b = _ladder_fit(lv - base, tol)
    if 3 * rms_r < rms_b or (n_r > n_b and 3 * rms_b >= rms_r):
        return report, None
    if not (3 * rms_b < rms_r or n_b > n_r):
        return {**report, "applied": False, "identifiable": False,
                "warning": "series resistance not identifiable: a drifting "
                f"baseline explains the plateau levels as well as {est.ohm:.0f} ohm. "
                "Levels are labelled without a correction; pass --series-r OHM if "
                "it is known."}, None
    return {**report, "applied": False,
            "warning": f"{est.ohm:.0f} ohm not applied: a drifting baseline "
            "puts the plateau levels on n/2 better"}, base


def _common_summary(an: RunAnalysis) -> dict[str, Any]:
    """The keys every run's summary has: the run, options, plateaus, masks, histogram."""
    run = an.run
    pl = an.plateaus
    meas = pl.params.get("level_measured_g0")
    base = pl.params.get("baseline_g0")
    _, _, x_unit = an.level_trace
    mix, hist = an.mixture, an.histogram
    return {
        "file": str(run.path),
        "run_id": run.run_id,
        "protocol": run.protocol,
        "status": run.status,
        "simulated": is_simulated(run),
        "seed": sim_seed(run),
        "n_samples": int(an.g.size),
        "options": {**asdict(an.options), "portion": asdict(an.options.portion)},
        "plateau_axis": x_unit,
        "plateaus": [
            {"level_g0": p.level_g0, "label_g0": p.label_g0,
             "on_half_integer": p.on_half_integer, "start_index": p.start_index,
             "end_index": p.end_index, "residual_g0": p.residual_g0, "kind": p.kind,
             "n_samples": p.n_samples, "x_start": p.x_start, "x_end": p.x_end,
             "level_measured_g0": meas[k] if meas else p.level_g0,
             "baseline_g0": base[k] if base else 0.0}
            for k, p in enumerate(pl.plateaus)
        ],
        "series_resistance": pl.params.get("series_resistance"),
        "jumps": [j.as_dict() for j in pl.jumps],
        "jump_report": pl.report(x_unit),
        "noise_g0": pl.noise_g0,
        "noise_model": pl.params.get("noise_model"),
        "masks": {**an.masks.as_dict(), "spikes": pl.params.get("spikes", 0)},
        "histogram_peaks": [p.as_dict() for p in mix.peaks],
        "histogram": {"bin_width_g0": hist.bin_width,
                      "samples": hist.total, "mode": mix.mode,
                      "series_resistance_ohm": mix.series_resistance_ohm,
                      "fit": mix.message,
                      "warning": mix.params.get("warning"),
                      "bic_penalty": mix.params.get("bic_penalty"),
                      "peaks_dropped": mix.params.get("peaks_dropped")},
    }


def _pulses_section(an: RunAnalysis) -> dict[str, Any] | None:
    """``pulses``: per-pulse levels, I_i/I_1 and the time-lag figures of a pulse run."""
    p = an.pulses
    if p is None:
        return None
    return {
        "source": p.window.get("source"),
        "window": p.window,
        "pulse_index": p.pulse_index.tolist(),
        "current_A": p.current_A.tolist(),
        "voltage_V": p.voltage_V.tolist(),
        "g_g0": p.g_g0.tolist(),
        "i_over_i1": p.i_over_i1.tolist(),
        "below_unity_fraction": below_unity_fraction(p.current_A),
        "clearly_above_unity_fraction": clearly_above_unity_fraction(p.current_A),
        "variability": variability_per_level(p.current_A, np.abs(p.g_g0), min_length=3),
    }


def _nonlinearity_section(an: RunAnalysis) -> dict[str, Any] | None:
    """``nonlinearity``: the potentiation (else depression) fit, then both fits."""
    nl = an.nonlinearity
    if not nl:
        return None
    first = nl.get("potentiation") or next(iter(nl.values()))
    return {
        "A": first.A, "B": first.B, "g_min": first.g_min, "g_max": first.g_max,
        "p_max": first.p_max, "label": first.label, "direction": first.direction,
        **{k: v.as_dict() for k, v in nl.items()},
    }


def _switching_section(an: RunAnalysis) -> dict[str, Any] | None:
    """``switching``: per-cycle switching results, their medians and the compliance."""
    sw = an.switching
    if sw is None:
        return None
    d = sw.as_dict()
    d["median"] = {k: _nanmedian(getattr(sw, k)) for k in
                   ("v_set_jump", "v_reset_jump", "v_set_didv", "v_reset_didv")}
    d["median"]["on_off"] = _nanmedian(sw.on_off)
    d["median"]["top_g0"] = _nanmedian(sw.top_g0)
    for name in ("compliance_set", "compliance"):
        if name in an.run.parameters:
            d["compliance_A"] = an.run.param(name)
            break
    cc = an.compliance_per_cycle
    per = [cc.get(int(c), float("nan")) for c in sw.cycle]
    d["compliance_per_cycle_A"] = per
    if len({x for x in per if np.isfinite(x)}) >= 2:
        d["top_level_vs_compliance"] = top_level_vs_compliance(per, sw.top_g0)
    return d


def _write_verify_section(an: RunAnalysis) -> dict[str, Any] | None:
    """``write_verify``: target, final read and pulse count of a write-verify run."""
    if an.kind is not RunKind.WRITE_VERIFY or an.read_levels is None:
        return None
    return an.write_verify_summary()


def _as_dict(result: Any) -> dict[str, Any] | None:
    return None if result is None else result.as_dict()


#: the summary's sections in key order: (key, its value for a run or None if it does not
#: apply). Each result decides from the run's kind and data whether it applies.
SECTIONS: tuple[tuple[str, Callable[[RunAnalysis], dict[str, Any] | None]], ...] = (
    ("pulses", _pulses_section),
    ("nonlinearity", _nonlinearity_section),
    ("switching", _switching_section),
    ("retention", lambda an: _as_dict(an.retention)),
    ("endurance", lambda an: _as_dict(an.endurance)),
    ("rtn", lambda an: _as_dict(an.rtn)),
    ("write_verify", _write_verify_section),
)


def _ladder_fit(levels: NDArray, tol: float) -> tuple[int, float]:
    """Plateaus within ``tol`` of n/2 and their rms distance to it."""
    r = levels - np.round(2 * levels) / 2
    on = np.abs(r) <= tol
    return int(on.sum()), float(np.sqrt(np.mean(r[on] ** 2))) if on.any() else np.inf


def _nanmedian(a: NDArray) -> float | None:
    a = np.asarray(a, float)
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else None


def jsonable(obj: Any) -> Any:
    """Recursively turn numpy scalars/arrays into Python and NaN/inf into None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def summarize(run: RunData, options: AnalysisOptions | None = None) -> dict[str, Any]:
    """Shortcut: ``RunAnalysis(run, options).summary()``."""
    return RunAnalysis(run, options).summary()
