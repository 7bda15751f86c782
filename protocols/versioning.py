"""Software version and git commit stored in every run file."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path


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
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5, check=False,
        )
        if out.returncode == 0:
            commit = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"software_version": version, "git_commit": commit}
