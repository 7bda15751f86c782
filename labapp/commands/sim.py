"""``labapp sim calibrate``: the simulated device against paper 000's targets."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="simulated-device tools (calibration report)",
                       description="Tools for the simulated QC device.")
    simsub = p.add_subparsers(dest="sim_command", metavar="SIMCOMMAND", required=True)
    c = simsub.add_parser(
        "calibrate", help="calibration report: every paper-000 row through the simulator",
        description="Run every calibration row of paper 000 as a protocol through the driver "
        "and the simulated 4200A on an ensemble of seeded devices; write DIR/calibration.md "
        "(target vs measured), DIR/calibration.csv and one figure per row beside its target.")
    c.add_argument("-o", "--output", type=Path, required=True, help="report directory")
    c.add_argument("--seed", type=int, default=0, help="first device seed (default 0)")
    c.add_argument("--devices", type=int, default=4, help="ensemble size (default 4)")
    c.add_argument("--row", action="append", default=None, metavar="ROW",
                   help="run only this row (repeatable; default all)")
    c.set_defaults(func=calibrate)


def calibrate(args: argparse.Namespace) -> int:
    from labapp.calibration import ROWS, run_calibration

    rows = tuple(args.row) if args.row else ROWS
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise ValueError(f"--row {unknown[0]!r} unknown; rows: {', '.join(ROWS)}")
    print(run_calibration(args.output, args.seed, args.devices, rows))
    return 0
