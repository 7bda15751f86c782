"""Check a run file against the schema and say what is wrong: ``labapp validate FILE``.

The schema itself is defined by :mod:`labcore.runfile` (and described in
``docs/file-format.md``); this module only reads. Each problem has a *kind* (the
``code``), an HDF5 path and one line of text, and is an ``error`` (the file or run
cannot be trusted) or a ``warning`` (usable, but the reader should know: a run cut off
by a crash). ``labapp info``, ``analyze`` and ``analyze-batch`` run the same checks on
open (:func:`check_on_open`), so a damaged run is named the same way everywhere.

Kinds of damage (``code``):

==================  ======================================================================
``unreadable``      missing file, not HDF5, or an HDF5 structure that cannot be read
``truncated``       file shorter than its superblock says (cut off while copied/written)
``schema``          no ``schema = "labapp-run"`` on the root
``schema-version``  ``schema_version`` missing, not an integer, or newer than this labapp
``no-runs``         no ``/runs`` group or no run in it
``run-attrs``       a required run attribute missing or of the wrong type
``status``          status not one of :data:`~labcore.schema.STATUSES`, or a closed run
                    still ``running``
``groups``          ``parameters``, ``instrument``, ``safety`` or ``data`` missing
``parameters``      a parameter not stored as JSON ``{"value": ..., "unit": ...}``
``units``           a column or waveform without ``units``, or a standard column whose
                    units differ from :data:`~labcore.schema.STANDARD_UNITS`
``shape``           a column not 1-D numeric, a waveform not 2-D numeric
``lengths``         columns of one stream (or waveforms of one run) of unequal length
``time``            ``time_s`` not finite or decreasing
``incomplete``      (warning) a run whose writer never closed it
``nexus``           a NeXus attribute (``NX_class``, ``default``, ``signal``, ``axes``) that
                    names nothing, or an ``NXdata`` whose axes do not match its signal
==================  ======================================================================
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from labcore.h5files import RunFileError, check_regular
from labcore.nexus import check_nexus
from labcore.problem import Problem
from labcore.run_reader import open_settled
from labcore.runlock import live_writer
from labcore.schema import SCHEMA_NAME, SCHEMA_VERSION, STANDARD_UNITS, STATUSES

#: run attributes every run has, with the Python types they decode to
REQUIRED_RUN_ATTRS: dict[str, tuple[type, ...]] = {
    "protocol": (str,), "status": (str,), "complete": (bool, np.bool_),
    "start_utc": (str,), "end_utc": (str,), "g0_S": (float, np.floating),
}
REQUIRED_GROUPS = ("parameters", "instrument", "safety", "data")

#: rows of ``time_s`` read at once (bounds memory on 10^8-row streams)
_BLOCK = 1 << 20


def _str(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def validate_file(path: str | Path, run_ids: list[str] | None = None) -> list[Problem]:
    """Every problem of the file (or of the file's root and the runs ``run_ids``)."""
    p = Path(path)
    try:
        check_regular(p)
        live = live_writer(p) is not None
        f = open_settled(p, live)
    except RunFileError as exc:
        kind = "truncated" if "truncated run file" in str(exc) else "unreadable"
        return [Problem(kind, "", str(exc))]
    try:
        with f:
            return _check_file(f, run_ids)
    except Exception as exc:  # noqa: BLE001 - h5py raises many types on damaged structures
        return [Problem("unreadable", "", f"{p}: damaged HDF5 structure ({exc})")]


def _check_file(f: h5py.File, run_ids: list[str] | None) -> list[Problem]:
    out: list[Problem] = []
    schema = _str(f.attrs.get("schema"))
    if schema != SCHEMA_NAME:
        return [Problem("schema", "/", f"not a labapp run file (schema attribute is "
                        f"{schema!r}, expected {SCHEMA_NAME!r})")]
    version = f.attrs.get("schema_version")
    try:
        v = int(version)
        if v != version:
            raise ValueError
    except (TypeError, ValueError):
        return [Problem("schema-version", "/", f"schema_version {version!r} is not an "
                        "integer")]
    if v > SCHEMA_VERSION:
        return [Problem("schema-version", "/", f"schema version {v} is newer than this "
                        f"labapp reads (<= {SCHEMA_VERSION}); upgrade labapp")]
    runs = f.get("runs")
    if not isinstance(runs, h5py.Group) or len(runs) == 0:
        return [Problem("no-runs", "/runs", "file holds no runs")]
    try:
        out += check_nexus(f, run_ids)
    except Exception as exc:  # noqa: BLE001 - a damaged run is reported below
        out.append(Problem("unreadable", "/", f"NeXus structures unreadable ({exc})"))
    for rid in run_ids if run_ids is not None else list(runs):
        try:
            if rid not in runs:
                out.append(Problem("no-runs", f"/runs/{rid}", "no such run"))
                continue
            out += check_run(runs[rid])
        except Exception as exc:  # noqa: BLE001 - one damaged run does not hide the others
            out.append(Problem("unreadable", f"/runs/{rid}", f"damaged run ({exc})"))
    return out


def check_run(g: h5py.Group) -> list[Problem]:
    """Problems of one run group (attributes, groups, parameters, streams, waveforms)."""
    where = g.name
    attrs = {k: _str(g.attrs[k]) for k in g.attrs}
    out = _check_run_attrs(attrs, where)
    complete = attrs.get("complete")
    incomplete = complete is not None and not bool(complete)
    if incomplete:
        out.append(Problem("incomplete", where, "run was not closed (writer still running "
                           "or stopped); 'labapp info --repair' closes it", "warning"))
    for name in REQUIRED_GROUPS:
        if not isinstance(g.get(name), h5py.Group):
            out.append(Problem("groups", where, f"group {name!r} missing"))
    if isinstance(g.get("parameters"), h5py.Group):
        out += _check_parameters(g["parameters"])
    if isinstance(g.get("data"), h5py.Group):
        for stream in g["data"].values():
            if isinstance(stream, h5py.Group):
                out += _check_stream(stream, incomplete)
    wg = g.get("waveforms")
    if isinstance(wg, h5py.Group):
        out += _check_table(wg, 2, incomplete)[0]
    return out


def _check_run_attrs(attrs: dict[str, Any], where: str) -> list[Problem]:
    """The required run attributes and their types, and a status that fits ``complete``."""
    out: list[Problem] = []
    for key, types in REQUIRED_RUN_ATTRS.items():
        if key not in attrs:
            out.append(Problem("run-attrs", where, f"attribute {key!r} missing"))
        elif not isinstance(attrs[key], types):
            out.append(Problem("run-attrs", where, f"attribute {key!r} is "
                               f"{type(attrs[key]).__name__}, expected {types[0].__name__}"))
    status, complete = attrs.get("status"), attrs.get("complete")
    if isinstance(status, str) and status not in STATUSES:
        out.append(Problem("status", where, f"status {status!r} is not one of {STATUSES}"))
    elif complete is not None and bool(complete) and status == "running":
        out.append(Problem("status", where, "closed run still has status 'running'"))
    return out


def _check_parameters(pg: h5py.Group) -> list[Problem]:
    out = []
    for name, raw in pg.attrs.items():
        if name == "NX_class":
            continue
        try:
            value = json.loads(_str(raw))
        except (TypeError, ValueError):
            value = None
        if not (isinstance(value, dict) and "value" in value and "unit" in value):
            out.append(Problem("parameters", pg.name, f"parameter {name!r} is not JSON "
                               '{"value": ..., "unit": ...}'))
    return out


def _is_numeric(ds: h5py.Dataset) -> bool:
    return ds.dtype.kind in "biuf"


def _units(ds: h5py.Dataset, name: str) -> list[Problem]:
    if "units" not in ds.attrs:
        return [Problem("units", ds.name, "no 'units' attribute")]
    units = _str(ds.attrs["units"])
    want = STANDARD_UNITS.get(name)
    if want is not None and units != want:
        return [Problem("units", ds.name, f"units {units!r}, the schema says {want!r}")]
    return []


def _check_table(grp: h5py.Group, ndim: int, incomplete: bool
                 ) -> tuple[list[Problem], dict[str, int]]:
    """Shape, units and equal lengths of the datasets of a stream (1-D columns) or of a
    run's waveforms (2-D, pulse x sample); returns the problems and the lengths."""
    kind = "column" if ndim == 1 else "waveform"
    out: list[Problem] = []
    lengths: dict[str, int] = {}
    for name, ds in grp.items():
        if not isinstance(ds, h5py.Dataset):
            continue
        if ds.ndim != ndim or not _is_numeric(ds):
            out.append(Problem("shape", ds.name, f"{ds.ndim}-D {ds.dtype} {kind}, expected "
                               f"{ndim}-D numbers"))
            continue
        lengths[name] = int(ds.shape[0])
        out += _units(ds, name)
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in lengths.items())
        out.append(Problem("lengths", grp.name, f"{kind}s of unequal length ({detail})",
                           "warning" if incomplete else "error"))
    return out, lengths


def _check_stream(sg: h5py.Group, incomplete: bool) -> list[Problem]:
    out, lengths = _check_table(sg, 1, incomplete)
    ts = sg.get("time_s")
    if isinstance(ts, h5py.Dataset) and "time_s" in lengths:
        n = min(lengths.values())  # a cut-off run is read trimmed to its shortest column
        out += _check_time(ts, n)
    return out


def _check_time(ds: h5py.Dataset, n: int) -> list[Problem]:
    prev = -np.inf
    for start in range(0, n, _BLOCK):
        block = np.asarray(ds[start:min(n, start + _BLOCK)], float)
        bad = np.flatnonzero(~np.isfinite(block))
        if bad.size:
            return [Problem("time", ds.name, f"row {start + int(bad[0])} is not finite")]
        steps = np.diff(np.concatenate(([prev], block)))
        back = np.flatnonzero(steps < 0)
        if back.size:
            i = start + int(back[0])
            return [Problem("time", ds.name, f"time goes backwards at row {i} "
                            f"({float(np.concatenate(([prev], block))[back[0]]):.6g} s -> "
                            f"{float(block[back[0]]):.6g} s)")]
        if block.size:
            prev = block[-1]
    return []


def errors(problems: list[Problem]) -> list[Problem]:
    """The problems that make a file or run untrustworthy."""
    return [p for p in problems if p.severity == "error"]


def check_on_open(path: str | Path, run_ids: list[str] | None = None) -> list[Problem]:
    """The checks ``info``/``analyze``/``analyze-batch`` run when they open a run file.

    Raises :class:`RunFileError` with the first error (and how many more there are);
    returns the warnings. ``run_ids`` limits the run checks to the runs being used.
    """
    problems = validate_file(path, run_ids)
    errs = errors(problems)
    if errs:
        more = f" (+{len(errs) - 1} more; 'labapp validate' lists them)" if len(errs) > 1 \
            else ""
        first = str(errs[0]).removeprefix("error ")
        p = str(path)
        raise RunFileError(first + more if first.startswith(p) or p in first
                           else f"{p}: {first}{more}")
    return problems
