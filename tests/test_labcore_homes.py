"""The run-file format and the constants live in ``labcore``, the lowest layer; the old
``analysis`` import paths that scripts use still give the same objects."""

import importlib
import json
import subprocess
import sys

import pytest

MOVED = ["constants", "h5files", "superblock", "runlock", "nexus", "validate", "run_json",
         "csv_io", "runfile"]


@pytest.mark.parametrize("name", MOVED)
def test_old_analysis_path_reexports_the_labcore_objects(name):
    old, new = importlib.import_module(f"analysis.{name}"), importlib.import_module(
        f"labcore.{name}")
    public = getattr(new, "__all__", None) or [
        n for n in dir(new) if not n.startswith("_")
        and getattr(getattr(new, n), "__module__", "").startswith("labcore")]
    assert public, f"labcore.{name} exports nothing of its own"
    for n in public:
        assert getattr(old, n) is getattr(new, n), f"analysis.{name}.{n}"


def test_labcore_imports_no_other_package_of_ours():
    """Importing every labcore module loads none of labapp's other packages (nor Qt,
    pyvisa or matplotlib): every layer may import it."""
    code = ("import sys, json, pkgutil, importlib, labcore\n"
            "for m in pkgutil.iter_modules(labcore.__path__):\n"
            "    importlib.import_module('labcore.' + m.name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = {m.split(".")[0] for m in json.loads(out)}
    assert not loaded & {"analysis", "protocols", "drivers", "sim_backend", "labapp",
                         "PyQt6", "pyvisa", "matplotlib", "scipy"}


def test_writer_options_as_dataclasses_or_keywords_store_the_same_run(tmp_path):
    """RunWriter's snapshot and options may be given as RunSnapshot/WriterOptions or,
    as scripts do, as keywords; both store the same attributes."""
    from labcore.runfile import RunSnapshot, RunWriter, WriterOptions, read_run

    cols = {"samples": {"time_s": "f8", "current_A": "f8"}}
    meta, inst, safety = {"device_id": "D1", "operator": "ann"}, {"nplc": 1}, {"v_max": 2.0}
    with RunWriter(tmp_path / "k.h5", "dc-sweep", {"v_set": (1.0, "V")}, cols,
                   metadata=meta, instrument_settings=inst, safety_profile=safety,
                   run_id="r1", chunk_rows=64) as w:
        w.append("samples", {"time_s": [0.0, 1.0], "current_A": [1e-6, 2e-6]})
    with RunWriter(tmp_path / "d.h5", "dc-sweep", {"v_set": (1.0, "V")}, cols,
                   snapshot=RunSnapshot(meta, inst, safety),
                   options=WriterOptions(run_id="r1", chunk_rows=64)) as w:
        w.append("samples", {"time_s": [0.0, 1.0], "current_A": [1e-6, 2e-6]})
    a, b = read_run(tmp_path / "k.h5"), read_run(tmp_path / "d.h5")
    assert a.run_id == b.run_id == "r1"
    assert (a.parameters, a.instrument, a.safety) == (b.parameters, b.instrument, b.safety)
    assert a.instrument == {"nplc": 1} and a.safety == {"v_max": 2.0}
    assert a.attrs["device_id"] == b.attrs["device_id"] == "D1"
    with pytest.raises(TypeError, match="flush_every"):
        RunWriter(tmp_path / "x.h5", "dc-sweep", {}, cols, flush_every=1.0)
    assert not (tmp_path / "x.h5").exists()
