"""CSV input: the labapp export columns, plus the names Clarius and other tools write.

A CSV file is turned into the same :class:`analysis.runfile.RunData` a run file gives,
with one stream ``samples``, so that every analysis downstream has one input type.

Accepted headers (case and spacing ignored, a unit in ``()`` or ``[]`` is read and
applied, e.g. ``Current (mA)`` is scaled to A):

* export columns: ``time_s, voltage_V, current_A[, conductance_G0, pulse_index, segment,
  compliance, cycle, v_program_V]``;
* common instrument names: ``Time``, ``AV``/``V``/``Voltage``/``V1``/``VMeasCh1``/
  ``Drain Voltage`` for voltage, ``AI``/``I``/``Current``/``I1``/``IMeasCh1``/
  ``Drain Current`` for current, ``Pulse``/``Pulse Number`` for the pulse index.

Comment lines start with ``#``; ``# protocol: ltp-ltd`` and ``# run_id: x`` set those
fields, ``# param name = value [unit]`` adds a parameter.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np

from analysis.runfile import STANDARD_UNITS, RunData, RunFileError

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
    if not p.exists():
        raise RunFileError(f"{p}: no such file")
    meta: dict[str, str] = {}
    parameters: dict[str, dict] = {}
    header: list[str] | None = None
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise RunFileError(f"{p}: cannot read ({exc})") from exc
    lines = text.splitlines()
    body = []
    for line in lines:
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            _parse_comment(s[1:].strip(), meta, parameters)
            continue
        body.append(line)
    if not body:
        raise RunFileError(f"{p}: no header line and no data")
    try:
        dialect = csv.Sniffer().sniff(body[0], delimiters=",;\t")
        delim = dialect.delimiter
    except csv.Error:
        delim = ","
    reader = csv.reader(body[:1], delimiter=delim)
    header = next(reader)
    columns: dict[str, tuple[int, float]] = {}
    for idx, h in enumerate(header):
        key, scale = _normalise(h)
        name = ALIASES.get(key)
        if name and name not in columns:
            columns[name] = (idx, scale)
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
    streams: dict[str, np.ndarray] = {}
    for name, (idx, scale) in columns.items():
        col = table[:, idx] * scale
        if name in ("pulse_index", "segment", "cycle", "n_true"):
            col = np.nan_to_num(col, nan=-1).astype(np.int64)
        elif name == "compliance":
            col = np.nan_to_num(col) != 0
        streams[name] = col
    if "voltage_V" not in streams:
        streams["voltage_V"] = streams["v_program_V"]
    if "time_s" not in streams:
        streams["time_s"] = np.arange(len(table), dtype=float)
    units = {c: STANDARD_UNITS.get(c, "") for c in streams}
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


def write_csv(path: str | Path, columns: dict[str, np.ndarray], *, protocol: str = "") -> Path:
    """Write columns as a labapp-style CSV (used by tests and ``analyze-batch`` reports)."""
    p = Path(path)
    names = list(columns)
    data = np.column_stack([np.asarray(columns[n], dtype=float) for n in names])
    header = ",".join(names)
    prefix = f"# protocol: {protocol}\n" if protocol else ""
    with p.open("w", encoding="utf-8") as fh:
        fh.write(prefix + header + "\n")
        np.savetxt(fh, data, delimiter=",", fmt="%.10g")
    return p
