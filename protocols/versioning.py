"""Software provenance stored in every run file: versions, Python, git commit and state.

A reviewer asks which code made a run: labapp's version and git commit (and whether the
source tree had uncommitted changes: ``git_dirty``), the Python version and the versions
of the packages between labapp and the instrument or the file (numpy, scipy, h5py,
pyvisa, pyvisa-py, pymeasure, Qt). Listed in ``docs/file-format.md``.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

#: distributions whose versions every run records (PyQt6-Qt6 is the Qt library itself)
PACKAGES = ("numpy", "scipy", "h5py", "pyvisa", "pyvisa-py", "pymeasure", "PyQt6",
            "PyQt6-Qt6", "pyqtgraph", "matplotlib")

_HERE = Path(__file__).resolve().parent


@functools.cache
def software_version() -> dict[str, str]:
    """``{"software_version": ..., "git_commit": ...}`` (commit empty outside a checkout)."""
    try:
        version = metadata.version("labapp")
    except metadata.PackageNotFoundError:
        version = "unknown"
    commit = ""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_HERE,
            capture_output=True, text=True, timeout=5, check=False,
        )
        if out.returncode == 0:
            commit = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"software_version": version, "git_commit": commit}


def git_dirty() -> bool | None:
    """True when tracked files differ from the commit (None outside a git checkout).

    Asked per run, not cached: a long GUI session may outlive an edit.
    """
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=_HERE,
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip()) if out.returncode == 0 else None


@functools.cache
def package_versions() -> dict[str, str]:
    """``{distribution: version}`` of :data:`PACKAGES` ("" when not installed)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = ""
    return out


def environment() -> dict[str, Any]:
    """Run attributes: ``python_version``, ``platform``, ``package_versions``, ``git_dirty``."""
    import h5py

    return {"python_version": platform.python_version(), "platform": platform.platform(),
            "package_versions": {**package_versions(),
                                 "hdf5": h5py.version.hdf5_version},
            "git_dirty": git_dirty()}
