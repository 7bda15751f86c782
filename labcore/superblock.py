"""The HDF5 superblock's end-of-file address: read it, and reset it to the bytes on disk.

A write that fails inside HDF5 (an I/O error, a disk filled by another process between the
writer's room check and its write) can leave the superblock recording an end of file
beyond the bytes that reached the disk. HDF5 then refuses the whole file, although every
structure written before the failure is still there. Resetting the recorded end to the
file's real size (what the repair does) makes the file open again: the earlier runs read
as they were, and only structures that pointed past the end show as damaged.

Superblock versions 2 and 3 (``libver="latest"``, what the run writer uses) [HDF5 File
Format Specification 3.0, section II.A]: signature (8 bytes), version, size of offsets,
size of lengths, flags, then base address, superblock-extension address, end-of-file
address and root-group address (each ``size of offsets`` bytes), then a Jenkins lookup3
checksum of everything before it.
"""

from __future__ import annotations

import os
from pathlib import Path

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


#: lookup3's ``mix()``, one step per entry: ``x -= y; x ^= rot(y, k); y += z``
_MIX = ((0, 2, 1, 4), (1, 0, 2, 6), (2, 1, 0, 8), (0, 2, 1, 16), (1, 0, 2, 19), (2, 1, 0, 4))
#: lookup3's ``final()``, one step per entry: ``x ^= y; x -= rot(y, k)``
_FINAL = ((2, 1, 14), (0, 2, 11), (1, 0, 25), (2, 1, 16), (0, 2, 4), (1, 0, 14), (2, 1, 24))


def _add(v: list[int], block: bytes) -> None:
    """Add a 12-byte block to the state (a, b, c) as three little-endian words."""
    for j in range(3):
        v[j] = (v[j] + int.from_bytes(block[4 * j:4 * j + 4], "little")) & _M


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``, the checksum of HDF5 metadata.

    The state (a, b, c) is ``v[0..2]``; ``mix`` and ``final`` are written as tables of
    their steps (:data:`_MIX`, :data:`_FINAL`).
    """
    n = len(data)
    v = [(0xDEADBEEF + n + initval) & _M] * 3
    i = 0
    while n > 12:
        _add(v, data[i:i + 12])
        for x, y, z, k in _MIX:
            v[x] = (v[x] - v[y]) & _M ^ _rot(v[y], k)
            v[y] = (v[y] + v[z]) & _M
        n -= 12
        i += 12
    if n == 0:
        return v[2]
    _add(v, data[i:i + n] + bytes(12 - n))
    for x, y, k in _FINAL:
        v[x] = (v[x] ^ v[y]) - _rot(v[y], k) & _M
    return v[2]


def _layout(head: bytes) -> tuple[int, int] | None:
    """(size of offsets, checksum offset) of a version 2/3 superblock, else None."""
    if not head.startswith(SIGNATURE) or len(head) < 12 or head[8] not in (2, 3):
        return None
    size = head[9]
    if size not in (2, 4, 8) or len(head) < 12 + 4 * size + 4:
        return None
    return size, 12 + 4 * size


def recorded_end(p: Path) -> tuple[int, int] | None:
    """(end of file the superblock records, bytes on disk), or None for other layouts."""
    with open(p, "rb") as fh:
        head = fh.read(64)
    layout = _layout(head)
    if layout is None:
        return None
    size, _ = layout
    base = int.from_bytes(head[12:12 + size], "little")
    eof = int.from_bytes(head[12 + 2 * size:12 + 3 * size], "little")
    return base + eof, os.stat(p).st_size


def reset_end_of_file(p: Path) -> bool:
    """Set the recorded end of file to the bytes on disk (and fix the checksum).

    Only for a version 2/3 superblock whose checksum is right and whose recorded end lies
    beyond the file; returns whether it changed anything. The caller holds the writer lock.
    """
    with open(p, "r+b") as fh:
        head = bytearray(fh.read(64))
        layout = _layout(bytes(head))
        if layout is None:
            return False
        size, at = layout
        if int.from_bytes(head[at:at + 4], "little") != lookup3(bytes(head[:at])):
            return False  # a damaged superblock is not ours to rewrite
        base = int.from_bytes(head[12:12 + size], "little")
        actual = os.fstat(fh.fileno()).st_size
        if base + int.from_bytes(head[12 + 2 * size:12 + 3 * size], "little") <= actual:
            return False
        head[12 + 2 * size:12 + 3 * size] = (actual - base).to_bytes(size, "little")
        head[at:at + 4] = lookup3(bytes(head[:at])).to_bytes(4, "little")
        fh.seek(0)
        fh.write(head[:at + 4])
        fh.flush()
        os.fsync(fh.fileno())
    return True
