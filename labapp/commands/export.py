"""``labapp export FILE.h5 [--run ID] --csv OUT``: one CSV per run."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.runfile import export_csv


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export runs of a run file as CSV",
                       description="Write one CSV per run with the columns time_s, voltage_V, "
                       "current_A, conductance_G0 and, where present, pulse_index, segment, "
                       "compliance. OUT is a .csv file (one run) or a directory.")
    p.add_argument("file", type=Path, help="run file (.h5)")
    p.add_argument("--run", dest="run_id", help="only this run (default: every run)")
    p.add_argument("--csv", dest="out", type=Path, required=True,
                   help="output .csv file (one run) or directory (<run_id>.csv per run)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    for path in export_csv(args.file, args.out, args.run_id):
        print(path)
    return 0
