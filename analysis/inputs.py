"""One entry point for analysis input: a run file (HDF5) or a CSV export.

Both come back as :class:`labcore.runfile.RunData`, so the rest of the package never
asks where the data came from.
"""

from __future__ import annotations

from pathlib import Path

from labcore.csv_io import read_csv_run
from labcore.runfile import RunData, RunFileError, read_run

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")


def load_run(path: str | Path, run_id: str | None = None) -> RunData:
    """Load a run from a run file (the last run, or ``run_id``) or from a CSV file.

    Raises
    ------
    RunFileError
        The file is missing, unreadable, or has no usable data; the message names it.
    """
    p = Path(path)
    if p.suffix.lower() in CSV_SUFFIXES:
        if run_id is not None and run_id != p.stem:
            raise RunFileError(f"{p}: a CSV file holds one run; --run {run_id!r} does not apply")
        return read_csv_run(p)
    return read_run(p, run_id)


def main_stream(run: RunData) -> dict:
    """The ``samples`` stream, or the first stream holding current and voltage."""
    if "samples" in run.streams and len(run.streams["samples"].get("current_A", ())) > 0:
        return run.streams["samples"]
    for cols in run.streams.values():
        if "current_A" in cols and "voltage_V" in cols and len(cols["current_A"]):
            return cols
    raise RunFileError(
        f"{run.path}: run {run.run_id!r} has no stream with current_A and voltage_V data "
        f"(streams: {sorted(run.streams)})"
    )
