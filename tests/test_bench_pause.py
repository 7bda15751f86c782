"""Pause and resume: one run, one file, the same data as a run that was never paused.

Reference: bluesky's RunEngine pause semantics (pause at the next checkpoint, resume
continues the same run) and the simulator's contract that instrument time advances only
with commands, so a paused simulated run resumed later must reproduce, value for value,
the unpaused run with the same seed. The CLI part drives a real ``labapp run`` process
with the documented signals (SIGUSR1 pause, SIGUSR2 resume).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.runfile import list_runs, read_run
from labapp.instrument_choice import connect
from protocols import PROTOCOLS, RunEngine

ROOT = Path(__file__).resolve().parents[1]
SMALL = {
    "retention": {"duration": 50.0, "interval": 5.0, "spacing": "linear"},
    "endurance": {"cycles": 6},
    "dc-sweep": {"v_set": 1.0, "v_reset": 1.0, "step": 0.05, "cycles": 3},
}


def run_once(tmp_path: Path, name: str, pause_after: int | None, hold_s: float = 0.3):
    """Run ``name`` on seed 11; optionally pause at the ``pause_after``-th progress."""
    k = connect(sim=True, seed=11)
    engine = RunEngine(k)
    seen = {"progress": 0, "paused": [], "resumed": 0, "while_paused": 0}

    def consumer(kind, payload):
        if kind == "progress":
            seen["progress"] += 1
            if seen["progress"] == pause_after:
                engine.pause()
        elif kind == "paused":
            seen["paused"].append(payload)
            n_cmds = len(k.adapter.engine.log)

            def later():
                time.sleep(hold_s)
                # nothing was sent to the instrument while paused
                seen["while_paused"] = len(k.adapter.engine.log) - n_cmds
                assert engine.paused
                engine.resume()

            threading.Thread(target=later, daemon=True).start()
        elif kind == "resumed":
            seen["resumed"] += 1

    path = tmp_path / f"{name}-{pause_after}.h5"
    result = engine.run(PROTOCOLS[name](**SMALL[name]), path, [consumer])
    return result, read_run(path, result.run_id), seen


@pytest.mark.parametrize("name", sorted(SMALL))
def test_paused_and_resumed_run_equals_the_unpaused_run(name, tmp_path):
    ref, ref_run, _ = run_once(tmp_path, name, None)
    res, run, seen = run_once(tmp_path, name, 2)
    assert res.status == ref.status == "completed"
    assert len(seen["paused"]) == 1 and seen["resumed"] == 1
    assert seen["while_paused"] == 0
    assert len(list_runs(res.path)) == 1  # one run, one file
    (p,) = run.attrs["pauses"]
    assert p["seconds"] >= 0.25 and p["paused_utc"] <= p["resumed_utc"]
    for stream, cols in ref_run.streams.items():
        for col, ref_values in cols.items():
            np.testing.assert_array_equal(run.streams[stream][col], ref_values,
                                          err_msg=f"{stream}.{col}")


@pytest.mark.parametrize("how", ["abort", "stop"])
def test_abort_or_stop_while_paused(how, tmp_path):
    k = connect(sim=True, seed=2)
    engine = RunEngine(k)

    def consumer(kind, payload):
        if kind == "progress":
            engine.pause()
        elif kind == "paused":
            threading.Timer(0.1, engine.abort if how == "abort" else engine.stop).start()

    result = engine.run(PROTOCOLS["endurance"](cycles=20), tmp_path / "p.h5", [consumer])
    assert result.status == ("aborted" if how == "abort" else "stopped")
    assert k.adapter.engine.outputs_safe() and result.safe_state_problems == []
    assert read_run(result.path).attrs["pauses"][0]["seconds"] > 0


def rows(path: Path) -> int:
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as f:
            (run,) = f["runs"].values()
            return int(run["data"]["samples"]["time_s"].shape[0])
    except (OSError, KeyError, ValueError):
        return 0


@pytest.mark.slow
def test_cli_pause_and_resume_by_signal(tmp_path):
    """SIGUSR1 pauses ``labapp run`` at the next step (the file stops growing, stderr says
    how to resume), SIGUSR2 resumes; the one run completes with the unpaused data."""
    path = tmp_path / "cli.h5"
    args = ["--set", "cycles=40"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "labapp.cli", "run", "endurance", "--sim", "--seed", "4",
         "--sim-speed", "1", *args, "-o", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while rows(path) == 0 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.5)  # reaches the next step (one cycle) and holds
        held = rows(path)
        time.sleep(1.0)
        assert rows(path) == held, "the run kept measuring while paused"
        assert proc.poll() is None
        proc.send_signal(signal.SIGUSR2)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert "status completed" in out
    assert "paused" in err and "SIGUSR2" in err and "resumed" in err
    (info,) = list_runs(path)
    run = read_run(path)
    assert len(run.attrs["pauses"]) == 1 and run.attrs["pauses"][0]["seconds"] >= 2.0
    ref = RunEngine(connect(sim=True, seed=4)).run(
        PROTOCOLS["endurance"](cycles=40), tmp_path / "ref.h5")
    ref_run = read_run(ref.path)
    for stream, cols in ref_run.streams.items():
        for col, values in cols.items():
            np.testing.assert_array_equal(run.streams[stream][col], values, err_msg=col)
