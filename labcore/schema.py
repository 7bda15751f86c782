"""The run-file schema's names and its attribute encoding, shared by writer and reader.

What every piece of :mod:`labcore.runfile` agrees on: the schema name and version, the
run statuses, the standard columns' units, the room a writer keeps free, and how an
attribute is stored (text as fixed-length UTF-8, other values as JSON) and read back.
The layout itself is described in :mod:`labcore.runfile` and ``docs/file-format.md``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from labcore.h5files import RunFileError

SCHEMA_NAME = "labapp-run"
SCHEMA_VERSION = 2

#: Run status values. ``running`` in a closed file means the writer died.
STATUSES = ("running", "completed", "stopped", "aborted", "failed", "incomplete")

#: Units of the standard columns; other columns declare theirs when the stream is made.
STANDARD_UNITS: dict[str, str] = {
    "time_s": "s",
    "voltage_V": "V",
    "current_A": "A",
    "conductance_G0": "G0",
    "v_program_V": "V",
    "cycle": "",
    "segment": "",
    "compliance": "",
    "pulse_index": "",
    "n_true": "",
    "partial_true": "",
    "g_true_G0": "G0",
}


#: Bytes kept free for closing a run (final status attributes) after a refused write.
CLOSE_RESERVE = 256 * 1024
#: Allowance for HDF5 metadata (chunk index, object headers) per flush.
FLUSH_METADATA = 64 * 1024
#: Allowance for creating one run's groups and empty datasets, per dataset.
CREATE_PER_DATASET = 8 * 1024

#: what h5py raises on damaged structures
DAMAGE = (OSError, KeyError, RuntimeError, ValueError, TypeError, AttributeError)


def utc_now() -> str:
    """Current UTC time in ISO 8601 with a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def one_line(exc: BaseException) -> str:
    """An exception as one line (HDF5 messages span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def fixed_text(value: str) -> np.ndarray:
    """A string as a fixed-length UTF-8 HDF5 string.

    Why not h5py's default (variable length): variable-length strings live in the file's
    global heap, which carries no checksum, and HDF5 can loop forever on a damaged heap
    collection (one flipped byte hung every reader). A fixed-length string is stored in
    its attribute message, inside the checksummed object header, so damage is detected.
    Readers get ``bytes``; :func:`decode` turns them back into text.
    """
    raw = value.encode()
    return np.array(raw, dtype=h5py.string_dtype("utf-8", max(1, len(raw))))


def set_attr(attrs: h5py.AttributeManager, key: str, value: Any) -> None:
    """Write one attribute the run-file way: text as fixed-length UTF-8 (see
    :func:`fixed_text`), other values as they are. Every writer of run-file attributes
    goes through here."""
    attrs[key] = fixed_text(value) if isinstance(value, str) else value


def json_attr(value: Any) -> str:
    """A value as the JSON text of a run-file attribute (numpy values as plain ones)."""
    return json.dumps(value, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a run file attribute")


def decode(value: Any) -> Any:
    """An attribute as stored back to Python: text, JSON decoded where it is JSON."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_schema(f: h5py.File, path: Path) -> None:
    """Refuse a file that is not a labapp run file of a version this labapp reads."""
    if decode(f.attrs.get("schema")) != SCHEMA_NAME:
        raise RunFileError(f"{path}: not a labapp run file (no '{SCHEMA_NAME}' schema attribute)")
    version = int(f.attrs.get("schema_version", -1))
    if version > SCHEMA_VERSION:
        raise RunFileError(
            f"{path}: schema version {version} is newer than this labapp reads "
            f"(<= {SCHEMA_VERSION}); upgrade labapp"
        )
