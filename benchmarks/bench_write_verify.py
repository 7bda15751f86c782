"""Write-verify success rate on the simulated device: targets 2.5, 5.5, 10 G0, seeded.

Runs the ``write-verify`` protocol with its defaults (5 % relative tolerance) on the
in-process simulator for ``--seeds`` device seeds per target and prints, per target, how
many converged within tolerance and the pulses they needed. The rate depends on the
device model behind ``sim_backend.device.default_device``.

Run: ``.venv/bin/python benchmarks/bench_write_verify.py [--seeds N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labapp.instrument_choice import connect  # noqa: E402
from protocols import RunEngine, WriteVerify  # noqa: E402

TARGETS = (2.5, 5.5, 10.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="device seeds per target")
    args = ap.parse_args([] if argv is None else argv)
    total_ok = 0
    with tempfile.TemporaryDirectory() as tmp:
        for target in TARGETS:
            t0 = time.perf_counter()
            pulses, reasons = [], []
            for seed in range(args.seeds):
                k = connect(sim=True, seed=seed)
                r = RunEngine(k).run(WriteVerify(target_g0=target), Path(tmp) / f"{seed}.h5")
                if r.outcome.get("converged"):
                    pulses.append(r.outcome["pulses"])
                else:
                    reasons.append(r.outcome.get("reason", r.reason))
            ok = len(pulses)
            total_ok += ok
            med = f"median {np.median(pulses):.0f} pulses" if pulses else "-"
            print(f"target {target:5.1f} G0: {ok}/{args.seeds} within 5 % ({med}, "
                  f"{time.perf_counter() - t0:.1f} s)"
                  + (f"; failures: {sorted(set(reasons))}" if reasons else ""))
    n = len(TARGETS) * args.seeds
    print(f"overall: {total_ok}/{n} = {100 * total_ok / n:.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
