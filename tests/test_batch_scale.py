"""Batch analysis at scale: the result cache, streamed aggregates, Dask as an extra.

References: the cache must give exactly what an uncached batch gives (the uncached batch
is the reference), and its key must follow the file's bytes, the run, the options and
the code (each varied below on its own). Dask must not be a dependency of the default
install (pyproject's ``dependencies``) nor be imported by a local batch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import analysis.batch as batch
from analysis.batch import analyze_batch, analyze_file
from analysis.batch_cache import ResultCache, decode_record, encode_record
from analysis.options import AnalysisOptions
from labapp.cli import main as cli_main
from tests.support.synthetic import write_synthetic_run

ROOT = Path(__file__).resolve().parents[1]

#: small runs that analyse in tens of ms (the kinds the batch benchmark uses)
KINDS = (("read-noise", {"n": 400}), ("retention", {}),
         ("reset-train", {"n_pulses": 10, "samples": 10}))


def make_runs(root: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        kind, kw = KINDS[k % len(KINDS)]
        p = root / f"run{k:02d}.h5"
        write_synthetic_run(str(p), kind, rng, **kw)
        paths.append(p)
    return paths


def same_result(a, b) -> None:
    """Two reports hold the same runs (in order) and the same aggregate histograms."""
    assert [r["run_id"] for r in a.runs] == [r["run_id"] for r in b.runs]
    assert list(a.runs) == list(b.runs)
    assert np.array_equal(a.histogram.counts, b.histogram.counts)
    assert np.array_equal(a.histogram.edges, b.histogram.edges)
    assert np.array_equal(a.state_hist.counts, b.state_hist.counts)
    assert np.array_equal(np.sort(a.state_levels), np.sort(b.state_levels))


def test_record_encoding_is_exact(tmp_path):
    (p,) = make_runs(tmp_path, 1)
    (rec,) = analyze_file(str(p))
    back = decode_record(encode_record(rec))
    assert back["summary"] == json.loads(json.dumps(rec["summary"]))
    assert np.array_equal(back["edges"], rec["edges"])  # bit for bit, not allclose
    assert np.array_equal(back["counts"], rec["counts"])
    assert np.array_equal(back["state_levels"], rec["state_levels"])


def test_rerun_analyses_only_changed_files_and_equals_an_uncached_batch(tmp_path):
    paths = make_runs(tmp_path / "runs", 6)
    pattern = str(tmp_path / "runs" / "*.h5")
    cache = tmp_path / "cache.sqlite"
    first = analyze_batch(pattern, workers=1, cache=cache)
    assert (first.extra["cached_files"], first.extra["analysed_files"]) == (0, 6)
    again = analyze_batch(pattern, workers=1, cache=cache)
    assert (again.extra["cached_files"], again.extra["analysed_files"]) == (6, 0)
    same_result(again, first)
    # one file changes (a second run appended): only it is analysed again
    write_synthetic_run(str(paths[2]), "read-noise", np.random.default_rng(9), n=400)
    changed = analyze_batch(pattern, workers=1, cache=cache)
    assert (changed.extra["cached_files"], changed.extra["analysed_files"]) == (5, 1)
    assert len(changed.runs) == 7
    same_result(changed, analyze_batch(pattern, workers=1))


def test_cache_key_follows_content_options_and_code(tmp_path, monkeypatch):
    make_runs(tmp_path / "a", 3)
    cache = tmp_path / "cache.sqlite"
    analyze_batch(str(tmp_path / "a" / "*.h5"), workers=1, cache=cache)
    # the same bytes under another path: hits, and the summary names the new path
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = analyze_batch(str(tmp_path / "b" / "*.h5"), workers=1, cache=cache)
    assert moved.extra["cached_files"] == 3
    assert all("/b/" in r["file"] for r in moved.runs)
    # a touched but unchanged file is re-hashed and still hits
    os.utime(tmp_path / "b" / "run00.h5", ns=(1, 1))
    assert analyze_batch(str(tmp_path / "b" / "*.h5"), workers=1,
                         cache=cache).extra["cached_files"] == 3
    # other analysis options: misses
    opts = AnalysisOptions(bin_width_g0=0.05)
    other = analyze_batch(str(tmp_path / "a" / "*.h5"), workers=1, cache=cache, options=opts)
    assert other.extra["analysed_files"] == 3
    assert other.histogram.bin_width == pytest.approx(0.05)
    # other analysis code (version + source digest): misses
    monkeypatch.setattr("analysis.batch_cache.code_version", lambda: "9.9+changed")
    assert analyze_batch(str(tmp_path / "a" / "*.h5"), workers=1,
                         cache=cache).extra["analysed_files"] == 3


def test_failures_are_not_cached_and_a_file_changed_while_analysed_is_not(tmp_path,
                                                                          monkeypatch):
    paths = make_runs(tmp_path / "runs", 2)
    (tmp_path / "runs" / "broken.h5").write_bytes(b"not hdf5")
    pattern = str(tmp_path / "runs" / "*.h5")
    cache = tmp_path / "cache.sqlite"
    real = batch.analyze_files

    def touching(ps, options):  # another writer changes run00 while it is analysed
        out = real(ps, options)
        if str(paths[0]) in ps:
            st = os.stat(paths[0])
            os.utime(paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 1))
        return out

    monkeypatch.setattr(batch, "analyze_files", touching)
    rep = analyze_batch(pattern, workers=1, cache=cache)
    assert len(rep.failures) == 1 and "broken.h5" in rep.failures[0]["file"]
    monkeypatch.setattr(batch, "analyze_files", real)
    rep = analyze_batch(pattern, workers=1, cache=cache)
    # run01 was cached; run00 (changed during analysis) and broken.h5 are analysed again
    assert (rep.extra["cached_files"], rep.extra["analysed_files"]) == (1, 2)
    assert len(rep.failures) == 1


def test_unusable_cache_file_is_one_clear_error(tmp_path):
    make_runs(tmp_path / "runs", 1)
    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not a usable result cache"):
        ResultCache(bad, AnalysisOptions())


def test_cli_cache_in_the_report_directory(tmp_path, capsys):
    make_runs(tmp_path / "runs", 3)
    pattern = str(tmp_path / "runs" / "*.h5")
    out = tmp_path / "rep"
    args = ["analyze-batch", pattern, "-o", str(out), "--workers", "1", "--no-figures"]
    assert cli_main(args) == 0
    assert "0 files from the cache" in capsys.readouterr().out
    assert (out / "cache.sqlite").is_file()
    first = json.loads((out / "summary.json").read_text())
    assert cli_main(args) == 0
    assert "3 files from the cache" in capsys.readouterr().out
    second = json.loads((out / "summary.json").read_text())
    assert second["runs"] == first["runs"] and second["aggregate"]["runs"] == 3
    assert second["aggregate"]["histogram_peaks"] == first["aggregate"]["histogram_peaks"]
    assert cli_main([*args, "--no-cache"]) == 0
    assert "from the cache" not in capsys.readouterr().out
    shared = tmp_path / "shared.sqlite"
    assert cli_main([*args, "--cache", str(shared)]) == 0
    assert shared.is_file()


def test_scheduler_on_a_local_cluster_with_two_workers(tmp_path, capsys):
    from dask.distributed import LocalCluster

    make_runs(tmp_path / "runs", 6)
    pattern = str(tmp_path / "runs" / "*.h5")
    serial = analyze_batch(pattern, workers=1)
    # two workers behind a TCP scheduler (threads of this process: worker start-up in
    # processes is what the batch benchmark measures)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address=":0") as cluster:
        addr = cluster.scheduler_address
        rep = analyze_batch(pattern, scheduler=addr, cache=tmp_path / "c.sqlite")
        assert rep.workers == "dask"
        same_result(rep, serial)
        out = tmp_path / "rep"
        assert cli_main(["analyze-batch", pattern, "-o", str(out), "--scheduler", addr,
                         "--cache", str(tmp_path / "c.sqlite"), "--no-figures"]) == 0
        assert "dask, 6 files from the cache" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["aggregate"]["runs"] == 6


def test_dask_is_an_optional_extra(tmp_path, monkeypatch):
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any("dask" in d or "distributed" in d for d in meta["dependencies"])
    assert any(d.startswith("dask[distributed]") for d in meta["optional-dependencies"]
               ["cluster"])
    # a local batch through the CLI imports neither dask nor distributed
    make_runs(tmp_path / "runs", 2)
    code = ("import sys; from labapp.cli import main; "
            f"rc = main(['analyze-batch', {str(tmp_path / 'runs' / '*.h5')!r}, '-o', "
            f"{str(tmp_path / 'rep')!r}, '--workers', '1', '--no-figures']); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'));"
            " print(rc, bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []"
    # without the extra, --scheduler says what to install
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ValueError, match=r"labapp\[cluster\]"):
        analyze_batch(str(tmp_path / "runs" / "*.h5"), scheduler="tcp://127.0.0.1:1")
