"""CSV in and out: the one CSV writer (CLI export and GUI) and the reader.

Writing (:func:`write_csv`, :func:`export_run`): plain RFC 4180 tables that Excel, Origin
and ``pandas.read_csv(path)`` open as they are: one header line of SI-suffixed names
(``time_s, voltage_V, current_A, conductance_G0``; ``cycle``, ``segment``,
``pulse_index``, ``compliance`` as 0/1 where the stream has them), then numbers only
(an empty cell is a missing value), comma separated, CRLF line ends. Everything else
about a run goes into a JSON sidecar (:mod:`labcore.run_json`): one CSV per run and
stream, ``DIR/<run_id>_<stream>.csv``, plus ``DIR/<run_id>.json``.

Reading (:func:`read_csv_run`): that format (metadata from the sidecar when it is next
to the CSV), the earlier labapp format (``#`` comment lines, ``", "`` separators) and the
names Clarius and other tools write. Headers are matched with case and spacing ignored;
a unit in ``()`` or ``[]`` is read and applied (``Current (mA)`` is scaled to A):

* export columns: ``time_s, voltage_V, current_A[, conductance_G0, pulse_index, segment,
  compliance, cycle, v_program_V]``; other identifier-like headers are kept by name;
* common instrument names: ``Time``, ``AV``/``V``/``Voltage``/``V1``/``VMeasCh1``/
  ``Drain Voltage`` for voltage, ``AI``/``I``/``Current``/``I1``/``IMeasCh1``/
  ``Drain Current`` for current, ``Pulse``/``Pulse Number`` for the pulse index.

Comment lines (earlier format) start with ``#``; ``# protocol: ltp-ltd`` and
``# run_id: x`` set those fields, ``# param name = value [unit]`` adds a parameter.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labcore.h5files import RunFileError
from labcore.run_json import describe_run, dumps
from labcore.run_reader import RunData, list_runs, read_run
from labcore.schema import STANDARD_UNITS

#: normalised header -> standard column name
ALIASES: dict[str, str] = {
    # time
    "time_s": "time_s", "time": "time_s", "t": "time_s", "timeoutput": "time_s",
    "timestamp": "time_s", "vtime": "time_s", "itime": "time_s",
    # voltage
    "voltage_v": "voltage_V", "voltage": "voltage_V", "v": "voltage_V", "av": "voltage_V",
    "v1": "voltage_V", "vmeasch1": "voltage_V", "vmeas": "voltage_V",
    "drainvoltage": "voltage_V", "anodev": "voltage_V", "vforce": "v_program_V",
    # current
    "current_a": "current_A", "current": "current_A", "i": "current_A", "ai": "current_A",
    "i1": "current_A", "imeasch1": "current_A", "imeas": "current_A",
    "draincurrent": "current_A", "anodei": "current_A",
    # others
    "conductance_g0": "conductance_G0", "g_g0": "conductance_G0", "gg0": "conductance_G0",
    "pulse_index": "pulse_index", "pulse": "pulse_index", "pulsenumber": "pulse_index",
    "pulse_number": "pulse_index", "segment": "segment", "compliance": "compliance",
    "cycle": "cycle", "v_program_v": "v_program_V", "n_true": "n_true",
    "partial_true": "partial_true", "g_true_g0": "g_true_G0",
}

_PREFIX = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "n": 1e-9, "p": 1e-12,
           "k": 1e3}
_UNIT_RE = re.compile(r"^(?P<name>.*?)\s*[\(\[](?P<unit>[^\)\]]*)[\)\]]\s*$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: integer columns (written without a decimal point, read back as integers)
INT_COLUMNS = ("pulse_index", "segment", "cycle", "n_true", "phase")
#: RFC 4180 line end
CRLF = "\r\n"


def _normalise(header: str) -> tuple[str, float]:
    """Header -> (alias key, scale to SI) using a unit in brackets if present."""
    scale = 1.0
    h = header.strip().strip('"').strip()
    m = _UNIT_RE.match(h)
    if m:
        h = m.group("name")
        unit = m.group("unit").strip()
        if unit and unit[-1] in "AVsS" and unit[:-1] in _PREFIX:
            scale = _PREFIX[unit[:-1]]
    key = re.sub(r"[\s\-]+", "", h).lower()
    if key not in ALIASES:
        key = re.sub(r"[\s\-_]+", "", h).lower()
    return key, scale


def read_csv_run(path: str | Path) -> RunData:
    """Read a CSV export into a :class:`RunData` with one ``samples`` stream.

    Raises
    ------
    RunFileError
        Missing file, no header, no voltage or current column, or non-numeric cells;
        the message names the file and the problem.
    """
    p = Path(path)
    meta, parameters, body = _split_lines(p)
    delim = _delimiter(body[0])
    header = next(csv.reader(body[:1], delimiter=delim))
    columns = _header_columns(header)
    if "current_A" not in columns or (
        "voltage_V" not in columns and "v_program_V" not in columns
    ):
        raise RunFileError(
            f"{p}: need a voltage and a current column; header was {header!r} "
            f"(expected e.g. time_s, voltage_V, current_A)"
        )
    if len(body) < 2:
        raise RunFileError(f"{p}: header but no data rows")
    table = _numeric_table(p, body[1:], delim)
    if table.ndim != 2 or table.shape[1] < len(header):
        raise RunFileError(f"{p}: rows have fewer cells than the header ({len(header)})")
    streams = _typed_columns(table, columns)
    units = {c: STANDARD_UNITS.get(c, "") for c in streams}
    side = read_sidecar(p)
    if side:
        return _run_from_sidecar(p, side, streams, units)
    return RunData(
        path=p,
        run_id=meta.get("run_id", p.stem),
        protocol=meta.get("protocol", ""),
        status="completed",
        attrs={"source": "csv", **meta},
        parameters=parameters,
        instrument={},
        safety={},
        streams={"samples": streams},
        units={"samples": units},
        waveforms={},
    )


def _split_lines(p: Path) -> tuple[dict[str, str], dict[str, dict], list[str]]:
    """``(metadata, parameters, table lines)`` of a CSV: ``#`` comment lines (the earlier
    format) parsed, blank lines dropped; refuses a missing, unreadable or empty file."""
    if not p.exists():
        raise RunFileError(f"{p}: no such file")
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise RunFileError(f"{p}: cannot read ({exc})") from exc
    meta: dict[str, str] = {}
    parameters: dict[str, dict] = {}
    body = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            _parse_comment(s[1:].strip(), meta, parameters)
        elif s:
            body.append(line)
    if not body:
        raise RunFileError(f"{p}: no header line and no data")
    return meta, parameters, body


def _delimiter(header_line: str) -> str:
    """Comma, semicolon or tab, as the header line shows (comma when unclear)."""
    try:
        return csv.Sniffer().sniff(header_line, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _header_columns(header: list[str]) -> dict[str, tuple[int, float]]:
    """Standard column name -> (index, scale to SI) for the headers :data:`ALIASES`
    knows (the first of each), then other identifier-like headers by their own name."""
    columns: dict[str, tuple[int, float]] = {}
    extra: dict[str, tuple[int, float]] = {}
    for idx, h in enumerate(header):
        key, scale = _normalise(h)
        name = ALIASES.get(key)
        if name and name not in columns:
            columns[name] = (idx, scale)
        elif not name and _IDENT.fullmatch(h.strip().strip('"')):
            extra.setdefault(h.strip().strip('"'), (idx, 1.0))
    columns.update({k: v for k, v in extra.items() if k not in columns})
    return columns


def _typed_columns(table: np.ndarray, columns: dict[str, tuple[int, float]]
                   ) -> dict[str, np.ndarray]:
    """The table's columns scaled to SI and typed (integers, compliance as bool), with a
    voltage (the programmed one if no other) and a time (the row number if none)."""
    streams: dict[str, np.ndarray] = {}
    for name, (idx, scale) in columns.items():
        col = table[:, idx] * scale
        if name in INT_COLUMNS:
            col = np.nan_to_num(col, nan=-1).astype(np.int64)
        elif name == "compliance":
            col = np.nan_to_num(col) != 0
        streams[name] = col
    if "voltage_V" not in streams:
        streams["voltage_V"] = streams["v_program_V"]
    if "time_s" not in streams:
        streams["time_s"] = np.arange(len(table), dtype=float)
    return streams


def _run_from_sidecar(p: Path, side: dict[str, Any], streams: dict[str, np.ndarray],
                      units: dict[str, str]) -> RunData:
    """An exported CSV with its JSON sidecar: the run's metadata come from the sidecar."""
    stream = side.get("_stream", "samples")
    info = side.get("streams", {}).get(stream, {})
    units = {**units, **{c: u for c, u in info.get("columns", {}).items() if c in units}}
    return RunData(
        path=p, run_id=side.get("run_id", p.stem), protocol=side.get("protocol", ""),
        status=side.get("status", "completed"),
        attrs={"source": "csv", **{k: side[k] for k in ("operator", "notes", "reason")
                                   if side.get(k)},
               **{k: v for k, v in side.get("device", {}).items() if v}},
        parameters=dict(side.get("parameters", {})),
        instrument=dict(side.get("instrument", {}).get("settings", {})),
        safety=dict(side.get("safety_profile", {})),
        streams={"samples": streams}, units={"samples": units}, waveforms={})


def _numeric_table(p: Path, lines: list[str], delim: str) -> np.ndarray:
    """Rows as a float table: numpy's C parser first, a cell-by-cell pass for blanks."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return np.atleast_2d(np.loadtxt(lines, delimiter=delim, dtype=float, ndmin=2))
    except (ValueError, UserWarning):
        pass
    rows = [r for r in csv.reader(lines, delimiter=delim) if any(c.strip() for c in r)]
    try:
        return np.array([[float(c) if c.strip() else np.nan for c in r] for r in rows],
                        dtype=float)
    except ValueError as exc:
        raise RunFileError(f"{p}: non-numeric cell ({exc})") from exc


def _parse_comment(text: str, meta: dict[str, str], parameters: dict[str, dict]) -> None:
    if text.lower().startswith("param "):
        m = re.match(r"param\s+(\S+)\s*=\s*(\S+)\s*(\S*)", text, re.IGNORECASE)
        if m:
            raw = m.group(2)
            try:
                value: object = float(raw)
            except ValueError:
                value = raw
            parameters[m.group(1)] = {"value": value, "unit": m.group(3)}
        return
    if ":" in text:
        key, _, value = text.partition(":")
        key = key.strip().lower()
        if key in ("protocol", "run_id", "device_id", "sample"):
            meta[key] = value.strip()


def csv_name(column: str, unit: str) -> str:
    """Header of a column: its name, with the unit appended unless the name carries it."""
    if not unit or column.endswith(f"_{unit}"):
        return column
    return f"{column}_{unit}"


def _text_cell(value: Any) -> str:
    """A text cell: ``str(value)``, None empty, quoted (RFC 4180) only where it must be."""
    s = "" if value is None else str(value)
    if any(ch in s for ch in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def _cells(values: np.ndarray) -> list[str]:
    """One column as text: integers plain, booleans 0/1, floats to 12 digits, NaN empty;
    a text or object column (e.g. file names, None for a missing value) as ``str``."""
    a = np.asarray(values)
    if a.dtype.kind in "OUS":
        return [_text_cell(v) for v in a.tolist()]
    if a.dtype == bool:
        return np.where(a, "1", "0").tolist()
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(str).tolist()
    a = a.astype(float)
    text = np.char.mod("%.12g", a)
    return np.where(np.isnan(a), "", text).tolist()


def write_csv(path: str | Path, columns: Mapping[str, Any], *,
              units: Mapping[str, str] | None = None,
              metadata: Mapping[str, Any] | None = None, protocol: str = "") -> Path:
    """Write one table as RFC 4180 CSV: a header line, then one row per value.

    Numeric columns are numbers only (the export); a text or object column (a report's
    file names, a ``None`` for a missing value) is written as its ``str``, quoted where
    RFC 4180 requires it.

    Parameters
    ----------
    columns : equal-length columns by name; the header is :func:`csv_name` of each.
    units : unit per column (appended to names that lack it, e.g. ``elapsed`` -> ``elapsed_s``).
    metadata : written beside the CSV as ``<name>.json`` (e.g. :func:`describe_run`).
    protocol : shorthand for ``metadata={"protocol": protocol}``.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    header = [csv_name(n, (units or {}).get(n, "")) for n in names]
    cells = [_cells(columns[n]) for n in names]
    n = min((len(c) for c in cells), default=0)
    with p.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator=CRLF)  # quotes a header only if it must
        writer.writerow(header)
        block = 100_000
        for start in range(0, n, block):
            rows = zip(*(c[start:start + block] for c in cells), strict=True)
            fh.write(CRLF.join(",".join(r) for r in rows) + CRLF)
    if protocol and metadata is None:
        metadata = {"protocol": protocol}
    if metadata is not None:
        p.with_suffix(".json").write_text(dumps(metadata) + "\n", encoding="utf-8")
    return p


#: leading columns of an export, in this order (the run file stores columns unordered)
COLUMN_ORDER = ("time_s", "elapsed_s", "cycle", "segment", "pulse_index", "phase", "sample",
                "v_program_V", "voltage_V", "current_A", "conductance_G0", "compliance")


def ordered(columns: Mapping[str, Any]) -> dict[str, Any]:
    """Columns with :data:`COLUMN_ORDER` first, the others after them by name."""
    rank = {c: i for i, c in enumerate(COLUMN_ORDER)}
    return {c: columns[c] for c in sorted(columns, key=lambda c: (rank.get(c, len(rank)), c))}


def _waveform_table(run: RunData) -> dict[str, np.ndarray]:
    """The per-pulse captures as one long table: pulse_index, sample, then each capture."""
    waves = {k: np.atleast_2d(v) for k, v in run.waveforms.items()}
    pulses, samples = next(iter(waves.values())).shape
    idx = run.streams.get("samples", {}).get("pulse_index")
    index = idx if idx is not None and len(idx) == pulses else np.arange(pulses)
    table: dict[str, np.ndarray] = {"pulse_index": np.repeat(index, samples),
                                    "sample": np.tile(np.arange(samples), pulses)}
    for name, arr in waves.items():
        table[name] = arr.reshape(-1)
    return table


def export_run(run: RunData, directory: str | Path) -> list[Path]:
    """``DIR/<run_id>_<stream>.csv`` per stream with rows (and ``_waveforms`` for per-pulse
    captures) plus the sidecar ``DIR/<run_id>.json``; returns the files written."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    meta = describe_run(run)
    written = []
    tables = {s: (ordered(cols), run.units.get(s, {})) for s, cols in run.streams.items()}
    if run.waveforms:
        wt = _waveform_table(run)
        tables["waveforms"] = (wt, {k: STANDARD_UNITS.get(k, "") for k in wt})
        meta["streams"]["waveforms"] = {"rows": int(len(wt["sample"])),
                                        "columns": dict(tables["waveforms"][1])}
    for stream, (cols, units) in tables.items():
        if meta["streams"][stream]["rows"] == 0:
            continue  # an unused stream (e.g. no program pulse): listed, no file
        path = d / f"{run.run_id}_{stream}.csv"
        write_csv(path, cols, units=units)
        meta["streams"][stream]["file"] = path.name
        meta["streams"][stream]["columns"] = {c: units.get(c, "") for c in cols}  # file order
        meta["streams"][stream]["header"] = [csv_name(c, units.get(c, "")) for c in cols]
        written.append(path)
    side = d / f"{run.run_id}.json"
    side.write_text(dumps(meta) + "\n", encoding="utf-8")
    return [*written, side]


def export_csv(path: str | Path, out: str | Path, run_id: str | None = None) -> list[Path]:
    """Export runs of a run file: :func:`export_run` for each run (or ``run_id``) into the
    directory ``out``. An ``out`` ending in ``.csv`` (one run) receives that run's
    ``samples`` stream, with the sidecar beside it as ``<name>.json``."""
    ids = [run_id] if run_id else [r.run_id for r in list_runs(path)]
    if not ids:
        raise RunFileError(f"{path}: file holds no runs")
    o = Path(out)
    if o.suffix.lower() == ".csv":
        if len(ids) != 1:
            raise RunFileError(f"{path}: {len(ids)} runs; give --run ID or a directory as output")
        run = read_run(path, ids[0])
        if "samples" not in run.streams:
            raise RunFileError(f"{path}: run {ids[0]!r} has no samples stream; export it to "
                               "a directory (one CSV per stream)")
        meta = describe_run(run)
        meta["_stream"] = "samples"
        return [write_csv(o, ordered(run.streams["samples"]), units=run.units.get("samples", {}),
                          metadata=meta), o.with_suffix(".json")]
    return [f for rid in ids for f in export_run(read_run(path, rid), o)]


def read_sidecar(csv_path: str | Path) -> dict[str, Any]:
    """The sidecar of an exported CSV (``<name>.json`` or ``<run_id>.json`` for
    ``<run_id>_<stream>.csv``), with ``_stream`` set to the CSV's stream; {} if none."""
    p = Path(csv_path)
    candidates = [(p.with_suffix(".json"), None)]
    stem = p.stem
    while "_" in stem:
        stem, _, _ = stem.rpartition("_")
        candidates.append((p.with_name(stem + ".json"), stem))
    for side, run_id in candidates:
        if not side.is_file():
            continue
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if run_id is None:
            data.setdefault("_stream", "samples")
            return data
        for stream, info in data.get("streams", {}).items():
            if isinstance(info, dict) and info.get("file") == p.name:
                return {**data, "_stream": stream}
    return {}


def read_export(sidecar: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """An exported run from its sidecar: ``(metadata, {stream: columns})`` with every
    stream's columns under their original names and dtypes."""
    side = Path(sidecar)
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFileError(f"{side}: not a readable export sidecar ({exc})") from exc
    streams: dict[str, dict[str, np.ndarray]] = {}
    for stream, info in meta.get("streams", {}).items():
        if not isinstance(info, dict) or "file" not in info:
            continue
        streams[stream] = read_table(side.parent / info["file"], list(info["columns"]))
    return meta, streams


def read_table(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """A CSV written by :func:`write_csv`, columns renamed to ``names`` (header order)."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise RunFileError(f"{path}: empty CSV")
    header = next(csv.reader(lines[:1]))
    if len(header) != len(names):
        raise RunFileError(f"{path}: {len(header)} columns, the sidecar lists {len(names)}")
    table = (_numeric_table(path, lines[1:], ",") if len(lines) > 1
             else np.empty((0, len(names))))
    out = {}
    for j, name in enumerate(names):
        col = table[:, j]
        if name in INT_COLUMNS:
            col = np.nan_to_num(col, nan=-1).astype(np.int64)
        elif name == "compliance":
            col = col != 0
        out[name] = col
    return out
