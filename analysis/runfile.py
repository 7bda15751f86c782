"""The HDF5 run-file schema: the one module that writes and reads run files.

Layout (schema ``labapp-run``, version :data:`SCHEMA_VERSION`; documented in
``docs/file-format.md``)::

    /                         attrs: schema, schema_version
    /runs/<run_id>/           attrs: protocol, status, reason, traceback, start_utc, end_utc,
                                     software_version, git_commit, g0_S, device_id, sample,
                                     operator, notes, instrument_idn, complete
        parameters/           attrs: one JSON-encoded {"value": v, "unit": u} per parameter
        instrument/           attrs: settings snapshot (JSON-encoded values)
        safety/               attrs: safety profile (JSON-encoded values)
        data/<stream>/<col>   1-D chunked, resizable datasets, attrs: units
        waveforms/<name>      2-D (pulse, sample) chunked datasets, attrs: units

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
"""

from __future__ import annotations

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

from analysis.constants import G0

SCHEMA_NAME = "labapp-run"
SCHEMA_VERSION = 1

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


class RunFileError(Exception):
    """A run file cannot be read: names the file and what is wrong with it."""


def utc_now() -> str:
    """Current UTC time in ISO 8601 with a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.flush_interval = flush_interval
        self.run_id = run_id or (
            datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        )
        self._specs = {k: StreamSpec.of(v) for k, v in streams.items()}
        self._rows = dict.fromkeys(self._specs, 0)
        self._wave_rows: dict[str, int] = {}
        self._closed = False
        mode = "a" if self.path.exists() else "w"
        try:
            try:
                self._f = h5py.File(self.path, mode, libver="latest")
            except OSError as exc:
                if mode != "a" or "already open for write" not in str(exc):
                    raise
                _reopen_after_crash(self.path)  # an earlier writer was killed
                self._f = h5py.File(self.path, mode, libver="latest")
        except OSError as exc:
            raise RunFileError(f"{self.path}: cannot open for writing ({exc})") from exc
        f = self._f
        try:
            if mode == "a" and "schema" not in f.attrs:
                raise RunFileError(f"{self.path}: not a labapp run file (no '{SCHEMA_NAME}' "
                                   "schema attribute); write the run to a new file")
            if "schema" not in f.attrs:
                f.attrs["schema"] = SCHEMA_NAME
                f.attrs["schema_version"] = SCHEMA_VERSION
            else:
                _check_schema(f, self.path)
            runs = f.require_group("runs")
            if self.run_id in runs:
                raise RunFileError(f"{self.path}: run {self.run_id!r} already exists")
        except RunFileError:
            f.close()  # leave the file usable by the next writer or reader
            raise
        g = runs.create_group(self.run_id)
        self._group = g
        g.attrs["protocol"] = protocol
        g.attrs["status"] = "running"
        g.attrs["reason"] = ""
        g.attrs["traceback"] = ""
        g.attrs["start_utc"] = utc_now()
        g.attrs["end_utc"] = ""
        g.attrs["complete"] = False
        g.attrs["g0_S"] = G0
        g.attrs["schema_version"] = SCHEMA_VERSION
        for key in ("device_id", "sample", "operator", "notes", "instrument_idn",
                    "software_version", "git_commit"):
            g.attrs[key] = ""
        for key, value in (metadata or {}).items():
            g.attrs[key] = value if isinstance(value, str | int | float | bool) else _json_attr(
                value
            )
        pg = g.create_group("parameters")
        for name, (value, unit) in parameters.items():
            pg.attrs[name] = _json_attr({"value": value, "unit": unit})
        ig = g.create_group("instrument")
        for name, value in (instrument_settings or {}).items():
            ig.attrs[name] = _json_attr(value)
        sg = g.create_group("safety")
        for name, value in (safety_profile or {}).items():
            sg.attrs[name] = _json_attr(value)
        dg = g.create_group("data")
        for stream, spec in self._specs.items():
            sgrp = dg.create_group(stream)
            for col, (dtype, units) in spec.columns.items():
                ds = sgrp.create_dataset(
                    col, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk_rows,)
                )
                ds.attrs["units"] = units
        wg = g.create_group("waveforms")
        for name, (n_samples, units) in (waveforms or {}).items():
            ds = wg.create_dataset(
                name,
                shape=(0, n_samples),
                maxshape=(None, n_samples),
                dtype="f8",
                chunks=(max(1, min(64, 65536 // max(n_samples, 1))), n_samples),
            )
            ds.attrs["units"] = units
            self._wave_rows[name] = 0
        f.flush()
        f.swmr_mode = True
        self._datasets = {s: {c: dg[s][c] for c in spec.columns}
                          for s, spec in self._specs.items()}
        self._wave_ds = {w: wg[w] for w in self._wave_rows}
        self._wave_width = {w: int(ds.shape[1]) for w, ds in self._wave_ds.items()}
        self._pending: dict[str, list[dict[str, np.ndarray]]] = {s: [] for s in self._specs}
        self._pending_rows = dict.fromkeys(self._specs, 0)
        self._wave_pending: dict[str, list[np.ndarray]] = {w: [] for w in self._wave_rows}
        self._wave_pending_rows = dict.fromkeys(self._wave_rows, 0)
        self._block_rows = max(chunk_rows, 65536)
        self._lock = threading.RLock()
        self.flush_count = 0  #: flushes so far (for tests and benchmarks)
        self._last_flush = time.monotonic()
        self._stop_flusher = threading.Event()
        self._flush_thread = threading.Thread(target=self._flusher, daemon=True,
                                              name=f"runfile-flush-{self.run_id}")
        self._flush_thread.start()

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
                self._write_stream(stream)
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
                self._write_waveform(name)
            self._maybe_flush()

    def rows(self, stream: str) -> int:
        """Rows appended so far to ``stream`` (written or waiting for the next block)."""
        return self._rows[stream] + self._pending_rows[stream]

    def _check_open(self) -> None:
        if self._closed:
            raise RunFileError(f"{self.path}: run {self.run_id} is closed")

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
            if not self._closed:
                self._flush_locked()

    def _flusher(self) -> None:
        """Background thread: flush pending rows once they are ``flush_interval`` old."""
        while not self._stop_flusher.wait(min(0.25, self.flush_interval / 4)):
            with self._lock:
                if self._closed:
                    return
                dirty = any(self._pending_rows.values()) or any(
                    self._wave_pending_rows.values())
                if dirty and time.monotonic() - self._last_flush >= self.flush_interval:
                    try:
                        self._flush_locked()
                    except Exception:  # noqa: BLE001 - the next append reports it
                        return

    # -- closing -----------------------------------------------------------------------
    def close(self, status: str = "completed", reason: str = "", traceback: str = "",
              extra: Mapping[str, Any] | None = None) -> None:
        """Write what is pending, leave SWMR mode and record the final status (idempotent)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        with self._lock:
            if self._closed:
                return
            try:
                self._flush_locked()
            finally:
                self._closed = True
                self._stop_flusher.set()
                self._f.close()
        # A flusher still alive at interpreter exit can crash the process while HDF5 is
        # torn down (seen as a segfault after a completed CLI run): end it here.
        if self._flush_thread is not threading.current_thread():
            self._flush_thread.join(timeout=5)
        with h5py.File(self.path, "r+", libver="latest") as f:
            g = f["runs"][self.run_id]
            g.attrs["status"] = status
            g.attrs["reason"] = reason
            g.attrs["traceback"] = traceback
            g.attrs["end_utc"] = utc_now()
            g.attrs["complete"] = True
            for key, value in (extra or {}).items():
                g.attrs[key] = _json_attr(value)

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

    @property
    def effective_status(self) -> str:
        """``incomplete`` for a run whose writer never closed it."""
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


def _check_schema(f: h5py.File, path: Path) -> None:
    if f.attrs.get("schema") != SCHEMA_NAME:
        raise RunFileError(f"{path}: not a labapp run file (no '{SCHEMA_NAME}' schema attribute)")
    version = int(f.attrs.get("schema_version", -1))
    if version > SCHEMA_VERSION:
        raise RunFileError(
            f"{path}: schema version {version} is newer than this labapp reads "
            f"(<= {SCHEMA_VERSION}); upgrade labapp"
        )


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_not_truncated(p: Path) -> None:
    """Refuse a file shorter than the end-of-file address its superblock records.

    Opening with ``swmr=True`` (needed to read a file that is being written) skips HDF5's
    own EOF check, and a truncated file then hangs or crashes inside the library, where
    Python cannot interrupt it. Superblock versions 2 and 3 (``libver="latest"``, what
    the writer uses) store the EOF address after the base and extension addresses.
    """
    with open(p, "rb") as fh:
        head = fh.read(64)
    if not head.startswith(_HDF5_SIGNATURE) or len(head) < 12 or head[8] not in (2, 3):
        return  # other layouts: HDF5's own checks apply
    size = head[9]
    if size not in (2, 4, 8) or len(head) < 12 + 3 * size:
        return
    base = int.from_bytes(head[12:12 + size], "little")
    eof = int.from_bytes(head[12 + 2 * size:12 + 3 * size], "little")
    actual = p.stat().st_size
    if actual < base + eof:
        raise RunFileError(
            f"{p}: truncated run file ({actual} bytes on disk, the file records {base + eof})"
        )


@contextmanager
def _file_errors(p: Path) -> Iterator[None]:
    """Turn errors from damaged HDF5 structures into one RunFileError naming the file."""
    try:
        yield
    except RunFileError:
        raise
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise RunFileError(f"{p}: damaged or corrupt run file ({exc})") from exc


def _open(path: str | Path) -> h5py.File:
    p = Path(path)
    if not p.exists():
        raise RunFileError(f"{p}: no such file")
    _check_not_truncated(p)
    try:
        f = h5py.File(p, "r", libver="latest", swmr=True)
    except OSError as exc:
        raise RunFileError(f"{p}: not a readable HDF5 file ({exc})") from exc
    try:
        _check_schema(f, p)
    except RunFileError:
        f.close()
        raise
    return f


def list_runs(path: str | Path) -> list[RunInfo]:
    """All runs in a file, oldest first."""
    p = Path(path)
    with _file_errors(p), _open(p) as f:
        out = []
        for run_id, g in f.get("runs", {}).items():
            attrs = {k: _decode(v) for k, v in g.attrs.items()}
            rows = {s: int(next(iter(grp.values())).shape[0]) if len(grp) else 0
                    for s, grp in g["data"].items()}
            out.append(
                RunInfo(
                    run_id=run_id,
                    protocol=str(attrs.get("protocol", "")),
                    status=str(attrs.get("status", "")),
                    complete=bool(attrs.get("complete", False)),
                    start_utc=str(attrs.get("start_utc", "")),
                    end_utc=str(attrs.get("end_utc", "")),
                    rows=rows,
                    attrs=attrs,
                )
            )
    out.sort(key=lambda r: r.start_utc)
    return out


def _placeholder(ds: h5py.Dataset) -> np.ndarray:
    """An array of the dataset's shape and dtype that holds no data (zero strides)."""
    return np.broadcast_to(np.zeros((), dtype=ds.dtype), ds.shape)


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
            run_id = max(runs, key=lambda r: str(_decode(runs[r].attrs.get("start_utc", ""))))
        if run_id not in runs:
            raise RunFileError(f"{p}: no run {run_id!r}; runs: {sorted(runs)}")
        g = runs[run_id]
        attrs = {k: _decode(v) for k, v in g.attrs.items()}
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
            parameters={k: _decode(v) for k, v in g["parameters"].attrs.items()},
            instrument={k: _decode(v) for k, v in g["instrument"].attrs.items()},
            safety={k: _decode(v) for k, v in g["safety"].attrs.items()},
            streams=streams,
            units=units,
            waveforms=waveforms,
        )


def _reopen_after_crash(path: Path) -> None:
    """Rewrite a file whose SWMR writer was killed, so it can be opened for writing again.

    A killed SWMR writer leaves the superblock's "open for write" flags set; HDF5 then
    refuses write access (``h5clear -s`` would reset them). Reading still works, so the
    file is copied group by group into a fresh file that replaces it atomically.
    """
    tmp = path.with_name(path.name + ".repair")
    with h5py.File(path, "r", libver="latest", swmr=True) as src, \
            h5py.File(tmp, "w", libver="latest") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            src.copy(src[name], dst, name=name)
    os.replace(tmp, path)


def mark_incomplete(path: str | Path, run_ids: Sequence[str] | None = None) -> list[str]:
    """Repair: mark runs cut off by a crash as closed with status ``incomplete``.

    Their data up to the last flush stays as it is; afterwards the file is an ordinary
    closed run file that analysis reads without special cases. Returns the repaired ids.
    """
    p = Path(path)
    if not p.exists():
        raise RunFileError(f"{p}: no such file")
    _check_not_truncated(p)
    try:
        f = h5py.File(p, "r+", libver="latest")
    except OSError as exc:
        if "already open for write" not in str(exc):
            raise RunFileError(f"{p}: not a readable HDF5 file ({exc})") from exc
        _reopen_after_crash(p)
        f = h5py.File(p, "r+", libver="latest")
    repaired = []
    with _file_errors(p), f:
        _check_schema(f, p)
        for rid, g in f.get("runs", {}).items():
            if run_ids is not None and rid not in run_ids:
                continue
            if not bool(g.attrs.get("complete", False)):
                g.attrs["status"] = "incomplete"
                g.attrs["reason"] = "writer stopped without closing the run (repaired)"
                g.attrs["complete"] = True
                if not g.attrs.get("end_utc"):
                    g.attrs["end_utc"] = utc_now()
                repaired.append(rid)
    return repaired
