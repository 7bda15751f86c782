"""Batch analysis at scale: ``python -m benchmarks batch``.

Writes 10^4 small synthetic run files (two kinds: read-noise and retention, 80-400
samples each) and runs ``labapp analyze-batch`` over them, each pass in a
fresh process so its peak RSS is its own:

1. first pass over 10^3 files and over 10^4 files on the local process pool (empty
   cache): runs/s, and the main process's peak RSS at both sizes (target: flat);
2. cached pass over the same 10^4 files, and a pass after 1 % of them changed
   (target: <= 5 % of the first pass's time);
3. first and cached pass on a dask.distributed LocalCluster with 2 worker processes;
4. whether the local passes imported ``distributed`` (target: no).

Times are wall-clock seconds of the whole command (analysis, cache, report and figures).
Files are made from one writer-produced template per kind, copied and perturbed in place
(every file's bytes differ), which is 10x faster than writing each through the writer.
Options: ``--files N`` (default 10000), ``--small N`` (1000), ``--workers N`` (2),
``--no-cluster``, ``--dir DIR`` (keep and reuse the files).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from tests.support.synthetic import write_synthetic_run  # noqa: E402

#: the two kinds that analyse fastest (~25 ms of CPU each): a benchmark of the batch
#: machinery (cache, streaming, pool, cluster), not of the per-run algorithms
KINDS = (("read-noise", {"n": 400}), ("retention", {}))
PER_DIR = 1000


def perturb(path: Path, rng: np.random.Generator) -> None:
    """Scale every measured column and waveform by 1 + 1e-3 noise (new bytes, same shape)."""
    with h5py.File(path, "r+") as f:
        for run in f["runs"].values():
            targets = [ds for s in run["data"].values() for name, ds in s.items()
                       if name in ("current_A", "conductance_G0")]
            targets += [ds for name, ds in run["waveforms"].items() if name == "current_A"]
            for ds in targets:
                a = ds[()]
                ds[...] = a * (1 + 1e-3 * rng.standard_normal(a.shape))


def make_files(root: Path, n: int) -> None:
    """``root/000/run00000.h5`` ...: PER_DIR files per directory."""
    marker = root / f"complete-{n}"
    if marker.exists():
        return
    rng = np.random.default_rng(0)
    templates = []
    for kind, kw in KINDS:
        t = root / f"template-{kind}.h5"
        t.unlink(missing_ok=True)
        write_synthetic_run(str(t), kind, rng, **kw)
        templates.append(t)
    t0 = time.perf_counter()
    for k in range(n):
        d = root / f"{k // PER_DIR:03d}"
        d.mkdir(exist_ok=True)
        p = d / f"run{k:05d}.h5"
        shutil.copyfile(templates[k % len(templates)], p)
        perturb(p, rng)
    marker.touch()
    print(f"wrote {n} files in {time.perf_counter() - t0:.0f} s", flush=True)


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from labapp.cli import main
pattern, out, cache, workers, cluster = sys.argv[2:7]
args = ["analyze-batch", pattern, "-o", out, "--cache", cache]
if cluster == "1":
    from dask.distributed import LocalCluster
    lc = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                      dashboard_address=":0")
    args += ["--scheduler", lc.scheduler_address]
else:
    args += ["--workers", workers]
import io, contextlib
buf = io.StringIO()
t0 = time.perf_counter()
with contextlib.redirect_stdout(buf):
    rc = main(args)
seconds = time.perf_counter() - t0
# peak RSS of the command, read before this harness loads anything itself
main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
if cluster == "1":
    lc.close()
with open(out + "/summary.json") as fh:  # the aggregate only: it ends where "runs" starts
    head = fh.read(1 << 20).split(',\n"runs": [', 1)[0]
agg = json.loads(head + "}")["aggregate"]
print(json.dumps({"rc": rc, "seconds": seconds, "runs": agg["runs"],
                  "failures": agg["failures"], "cached": agg.get("cached_files"),
                  "main_rss_mb": main_rss, "child_rss_mb": child_rss,
                  "distributed": any(m.split(".")[0] == "distributed" for m in sys.modules)}))
"""


def run_pass(pattern: str, out: Path, cache: Path, workers: int, cluster: bool) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), pattern, str(out), str(cache), str(workers),
         "1" if cluster else "0"],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"pass failed: {proc.stderr.strip()[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if res["rc"] != 0 or res["failures"]:
        raise RuntimeError(f"pass reported failures: {res}")
    return res


def show(label: str, r: dict) -> None:
    print(f"{label:<44} {r['seconds']:8.1f} s  {r['runs'] / r['seconds']:8.1f} runs/s  "
          f"cached files {r['cached']:>6}  peak RSS main {r['main_rss_mb']:6.0f} MB, "
          f"workers {r['child_rss_mb']:5.0f} MB", flush=True)


def small_pattern(data: Path, work: Path, n: int) -> str:
    """Glob of the first ``n`` files (links in ``work`` when fewer than a directory)."""
    if n >= PER_DIR:
        return str(data / "000" / "*.h5")
    sub = work / "small"
    sub.mkdir()
    for p in sorted((data / "000").glob("*.h5"))[:n]:
        (sub / p.name).symlink_to(p)
    return str(sub / "*.h5")


def measure(data: Path, work: Path, args: argparse.Namespace) -> dict[str, dict]:
    """Every pass, each shown as it ends: first (small and full), cached, after 1 %
    changed, and (unless --no-cluster) first and cached on a LocalCluster."""
    w = args.workers
    full = str(data / "*" / "*.h5")
    r = {"small": run_pass(small_pattern(data, work, args.small), work / "r1",
                           work / "c1.sqlite", w, False)}
    show(f"first pass, {args.small} files, pool ({w})", r["small"])
    r["first"] = run_pass(full, work / "r2", work / "c2.sqlite", w, False)
    show(f"first pass, {args.files} files, pool ({w})", r["first"])
    r["cached"] = run_pass(full, work / "r2", work / "c2.sqlite", w, False)
    show(f"cached pass, {args.files} files, pool ({w})", r["cached"])
    rng = np.random.default_rng(1)
    changed = sorted(data.glob("*/*.h5"))[:: 100]
    for p in changed:
        perturb(p, rng)
    r["1pc"] = run_pass(full, work / "r2", work / "c2.sqlite", w, False)
    show(f"after {len(changed)} files changed (1 %), pool ({w})", r["1pc"])
    if not args.no_cluster:
        lc = run_pass(full, work / "r3", work / "c3.sqlite", w, True)
        show(f"first pass, {args.files} files, LocalCluster ({w})", lc)
        lc2 = run_pass(full, work / "r3", work / "c3.sqlite", w, True)
        show(f"cached pass, {args.files} files, LocalCluster ({w})", lc2)
    return r


def report(r: dict[str, dict], args: argparse.Namespace) -> None:
    """The targets: cached and 1 %-changed passes against the first, flat peak RSS, no
    ``distributed`` in the local passes."""
    first, small = r["first"], r["small"]
    print(f"cached pass / first pass: {r['cached']['seconds'] / first['seconds']:.2%}; "
          f"1 % changed / first pass: {r['1pc']['seconds'] / first['seconds']:.2%} "
          "(target <= 5 %)")
    print(f"peak RSS of the main process: {small['main_rss_mb']:.0f} MB at "
          f"{args.small} files, {first['main_rss_mb']:.0f} MB at {args.files} files "
          f"(ratio {first['main_rss_mb'] / small['main_rss_mb']:.2f}, target flat); "
          f"workers {small['child_rss_mb']:.0f} / {first['child_rss_mb']:.0f} MB")
    imported = any(r[k]["distributed"] for k in ("small", "first", "cached", "1pc"))
    print(f"local passes imported distributed: {'yes' if imported else 'no'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=1_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-cluster", action="store_true")
    ap.add_argument("--dir", type=Path, default=None, help="keep the files here")
    args = ap.parse_args([] if argv is None else argv)
    if args.small > PER_DIR or args.files % PER_DIR:
        ap.error(f"--small must be <= {PER_DIR} and --files a multiple of {PER_DIR}")
    tmp = None
    root = args.dir
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="labapp-bench-batch-")
        root = Path(tmp.name)
    data = root / "runs"
    data.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="labapp-bench-batch-out-"))
    try:
        make_files(data, args.files)
        report(measure(data, work, args), args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
