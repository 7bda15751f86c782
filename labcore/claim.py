"""Claiming a run file for writing, and repairing one a writer left behind.

Every writer (a run, an import, a repair) claims the file first (:func:`claim`): one
writer per file (:mod:`labcore.runlock`), nothing written into a damaged file, and no
start without room to close the run. A repair marks runs cut off by a crash as closed
(:func:`mark_incomplete`) and, after a failed write, first resets the end of the file
to the bytes on disk (:func:`repair_file`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py

from labcore.h5files import (
    RunFileError,
    RunFileFullError,
    check_regular,
    open_for_reading,
    room_to_grow,
)
from labcore.run_reader import file_errors, list_runs, open_run_file
from labcore.runlock import WriterLock
from labcore.schema import CLOSE_RESERVE, one_line, set_attr, utc_now
from labcore.superblock import recorded_end, reset_end_of_file


def claim(path: str | Path, command: str = "", *, room: int = CLOSE_RESERVE,
          repair: bool = False) -> WriterLock:
    """Claim ``path`` for writing: the first step of every writer (run, import, repair).

    Refuses, leaving the file byte for byte as it was, a path that is not a regular
    non-empty file, an existing file that is not a readable run file of a version this
    labapp writes, a file another live writer holds (:class:`FileBusyError`, naming it)
    and a file that cannot grow by ``room`` bytes (:class:`RunFileFullError`). Call it
    before touching an instrument; pass the lock to :class:`RunWriter`.
    """
    p = Path(path)
    exists = check_regular(p, must_exist=False) is not None
    if not exists:
        p.parent.mkdir(parents=True, exist_ok=True)
    lock = WriterLock.acquire(p, command)
    try:
        if exists and repair:
            ends = recorded_end(p)
            if ends is not None and ends[1] < ends[0] and reset_end_of_file(p):
                lock.update(reset_end=f"{ends[0]} -> {ends[1]}")
        if exists:
            with file_errors(p), open_run_file(p, live=False):
                pass
            for run in list_runs(p):  # never write into damaged structures
                if run.damage and not lock.holder.get("reset_end"):  # what a reset cut off
                    raise RunFileError(f"{p}: run {run.run_id} is damaged ({run.damage}); "
                                       "not writing into a damaged file, use a new file")
        have, limit = room_to_grow(p)
        if room > have:
            raise RunFileFullError(f"{p}: no room to start a run ({limit}; at least "
                                   f"{room} bytes needed)")
    except BaseException:
        lock.release()
        raise
    return lock


def reopen_after_crash(path: Path) -> None:
    """Rewrite a file whose SWMR writer was killed, so it can be opened for writing again.

    A killed SWMR writer leaves the superblock's "open for write" flags set; HDF5 then
    refuses write access (``h5clear -s`` would reset them). Reading still works, so the
    file is copied group by group into a fresh file that replaces it atomically. Only
    called while holding the writer lock (no live writer can be using the file); the
    copy needs the file's size free and is removed if it fails, the original untouched.
    """
    tmp = path.with_name(path.name + ".repair")
    room, limit = room_to_grow(tmp)
    need = path.stat().st_size + CLOSE_RESERVE
    if need > room:
        raise RunFileFullError(f"{path}: no room to rewrite the file after a killed writer "
                               f"({limit}; {need} bytes needed)")
    try:
        with file_errors(path), open_for_reading(path, live=False) as src, \
                h5py.File(tmp, "w", libver="latest") as dst:
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            for name in src:
                link = src.get(name, getlink=True)
                if isinstance(link, h5py.SoftLink):  # a NeXus entry: a link, not a copy
                    dst[name] = h5py.SoftLink(link.path)
                else:
                    src.copy(src[name], dst, name=name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _cut_off_runs(p: Path, run_ids: Sequence[str] | None) -> list[str]:
    return [r.run_id for r in list_runs(p)
            if not r.complete and not r.damage and (run_ids is None or r.run_id in run_ids)]


def mark_incomplete(path: str | Path, run_ids: Sequence[str] | None = None) -> list[str]:
    """Repair: mark runs cut off by a crash as closed with status ``incomplete``.

    Their data up to the last flush stays as it is; afterwards the file is an ordinary
    closed run file that analysis reads without special cases. Returns the repaired ids.
    Refuses a file a live writer holds (:class:`FileBusyError`): its running run is not
    cut off. A file with nothing to repair is not written to.
    """
    return repair_file(path, run_ids)[0]


def repair_file(path: str | Path, run_ids: Sequence[str] | None = None
                ) -> tuple[list[str], str]:
    """:func:`mark_incomplete`, first resetting the end of a file cut short by a failed
    write (:func:`labcore.superblock.reset_end_of_file`: structures written before the
    failure read again; those that pointed past the end show as damaged).

    Returns the repaired run ids and a note of the reset ("" if none was needed).
    """
    p = Path(path)
    with claim(p, "labapp info --repair", room=0, repair=True) as lock:
        note = ""
        if lock.holder.get("reset_end"):
            old, new = lock.holder["reset_end"].split(" -> ")
            note = (f"{p}: the file recorded {old} bytes but holds {new}; its end was reset "
                    "to the bytes on disk")
        todo = _cut_off_runs(p, run_ids)
        if not todo:
            return [], note
        try:
            f = h5py.File(p, "r+", libver="latest")
        except OSError as exc:
            if "already open for write" not in str(exc):
                raise RunFileError(f"{p}: cannot open for writing ({one_line(exc)})") from exc
            reopen_after_crash(p)
            f = h5py.File(p, "r+", libver="latest")
        with file_errors(p), f:
            for rid in todo:
                g = f["runs"][rid]
                set_attr(g.attrs, "status", "incomplete")
                set_attr(g.attrs, "reason", "writer stopped without closing the run (repaired)")
                set_attr(g.attrs, "complete", True)
                if not g.attrs.get("end_utc"):
                    set_attr(g.attrs, "end_utc", utc_now())
    return todo, note

