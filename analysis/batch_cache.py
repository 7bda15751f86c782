"""Result cache of the batch analysis: a run analysed once is not analysed again.

A cached result is keyed by what determines it and nothing else:

* the **content** of the file (BLAKE2b digest of its bytes): a file renamed, moved or
  copied still hits; a file that changed in any byte misses;
* the **run id** inside the file;
* the **analysis options** (every field of :class:`AnalysisOptions`, canonical JSON);
* the **analysis code**: labapp's version plus a digest of the ``analysis`` package's
  sources, so an editable install whose algorithms changed does not serve stale results.

Hashing every byte of 10^4-10^5 files on each re-run would cost more than it saves
on large files, so the digest of a path is memoised with the file's size, mtime (ns)
and inode, the way ``git`` and ``make`` detect changes; any change of these re-hashes.

Storage is one SQLite file (WAL mode: readers and a writer at the same time, safe for
two batches sharing a cache). Only successful analyses are cached: a file that failed
is tried again next time (it may have been repaired, or was being written).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import time
import zlib
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from analysis.options import AnalysisOptions

CACHE_SCHEMA = 1
_BLOCK = 1 << 20


def file_digest(path: str | Path) -> str:
    """BLAKE2b-128 hex digest of a file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


@functools.cache
def code_version() -> str:
    """labapp's version and a digest of the analysis sources (``0.1.0+a1b2c3d4e5f6``)."""
    try:
        version = metadata.version("labapp")
    except metadata.PackageNotFoundError:
        version = "unknown"
    h = hashlib.blake2b(digest_size=6)
    for src in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(src.name.encode())
        h.update(src.read_bytes())
    return f"{version}+{h.hexdigest()}"


def options_key(options: AnalysisOptions) -> str:
    """Canonical JSON of every analysis option (the options part of the cache key)."""
    return json.dumps(asdict(options), sort_keys=True, separators=(",", ":"))


def stat_key(st: os.stat_result) -> tuple[int, int, int]:
    """What identifies an unchanged file without reading it: size, mtime (ns), inode."""
    return st.st_size, st.st_mtime_ns, st.st_ino


def encode_record(rec: dict[str, Any]) -> bytes:
    """One successful run record as compressed bytes (JSON + histogram counts).

    The bin edges are stored as (low, high, bins): ``np.histogram`` builds uniform edges
    with ``np.linspace(low, high, bins + 1)``, so they come back bit for bit.
    """
    edges = np.asarray(rec["edges"], float)
    head = {"summary": rec["summary"],
            "edges": [float(edges[0]), float(edges[-1]), int(edges.size - 1)],
            "state_levels": np.asarray(rec["state_levels"], float).tolist()}
    text = json.dumps(head, separators=(",", ":"), allow_nan=True).encode()
    counts = np.asarray(rec["counts"], np.int64).tobytes()
    return zlib.compress(len(text).to_bytes(8, "little") + text + counts, 1)


@functools.lru_cache(maxsize=16)
def _edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """Uniform bin edges, one shared read-only array per binning."""
    edges = np.linspace(lo, hi, bins + 1)
    edges.flags.writeable = False
    return edges


def decode_record(blob: bytes) -> dict[str, Any]:
    """Inverse of :func:`encode_record`."""
    raw = zlib.decompress(blob)
    n = int.from_bytes(raw[:8], "little")
    head = json.loads(raw[8:8 + n])
    return {"summary": head["summary"], "edges": _edges(*head["edges"]),
            "counts": np.frombuffer(raw[8 + n:], np.int64).copy(),
            "state_levels": np.asarray(head["state_levels"], float)}


class ResultCache:
    """SQLite store of analysed runs; see the module docstring for the key.

    Parameters
    ----------
    path : cache file (created with its directory if missing).
    options : the analysis options of this batch (part of every key).
    commit_every : seconds between commits, so an interrupted batch keeps what it did.
    """

    def __init__(self, path: str | Path, options: AnalysisOptions,
                 commit_every: float = 2.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.options = options_key(options)
        self.version = code_version()
        self.commit_every = commit_every
        self.hits = 0
        self.misses = 0
        try:
            self._db = sqlite3.connect(self.path, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._create()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path}: not a usable result cache ({exc}); "
                             "delete it or give another --cache") from exc
        self._last_commit = time.monotonic()

    def _create(self) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is not None and int(row[0]) != CACHE_SCHEMA:
            raise sqlite3.DatabaseError(f"cache schema {row[0]}, this labapp uses "
                                        f"{CACHE_SCHEMA}")
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(CACHE_SCHEMA),))
        db.execute("CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER,"
                   " mtime_ns INTEGER, inode INTEGER, digest TEXT)")
        db.execute("CREATE TABLE IF NOT EXISTS files (digest TEXT, options TEXT, version "
                   "TEXT, run_ids TEXT, PRIMARY KEY (digest, options, version))")
        db.execute("CREATE TABLE IF NOT EXISTS runs (digest TEXT, run_id TEXT, options TEXT,"
                   " version TEXT, record BLOB, PRIMARY KEY (digest, run_id, options, "
                   "version))")
        db.commit()

    # -- lookups -----------------------------------------------------------------------
    def digest(self, path: str) -> tuple[str, tuple[int, int, int]]:
        """Content digest of ``path`` (memoised by size, mtime and inode) and its stat key."""
        key = stat_key(os.stat(path))
        row = self._db.execute("SELECT size, mtime_ns, inode, digest FROM digests WHERE "
                               "path = ?", (path,)).fetchone()
        if row is not None and tuple(row[:3]) == key:
            return row[3], key
        digest = file_digest(path)
        self._db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)",
                         (path, *key, digest))
        self._maybe_commit()
        return digest, key

    def get(self, path: str, digest: str) -> list[dict[str, Any]] | None:
        """Cached records of every run of the file with this content, or None."""
        row = self._db.execute("SELECT run_ids FROM files WHERE digest = ? AND options = ? "
                               "AND version = ?", (digest, self.options, self.version)
                               ).fetchone()
        if row is None:
            self.misses += 1
            return None
        run_ids = json.loads(row[0])
        blobs = dict(self._db.execute(
            "SELECT run_id, record FROM runs WHERE digest = ? AND options = ? AND "
            "version = ?", (digest, self.options, self.version)).fetchall())
        if set(run_ids) - set(blobs):
            self.misses += 1
            return None
        out = []
        for rid in run_ids:
            rec = decode_record(blobs[rid])
            rec["summary"]["file"] = path  # the same content may sit at another path
            out.append(rec)
        self.hits += 1
        return out

    def put(self, digest: str, records: list[dict[str, Any]]) -> bool:
        """Store the records of one file (only if every run of it was analysed)."""
        if not records or any("error" in r for r in records):
            return False
        ids = [r["summary"]["run_id"] for r in records]
        self._db.executemany(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?)",
            [(digest, rid, self.options, self.version, encode_record(r))
             for rid, r in zip(ids, records, strict=True)])
        self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                         (digest, self.options, self.version, json.dumps(ids)))
        self._maybe_commit()
        return True

    def _maybe_commit(self) -> None:
        if time.monotonic() - self._last_commit >= self.commit_every:
            self._db.commit()
            self._last_commit = time.monotonic()

    def close(self) -> None:
        """Commit and close (idempotent)."""
        if self._db is not None:
            self._db.commit()
            self._db.close()
            self._db = None

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
