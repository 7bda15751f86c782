"""NeXus attributes of run files, so standard viewers (silx, h5web, nexusformat, NOMAD)
find and plot a run without labapp.

Rules followed (NeXus manual, "Design" and the NXroot/NXentry/NXdata base classes; the
``default``/``signal``/``axes`` attributes as in NIAC 2014):

* the root is ``NXroot``; its ``default`` names the newest run's entry;
* every run is an ``NXentry`` directly under the root: ``/<entry>`` is a soft link to the
  run's group ``/runs/<run_id>`` (labapp's own path stays as it was; ``/runs`` is an
  ``NXcollection``). Entry names follow the NeXus name rule ``[A-Za-z0-9_.]`` (the run
  id with ``-`` as ``_``, prefixed ``run_``);
* the entry's ``default`` names ``plot``, an ``NXdata`` whose ``signal`` is ``G/G0`` and
  whose ``axes`` is the voltage for sweeps, the pulse number for pulse trains, the time
  since programming for retention and the time otherwise. Its datasets are hard links to
  the stream's columns carrying ``target`` (the NeXus link convention), so no data is
  stored twice;
* every stream ``data/<stream>`` is itself an ``NXdata`` (``data`` an ``NXcollection``);
* ``instrument`` is ``NXinstrument``, ``parameters``, ``safety`` and ``waveforms`` are
  ``NXcollection``, and ``sample`` (``NXsample``), ``user`` (``NXuser``) and ``notes``
  (``NXnote``) hold the run's sample, operator and notes as NeXus fields;
* every column has ``units``; ``long_name`` gives viewers an axis label.

:func:`default_plot` resolves the chain with plain h5py, as a viewer does, and
:func:`check_nexus` is what ``labapp validate`` checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import h5py
import numpy as np

from labcore.problem import Problem
from labcore.schema import fixed_text, set_attr

#: schema version from which runs carry NeXus attributes (older runs are read as before)
NEXUS_SINCE = 2

#: attributes this module adds to labapp's own groups (readers leave them out)
GROUP_ATTRS = ("NX_class", "default")

#: axis labels for viewers
LONG_NAMES = {
    "conductance_G0": "G/G0 (G0 = 2e^2/h)", "voltage_V": "V (V)", "current_A": "I (A)",
    "time_s": "t (s)", "elapsed_s": "time since programming (s)",
    "pulse_index": "pulse number", "cycle": "cycle", "g_set_G0": "G after SET / G0",
    "g_reset_G0": "G after RESET / G0",
}

#: signal columns, in order of preference
_SIGNALS = ("conductance_G0", "g_set_G0", "current_A", "v_set_V", "peak_current_A")


def entry_name(run_id: str) -> str:
    """The NeXus entry name of a run: ``run_`` + the id with other characters as ``_``."""
    return "run_" + re.sub(r"[^A-Za-z0-9_.]", "_", run_id)


def choose_plot(protocol: str, columns: Iterable[str]) -> tuple[str | None, str | None]:
    """(signal, axis) column names for a stream of ``protocol`` (None when nothing fits).

    G/G0 against V for sweeps, against the pulse number for pulse trains, against the
    time since programming for retention, against time otherwise.
    """
    cols = list(columns)
    signal = next((c for c in _SIGNALS if c in cols), None)
    if signal is None:
        signal = next((c for c in cols if c not in ("time_s",)), None)
    if protocol == "dc-sweep" or "segment" in cols:
        order = ("voltage_V", "cycle", "time_s")
    elif protocol == "retention" or "elapsed_s" in cols:
        order = ("elapsed_s", "time_s")
    else:
        order = ("pulse_index", "cycle", "elapsed_s", "time_s")
    axis = next((c for c in order if c in cols and c != signal), None)
    return signal, axis


def _set_nxdata(grp: h5py.Group, signal: str | None, axis: str | None) -> None:
    _set(grp.attrs, "NX_class", "NXdata")
    if signal is None:
        return
    _set(grp.attrs, "signal", signal)
    if axis is not None:
        raw = axis.encode()
        grp.attrs["axes"] = np.array([raw], dtype=h5py.string_dtype("utf-8", len(raw)))
        grp.attrs[f"{axis}_indices"] = np.int32(0)


def _set(attrs: h5py.AttributeManager, key: str, value: str) -> None:
    """Text attributes the run-file way (fixed-length UTF-8: :func:`labcore.schema.set_attr`)."""
    set_attr(attrs, key, str(value))


def _text(g: h5py.Group, name: str, value: str) -> None:
    """A NeXus text field, fixed-length UTF-8 like the run file's text attributes."""
    g.create_dataset(name, data=fixed_text(str(value)))


def annotate_root(f: h5py.File, run_id: str) -> None:
    """NXroot attributes and the new run's entry link, written when the file is opened
    for the run and before the run's group exists: in a new file they then sit in the
    root's first object header, at the start of the file (damage further in hits a
    run, not the listing). Only ``NX_class`` and ``default``: the program that wrote
    an entry is its ``program_name``."""
    _set(f.attrs, "NX_class", "NXroot")
    link = entry_name(run_id)
    if f.get(link, getlink=True) is None:
        f[link] = h5py.SoftLink(f"/runs/{run_id}")
    _set(f.attrs, "default", link)
    runs = f.require_group("runs")
    if "NX_class" not in runs.attrs:
        _set(runs.attrs, "NX_class", "NXcollection")


def annotate_run(f: h5py.File, g: h5py.Group, protocol: str,
                 metadata: Mapping[str, Any]) -> None:
    """Make a new run group an NXentry (call before SWMR mode: it creates objects).

    Expects the run's ``parameters``, ``instrument``, ``safety``, ``data`` and
    ``waveforms`` groups to exist with their datasets.
    """
    _set(g.attrs, "NX_class", "NXentry")
    _text(g, "title", f"{protocol} {g.name.rsplit('/', 1)[-1]}")
    _text(g, "start_time", _attr_str(g.attrs.get("start_utc", "")))
    _text(g, "program_name", "labapp")
    _set(g["program_name"].attrs, "version", _attr_str(metadata.get("software_version", "")))
    for name, cls in (("parameters", "NXcollection"), ("safety", "NXcollection"),
                      ("instrument", "NXinstrument"), ("data", "NXcollection"),
                      ("waveforms", "NXcollection")):
        if name in g:
            _set(g[name].attrs, "NX_class", cls)
    ig = g["instrument"]
    _text(ig, "name", _attr_str(metadata.get("instrument_idn", "")) or "Keithley 4200A-SCS")
    sample = g.create_group("sample")
    _set(sample.attrs, "NX_class", "NXsample")
    _text(sample, "name", _attr_str(metadata.get("sample", "")))
    _text(sample, "device_id", _attr_str(metadata.get("device_id", "")))
    user = g.create_group("user")
    _set(user.attrs, "NX_class", "NXuser")
    _text(user, "name", _attr_str(metadata.get("operator", "")))
    note = g.create_group("notes")
    _set(note.attrs, "NX_class", "NXnote")
    _text(note, "type", "text/plain")
    _text(note, "data", _attr_str(metadata.get("notes", "")))
    main = None
    for stream, sg in g["data"].items():
        signal, axis = choose_plot(protocol, sg)
        _set_nxdata(sg, signal, axis)
        for col, ds in sg.items():
            if col in LONG_NAMES:
                _set(ds.attrs, "long_name", LONG_NAMES[col])
        if signal is not None and (main is None or stream == "samples"):
            main = (sg, signal, axis)
    if main is not None:
        sg, signal, axis = main
        plot = g.create_group("plot")
        for col in (signal, axis):
            if col is not None:
                plot[col] = sg[col]  # hard link: the same dataset, no copy
                _set(sg[col].attrs, "target", sg[col].name)
        _set_nxdata(plot, signal, axis)
        _set(g.attrs, "default", "plot")


def finish_run(g: h5py.Group, end_utc: str) -> None:
    """At close: the entry's ``end_time`` (NXentry field)."""
    if int(g.attrs.get("schema_version", 1)) >= NEXUS_SINCE and "end_time" not in g:
        _text(g, "end_time", end_utc)


def _attr_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _axes(grp: h5py.Group) -> list[str]:
    axes = grp.attrs.get("axes")
    if axes is None:
        return []
    if isinstance(axes, str | bytes):
        return [a.strip() for a in _attr_str(axes).split(":")]
    return [_attr_str(a) for a in np.atleast_1d(axes)]


def default_plot(f: h5py.File) -> dict[str, Any]:
    """Follow ``default`` from the root to an NXdata the way a NeXus viewer does.

    Returns ``{"entry", "nxdata", "signal", "signal_units", "axes": [(path, units)],
    "length"}``; raises ``KeyError``/``ValueError`` naming the broken link.
    """
    entry_name_ = _attr_str(f.attrs["default"])
    entry = f[entry_name_]
    if _attr_str(entry.attrs.get("NX_class")) != "NXentry":
        raise ValueError(f"/{entry_name_} is not an NXentry")
    data_name = _attr_str(entry.attrs["default"])
    data = entry[data_name]
    if _attr_str(data.attrs.get("NX_class")) != "NXdata":
        raise ValueError(f"{data.name} is not an NXdata")
    signal = data[_attr_str(data.attrs["signal"])]
    axes = []
    for a in _axes(data):
        if a in ("", "."):
            continue
        ds = data[a]
        if ds.shape[0] != signal.shape[0]:
            raise ValueError(f"{data.name}: axis {a} has {ds.shape[0]} points, signal "
                             f"{signal.shape[0]}")
        axes.append((ds.name, _attr_str(ds.attrs.get("units", ""))))
    return {"entry": f"/{entry_name_}", "nxdata": f"/{entry_name_}/{data_name}",
            "signal": signal.name, "signal_units": _attr_str(signal.attrs.get("units", "")),
            "axes": axes, "length": int(signal.shape[0])}


def check_nexus(f: h5py.File, run_ids: list[str] | None = None) -> list[Any]:
    """NeXus problems of a file (runs of schema version >= NEXUS_SINCE only)."""
    out: list[Problem] = []
    runs = f["runs"]
    v2 = [r for r in runs if int(runs[r].attrs.get("schema_version", 1)) >= NEXUS_SINCE]
    if not v2:
        return out  # a version-1 file: no NeXus attributes expected
    if _attr_str(f.attrs.get("NX_class", "")) != "NXroot":
        out.append(Problem("nexus", "/", "NX_class of the root is not NXroot"))
    default = _attr_str(f.attrs.get("default", ""))
    if not default or default not in f:
        out.append(Problem("nexus", "/", f"default {default!r} names no entry"))
    for rid in v2:
        if run_ids is None or rid in run_ids:
            out += _check_entry(f, rid, runs[rid])
    return out


def _check_entry(f: h5py.File, rid: str, g: h5py.Group) -> list[Problem]:
    """NeXus problems of one run: its entry link, ``NX_class``, ``default`` and NXdata."""
    out: list[Problem] = []
    where = g.name
    link = entry_name(rid)
    lk = f.get(link, getlink=True)
    if not isinstance(lk, h5py.SoftLink) or lk.path != g.name:
        out.append(Problem("nexus", where, f"entry link /{link} missing or not to "
                           f"{g.name}"))
    if _attr_str(g.attrs.get("NX_class", "")) != "NXentry":
        out.append(Problem("nexus", where, "NX_class is not NXentry"))
    incomplete = not bool(g.attrs.get("complete", False))
    groups = [sg for sg in g.get("data", {}).values() if isinstance(sg, h5py.Group)]
    if "plot" in g:
        groups.append(g["plot"])
    dflt = _attr_str(g.attrs.get("default", ""))
    if dflt and (dflt not in g or _attr_str(g[dflt].attrs.get("NX_class")) != "NXdata"):
        out.append(Problem("nexus", where, f"default {dflt!r} names no NXdata"))
    for grp in groups:
        out += _check_nxdata(grp, incomplete)
    return out


def _check_nxdata(grp: h5py.Group, incomplete: bool) -> list[Any]:
    out: list[Problem] = []
    if "signal" not in grp.attrs:
        return out
    sig = _attr_str(grp.attrs["signal"])
    if not isinstance(grp.get(sig), h5py.Dataset):
        return [Problem("nexus", grp.name, f"signal {sig!r} names no dataset")]
    n = grp[sig].shape[0]
    for a in _axes(grp):
        if a in ("", "."):
            continue
        ds = grp.get(a)
        if not isinstance(ds, h5py.Dataset):
            out.append(Problem("nexus", grp.name, f"axis {a!r} names no dataset"))
        elif ds.shape[0] != n and not incomplete:
            out.append(Problem("nexus", grp.name, f"axis {a!r} has {ds.shape[0]} points, "
                               f"signal {sig!r} {n}"))
    for ds in grp.values():
        target = ds.attrs.get("target") if isinstance(ds, h5py.Dataset) else None
        if target is not None:
            t = grp.file.get(_attr_str(target))
            if t is None or t.id != ds.id:
                out.append(Problem("nexus", ds.name, f"link target {_attr_str(target)!r} "
                                   "is not this dataset"))
    return out
