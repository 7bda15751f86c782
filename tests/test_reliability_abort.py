"""Abort anywhere: every protocol, aborted at a random record or a random instrument command.

Afterwards the simulated 4200A must be in its safe state (every SMU 0 V / off, no PMU
output, no PMU test running, RPMs routed back), the run file must open with status
``aborted`` and the abort's reason, and every record the live consumers saw before the
abort must be in the file, bit for bit (storage and display are one record stream).

Hypothesis draws *where* to abort; it is derandomized so CI always tries the same cases.
"""

from __future__ import annotations

import functools
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.runfile import read_run
from labapp.instrument_choice import connect
from protocols import PROTOCOLS, RunEngine

#: small versions of every protocol, so that one run takes well under a second
SMALL: dict[str, dict] = {
    "dc-sweep": {"cycles": 2, "step": 0.05},
    "pulse-train": {"count": 8},
    "reset-train": {"count": 10, "samples": 16},
    "ltp-ltd": {"count": 5},
    "retention": {"duration": 200.0},
    "write-verify": {"max_pulses": 20},
    "endurance": {"cycles": 5},
    "read-noise": {"duration": 1.0},
}

ABORT_SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])


def small_protocol(name: str):
    """The protocol ``name`` with :data:`SMALL` values (defaults for anything new)."""
    cls = PROTOCOLS[name]
    known = {p.name for p in cls.params}
    return cls(**{k: v for k, v in SMALL.get(name, {}).items() if k in known})


class Recorder:
    """A live consumer that keeps copies of everything it was shown."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, np.ndarray]]] = []
        self.waveforms: dict[str, list[np.ndarray]] = {}
        self.commands_at_record: list[int] = []
        self.engine = None  # the simulated instrument, for command counts

    def __call__(self, kind: str, payload) -> None:
        if kind == "record":
            self.records.append((payload.stream, {c: np.array(a, copy=True)
                                                  for c, a in payload.data.items()}))
            if self.engine is not None:
                self.commands_at_record.append(len(self.engine.log))
        elif kind == "waveform":
            for name, block in payload.data.items():
                self.waveforms.setdefault(name, []).append(np.atleast_2d(np.array(block)))

    def stream(self, name: str) -> dict[str, np.ndarray]:
        parts = [d for s, d in self.records if s == name]
        if not parts:
            return {}
        return {c: np.concatenate([np.atleast_1d(p[c]) for p in parts]) for c in parts[0]}


@functools.cache
def reference(name: str) -> tuple[int, int, tuple[int, ...]]:
    """Full run of the small protocol: (records, commands before the run, commands at each
    record). The simulator is deterministic for a seed, so aborted runs replay it."""
    k = connect(sim=True, seed=1)
    rec = Recorder()
    rec.engine = k.adapter.engine
    before = len(rec.engine.log)
    with tempfile.TemporaryDirectory() as d:
        result = RunEngine(k).run(small_protocol(name), Path(d) / "ref.h5", [rec])
    assert result.status == "completed", result.reason
    return len(rec.records), before, tuple(rec.commands_at_record)


def assert_intact(path: Path, rec: Recorder, protocol) -> None:
    """Every record shown to the consumer is in the file, equal, in order; nothing else."""
    run = read_run(path)
    for stream in protocol.streams:
        seen = rec.stream(stream)
        stored = run.streams[stream]
        n = len(next(iter(seen.values()))) if seen else 0
        assert all(len(a) == n for a in stored.values()), (stream, n,
                                                            {c: len(a) for c, a in stored.items()})
        for col, values in seen.items():
            np.testing.assert_array_equal(stored[col], values.astype(stored[col].dtype),
                                          err_msg=f"{stream}/{col}")
    for name, blocks in rec.waveforms.items():
        np.testing.assert_array_equal(run.waveforms[name], np.concatenate(blocks))


def assert_safe(k, result) -> None:
    eng = k.adapter.engine
    assert eng.outputs_safe(), "instrument not in its safe state after the abort"
    assert result.safe_state_problems == []
    # the safe-off sequence really went to the instrument after the abort
    assert any(m.startswith(f"DV{n}") and m.strip() == f"DV{n}" for m in eng.log
               for n in k.smus), "no SMU output-off command was sent"


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@ABORT_SETTINGS
@given(frac=st.floats(0.0, 1.0, exclude_max=True))
def test_abort_at_random_record(name, frac):
    n_records, _, _ = reference(name)
    k_abort = 1 + int(frac * n_records)  # abort right after the k-th record
    k = connect(sim=True, seed=1)
    rec = Recorder()
    protocol = small_protocol(name)
    engine = RunEngine(k)

    def abort_after_k(kind, payload):
        if kind == "record" and len(rec.records) == k_abort:
            engine.abort(f"test abort after record {k_abort}")

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "run.h5"
        result = engine.run(protocol, path, [rec, abort_after_k])
        assert result.status == "aborted", (result.status, result.reason)
        assert len(rec.records) == k_abort
        run = read_run(path)
        assert run.status == "aborted" and run.attrs["complete"]
        assert run.attrs["reason"] == f"test abort after record {k_abort}"
        assert_intact(path, rec, protocol)
    assert_safe(k, result)


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
@ABORT_SETTINGS
@given(frac=st.floats(0.0, 1.0, exclude_max=True))
def test_abort_at_random_instrument_command(name, frac):
    """The abort arrives while the driver is talking to the instrument (inside sweeps,
    PMU tests and waits), not only between records."""
    _, before, at_record = reference(name)
    first, last = before + 1, at_record[-1]  # up to the command before the last record
    k_cmd = first + int(frac * (last - first))
    k = connect(sim=True, seed=1)
    eng = k.adapter.engine
    rec = Recorder()
    protocol = small_protocol(name)
    engine = RunEngine(k)
    process = eng.process

    def process_and_abort(message: str):
        if len(eng.log) + 1 == k_cmd:
            engine.abort(f"test abort at command {k_cmd}")
        return process(message)

    eng.process = process_and_abort
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "run.h5"
        result = engine.run(protocol, path, [rec])
        assert result.status == "aborted", (k_cmd, result.status, result.reason)
        run = read_run(path)
        assert run.status == "aborted" and run.attrs["reason"] == f"test abort at command {k_cmd}"
        assert_intact(path, rec, protocol)
        # the run ended promptly: no more records than the reference had up to this command
        assert len(rec.records) <= sum(1 for c in at_record if c <= k_cmd) + 1
    assert_safe(k, result)


def test_abort_from_another_thread_ends_a_paced_measurement_quickly(tmp_path):
    """A GUI/Ctrl-C style abort from another thread ends a 30 s (real-time paced)
    measurement within a second, with the instrument safe and the file closed."""
    k = connect(sim=True, seed=2, speed=1.0)
    engine = RunEngine(k)
    protocol = PROTOCOLS["read-noise"](duration=30.0, rate=10.0)
    timer = threading.Timer(0.5, engine.abort, args=("aborted from the GUI",))
    t0 = time.monotonic()
    timer.start()
    result = engine.run(protocol, tmp_path / "noise.h5")
    elapsed = time.monotonic() - t0
    timer.cancel()
    assert result.status == "aborted" and result.reason == "aborted from the GUI"
    assert elapsed < 2.5, f"abort took {elapsed:.1f} s"
    assert k.adapter.engine.outputs_safe() and result.safe_state_problems == []
    assert read_run(tmp_path / "noise.h5").status == "aborted"


def test_stop_ends_at_a_step_with_status_stopped(tmp_path):
    """*stop* (not abort) keeps the run's data, ends at a step boundary, marks 'stopped'."""
    k = connect(sim=True, seed=1)
    engine = RunEngine(k)
    rec = Recorder()

    def stop_after_3(kind, payload):
        if kind == "record" and len(rec.records) == 3:
            engine.stop()

    result = engine.run(small_protocol("pulse-train"), tmp_path / "s.h5", [rec, stop_after_3])
    assert result.status == "stopped"
    assert read_run(tmp_path / "s.h5").status == "stopped"
    assert_intact(tmp_path / "s.h5", rec, small_protocol("pulse-train"))
    assert k.adapter.engine.outputs_safe()


def test_keyboard_interrupt_in_a_script_aborts_safely(tmp_path):
    """Ctrl-C in a script without signal handlers (KeyboardInterrupt raised anywhere in
    the run) still ends the run ``aborted``, instrument safe, data kept."""
    k = connect(sim=True, seed=1)
    rec = Recorder()

    def ctrl_c_after_4(kind, payload):
        if kind == "record" and len(rec.records) == 4:
            raise KeyboardInterrupt

    protocol = small_protocol("ltp-ltd")
    result = RunEngine(k).run(protocol, tmp_path / "k.h5", [rec, ctrl_c_after_4])
    assert result.status == "aborted" and "Ctrl-C" in result.reason
    assert read_run(tmp_path / "k.h5").status == "aborted"
    assert_intact(tmp_path / "k.h5", rec, protocol)
    assert_safe(k, result)


def test_a_failing_live_view_does_not_stop_acquisition(tmp_path):
    """A consumer (plot, progress bar) that raises on every document is logged and
    ignored: the run completes and stores every record."""
    k = connect(sim=True, seed=1)
    rec = Recorder()

    def broken_view(kind, payload):
        raise RuntimeError("plot widget deleted")

    protocol = small_protocol("pulse-train")
    result = RunEngine(k).run(protocol, tmp_path / "v.h5", [broken_view, rec])
    assert result.status == "completed"
    assert len(rec.records) == reference("pulse-train")[0]
    assert_intact(tmp_path / "v.h5", rec, protocol)


def test_abort_during_a_running_sweep_stops_the_sweep_on_the_instrument(tmp_path):
    """Abort while the instrument is in the middle of a 20 s system-mode sweep (paced in
    real time): the host stops waiting *and* the instrument's test is aborted (``ME4``
    [M 5-28]); otherwise the SMU would keep sweeping the device after the run "ended"."""
    k = connect(sim=True, seed=2, speed=1.0)
    eng = k.adapter.engine
    engine = RunEngine(k)
    timer = threading.Timer(0.5, engine.abort, args=("aborted mid-sweep",))
    t0 = time.monotonic()
    timer.start()
    result = engine.run(PROTOCOLS["dc-sweep"](step=0.01, cycles=1), tmp_path / "sweep.h5")
    elapsed = time.monotonic() - t0
    timer.cancel()
    assert result.status == "aborted" and elapsed < 3
    assert time.monotonic() >= eng.state.busy_until, "the SMU test is still running"
    assert eng.outputs_safe() and result.safe_state_problems == []


def test_abort_inside_a_long_wait_is_prompt_on_the_paced_simulator(tmp_path):
    """``--sim-speed 1`` (the real-time demo mode): an abort during a pulse train's 20 s
    period ends the run within a second, as it does on hardware (50 ms polls)."""
    k = connect(sim=True, seed=2, speed=1.0)
    engine = RunEngine(k)
    timer = threading.Timer(0.7, engine.abort)
    t0 = time.monotonic()
    timer.start()
    result = engine.run(PROTOCOLS["pulse-train"](count=3, period=20.0), tmp_path / "w.h5")
    elapsed = time.monotonic() - t0
    timer.cancel()
    assert result.status == "aborted"
    assert elapsed < 2.0, f"abort took {elapsed:.1f} s"


@pytest.mark.parametrize("name", ["dc-sweep", "pulse-train"])
@settings(max_examples=3, deadline=None, derandomize=True, database=None)
@given(frac=st.floats(0.0, 1.0, exclude_max=True))
def test_abort_at_random_command_over_loopback(name, frac):
    """The same as the in-process case, through pyvisa-py and the loopback TCP server."""
    from sim_backend.kxci import KXCIEngine
    from sim_backend.server import KXCIServer

    _, before, at_record = reference(name)
    k_cmd = before + 1 + int(frac * (at_record[-1] - before - 1))
    eng = KXCIEngine(seed=1)
    server = KXCIServer(eng, port=0)
    server.start_background()
    try:
        k = connect(server.resource, timeout_ms=2000)
        engine = RunEngine(k)
        process = eng.process

        def process_and_abort(message: str):
            if len(eng.log) + 1 == k_cmd:
                engine.abort(f"test abort at command {k_cmd}")
            return process(message)

        eng.process = process_and_abort
        rec = Recorder()
        protocol = small_protocol(name)
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "run.h5"
            result = engine.run(protocol, path, [rec])
            assert result.status == "aborted", (k_cmd, result.status, result.reason)
            assert_intact(path, rec, protocol)
        assert eng.outputs_safe() and result.safe_state_problems == []
        k.adapter.close()
    finally:
        server.shutdown()
        server.server_close()
