"""``labapp analyze FILE``: figures and a JSON summary of each run (run file or CSV).

A file with several runs is analysed run by run (``--run ID`` picks one); each run gets
only the figures its protocol is drawn as (:data:`analysis.options.PROTOCOL_FIGURES`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.inputs import CSV_SUFFIXES, load_run
from analysis.options import FIGURE_NAMES, PROTOCOL_FIGURES, AnalysisOptions, figure_supported
from analysis.pulses import TopPortion
from labcore.runfile import list_runs
from labcore.validate import check_on_open


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """Analysis knobs shared by ``analyze`` and ``analyze-batch`` (see docs/analysis.md)."""
    d = AnalysisOptions()
    g = p.add_argument_group("analysis options")
    g.add_argument("--v-min", type=float, default=d.v_min, metavar="V",
                   help=f"mask |V| below this when forming G = I/V (default {d.v_min} V)")
    g.add_argument("--series-r", type=_series_r, default="auto", metavar="OHM|auto",
                   help="series resistance to remove: G = 1/(1/G_meas - R_s); 'auto' "
                   "(default) estimates it from the plateau levels and applies it only "
                   "when identifiable (a warning otherwise); 0 turns the correction off")
    # flag, type, default, metavar, what it sets, the default's unit in the help
    for flag, kind, default, metavar, what, unit in (
        ("--bin-width", float, d.bin_width_g0, "G0", "trace-histogram bin width", " G0"),
        ("--g-max", float, d.g_range_max, "G0",
         "upper end of the histogram and labelling range", " G0"),
        ("--min-length", int, d.min_length, "N", "minimum plateau length in samples", ""),
        ("--merge", float, d.merge_g0, "G0",
         "G in G0 only: also merge plateaus with the same n/2 closer than this G0; "
         "None = merge by the trace's own noise only", ""),
        ("--label-tol", float, d.label_tol_g0, "G0", "max |level - n/2| for a quantized label",
         ""),
    ):
        g.add_argument(flag, type=kind, default=default, metavar=metavar,
                       help=f"{what} (default {default}{unit})")
    g.add_argument("--mixture", choices=("free", "tied"), default=d.mixture_mode,
                   help="histogram peak centres free, or tied through one series resistance")
    t = d.portion
    for flag, default, what in (
        ("--top-flat", t.flat_fraction, "pulse flat top: |V| >= F * max|V|"),
        ("--top-skip", t.skip_fraction, "fraction of the flat top skipped at its start"),
        ("--top-tail", t.tail_fraction, "fraction of the flat top dropped at its end"),
    ):
        g.add_argument(flag, type=float, default=default, metavar="F",
                       help=f"{what} (default {default})")


def _series_r(text: str) -> float | str:
    """``--series-r`` value: 'auto' or a resistance in ohm."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a resistance in ohm or 'auto', got {text!r}") from None


def options_from_args(args: argparse.Namespace) -> AnalysisOptions:
    """AnalysisOptions from parsed arguments (validated: bad values raise ValueError)."""
    if args.min_length < 2:
        raise ValueError(f"--min-length must be >= 2 samples, got {args.min_length}")
    auto = args.series_r in (None, "auto")
    series_r = None if auto else args.series_r
    if series_r is not None and not series_r >= 0:
        raise ValueError(f"--series-r must be >= 0 ohm, got {series_r}")
    return AnalysisOptions(
        v_min=args.v_min, series_resistance_ohm=series_r, series_auto=auto,
        bin_width_g0=args.bin_width,
        g_range_max=args.g_max, min_length=args.min_length, merge_g0=args.merge,
        label_tol_g0=args.label_tol, mixture_mode=args.mixture,
        portion=TopPortion(args.top_flat, args.top_skip, args.top_tail),
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help="figures and a JSON summary of each run (run file or CSV)",
        description="Analyse one run: plateaus with n/2 labels, conductance histogram with "
        "Gaussian-mixture peaks, per-pulse levels and I_i/I_1, time-lag statistics, "
        "nonlinearity fit, switching voltages, retention, RTN. Renders figures (-o DIR) "
        "and/or prints a machine-readable summary (--json). Every run of the file is "
        "analysed (--json prints a list when there are several) unless --run picks one; "
        "a run gets only the figures its protocol is drawn as.")
    p.add_argument("file", type=Path, help="run file (.h5) or CSV export")
    runs = p.add_mutually_exclusive_group()
    runs.add_argument("--run", default=None, metavar="ID",
                      help="only this run (default: every run of the file)")
    runs.add_argument("--all-runs", action="store_true",
                      help="every run of the file, --json a list even for one run "
                      "(the default, apart from the list)")
    p.add_argument("--figure", action="append", choices=[*FIGURE_NAMES, "all"], default=[],
                   help="figure to render (repeatable; 'all' = every figure the run has "
                   "data for)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output directory for figures (default: current directory)")
    p.add_argument("--dpi", type=int, default=300, help="figure resolution (default 300)")
    p.add_argument("--json", action="store_true",
                   help="print the JSON summary to stdout (keys in docs/analysis.md)")
    p.add_argument("--report", action="store_true",
                   help="print the paper-style jump/plateau sentences")
    add_analysis_options(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    # deferred: scipy's fits and matplotlib load here, not when the parser is built (start-up
    # time of ``labapp --help`` and of every other command)
    from analysis.summary import RunAnalysis

    options = options_from_args(args)  # bad options fail before the file is read
    if not 30 <= args.dpi <= 1200:
        raise ValueError(f"--dpi must be within 30..1200, got {args.dpi}")
    ids = [args.run] if args.run is not None else run_ids(args.file)
    check_file(args.file, ids)
    several = args.all_runs or len(ids) > 1
    if len(ids) > 1 and not args.json:
        print(f"{args.file}: {len(ids)} runs, each analysed (--run ID for one)",
              file=sys.stderr)
    summaries = [analyze_one(RunAnalysis(load_run(args.file, rid), options), args, several)
                 for rid in ids]
    if args.json:
        json.dump(summaries if several else summaries[0], sys.stdout, indent=1)
        sys.stdout.write("\n")
    return 0


def check_file(path: Path, ids: list[str | None]) -> None:
    """The checks of ``labapp validate`` on the runs to analyse: an error stops here (one
    line naming it), warnings go to stderr. CSV files have no schema to check."""
    if path.suffix.lower() in CSV_SUFFIXES:
        return
    for p in check_on_open(path, [i for i in ids if i is not None] or None):
        print(f"labapp analyze: {path}: {p}", file=sys.stderr)


def run_ids(path: Path) -> list[str | None]:
    """Every run id of a run file (a CSV holds one run)."""
    if path.suffix.lower() in CSV_SUFFIXES:
        return [None]
    return [r.run_id for r in list_runs(path)]


def analyze_one(an, args: argparse.Namespace, several: bool = False) -> dict | None:
    """Figures and report lines of one run (a RunAnalysis); its summary with --json."""
    info = sys.stderr if args.json else sys.stdout
    # figures when asked for, and when nothing else is
    if args.figure or args.output is not None or not (args.json or args.report):
        # deferred: matplotlib loads only when figures are drawn (start-up time)
        from analysis.figures import save_figures

        out = args.output if args.output is not None else Path(".")
        for path in save_figures(an, figure_names(an, args.figure), out, dpi=args.dpi):
            print(path, file=info)
    if args.report:
        if several:
            print(f"# {an.run.run_id} ({an.protocol})", file=info)
        for line in an.plateaus.report(an.level_trace[2]):
            print(line, file=info)
    return an.summary() if args.json else None


def figure_names(an, requested: list[str]) -> list[str]:
    """The figures to draw of one run: those asked for (every applicable one for none or
    'all'), less those its protocol is not drawn as (said on stderr)."""
    # deferred: matplotlib loads only when figures are drawn (start-up time)
    from analysis.figures import applicable_figures

    names = (applicable_figures(an) if (not requested or "all" in requested)
             else list(dict.fromkeys(requested)))
    skipped = [n for n in names if not figure_supported(an.protocol, n)]
    if skipped:
        print(f"run {an.run.run_id} ({an.protocol}): no {', '.join(skipped)} figure for "
              f"this protocol (it has: {', '.join(PROTOCOL_FIGURES[an.protocol])})",
              file=sys.stderr)
    return [n for n in names if n not in skipped]
