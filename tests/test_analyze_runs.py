"""``labapp analyze`` on a file with several runs: each run, and figures by protocol.

Reference for which figures a protocol has: paper 000 draws polar and time-lag plots
(Fig. 6e-f) of identical RESET pulse trains only; a write-verify run (pulses of varying
amplitude and polarity) has no such figure.
"""

from __future__ import annotations

import json

import pytest

from analysis.runfile import list_runs
from labapp.cli import main as cli
from labapp.instrument_choice import connect
from protocols import DCSweep, RunEngine, WriteVerify


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    path = tmp_path_factory.mktemp("analyze") / "two.h5"
    engine = RunEngine(connect(sim=True, seed=2))
    assert engine.run(DCSweep(step=0.05), path).status == "completed"
    assert engine.run(WriteVerify(target_g0=2.5), path).status == "completed"
    return path


def test_every_run_is_analysed_with_its_own_figures(two_runs, tmp_path, capsys):
    sweep, wv = list_runs(two_runs)
    assert cli(["analyze", str(two_runs), "--figure", "all", "-o", str(tmp_path),
                "--dpi", "40"]) == 0
    captured = capsys.readouterr()
    assert "2 runs, each analysed" in captured.err
    names = {p.name for p in tmp_path.glob("*.png")}
    assert f"{sweep.run_id}_iv.png" in names and f"{wv.run_id}_pulses.png" in names
    assert not {n for n in names if n.startswith(wv.run_id) and
                n.endswith(("_polar.png", "_timelag.png", "_iv.png"))}
    assert not {n for n in names if n.startswith(sweep.run_id) and n.endswith("_pulses.png")}


def test_json_lists_every_run_and_run_picks_one(two_runs, capsys):
    sweep, wv = list_runs(two_runs)
    assert cli(["analyze", str(two_runs), "--json"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert [s["protocol"] for s in both] == ["dc-sweep", "write-verify"]
    assert cli(["analyze", str(two_runs), "--run", sweep.run_id, "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert isinstance(one, dict) and one["protocol"] == "dc-sweep"


def test_a_figure_the_protocol_lacks_is_named_and_skipped(two_runs, tmp_path, capsys):
    wv = list_runs(two_runs)[1]
    assert cli(["analyze", str(two_runs), "--run", wv.run_id, "--figure", "polar",
                "--figure", "pulses", "-o", str(tmp_path), "--dpi", "40"]) == 0
    err = capsys.readouterr().err
    assert f"run {wv.run_id} (write-verify): no polar figure for this protocol" in err
    assert [p.name for p in tmp_path.glob("*.png")] == [f"{wv.run_id}_pulses.png"]
