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
