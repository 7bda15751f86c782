"""Reading run files: listing runs and loading one, never hanging on a damaged file.

Readers open with SWMR so that a file being written reads up to its last flush; a live
writer (:mod:`labcore.runlock`) gets :data:`LIVE_SETTLE_S` to flush its start. A file
shorter than its superblock records is refused before HDF5 sees it
(:mod:`labcore.superblock`), damaged structures raise one :class:`RunFileError` naming
the file, and one damaged run does not hide the others in a listing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from labcore import nexus
from labcore.h5files import RunFileError, check_regular, open_for_reading
from labcore.runlock import live_writer
from labcore.schema import DAMAGE, check_schema, decode, one_line
from labcore.superblock import recorded_end


@dataclass
class RunInfo:
    """Summary of one run for listings (``labapp info``, the GUI browser)."""

    run_id: str
    protocol: str
    status: str
    complete: bool
    start_utc: str
    end_utc: str
    rows: dict[str, int]
    attrs: dict[str, Any] = field(default_factory=dict)
    #: what is damaged when the run's structures cannot be read ("" for a sound run)
    damage: str = ""
    #: a live writer is adding to this run now (see :func:`labcore.runlock.live_writer`)
    live: bool = False

    @property
    def effective_status(self) -> str:
        """``damaged``, ``running`` (live writer), ``incomplete`` for a run whose writer
        died without closing it, else the stored status."""
        if self.damage:
            return "damaged"
        if self.live and not self.complete:
            return "running"
        return self.status if self.complete else "incomplete"


@dataclass
class RunData:
    """Everything stored for one run, loaded into memory."""

    path: Path
    run_id: str
    protocol: str
    status: str
    attrs: dict[str, Any]
    parameters: dict[str, dict[str, Any]]
    instrument: dict[str, Any]
    safety: dict[str, Any]
    streams: dict[str, dict[str, np.ndarray]]
    units: dict[str, dict[str, str]]
    waveforms: dict[str, np.ndarray]

    def param(self, name: str) -> Any:
        """Value of a protocol parameter (without its unit)."""
        return self.parameters[name]["value"]

    @property
    def samples(self) -> dict[str, np.ndarray]:
        """The ``samples`` stream (the main table of most protocols)."""
        return self.streams["samples"]



def _attrs(obj: h5py.Group) -> dict[str, Any]:
    """Decoded attributes of a group without the NeXus ones (``NX_class``, ``default``),
    which describe the file's structure, not the run."""
    return {k: decode(v) for k, v in obj.attrs.items() if k not in nexus.GROUP_ATTRS}


def _check_not_truncated(p: Path) -> None:
    """Refuse a file shorter than the end-of-file address its superblock records.

    Opening with ``swmr=True`` (needed to read a file that is being written) skips HDF5's
    own EOF check, and a truncated file then hangs or crashes inside the library, where
    Python cannot interrupt it (:mod:`labcore.superblock` reads the address).
    """
    ends = recorded_end(p)
    if ends is not None and ends[1] < ends[0]:
        raise RunFileError(
            f"{p}: truncated run file ({ends[1]} bytes on disk, the file records {ends[0]}); "
            "'labapp info --repair' sets its end to the bytes on disk so that what was "
            "written before can be read")


#: how long a reader waits for a live writer's first flush before calling it truncated
LIVE_SETTLE_S = 2.0

@contextmanager
def file_errors(p: Path) -> Iterator[None]:
    """Turn errors from damaged HDF5 structures into one RunFileError naming the file."""
    try:
        yield
    except RunFileError:
        raise
    except DAMAGE as exc:
        raise RunFileError(f"{p}: damaged or corrupt run file ({one_line(exc)})") from exc


def open_settled(p: Path, live: bool) -> h5py.File:
    """Open a run file read-only (SWMR), giving a ``live`` writer up to
    :data:`LIVE_SETTLE_S` to flush its start and to leave the HDF5 file lock it holds
    while it creates a run (before SWMR mode). Truncation and unreadable files raise
    :class:`RunFileError`."""
    t_end = time.monotonic() + (LIVE_SETTLE_S if live else 0.0)
    while True:  # a live writer may not have flushed its start yet: let it settle
        try:
            _check_not_truncated(p)
            f = open_for_reading(p, live=live)
            break
        except RunFileError:
            if time.monotonic() >= t_end:
                raise
        except BlockingIOError as exc:
            # HDF5's file lock: the writer is still creating its run (before SWMR mode)
            if time.monotonic() >= t_end:
                raise RunFileError(f"{p}: not a readable HDF5 file ({one_line(exc)})"
                                   ) from exc
        except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, ...
            raise RunFileError(f"{p}: not a readable HDF5 file ({one_line(exc)})") from exc
        time.sleep(0.05)
    return f


def open_run_file(path: str | Path, live: bool | None = None) -> h5py.File:
    """Open for reading: regular, non-empty, not truncated, never an endless retry.

    ``live`` (default: ask the writer lock) allows a few metadata re-reads for a file
    being written; without a live writer a bad checksum is damage, reported at once.
    """
    p = Path(path)
    check_regular(p)
    if live is None:
        live = live_writer(p) is not None
    f = open_settled(p, live)
    try:
        check_schema(f, p)
        runs = f.get("runs")
        if runs is None and not live:  # the writer creates it with the file
            raise RunFileError(f"{p}: damaged run file (no 'runs' group)")
        if runs is not None and not isinstance(runs, h5py.Group):
            raise RunFileError(f"{p}: damaged run file ('runs' is a "
                               f"{type(runs).__name__.lower()}, not a group)")
    except BaseException:
        f.close()
        raise
    return f


def _run_info(run_id: str, g: h5py.Group) -> RunInfo:
    attrs = _attrs(g)
    rows = {s: int(next(iter(grp.values())).shape[0]) if len(grp) else 0
            for s, grp in g["data"].items()}
    return RunInfo(
        run_id=run_id,
        protocol=str(attrs.get("protocol", "")),
        status=str(attrs.get("status", "")),
        complete=bool(attrs.get("complete", False)),
        start_utc=str(attrs.get("start_utc", "")),
        end_utc=str(attrs.get("end_utc", "")),
        rows=rows,
        attrs=attrs,
    )


def list_runs(path: str | Path) -> list[RunInfo]:
    """All runs in a file, oldest first.

    A run whose structures cannot be read is listed with ``damage`` set (status
    ``damaged``) instead of failing the whole listing; the run a live writer is adding
    to is marked ``live``.
    """
    p = Path(path)
    holder = live_writer(p)
    with file_errors(p), open_run_file(p, live=holder is not None) as f:
        runs = f.get("runs", {})
        out = []
        for run_id in list(runs):
            try:
                info = _run_info(run_id, runs[run_id])
            except DAMAGE as exc:
                info = RunInfo(run_id, "", "damaged", False, "", "", {},
                               damage=one_line(exc))
            info.live = bool(holder) and holder.get("run_id") == run_id
            out.append(info)
    out.sort(key=lambda r: r.start_utc)
    return out


def _placeholder(ds: h5py.Dataset) -> np.ndarray:
    """An array of the dataset's shape and dtype that holds no data (zero strides)."""
    return np.broadcast_to(np.zeros((), dtype=ds.dtype), ds.shape)


def _start_of(g: Any) -> str:
    try:
        return str(decode(g.attrs.get("start_utc", "")))
    except DAMAGE:
        return ""


def read_run(path: str | Path, run_id: str | None = None, *, data: bool = True) -> RunData:
    """Load one run (the last one when ``run_id`` is None).

    ``data=False`` reads no values: every column and waveform is a read-only placeholder
    of its stored shape and dtype (NaN or zero, no memory), for listings of large files.

    A run cut off by a crash loads with equal-length columns trimmed to the shortest
    column, so that a partially flushed row never misaligns the table.
    """
    p = Path(path)
    with file_errors(p), open_run_file(p) as f:
        runs = f.get("runs")
        if runs is None or len(runs) == 0:
            raise RunFileError(f"{p}: file holds no runs")
        if run_id is None:
            run_id = max(runs, key=lambda r: _start_of(runs[r]))
        if run_id not in runs:
            raise RunFileError(f"{p}: no run {run_id!r}; runs: {sorted(runs)}")
        try:
            return _load_run(p, run_id, runs[run_id], data)
        except DAMAGE as exc:
            raise RunFileError(f"{p}: run {run_id} is damaged ({one_line(exc)})") from exc


def _load_run(p: Path, run_id: str, g: h5py.Group, data: bool) -> RunData:
    attrs = _attrs(g)
    streams: dict[str, dict[str, np.ndarray]] = {}
    units: dict[str, dict[str, str]] = {}
    for s, grp in g["data"].items():
        cols = {c: ds[()] if data else _placeholder(ds) for c, ds in grp.items()}
        n = min((len(a) for a in cols.values()), default=0)
        streams[s] = {c: a[:n] for c, a in cols.items()}
        units[s] = {c: str(decode(ds.attrs.get("units", ""))) for c, ds in grp.items()}
    waveforms = {w: ds[()] if data else _placeholder(ds)
                 for w, ds in g.get("waveforms", {}).items()}
    status = str(attrs.get("status", ""))
    if not attrs.get("complete", False):
        status = "incomplete"
    return RunData(
        path=p,
        run_id=run_id,
        protocol=str(attrs.get("protocol", "")),
        status=status,
        attrs=attrs,
        parameters=_attrs(g["parameters"]),
        instrument=_attrs(g["instrument"]),
        safety=_attrs(g["safety"]),
        streams=streams,
        units=units,
        waveforms=waveforms,
    )

