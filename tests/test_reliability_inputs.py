"""Bad input, one test per row: a one-line error naming the parameter, the value and the
allowed range (or the file and what is wrong with it), a non-zero exit code, never a bare
traceback — and nothing sent to an instrument before the input was checked.

Parameter rows run ``labapp run`` against an *unreachable* resource: if validation did not
come first, the error would be "cannot reach 4200A" instead of the parameter's; no run
file may appear. File rows run the CLI in a subprocess with a time limit (a damaged HDF5
file must not hang the reader). Driver rows call the driver API on the in-process
simulator and check that not a single message was sent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from drivers.pmu_config import PulseTiming, PulseTrainConfig, SarbSequence
from drivers.validation import ParameterError
from labapp.cli import main as cli_main
from labapp.instrument_choice import connect
from protocols import DCSweep, RunEngine

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "TCPIP::127.0.0.1::1::SOCKET"  # nothing listens on port 1


def one_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    assert "Traceback" not in text
    return lines[0]


# --------------------------------------------------------------------- parameter rows
# (id, argv after "run", exit code, substrings of the message)
PARAM_ROWS = [
    ("width-nan", ["pulse-train", "--set", "width=nan"], 2, ["width=nan", "(0, 6.5] s"]),
    ("width-inf", ["pulse-train", "--set", "width=inf"], 2, ["width=inf", "(0, 6.5] s"]),
    ("width-negative", ["pulse-train", "--set", "width=-1ms"], 2, ["width=-0.001", "(0, 6.5] s"]),
    ("width-beyond-period", ["pulse-train", "--set", "width=0.2", "--set", "period=0.1"], 2,
     ["period=0.1", "width + read_width"]),
    ("step-zero", ["dc-sweep", "--set", "step=0"], 2, ["step=0", "(0, 1] V"]),
    ("step-oversized", ["dc-sweep", "--set", "step=2"], 2, ["step=2", "(0, 1] V"]),
    ("compliance-beyond-card", ["dc-sweep", "--set", "compliance_set=0.5"], 2,
     ["compliance_set=0.5", "(0, 0.105] A"]),
    ("compliance-zero", ["dc-sweep", "--set", "compliance_reset=0"], 2,
     ["compliance_reset=0", "(0, 0.105] A", "0 is not 'none'"]),
    ("compliance-beyond-safety-profile",
     ["dc-sweep", "--set", "compliance_set=50mA", "--max-compliance", "0.01"], 2,
     ["compliance_set=0.05", "0.01 A (safety profile)"]),
    ("voltage-beyond-card", ["dc-sweep", "--set", "v_set=300"], 2, ["v_set=300", "210] V"]),
    ("voltage-beyond-safety-profile", ["dc-sweep", "--set", "v_set=6"], 2,
     ["v_set=6", "|V| <= 5 V (safety profile)"]),
    ("pulse-amplitude-beyond-safety-profile",
     ["pulse-train", "--set", "amplitude=4", "--max-voltage", "3"], 2,
     ["amplitude=4", "3 V (safety profile)"]),
    ("unknown-preset", ["dc-sweep", "--preset", "no-such-preset"], 1,
     ["unknown preset 'no-such-preset'", "forming"]),
    ("preset-of-another-protocol", ["dc-sweep", "--preset", "paper000-fig7-ltp-ltd"], 1,
     ["paper000-fig7-ltp-ltd", "ltp-ltd", "dc-sweep"]),
    ("set-without-equals", ["dc-sweep", "--set", "step"], 2, ["--set='step'", "name=value"]),
    ("set-not-a-number", ["dc-sweep", "--set", "step=abc"], 2, ["step='abc'", "(0, 1] V"]),
    ("set-unknown-name", ["dc-sweep", "--set", "stpe=0.1"], 2, ["stpe", "'step'"]),
    ("set-bad-choice", ["dc-sweep", "--set", "sweep=diagonal"], 2,
     ["sweep='diagonal'", "bipolar, set-only"]),
    ("cycles-not-an-integer", ["dc-sweep", "--set", "cycles=2.5"], 2, ["cycles=2.5", "integer"]),
]

SAFETY_PROFILE_DEFECT = ("protocols: SafetyProfile accepts NaN and non-positive limits; "
                         "--max-voltage nan silently disables the voltage check")
SAFETY_ROWS = [
    ("safety-limit-nan", ["dc-sweep", "--max-voltage", "nan"], 2, ["max", "nan"]),
    ("safety-limit-negative", ["dc-sweep", "--max-compliance", "-1"], 2,
     ["max", "compliance", "-1", "0.105"]),
]


def run_cli_inprocess(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli_main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("argv", "code", "parts"), [r[1:] for r in PARAM_ROWS],
                         ids=[r[0] for r in PARAM_ROWS])
def test_bad_parameter(argv, code, parts, capsys, tmp_path):
    out = tmp_path / "never.h5"
    rc, stdout, stderr = run_cli_inprocess(
        ["run", *argv[:1], "--resource", UNREACHABLE, "-o", str(out), *argv[1:]], capsys)
    assert rc == code, (rc, stderr)
    line = one_line(stderr)
    assert line.startswith("labapp run: error: ")
    for part in parts:
        assert part in line, (part, line)
    assert "cannot reach" not in line  # checked before the instrument was touched
    assert not out.exists()


@pytest.mark.parametrize(("argv", "code", "parts"), [r[1:] for r in SAFETY_ROWS],
                         ids=[r[0] for r in SAFETY_ROWS])
def test_bad_safety_profile(argv, code, parts, capsys, tmp_path):
    out = tmp_path / "never.h5"
    rc, _, stderr = run_cli_inprocess(
        ["run", argv[0], "--resource", UNREACHABLE, "-o", str(out), *argv[1:]], capsys)
    assert rc == code, (rc, stderr)
    line = one_line(stderr)
    for part in parts:
        assert part in line, (part, line)
    assert not out.exists()


SIM_OPTION_DEFECT = ("labapp run: --sim-speed <= 0 or NaN is silently ignored (the simulator "
                     "runs unpaced) and a negative --seed fails without naming the option")
SIM_OPTION_ROWS = [
    ("sim-speed-negative", ["--sim-speed", "-1"], ["--sim-speed=-1", "(0,"]),
    ("sim-speed-zero", ["--sim-speed", "0"], ["--sim-speed=0", "(0,"]),
    ("sim-speed-nan", ["--sim-speed", "nan"], ["--sim-speed=nan", "(0,"]),
    ("seed-negative", ["--seed", "-5"], ["--seed=-5", ">= 0"]),
]


@pytest.mark.parametrize(("argv", "parts"), [r[1:] for r in SIM_OPTION_ROWS],
                         ids=[r[0] for r in SIM_OPTION_ROWS])
def test_bad_simulator_option(argv, parts, capsys, tmp_path):
    out = tmp_path / "never.h5"
    rc, _, stderr = run_cli_inprocess(["run", "read-noise", "--sim", "-o", str(out), "--quiet",
                                       "--set", "duration=0.1", *argv], capsys)
    assert rc == 2, (rc, stderr)
    line = one_line(stderr)
    for part in parts:
        assert part in line, (part, line)
    assert not out.exists()


def test_unreachable_resource(capsys, tmp_path):
    """Valid parameters, nobody listening: one line naming the resource, exit 1, quickly."""
    t0 = time.monotonic()
    rc, _, stderr = run_cli_inprocess(["run", "dc-sweep", "--resource", UNREACHABLE, "-o",
                                       str(tmp_path / "x.h5")], capsys)
    assert rc == 1
    line = one_line(stderr)
    assert "cannot reach 4200A" in line and UNREACHABLE in line
    assert time.monotonic() - t0 < 15
    assert not (tmp_path / "x.h5").exists()


def test_unknown_protocol_is_a_usage_error_without_traceback(capsys):
    with pytest.raises(SystemExit) as info:  # argparse: usage line + one error line
        cli_main(["run", "dc-swep", "--sim", "-o", "x.h5"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "invalid choice: 'dc-swep'" in last and "dc-sweep" in last


# --------------------------------------------------------------------- driver rows


@pytest.fixture
def sim():
    k = connect(sim=True, seed=1)
    return k, k.adapter.engine


def assert_rejected_before_sending(sim, call, name: str, parts: list[str]) -> None:
    k, eng = sim
    sent = len(eng.log)
    with pytest.raises(ParameterError) as info:
        call(k)
    msg = str(info.value)
    assert info.value.name == name and "\n" not in msg
    assert msg.startswith(f"{name}=") and "allowed" in msg
    for part in parts:
        assert part in msg, (part, msg)
    assert len(eng.log) == sent, f"sent {eng.log[sent:]} before rejecting"


def test_sweep_with_more_than_4096_points(sim):
    assert_rejected_before_sending(
        sim, lambda k: k.list_sweep(1, np.linspace(0, 1, 4097), 1e-3), "points",
        ["4097", "4096"])


def test_sweep_with_a_nan_voltage(sim):
    assert_rejected_before_sending(
        sim, lambda k: k.list_sweep(1, [0.0, float("nan"), 0.1], 1e-3), "voltage",
        ["nan", "210"])


def test_sweep_compliance_beyond_the_card(sim):
    assert_rejected_before_sending(
        sim, lambda k: k.list_sweep(1, [0.0, 0.1], 0.2), "compliance", ["0.2", "0.105"])


def test_pmu_train_with_more_than_65536_samples(sim):
    config = PulseTrainConfig(amplitude=1.0, count=100, sample_rate=200e6,
                              timing=PulseTiming(period=10e-6, width=5e-6))
    assert_rejected_before_sending(
        sim, lambda k: k.pmu_pulse_train(1, config), "sample_rate", ["65536"])


def test_segment_arb_with_more_than_65536_points(sim):
    seq = SarbSequence(start_v=[0.0, 1.0, 1.0], stop_v=[1.0, 1.0, 0.0],
                       time=[1e-6, 1e-3, 1e-6], meas_type=[2, 2, 2])
    assert_rejected_before_sending(
        sim, lambda k: k.pmu_segment_arb(1, {1: seq}, [(1, 10)]), "sequence_list",
        ["65536", "-963"])


@pytest.mark.parametrize(("timing", "name", "parts"), [
    (PulseTiming(period=1e-6, width=2e-6), "width", ["2e-06", "9.9e-07] s"]),
    (PulseTiming(period=10e-9, width=5e-9), "period", ["1e-08", "6e-08"]),
    (PulseTiming(period=1e-6, width=500e-9, rise=1e-9), "rise", ["1e-09", "2e-08"]),
    (PulseTiming(period=1e-6, width=100e-9, rise=150e-9, fall=150e-9), "width",
     ["1e-07", "(rise+fall)/2"]),
    (PulseTiming(period=1e-6, width=500e-9, rise=float("nan")), "rise", ["nan"]),
], ids=["width-beyond-period", "period-too-short", "rise-too-fast", "edges-longer-than-width",
        "rise-nan"])
def test_pmu_timing_violation(sim, timing, name, parts):
    config = PulseTrainConfig(amplitude=1.0, timing=timing)
    assert_rejected_before_sending(sim, lambda k: k.pmu_pulse_train(1, config), name, parts)


# --------------------------------------------------------------------- file rows


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("files") / "good.h5"
    result = RunEngine(connect(sim=True, seed=1)).run(DCSweep(step=0.05, cycles=3), path)
    assert result.status == "completed"
    return path


def make_bad_file(kind: str, good: Path, tmp: Path) -> Path:
    path = tmp / f"{kind}.h5"
    if kind == "missing":
        return path
    if kind == "not-hdf5":
        path.write_text("time_s, voltage_V, current_A\n0, 0, 0\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "corrupt":
        data = bytearray(good.read_bytes())
        rng = np.random.default_rng(8)
        data[2048:-2048] = rng.integers(0, 256, len(data) - 4096, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
    elif kind == "foreign-hdf5":
        with h5py.File(path, "w") as f:
            f["x"] = np.arange(3)
    elif kind == "newer-schema":
        shutil.copy(good, path)
        with h5py.File(path, "r+") as f:
            f.attrs["schema_version"] = 99
    elif kind == "runs-dataset":
        with h5py.File(path, "w", libver="latest") as f:
            f.attrs["schema"] = "labapp-run"
            f.attrs["schema_version"] = 1
            f["runs"] = np.arange(3)
    elif kind == "fifo":
        os.mkfifo(path)  # opening it would block until a writer appears
    return path


def snapshot(path: Path) -> bytes | tuple | None:
    """The file's content (its type for a FIFO, which must never be opened)."""
    if not path.exists():
        return None
    if path.is_fifo():
        return ("fifo", path.stat().st_ino)
    return path.read_bytes()


FILE_EXPECT = {  # regular expressions (case-insensitive) the one-line error must match
    "missing": r"no such file",
    "not-hdf5": r"not a readable HDF5 file|file signature not found",
    "empty": r"empty file \(0 bytes\), not a run file",
    "truncated": r"truncated",
    "corrupt": r"damaged|corrupt",
    "foreign-hdf5": r"not a labapp run file",
    "newer-schema": r"schema version 99 is newer than this labapp reads \(<= 2\)",
    "runs-dataset": r"'runs' is a dataset, not a group",
    "fifo": r"is a named pipe \(FIFO\), not a run file",
}
FILE_COMMANDS = ["info", "analyze", "export", "repair", "run", "import-csv"]
#: commands that write: a missing file is created, not refused
WRITERS = ("run", "import-csv", "repair")


def file_argv(command: str, path: Path, tmp: Path) -> list[str]:
    csv = tmp / "in.csv"
    if command == "import-csv" and not csv.exists():
        csv.write_text("time_s, voltage_V, current_A\n0, 0.1, 1e-6\n1, 0.2, 2e-6\n")
    return {"info": ["info", str(path)],
            "analyze": ["analyze", str(path), "-o", str(tmp / "figs")],
            "export": ["export", str(path), "--csv", str(tmp / "out.csv")],
            "repair": ["info", "--repair", str(path)],
            "run": ["run", "dc-sweep", "--sim", "--set", "step=0.1", "-o", str(path),
                    "--quiet"],
            "import-csv": ["import-csv", str(csv), "-o", str(path)]}[command]


def check_file_error(line: str, kind: str, path: Path) -> None:
    assert str(path) in line, f"the error should name the file: {line}"
    assert re.search(FILE_EXPECT[kind], line, re.I), (FILE_EXPECT[kind], line)


@pytest.mark.parametrize("command", FILE_COMMANDS)
@pytest.mark.parametrize("kind", [k for k in FILE_EXPECT if k != "truncated"])
def test_bad_run_file(kind, command, good_run, tmp_path, capsys):
    """Readers and writers refuse a bad file in one line naming it, and leave it byte for
    byte as it was (nothing created, converted or locked: no lock file stays behind)."""
    if kind == "missing" and command in WRITERS[:2]:
        pytest.skip("a writer creates a missing file")
    path = make_bad_file(kind, good_run, tmp_path)
    before = snapshot(path)
    t0 = time.monotonic()
    rc, stdout, stderr = run_cli_inprocess(file_argv(command, path, tmp_path), capsys)
    if kind == "corrupt" and command == "info":
        # the damage is in the run's structures: the listing names it instead of failing
        assert rc == 0 and " damaged " in stdout and "damaged:" in stdout, (rc, stdout)
        assert snapshot(path) == before
        return
    assert rc == 1, (rc, stderr)
    if kind == "fifo":
        assert time.monotonic() - t0 < 2  # at once: a FIFO is never opened
    check_file_error(one_line(stderr), kind, path)
    assert not (tmp_path / "out.csv").exists()
    assert snapshot(path) == before
    assert not path.with_name(path.name + ".lock").exists()


READ_IN_SUBPROCESS = """
import sys
from analysis.runfile import RunFileError, list_runs, read_run
try:
    list_runs(sys.argv[1]); read_run(sys.argv[1])
except RunFileError as exc:
    print(exc); sys.exit(1)
"""


def test_truncated_run_file(good_run, tmp_path, capsys):
    """A run file cut in half (copied while written, full disk): a clear error, no hang.

    The reader first runs in a subprocess with a time limit, because a hang inside HDF5
    cannot be interrupted from Python; only then the CLI commands run in-process."""
    path = make_bad_file("truncated", good_run, tmp_path)
    try:
        out = subprocess.run([sys.executable, "-c", READ_IN_SUBPROCESS, str(path)],
                             capture_output=True, text=True, timeout=8, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {path} hung")
    assert out.returncode == 1, out.stderr
    check_file_error(one_line(out.stdout), "truncated", path)
    for command in FILE_COMMANDS:
        if command == "repair":
            continue
        rc, _, stderr = run_cli_inprocess(file_argv(command, path, tmp_path), capsys)
        assert rc == 1
        check_file_error(one_line(stderr), "truncated", path)
        assert "--repair" in stderr
    # the repair resets the recorded end to the bytes on disk; what lay beyond is damage
    rc, stdout, stderr = run_cli_inprocess(file_argv("repair", path, tmp_path), capsys)
    assert rc == 0, stderr
    assert "its end was reset to the bytes on disk" in stdout
    rc, stdout, _ = run_cli_inprocess(["info", str(path)], capsys)
    assert rc == 0 and "1 run(s)" in stdout


def test_appending_a_run_to_a_newer_schema_file_is_refused(good_run, tmp_path, capsys):
    path = make_bad_file("newer-schema", good_run, tmp_path)
    before = path.read_bytes()
    rc, _, stderr = run_cli_inprocess(["run", "dc-sweep", "--sim", "--set", "step=0.1", "-o",
                                       str(path), "--quiet"], capsys)
    assert rc == 1
    line = one_line(stderr)
    assert str(path) in line and "schema version 99" in line
    assert path.read_bytes() == before  # the newer file is left untouched


@pytest.mark.parametrize(("content", "parts"), [
    ("time_s, voltage_V\n0, 0.1\n1, 0.2\n", ["current", "voltage_V"]),
    ("time_s, current_A\n0, 1e-6\n1, 2e-6\n", ["voltage", "current_A"]),
    ("\x00\x01binary\xff\n", ["voltage", "current"]),
    ("", ["no header"]),
], ids=["no-current-column", "no-voltage-column", "binary", "empty"])
@pytest.mark.parametrize("command", ["import-csv", "analyze"])
def test_csv_with_missing_columns(content, parts, command, tmp_path, capsys):
    csv = tmp_path / "legacy.csv"
    csv.write_text(content, encoding="latin-1")
    target = tmp_path / "imported.h5"
    argv = (["import-csv", str(csv), "-o", str(target)] if command == "import-csv"
            else ["analyze", str(csv), "-o", str(tmp_path / "figs")])
    rc, _, stderr = run_cli_inprocess(argv, capsys)
    assert rc == 1
    line = one_line(stderr)
    assert str(csv) in line
    for part in parts:
        assert part in line, (part, line)
    assert not target.exists()


def test_csv_with_non_numeric_rows(tmp_path, capsys):
    csv = tmp_path / "words.csv"
    csv.write_text("time_s, voltage_V, current_A\n0, 0.1, 1e-6\n1, high, 2e-6\n")
    rc, _, stderr = run_cli_inprocess(["import-csv", str(csv), "-o", str(tmp_path / "i.h5")],
                                      capsys)
    assert rc == 1
    line = one_line(stderr)
    assert str(csv) in line


def test_unwritable_output_is_one_line(tmp_path, capsys):
    """The run file's directory is a file: the error names it, exit 1."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    rc, _, stderr = run_cli_inprocess(["run", "dc-sweep", "--sim", "-o",
                                       str(blocker / "x.h5"), "--quiet"], capsys)
    assert rc == 1
    line = one_line(stderr)
    assert "blocker" in line

