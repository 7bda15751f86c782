"""Batch analysis of many run files: per-run summaries and aggregate histograms.

Work is split per file: a worker loads every run of one file, analyses it with
:class:`analysis.summary.RunAnalysis` and returns a compact summary plus the run's
trace-histogram counts (fixed bins, so aggregation is a bin-wise sum and no samples
travel back). Workers run

* in-process when ``workers == 1`` (no pool start-up cost, easiest to debug),
* on a local ``ProcessPoolExecutor`` by default (``workers`` processes, default: CPUs),
* on a Dask cluster when given a ``dask.distributed.Client`` or a scheduler address
  (``tcp://host:port``); the same worker function runs there unchanged.

A file that cannot be analysed does not stop the batch: it is listed with its one-line
error in the report.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.histograms import Histogram, fit_mixture, state_histogram
from analysis.summary import AnalysisOptions, RunAnalysis, jsonable

COMPACT_DROP = ("plateaus", "jumps", "jump_report", "options")


def expand_inputs(patterns: str | Sequence[str]) -> list[str]:
    """Files matching glob patterns (``**`` recursive), sorted, duplicates removed."""
    if isinstance(patterns, str | os.PathLike):
        patterns = [str(patterns)]
    out: set[str] = set()
    for pat in patterns:
        hits = glob.glob(str(pat), recursive=True)
        if not hits and Path(pat).is_file():
            hits = [str(pat)]
        out.update(h for h in hits if Path(h).is_file())
    return sorted(out)


def compact(summary: dict[str, Any]) -> dict[str, Any]:
    """A run summary without per-sample/per-pulse lists (what a report table needs)."""
    out = {k: v for k, v in summary.items() if k not in COMPACT_DROP}
    pl = summary.get("plateaus", [])
    out["n_plateaus"] = len(pl)
    out["n_quantized_plateaus"] = sum(1 for p in pl if p.get("on_half_integer"))
    if "pulses" in summary:
        p = summary["pulses"]
        cur = [c for c in p.get("current_A", []) if c is not None]
        out["pulses"] = {
            "n_pulses": len(p.get("current_A", [])),
            "below_unity_fraction": p.get("below_unity_fraction"),
            "first_current_A": cur[0] if cur else None,
            "last_current_A": cur[-1] if cur else None,
            "variability": p.get("variability"),
            "source": p.get("source"),
        }
    return out


def analyze_file(path: str, options: AnalysisOptions | None = None) -> list[dict[str, Any]]:
    """Worker: analyse every run of one file (a CSV is one run).

    Returns one record per run: ``{"summary": compact summary, "counts": trace histogram
    counts, "state_levels": plateau levels}`` or ``{"file", "run_id", "error"}``.
    """
    from analysis.inputs import CSV_SUFFIXES, load_run
    from analysis.runfile import RunFileError, list_runs

    options = options or AnalysisOptions()
    try:
        if Path(path).suffix.lower() in CSV_SUFFIXES:
            run_ids: list[str | None] = [None]
        else:
            run_ids = [r.run_id for r in list_runs(path)]
            if not run_ids:
                raise RunFileError(f"{path}: file holds no runs")
    except Exception as exc:  # noqa: BLE001 - reported per file, the batch goes on
        return [{"file": str(path), "run_id": None, "error": _one_line(exc)}]
    records = []
    for rid in run_ids:
        try:
            an = RunAnalysis(load_run(path, rid), options)
            summary = an.summary()
            records.append({
                "summary": compact(summary),
                "counts": an.histogram.counts,
                "edges": an.histogram.edges,
                "state_levels": an.plateaus.levels(),
            })
        except Exception as exc:  # noqa: BLE001
            records.append({"file": str(path), "run_id": rid, "error": _one_line(exc)})
    return records


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass
class BatchReport:
    """Aggregate of a batch: per-run summaries, aggregate histograms, failures, timing."""

    runs: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    histogram: Histogram | None
    state_levels: np.ndarray
    files: int
    seconds: float
    workers: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def runs_per_second(self) -> float:
        """Throughput of the batch (runs analysed per wall-clock second)."""
        return len(self.runs) / self.seconds if self.seconds > 0 else float("inf")

    def aggregate(self) -> dict[str, Any]:
        """Aggregate numbers: peaks of the summed histograms, switching and compliance."""
        out: dict[str, Any] = {"files": self.files, "runs": len(self.runs),
                               "failures": len(self.failures), "seconds": self.seconds,
                               "runs_per_second": self.runs_per_second,
                               "workers": self.workers,
                               # simulated and measured runs must not be mixed unnoticed
                               "simulated_runs": sum(1 for r in self.runs
                                                     if r.get("simulated")),
                               "measured_runs": sum(1 for r in self.runs
                                                    if r.get("simulated") is False)}
        if self.histogram is not None and self.histogram.total:
            fit = fit_mixture(self.histogram)
            out["histogram_peaks"] = [p.as_dict() for p in fit.peaks]
            out["histogram_samples"] = self.histogram.total
        if self.state_levels.size:
            sh = state_histogram(self.state_levels)
            out["state_histogram_peaks"] = [p.as_dict() for p in fit_mixture(sh).peaks]
            out["plateaus"] = int(self.state_levels.size)
        vs, vr, cc, top = [], [], [], []
        for r in self.runs:
            sw = r.get("switching")
            if not sw:
                continue
            vs += [v for v in sw.get("v_set_jump_V", []) if v is not None]
            vr += [v for v in sw.get("v_reset_jump_V", []) if v is not None]
            if sw.get("compliance_A") is not None and sw["median"].get("top_g0") is not None:
                cc.append(sw["compliance_A"])
                top.append(sw["median"]["top_g0"])
        if vs or vr:
            out["v_set_jump_V"] = vs
            out["v_reset_jump_V"] = vr
        if cc:
            from analysis.switching import top_level_vs_compliance

            out["top_level_vs_compliance"] = top_level_vs_compliance(cc, top)
        return jsonable(out)


def _records(paths: list[str], options: AnalysisOptions, workers: int | None,
             client: Any) -> tuple[list[dict], str]:
    if client is not None:
        futures = client.map(analyze_file, paths, options=options, pure=False)
        return [r for recs in client.gather(futures) for r in recs], "dask"
    n = workers or os.cpu_count() or 1
    if n == 1 or len(paths) <= 1:
        return [r for p in paths for r in analyze_file(p, options)], "in-process"
    chunk = max(1, len(paths) // (4 * n))
    with ProcessPoolExecutor(max_workers=n) as pool:
        res = list(pool.map(analyze_file, paths, [options] * len(paths), chunksize=chunk))
    return [r for recs in res for r in recs], f"process pool ({n})"


def analyze_batch(
    inputs: str | Iterable[str],
    *,
    options: AnalysisOptions | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
) -> BatchReport:
    """Analyse every run of every matching file and aggregate.

    Parameters
    ----------
    inputs : glob pattern(s) (``'DIR/**/*.h5'``) or file paths.
    options : analysis options for every run.
    workers : local processes (default: CPU count; 1 = in-process).
    scheduler : Dask scheduler address ``tcp://host:port`` (uses dask.distributed).
    client : an existing ``dask.distributed.Client`` (overrides ``scheduler``).
    """
    paths = expand_inputs(list(inputs) if not isinstance(inputs, str) else inputs)
    if not paths:
        raise ValueError(f"no files match {inputs!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    options = options or AnalysisOptions()
    t0 = time.perf_counter()
    own_client = None
    if client is None and scheduler:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
            raise ValueError(f"scheduler must be an address like tcp://HOST:PORT, "
                             f"got {scheduler!r}")
        from dask.distributed import Client

        own_client = client = Client(scheduler, timeout="10s")
    try:
        records, how = _records(paths, options, workers, client)
    finally:
        if own_client is not None:
            own_client.close()
    runs, failures, hist, levels = [], [], None, []
    for rec in records:
        if "error" in rec:
            failures.append(rec)
            continue
        runs.append(rec["summary"])
        h = Histogram(np.asarray(rec["edges"]), np.asarray(rec["counts"], np.int64))
        hist = h if hist is None else hist + h
        levels.append(np.asarray(rec["state_levels"], float))
    return BatchReport(runs, failures, hist,
                       np.concatenate(levels) if levels else np.zeros(0), len(paths),
                       time.perf_counter() - t0, how)


RUN_COLUMNS = ("file", "run_id", "protocol", "status", "simulated", "seed", "n_samples",
               "n_plateaus", "n_quantized_plateaus", "first_peak_g0", "n_peaks",
               "below_unity_fraction", "nl_A", "median_v_set_V", "median_v_reset_V",
               "median_top_g0", "compliance_A")


def _row(r: dict[str, Any]) -> dict[str, Any]:
    peaks = r.get("histogram_peaks") or []
    sw = r.get("switching") or {}
    med = sw.get("median") or {}
    return {
        "file": r.get("file"), "run_id": r.get("run_id"), "protocol": r.get("protocol"),
        "status": r.get("status"), "simulated": r.get("simulated"),
        "seed": r.get("seed"), "n_samples": r.get("n_samples"),
        "n_plateaus": r.get("n_plateaus"), "n_quantized_plateaus": r.get("n_quantized_plateaus"),
        "first_peak_g0": peaks[0]["center_g0"] if peaks else None, "n_peaks": len(peaks),
        "below_unity_fraction": (r.get("pulses") or {}).get("below_unity_fraction"),
        "nl_A": (r.get("nonlinearity") or {}).get("A"),
        "median_v_set_V": med.get("v_set_jump"), "median_v_reset_V": med.get("v_reset_jump"),
        "median_top_g0": med.get("top_g0"), "compliance_A": sw.get("compliance_A"),
    }


def write_report(report: BatchReport, out_dir: str | Path, *, figures: bool = True
                 ) -> list[Path]:
    """Write ``summary.json``, ``runs.csv``, ``histogram.csv`` and figures into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    agg = report.aggregate()
    p = out / "summary.json"
    p.write_text(json.dumps({"aggregate": agg, "runs": report.runs,
                             "failures": report.failures}, indent=1))
    written.append(p)
    p = out / "runs.csv"
    with p.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=RUN_COLUMNS)
        w.writeheader()
        for r in report.runs:
            w.writerow(_row(r))
    written.append(p)
    if report.histogram is not None:
        p = out / "histogram.csv"
        h = report.histogram
        np.savetxt(p, np.column_stack((h.edges[:-1], h.edges[1:], h.counts)), delimiter=",",
                   header="bin_low_G0,bin_high_G0,counts", comments="", fmt=["%.6g", "%.6g",
                                                                            "%d"])
        written.append(p)
    if figures:
        from analysis.figures_batch import batch_figures

        written += batch_figures(report, agg, out)
    return written
