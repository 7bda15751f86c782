"""Step detection against a public benchmark: AutoStepFinder's test traces and step tables.

Reference: Loeff, Kerssemakers, Joo & Dekker, "AutoStepfinder: a fast and automated
step detection method for single-molecule analysis", Patterns 2, 100256 (2021); code and
data at github.com/jacobkers/Loeff-Kerssemakers-et-al-AutoStepFinder. Its
``python/test_data/*.txt`` are single-column traces and ``python/test_data/
steppy_results/*_steps.csv`` the step tables its Python version published for them
(index, levels before/after, step size, dwells). The data carry no licence file, so they
are not part of this project: clone the repository and point ``AUTOSTEPFINDER_DIR`` at
it (the benchmark says so and stops when it is missing).

For each trace, ``analysis.plateaus.detect_plateaus`` runs with its noise model (no
parameter set per trace, ``min_length`` 3, the n/2 merge off since these are not G0
data), at the native scale and multiplied by 1000 and 1e-3. Our steps are the change
points between consecutive plateaus; a step matches a published one within 2 samples.
Printed per trace: steps (ours / published), precision and recall against the
published table, median |step size difference| relative to the median published step,
and whether the three scales gave identical steps.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from analysis.plateaus import detect_plateaus  # noqa: E402

TOLERANCE = 2  # samples


def published_steps(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(index, step size) of a steppy_results table."""
    with path.open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    idx = np.array([float(r["index"]) for r in rows], dtype=float)
    size = np.array([float(r["step"]) for r in rows], dtype=float)
    return idx, size


def our_steps(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, step size) between consecutive plateaus of detect_plateaus."""
    res = detect_plateaus(y, min_length=3, merge_g0=1e-300)
    ps = res.plateaus
    idx = np.array([q.start_index for q in ps[1:]], dtype=float)
    size = np.array([q.level_g0 - p.level_g0 for p, q in zip(ps[:-1], ps[1:], strict=True)])
    return idx, size


def compare(ours: np.ndarray, theirs: np.ndarray) -> list[tuple[int, int]]:
    """Greedy one-to-one matching within TOLERANCE samples."""
    pairs, used = [], set()
    for i, x in enumerate(ours):
        d = np.abs(theirs - x)
        for j in np.argsort(d):
            if d[j] > TOLERANCE:
                break
            if j not in used:
                used.add(int(j))
                pairs.append((i, int(j)))
                break
    return pairs


def main(argv: list[str] | None = None) -> int:
    root = Path(os.environ.get("AUTOSTEPFINDER_DIR", ""))
    data = root / "python" / "test_data"
    if not os.environ.get("AUTOSTEPFINDER_DIR") or not data.is_dir():
        print("AutoStepFinder data not found: clone github.com/jacobkers/"
              "Loeff-Kerssemakers-et-al-AutoStepFinder and set AUTOSTEPFINDER_DIR")
        return 0
    tot_m = tot_o = tot_t = 0
    for table in sorted((data / "steppy_results").glob("*_steps.csv")):
        trace = data / (table.name[: -len("_steps.csv")] + ".txt")
        if not trace.exists():
            continue
        y = np.loadtxt(trace, ndmin=1)
        if y.size < 30:
            continue
        t_idx, t_size = published_steps(table)
        if not t_idx.size:
            print(f"{trace.stem:40s} published table is empty: left out")
            continue
        o_idx, o_size = our_steps(y)
        same = all(np.array_equal(our_steps(y * f)[0], o_idx) for f in (1e3, 1e-3))
        pairs = compare(o_idx, t_idx)
        tot_m, tot_o, tot_t = tot_m + len(pairs), tot_o + o_idx.size, tot_t + t_idx.size
        prec = len(pairs) / max(o_idx.size, 1)
        rec = len(pairs) / max(t_idx.size, 1)
        if pairs:
            i, j = np.array(pairs).T
            size_err = np.median(np.abs(o_size[i] - t_size[j])) / np.median(np.abs(t_size))
        else:
            size_err = float("nan")
        print(f"{trace.stem:40s} {y.size:5d} samples: steps {o_idx.size:3d} / {t_idx.size:3d} "
              f"published; precision {prec:.2f}, recall {rec:.2f}; step size error "
              f"{size_err:.3f}; same steps at x1000 and x1e-3: {same}")
    print(f"all traces: precision {tot_m / max(tot_o, 1):.3f}, recall "
          f"{tot_m / max(tot_t, 1):.3f} ({tot_m} matched, {tot_o} ours, {tot_t} published)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
