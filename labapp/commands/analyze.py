"""``labapp analyze FILE``: figures from a run file."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.figures import FIGURES, save_figures
from analysis.runfile import read_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="figures and summaries of a run file",
                       description="Render analysis figures of one run.")
    p.add_argument("file", type=Path, help="run file (.h5)")
    p.add_argument("--run", default=None, metavar="ID", help="run id (default: the last run)")
    p.add_argument("--figure", action="append", choices=[*FIGURES, "all"], default=[],
                   help="figure to render (repeatable)")
    p.add_argument("-o", "--output", type=Path, default=Path("."), help="output directory")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    run = read_run(args.file, args.run)
    names = list(FIGURES) if (not args.figure or "all" in args.figure) else args.figure
    for path in save_figures(run, names, args.output):
        print(path)
    return 0
