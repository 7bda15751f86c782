"""Provenance in every run file, and ``labapp rerun`` of a simulated run.

References: the package versions stored must equal what ``importlib.metadata`` (pip's
record of the installation) reports, the git commit and dirty flag what ``git`` itself
says about the checkout, the simulator's device parameters those a simulator built from
the stored seed draws, and the instrument identity the fields of the ``*IDN?`` reply
(manual 4-4). A re-run on the simulator must reproduce every array of the run exactly.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from analysis.runfile import list_runs, read_run
from labapp.cli import main as cli
from labapp.instrument_choice import connect
from protocols.versioning import PACKAGES
from tests.protocol_runs import write_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prov") / "sweep.h5"
    rid = write_run(path, "dc-sweep", seed=11, sample="S1", operator="ana")
    return path, rid


def test_provenance_attributes(sweep_file):
    path, rid = sweep_file
    run = read_run(path, rid)
    a = run.attrs
    assert a["python_version"] == platform.python_version()
    for name in PACKAGES:
        try:
            want = metadata.version(name)
        except metadata.PackageNotFoundError:
            want = ""
        assert a["package_versions"][name] == want, name
    assert a["package_versions"]["numpy"] and a["package_versions"]["PyQt6-Qt6"]
    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    if git.returncode == 0:  # in a checkout: the commit and the tree state git reports
        assert a["git_commit"] == git.stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, check=True)
        assert a["git_dirty"] is bool(dirty.stdout.strip())
    # instrument snapshot: the *IDN? fields and *OPT? cards the instrument reported
    inst = run.instrument
    idn = inst["idn"].split(",")
    assert [inst["manufacturer"], inst["model"], inst["serial"], inst["firmware"]] == idn
    assert inst["cards"][:1] == ["SMU1"]
    # the simulator: seed and the full device parameter set a fresh seed-11 device draws
    sim = inst["simulator"]
    assert a["simulated"] is True and a["seed"] == 11 == sim["seed"]
    fresh = connect(sim=True, seed=11).adapter.describe()
    assert sim["device"]["params"] == json.loads(json.dumps(fresh["device"]["params"]))
    assert sim["device"]["model"] == "QCDevice" and len(sim["device"]["params"]) > 20
    assert sim["options"] == fresh["options"] and sim["device"]["state"]["n"] == 0


def _same_arrays(a, b) -> None:
    assert a.streams.keys() == b.streams.keys()
    for s in a.streams:
        assert a.streams[s].keys() == b.streams[s].keys()
        for c in a.streams[s]:
            np.testing.assert_array_equal(a.streams[s][c], b.streams[s][c], err_msg=f"{s}/{c}")
    assert a.waveforms.keys() == b.waveforms.keys()
    for w in a.waveforms:
        np.testing.assert_array_equal(a.waveforms[w], b.waveforms[w], err_msg=w)


@pytest.mark.parametrize("protocol", ["dc-sweep", "pulse-train", "reset-train"])
def test_rerun_of_a_simulated_run_gives_identical_arrays(protocol, tmp_path, capsys):
    src = tmp_path / "orig.h5"
    rid = write_run(src, protocol, seed=21, sample="S2")
    out = tmp_path / "again.h5"
    assert cli(["rerun", str(src), "--run", rid, "-o", str(out), "--sim", "--quiet"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith("[SIMULATED, seed 21]") and "status completed" in line
    (new,) = list_runs(out)
    a, b = read_run(src, rid), read_run(out, new.run_id)
    assert b.protocol == a.protocol and b.parameters == a.parameters
    assert b.safety == a.safety and b.attrs["sample"] == "S2"
    assert b.attrs["rerun_of"] == {"file": str(src.resolve()), "run_id": rid}
    assert a.streams["samples"]["current_A"].size > 0
    _same_arrays(a, b)
    # another seed is another device: the data differ (the test can fail)
    other = tmp_path / "other.h5"
    assert cli(["rerun", str(src), "-o", str(other), "--sim", "--seed", "22", "--quiet"]) == 0
    c = read_run(other)
    assert not np.array_equal(a.streams["samples"]["current_A"],
                              c.streams["samples"]["current_A"])


def test_rerun_refuses_bad_input_before_any_instrument(tmp_path, capsys):
    assert cli(["rerun", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "n.h5"),
                "--sim"]) == 1
    assert "missing.h5: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli(["rerun", str(tmp_path / "x.h5"), "-o", str(tmp_path / "n.csv"), "--sim"])
    assert exc.value.code == 2
    assert "must end in .h5" in capsys.readouterr().err
