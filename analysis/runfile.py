"""The HDF5 run-file schema: the one module that writes and reads run files.

Layout (schema ``labapp-run``, version :data:`SCHEMA_VERSION`; documented in
``docs/file-format.md``)::

    /                         attrs: schema, schema_version; NeXus: NX_class, default
    /run_<run_id>             soft link to /runs/<run_id> (the run's NeXus NXentry)
    /runs/<run_id>/           attrs: protocol, status, reason, traceback, start_utc, end_utc,
                                     software_version, git_commit, g0_S, device_id, sample,
                                     operator, notes, instrument_idn, complete
        parameters/           attrs: one JSON-encoded {"value": v, "unit": u} per parameter
        instrument/           attrs: settings snapshot (JSON-encoded values)
        safety/               attrs: safety profile (JSON-encoded values)
        data/<stream>/<col>   1-D chunked, resizable datasets, attrs: units
        waveforms/<name>      2-D (pulse, sample) chunked datasets, attrs: units

From schema version 2 every run also carries NeXus attributes and groups
(:mod:`analysis.nexus`) so that standard HDF5/NeXus viewers plot it; version-1 files
still read.

Streams are named tables of equal-length columns, e.g. ``samples`` (one row per
measured point: ``time_s, voltage_V, current_A, conductance_G0`` and, where present,
``v_program_V, cycle, segment, compliance, pulse_index``). Every row has a timestamp.

Why this module lives in ``analysis``: analysis must read run files without importing
pyvisa, and the schema must have one owner, so the writer sits beside the reader in
the lowest layer; the protocol layer writes through :class:`RunWriter`.

Crash safety: the writer opens the file with ``libver="latest"``, creates every
dataset, then switches to SWMR mode and flushes at least every ``flush_interval``
seconds, so another process can read while it runs and a killed writer leaves a file
that opens with everything up to the last flush. The final status is written after
SWMR mode ends; a run whose ``complete`` attribute is still false was cut off and
is reported as incomplete by :func:`list_runs`.

One writer per file (:mod:`analysis.runlock`): a run, an import or a repair claims the
file first and refuses, naming the holder, while another live writer has it; readers use
the same lock to tell a live run from a cut-off one. A write that would not fit (disk
full, file-size limit; :func:`analysis.h5files.room_to_grow`) is refused *before* HDF5
writes anything, so the run ends ``failed`` and earlier runs and flushed rows stay intact.
Readers never hang on a damaged file (:mod:`analysis.h5files`), and one damaged run does
not hide the others.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from analysis import nexus
from analysis.constants import G0
from analysis.h5files import (
    RunFileError,
    RunFileFullError,
    check_regular,
    open_for_reading,
    room_to_grow,
)
from analysis.runlock import FileBusyError, WriterLock, live_writer  # noqa: F401 - API
from analysis.superblock import recorded_end, reset_end_of_file

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


def utc_now() -> str:
    """Current UTC time in ISO 8601 with a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one_line(exc: BaseException) -> str:
    """An exception as one line (HDF5 messages span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _text(value: str) -> np.ndarray:
    """A string as a fixed-length UTF-8 HDF5 string.

    Why not h5py's default (variable length): variable-length strings live in the file's
    global heap, which carries no checksum, and HDF5 can loop forever on a damaged heap
    collection (one flipped byte hung every reader). A fixed-length string is stored in
    its attribute message, inside the checksummed object header, so damage is detected.
    Readers get ``bytes``; :func:`_decode` turns them back into text.
    """
    raw = value.encode()
    return np.array(raw, dtype=h5py.string_dtype("utf-8", max(1, len(raw))))


def set_attr(attrs: h5py.AttributeManager, key: str, value: Any) -> None:
    """Write one attribute the run-file way: text as fixed-length UTF-8 (see :func:`_text`),
    other values as they are. Every writer of run-file attributes goes through here."""
    attrs[key] = _text(value) if isinstance(value, str) else value


def _json_attr(value: Any) -> str:
    return json.dumps(value, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a run file attribute")


@dataclass
class StreamSpec:
    """Columns of one stream: name -> (numpy dtype, units)."""

    columns: dict[str, tuple[str, str]]

    @classmethod
    def of(cls, columns: Mapping[str, str | tuple[str, str]]) -> StreamSpec:
        """Build from ``{name: dtype}`` (standard units) or ``{name: (dtype, units)}``."""
        out: dict[str, tuple[str, str]] = {}
        for name, spec in columns.items():
            if isinstance(spec, tuple):
                out[name] = (spec[0], spec[1])
            else:
                out[name] = (spec, STANDARD_UNITS.get(name, ""))
        return cls(out)


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
    metadata : device_id, sample, operator, notes, instrument_idn, software_version,
        git_commit and any other string attributes.
    instrument_settings, safety_profile : snapshots stored as JSON attributes.
    flush_interval : seconds between flushes (the crash-loss bound).
    lock : the file's writer lock from :func:`claim` (taken over and released at close);
        without it the writer claims the file itself and refuses one another writer holds.
    command : what is writing, recorded in the lock for refusals (e.g. ``labapp run``).
    """

    def __init__(
        self,
        path: str | Path,
        protocol: str,
        parameters: Mapping[str, tuple[Any, str]],
        streams: Mapping[str, Mapping[str, str | tuple[str, str]]],
        *,
        waveforms: Mapping[str, tuple[int, str]] | None = None,
        metadata: Mapping[str, Any] | None = None,
        instrument_settings: Mapping[str, Any] | None = None,
        safety_profile: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        flush_interval: float = 1.0,
        chunk_rows: int = 8192,
        lock: WriterLock | None = None,
        command: str = "",
    ) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.run_id = run_id or (
            datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        )
        self._specs = {k: StreamSpec.of(v) for k, v in streams.items()}
        self._rows = dict.fromkeys(self._specs, 0)
        self._wave_rows: dict[str, int] = {}
        self._closed = False
        self._broken = ""  # why writing stopped (disk full, I/O error); "" while healthy
        self._writer_lock = lock if lock is not None else claim(self.path, command)
        self._writer_lock.update(run_id=self.run_id)
        try:
            self._open(len(self._specs) + len(waveforms or {}))
            try:
                self._create_run(protocol, parameters, waveforms, metadata,
                                 instrument_settings, safety_profile, chunk_rows)
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

    def _create_run(self, protocol, parameters, waveforms, metadata, instrument_settings,
                    safety_profile, chunk_rows: int) -> None:
        """Create this run's group, attributes and empty datasets, then enter SWMR mode."""
        f = self._f
        g = f["runs"].create_group(self.run_id)
        self._group = g
        set_attr(g.attrs, "protocol", protocol)
        set_attr(g.attrs, "status", "running")
        set_attr(g.attrs, "reason", "")
        set_attr(g.attrs, "traceback", "")
        set_attr(g.attrs, "start_utc", utc_now())
        set_attr(g.attrs, "end_utc", "")
        set_attr(g.attrs, "complete", False)
        set_attr(g.attrs, "g0_S", G0)
        set_attr(g.attrs, "schema_version", SCHEMA_VERSION)
        for key in ("device_id", "sample", "operator", "notes", "instrument_idn",
                    "software_version", "git_commit"):
            set_attr(g.attrs, key, "")
        for key, value in (metadata or {}).items():
            set_attr(g.attrs, key, value if isinstance(value, str | int | float | bool)
                     else _json_attr(value))
        pg = g.create_group("parameters")
        for name, (value, unit) in parameters.items():
            set_attr(pg.attrs, name, _json_attr({"value": value, "unit": unit}))
        ig = g.create_group("instrument")
        for name, value in (instrument_settings or {}).items():
            set_attr(ig.attrs, name, _json_attr(value))
        sg = g.create_group("safety")
        for name, value in (safety_profile or {}).items():
            set_attr(sg.attrs, name, _json_attr(value))
        dg = g.create_group("data")
        for stream, spec in self._specs.items():
            sgrp = dg.create_group(stream)
            for col, (dtype, units) in spec.columns.items():
                ds = sgrp.create_dataset(
                    col, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk_rows,)
                )
                set_attr(ds.attrs, "units", units)
        wg = g.create_group("waveforms")
        for name, (n_samples, units) in (waveforms or {}).items():
            ds = wg.create_dataset(
                name,
                shape=(0, n_samples),
                maxshape=(None, n_samples),
                dtype="f8",
                chunks=(max(1, min(64, 65536 // max(n_samples, 1))), n_samples),
            )
            set_attr(ds.attrs, "units", units)
            self._wave_rows[name] = 0
        meta = {k: g.attrs[k] for k in ("software_version", "instrument_idn", "sample",
                                         "device_id", "operator", "notes")}
        nexus.annotate_run(f, g, protocol, meta)
        f.flush()
        f.swmr_mode = True
        self._datasets = {s: {c: dg[s][c] for c in spec.columns}
                          for s, spec in self._specs.items()}
        self._wave_ds = {w: wg[w] for w in self._wave_rows}
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
        try:
            try:
                self._f = h5py.File(self.path, "a" if exists else "x", libver="latest")
            except OSError as exc:
                if not exists or "already open for write" not in str(exc):
                    raise
                _reopen_after_crash(self.path)  # an earlier writer was killed (lock free)
                self._f = h5py.File(self.path, "a", libver="latest")
        except OSError as exc:
            raise RunFileError(f"{self.path}: cannot open for writing ({exc})") from exc
        f = self._f
        try:
            if exists and "schema" not in f.attrs:
                raise RunFileError(f"{self.path}: not a labapp run file (no '{SCHEMA_NAME}' "
                                   "schema attribute); write the run to a new file")
            if "schema" not in f.attrs:
                set_attr(f.attrs, "schema", SCHEMA_NAME)
                set_attr(f.attrs, "schema_version", SCHEMA_VERSION)
            else:
                _check_schema(f, self.path)
                # a version-1 file gains a version-2 run (with NeXus attributes); its
                # version-1 runs read as before
                f.attrs["schema_version"] = SCHEMA_VERSION
            if self.run_id not in f.get("runs", {}):
                nexus.annotate_root(f, self.run_id)
            runs = f.require_group("runs")
            if not isinstance(runs, h5py.Group):
                raise RunFileError(f"{self.path}: damaged run file ('runs' is not a group)")
            if self.run_id in runs:
                raise RunFileError(f"{self.path}: run {self.run_id!r} already exists")
        except BaseException:
            f.close()  # leave the file usable by the next writer or reader
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
            self._broken, error = f"{self.path}: write failed ({_one_line(exc)})", RunFileError
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
                        f"{self.path}: closing failed ({_one_line(exc)})")
        # A flusher still alive at interpreter exit can crash the process while HDF5 is
        # torn down (seen as a segfault after a completed CLI run): end it here.
        if self._flush_thread is not threading.current_thread():
            self._flush_thread.join(timeout=5)
        if self._broken and status in ("completed", "stopped", "running"):
            status, reason = "failed", self._broken
        try:
            self._check_room(64 * 1024 + len(traceback) + len(reason), "to close the run")
            with h5py.File(self.path, "r+", libver="latest") as f:
                g = f["runs"][self.run_id]
                set_attr(g.attrs, "status", status)
                set_attr(g.attrs, "reason", reason)
                set_attr(g.attrs, "traceback", traceback)
                set_attr(g.attrs, "end_utc", utc_now())
                set_attr(g.attrs, "complete", True)
                nexus.finish_run(g, utc_now())
                for key, value in (extra or {}).items():
                    set_attr(g.attrs, key, _json_attr(value))
        except Exception as exc:  # noqa: BLE001 - the data is closed; say why status is not
            if not self._broken:
                raise RunFileError(f"{self.path}: final status not written "
                                   f"({_one_line(exc)})") from exc
        finally:
            self._writer_lock.release()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close("completed")
        else:
            import traceback as tbmod

            self.close(
                "failed",
                reason=f"{exc_type.__name__}: {exc}",
                traceback="".join(tbmod.format_exception(exc_type, exc, tb)),
            )


# ----------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------


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
    #: a live writer is adding to this run now (see :func:`analysis.runlock.live_writer`)
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


def _decode(value: Any) -> Any:
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


def _attrs(obj: h5py.Group) -> dict[str, Any]:
    """Decoded attributes of a group without the NeXus ones (``NX_class``, ``default``),
    which describe the file's structure, not the run."""
    return {k: _decode(v) for k, v in obj.attrs.items() if k not in nexus.GROUP_ATTRS}


def _check_schema(f: h5py.File, path: Path) -> None:
    if _decode(f.attrs.get("schema")) != SCHEMA_NAME:
        raise RunFileError(f"{path}: not a labapp run file (no '{SCHEMA_NAME}' schema attribute)")
    version = int(f.attrs.get("schema_version", -1))
    if version > SCHEMA_VERSION:
        raise RunFileError(
            f"{path}: schema version {version} is newer than this labapp reads "
            f"(<= {SCHEMA_VERSION}); upgrade labapp"
        )


def _check_not_truncated(p: Path) -> None:
    """Refuse a file shorter than the end-of-file address its superblock records.

    Opening with ``swmr=True`` (needed to read a file that is being written) skips HDF5's
    own EOF check, and a truncated file then hangs or crashes inside the library, where
    Python cannot interrupt it (:mod:`analysis.superblock` reads the address).
    """
    ends = recorded_end(p)
    if ends is not None and ends[1] < ends[0]:
        raise RunFileError(
            f"{p}: truncated run file ({ends[1]} bytes on disk, the file records {ends[0]}); "
            "'labapp info --repair' sets its end to the bytes on disk so that what was "
            "written before can be read")


#: how long a reader waits for a live writer's first flush before calling it truncated
LIVE_SETTLE_S = 2.0

#: what h5py raises on damaged structures
_DAMAGE = (OSError, KeyError, RuntimeError, ValueError, TypeError, AttributeError)


@contextmanager
def _file_errors(p: Path) -> Iterator[None]:
    """Turn errors from damaged HDF5 structures into one RunFileError naming the file."""
    try:
        yield
    except RunFileError:
        raise
    except _DAMAGE as exc:
        raise RunFileError(f"{p}: damaged or corrupt run file ({_one_line(exc)})") from exc


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
                raise RunFileError(f"{p}: not a readable HDF5 file ({_one_line(exc)})"
                                   ) from exc
        except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, ...
            raise RunFileError(f"{p}: not a readable HDF5 file ({_one_line(exc)})") from exc
        time.sleep(0.05)
    return f


def _open(path: str | Path, live: bool | None = None) -> h5py.File:
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
        _check_schema(f, p)
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
            with _file_errors(p), _open(p, live=False):
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
    with _file_errors(p), _open(p, live=holder is not None) as f:
        runs = f.get("runs", {})
        out = []
        for run_id in list(runs):
            try:
                info = _run_info(run_id, runs[run_id])
            except _DAMAGE as exc:
                info = RunInfo(run_id, "", "damaged", False, "", "", {},
                               damage=_one_line(exc))
            info.live = bool(holder) and holder.get("run_id") == run_id
            out.append(info)
    out.sort(key=lambda r: r.start_utc)
    return out


def _placeholder(ds: h5py.Dataset) -> np.ndarray:
    """An array of the dataset's shape and dtype that holds no data (zero strides)."""
    return np.broadcast_to(np.zeros((), dtype=ds.dtype), ds.shape)


def _start_of(g: Any) -> str:
    try:
        return str(_decode(g.attrs.get("start_utc", "")))
    except _DAMAGE:
        return ""


def read_run(path: str | Path, run_id: str | None = None, *, data: bool = True) -> RunData:
    """Load one run (the last one when ``run_id`` is None).

    ``data=False`` reads no values: every column and waveform is a read-only placeholder
    of its stored shape and dtype (NaN or zero, no memory), for listings of large files.

    A run cut off by a crash loads with equal-length columns trimmed to the shortest
    column, so that a partially flushed row never misaligns the table.
    """
    p = Path(path)
    with _file_errors(p), _open(p) as f:
        runs = f.get("runs")
        if runs is None or len(runs) == 0:
            raise RunFileError(f"{p}: file holds no runs")
        if run_id is None:
            run_id = max(runs, key=lambda r: _start_of(runs[r]))
        if run_id not in runs:
            raise RunFileError(f"{p}: no run {run_id!r}; runs: {sorted(runs)}")
        try:
            return _load_run(p, run_id, runs[run_id], data)
        except _DAMAGE as exc:
            raise RunFileError(f"{p}: run {run_id} is damaged ({_one_line(exc)})") from exc


def _load_run(p: Path, run_id: str, g: h5py.Group, data: bool) -> RunData:
    attrs = _attrs(g)
    streams: dict[str, dict[str, np.ndarray]] = {}
    units: dict[str, dict[str, str]] = {}
    for s, grp in g["data"].items():
        cols = {c: ds[()] if data else _placeholder(ds) for c, ds in grp.items()}
        n = min((len(a) for a in cols.values()), default=0)
        streams[s] = {c: a[:n] for c, a in cols.items()}
        units[s] = {c: str(_decode(ds.attrs.get("units", ""))) for c, ds in grp.items()}
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


def _reopen_after_crash(path: Path) -> None:
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
        with _file_errors(path), open_for_reading(path, live=False) as src, \
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
    write (:func:`analysis.superblock.reset_end_of_file`: structures written before the
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
                raise RunFileError(f"{p}: cannot open for writing ({_one_line(exc)})") from exc
            _reopen_after_crash(p)
            f = h5py.File(p, "r+", libver="latest")
        with _file_errors(p), f:
            for rid in todo:
                g = f["runs"][rid]
                set_attr(g.attrs, "status", "incomplete")
                set_attr(g.attrs, "reason", "writer stopped without closing the run (repaired)")
                set_attr(g.attrs, "complete", True)
                if not g.attrs.get("end_utc"):
                    set_attr(g.attrs, "end_utc", utc_now())
    return todo, note
