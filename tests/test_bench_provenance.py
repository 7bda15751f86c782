"""Compliance always explicit; instrument choice explicit; simulated data always labelled.

References: the safety rule of the project (compliance explicit and set before output; a
``0`` that once meant "none" ran a sweep to the safety profile's 20 mA) and the run-file
schema (``docs/file-format.md``). The seed tests hold the simulator to what a seed is for:
the same seed gives the same data, no seed gives independent data.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from analysis.csv_io import export_csv
from analysis.figures import figure_iv
from analysis.runfile import list_runs, read_run
from drivers.validation import ParameterError
from labapp.cli import main as cli
from protocols import PROTOCOLS, DCSweep

SMALL = ["--set", "v_set=1", "--set", "v_reset=1", "--set", "step=0.05", "--quiet"]


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch, tmp_path):
    """Tests never see the developer's LABAPP_RESOURCE or ~/.config/labapp."""
    monkeypatch.delenv("LABAPP_RESOURCE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def current_params():
    return [(name, p.name) for name, cls in PROTOCOLS.items() for p in cls.params
            if p.safety == "current"]


@pytest.mark.parametrize(("protocol", "param"), current_params())
def test_zero_compliance_is_refused_everywhere(protocol, param):
    cls = PROTOCOLS[protocol]
    value = [0.0] if next(p for p in cls.params if p.name == param).kind == "floats" else 0.0
    with pytest.raises(ParameterError, match=r"0 is not 'none'|\(0, "):
        cls(**{param: value})


def test_cli_refuses_zero_compliance_in_one_line(tmp_path, capsys):
    out = tmp_path / "z.h5"
    rc = cli(["run", "dc-sweep", "--sim", "-o", str(out), "--set", "compliance_set=0", *SMALL])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and not out.exists()
    assert err.startswith("labapp run: error: compliance_set=0") and "not 'none'" in err


def test_default_half_compliance_is_stated_in_start_line_and_file(tmp_path, capsys):
    out = tmp_path / "c.h5"
    assert cli(["run", "dc-sweep", "--sim", "--seed", "3", "-o", str(out),
                "--set", "compliance_set=2mA", *SMALL[:-1]]) == 0
    err = capsys.readouterr().err
    start = next(ln for ln in err.splitlines() if ln.startswith("labapp run: dc-sweep"))
    assert "compliance_set 2 mA (set)" in start and "compliance_reset 20 mA (default)" in start
    run = read_run(out)
    assert run.attrs["compliances"] == {
        "compliance_set": {"value_A": 0.002, "source": "set"},
        "compliance_reset": {"value_A": 0.02, "source": "default"}}
    # the RESET half really ran at the stated value (no current beyond it)
    s = run.samples
    assert np.max(np.abs(s["current_A"][np.isin(s["segment"], (3, 4))])) <= 0.02 * (1 + 1e-4)
    assert np.allclose(run.streams["cycles"]["compliance_reset_A"], 0.02)


def test_no_instrument_choice_explains_the_choices(tmp_path, capsys):
    out = tmp_path / "d.h5"
    assert cli(["run", "dc-sweep", "-o", str(out), *SMALL]) == 0
    cap = capsys.readouterr()
    first = cap.err.splitlines()[0]
    for word in ("no instrument chosen", "--sim", "--resource", "LABAPP_RESOURCE",
                 "config.toml", "SIMULATED"):
        assert word in first, first
    assert "[SIMULATED, seed" in cap.out
    assert read_run(out).attrs["simulated"] is True


@pytest.mark.parametrize("how", ["env", "config"])
def test_configured_default_resource(how, tmp_path, capsys, monkeypatch):
    if how == "env":
        monkeypatch.setenv("LABAPP_RESOURCE", "sim")
    else:
        cfg = tmp_path / "xdg" / "labapp" / "config.toml"
        cfg.parent.mkdir(parents=True)
        cfg.write_text('resource = "sim"\n')
    out = tmp_path / "e.h5"
    assert cli(["run", "dc-sweep", "-o", str(out), *SMALL[:-1]]) == 0
    err = capsys.readouterr().err
    assert "no instrument chosen" not in err and "SIMULATED 4200A" in err


def test_configured_hardware_resource_is_used(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LABAPP_RESOURCE", "TCPIP::127.0.0.1::1::SOCKET")  # nothing listens
    rc = cli(["run", "dc-sweep", "-o", str(tmp_path / "f.h5"), *SMALL])
    err = capsys.readouterr().err
    assert rc == 1 and "127.0.0.1" in err and "no instrument chosen" not in err


def test_bad_config_file_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "xdg" / "labapp" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("resource = 5\n")
    rc = cli(["run", "dc-sweep", "-o", str(tmp_path / "g.h5"), *SMALL])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "\n" not in err and "config.toml" in err and "resource" in err


def test_runs_without_seed_differ_and_store_their_seed(tmp_path, capsys):
    out = tmp_path / "s.h5"
    for _ in range(2):
        assert cli(["run", "dc-sweep", "--sim", "-o", str(out), *SMALL]) == 0
    again = tmp_path / "again.h5"
    runs = [read_run(out, r.run_id) for r in list_runs(out)]
    seeds = [r.attrs["seed"] for r in runs]
    assert seeds[0] != seeds[1]
    assert not np.array_equal(runs[0].samples["current_A"], runs[1].samples["current_A"])
    # the stored seed reproduces its run exactly
    assert cli(["run", "dc-sweep", "--sim", "--seed", str(seeds[0]), "-o", str(again),
                *SMALL]) == 0
    np.testing.assert_array_equal(read_run(again).samples["current_A"],
                                  runs[0].samples["current_A"])
    capsys.readouterr()


def test_info_csv_figure_and_batch_say_simulated(tmp_path, capsys):
    out = tmp_path / "i.h5"
    assert cli(["run", "dc-sweep", "--sim", "--seed", "7", "-o", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert cli(["info", str(out)]) == 0
    assert "SIMULATED (seed 7)" in capsys.readouterr().out
    path, sidecar = export_csv(out, tmp_path / "i.csv")
    meta = json.loads(sidecar.read_text())
    assert meta["simulated"] is True and meta["seed"] == 7
    run = read_run(out)
    assert "SIMULATED (seed 7)" in figure_iv(run).axes[0].get_title()
    # a CSV re-imported keeps the label
    from analysis.inputs import load_run

    assert "SIMULATED" in figure_iv(load_run(path)).axes[0].get_title()
    assert cli(["analyze-batch", str(out), "-o", str(tmp_path / "rep"), "--no-figures"]) == 0
    assert "1 of 1 runs are SIMULATED" in capsys.readouterr().out
    with (tmp_path / "rep" / "runs.csv").open() as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["simulated"] == "True" and row["seed"] == "7"


def test_loopback_simulator_is_labelled_with_its_seed(tmp_path, lan_instrument):
    """Over a socket (``labapp sim-server``) the run is labelled too: the engine reads the
    simulator's serial number SIM<seed> from ``*IDN?`` (the conftest server has seed 1)."""
    from protocols import RunEngine

    res = RunEngine(lan_instrument).run(DCSweep(v_set=1, v_reset=1, step=0.1),
                                        tmp_path / "l.h5")
    run = read_run(res.path)
    assert run.attrs["simulated"] is True and run.attrs["seed"] == 1
    assert "SIMULATED (seed 1)" in figure_iv(run).axes[0].get_title()


def test_resource_that_is_the_simulator_says_so(tmp_path, capsys, sim_server):
    """``--resource`` pointing at ``labapp sim-server``: the start and result lines still
    say SIMULATED, with the seed from the simulator's serial number (conftest seed 1)."""
    out = tmp_path / "r.h5"
    assert cli(["run", "dc-sweep", "--resource", sim_server.resource, "-o", str(out),
                *SMALL[:-1]]) == 0
    cap = capsys.readouterr()
    assert cap.out.rstrip().endswith("[SIMULATED, seed 1]")
    assert "[SIMULATED, seed 1]" in next(ln for ln in cap.err.splitlines()
                                         if ln.startswith("labapp run: dc-sweep"))
