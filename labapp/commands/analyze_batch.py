"""``labapp analyze-batch 'DIR/**/*.h5' -o report/``: many runs, one aggregate report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labapp.commands.analyze import add_analysis_options, options_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze-batch", help="analyse many run files in parallel, aggregate report",
        description="Analyse every run of every file matching the pattern(s) ('**' is "
        "recursive; quote the pattern) on a local process pool, or on a Dask cluster with "
        "--scheduler. Writes summary.json, runs.csv, histogram.csv and figures into the "
        "output directory. Files that cannot be read are listed, the batch goes on. "
        "Results are cached by file content, run id, analysis options and labapp "
        "version: a re-run analyses only the files that changed.")
    p.add_argument("patterns", nargs="+", help="run files, CSV files or glob patterns")
    p.add_argument("-o", "--output", type=Path, required=True, help="report directory")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: CPU count; 1 = in-process)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on this Dask scheduler (dask.distributed, "
                   "pip install 'labapp[cluster]') instead")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache", type=Path, default=None, metavar="FILE",
                       help="result cache (SQLite; default: OUTPUT/cache.sqlite); share one "
                       "between reports of the same files")
    cache.add_argument("--no-cache", action="store_true",
                       help="analyse every file, read and write no cache")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    add_analysis_options(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    # deferred: the analysis stack (scipy's fits, dask when asked for) loads when a batch
    # runs, not for every other command (start-up time)
    from analysis.batch import analyze_batch, write_report

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    cache = None if args.no_cache else (args.cache or args.output / "cache.sqlite")
    report = analyze_batch(args.patterns, options=options_from_args(args),
                           workers=args.workers, scheduler=args.scheduler, cache=cache)
    try:
        files = write_report(report, args.output, figures=not args.no_figures)
        for f in report.failures:
            print(f"skipped {f['file']}: {f['error']}", file=sys.stderr)
        cached = (f", {report.extra['cached_files']} files from the cache"
                  if cache is not None else "")
        print(f"{len(report.runs)} runs from {report.files} files in {report.seconds:.2f} s "
              f"({report.runs_per_second:.1f} runs/s, {report.workers}{cached}); "
              f"{len(report.failures)} failed")
        n_sim = report.simulated_runs
        if n_sim:
            print(f"{n_sim} of {len(report.runs)} runs are SIMULATED (column 'simulated' in "
                  "runs.csv)")
        for path in files:
            print(path)
        return 0 if report.runs else 1
    finally:
        report.close()
