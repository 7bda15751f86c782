"""Crash of the writer: a CLI run killed with SIGKILL in the middle of a measurement.

The run file must open afterwards and hold every row written up to the last flush (the
writer flushes at least once a second), ``labapp info`` must list the run as
``incomplete``, and ``labapp info --repair`` must close it so analysis reads it like any
other run.

Two independent witnesses tell what the writer had produced before the kill:

* the CLI's progress bar (stderr on a pseudo-terminal redraws on every pulse), timestamped
  by the test as it arrives;
* a second process reading the file in SWMR mode while it is being written.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from analysis.runfile import list_runs, read_run
from analysis.summary import summarize
from labapp.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
COUNT = 400  # pulses; at --sim-speed 1 with a 50 ms period the run would last > 20 s
FLUSH_S = 1.0  # the writer's flush interval (the documented loss bound)
SLACK_S = 0.35  # pty delivery, poll cadence and one pulse period


def swmr_rows(path: Path) -> int | None:
    """Pulses visible to a concurrent SWMR reader (None before the file exists)."""
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as f:
            return sum(g["data"]["pulses"]["time_s"].shape[0] for g in f["runs"].values())
    except (OSError, KeyError):
        return None


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """Start a paced CLI run, watch it, SIGKILL it ~2.5 s into the measurement."""
    path = tmp_path_factory.mktemp("crash") / "killed.h5"
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "labapp.cli", "run", "pulse-train", "--sim", "--sim-speed",
         "1", "--set", f"count={COUNT}", "--set", "period=0.05", "-o", str(path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, cwd=ROOT)
    os.close(slave)
    progress: list[tuple[float, float]] = []  # (monotonic time, fraction done)
    seen: list[tuple[float, int]] = []  # (monotonic time, pulses visible to a reader)
    buf = ""
    t_first = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536).decode(errors="replace")
                except OSError:
                    chunk = ""
                now = time.monotonic()
                buf += chunk
                for m in re.finditer(r"\]\s+([\d.]+) %", buf):
                    progress.append((now, float(m.group(1)) / 100))
                buf = buf[buf.rfind("\r") + 1:] if "\r" in buf else buf
                if progress and t_first is None:
                    t_first = now
            n = swmr_rows(path)
            if n is not None:
                seen.append((time.monotonic(), n))
            if t_first is not None and time.monotonic() - t_first > 2.5:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
        t_kill = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert progress, "no progress seen on the pseudo-terminal"
    return {"path": path, "progress": progress, "seen": seen, "t_kill": t_kill,
            "returncode": proc.returncode}


def test_killed_writer_leaves_a_readable_file_with_data_up_to_the_last_flush(killed_run):
    path, t_kill = killed_run["path"], killed_run["t_kill"]
    assert killed_run["returncode"] == -signal.SIGKILL
    run = read_run(path)  # opens, although the writer never closed it
    assert run.status == "incomplete" and not run.attrs["complete"]
    pulses = run.streams["pulses"]
    n_file = len(pulses["time_s"])
    # witness 1: pulses the progress bar had reported > FLUSH_S before the kill are stored
    done_before = [f for t, f in killed_run["progress"] if t <= t_kill - FLUSH_S - SLACK_S]
    must_have = round(max(done_before, default=0.0) * COUNT)
    assert must_have > 0, "the kill came too early to test the flush bound"
    assert n_file >= must_have, (n_file, must_have)
    # ... and nothing after the kill is invented
    reported = round(max(f for _, f in killed_run["progress"]) * COUNT)
    assert n_file <= reported + 1
    # witness 2: everything a concurrent reader saw is still there
    assert n_file >= max(n for _, n in killed_run["seen"])
    # the reader saw the file grow at least once a second while pulses were arriving
    growth = [t for (t, n), (_, n0) in zip(killed_run["seen"][1:], killed_run["seen"],
                                           strict=False) if n > n0]
    assert len(growth) >= 2 and np.max(np.diff(growth)) < FLUSH_S + 0.6
    # stored rows are whole rows: equal columns, increasing time, finite readings
    assert all(len(a) == n_file for a in pulses.values())
    assert np.all(np.diff(pulses["time_s"]) > 0)
    assert np.all(np.isfinite(run.streams["samples"]["current_A"]))


def test_info_reports_the_killed_run_incomplete(killed_run, capsys):
    assert cli_main(["info", str(killed_run["path"])]) == 0
    out = capsys.readouterr()
    assert "incomplete" in out.out and "--repair" in out.out
    assert "Traceback" not in out.err
    [run] = list_runs(killed_run["path"])
    assert run.effective_status == "incomplete" and not run.complete


def test_repair_makes_the_killed_run_analysable(killed_run, capsys):
    path = killed_run["path"]
    rows_before = read_run(path).streams["pulses"]["time_s"].size
    assert cli_main(["info", "--repair", str(path)]) == 0
    assert "repaired run" in capsys.readouterr().out
    [info_run] = list_runs(path)
    assert info_run.complete and info_run.status == "incomplete"
    run = read_run(path)
    assert run.status == "incomplete" and "repaired" in run.attrs["reason"]
    assert run.streams["pulses"]["time_s"].size == rows_before  # nothing lost by repairing
    summary = summarize(run)  # analysis reads it like any run
    assert summary["status"] == "incomplete" and summary["protocol"] == "pulse-train"
    assert summary["n_samples"] == run.streams["samples"]["time_s"].size > 0
    # a second repair finds nothing to do, and a new run can be appended to the file
    assert cli_main(["info", "--repair", str(path)]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    assert cli_main(["run", "read-noise", "--sim", "--set", "duration=0.2", "-o", str(path),
                     "--quiet"]) == 0
    assert [r.effective_status for r in list_runs(path)] == ["incomplete", "completed"]


def test_sigint_and_sigterm_abort_a_cli_run_safely(tmp_path):
    """Ctrl-C (SIGINT) and SIGTERM are not crashes: the CLI aborts the run, puts the
    instrument safe, closes the file with status ``aborted`` and the signal as reason,
    and exits non-zero. Both runs go in parallel to keep the test short."""
    procs = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        path = tmp_path / f"{sig.name}.h5"
        procs[sig] = (path, subprocess.Popen(
            [sys.executable, "-m", "labapp.cli", "run", "pulse-train", "--sim", "--sim-speed",
             "1", "--set", f"count={COUNT}", "--set", "period=0.05", "-o", str(path),
             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
    try:
        pending = dict(procs)
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            for sig, (path, proc) in list(pending.items()):
                assert proc.poll() is None, proc.communicate()
                if (swmr_rows(path) or 0) > 0:  # measuring, with data flushed
                    proc.send_signal(sig)
                    del pending[sig]
            time.sleep(0.05)
        assert not pending, "runs never started"
        for sig, (path, proc) in procs.items():
            t0 = time.monotonic()
            stdout, stderr = proc.communicate(timeout=30)
            assert time.monotonic() - t0 < 10, f"{sig.name}: slow to abort"
            assert proc.returncode == 1, (sig.name, proc.returncode, stderr)
            assert "status aborted" in stdout and sig.name in stdout, stdout
            assert "Traceback" not in stderr
            run = read_run(path)
            assert run.status == "aborted" and run.attrs["complete"]
            assert sig.name in run.attrs["reason"]
            assert run.attrs["safe_state_problems"] == []
            assert 0 < run.streams["pulses"]["time_s"].size < COUNT
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def test_rows_become_visible_within_a_second_even_when_the_run_is_idle(tmp_path):
    """Records that arrive between long waits (a pulse every 1.2 s) are flushed within the
    flush interval, not only when the next record comes: a SWMR reader in another thread
    sees every row no later than ~1 s after the live view did."""
    import threading

    from labapp.instrument_choice import connect
    from protocols import PROTOCOLS, RunEngine

    path = tmp_path / "idle.h5"
    shown: list[tuple[float, int]] = []  # (time, pulses shown to the live view)

    def live(kind, payload):
        if kind == "record" and payload.stream == "pulses":
            shown.append((time.monotonic(), (shown[-1][1] if shown else 0) + 1))

    k = connect(sim=True, seed=1, speed=1.0)
    protocol = PROTOCOLS["pulse-train"](count=3, period=1.2)
    runner = threading.Thread(target=RunEngine(k).run, args=(protocol, path, [live]))
    runner.start()
    visible: list[tuple[float, int]] = []
    while runner.is_alive():
        n = swmr_rows(path)
        if n is not None:
            visible.append((time.monotonic(), n))
        time.sleep(0.05)
    runner.join()
    assert len(shown) == 3
    for t_shown, n in shown[:-1]:  # the last one is flushed by close()
        t_seen = next((t for t, m in visible if m >= n), None)
        assert t_seen is not None, f"pulse {n} never became visible while running"
        assert t_seen - t_shown < FLUSH_S + SLACK_S, (n, t_seen - t_shown)
