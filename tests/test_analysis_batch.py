"""Batch analysis: local pool and a local dask.distributed cluster, aggregate report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.batch import analyze_batch, analyze_file, expand_inputs, write_report
from tests.support.synthetic import write_synthetic_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    (root / "a").mkdir()
    (root / "a" / "b").mkdir()
    write_synthetic_run(str(root / "a" / "s1.h5"), "dc-sweep", rng)
    write_synthetic_run(str(root / "a" / "s1.h5"), "dc-sweep", rng)  # two runs, one file
    write_synthetic_run(str(root / "a" / "b" / "s2.h5"), "dc-sweep", rng)
    write_synthetic_run(str(root / "a" / "b" / "r.h5"), "reset-train", rng, n_pulses=60)
    (root / "a" / "broken.h5").write_bytes(b"not hdf5")
    return root


def test_expand_recursive_glob(run_dir):
    files = expand_inputs(str(run_dir / "**" / "*.h5"))
    assert sorted(f.split("/")[-1] for f in files) == ["broken.h5", "r.h5", "s1.h5", "s2.h5"]
    assert files == sorted(files)


def test_in_process_batch_aggregates_and_reports_failures(run_dir, tmp_path):
    rep = analyze_batch(str(run_dir / "**" / "*.h5"), workers=1)
    assert len(rep.runs) == 4 and rep.files == 4
    assert len(rep.failures) == 1 and "broken.h5" in rep.failures[0]["error"]
    # the aggregate histogram is the bin-wise sum of the per-run histograms
    per_run = sum(int(np.sum(r["counts"])) for f in expand_inputs(str(run_dir / "**/*.h5"))
                  for r in analyze_file(f) if "counts" in r)
    assert rep.histogram.total == per_run
    agg = rep.aggregate()
    centres = [p["center_g0"] for p in agg["histogram_peaks"]]
    assert any(abs(c - 4.0) < 0.05 for c in centres)
    assert len(agg["v_set_jump_V"]) == 6  # 3 sweep runs x 2 cycles
    files = write_report(rep, tmp_path / "report")
    names = {p.name for p in files}
    assert {"summary.json", "runs.csv", "histogram.csv", "aggregate_histogram.png",
            "switching_cdf.png"} <= names
    data = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert data["aggregate"]["runs"] == 4
    assert (tmp_path / "report" / "runs.csv").read_text().count("\n") == 5


def test_process_pool_and_dask_cluster_give_the_same_result(run_dir):
    from dask.distributed import Client, LocalCluster

    pattern = str(run_dir / "**" / "*.h5")
    serial = analyze_batch(pattern, workers=1)
    pool = analyze_batch(pattern, workers=2)
    assert pool.workers.startswith("process pool")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        dask_rep = analyze_batch(pattern, client=client)
        addr = cluster.scheduler_address
        assert addr.startswith("tcp://")
        via_address = analyze_batch(pattern, scheduler=addr)  # what --scheduler does
    for rep in (pool, dask_rep, via_address):
        assert rep.histogram.total == serial.histogram.total
        assert sorted(r["run_id"] for r in rep.runs) == sorted(r["run_id"] for r in serial.runs)
    assert dask_rep.workers == "dask"


def test_bad_batch_arguments(tmp_path):
    with pytest.raises(ValueError, match="no files match"):
        analyze_batch(str(tmp_path / "*.h5"))
    (tmp_path / "x.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="scheduler must be"):
        analyze_batch(str(tmp_path / "*.h5"), scheduler="localhost:8786")
    with pytest.raises(ValueError, match="workers"):
        analyze_batch(str(tmp_path / "*.h5"), workers=0)
