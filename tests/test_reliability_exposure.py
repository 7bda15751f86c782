"""Exposure: the simulator listens on loopback only unless told otherwise, and every file
labapp reads (run files, presets, CSV) is parsed as data — never evaluated.

Code planted in a preset, a run-file attribute, a parameter value or a CSV comment must
come back as text or be rejected as a bad value, and must never run (each payload would
create a marker file if it were executed).
"""

from __future__ import annotations

import ast
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from analysis.csv_io import read_csv_run
from analysis.runfile import RunWriter, list_runs, read_run
from drivers.validation import ParameterError
from labapp.cli import main as cli_main
from protocols.preset_library import PresetError, load_presets, read_preset
from sim_backend.kxci import KXCIEngine
from sim_backend.server import KXCIServer

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("labapp", "protocols", "drivers", "analysis", "sim_backend")


def payload(marker: Path) -> str:
    """Python that would create ``marker`` if anything evaluated it."""
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


# ------------------------------------------------------------------------- network


def test_server_binds_loopback_by_default():
    server = KXCIServer(KXCIEngine(seed=0), port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert server.resource.startswith("TCPIP::127.0.0.1::")
    finally:
        server.server_close()


def _non_loopback_addresses() -> list[str]:
    addrs = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addrs.add(info[4][0])
    except OSError:
        pass
    try:  # the address used for outbound traffic (no packet is sent for UDP connect)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            addrs.add(s.getsockname()[0])
    except OSError:
        pass
    return sorted(a for a in addrs if not a.startswith("127."))


def test_sim_server_cli_listens_on_loopback_only():
    """``labapp sim-server`` with no --host: reachable on 127.0.0.1, not on the machine's
    other addresses."""
    proc = subprocess.Popen([sys.executable, "-m", "labapp.cli", "sim-server", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        m = re.search(r"TCPIP::([\d.]+)::(\d+)::SOCKET", line)
        assert m, line
        host, port = m.group(1), int(m.group(2))
        assert host == "127.0.0.1"
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"*IDN?\0")
            assert sock.recv(4096).startswith(b"KEITHLEY INSTRUMENTS")
        for addr in _non_loopback_addresses():
            with pytest.raises(OSError):
                socket.create_connection((addr, port), timeout=2).close()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_sim_server_help_states_the_default_host(capsys):
    with pytest.raises(SystemExit):
        cli_main(["sim-server", "--help"])
    parser_help = capsys.readouterr().out
    assert "127.0.0.1" in parser_help and "loopback" in parser_help


# ------------------------------------------------------------------------- presets


def write_preset(directory: Path, name: str, data) -> Path:
    path = directory / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("param", ["v_set", "compliance_set", "sweep", "cycles"])
def test_preset_value_with_code_is_rejected_not_run(tmp_path, param):
    marker = tmp_path / "EXECUTED"
    write_preset(tmp_path, "evil", {"protocol": "dc-sweep", "title": payload(marker),
                                    "values": {param: payload(marker)}})
    preset = load_presets(tmp_path)["evil"]
    assert preset.title == payload(marker)  # kept as text
    with pytest.raises(ParameterError) as info:
        preset.resolved()
    # the one-line error names what is allowed (a range, or the choices of a choice field)
    text = str(info.value)
    assert info.value.name == param
    assert "allowed" in text or "takes one of bipolar, set-only" in text
    assert not marker.exists()


@pytest.mark.parametrize("text", [
    "{'protocol': 'dc-sweep', 'values': {}}",  # a Python dict literal, not JSON
    "__import__('pathlib').Path('{marker}').touch()",
    "{\"protocol\": \"dc-sweep\", \"values\": {\"v_set\": 1.0}",  # truncated JSON
    "[1, 2, 3]",
    "{\"protocol\": [\"dc-sweep\"], \"values\": {}}",
    "{\"protocol\": \"dc-sweep\", \"values\": \"v_set=1\"}",
], ids=["python-literal", "python-code", "truncated", "not-an-object", "protocol-not-a-name",
        "values-not-an-object"])
def test_preset_file_that_is_not_a_json_preset(tmp_path, text):
    marker = tmp_path / "EXECUTED"
    path = write_preset(tmp_path, "bad", text.replace("{marker}", str(marker)))
    with pytest.raises(PresetError) as info:
        read_preset(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    assert not marker.exists()


def test_preset_naming_an_unknown_parameter_is_rejected(tmp_path):
    write_preset(tmp_path, "typo", {"protocol": "dc-sweep", "values": {"__class__": 1}})
    with pytest.raises(ParameterError) as info:
        load_presets(tmp_path)["typo"].resolved()
    assert info.value.name == "__class__"


# ------------------------------------------------------------------------- run files


def test_run_file_attributes_with_code_are_read_as_text(tmp_path, capsys):
    marker = tmp_path / "EXECUTED"
    code = payload(marker)
    path = tmp_path / "evil.h5"
    writer = RunWriter(path, "dc-sweep", {"v_set": (code, "V")},
                       {"samples": {"time_s": "f8", "voltage_V": "f8", "current_A": "f8"}},
                       metadata={"notes": code, "sample": code, "operator": "{\"a\": 1}"})
    writer.append("samples", {"time_s": [0.0], "voltage_V": [0.1], "current_A": [1e-6]})
    writer.close("completed", reason=code)
    with h5py.File(path, "r+") as f:  # attributes written by hand, as another tool might
        g = f["runs"][list(f["runs"])[0]]
        g.attrs["protocol"] = code
        g["instrument"].attrs["idn"] = json.dumps(code)
        g.attrs["end_utc"] = code
    run = read_run(path)
    assert run.attrs["notes"] == code and run.attrs["reason"] == code
    assert run.protocol == code and run.param("v_set") == code
    assert run.instrument["idn"] == code
    assert run.attrs["operator"] == {"a": 1}  # JSON is decoded as data, nothing more
    [info] = list_runs(path)
    assert info.end_utc == code
    assert cli_main(["info", str(path)]) == 0
    assert code in capsys.readouterr().out  # printed, not run
    assert not marker.exists()


def test_csv_comments_and_cells_with_code_are_data(tmp_path):
    marker = tmp_path / "EXECUTED"
    csv = tmp_path / "legacy.csv"
    csv.write_text(f"# protocol: {payload(marker)}\n# sample: {payload(marker)}\n"
                   "time_s, voltage_V, current_A\n0, 0.1, 1e-6\n1, 0.2, 2e-6\n")
    run = read_csv_run(csv)
    assert run.samples["current_A"].tolist() == [1e-6, 2e-6]
    assert not marker.exists()
    bad = tmp_path / "cells.csv"
    bad.write_text(f"time_s, voltage_V, current_A\n0, {payload(marker)}, 1e-6\n")
    with pytest.raises(Exception) as info:  # noqa: PT011 - any clear error, but no execution
        read_csv_run(bad)
    assert str(bad) in str(info.value)
    assert not marker.exists()


# ------------------------------------------------------------------------- source scan

UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_ATTRS = {("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"),
                ("yaml", "load"), ("shelve", "open"), ("dill", "load"), ("dill", "loads")}


def test_no_module_evaluates_or_unpickles_input():
    """Static guard: no ``eval``/``exec``/``pickle.load``/``yaml.load``/``allow_pickle=True``
    anywhere in the shipped packages (files are parsed with json, h5py, csv and numpy)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if isinstance(f, ast.Name) and f.id in UNSAFE_CALLS:
                    found.append(f"{where} {f.id}()")
                if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                        and (f.value.id, f.attr) in UNSAFE_ATTRS):
                    found.append(f"{where} {f.value.id}.{f.attr}()")
                for kw in node.keywords:
                    if kw.arg == "allow_pickle" and not (
                            isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        found.append(f"{where} allow_pickle")
    assert not found, found
