"""One writer per run file: a lock beside the file that dies with its holder.

A run file has at most one writer at a time (a run, a CSV import, a repair). The writer
holds an exclusive lock on ``<file>.lock`` for as long as it writes and records in it who
it is (pid, host, run id, command, since when). Why a separate lock file and not HDF5's
own locking: HDF5 drops its file lock once a writer enters SWMR mode (so that readers can
open the file), and its "open for write" superblock flag stays set after a killed writer,
so neither tells a live writer from a crashed one. The kernel releases our lock when the
holder dies by any means (SIGKILL included), so:

- a lock file that is locked means a live writer: other writers refuse, naming it, and
  readers open the file in SWMR mode to follow it;
- a lock file that is not locked (or absent) means no writer: a run still marked
  running was cut off, and the file may be repaired or appended to.

The lock is an open-file-description lock (Linux ``F_OFD_SETLK``), so two writers in one
process exclude each other too and a reader can test it (``F_OFD_GETLK``) without taking
it; other platforms fall back to ``flock``. Release unlinks the lock file while still
holding it; an acquirer re-checks that the path still names the inode it locked.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labcore.h5files import RunFileError

#: struct flock on Linux: l_type, l_whence, (pad), l_start, l_len, l_pid, (pad)
_FLOCK = "hhxxxxqqixxxx"
_OFD = hasattr(fcntl, "F_OFD_SETLK")


class FileBusyError(RunFileError):
    """Another live writer holds the run file; the message names the file and the holder."""


def lock_path(path: str | Path) -> Path:
    """The lock file of a run file: ``day.h5`` -> ``day.h5.lock`` beside it."""
    p = Path(path)
    return p.with_name(p.name + ".lock")


def _ofd(fd: int, cmd: int, ltype: int) -> int:
    """One fcntl OFD-lock call on the whole file; returns the lock type it reports."""
    res = fcntl.fcntl(fd, cmd, struct.pack(_FLOCK, ltype, os.SEEK_SET, 0, 0, 0))
    return struct.unpack(_FLOCK, res)[0]


def _try_lock(fd: int) -> bool:
    try:
        if _OFD:
            _ofd(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK)
        else:  # pragma: no cover - non-Linux
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True


def _is_locked(fd: int) -> bool:
    if _OFD:
        return _ofd(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK) != fcntl.F_UNLCK
    try:  # pragma: no cover - non-Linux: a shared probe, released at once
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)  # pragma: no cover
    return False  # pragma: no cover


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0)
        holder = json.loads(raw.decode() or "{}")
    except (OSError, ValueError):
        holder = {}
    return holder if isinstance(holder, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host lab-pc, run 2026..-abc (labapp run dc-sweep) since ...``."""
    parts = [f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"]
    if holder.get("run_id"):
        parts.append(f"run {holder['run_id']}")
    text = ", ".join(parts)
    if holder.get("command"):
        text += f" ({holder['command']})"
    if holder.get("since"):
        text += f" since {holder['since']}"
    return text


def live_writer(path: str | Path) -> dict[str, Any] | None:
    """Who is writing ``path`` now (pid, host, run_id, command, since), or None.

    Never creates or locks anything, so it is safe for readers.
    """
    try:
        fd = os.open(lock_path(path), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_holder(fd) if _is_locked(fd) else None
    finally:
        os.close(fd)


@dataclass
class WriterLock:
    """The exclusive claim on one run file; :meth:`release` (idempotent) ends it."""

    path: Path
    fd: int
    holder: dict[str, Any]

    @classmethod
    def acquire(cls, path: str | Path, command: str = "", run_id: str = "") -> WriterLock:
        """Claim ``path`` for writing or raise :class:`FileBusyError` naming the holder.

        Never blocks: two writers started together get one success and one refusal.
        """
        p = Path(path)
        lp = lock_path(p)
        for _ in range(20):
            try:
                fd = os.open(lp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise RunFileError(f"{p}: cannot create the writer lock {lp} "
                                   f"({exc.strerror})") from exc
            if not _try_lock(fd):
                holder = _read_holder(fd)
                os.close(fd)
                raise FileBusyError(
                    f"{p}: in use by another writer ({describe_holder(holder)}); "
                    "wait for it to finish or write to another file")
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lp))
            except FileNotFoundError:
                same = False
            if same:
                lock = cls(p, fd, {})
                lock.update(command=command, run_id=run_id)
                return lock
            os.close(fd)  # the previous holder removed the file we locked: try again
        raise FileBusyError(f"{p}: lock file {lp} keeps changing; another writer is starting")

    def update(self, **fields: Any) -> None:
        """Record who holds the lock (pid and host are always set)."""
        if self.fd < 0:
            return
        if not self.holder:
            self.holder = {"pid": os.getpid(), "host": socket.gethostname(),
                           "since": datetime.now(UTC).isoformat(timespec="seconds")}
        self.holder.update({k: v for k, v in fields.items() if v})
        data = json.dumps(self.holder).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    @property
    def held(self) -> bool:
        return self.fd >= 0

    def release(self) -> None:
        """Remove the lock file and drop the lock (the file goes first, see module doc)."""
        if self.fd < 0:
            return
        try:
            if os.path.samestat(os.fstat(self.fd), os.stat(self.path_of_lock)):
                os.unlink(self.path_of_lock)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1

    @property
    def path_of_lock(self) -> Path:
        return lock_path(self.path)

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
