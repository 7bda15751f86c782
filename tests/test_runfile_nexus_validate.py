"""Run files as NeXus viewers read them, and ``labapp validate``.

References we did not write: ``nexusformat`` (the NeXus project's Python API) must
resolve the default plot of every protocol's run file to a signal with units and axes,
and plain h5py following the NeXus rules (``default`` -> NXentry -> NXdata ``signal`` /
``axes``) must find the same. The validator is held to files damaged on purpose, one
kind of damage each, and to every file the writer produces (no problem at all).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis import nexus
from analysis.runfile import _reopen_after_crash, list_runs, read_run
from analysis.validate import errors, validate_file
from labapp.cli import main as cli
from tests.protocol_runs import SMALL, write_run
from tests.support.synthetic import write_synthetic_run

V1_FILE = Path(__file__).parent / "data" / "run_v1.h5"

#: the axis of each protocol's default plot (G/G0 against it) and its units
AXIS = {"dc-sweep": ("voltage_V", "V"), "pulse-train": ("pulse_index", ""),
        "reset-train": ("pulse_index", ""), "ltp-ltd": ("pulse_index", ""),
        "retention": ("elapsed_s", "s"), "write-verify": ("pulse_index", ""),
        "endurance": ("pulse_index", ""), "read-noise": ("time_s", "s")}


@pytest.fixture(scope="module")
def protocol_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("nexus")
    return {name: (root / f"{name}.h5", write_run(root / f"{name}.h5", name, sample="S7",
                                                  operator="ana", notes="a note"))
            for name in SMALL}


@pytest.mark.parametrize("protocol", list(SMALL))
def test_default_plot_of_every_protocol_resolves_in_nexusformat_and_h5py(protocol,
                                                                         protocol_files):
    from nexusformat.nexus import nxload

    path, run_id = protocol_files[protocol]
    axis, axis_units = AXIS[protocol]
    root = nxload(str(path))
    try:
        assert root.nxclass == "NXroot"
        data = root.plottable_data
        assert data is not None and data.nxclass == "NXdata"
        assert data.nxsignal.nxname == "conductance_G0"
        assert data.nxsignal.attrs["units"] == "G0"
        assert [a.nxname for a in data.nxaxes] == [axis]
        assert data.nxaxes[0].attrs.get("units", "") == axis_units
        assert data.nxsignal.shape == data.nxaxes[0].shape and data.nxsignal.size > 0
        entry = root[nexus.entry_name(run_id)]
        assert entry.nxclass == "NXentry"
        assert entry["instrument"].nxclass == "NXinstrument"
        assert entry["sample"].nxclass == "NXsample" and str(entry["sample/name"]) == "S7"
        assert entry["user"].nxclass == "NXuser" and str(entry["user/name"]) == "ana"
        assert entry["notes"].nxclass == "NXnote" and str(entry["notes/data"]) == "a note"
        assert entry["parameters"].nxclass == "NXcollection"
    finally:
        root.nxfile.close()
    main = read_run(path, run_id).streams["samples"]
    with h5py.File(path, "r") as f:
        plot = nexus.default_plot(f)
        assert plot["signal_units"] == "G0" and plot["axes"][0][1] == axis_units
        # the plotted arrays are the run's own columns (links, not copies)
        np.testing.assert_array_equal(f[plot["signal"]][()], main["conductance_G0"])
        np.testing.assert_array_equal(f[plot["axes"][0][0]][()], main[axis])
        assert f[plot["signal"]].id == f[f"/runs/{run_id}/data/samples/conductance_G0"].id


@pytest.mark.parametrize("protocol", list(SMALL))
def test_every_file_the_writer_produces_is_valid(protocol, protocol_files, capsys):
    path, _ = protocol_files[protocol]
    assert validate_file(path) == []
    assert cli(["validate", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: valid"


def _sweep(tmp_path: Path) -> tuple[Path, str]:
    p = tmp_path / "run.h5"
    return p, write_synthetic_run(str(p), "dc-sweep", np.random.default_rng(0), cycles=1,
                                  step=0.05)


def _damage(kind: str, p: Path, rid: str) -> None:
    if kind == "unreadable":
        p.write_bytes(b"this is not an HDF5 file\n" * 10)
        return
    if kind == "truncated":
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        return
    with h5py.File(p, "r+") as f:
        g = f["runs"][rid]
        s = g["data/samples"]
        if kind == "schema":
            del f.attrs["schema"]
        elif kind == "schema-version":
            f.attrs["schema_version"] = 99
        elif kind == "no-runs":
            del f["runs"][rid]
        elif kind == "run-attrs":
            del g.attrs["protocol"]
        elif kind == "status":
            g.attrs["status"] = "exploded"
        elif kind == "groups":
            del g["safety"]
        elif kind == "parameters":
            g["parameters"].attrs["v_set"] = "2 volts"
        elif kind == "units":
            s["voltage_V"].attrs["units"] = "mV"
        elif kind == "shape":
            del s["cycle"]
            s.create_dataset("cycle", data=np.zeros((3, 3)))
        elif kind == "lengths":
            s["current_A"].resize((s["current_A"].shape[0] - 7,))
        elif kind == "time":
            t = s["time_s"][()]
            t[10] = t[9] - 1.0
            s["time_s"][...] = t
        elif kind == "nexus":
            g["plot"].attrs["signal"] = "resistance_ohm"


DAMAGE = ("unreadable", "truncated", "schema", "schema-version", "no-runs", "run-attrs",
          "status", "groups", "parameters", "units", "shape", "lengths", "time", "nexus")


@pytest.mark.parametrize("kind", DAMAGE)
def test_each_kind_of_damage_is_flagged(kind, tmp_path, capsys):
    p, rid = _sweep(tmp_path)
    assert validate_file(p) == []
    _damage(kind, p, rid)
    problems = errors(validate_file(p))
    assert [pr.code for pr in problems][:1] == [kind], problems
    assert cli(["validate", str(p)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{p}: INVALID" and f"[{kind}]" in out[1]
    # analyze refuses the damaged file with one line naming the problem
    assert cli(["analyze", str(p), "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(p) in err[0]


def test_damaged_file_in_batch_and_info(tmp_path, capsys):
    p, rid = _sweep(tmp_path)
    shutil.copy(p, tmp_path / "good.h5")
    _damage("time", p, rid)
    assert cli(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "PROBLEM error [time]" in out and "labapp validate" in out
    assert cli(["analyze-batch", str(tmp_path / "*.h5"), "-o", str(tmp_path / "rep"),
                "--workers", "1", "--no-figures", "--no-cache"]) == 0
    err = capsys.readouterr().err
    assert "run.h5" in err and "time goes backwards at row 10" in err


def test_cut_off_run_is_a_warning_not_an_error(tmp_path, capsys):
    p, rid = _sweep(tmp_path)
    with h5py.File(p, "r+") as f:
        f["runs"][rid].attrs["complete"] = False
        s = f["runs"][rid]["data/samples"]
        s["current_A"].resize((s["current_A"].shape[0] - 3,))  # cut between two columns
    problems = validate_file(p)
    assert {pr.code for pr in problems} == {"incomplete", "lengths"}
    assert not errors(problems)
    assert cli(["validate", str(p)]) == 0
    assert "valid with warnings" in capsys.readouterr().out
    assert cli(["validate", "--strict", str(p)]) == 1


def test_version_1_files_still_read_and_gain_nexus_with_a_new_run(tmp_path):
    p = tmp_path / "v1.h5"
    shutil.copy(V1_FILE, p)
    with h5py.File(p, "r") as f:
        assert f.attrs["schema_version"] == 1 and "NX_class" not in f.attrs
    (old,) = list_runs(p)
    assert read_run(p).streams["samples"]["voltage_V"].size > 0
    assert validate_file(p) == []
    assert cli(["analyze", str(p), "--json"]) == 0
    new = write_synthetic_run(str(p), "reset-train", np.random.default_rng(1), n_pulses=5,
                              samples=10)
    with h5py.File(p, "r") as f:
        assert f.attrs["schema_version"] == 2
        assert f.attrs["default"].decode() == nexus.entry_name(new)
        assert nexus.default_plot(f)["axes"][0][0].endswith("pulse_index")
        assert nexus.entry_name(old.run_id) not in f  # the version-1 run is left as it was
    assert [r.run_id for r in list_runs(p)] == [old.run_id, new]
    assert validate_file(p) == []


def test_repair_copy_keeps_links_as_links(tmp_path):
    p, rid = _sweep(tmp_path)
    write_synthetic_run(str(p), "retention", np.random.default_rng(2))
    size = p.stat().st_size
    _reopen_after_crash(p)
    assert p.stat().st_size <= size * 1.1  # nothing stored twice
    with h5py.File(p, "r") as f:
        link = f.get(nexus.entry_name(rid), getlink=True)
        assert isinstance(link, h5py.SoftLink) and link.path == f"/runs/{rid}"
        g = f["runs"][rid]
        assert g["plot/voltage_V"].id == g["data/samples/voltage_V"].id
    assert validate_file(p) == []
