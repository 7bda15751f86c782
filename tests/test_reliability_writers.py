"""One writer per run file: a second writer on a live file refuses and never replaces it.

The reference is the lock's contract in ``analysis/runlock.py`` and the failure seen
before it existed: a second ``labapp run``, ``labapp import-csv`` or ``labapp info
--repair`` took a file being written for a crashed one, copied and replaced it, and the
first run went on writing into the deleted file (it kept 50 of 241 rows but reported
``completed``). Every writer here is a real process or the real CLI, on a real HDF5 file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.runfile import claim, list_runs, read_run
from analysis.runlock import live_writer
from labapp.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "TCPIP::127.0.0.1::1::SOCKET"
#: the paced retention run of the report: 12 s at one read every 50 ms = 241 reads
RETENTION = ["retention", "--sim", "--sim-speed", "1", "--set", "duration=12", "--set",
             "interval=0.05", "--set", "spacing=linear", "--quiet"]
RETENTION_ROWS = 241


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli_main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    assert "Traceback" not in text
    return lines[0]


def start_run(argv: list[str], path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labapp.cli", "run", *argv, "-o", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def wait_until_live(proc: subprocess.Popen, path: Path, timeout: float = 30) -> dict:
    """Until the run holds the file and has flushed rows (so it is mid-measurement)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        holder = live_writer(path)
        if holder and holder.get("run_id") and path.exists():
            runs = list_runs(path)
            if runs and runs[-1].rows.get("samples", 0) > 0:
                return holder
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pytest.fail("the run never started writing")


@pytest.mark.slow
def test_second_writer_on_a_live_file_is_refused(tmp_path, capsys):
    """While a paced retention run writes ``f.h5``: a second run, an import and a repair
    each refuse in one line naming the file and the holder (pid, host, run id), the file is
    never replaced (same inode), ``labapp info`` reports the run as being written (not as
    cut off, no ``--repair`` hint), and the first run keeps all 241 rows."""
    path = tmp_path / "f.h5"
    csv = tmp_path / "x.csv"
    csv.write_text("time_s, voltage_V, current_A\n0, 0.1, 1e-6\n1, 0.2, 2e-6\n")
    proc = start_run(RETENTION, path)
    try:
        holder = wait_until_live(proc, path)
        inode = path.stat().st_ino
        for argv in (["run", "pulse-train", "--sim", "-o", str(path), "--quiet"],
                     ["import-csv", str(csv), "-o", str(path)],
                     ["info", "--repair", str(path)]):
            rc, out, err = cli(argv, capsys)
            line = one_line(err)
            assert rc == 1, (argv, out, err)
            assert str(path) in line and "in use by another writer" in line, line
            assert f"pid {proc.pid}" in line and holder["run_id"] in line, line
            assert path.stat().st_ino == inode  # never copied and replaced
        rc, out, err = cli(["info", str(path)], capsys)
        assert rc == 0, err
        assert f"being written now by pid {proc.pid}" in out
        assert " running " in out and "--repair" not in out and "incomplete" not in out
        assert proc.poll() is None, "the refusals must happen while the run is live"
    finally:
        stdout, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0, stderr
    assert "status completed" in stdout
    runs = list_runs(path)
    assert [r.protocol for r in runs] == ["retention"]
    run = read_run(path)
    assert run.status == "completed" and run.samples["time_s"].size == RETENTION_ROWS
    assert not path.with_name("f.h5.lock").exists()


@pytest.mark.slow
def test_two_runs_started_together_one_completes_one_refuses(tmp_path):
    """Two runs started at the same moment on a new file: one completes with all its rows,
    the other refuses in one line naming the file and exits 1; the file holds one run."""
    path = tmp_path / "new.h5"
    argv = [*RETENTION[:4], "--set", "duration=4", *RETENTION[6:]]
    procs = [start_run(argv, path), start_run(argv, path)]
    results = [p.communicate(timeout=90) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], results
    refused = next(err for p, (_, err) in zip(procs, results, strict=True) if p.returncode)
    line = one_line(refused)
    assert str(path) in line and "in use by another writer" in line
    runs = list_runs(path)
    assert len(runs) == 1 and runs[0].effective_status == "completed"
    assert read_run(path).samples["time_s"].size == 81  # 4 s / 50 ms + the first read


def test_refusal_comes_before_the_instrument_is_contacted(tmp_path, capsys):
    """A run on a file another writer holds refuses before connecting: against an
    unreachable instrument the error is the busy file, not the connection."""
    path = tmp_path / "held.h5"
    with claim(path, "test holder"):
        t0 = time.monotonic()
        rc, _, err = cli(["run", "dc-sweep", "--resource", UNREACHABLE, "-o", str(path),
                          "--quiet"], capsys)
        elapsed = time.monotonic() - t0
    line = one_line(err)
    assert rc == 1 and "in use by another writer" in line and "cannot reach" not in line
    assert f"pid {os.getpid()}" in line and "(test holder)" in line
    assert elapsed < 2
    assert not path.exists()  # the refused run created nothing


def test_lock_of_a_killed_writer_is_free(tmp_path):
    """The kernel drops the lock with its holder: a SIGKILLed holder leaves a lock file
    that is not live, and the next writer takes it."""
    path = tmp_path / "k.h5"
    code = ("import sys, time; from analysis.runfile import claim; "
            "claim(sys.argv[1], 'holder'); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert live_writer(path)["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert path.with_name("k.h5.lock").exists() and live_writer(path) is None
    with claim(path, "next") as lock:
        assert lock.held and live_writer(path)["pid"] == os.getpid()
    assert live_writer(path) is None
