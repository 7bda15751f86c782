"""Run every ``benchmarks/bench_*.py`` file's ``main()``: ``python -m benchmarks``.

Optional arguments select benchmarks by substring: ``python -m benchmarks kxci``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(selection: list[str]) -> int:
    sys.path.insert(0, str(HERE.parent))
    failures = 0
    for path in sorted(HERE.glob("bench_*.py")):
        if selection and not any(s in path.stem for s in selection):
            continue
        print(f"== {path.stem}", flush=True)
        spec = importlib.util.spec_from_file_location(f"benchmarks.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        t0 = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            module.main()
        except Exception:  # noqa: BLE001 - report and run the others
            failures += 1
            traceback.print_exc()
        print(f"   ({time.perf_counter() - t0:.1f} s)\n", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
