"""Run-file streaming throughput: labapp's HDF5 RunWriter vs pymeasure's Results CSV writer.

Both write the same rows (``time_s, voltage_V, current_A, conductance_G0``) as they arrive
from the instrument: the RunWriter gets blocks of ``--block`` rows (one SMU list test is
at most 4096 points) and flushes at least once a second (its crash-safety bound, SWMR
on); pymeasure gets one row at a time the way its Recorder writes them (the Results
CSV formatter, one line per emitted row, file kept open). A "sample" is one row (one
measured point). Prints samples/s for both and the ratio.

Run: ``.venv/bin/python benchmarks/bench_storage.py [--rows N] [--pm-rows M]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labcore.constants import G0  # noqa: E402
from labcore.runfile import RunWriter, read_run  # noqa: E402

COLUMNS = ("time_s", "voltage_V", "current_A", "conductance_G0")


def make_data(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 1e-3
    v = 0.1 + 1e-4 * rng.standard_normal(n)
    i = v * G0 * (5.0 + 0.1 * rng.standard_normal(n))
    return {"time_s": t, "voltage_V": v, "current_A": i, "conductance_G0": i / v / G0}


def bench_hdf5(path: Path, data: dict[str, np.ndarray], block: int) -> tuple[float, int]:
    """Seconds to stream all rows (including the final close) and the number of flushes."""
    n = data["time_s"].size
    t0 = time.perf_counter()
    w = RunWriter(path, "bench", {}, {"samples": {c: "f8" for c in COLUMNS}},
                  flush_interval=1.0)
    for start in range(0, n, block):
        w.append("samples", {c: a[start:start + block] for c, a in data.items()})
    flushes = w.flush_count
    w.close()
    return time.perf_counter() - t0, flushes


def bench_pymeasure(path: Path, data: dict[str, np.ndarray]) -> float:
    """Seconds for pymeasure's Results to format and write all rows, one line per row."""
    from pymeasure.experiment import Procedure, Results

    class Bench(Procedure):
        DATA_COLUMNS = list(COLUMNS)

    results = Results(Bench(), str(path))
    rows = np.column_stack([data[c] for c in COLUMNS]).tolist()
    t0 = time.perf_counter()
    with open(path, "a", encoding=Results.ENCODING) as fh:
        for r in rows:
            fh.write(results.format(dict(zip(COLUMNS, r, strict=True))) + Results.LINE_BREAK)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000, help="rows for the HDF5 writer")
    ap.add_argument("--pm-rows", type=int, default=200_000, help="rows for pymeasure")
    ap.add_argument("--block", type=int, default=4096, help="rows per append (one list test)")
    ap.add_argument("--dir", default=None, help="where to write (default: the temp dir)")
    args = ap.parse_args([] if argv is None else argv)
    data = make_data(args.rows)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        h5 = Path(tmp) / "bench.h5"
        secs, flushes = bench_hdf5(h5, data, args.block)
        back = read_run(h5).samples
        assert back["time_s"].size == args.rows and np.array_equal(back["current_A"],
                                                                   data["current_A"])
        size = h5.stat().st_size
        h5.unlink()
        pm_data = {c: a[: args.pm_rows] for c, a in data.items()}
        pm_secs = bench_pymeasure(Path(tmp) / "bench.csv", pm_data)
    rate = args.rows / secs
    pm_rate = args.pm_rows / pm_secs
    print(f"HDF5 RunWriter : {args.rows:>11,d} samples in {secs:7.3f} s = "
          f"{rate / 1e6:8.2f} M samples/s  ({len(COLUMNS)} columns, blocks of {args.block}, "
          f"flushed every <= 1 s: {flushes} flushes + close, {size / 1e6:.0f} MB, "
          "read back and verified)")
    print(f"pymeasure CSV  : {args.pm_rows:>11,d} samples in {pm_secs:7.3f} s = "
          f"{pm_rate / 1e6:8.2f} M samples/s  (Results formatter, one line per row)")
    print(f"ratio HDF5 / pymeasure = {rate / pm_rate:,.0f}x   "
          f"(targets: >= 5 M samples/s, >= 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
