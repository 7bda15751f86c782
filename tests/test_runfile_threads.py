"""The run writer's background flusher ends with the run (a thread alive at interpreter
exit could crash the process while HDF5 is torn down)."""

from __future__ import annotations

import threading

import numpy as np

from analysis.runfile import RunWriter, read_run


def flushers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("runfile-flush")]


def test_close_ends_the_flusher_thread(tmp_path):
    before = set(flushers())
    w = RunWriter(tmp_path / "t.h5", "dc-sweep", {"v_set": (1.0, "V")},
                  {"samples": {"time_s": "f8", "current_A": "f8"}}, flush_interval=0.05)
    assert set(flushers()) - before  # it runs while the run is open
    w.append("samples", {"time_s": np.arange(3.0), "current_A": np.ones(3)})
    w.close()
    assert not (set(flushers()) - before)
    assert read_run(tmp_path / "t.h5").samples["time_s"].size == 3
