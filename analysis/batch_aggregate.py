"""Streaming aggregate of a batch: memory does not grow with the number of runs.

Each run's record is folded in as it arrives and then dropped: the trace and state
histograms are bin-wise sums on fixed bins, the compact per-run summaries and the
failures go to JSON-lines spool files on disk, and the few numbers per run that the
aggregate figures need (switching voltages, compliance and top level) go to binary
spool files. The report reads the spools back lazily (:class:`JsonLines` is a
``Sequence`` that reads one line at a time), so 10^3 and 10^5 runs need the same memory
apart from 8 bytes of file offset per run.
"""

from __future__ import annotations

import json
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.histograms import Histogram, state_histogram


class JsonLines(Sequence):
    """An append-only list of JSON objects kept in a file, one per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "w+b")  # noqa: SIM115 - lives as long as the report
        self._offsets = array("q")

    def append(self, obj: Any) -> None:
        """Write one object at the end of the file."""
        self._fh.seek(0, 2)
        self._offsets.append(self._fh.tell())
        self._fh.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        self._fh.seek(self._offsets[index])
        return json.loads(self._fh.readline())

    def raw_lines(self) -> Iterator[bytes]:
        """Each object's JSON text (without the newline), in order."""
        self._fh.flush()
        with open(self.path, "rb") as fh:
            for line in fh:
                yield line.rstrip(b"\n")

    def __iter__(self) -> Iterator[Any]:
        for line in self.raw_lines():
            yield json.loads(line)

    def close(self) -> None:
        self._fh.close()


class FloatSpool:
    """An append-only float64 array kept in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "w+b")  # noqa: SIM115 - lives as long as the report
        self.size = 0

    def extend(self, values: Any) -> None:
        a = np.asarray(values, np.float64).ravel()
        if a.size:
            self._fh.write(a.tobytes())
            self.size += a.size

    def array(self) -> np.ndarray:
        """Everything appended so far."""
        self._fh.flush()
        return np.fromfile(self.path, np.float64, count=self.size)

    def close(self) -> None:
        self._fh.close()


#: plateau levels buffered before they are binned together
LEVEL_BLOCK = 65536


def _finite(values: Any) -> list[float]:
    return [float(v) for v in values or () if v is not None and np.isfinite(v)]


class StreamingAggregate:
    """Folds run records (``analysis.batch.analyze_file`` output) into the aggregate.

    Parameters
    ----------
    spool_dir : directory for the spool files; a private temporary directory (removed
        with this object) when None.
    """

    def __init__(self, spool_dir: str | Path | None = None) -> None:
        self._tmp = None
        if spool_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="labapp-batch-")
            spool_dir = self._tmp.name
        d = Path(spool_dir)
        d.mkdir(parents=True, exist_ok=True)
        self.runs = JsonLines(d / "runs.jsonl")
        self.failures = JsonLines(d / "failures.jsonl")
        self._edges: np.ndarray | None = None
        self._counts: np.ndarray | None = None
        self._state: Histogram | None = None
        self._level_buf: list[np.ndarray] = []
        self._level_buf_size = 0
        self.simulated_runs = 0
        self.measured_runs = 0
        self.levels = FloatSpool(d / "state_levels.f8")
        self.v_set = FloatSpool(d / "v_set.f8")
        self.v_reset = FloatSpool(d / "v_reset.f8")
        self.compliance = FloatSpool(d / "compliance.f8")
        self.top = FloatSpool(d / "top.f8")

    def add(self, rec: dict[str, Any]) -> None:
        """Fold one record in (a failure is listed, a run summarised)."""
        if "error" in rec:
            self.failures.append(rec)
            return
        s = rec["summary"]
        self.runs.append(s)
        self.simulated_runs += s.get("simulated") is True
        self.measured_runs += s.get("simulated") is False
        self._add_counts(rec["edges"], rec["counts"])
        levels = np.asarray(rec["state_levels"], float)
        self.levels.extend(levels)
        if levels.size:
            self._level_buf.append(levels)
            self._level_buf_size += levels.size
            if self._level_buf_size >= LEVEL_BLOCK:
                self._bin_levels()
        sw = s.get("switching")
        if sw:
            self.v_set.extend(_finite(sw.get("v_set_jump_V")))
            self.v_reset.extend(_finite(sw.get("v_reset_jump_V")))
            top = (sw.get("median") or {}).get("top_g0")
            if sw.get("compliance_A") is not None and top is not None:
                self.compliance.extend([sw["compliance_A"]])
                self.top.extend([top])

    def _add_counts(self, edges: Any, counts: Any) -> None:
        """Bin-wise sum in place; the bins must be the same for every run."""
        if self._counts is None:
            self._edges = np.asarray(edges, float)
            self._counts = np.array(counts, np.int64)
            return
        if edges is not self._edges and not np.array_equal(edges, self._edges):
            raise ValueError("histograms with different bins cannot be added")
        self._counts += counts

    def _bin_levels(self) -> None:
        """Histogram the buffered plateau levels in one call (fixed bins: the same counts
        as summing one histogram per run, at a fraction of the calls)."""
        if self._level_buf:
            sh = state_histogram(np.concatenate(self._level_buf))
            self._state = sh if self._state is None else self._state + sh
            self._level_buf, self._level_buf_size = [], 0

    @property
    def histogram(self) -> Histogram | None:
        """Sum of the runs' trace histograms (None before the first run)."""
        if self._counts is None:
            return None
        return Histogram(self._edges, self._counts.copy())

    @property
    def state_hist(self) -> Histogram | None:
        """Histogram of every run's plateau levels (None before the first plateau)."""
        self._bin_levels()
        return self._state

    def close(self) -> None:
        """Close the spool files and remove a private spool directory."""
        for spool in (self.runs, self.failures, self.levels, self.v_set, self.v_reset,
                      self.compliance, self.top):
            spool.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
