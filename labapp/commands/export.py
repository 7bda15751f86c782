"""``labapp export FILE.h5 [--run ID] --csv DIR``: one plain CSV per run and stream.

Written by :func:`labcore.csv_io.export_csv` (the GUI's export uses the same writer):
``DIR/<run_id>_<stream>.csv`` per stream and ``DIR/<run_id>.json`` with the run's
metadata, for Excel, Origin or ``pandas.read_csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from labcore.csv_io import export_csv


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export runs of a run file as CSV (+ JSON metadata)",
                       description="Write one RFC 4180 CSV per run and stream, "
                       "DIR/<run_id>_<stream>.csv (one header line of SI-suffixed names such "
                       "as time_s, voltage_V, current_A, conductance_G0, cycle, segment, "
                       "pulse_index; then numbers only), plus DIR/<run_id>.json with the "
                       "parameters (with units), simulated, seed, instrument, device, "
                       "operator, notes and status. 'labapp import-csv DIR/<run_id>.json' "
                       "reads a run back. An OUT ending in .csv (one run) receives its "
                       "samples stream, with OUT.json beside it.")
    p.add_argument("file", type=Path, help="run file (.h5)")
    p.add_argument("--run", dest="run_id", help="only this run (default: every run)")
    p.add_argument("--csv", dest="out", type=Path, required=True, metavar="DIR",
                   help="output directory (or a .csv file for one run's samples)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    for path in export_csv(args.file, args.out, args.run_id):
        print(path)
    return 0
