"""Writing one run into a run file: :class:`RunWriter`.

Crash safety: the writer opens the file with ``libver="latest"``, creates every
dataset, then switches to SWMR mode and flushes at least every ``flush_interval``
seconds, so another process can read while it runs and a killed writer leaves a file
that opens with everything up to the last flush. The final status is written after
SWMR mode ends; a run whose ``complete`` attribute is still false was cut off.

A write that would not fit (disk full, file-size limit;
:func:`labcore.h5files.room_to_grow`) is refused *before* HDF5 writes anything, so the
run ends ``failed`` and earlier runs and flushed rows stay intact.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback as tbmod
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, Unpack

import h5py
import numpy as np

from labcore import nexus
from labcore.claim import claim, reopen_after_crash
from labcore.constants import G0
from labcore.h5files import RunFileError, RunFileFullError, check_regular, room_to_grow
from labcore.runlock import WriterLock
from labcore.schema import (
    CLOSE_RESERVE,
    CREATE_PER_DATASET,
    FLUSH_METADATA,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    STANDARD_UNITS,
    STATUSES,
    check_schema,
    json_attr,
    one_line,
    set_attr,
    utc_now,
)

#: a stream's declaration: ``{column: dtype | (dtype, units)}``
Columns = Mapping[str, str | tuple[str, str]]


@dataclass
class StreamSpec:
    """Columns of one stream: name -> (numpy dtype, units)."""

    columns: dict[str, tuple[str, str]]

    @classmethod
    def of(cls, columns: Columns) -> StreamSpec:
        """Build from ``{name: dtype}`` (standard units) or ``{name: (dtype, units)}``."""
        out: dict[str, tuple[str, str]] = {}
        for name, spec in columns.items():
            if isinstance(spec, tuple):
                out[name] = (spec[0], spec[1])
            else:
                out[name] = (spec, STANDARD_UNITS.get(name, ""))
        return cls(out)


@dataclass(frozen=True)
class RunSnapshot:
    """What a run stores beside its parameters and data.

    metadata : device_id, sample, operator, notes, instrument_idn, software_version,
        git_commit and any other attributes (non-scalar values stored as JSON).
    instrument_settings, safety_profile : snapshots stored as JSON attributes.
    """

    metadata: Mapping[str, Any] = field(default_factory=dict)
    instrument_settings: Mapping[str, Any] = field(default_factory=dict)
    safety_profile: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WriterOptions:
    """How a run is written.

    run_id : the run's id (default: UTC time and a random suffix).
    flush_interval : seconds between flushes (the crash-loss bound).
    chunk_rows : HDF5 chunk length of every column.
    lock : the file's writer lock from :func:`claim` (taken over and released at close);
        without it the writer claims the file itself and refuses one another writer holds.
    command : what is writing, recorded in the lock for refusals (e.g. ``labapp run``).
    """

    run_id: str | None = None
    flush_interval: float = 1.0
    chunk_rows: int = 8192
    lock: WriterLock | None = None
    command: str = ""


class WriterKeywords(TypedDict, total=False):
    """The fields of :class:`RunSnapshot` and :class:`WriterOptions` as keywords of
    :class:`RunWriter` (the spelling scripts use)."""

    metadata: Mapping[str, Any] | None
    instrument_settings: Mapping[str, Any] | None
    safety_profile: Mapping[str, Any] | None
    run_id: str | None
    flush_interval: float
    chunk_rows: int
    lock: WriterLock | None
    command: str


_SNAPSHOT_FIELDS = frozenset(f.name for f in fields(RunSnapshot))
_OPTION_FIELDS = frozenset(f.name for f in fields(WriterOptions))


def _fold_keywords(snapshot: RunSnapshot | None, options: WriterOptions | None,
                   keywords: Mapping[str, Any]) -> tuple[RunSnapshot, WriterOptions]:
    """Snapshot and options with the keyword spellings folded in (keywords win)."""
    unknown = set(keywords) - _SNAPSHOT_FIELDS - _OPTION_FIELDS
    if unknown:
        raise TypeError(f"RunWriter() got unexpected keyword arguments {sorted(unknown)}")
    snap = {k: v for k, v in keywords.items() if k in _SNAPSHOT_FIELDS and v is not None}
    opts = {k: v for k, v in keywords.items() if k in _OPTION_FIELDS}
    return (replace(snapshot or RunSnapshot(), **snap),
            replace(options or WriterOptions(), **opts))


def new_run_id() -> str:
    """A fresh run id: UTC time to the second and a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _write_run_attrs(g: h5py.Group, protocol: str, snapshot: RunSnapshot) -> None:
    """The run group's own attributes: status fields, G0, schema version, metadata."""
    for key, value in (("protocol", protocol), ("status", "running"), ("reason", ""),
                       ("traceback", ""), ("start_utc", utc_now()), ("end_utc", ""),
                       ("complete", False), ("g0_S", G0),
                       ("schema_version", SCHEMA_VERSION)):
        set_attr(g.attrs, key, value)
    for key in ("device_id", "sample", "operator", "notes", "instrument_idn",
                "software_version", "git_commit"):
        set_attr(g.attrs, key, "")
    for key, value in snapshot.metadata.items():
        set_attr(g.attrs, key, value if isinstance(value, str | int | float | bool)
                 else json_attr(value))


def _json_group(g: h5py.Group, name: str, values: Mapping[str, Any]) -> None:
    """A group holding one JSON attribute per entry of ``values``."""
    grp = g.create_group(name)
    for key, value in values.items():
        set_attr(grp.attrs, key, json_attr(value))


def _create_streams(g: h5py.Group, specs: Mapping[str, StreamSpec], chunk_rows: int
                    ) -> None:
    """``data/<stream>/<column>``: empty resizable 1-D columns with their units."""
    dg = g.create_group("data")
    for stream, spec in specs.items():
        sgrp = dg.create_group(stream)
        for col, (dtype, units) in spec.columns.items():
            ds = sgrp.create_dataset(
                col, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk_rows,)
            )
            set_attr(ds.attrs, "units", units)


def _create_waveforms(g: h5py.Group, waveforms: Mapping[str, tuple[int, str]]) -> None:
    """``waveforms/<name>``: empty (pulse, sample) tables with their units."""
    wg = g.create_group("waveforms")
    for name, (n_samples, units) in waveforms.items():
        ds = wg.create_dataset(
            name,
            shape=(0, n_samples),
            maxshape=(None, n_samples),
            dtype="f8",
            chunks=(max(1, min(64, 65536 // max(n_samples, 1))), n_samples),
        )
        set_attr(ds.attrs, "units", units)


def _open_for_writing(path: Path, exists: bool) -> h5py.File:
    """The file opened (or created) for writing, rewritten first if a killed writer left
    it marked open for write."""
    try:
        try:
            return h5py.File(path, "a" if exists else "x", libver="latest")
        except OSError as exc:
            if not exists or "already open for write" not in str(exc):
                raise
            reopen_after_crash(path)  # an earlier writer was killed (lock free)
            return h5py.File(path, "a", libver="latest")
    except OSError as exc:
        raise RunFileError(f"{path}: cannot open for writing ({exc})") from exc


def _prepare_file(f: h5py.File, path: Path, exists: bool, run_id: str) -> None:
    """Schema attributes and the ``runs`` group of a file about to receive ``run_id``."""
    if exists and "schema" not in f.attrs:
        raise RunFileError(f"{path}: not a labapp run file (no '{SCHEMA_NAME}' "
                           "schema attribute); write the run to a new file")
    if "schema" not in f.attrs:
        set_attr(f.attrs, "schema", SCHEMA_NAME)
        set_attr(f.attrs, "schema_version", SCHEMA_VERSION)
    else:
        check_schema(f, path)
        # a version-1 file gains a version-2 run (with NeXus attributes); its
        # version-1 runs read as before
        f.attrs["schema_version"] = SCHEMA_VERSION
    if run_id not in f.get("runs", {}):
        nexus.annotate_root(f, run_id)
    runs = f.require_group("runs")
    if not isinstance(runs, h5py.Group):
        raise RunFileError(f"{path}: damaged run file ('runs' is not a group)")
    if run_id in runs:
        raise RunFileError(f"{path}: run {run_id!r} already exists")


def _write_final_status(path: Path, run_id: str, status: Mapping[str, str],
                        extra: Mapping[str, Any]) -> None:
    """Record a closed run's status, reason, traceback and ``extra`` (JSON) attributes."""
    with h5py.File(path, "r+", libver="latest") as f:
        g = f["runs"][run_id]
        for key, value in status.items():
            set_attr(g.attrs, key, value)
        set_attr(g.attrs, "end_utc", utc_now())
        set_attr(g.attrs, "complete", True)
        nexus.finish_run(g, utc_now())
        for key, value in extra.items():
            set_attr(g.attrs, key, json_attr(value))


class RunWriter:
    """Streams one run into an HDF5 file (created, or appended to as a new run).

    Parameters
    ----------
    path : run file; created if missing, otherwise the run is added beside earlier runs.
    protocol : protocol name, e.g. ``"dc-sweep"``.
    parameters : ``{name: (value, unit)}``; stored with units so a run is self-describing.
    streams : ``{stream: {column: dtype | (dtype, units)}}``, declared up front because
        SWMR mode cannot create datasets later.
    waveforms : ``{name: (samples_per_pulse, units)}`` for per-pulse captures.
    snapshot : metadata and the instrument and safety snapshots (:class:`RunSnapshot`).
    options : run id, flush interval, chunk length, writer lock (:class:`WriterOptions`).
    **keywords : the fields of ``snapshot`` and ``options`` as keywords
        (``metadata=...``, ``run_id=...``, ``lock=...``; :class:`WriterKeywords`).
    """

    def __init__(
        self,
        path: str | Path,
        protocol: str,
        parameters: Mapping[str, tuple[Any, str]],
        streams: Mapping[str, Columns],
        *,
        waveforms: Mapping[str, tuple[int, str]] | None = None,
        snapshot: RunSnapshot | None = None,
        options: WriterOptions | None = None,
        **keywords: Unpack[WriterKeywords],
    ) -> None:
        snapshot, options = _fold_keywords(snapshot, options, keywords)
        self.path = Path(path)
        self.flush_interval = options.flush_interval
        self.run_id = options.run_id or new_run_id()
        self._specs = {k: StreamSpec.of(v) for k, v in streams.items()}
        self._rows = dict.fromkeys(self._specs, 0)
        self._closed = False
        self._broken = ""  # why writing stopped (disk full, I/O error); "" while healthy
        lock = options.lock
        self._writer_lock = lock if lock is not None else claim(self.path, options.command)
        self._writer_lock.update(run_id=self.run_id)
        try:
            self._open(len(self._specs) + len(waveforms or {}))
            try:
                self._create_run(protocol, parameters, waveforms or {}, snapshot,
                                 options.chunk_rows)
            except BaseException:
                self._f.close()
                raise
        except BaseException:
            self._writer_lock.release()
            raise
        self._lock = threading.RLock()
        self.flush_count = 0  #: flushes so far (for tests and benchmarks)
        self._last_flush = time.monotonic()
        self._stop_flusher = threading.Event()
        self._flush_thread = threading.Thread(target=self._flusher, daemon=True,
                                              name=f"runfile-flush-{self.run_id}")
        self._flush_thread.start()

    def _create_run(self, protocol: str, parameters: Mapping[str, tuple[Any, str]],
                    waveforms: Mapping[str, tuple[int, str]], snapshot: RunSnapshot,
                    chunk_rows: int) -> None:
        """Create this run's group, attributes and empty datasets, then enter SWMR mode."""
        f = self._f
        g = f["runs"].create_group(self.run_id)
        _write_run_attrs(g, protocol, snapshot)
        _json_group(g, "parameters", {name: {"value": value, "unit": unit}
                                      for name, (value, unit) in parameters.items()})
        _json_group(g, "instrument", snapshot.instrument_settings)
        _json_group(g, "safety", snapshot.safety_profile)
        _create_streams(g, self._specs, chunk_rows)
        _create_waveforms(g, waveforms)
        meta = {k: g.attrs[k] for k in ("software_version", "instrument_idn", "sample",
                                         "device_id", "operator", "notes")}
        nexus.annotate_run(f, g, protocol, meta)
        f.flush()
        f.swmr_mode = True
        # the datasets as opened in SWMR mode (the objects made before it are not used)
        dg, wg = g["data"], g["waveforms"]
        self._datasets = {s: {c: dg[s][c] for c in spec.columns}
                          for s, spec in self._specs.items()}
        self._wave_ds = {w: wg[w] for w in waveforms}
        self._wave_rows = dict.fromkeys(self._wave_ds, 0)
        self._chunk_bytes = {s: [(chunk_rows, np.dtype(dt).itemsize)
                                 for dt, _ in spec.columns.values()]
                             for s, spec in self._specs.items()}
        self._wave_chunk = {w: (int(ds.chunks[0]), int(ds.shape[1]) * 8)
                            for w, ds in self._wave_ds.items()}
        self._wave_width = {w: int(ds.shape[1]) for w, ds in self._wave_ds.items()}
        self._pending: dict[str, list[dict[str, np.ndarray]]] = {s: [] for s in self._specs}
        self._pending_rows = dict.fromkeys(self._specs, 0)
        self._wave_pending: dict[str, list[np.ndarray]] = {w: [] for w in self._wave_rows}
        self._wave_pending_rows = dict.fromkeys(self._wave_rows, 0)
        self._block_rows = max(chunk_rows, 65536)

    def _open(self, n_datasets: int) -> None:
        """Open (or create) the file for this run; refusals leave the file as it was."""
        exists = check_regular(self.path, must_exist=False) is not None
        need = CLOSE_RESERVE + FLUSH_METADATA + CREATE_PER_DATASET * (n_datasets + 8)
        self._check_room(need, "to start a run")
        self._f = _open_for_writing(self.path, exists)
        try:
            _prepare_file(self._f, self.path, exists, self.run_id)
        except BaseException:
            self._f.close()  # leave the file usable by the next writer or reader
            raise

    def _check_room(self, nbytes: float, what: str) -> None:
        """Refuse (before HDF5 writes anything) a write the file system cannot take."""
        room, limit = room_to_grow(self.path)
        if nbytes > room:
            raise RunFileFullError(
                f"{self.path}: no room {what} ({limit}; {int(nbytes)} bytes needed incl. "
                f"{CLOSE_RESERVE} reserved to close the run)")

    # -- streaming -------------------------------------------------------------------
    def append(self, stream: str, columns: Mapping[str, Any]) -> None:
        """Append equal-length rows to ``stream``; missing columns are an error.

        Rows are buffered in memory and written in blocks (HDF5 costs per call, not per
        row), at the latest when the flush interval has passed: the background flusher
        makes that hold even when no further row arrives.
        """
        spec = self._specs.get(stream)
        if spec is None:
            raise KeyError(f"stream {stream!r} not declared; declared: {sorted(self._specs)}")
        missing = set(spec.columns) - set(columns)
        extra = set(columns) - set(spec.columns)
        if missing or extra:
            raise KeyError(
                f"stream {stream!r}: missing columns {sorted(missing)}, unknown {sorted(extra)}"
            )
        arrays = {k: np.atleast_1d(np.asarray(v)) for k, v in columns.items()}
        lengths = {a.shape[0] for a in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"stream {stream!r}: columns have different lengths {lengths}")
        n = lengths.pop()
        if n == 0:
            return
        with self._lock:
            self._check_open()
            self._pending[stream].append(arrays)
            self._pending_rows[stream] += n
            if self._pending_rows[stream] >= self._block_rows:
                self._write_block(stream=stream)
            self._maybe_flush()

    def append_waveforms(self, name: str, block: Any) -> None:
        """Append one or more pulses (rows) of a per-pulse waveform capture."""
        arr = np.atleast_2d(np.asarray(block, dtype=float))
        if name not in self._wave_rows:
            raise KeyError(f"waveform {name!r} not declared; declared: {sorted(self._wave_rows)}")
        width = self._wave_width[name]
        if arr.shape[1] != width:
            raise ValueError(
                f"waveform {name!r}: {arr.shape[1]} samples per pulse, file expects {width}"
            )
        with self._lock:
            self._check_open()
            self._wave_pending[name].append(arr)
            self._wave_pending_rows[name] += arr.shape[0]
            if self._wave_pending_rows[name] * width >= self._block_rows:
                self._write_block(wave=name)
            self._maybe_flush()

    def rows(self, stream: str) -> int:
        """Rows appended so far to ``stream`` (written or waiting for the next block)."""
        return self._rows[stream] + self._pending_rows[stream]

    @property
    def write_error(self) -> str:
        """Why writing stopped (a refused or failed write), or "" while healthy."""
        return self._broken

    def _check_open(self) -> None:
        if self._broken:
            raise RunFileError(self._broken)
        if self._closed:
            raise RunFileError(f"{self.path}: run {self.run_id} is closed")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Any failure of a write ends writing for good: later writes are refused at once
        and :meth:`close` records the status without touching the data again, so a failed
        write can never be retried into a half-written structure."""
        error: type[RunFileError] = RunFileFullError
        try:
            yield
        except RunFileFullError as exc:
            self._broken = str(exc)
        except Exception as exc:  # noqa: BLE001 - h5py raises OSError/RuntimeError/...
            self._broken, error = f"{self.path}: write failed ({one_line(exc)})", RunFileError
        else:
            return
        for pending in (self._pending, self._wave_pending):
            for key in pending:
                pending[key] = []
        self._pending_rows = dict.fromkeys(self._pending_rows, 0)
        self._wave_pending_rows = dict.fromkeys(self._wave_pending_rows, 0)
        raise error(self._broken)

    def _bytes_needed(self, stream: str | None = None, wave: str | None = None) -> int:
        """File growth of writing the pending rows of one stream/waveform: whole new
        chunks (HDF5 allocates a chunk in full when it is first written)."""
        total = 0
        if stream is not None:
            start, n = self._rows[stream], self._pending_rows[stream]
            for chunk, item in self._chunk_bytes[stream]:
                total += (-(-(start + n) // chunk) + (start // -chunk)) * chunk * item
        if wave is not None:
            start, n = self._wave_rows[wave], self._wave_pending_rows[wave]
            chunk, item = self._wave_chunk[wave]
            total += (-(-(start + n) // chunk) + (start // -chunk)) * chunk * item
        return total

    def _write_stream(self, stream: str) -> None:
        blocks = self._pending[stream]
        if not blocks:
            return
        n = self._pending_rows[stream]
        start = self._rows[stream]
        for col, ds in self._datasets[stream].items():
            arr = blocks[0][col] if len(blocks) == 1 else np.concatenate([b[col] for b in blocks])
            ds.resize((start + n,))
            ds[start:start + n] = arr
        self._rows[stream] = start + n
        self._pending[stream] = []
        self._pending_rows[stream] = 0

    def _write_block(self, stream: str | None = None, wave: str | None = None) -> None:
        """Write one full block of a stream or waveform, if the file has room for it."""
        with self._writing():
            self._check_room(self._bytes_needed(stream, wave) + FLUSH_METADATA
                             + CLOSE_RESERVE, "for the next block of rows")
            if stream is not None:
                self._write_stream(stream)
            if wave is not None:
                self._write_waveform(wave)

    def _write_waveform(self, name: str) -> None:
        blocks = self._wave_pending[name]
        if not blocks:
            return
        arr = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        ds = self._wave_ds[name]
        start = self._wave_rows[name]
        ds.resize((start + arr.shape[0], ds.shape[1]))
        ds[start:] = arr
        self._wave_rows[name] = start + arr.shape[0]
        self._wave_pending[name] = []
        self._wave_pending_rows[name] = 0

    def _maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self._flush_locked()

    def _flush_locked(self) -> None:
        with self._writing():
            need = sum(self._bytes_needed(stream=s) for s in self._specs)
            need += sum(self._bytes_needed(wave=w) for w in self._wave_ds)
            self._check_room(need + FLUSH_METADATA + CLOSE_RESERVE, "for the rows to flush")
            for stream in self._specs:
                self._write_stream(stream)
            for name in self._wave_ds:
                self._write_waveform(name)
            self._f.flush()
        self._last_flush = time.monotonic()
        self.flush_count += 1

    def flush(self) -> None:
        """Make everything appended so far durable and visible to SWMR readers."""
        with self._lock:
            self._check_open()
            self._flush_locked()

    def _flusher(self) -> None:
        """Background thread: flush pending rows once they are ``flush_interval`` old."""
        while not self._stop_flusher.wait(min(0.25, self.flush_interval / 4)):
            with self._lock:
                if self._closed or self._broken:
                    return
                dirty = any(self._pending_rows.values()) or any(
                    self._wave_pending_rows.values())
                if dirty and time.monotonic() - self._last_flush >= self.flush_interval:
                    try:
                        self._flush_locked()
                    except RunFileError:  # recorded in _broken; the next append reports it
                        return

    # -- closing -----------------------------------------------------------------------
    def close(self, status: str = "completed", reason: str = "", traceback: str = "",
              extra: Mapping[str, Any] | None = None) -> None:
        """Write what is pending, leave SWMR mode and record the final status (idempotent).

        After a refused or failed write nothing more is written but the status: a run
        that was to end ``completed`` or ``stopped`` ends ``failed`` with the write error
        as its reason, and the rows flushed before stay as they are. Never raises once the
        data is closed; a final status that cannot be written leaves the run
        ``incomplete`` (the lock is released either way).
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        with self._lock:
            if self._closed:
                return
            try:
                if not self._broken:
                    with contextlib.suppress(RunFileError):  # recorded in _broken
                        self._flush_locked()
            finally:
                self._closed = True
                self._stop_flusher.set()
                try:
                    self._f.close()
                except Exception as exc:  # noqa: BLE001 - reported below
                    self._broken = self._broken or (
                        f"{self.path}: closing failed ({one_line(exc)})")
        # A flusher still alive at interpreter exit can crash the process while HDF5 is
        # torn down (seen as a segfault after a completed CLI run): end it here.
        if self._flush_thread is not threading.current_thread():
            self._flush_thread.join(timeout=5)
        if self._broken and status in ("completed", "stopped", "running"):
            status, reason = "failed", self._broken
        try:
            self._check_room(64 * 1024 + len(traceback) + len(reason), "to close the run")
            _write_final_status(self.path, self.run_id, {"status": status, "reason": reason,
                                                          "traceback": traceback}, extra or {})
        except Exception as exc:  # noqa: BLE001 - the data is closed; say why status is not
            if not self._broken:
                raise RunFileError(f"{self.path}: final status not written "
                                   f"({one_line(exc)})") from exc
        finally:
            self._writer_lock.release()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close("completed")
        else:
            self.close(
                "failed",
                reason=f"{exc_type.__name__}: {exc}",
                traceback="".join(tbmod.format_exception(exc_type, exc, tb)),
            )


