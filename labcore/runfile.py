"""The HDF5 run-file format: one import for its schema, writer and reader.

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
(:mod:`labcore.nexus`) so that standard HDF5/NeXus viewers plot it; version-1 files
still read.

Streams are named tables of equal-length columns, e.g. ``samples`` (one row per
measured point: ``time_s, voltage_V, current_A, conductance_G0`` and, where present,
``v_program_V, cycle, segment, compliance, pulse_index``). Every row has a timestamp.

The pieces: the schema's names and attribute encoding (:mod:`labcore.schema`), the
writer (:mod:`labcore.run_writer`), the reader (:mod:`labcore.run_reader`), claiming a
file for writing and repairing one (:mod:`labcore.claim`), one writer per file
(:mod:`labcore.runlock`), opening HDF5 safely (:mod:`labcore.h5files`) and the
superblock's end of file (:mod:`labcore.superblock`). They live in ``labcore``, below
every other package, because the schema has one owner and every layer uses it: the
protocol layer writes through :class:`RunWriter`, analysis and the GUI read without
importing pyvisa or Qt.

One writer per file: a run, an import or a repair claims the file first and refuses,
naming the holder, while another live writer has it; readers use the same lock to tell
a live run from a cut-off one. Readers never hang on a damaged file, and one damaged
run does not hide the others.
"""

from __future__ import annotations

from labcore.claim import claim, mark_incomplete, reopen_after_crash, repair_file
from labcore.h5files import RunFileError, RunFileFullError
from labcore.run_reader import (
    LIVE_SETTLE_S,
    RunData,
    RunInfo,
    list_runs,
    open_run_file,
    open_settled,
    read_run,
)
from labcore.run_writer import RunSnapshot, RunWriter, StreamSpec, WriterOptions
from labcore.runlock import FileBusyError, WriterLock, live_writer
from labcore.schema import (
    CLOSE_RESERVE,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    STANDARD_UNITS,
    STATUSES,
    set_attr,
    utc_now,
)

__all__ = [
    "CLOSE_RESERVE", "LIVE_SETTLE_S", "SCHEMA_NAME",
    "SCHEMA_VERSION", "STANDARD_UNITS", "STATUSES", "FileBusyError", "RunData", "RunFileError",
    "RunFileFullError", "RunInfo", "RunSnapshot", "RunWriter", "StreamSpec", "WriterLock",
    "WriterOptions", "claim", "list_runs", "live_writer", "mark_incomplete", "open_run_file",
    "open_settled", "read_run", "reopen_after_crash", "repair_file", "set_attr", "utc_now",
]
