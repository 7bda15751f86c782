"""One JSON description of a run, for ``labapp info --json`` and the CSV export's sidecar.

Both show the same keys, so a script that reads one reads the other: run_id, protocol,
status and reason, parameters with units, outcome, simulated and seed, instrument,
device, operator, notes, software, safety profile and streams with their row counts and
column units. ``simulated`` and ``seed`` are read from the run's metadata; files written
before those keys existed fall back to the instrument snapshot (``simulated``) and the
simulator's identification string (``SIM0000003`` = seed 3).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from labcore.run_reader import RunData

_SIM_SERIAL = re.compile(r"SIM(\d+)")


def provenance(attrs: Mapping[str, Any], instrument: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(simulated, seed)`` of a run: metadata first, then the instrument snapshot/IDN."""
    simulated = attrs.get("simulated", instrument.get("simulated"))
    seed = attrs.get("seed", instrument.get("seed"))
    idn = str(attrs.get("instrument_idn") or instrument.get("idn") or "")
    if simulated is None and idn:
        simulated = bool(_SIM_SERIAL.search(idn))
    if seed is None and simulated and (m := _SIM_SERIAL.search(idn)):
        seed = int(m.group(1))
    return (None if simulated is None else bool(simulated)), seed


def jsonable(value: Any) -> Any:
    """Plain JSON types (numpy scalars/arrays to Python, NaN/inf to None)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def describe_run(run: RunData, rows: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The run as a JSON-ready dict (see the module docstring for the keys).

    ``rows`` gives stream row counts when ``run`` was read without its data.
    """
    a = run.attrs
    simulated, seed = provenance(a, run.instrument)
    streams = {}
    for name, cols in run.streams.items():
        n = rows.get(name) if rows is not None else None
        if n is None:
            n = min((len(c) for c in cols.values()), default=0)
        units = run.units.get(name, {})
        streams[name] = {"rows": int(n), "columns": {c: units.get(c, "") for c in cols}}
    outcome = a.get("outcome") or {}
    return jsonable({
        "run_id": run.run_id,
        "protocol": run.protocol,
        "status": run.status,
        "reason": a.get("reason", ""),
        "complete": bool(a.get("complete", False)),
        "start_utc": a.get("start_utc", ""),
        "end_utc": a.get("end_utc", ""),
        "parameters": {k: ({"value": v.get("value"), "unit": v.get("unit", "")}
                           if isinstance(v, Mapping) else {"value": v, "unit": ""})
                       for k, v in run.parameters.items()},
        "outcome": outcome if isinstance(outcome, Mapping) else {"value": outcome},
        "simulated": simulated,
        "seed": seed,
        "instrument": {"idn": a.get("instrument_idn") or run.instrument.get("idn", ""),
                       "settings": dict(run.instrument)},
        "device": {"device_id": a.get("device_id", ""), "sample": a.get("sample", "")},
        "operator": a.get("operator", ""),
        "notes": a.get("notes", ""),
        "preset": a.get("preset", ""),
        "software": {"version": a.get("software_version", ""),
                     "git_commit": a.get("git_commit", "")},
        "safety_profile": dict(run.safety),
        "safe_state_problems": a.get("safe_state_problems") or [],
        "streams": streams,
        "waveforms": {w: {"pulses": int(arr.shape[0]),
                          "samples_per_pulse": int(arr.shape[1]) if arr.ndim > 1 else 1}
                      for w, arr in run.waveforms.items()},
        "source_file": str(run.path),
    })


def dumps(obj: Any) -> str:
    """Indented JSON with plain types."""
    return json.dumps(jsonable(obj), indent=2, ensure_ascii=False)
