"""Batch analysis of many run files: per-run summaries and aggregate histograms.

Work is split per file: a worker loads every run of one file, analyses it with
:class:`analysis.summary.RunAnalysis` and returns a compact summary plus the run's
trace-histogram counts (fixed bins, so aggregation is a bin-wise sum and no samples
travel back). Files go to the workers in chunks (one task per chunk), and workers run

* in-process when ``workers == 1`` (no pool start-up cost, easiest to debug),
* on a local ``ProcessPoolExecutor`` by default (``workers`` processes, default: CPUs),
* on a Dask cluster when given a ``dask.distributed.Client`` or a scheduler address
  (``tcp://host:port``); the same worker function runs there unchanged. Dask is the
  optional extra ``labapp[cluster]`` and is imported only then.

At scale (10^4-10^5 files, years of runs):

* a result cache (:mod:`analysis.batch_cache`) keyed by file content, run id, analysis
  options and code version answers unchanged files without reading them; only the misses
  are sent to the workers;
* results stream into the aggregate (:mod:`analysis.batch_aggregate`) in file order,
  with a bounded number of chunks in flight, so memory does not grow with the number
  of files.

A file that cannot be analysed does not stop the batch: it is listed with its one-line
error in the report (and is not cached, so it is tried again next time).
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.batch_aggregate import StreamingAggregate
from analysis.batch_cache import ResultCache, stat_key
from analysis.histograms import Histogram, fit_mixture
from analysis.inputs import CSV_SUFFIXES, load_run
from analysis.summary import AnalysisOptions, RunAnalysis, jsonable
from analysis.switching import top_level_vs_compliance
from labcore.csv_io import write_csv
from labcore.runfile import RunFileError, list_runs
from labcore.validate import check_on_open

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
    options = options or AnalysisOptions()
    try:
        if Path(path).suffix.lower() in CSV_SUFFIXES:
            run_ids: list[str | None] = [None]
        else:
            check_on_open(path)  # the checks of 'labapp validate'; warnings do not stop
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


class BatchReport:
    """Aggregate of a batch: per-run summaries, aggregate histograms, failures, timing.

    ``runs`` and ``failures`` are sequences read back from spool files (see
    :mod:`analysis.batch_aggregate`), so a report of 10^5 runs fits in the memory of one.
    """

    def __init__(self, agg: StreamingAggregate, files: int, seconds: float, workers: str,
                 extra: dict[str, Any] | None = None) -> None:
        self._agg = agg
        self.files = files
        self.seconds = seconds
        self.workers = workers
        self.extra: dict[str, Any] = extra or {}

    @property
    def runs(self) -> Sequence[dict[str, Any]]:
        """Compact summary of every analysed run, in file order."""
        return self._agg.runs

    @property
    def failures(self) -> Sequence[dict[str, Any]]:
        """``{"file", "run_id", "error"}`` of every file or run that failed."""
        return self._agg.failures

    @property
    def histogram(self) -> Histogram | None:
        """Sum of the runs' trace histograms."""
        return self._agg.histogram

    @property
    def state_hist(self) -> Histogram | None:
        """Sum of the runs' state histograms (one count per plateau)."""
        return self._agg.state_hist

    @property
    def state_levels(self) -> np.ndarray:
        """Every plateau level of every run (read from the spool on each access)."""
        return self._agg.levels.array()

    @property
    def simulated_runs(self) -> int:
        """Runs recorded on the simulated instrument."""
        return self._agg.simulated_runs

    @property
    def measured_runs(self) -> int:
        """Runs recorded on a real instrument (``simulated`` false, not unknown)."""
        return self._agg.measured_runs

    @property
    def runs_per_second(self) -> float:
        """Throughput of the batch (runs analysed per wall-clock second)."""
        return len(self.runs) / self.seconds if self.seconds > 0 else float("inf")

    def close(self) -> None:
        """Remove the spool files (the report's sequences are unusable afterwards)."""
        self._agg.close()

    def aggregate(self) -> dict[str, Any]:
        """Aggregate numbers: peaks of the summed histograms, switching and compliance."""
        out: dict[str, Any] = {"files": self.files, "runs": len(self.runs),
                               "failures": len(self.failures), "seconds": self.seconds,
                               "runs_per_second": self.runs_per_second,
                               "workers": self.workers,
                               # simulated and measured runs must not be mixed unnoticed
                               "simulated_runs": self.simulated_runs,
                               "measured_runs": self.measured_runs, **self.extra}
        if self.histogram is not None and self.histogram.total:
            fit = fit_mixture(self.histogram)
            out["histogram_peaks"] = [p.as_dict() for p in fit.peaks]
            out["histogram_samples"] = self.histogram.total
        if self.state_hist is not None and self.state_hist.total:
            out["state_histogram_peaks"] = [p.as_dict()
                                            for p in fit_mixture(self.state_hist).peaks]
            out["plateaus"] = self.state_hist.total
        vs, vr = self._agg.v_set.array(), self._agg.v_reset.array()
        if vs.size or vr.size:
            out["v_set_jump_V"] = vs.tolist()
            out["v_reset_jump_V"] = vr.tolist()
        if self._agg.compliance.size:
            out["top_level_vs_compliance"] = top_level_vs_compliance(
                self._agg.compliance.array().tolist(), self._agg.top.array().tolist())
        return jsonable(out)


def analyze_files(paths: list[str], options: AnalysisOptions) -> list[list[dict[str, Any]]]:
    """Worker task: :func:`analyze_file` for a chunk of files (one pool or cluster task)."""
    return [analyze_file(p, options) for p in paths]


class _Done:
    """A result computed in-process, with the ``result()`` of a future."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def result(self) -> Any:
        return self._value


@dataclass
class _Chunk:
    paths: list[str]
    cached: dict[str, list[dict[str, Any]]]
    todo: list[tuple[str, str | None, tuple[int, int, int] | None]]
    future: Any


def _stream_records(paths: list[str], submit: Callable[[list[str]], Any],
                    cache: ResultCache | None, chunk: int, window: int
                    ) -> Iterator[dict[str, Any]]:
    """Records of every file in path order, with at most ``window`` chunks in flight.

    Cache hits never leave this process; the misses of a chunk go out as one task.
    Holding only ``window`` chunks keeps memory flat however many files there are,
    while enough tasks stay queued that no worker waits.
    """
    pending: deque[_Chunk] = deque()
    for start in range(0, len(paths), chunk):
        part = paths[start:start + chunk]
        cached: dict[str, list[dict[str, Any]]] = {}
        todo: list[tuple[str, str | None, tuple[int, int, int] | None]] = []
        for p in part:
            if cache is None:
                todo.append((p, None, None))
                continue
            try:
                digest, key = cache.digest(p)
            except OSError as exc:
                cached[p] = [{"file": p, "run_id": None, "error": _one_line(exc)}]
                continue
            recs = cache.get(p, digest)
            if recs is None:
                todo.append((p, digest, key))
            else:
                cached[p] = recs
        future = submit([t[0] for t in todo]) if todo else None
        pending.append(_Chunk(part, cached, todo, future))
        while len(pending) > window:
            yield from _drain(pending.popleft(), cache)
    while pending:
        yield from _drain(pending.popleft(), cache)


def _drain(c: _Chunk, cache: ResultCache | None) -> Iterator[dict[str, Any]]:
    results: dict[str, list[dict[str, Any]]] = {}
    if c.future is not None:
        names = [t[0] for t in c.todo]
        try:
            results = dict(zip(names, c.future.result(), strict=True))
        except Exception as exc:  # noqa: BLE001 - a lost worker fails its files only
            err = f"worker failed: {_one_line(exc)}"
            results = {p: [{"file": p, "run_id": None, "error": err}] for p in names}
    if cache is not None:
        for p, digest, key in c.todo:
            try:
                unchanged = stat_key(os.stat(p)) == key
            except OSError:
                unchanged = False
            if unchanged:  # changed while analysed: the result is not of ``digest``
                cache.put(digest, results[p])
    for p in c.paths:
        yield from c.cached[p] if p in c.cached else results[p]


def _cluster_size(client: Any) -> int:
    try:
        workers = client.scheduler_info().get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
    except Exception:  # noqa: BLE001 - only a sizing hint
        return 4


def analyze_batch(
    inputs: str | Iterable[str],
    *,
    options: AnalysisOptions | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    cache: str | Path | ResultCache | None = None,
) -> BatchReport:
    """Analyse every run of every matching file and aggregate.

    Parameters
    ----------
    inputs : glob pattern(s) (``'DIR/**/*.h5'``) or file paths.
    options : analysis options for every run.
    workers : local processes (default: CPU count; 1 = in-process).
    scheduler : Dask scheduler address ``tcp://host:port`` (needs ``labapp[cluster]``).
    client : an existing ``dask.distributed.Client`` (overrides ``scheduler``).
    cache : result cache (path of its SQLite file, or an open :class:`ResultCache`);
        None analyses everything.
    """
    paths = expand_inputs(list(inputs) if not isinstance(inputs, str) else inputs)
    if not paths:
        raise ValueError(f"no files match {inputs!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    options = options or AnalysisOptions()
    Client = _dask_client_class(scheduler) if client is None and scheduler else None
    own_cache = None
    if cache is not None and not isinstance(cache, ResultCache):
        own_cache = cache = ResultCache(cache, options)
    t0 = time.perf_counter()
    agg = StreamingAggregate()
    with ExitStack() as stack:
        if own_cache is not None:
            stack.callback(own_cache.close)
        if Client is not None:
            client = stack.enter_context(Client(scheduler, timeout="10s"))
        submit, n, how = _submitter(stack, client, workers, len(paths), options)
        chunk = max(1, min(32, len(paths) // (8 * n)))
        try:
            for rec in _stream_records(paths, submit, cache, chunk, window=4 * n):
                agg.add(rec)
        except BaseException:
            agg.close()
            raise
    extra: dict[str, Any] = {}
    if cache is not None:
        extra = {"cache": str(cache.path), "cached_files": cache.hits,
                 "analysed_files": cache.misses}
    return BatchReport(agg, len(paths), time.perf_counter() - t0, how, extra)


def _submitter(stack: ExitStack, client: Any, workers: int | None, n_paths: int,
               options: AnalysisOptions) -> tuple[Callable[[list[str]], Any], int, str]:
    """``(submit, parallel workers, how)``: where chunks of files are analysed (a Dask
    client, a process pool started on first use and closed with ``stack``, or here)."""
    if client is not None:
        def on_cluster(ps: list[str]) -> Any:
            return client.submit(analyze_files, ps, options, pure=False)
        return on_cluster, _cluster_size(client), "dask"
    n = min(workers or os.cpu_count() or 1, n_paths)
    if n == 1:
        def in_process(ps: list[str]) -> Any:
            return _Done(analyze_files(ps, options))
        return in_process, 1, "in-process"
    pools: list[ProcessPoolExecutor] = []

    def on_pool(ps: list[str]) -> Any:
        if not pools:  # started by the first cache miss, not before
            pools.append(stack.enter_context(ProcessPoolExecutor(max_workers=n)))
        return pools[0].submit(analyze_files, ps, options)
    return on_pool, n, f"process pool ({n})"


def _dask_client_class(scheduler: str) -> Any:
    """``dask.distributed.Client`` for a scheduler address, or a one-line error (a
    malformed address, or the extra to install)."""
    if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        raise ValueError(f"scheduler must be an address like tcp://HOST:PORT, "
                         f"got {scheduler!r}")
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise ValueError("--scheduler needs dask.distributed: pip install "
                         "'labapp[cluster]'") from exc
    return Client


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


def _write_lines(fh: Any, items: Sequence[Any]) -> None:
    raw = getattr(items, "raw_lines", None)
    lines = raw() if raw is not None else (json.dumps(x).encode() for x in items)
    for k, line in enumerate(lines):
        fh.write(b"\n" + line if k == 0 else b",\n" + line)


def write_report(report: BatchReport, out_dir: str | Path, *, figures: bool = True
                 ) -> list[Path]:
    """Write ``summary.json``, ``runs.csv``, ``histogram.csv`` and figures into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    agg = report.aggregate()
    p = out / "summary.json"
    with p.open("wb") as fh:  # streamed: one run per line, never the whole list in memory
        fh.write(b'{"aggregate": ' + json.dumps(agg, indent=1).encode() + b',\n"runs": [')
        _write_lines(fh, report.runs)
        fh.write(b'],\n"failures": [')
        _write_lines(fh, report.failures)
        fh.write(b"]}\n")
    written.append(p)
    rows = [_row(r) for r in report.runs]
    written.append(write_csv(out / "runs.csv", {  # as text: True/False, None empty
        c: np.array([r[c] for r in rows], dtype=object) for c in RUN_COLUMNS}))
    if report.histogram is not None:
        h = report.histogram
        written.append(write_csv(out / "histogram.csv", {
            "bin_low_G0": h.edges[:-1], "bin_high_G0": h.edges[1:], "counts": h.counts}))
    if figures:  # matplotlib only when figures are asked for (start-up time)
        from analysis.figures_batch import batch_figures

        written += batch_figures(report, agg, out)
    return written
