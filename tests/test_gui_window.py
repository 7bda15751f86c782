"""The real window, offscreen: connect, run, stop, abort, queue, close during a run.

Runs use the in-process simulator paced against the wall clock
(``protocols.connect(sim=True, speed=X)``), so a stop or abort lands mid-run
deterministically; every wait is bounded (``qtbot.waitUntil`` with a timeout).
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from analysis.runfile import list_runs, read_run
from labapp.gui.main_window import CLOSE_REASON, MainWindow

#: DC sweep with 0.1 PLC points: 1200 points = 2 s of instrument time per loop
FAST_SWEEP = {"step": "0.01", "integration": "short", "v_set": "2.5", "v_reset": "2.5"}


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(output=tmp_path / "gui.h5", seed=1)
    qtbot.addWidget(w)
    w.show()
    return w


def connect_sim(qtbot, w: MainWindow, speed: float | None = None) -> None:
    w.connection.use_sim(1, speed)
    w.connection.connect_button.click()
    qtbot.waitUntil(lambda: w.instrument is not None, timeout=5000)


def fill(w: MainWindow, protocol: str, **texts: str) -> None:
    form = w.protocols.select(protocol)
    form.reset()
    for name, text in texts.items():
        form.editors[name].set_text(text)
    assert form.valid, form.errors


def wait_done(qtbot, w: MainWindow, timeout_ms: int = 15000) -> None:
    qtbot.waitUntil(lambda: not w.running and not w.controller.inbox, timeout=timeout_ms)
    w.tick()


def test_connect_to_simulator_shows_idn_and_cards(qtbot, window):
    assert "connects to the chosen instrument first" in window.run_panel.run_button.toolTip()
    connect_sim(qtbot, window)
    assert "KEITHLEY" in window.connection.idn_label.text()
    assert "SMU1" in window.connection.cards_label.text()
    assert window.run_panel.run_button.isEnabled()
    assert "connected" in window.log_dock.text()


def test_run_and_abort_over_loopback_socket(qtbot, window, sim_server, sim_engine, tmp_path):
    """pyvisa + pyvisa-py over a real socket to the simulator, as to an instrument on LAN."""
    sim_engine.speed = 4.0  # paced, so the abort lands mid-run
    window.connection.use_resource(sim_server.resource)
    window.connection.connect_button.click()
    qtbot.waitUntil(lambda: window.instrument is not None, timeout=10000)
    assert "KI4200A" in window.connection.idn_label.text()
    fill(window, "dc-sweep", cycles="50", **FAST_SWEEP)
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.plots.n_points > 0, timeout=10000)
    window.abort_run()
    wait_done(qtbot, window, 10000)
    info = list_runs(tmp_path / "gui.h5")[-1]
    assert info.status == "aborted" and 0 < info.rows["samples"] < 50 * 1000
    assert sim_engine.outputs_safe()


def test_unreachable_resource_is_a_clear_error_without_hanging(qtbot, window):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    resource = f"TCPIP::127.0.0.1::{port}::SOCKET"
    window.connection.use_resource(resource)
    window.connection.timeout.setValue(1.0)
    t0 = time.monotonic()
    window.connection.connect_button.click()
    qtbot.waitUntil(lambda: window.connection.error_label.text() != "", timeout=10000)
    assert time.monotonic() - t0 < 10
    assert resource in window.connection.error_label.text()
    assert window.instrument is None
    window.connection.use_resource("")
    window.connection.connect_button.click()
    assert "resource" in window.connection.error_label.text()


def test_dc_sweep_points_arrive_live_and_metadata_reach_the_file(qtbot, window, tmp_path):
    window.device.set_values(device_id="W3-D12", sample="Ag/SiO2", operator="ana",
                             notes="probe 2", max_voltage=3.0, max_compliance=0.02)
    connect_sim(qtbot, window, speed=8.0)
    fill(window, "dc-sweep", cycles="6", **FAST_SWEEP)  # about 1.2 s at speed 8
    window.run_panel.run_button.click()
    assert window.running
    # points arrive while the run is still going (acquisition in a worker thread)
    qtbot.waitUntil(lambda: window.plots.n_points > 0, timeout=5000)
    assert window.running
    assert window.run_panel.abort_button.isEnabled()
    assert not window.run_panel.run_button.isEnabled()
    wait_done(qtbot, window)
    result = window.results[-1]
    assert result.status == "completed"
    run = read_run(tmp_path / "gui.h5")
    n = run.samples["voltage_V"].size
    assert n >= 6 * 1000 and window.plots.n_points == n  # every stored point was plotted
    x, y = window.plots.gv_trace.curve.getData()
    assert x.size > 100 and window.plots.refresh_count >= 2
    assert run.attrs["device_id"] == "W3-D12" and run.attrs["operator"] == "ana"
    assert run.attrs["sample"] == "Ag/SiO2" and run.attrs["notes"] == "probe 2"
    assert run.safety["max_voltage_V"] == 3.0
    assert window.status.progress.value() == 1000


def test_stop_ends_at_the_next_step(qtbot, window, tmp_path):
    connect_sim(qtbot, window, speed=8.0)
    fill(window, "dc-sweep", cycles="50", **FAST_SWEEP)
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.plots.n_points > 0, timeout=5000)
    window.run_panel.stop_button.click()
    wait_done(qtbot, window)
    info = list_runs(tmp_path / "gui.h5")[-1]
    assert info.status == "stopped"
    assert 0 < info.rows["samples"] < 50 * 1000
    assert window.instrument.adapter.engine.outputs_safe()


def test_abort_mid_run_records_status_and_leaves_outputs_safe(qtbot, window, tmp_path):
    connect_sim(qtbot, window, speed=4.0)
    fill(window, "dc-sweep", cycles="50", **FAST_SWEEP)
    k = window.instrument
    window.run_panel.run_button.click()
    qtbot.waitUntil(lambda: window.plots.n_points > 0, timeout=5000)
    assert window.running
    window.run_panel.abort_button.click()
    wait_done(qtbot, window, 5000)
    info = list_runs(tmp_path / "gui.h5")[-1]
    assert info.status == "aborted" and info.attrs["reason"] == "aborted by user"
    assert info.rows["samples"] < 50 * 1000
    assert k.adapter.engine.outputs_safe()
    assert "aborted" in window.status.message.text()


def test_closing_the_window_during_a_run_aborts_it_and_records_why(qtbot, tmp_path):
    w = MainWindow(output=tmp_path / "close.h5", seed=1)
    qtbot.addWidget(w)
    w.show()
    connect_sim(qtbot, w, speed=4.0)
    fill(w, "dc-sweep", cycles="50", **FAST_SWEEP)
    k = w.instrument
    w.run_panel.run_button.click()
    qtbot.waitUntil(lambda: w.plots.n_points > 0, timeout=5000)
    asked = []
    w.confirm_close = lambda: asked.append(1) or False  # "No": the run goes on
    w.close()
    assert asked and w.isVisible() and w.running
    w.confirm_close = lambda: True
    t0 = time.monotonic()
    w.close()
    assert time.monotonic() - t0 < 5
    assert not w.running
    info = list_runs(tmp_path / "close.h5")[-1]
    assert info.status == "aborted" and info.attrs["reason"] == CLOSE_REASON
    assert k.adapter.engine.outputs_safe()


def test_queue_of_two_protocols_runs_in_order(qtbot, window, tmp_path):
    connect_sim(qtbot, window)
    fill(window, "dc-sweep", cycles="1", **FAST_SWEEP)
    window.run_panel.add_button.click()
    fill(window, "dc-sweep", cycles="2", step="0.02", integration="short")
    window.run_panel.add_button.click()
    fill(window, "read-noise", duration="0.5", rate="100")
    window.run_panel.add_button.click()
    assert len(window.run_panel.items) == 3
    # reorder: read-noise first, then remove the 2-cycle sweep
    window.run_panel.list.setCurrentRow(2)
    window.run_panel.up_button.click()
    window.run_panel.up_button.click()
    assert [i.protocol for i in window.run_panel.items] == ["read-noise", "dc-sweep", "dc-sweep"]
    window.run_panel.list.setCurrentRow(2)
    window.run_panel.remove_button.click()
    assert [i.protocol for i in window.run_panel.items] == ["read-noise", "dc-sweep"]
    window.run_panel.run_queue_button.click()
    wait_done(qtbot, window)
    runs = list_runs(tmp_path / "gui.h5")
    assert [r.protocol for r in runs] == ["read-noise", "dc-sweep"]
    assert [r.status for r in runs] == ["completed", "completed"], [r.attrs.get("reason")
                                                                     for r in runs]
    assert [i.status for i in window.run_panel.items] == ["completed", "completed"]
    assert "completed" in window.run_panel.list.item(1).text()


def test_queue_is_checked_before_anything_runs(qtbot, window, tmp_path):
    connect_sim(qtbot, window)
    fill(window, "dc-sweep", cycles="1", **FAST_SWEEP)
    window.run_panel.add_button.click()
    fill(window, "dc-sweep", v_set="4.5", step="0.02")
    window.run_panel.add_button.click()
    window.device.max_voltage.setValue(3.0)  # the second item now exceeds the profile
    assert not window.run_queue()
    assert "queue item 2" in window.status.message.text()
    assert "v_set" in window.status.message.text()
    assert not (tmp_path / "gui.h5").exists()


@pytest.mark.parametrize("stop_on_error", [True, False])
def test_queue_stop_on_error(qtbot, window, tmp_path, stop_on_error):
    connect_sim(qtbot, window)
    # the simulator fails a message of the first run with a KXCI error (fault injection)
    sim = window.instrument.adapter.engine
    sim.faults.error_at[sim.message_count + 8] = -992
    fill(window, "dc-sweep", step="0.02", integration="short")
    window.run_panel.add_button.click()
    fill(window, "read-noise", duration="0.2", rate="100")
    window.run_panel.add_button.click()
    window.run_panel.stop_on_error.setChecked(stop_on_error)
    window.run_panel.run_queue_button.click()
    wait_done(qtbot, window)
    statuses = [i.status for i in window.run_panel.items]
    assert statuses[0] == "failed"
    assert statuses[1] == ("cancelled" if stop_on_error else "completed")
    runs = list_runs(tmp_path / "gui.h5")
    assert [r.status for r in runs] == (["failed"] if stop_on_error else ["failed", "completed"])
    assert "failed" in window.log_dock.text()  # the engine's message reached the log dock


def test_pulse_run_plots_g_per_pulse_and_the_latest_waveform(qtbot, window, tmp_path):
    connect_sim(qtbot, window)
    fill(window, "reset-train", count="12")
    window.run_panel.run_button.click()
    wait_done(qtbot, window)
    assert window.results[-1].status == "completed"
    plots = window.plots
    assert plots.x_mode == "pulse" and "pulse" in plots.gt.titleLabel.text
    x, g = plots.gt_trace.curve.getData()
    assert x.tolist() == list(range(1, 13))  # one G/G0 point per pulse
    t, i = plots.wf_current.getData()
    wf = read_run(tmp_path / "gui.h5").waveforms
    np.testing.assert_allclose(i, wf["current_A"][-1])  # the last captured pulse
