"""``labapp sim calibrate``: the simulated device against paper 000's calibration table."""

from __future__ import annotations

import argparse
from pathlib import Path

from labapp.calibration import run_calibration
from labapp.calibration_table import load_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="simulated-device tools (calibration report)",
                       description="Tools for the simulated QC device.")
    simsub = p.add_subparsers(dest="sim_command", metavar="SIMCOMMAND", required=True)
    c = simsub.add_parser(
        "calibrate", help="calibration report: paper 000's table on an ensemble of devices",
        description="Run every row of paper 000's calibration table "
        "(labapp/calibration_table.json: presets, metric, band, pass rule) as "
        "protocols through the driver and the simulated 4200A on an ensemble of seeded "
        "devices; write DIR/calibration.md (paper value and reference, band, median, "
        "interquartile range, fraction of devices in band, verdict per row), "
        "DIR/calibration.csv (with every device's value) and one figure per row.")
    c.add_argument("-o", "--output", type=Path, required=True, help="report directory")
    c.add_argument("--seed", type=int, default=0, help="first device seed (default 0)")
    c.add_argument("--devices", type=int, default=8,
                   help="ensemble size (default 8, the pass rule's minimum)")
    c.add_argument("--row", action="append", default=None, metavar="ROW",
                   help="run only this row (repeatable; default all)")
    c.add_argument("--jobs", type=int, default=None,
                   help="worker processes for the devices (default 2)")
    c.set_defaults(func=calibrate)


def calibrate(args: argparse.Namespace) -> int:
    ids = [r.id for r in load_table().rows]
    unknown = [r for r in (args.row or []) if r not in ids]
    if unknown:
        raise ValueError(f"--row {unknown[0]!r} unknown; rows: {', '.join(ids)}")
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    print(run_calibration(args.output, args.seed, args.devices, args.row, args.jobs))
    return 0
