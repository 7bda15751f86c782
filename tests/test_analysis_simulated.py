"""End to end: protocols on the simulated 4200A -> run file -> labapp analyze."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.figures import applicable_figures, save_figures
from analysis.inputs import load_run
from analysis.summary import RunAnalysis
from labapp.cli import main as cli_main
from labapp.instrument_choice import connect
from protocols import LTPLTD, DCSweep, PulseTrain, ResetTrain, RunEngine


@pytest.fixture(scope="module")
def sim_runs(tmp_path_factory):
    """One simulated session: DC sweep, SET train, RESET train with waveforms, LTP/LTD."""
    root = tmp_path_factory.mktemp("sim")
    inst = connect(sim=True, seed=3)
    eng = RunEngine(inst, metadata={"device_id": "sim", "operator": "test"})
    out = {}
    out["sweep"] = eng.run(DCSweep(v_set=2.5, v_reset=2.5, step=0.01, compliance_set=5e-3,
                                   cycles=2), root / "sweep.h5")
    eng.run(PulseTrain(count=5, amplitude=2.3, compliance=5e-3), root / "set.h5")
    out["reset"] = eng.run(ResetTrain(count=80), root / "reset.h5")
    out["ltp"] = eng.run(LTPLTD(count=15), root / "ltp.h5")
    for r in out.values():
        assert r.status == "completed"
    return {k: r.path for k, r in out.items()}


def run_json(capsys, *argv):
    assert cli_main(["analyze", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_simulated_sweep_end_to_end(sim_runs, capsys, tmp_path):
    s = run_json(capsys, sim_runs["sweep"])
    assert s["protocol"] == "dc-sweep" and s["plateau_axis"] == "V"
    assert len(s["switching"]["v_set_jump_V"]) == 2
    assert 0.3 < s["switching"]["median"]["v_set_jump"] < 2.5
    assert s["switching"]["median"]["on_off"] > 10
    q = [p for p in s["plateaus"] if p["on_half_integer"]]
    assert q, "the simulated device shows quantized plateaus"
    for p in q:
        assert abs(p["level_g0"] - p["label_g0"]) <= 0.1
    assert s["histogram_peaks"] and all(p["center_g0"] >= 0.25 for p in s["histogram_peaks"])
    an = RunAnalysis(load_run(sim_runs["sweep"]))
    paths = save_figures(an, applicable_figures(an), tmp_path, dpi=60)
    assert {p.stem.split("_", 1)[1] for p in paths} >= {"iv", "gv", "histogram", "cdf"}


def test_simulated_reset_train_end_to_end(sim_runs, capsys, tmp_path):
    s = run_json(capsys, sim_runs["reset"])
    p = s["pulses"]
    assert p["source"] == "waveforms" and len(p["current_A"]) == 80
    assert p["i_over_i1"][0] == 1.0
    ratio = np.array(p["i_over_i1"])
    assert ratio[-10:].mean() < 1.0  # RESET lowers the current
    assert 0.0 <= p["below_unity_fraction"] <= 1.0
    for v in p["variability"]:
        assert 0 <= v["cv"] < 0.3
    assert cli_main(["analyze", str(sim_runs["reset"]), "--figure", "polar", "--figure",
                     "timelag", "--figure", "pulses", "-o", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("*.png"))) == 3


def test_simulated_ltp_ltd_nonlinearity(sim_runs, capsys):
    s = run_json(capsys, sim_runs["ltp"])
    nl = s["nonlinearity"]
    assert {"A", "B", "g_min", "g_max", "p_max"} <= set(nl)
    assert nl["p_max"] == 15 and nl["depression"]["p_max"] == 15
    assert nl["g_max"] > nl["g_min"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert cli_main(["analyze", str(bad), "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.csv" in err[0] and "voltage" in err[0]
    assert cli_main(["analyze", str(tmp_path / "missing.h5")]) == 1
    assert "missing.h5: no such file" in capsys.readouterr().err
    assert cli_main(["analyze", str(bad), "--bin-width", "0", "--json"]) == 1
    assert "bin_width_g0" in capsys.readouterr().err


def test_cli_batch(sim_runs, tmp_path, capsys):
    pattern = str(sim_runs["sweep"].parent / "*.h5")
    assert cli_main(["analyze-batch", pattern, "-o", str(tmp_path / "rep"),
                     "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "runs from 4 files" in out
    data = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert data["aggregate"]["runs"] == 4 and not data["failures"]
