"""The CLI explains itself: per-protocol help, one exact message per kind of mistake.

Each error kind has its exact message here (the wording users see and docs/protocols.md
quotes); parameter errors come before any instrument is touched, so the runs point at an
unreachable resource and must still fail with the parameter's message, writing no file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from labapp.cli import main as cli
from protocols import PROTOCOLS
from protocols.preset_library import PRESET_DIR

UNREACHABLE = "TCPIP::127.0.0.1::1::SOCKET"


def run_error(capsys, tmp_path, *argv: str) -> tuple[int, str]:
    out = tmp_path / "never.h5"
    code = cli(["run", argv[0], "--resource", UNREACHABLE, "-o", str(out), *argv[1:]])
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert not out.exists()
    return code, err


def test_run_protocol_help_lists_every_parameter_with_unit_default_and_range(capsys):
    with pytest.raises(SystemExit) as info:
        cli(["run", "dc-sweep", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    v_set = next(line for line in out.splitlines() if line.split()[:1] == ["v_set"])
    assert v_set.split() == ["v_set", "V", "3", "(0,", "210]", "V"]
    assert "SET sweep end voltage" in out
    for p in PROTOCOLS["dc-sweep"].params:
        assert any(line.split()[:1] == [p.name] for line in out.splitlines()), p.name
    assert "--max-compliance" in out and "--set" in out  # the generic options are there too


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_protocols_command_describes_each_protocol(name, capsys):
    assert cli(["protocols", name]) == 0
    out = capsys.readouterr().out
    for p in PROTOCOLS[name].params:
        row = next(line for line in out.splitlines() if line.split()[:1] == [p.name])
        assert p.allowed().split()[0] in row, (p.name, row)
        if p.unit:
            assert f" {p.unit} " in row, row
    assert "streams written: samples" in out


def test_protocols_command_lists_protocols(capsys):
    assert cli(["protocols"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()[:len(PROTOCOLS)]] == list(PROTOCOLS)


# (argv after "run", exit code, exact message after "labapp run: error: ")
ERRORS = [
    ("not-a-number", ["dc-sweep", "--set", "v_set=abc"], 2,
     "v_set='abc' is not a number; v_set takes a voltage in V, allowed (0, 210] V"),
    ("wrong-unit", ["dc-sweep", "--set", "compliance_set=5mV"], 2,
     "5mV is a voltage; compliance_set takes a current in A"),
    ("wrong-unit-for-a-count", ["dc-sweep", "--set", "cycles=5mA"], 2,
     "5mA is a current; cycles takes an integer"),
    ("unknown-with-suggestion", ["dc-sweep", "--set", "vset=3"], 2,
     "unknown parameter 'vset': not a parameter of this protocol (dc-sweep); did you mean "
     "'v_set'? (parameters: v_set, v_reset, step, dwell, compliance_set, compliance_reset, "
     "cycles, compliance_ladder, sweep, jump_ratio, integration, smu, points_per_test)"),
    ("not-a-choice", ["dc-sweep", "--set", "sweep=bipolr"], 2,
     "sweep='bipolr' is not a choice; allowed one of bipolar, set-only; did you mean "
     "'bipolar'?"),
    ("out-of-range", ["dc-sweep", "--set", "compliance_set=0.5"], 2,
     "compliance_set=0.5 is out of range: allowed (0, 0.105] A"),
    ("no-name", ["dc-sweep", "--set", "=3"], 2,
     "--set='=3' has no parameter name before '=': write name=value, e.g. v_set=3.0"),
    ("tiny-step", ["dc-sweep", "--set", "step=1e-9"], 2,
     "step=1e-09 is out of range: allowed >= 1.2e-06 V (at most 1e7 points per loop)"),
    ("reset-train-width", ["reset-train", "--set", "width=10ns"], 2,
     "width=1e-08 is out of range: allowed >= 6.94e-07 s for 200 samples per pulse at the "
     "PMU's 200 MS/s (or set samples lower)"),
    ("retention-interval", ["retention", "--set", "interval=1ms"], 2,
     "interval=0.001 is out of range: allowed >= read_width = 0.02 s (one read must end "
     "before the next starts)"),
    ("max-compliance-with-unit", ["dc-sweep", "--max-compliance", "1mA"], 2,
     "compliance_set=0.005 is out of range: allowed <= 0.001 A (safety profile)"),
]


@pytest.mark.parametrize(("argv", "code", "message"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_each_error_kind_has_its_message(argv, code, message, capsys, tmp_path):
    rc, err = run_error(capsys, tmp_path, *argv)
    assert (rc, err) == (code, f"labapp run: error: {message}")


def test_usage_errors_raise_systemexit_with_one_line(capsys, tmp_path):
    for argv, message in [
        (["run", "dc-sweep", "-o", str(tmp_path / "x.csv")],
         f"labapp run: error: argument -o/--output: '{tmp_path / 'x.csv'}': a run file is "
         f"HDF5 and its name must end in .h5 (e.g. {tmp_path / 'x.h5'}); for CSV, run to "
         f"{tmp_path / 'x.h5'} and then 'labapp export {tmp_path / 'x.h5'} --csv DIR' "
         "(see 'labapp run --help')"),
        (["run", "dc-sweep", "--max-voltage", "abc", "-o", str(tmp_path / "x.h5")],
         "labapp run: error: argument --max-voltage: --max-voltage='abc' is not a number; "
         "--max-voltage takes a voltage in V (see 'labapp run --help')"),
        (["run", "dc-sweep", "--max-compliance", "1mV", "-o", str(tmp_path / "x.h5")],
         "labapp run: error: argument --max-compliance: 1mV is a voltage; --max-compliance "
         "takes a current in A (see 'labapp run --help')"),
        (["run", "dc-sweep", "--seed", "1.5", "-o", str(tmp_path / "x.h5")],
         "labapp run: error: argument --seed: '1.5' is not a whole number "
         "(see 'labapp run --help')"),
    ]:
        with pytest.raises(SystemExit) as info:
            cli(argv)
        assert info.value.code == 2
        assert capsys.readouterr().err.strip() == message
    assert not list(tmp_path.iterdir())


def test_a_tiny_step_is_refused_at_once_without_building_the_sweep(tmp_path):
    # the sweep of step=2e-8 has 6e8 points (4.7 GB): the refusal must come from the
    # parameters, well before anything of that size exists
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "labapp.cli", "run", "dc-sweep", "--resource",
                          UNREACHABLE, "--set", "step=2e-8", "-o", str(tmp_path / "x.h5")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "step=2e-08 is out of range" in out.stderr
    assert time.monotonic() - t0 < 20  # interpreter start dominates; building took 9.5 s


def test_units_accepted_in_safety_options_and_seed_in_e_notation(tmp_path, capsys):
    path = tmp_path / "r.h5"
    assert cli(["run", "read-noise", "--sim", "--seed", "1e3", "--max-compliance", "5mA",
                "--max-voltage", "500mV", "--set", "duration=0.05", "-o", str(path),
                "--quiet"]) == 0
    from analysis.runfile import read_run

    run = read_run(path)
    assert run.safety == {"max_voltage_V": 0.5, "max_compliance_A": 0.005}
    assert "SIM0001000" in run.attrs["instrument_idn"]


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli(["--version"])
    assert info.value.code == 0
    from protocols.versioning import software_version

    assert capsys.readouterr().out.strip() == f"labapp {software_version()['software_version']}"


def test_preset_by_name_or_path(tmp_path, capsys):
    shipped = PRESET_DIR / "forming.json"
    copy = tmp_path / "mine.json"
    copy.write_text(shipped.read_text())
    for preset in ("forming", str(copy)):
        path = tmp_path / f"{len(preset)}.h5"
        assert cli(["run", "dc-sweep", "--sim", "--preset", preset, "--set", "step=0.05",
                    "-o", str(path), "--quiet"]) == 0, capsys.readouterr().err
        from analysis.runfile import read_run

        run = read_run(path)
        values = json.loads(shipped.read_text())["values"]
        assert run.param("sweep") == values["sweep"] == "set-only"
        assert run.attrs["preset"] == preset
    code, err = run_error(capsys, tmp_path, "dc-sweep", "--preset", str(tmp_path / "no.json"))
    assert code == 1 and err.endswith(f"preset file {str(tmp_path / 'no.json')!r} does not exist")


def test_a_missing_command_module_ends_with_one_line_naming_it(monkeypatch, capsys):
    """A listed subcommand whose module is gone is a broken install, not a command to hide:
    the CLI stops with one line naming the module (no traceback, no shorter command list)."""
    import labapp.cli

    monkeypatch.setattr(labapp.cli, "COMMANDS", (*labapp.cli.COMMANDS, "no_such_command"))
    with pytest.raises(SystemExit) as exc:
        cli(["--help"])
    message = str(exc.value)
    assert len(message.splitlines()) == 1
    assert "labapp.commands.no_such_command" in message
    assert "cannot be loaded" in message
