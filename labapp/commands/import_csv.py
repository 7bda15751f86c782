"""``labapp import-csv IN.csv|RUN.json -o FILE.h5``: CSV (labapp export or Clarius) to a run.

A CSV is read by :func:`labcore.csv_io.read_csv_run` (labapp export columns, with the
metadata of its JSON sidecar when that is beside it; the earlier ``#``-commented export
format; the common Clarius names such as ``AV``/``AI``, ``Time``, units in brackets), and
written as a new run (protocol from the sidecar or the ``# protocol:`` line, else
``imported``) through the run-file schema module, so legacy data reads like any run. An
export's sidecar ``RUN.json`` imports the whole run: every stream it lists, parameters
with units and the device/operator metadata.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from analysis.conductance import conductance_g0
from labapp.commands.run import run_file_path
from labcore.csv_io import read_csv_run, read_export
from labcore.runfile import STANDARD_UNITS, STATUSES, RunWriter
from protocols.versioning import software_version

_DTYPES = {"pulse_index": "i8", "segment": "i1", "cycle": "i4", "compliance": "?",
           "n_true": "i8", "phase": "i1"}
#: run metadata an export's sidecar carries back into the run
_META = ("device_id", "sample", "operator", "notes")


def import_export(sidecar: str | Path, h5_path: str | Path, *, protocol: str | None = None,
                  metadata: dict | None = None) -> str:
    """Write an exported run (its sidecar and every stream CSV) as a new run."""
    meta, streams = read_export(sidecar)
    specs = {s: {c: (_DTYPES.get(c, "f8"), meta["streams"][s]["columns"].get(c, ""))
                 for c in cols} for s, cols in streams.items() if s != "waveforms"}
    params = {k: (v.get("value"), v.get("unit", "")) for k, v in meta.get("parameters", {}).items()}
    waves = waveforms_from_table(streams.get("waveforms"), meta["streams"].get("waveforms", {}))
    writer = RunWriter(h5_path, protocol or meta.get("protocol") or "imported", params, specs,
                       metadata=export_attrs(meta, sidecar, metadata),
                       waveforms={w: (a.shape[1], u) for w, (a, u) in waves.items()},
                       instrument_settings=meta.get("instrument", {}).get("settings", {}),
                       safety_profile=meta.get("safety_profile", {}))
    with failed_on_error(writer):
        for s in specs:
            writer.append(s, {c: np.asarray(a).astype(specs[s][c][0])
                              for c, a in streams[s].items()})
        for w, (a, _) in waves.items():
            writer.append_waveforms(w, a)
    status = meta.get("status", "completed")
    writer.close(status if status in STATUSES else "completed", reason=meta.get("reason", ""),
                 extra={"outcome": meta["outcome"]} if meta.get("outcome") else None)
    return writer.run_id


def export_attrs(meta: dict, sidecar: str | Path, metadata: dict | None) -> dict:
    """Run attributes of an imported export: provenance, the sidecar's device, operator,
    simulated and seed (where it has them), then ``metadata`` given on the command line."""
    attrs = {**software_version(), "source_file": str(Path(sidecar).resolve()),
             "notes": meta.get("notes") or "imported from CSV export",
             **{k: v for k, v in meta.get("device", {}).items() if v}}
    if meta.get("operator"):
        attrs["operator"] = meta["operator"]
    attrs.update({k: meta[k] for k in ("simulated", "seed") if meta.get(k) is not None})
    return {**attrs, **(metadata or {})}


@contextlib.contextmanager
def failed_on_error(writer: RunWriter) -> Iterator[None]:
    """An error while the run is written closes it ``failed`` with the error as reason
    (the rows written before stay readable), then propagates."""
    try:
        yield
    except BaseException as exc:
        writer.close("failed", reason=f"{type(exc).__name__}: {exc}")
        raise


def waveforms_from_table(table: dict[str, np.ndarray] | None,
                         info: dict) -> dict[str, tuple[np.ndarray, str]]:
    """The export's long waveform table (pulse_index, sample, one column per capture) back
    to ``{name: ((pulses, samples_per_pulse) array, unit)}``."""
    if not table or "sample" not in table or not table["sample"].size:
        return {}
    samples = int(table["sample"].max()) + 1
    pulses = table["sample"].size // samples
    units = info.get("columns", {})
    return {c: (np.asarray(a, dtype=float).reshape(pulses, samples), units.get(c, ""))
            for c, a in table.items() if c not in ("pulse_index", "sample")}


def import_csv(csv_path: str | Path, h5_path: str | Path, *, protocol: str | None = None,
               metadata: dict | None = None) -> str:
    """Write the CSV as a new run in ``h5_path``; returns the run id."""
    run = read_csv_run(csv_path)
    cols = dict(run.samples)
    if "conductance_G0" not in cols:
        cols["conductance_G0"] = conductance_g0(cols["voltage_V"], cols["current_A"])
    spec = {c: (_DTYPES.get(c, "f8"), STANDARD_UNITS.get(c, "")) for c in cols}
    params = {k: (v.get("value"), v.get("unit", "")) for k, v in run.parameters.items()}
    meta = {**software_version(), "source_file": str(Path(csv_path).resolve()),
            "notes": "imported from CSV",
            **{k: run.attrs[k] for k in _META if run.attrs.get(k)},
            **(metadata or {})}
    writer = RunWriter(h5_path, protocol or run.protocol or "imported", params,
                       {"samples": spec}, metadata=meta, command="labapp import-csv")
    with failed_on_error(writer):
        writer.append("samples", {c: np.asarray(a).astype(spec[c][0]) for c, a in cols.items()})
    writer.close("completed")
    return writer.run_id


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-csv", help="import a CSV (labapp export or Clarius) as a run",
                       description="Read a CSV with time_s, voltage_V, current_A[, "
                       "conductance_G0, pulse_index, segment, compliance] or common Clarius "
                       "column names (Time, AV, AI, ...) and add it as a run to a run file. "
                       "Given the JSON sidecar of 'labapp export', import the whole run "
                       "(every stream, parameters, metadata).")
    p.add_argument("csv", type=Path, nargs="+",
                   help="CSV file(s) or export sidecar(s) RUN.json; one run each")
    p.add_argument("-o", "--output", type=run_file_path, required=True, help="run file (.h5)")
    p.add_argument("--protocol", help="protocol name to record (default: from the file)")
    p.add_argument("--device-id", default="", help="device the data belongs to")
    p.add_argument("--sample", default="", help="sample name")
    p.add_argument("--operator", default="", help="who measured it")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    meta = {k: v for k, v in (("device_id", args.device_id), ("sample", args.sample),
                              ("operator", args.operator)) if v}
    for path in args.csv:
        load = import_export if path.suffix.lower() == ".json" else import_csv
        rid = load(path, args.output, protocol=args.protocol, metadata=meta)
        print(f"{args.output} run {rid} (from {path})")
    return 0
