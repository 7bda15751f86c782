"""Every exit path of a run leaves the simulated instrument safe and the run file closed."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from analysis.runfile import list_runs, read_run
from drivers.validation import ParameterError
from labapp.instrument_choice import connect
from protocols import (
    DCSweep,
    Protocol,
    PulseTrain,
    Record,
    Retention,
    RunEngine,
    RunQueue,
    SafetyProfile,
)
from protocols.base import Step, as_columns


class OutputOnThenFail(Protocol):
    """Leaves SMU1 sourcing 0.5 V (user mode) and then fails."""

    name = "test-output-on"
    streams = {"samples": {"time_s": "f8", "current_A": "f8"}}

    def plan(self, ctx):
        smu = ctx.instrument.smus[1]
        smu.source_voltage(0.5, 1e-3)
        for k in range(3):
            reading = smu.measure_current()
            yield Record("samples", as_columns(time_s=ctx.now(), current_A=reading.value))
            yield Step((k + 1) / 4)
        raise RuntimeError("protocol bug after 3 rows")


@pytest.fixture
def k():
    return connect(sim=True, seed=5)


def engine_state(k):
    return k.adapter.engine


def assert_switched_off_after_last_test(log, smus):
    """Every SMU got ``DVn`` (output off) after the last test was started."""
    last_test = max(i for i, m in enumerate(log) if m.startswith("ME"))
    after = log[last_test:]
    for n in smus:
        assert f"DV{n}" in after


def test_normal_end_is_safe_and_completed(k, tmp_path):
    result = RunEngine(k).run(PulseTrain(count=3), tmp_path / "r.h5")
    assert result.status == "completed" and result.ok
    assert engine_state(k).outputs_safe()
    # the last commands sent are the safe state: every SMU to 0 V, then off
    assert_switched_off_after_last_test(engine_state(k).log, k.smus)


def test_exception_with_output_on_is_made_safe_and_recorded(k, tmp_path):
    seen = []

    def consumer(kind, payload):
        if kind == "record":
            seen.append(engine_state(k).outputs_safe())

    result = RunEngine(k).run(OutputOnThenFail(), tmp_path / "r.h5", consumers=[consumer])
    assert seen == [False, False, False]  # the output really was on during the run
    assert engine_state(k).outputs_safe()
    assert result.status == "failed" and "protocol bug" in result.reason
    run = read_run(tmp_path / "r.h5")
    assert run.status == "failed" and "RuntimeError: protocol bug" in run.attrs["traceback"]
    assert run.samples["current_A"].size == 3
    assert run.attrs["safe_state_problems"] == []


def test_stop_finishes_the_step(k, tmp_path):
    engine = RunEngine(k)

    def consumer(kind, payload):
        if kind == "record" and payload.stream == "pulses" and payload.data["pulse_index"][0] == 3:
            engine.stop()

    result = engine.run(PulseTrain(count=20, timing="host"), tmp_path / "r.h5",
                        consumers=[consumer])
    assert result.status == "stopped" and result.reason == "stopped by user"
    run = read_run(tmp_path / "r.h5")
    # pulse 3 and its read completed (the step), nothing after it
    assert run.streams["pulses"]["pulse_index"].tolist() == [1, 2, 3]
    assert run.samples["pulse_index"].tolist() == [0, 1, 2, 3]
    assert engine_state(k).outputs_safe()


def test_abort_ends_at_once(k, tmp_path):
    engine = RunEngine(k)

    def consumer(kind, payload):
        if kind == "record" and payload.stream == "pulses" and payload.data["pulse_index"][0] == 3:
            engine.abort("operator pressed abort")

    result = engine.run(PulseTrain(count=20, timing="host"), tmp_path / "r.h5",
                        consumers=[consumer])
    assert result.status == "aborted" and result.reason == "operator pressed abort"
    run = read_run(tmp_path / "r.h5")
    assert run.streams["pulses"]["pulse_index"].tolist() == [1, 2, 3]
    assert run.samples["pulse_index"].tolist() == [0, 1, 2]  # the read of pulse 3 never ran
    assert run.status == "aborted"
    assert engine_state(k).outputs_safe()


def test_ctrl_c_aborts_safely(k, tmp_path):
    def consumer(kind, payload):
        if kind == "record":
            raise KeyboardInterrupt

    result = RunEngine(k).run(OutputOnThenFail(), tmp_path / "r.h5", consumers=[consumer])
    assert result.status == "aborted" and "Ctrl-C" in result.reason
    assert engine_state(k).outputs_safe()
    assert read_run(tmp_path / "r.h5").status == "aborted"


def test_broken_consumer_does_not_stop_acquisition(k, tmp_path, caplog):
    def consumer(kind, payload):
        raise ValueError("plot widget gone")

    with caplog.at_level(logging.ERROR, "labapp.engine"):
        result = RunEngine(k).run(PulseTrain(count=2), tmp_path / "r.h5", consumers=[consumer])
    assert result.status == "completed"
    assert "plot widget gone" in caplog.text


def instrument_fails_tests(k, after: int = 0):
    """Make the simulator reject every test execution (``ME``) after ``after`` of them."""
    from sim_backend.kxci import KXCIError

    engine = engine_state(k)
    real = engine._handlers["ME"]
    count = [0]

    def me(arg):
        count[0] += 1
        if count[0] > after:
            raise KXCIError(-991, "illegal setup (injected)")
        return real(arg)

    engine._handlers["ME"] = me


def test_instrument_error_fails_the_run_safely(k, tmp_path):
    instrument_fails_tests(k, after=1)
    result = RunEngine(k).run(DCSweep(step=0.1), tmp_path / "r.h5")
    assert result.status == "failed" and "-991" in result.reason
    assert "InstrumentError" in result.traceback
    assert engine_state(k).outputs_safe()


def test_lost_connection_reports_safe_state_problem(k, tmp_path, caplog):
    adapter = k.adapter
    real_write = adapter._write

    def consumer(kind, payload):
        if kind == "record" and payload.stream == "pulses":
            def dead(command, **kw):
                raise ConnectionResetError("link down")
            adapter._write = dead

    with caplog.at_level(logging.ERROR, "labapp.engine"):
        result = RunEngine(k).run(PulseTrain(count=5, timing="host"), tmp_path / "r.h5",
                                  consumers=[consumer])
    adapter._write = real_write
    assert result.status == "failed" and "link down" in result.reason
    assert result.safe_state_problems and not result.ok
    assert "safe state not confirmed" in caplog.text
    run = read_run(tmp_path / "r.h5")
    assert run.attrs["safe_state_problems"] == result.safe_state_problems
    assert run.streams["pulses"]["pulse_index"].tolist() == [1]


def test_paced_wait_is_interruptible(tmp_path):
    k = connect(sim=True, seed=1, speed=200.0)  # 6e3 s of retention = 30 s wall
    engine = RunEngine(k)
    threading.Timer(0.3, engine.abort).start()
    t0 = time.monotonic()
    result = engine.run(Retention(spacing="linear", interval=600), tmp_path / "r.h5")
    assert result.status == "aborted"
    assert time.monotonic() - t0 < 2.0
    assert engine_state(k).outputs_safe()


def test_queue_stops_on_error(k, tmp_path):
    queue = RunQueue(RunEngine(k))
    queue.add(PulseTrain(count=2), tmp_path / "a.h5").add(OutputOnThenFail(), tmp_path / "b.h5")
    queue.add(PulseTrain(count=2), tmp_path / "c.h5")
    results = queue.run()
    assert [r.status for r in results] == ["completed", "failed"]
    assert not (tmp_path / "c.h5").exists()
    results = RunQueue(RunEngine(k), stop_on_error=False).add(
        OutputOnThenFail(), tmp_path / "d.h5").add(PulseTrain(count=1), tmp_path / "d.h5").run()
    assert [r.status for r in results] == ["failed", "completed"]
    assert [r.status for r in list_runs(tmp_path / "d.h5")] == ["failed", "completed"]


def test_queue_validates_every_item_first(k, tmp_path):
    queue = RunQueue(RunEngine(k, SafetyProfile(max_voltage=2.0)))
    queue.add(PulseTrain(count=1), tmp_path / "a.h5").add(PulseTrain(amplitude=3.0), tmp_path / "b")
    with pytest.raises(ParameterError, match="amplitude"):
        queue.run()
    assert not (tmp_path / "a.h5").exists()


@pytest.fixture
def paced_server():
    from sim_backend.kxci import KXCIEngine
    from sim_backend.server import KXCIServer

    engine = KXCIEngine(seed=2, speed=20.0)
    server = KXCIServer(engine, port=0)
    server.start_background()
    yield server, engine
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_aborts_cli_run_over_the_socket(paced_server, tmp_path, signum):
    server, engine = paced_server
    out = tmp_path / "sig.h5"
    # 6000 samples at 100/s: 60 s of instrument time, 3 s wall at speed 20
    proc = subprocess.Popen(
        [sys.executable, "-m", "labapp.cli", "run", "read-noise", "--resource", server.resource,
         "--set", "duration=60", "--set", "rate=100", "-o", str(out), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(m.startswith("VL") for m in list(engine.log)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 1, stderr
    assert "aborted" in stdout and str(out) in stdout
    run = read_run(out)
    assert run.status == "aborted" and signal.Signals(signum).name in run.attrs["reason"]
    assert engine.outputs_safe()
    assert_switched_off_after_last_test(list(engine.log), (1, 2, 3, 4))
    assert np.all(np.diff(run.samples["time_s"]) > 0) if run.samples["time_s"].size else True
