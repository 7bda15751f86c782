"""The thin path end to end: simulator -> pyvisa socket -> driver -> protocol -> HDF5 -> figures."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

from analysis.constants import E_CHARGE, G0, H_PLANCK
from analysis.runfile import read_run
from protocols import DCSweep, RunEngine


def test_g0_from_exact_si_constants():
    assert E_CHARGE == 1.602176634e-19 and H_PLANCK == 6.62607015e-34
    assert G0 == pytest.approx(7.748091729e-5, rel=1e-9)
    assert 1 / G0 == pytest.approx(12906.40372, rel=1e-9)


def test_dc_sweep_over_real_pyvisa_socket(lan_instrument, sim_engine, tmp_path):
    # the driver really talks pyvisa-py TCPIP SOCKET with NUL terminations
    assert type(lan_instrument.adapter).__name__ == "VISAAdapter"
    assert lan_instrument.adapter.connection.read_termination == "\0"
    protocol = DCSweep(v_set=3.0, v_reset=3.0, step=0.01, compliance_set=5e-3,
                       compliance_reset=8e-3, cycles=2)
    path = tmp_path / "run.h5"
    result = RunEngine(lan_instrument).run(protocol, path)
    assert result.status == "completed", result.reason
    run = read_run(path)
    s = run.samples
    n_loop = protocol.points_per_cycle()
    assert n_loop == 1201
    for col in ("time_s", "v_program_V", "voltage_V", "current_A", "conductance_G0"):
        assert s[col].shape == (2 * n_loop,)
    assert run.units["samples"] == {
        "time_s": "s", "v_program_V": "V", "voltage_V": "V", "current_A": "A",
        "conductance_G0": "G0", "cycle": "", "segment": "", "compliance": "",
    }
    # sweep shape 0 -> +3 -> 0 -> -3 -> 0 per cycle, no repeated points, no jumps
    vp = s["v_program_V"][:n_loop]
    assert vp[0] == 0 and vp[-1] == 0
    assert vp.max() == pytest.approx(3.0) and vp.min() == pytest.approx(-3.0)
    assert np.argmax(vp) < np.argmin(vp)
    assert np.max(np.abs(np.diff(vp))) <= 0.01 + 1e-12
    assert list(np.unique(s["segment"])) == [1, 2, 3, 4]
    # compliance never exceeded, and it was reached (SET drives into the clamp)
    set_half = np.isin(s["segment"], (1, 2))
    assert np.max(np.abs(s["current_A"][set_half])) <= 5e-3 * (1 + 1e-4)
    assert np.max(np.abs(s["current_A"][~set_half])) <= 8e-3 * (1 + 1e-4)
    assert s["compliance"][set_half].any()
    # stored G/G0 is I/V in G0 units where |V| >= 1 mV
    m = np.abs(s["voltage_V"]) >= 1e-3
    np.testing.assert_allclose(s["conductance_G0"][m], s["current_A"][m] / s["voltage_V"][m] / G0)
    assert np.all(np.isnan(s["conductance_G0"][~m]))
    # the device switched: low at the start, quantized-range high after SET
    g = s["conductance_G0"]
    assert np.nanmax(g[set_half]) > 10 and abs(np.nanmedian(g[:20])) < 1
    # timestamps increase monotonically across the chunked tests and cycles
    assert np.all(np.diff(s["time_s"]) > 0)
    # instrument left safe; run metadata recorded
    assert sim_engine.outputs_safe()
    assert run.attrs["instrument_idn"].startswith("KEITHLEY INSTRUMENTS,KI4200A")
    assert run.attrs["g0_S"] == G0
    assert run.parameters["compliance_set"] == {"value": 5e-3, "unit": "A"}
    with h5py.File(path) as f:  # text attributes are fixed-length UTF-8 (file-format.md)
        assert f.attrs["schema"].decode() == "labapp-run"


def test_paper_sweep_splits_into_4096_point_tests(sim_engine, tmp_path):
    from drivers.keithley4200 import Keithley4200A
    from sim_backend.adapter import SimAdapter

    k = Keithley4200A(SimAdapter(sim_engine))
    protocol = DCSweep(step=0.001)  # 1 mV over +-3 V: 12 001 points
    result = RunEngine(k).run(protocol, tmp_path / "p.h5")
    assert result.status == "completed"
    vl = [m for m in sim_engine.log if m.startswith("VL")]
    assert len(vl) == 4  # SET half 6001 pts -> 2 tests, RESET half 6000 -> 2 tests
    assert all(m.count(",") - 3 + 1 <= 4096 for m in vl)
    s = read_run(tmp_path / "p.h5").samples
    assert s["v_program_V"].size == 12001
    assert np.max(np.abs(np.diff(s["v_program_V"]))) <= 0.001 + 1e-12


def test_points_per_test_sets_the_list_sweep_size(sim_engine, tmp_path):
    from drivers.keithley4200 import Keithley4200A
    from drivers.validation import ParameterError
    from sim_backend.adapter import SimAdapter

    k = Keithley4200A(SimAdapter(sim_engine))
    protocol = DCSweep(step=0.01, points_per_test=250)  # 601 + 600 points per half
    result = RunEngine(k).run(protocol, tmp_path / "c.h5")
    assert result.status == "completed"
    sizes = [m.count(",") - 2 for m in sim_engine.log if m.startswith("VL")]
    assert sizes == [250, 250, 101, 250, 250, 100]
    s = read_run(tmp_path / "c.h5").samples
    assert np.max(np.abs(np.diff(s["v_program_V"]))) <= 0.01 + 1e-12
    with pytest.raises(ParameterError, match="points_per_test"):
        DCSweep(points_per_test=5000)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labapp.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_help_lists_subcommands_and_each_has_help(capsys):
    from labapp.cli import main

    out = run_cli("--help")  # once through the real entry point
    assert out.returncode == 0
    subcommands = ("run", "analyze", "info", "sim-server", "gui", "demo")
    for name in subcommands:
        assert name in out.stdout
    for name in subcommands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: labapp " + name in capsys.readouterr().out


def test_cli_run_info_analyze(tmp_path):
    path = tmp_path / "cli.h5"
    out = run_cli("run", "dc-sweep", "--sim", "--seed", "3", "-o", str(path),
                  "--set", "step=0.02", "--set", "compliance_set=5mA", "--quiet")
    assert out.returncode == 0, out.stderr
    assert str(path) in out.stdout and "completed" in out.stdout
    info = run_cli("info", str(path))
    assert "dc-sweep" in info.stdout and "completed" in info.stdout
    figs = run_cli("analyze", str(path), "--figure", "iv", "--figure", "gv", "-o",
                   str(tmp_path / "figs"))
    assert figs.returncode == 0, figs.stderr
    pngs = sorted((tmp_path / "figs").glob("*.png"))
    assert len(pngs) == 2 and all(p.stat().st_size > 10_000 for p in pngs)
    assert read_run(path).param("compliance_set") == pytest.approx(5e-3)


def test_cli_bad_parameter_is_one_line_before_any_instrument(tmp_path):
    out = run_cli("run", "dc-sweep", "--resource", "TCPIP::127.0.0.1::1::SOCKET", "-o",
                  str(tmp_path / "x.h5"), "--set", "compliance_set=0.5")
    assert out.returncode == 2
    line = out.stderr.strip()
    assert "\n" not in line and "compliance_set=0.5" in line and "0.105" in line
    assert not (tmp_path / "x.h5").exists()


def test_gui_screenshot(tmp_path):
    shot = tmp_path / "gui.png"
    out = run_cli("gui", "--screenshot", str(shot), "--after", "0.2")
    assert out.returncode == 0, out.stderr
    assert shot.stat().st_size > 5_000


def test_cli_output_into_a_closed_pipe_is_not_an_error():
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written (``| head`` exited)
    try:
        proc = subprocess.run([sys.executable, "-m", "labapp.cli", "presets"],
                              stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert b"Broken pipe" not in proc.stderr and b"Traceback" not in proc.stderr
