"""Points of a running instrument test: shown as they come, kept when the run is aborted.

Reference: the manual's real-time retrieval (``RD 'name', N`` answers ``0`` until point N
is measured [M 5-41]; "Example 4: VAR1 sweep with real-time data retrieval" polls the
timestamp ``RD 'CH1T', N`` and then reads ``V1`` and ``I1`` [M 5-46, 5-47]) against the
simulated 4200A paced at real time (one point per 1 PLC = 1/60 s at ``integration =
normal``). The numbers fixed before tuning: the first live points within 1 s of the test
start (the live poll runs every 0.25 s); after an abort or Ctrl-C at t s into a test, at
least (t - 1 s) worth of points in the file (1 s covers process start-up to ``ME1`` and
the last poll), each equal to what ``DO`` returned for it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from analysis.runfile import read_run
from labapp.instrument_choice import connect
from protocols import PROTOCOLS, RunEngine

ROOT = Path(__file__).resolve().parents[1]
POINT_S = 1 / 60  # 1 PLC at 60 Hz: the simulator's point time at integration=normal
#: one instrument test of 3001 points (0 -> 3 V in 1 mV): ~50 s in real time
LONG = {"v_set": 3.0, "v_reset": 3.0, "step": 0.001, "sweep": "set-only"}


def test_live_points_arrive_during_the_test_and_an_abort_keeps_every_point(tmp_path):
    k = connect(sim=True, seed=5, speed=1.0)
    engine = RunEngine(k)
    live: list[tuple[float, dict]] = []
    progress: list[float] = []
    t0 = time.monotonic()

    def consumer(kind, payload):
        if kind == "live":
            live.append((time.monotonic() - t0, payload.data))
        elif kind == "progress":
            progress.append(payload)

    abort_at = 2.5
    threading.Timer(abort_at, engine.abort).start()
    result = engine.run(PROTOCOLS["dc-sweep"](**LONG), tmp_path / "live.h5", [consumer])
    assert result.status == "aborted"
    assert live and live[0][0] < 1.0, "no live points within 1 s"
    gaps = np.diff([t for t, _ in live])
    assert gaps.max() < 1.0  # the view moves at least once a second
    assert progress and 0 < progress[-1] < 0.1  # progress moved inside the one test
    s = read_run(result.path).samples
    assert s["current_A"].size >= (abort_at - 1.0) / POINT_S
    # every point shown live is in the file, the same readings, in order
    shown = {c: np.concatenate([d[c] for _, d in live]) for c in ("time_s", "voltage_V",
                                                                  "current_A")}
    n = shown["time_s"].size
    assert 0 < n <= s["time_s"].size
    for c, values in shown.items():
        np.testing.assert_array_equal(s[c][:n], values, err_msg=c)
    assert np.all(np.diff(s["time_s"]) > 0)
    assert k.adapter.engine.outputs_safe() and result.safe_state_problems == []


def test_instrument_timed_pulse_train_is_live_and_keeps_whole_periods_on_abort(tmp_path):
    """An SMU list of 150 pulse/read periods (20 ms each, ~3 s): pulses and reads appear
    live while the list runs; an abort mid-list keeps every whole period measured, pulse
    and read together, equal to what was shown."""
    k = connect(sim=True, seed=5, speed=1.0)
    engine = RunEngine(k)
    live: dict[str, list] = {"pulses": [], "samples": []}

    def consumer(kind, payload):
        if kind == "live":
            live[payload.stream].append(payload.data)
            if sum(d["current_A"].size for d in live["pulses"]) >= 30:
                engine.abort()

    protocol = PROTOCOLS["pulse-train"](count=150, timing="instrument")
    result = engine.run(protocol, tmp_path / "train.h5", [consumer])
    assert result.status == "aborted"
    run = read_run(result.path)
    pulses, reads = run.streams["pulses"], run.samples
    n = pulses["pulse_index"].size
    assert 30 <= n < 150
    np.testing.assert_array_equal(pulses["pulse_index"], np.arange(1, n + 1))
    np.testing.assert_array_equal(reads["pulse_index"][1:], pulses["pulse_index"])
    shown = np.concatenate([d["current_A"] for d in live["pulses"]])
    np.testing.assert_array_equal(pulses["current_A"][:shown.size], shown)
    assert k.adapter.engine.outputs_safe() and result.safe_state_problems == []


def test_unpaced_run_is_unchanged_by_live_reading(tmp_path):
    """An unpaced test ends before the first live poll: no RD traffic, same data as
    before (the fast path stays as fast)."""
    k = connect(sim=True, seed=5)
    kinds: list[str] = []
    res = RunEngine(k).run(PROTOCOLS["dc-sweep"](v_set=1, v_reset=1, step=0.01),
                           tmp_path / "fast.h5", [lambda kind, _p: kinds.append(kind)])
    assert res.status == "completed" and "live" not in kinds
    assert not any(m.startswith("RD") for m in k.adapter.engine.log)


@pytest.mark.slow
def test_ctrl_c_after_5_s_of_a_long_paced_test_keeps_its_points(tmp_path):
    """``labapp run`` of a one-test sweep (~50 s at real time) interrupted with SIGINT 5 s
    after it announced the run: status aborted, the points of those seconds in the file,
    progress lines (not a terminal: plain lines) counting samples while the test ran."""
    path = tmp_path / "ctrlc.h5"
    args = [a for k, v in LONG.items() for a in ("--set", f"{k}={v}")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "labapp.cli", "run", "dc-sweep", "--sim", "--seed", "2",
         "--sim-speed", "1", *args, "-o", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        first = proc.stderr.readline()  # the start line, printed as the run starts
        assert first.startswith("labapp run: dc-sweep on SIMULATED"), first
        time.sleep(5.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 1 and "status aborted" in out and "SIGINT" in out, (out, err)
    run = read_run(path)
    n = run.samples["current_A"].size
    assert (5.0 - 1.0) / POINT_S <= n < 3001, n
    lines = [ln for ln in err.splitlines() if "samples" in ln and "ETA" in ln]
    counts = [int(ln.split("%")[1].split("samples")[0]) for ln in lines]
    assert counts and 0 < counts[0] < n  # a count that moved before the test ended
    assert "\r" not in err
