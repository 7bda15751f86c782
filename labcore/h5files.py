"""Opening run files safely: refuse what is not a file, never hang on damage, never fill up.

Three hazards of HDF5 files that :mod:`labcore.runfile` guards against through here:

- **Non-regular files.** Opening a named pipe blocks until someone writes to it; a device
  may never end. :func:`check_regular` refuses them from ``stat`` alone, before any open.
- **Endless retries on damage.** A reader in SWMR mode (needed to follow a file that is
  being written) re-reads metadata whose checksum fails, because a concurrent writer may
  have been caught half-way; HDF5's default is 100 attempts with doubling back-off, which
  turns one flipped byte into a hang of many minutes that ignores Ctrl-C. The number of
  attempts is a file-access property (``H5Pset_metadata_read_attempts``) that h5py does
  not expose, so it is set through the HDF5 library h5py itself loaded: one attempt when
  no writer is live (a bad checksum is then damage, reported at once), a few when one is.
- **A full disk inside HDF5.** A write that fails inside the library (disk full, file-size
  limit) can leave the superblock recording an end of file beyond the bytes on disk, and
  the process crashing at exit. :func:`room_to_grow` measures how far the file may grow
  (free space of its file system for this user, ``RLIMIT_FSIZE``) so the writer can stop
  *before* a write that would fail.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import resource
import stat
from collections.abc import Callable
from functools import cache
from pathlib import Path

import h5py
from h5py import h5f, h5p
from h5py._objects import phil


class RunFileError(Exception):
    """A run file cannot be read or written: names the file and what is wrong with it."""


class RunFileFullError(RunFileError):
    """The run file cannot grow (disk full or file-size limit); nothing was written."""


#: SWMR read attempts while a writer is live: torn reads settle within a few retries
#: (doubling back-off from 1 us: 16 attempts wait at most ~65 ms in all).
LIVE_READ_ATTEMPTS = 16

_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket",
          stat.S_IFDIR: "a directory"}


def check_regular(p: Path, *, must_exist: bool = True) -> os.stat_result | None:
    """Refuse anything but a non-empty regular file, from ``stat`` alone (never opens it).

    Returns the stat result, or None when the file is missing and ``must_exist`` is false.
    """
    try:
        st = os.stat(p)
    except FileNotFoundError:
        if must_exist:
            raise RunFileError(f"{p}: no such file") from None
        return None
    except OSError as exc:
        raise RunFileError(f"{p}: cannot be read ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise RunFileError(f"{p}: is {kind}, not a run file")
    if st.st_size == 0:
        raise RunFileError(f"{p}: empty file (0 bytes), not a run file")
    return st


@cache
def _hdf5_library() -> ctypes.CDLL | None:
    """The HDF5 shared library h5py is using (already loaded into this process)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            for line in fh:
                name = line.rsplit(None, 1)[-1]
                base = os.path.basename(name)
                if base.startswith("libhdf5") and not base.startswith("libhdf5_hl") \
                        and ".so" in base:
                    return ctypes.CDLL(name)
    except OSError:
        pass
    found = ctypes.util.find_library("hdf5")
    return ctypes.CDLL(found) if found else None


@cache
def _set_read_attempts() -> Callable[[int, int], int] | None:
    """``H5Pset_metadata_read_attempts`` of the HDF5 library h5py loaded (typed once)."""
    lib = _hdf5_library()
    if lib is None:
        return None
    fn = lib.H5Pset_metadata_read_attempts
    fn.argtypes = [ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _fapl(attempts: int) -> h5p.PropFAID:
    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
    set_attempts = _set_read_attempts()
    if set_attempts is not None:
        # under h5py's own lock: HDF5 is not thread-safe, and h5py serialises every call
        # into it with this lock; a call past it while another thread is inside HDF5 (two
        # analysis workers in one process) corrupted the library's state (segfault)
        with phil:
            set_attempts(fapl.id, attempts)
    return fapl


def open_for_reading(p: Path, *, live: bool) -> h5py.File:
    """Open read-only in SWMR mode with bounded metadata read attempts.

    SWMR mode reads files that are being written and files whose writer was killed (their
    "open for write" flag still set); ``live`` says whether a writer holds the file now.
    """
    fid = h5f.open(os.fsencode(p), h5f.ACC_RDONLY | h5f.ACC_SWMR_READ,
                   fapl=_fapl(LIVE_READ_ATTEMPTS if live else 1))
    return h5py.File(fid)


def room_to_grow(p: Path) -> tuple[float, str]:
    """Bytes ``p`` may still grow by, and what limits it (for the error message).

    The smaller of the file system's space available to this user and the process's
    file-size limit (``ulimit -f``) minus the file's current size.
    """
    try:
        size = os.stat(p).st_size
    except FileNotFoundError:
        size = 0
    vfs = os.statvfs(p if p.exists() else p.parent)
    disk = float(vfs.f_bavail * vfs.f_frsize)
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    limit = float("inf") if soft == resource.RLIM_INFINITY else float(soft - size)
    if limit < disk:
        return limit, f"{os.strerror(errno.EFBIG)}: file-size limit {soft} bytes"
    return disk, f"{os.strerror(errno.ENOSPC)}: {int(disk)} bytes free"
