"""The driver against the simulated 4200A through pyvisa + pyvisa-py over a loopback
socket (``TCPIP::127.0.0.1::port::SOCKET``, NUL terminations, ACK replies): a DC list
sweep, a user-mode read, a PMU waveform pulse train and a Segment Arb write/read."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.keithley4200 import InstrumentError
from drivers.pmu_config import PulseTiming, PulseTrainConfig, SarbSequence


def test_transport_is_real_pyvisa_with_nul_terminations(lan_instrument):
    conn = lan_instrument.adapter.connection
    assert type(lan_instrument.adapter).__name__ == "VISAAdapter"
    assert conn.read_termination == "\0" and conn.write_termination == "\0"
    assert lan_instrument.ack and lan_instrument.simulated
    assert sorted(lan_instrument.smus) == [1, 2, 3, 4] and sorted(lan_instrument.pmus) == [1, 2]


def test_dc_bipolar_list_sweep_with_compliance(lan_instrument, sim_engine):
    k = lan_instrument
    up = np.linspace(0, 3, 61)
    loop = np.concatenate([up, up[::-1][1:], -up[1:], -up[::-1][1:]])
    data = k.list_sweep(1, loop, 1e-3, delay=1e-3, integration="short", ground=[2])
    assert data.voltage.size == loop.size == data.time.size
    assert np.all(np.abs(data.current) <= 1e-3 * (1 + 1e-4))
    assert data.compliance.any()  # SET drives the device into the clamp
    assert np.all(np.diff(data.time) > 0)
    # in compliance the source voltage is reduced below the programmed value
    assert np.all(np.abs(data.voltage[data.compliance]) <= np.abs(loop[data.compliance]) + 1e-9)
    assert sim_engine.last_truth is not None


def test_user_mode_read_keeps_the_status_letter(lan_instrument, sim_engine):
    k = lan_instrument
    k.smus[1].source_voltage(0.1, 1e-4)
    r = k.smus[1].measure_current()
    assert r.status == "N" and 0 < r.value < 1e-4
    k.smus[1].source_voltage(5.0, 1e-6)
    r = k.smus[1].measure_current()
    assert r.compliance and abs(r.value) == pytest.approx(1e-6, rel=1e-3)
    k.smus[1].output_off()
    assert sim_engine.outputs_safe()


def test_pmu_waveform_pulse_train(lan_instrument, sim_engine):
    k = lan_instrument
    cfg = PulseTrainConfig(base=0.0, amplitude=0.5, count=3, i_range=10e-3,
                           timing=PulseTiming(20e-6, 5e-6, 500e-9, 500e-9, 1e-6),
                           series_resistance=1e3)
    wf = k.pmu_pulse_train(1, cfg)
    per_pulse = round((min(20e-6, 1e-6 + 5.5e-6 * 1.2) - max(0, 1e-6 - 0.2 * 5.5e-6)) * 200e6)
    assert len(wf) == 3 * per_pulse
    assert wf.voltage.max() > 0.4 and wf.voltage.min() == pytest.approx(0, abs=1e-9)
    assert np.all(wf.status.measure_type == 2) and np.all(wf.status.channel == 1)
    assert wf.current_bound == pytest.approx(0.5 * (1e6 + 50) / 1e6 / 1050)
    assert sim_engine.outputs_safe()  # output switched off after the fetch


def test_segment_arb_write_read_sequence(lan_instrument, sim_engine):
    k = lan_instrument
    write = SarbSequence(start_v=(0, 1.5, 1.5), stop_v=(1.5, 1.5, 0),
                         time=(100e-9, 1e-6, 100e-9), meas_type=(0, 2, 0))
    read = SarbSequence(start_v=(0, 0.2, 0.2), stop_v=(0.2, 0.2, 0),
                        time=(100e-9, 2e-6, 100e-9), meas_type=(0, 1, 0),
                        meas_start=(0, 0.5e-6, 0), meas_stop=(0, 1.5e-6, 0))
    wf = k.pmu_segment_arb(1, {1: write, 2: read}, [(2, 1), (1, 2), (2, 1)], i_range=10e-3)
    kind = wf.status.measure_type
    assert np.count_nonzero(kind == 1) == 2 and np.count_nonzero(kind == 2) == 2 * 200
    reads = wf.voltage[kind == 1]
    assert np.all((reads > 0.15) & (reads < 0.21))
    assert np.all(wf.current[kind == 1] > 0)
    assert np.all(np.diff(wf.time) > 0)
    assert sim_engine.outputs_safe()


def test_instrument_error_surfaces_with_code(lan_instrument):
    lan_instrument.command("DT 1")  # DT on the wrong page
    with pytest.raises(InstrumentError) as err:
        lan_instrument.check_errors("DT 1")
    assert err.value.code in (-989, -975)


def test_safe_off_leaves_everything_safe_twice(lan_instrument, sim_engine):
    k = lan_instrument
    k.smus[2].source_voltage(1.0, 1e-3)
    k.pmu_init("pulse")
    k.pmus[2].output(True)
    assert not sim_engine.outputs_safe()
    assert k.safe_off() == []
    assert sim_engine.outputs_safe()
    assert k.safe_off() == []
    assert sim_engine.outputs_safe()


def test_write_then_read_trapezoids_in_one_segment_arb_test(lan_instrument, sim_engine):
    k = lan_instrument
    write = SarbSequence.trapezoid(1.2, 1e-6, rise=100e-9, fall=100e-9)
    read = SarbSequence.trapezoid(0.1, 2e-6, measure="spot")
    wf = k.pmu_segment_arb(1, {1: write, 2: read}, [(2, 1), (1, 1), (2, 1)], i_range=10e-3)
    assert len(wf) == 2 and np.all(wf.status.measure_type == 1)
    assert np.all((wf.voltage > 0.09) & (wf.voltage <= 0.1001))
    assert wf.time[1] - wf.time[0] == pytest.approx(2.04e-6 + 1.2e-6, rel=1e-6)


def test_pymeasure_shutdown_makes_safe(lan_instrument, sim_engine):
    lan_instrument.smus[1].source_voltage(0.3, 1e-4)
    assert not sim_engine.outputs_safe()
    lan_instrument.shutdown()
    assert sim_engine.outputs_safe() and lan_instrument.isShutdown


def test_driver_against_the_labapp_sim_server_process():
    """The same driver against ``labapp sim-server`` run as its own process."""
    import subprocess
    import sys
    from pathlib import Path

    from drivers.keithley4200 import Keithley4200A

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "labapp.cli", "sim-server", "--port", "0", "--seed", "5",
         "--options", "SMU1,SMU2,,,PMU1RPM1-2,,,"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root)
    try:
        line = proc.stdout.readline()
        assert "listening on" in line, (line, proc.stderr.read() if proc.poll() else "")
        k = Keithley4200A(line.split()[-1], timeout=5000)
        assert k.simulated and k.pmus[1].rpm
        k.pmus[1].rpm_configure("smu")
        data = k.list_sweep(1, np.linspace(0, 1, 21), 1e-3, integration="short")
        assert data.current.size == 21 and np.all(np.abs(data.current) <= 1e-3 * 1.0001)
        k.smus[1].source_voltage(0.1, 1e-4)
        assert k.smus[1].measure_current().status in ("N", "C")
        wf = k.pmu_pulse_train(1, PulseTrainConfig(amplitude=0.5, timing=PulseTiming()))
        assert len(wf) > 0 and k.pmus[1].rpm_mode == "pmu"
        reads = k.pmu_segment_arb(1, {1: SarbSequence.trapezoid(1.0, 1e-6),
                                      2: SarbSequence.trapezoid(0.1, 1e-6, measure="spot")},
                                  [(1, 1), (2, 1)], i_range=10e-3)
        assert len(reads) == 1
        assert k.safe_off() == []
        k.adapter.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
