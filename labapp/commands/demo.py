"""``labapp demo``: the main job on the embedded default instrument (the simulator)."""

from __future__ import annotations

import argparse
from pathlib import Path

from labapp.instrument_choice import connect
from labcore.runfile import read_run
from protocols import DCSweep, RunEngine


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run a DC sweep on the simulated 4200A and plot it",
                       description="Run a DC double sweep (0 -> 3 V -> 0 -> -3 V -> 0, "
                       "5 mA SET compliance) on the simulated 4200A, write DIR/demo.h5 and "
                       "its figures, and print where they are.")
    p.add_argument("-o", "--output", type=Path, default=Path("runs"), help="output directory")
    p.add_argument("--seed", type=int, default=1, help="simulator seed")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from analysis.figures import save_figures  # matplotlib only when the demo runs

    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    path = out / "demo.h5"
    instrument = connect(sim=True, seed=args.seed)
    protocol = DCSweep(v_set=3.0, v_reset=3.0, step=0.005, compliance_set=5e-3,
                       compliance_reset=0.02, cycles=1)
    result = RunEngine(instrument, metadata={"device_id": "sim-qc-1", "sample": "simulated",
                                             "operator": "demo"}).run(protocol, path)
    print(f"run file: {result.path} (run {result.run_id}, status {result.status}, "
          f"{result.rows.get('samples', 0)} points)")
    for fig in save_figures(read_run(path, result.run_id), ["iv", "gv"], out / "figures"):
        print(f"figure:   {fig}")
    return 0 if result.status == "completed" else 1
