"""The window at the bench: no accidental changes from the wheel, confirmed and logged
safety-limit changes, and SIGTERM/SIGINT handled like ``labapp run`` handles them.

References: Qt's documented wheel behaviour (an unguarded ``QAbstractSpinBox`` or
``QComboBox`` steps its value on every wheel event, focused or not; the control test
below shows that with real events) and the CLI's signal contract in
``docs/reliability.md`` (G3), which the GUI must now meet too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
from PyQt6 import QtCore, QtGui, QtWidgets

from analysis.runfile import list_runs, read_run
from labapp.gui.main_window import MainWindow
from labapp.gui.wheel_guard import SAFETY_PROPERTY

ROOT = Path(__file__).resolve().parents[1]


def wheel(widget: QtWidgets.QWidget, notches: int = 5) -> None:
    """``notches`` real wheel events (up) at the widget's centre."""
    pos = QtCore.QPointF(widget.rect().center())
    for _ in range(notches):
        ev = QtGui.QWheelEvent(
            pos, QtCore.QPointF(widget.mapToGlobal(pos)), QtCore.QPoint(0, 0),
            QtCore.QPoint(0, 120), QtCore.Qt.MouseButton.NoButton,
            QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
        QtWidgets.QApplication.sendEvent(widget, ev)


def value(w: QtWidgets.QWidget):
    return w.currentIndex() if isinstance(w, QtWidgets.QComboBox) else w.value()


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(output=tmp_path / "gui.h5", seed=1)
    qtbot.addWidget(w)
    w.show()
    return w


def guarded_widgets(w: MainWindow) -> list[QtWidgets.QWidget]:
    found = w.findChildren(QtWidgets.QAbstractSpinBox) + w.findChildren(QtWidgets.QComboBox)
    return [x for x in found if x.isEnabled()]


def test_unguarded_widgets_do_react_to_the_wheel(qtbot):
    """Control: outside the window the same events change a spin box and a combo box."""
    spin, combo = QtWidgets.QDoubleSpinBox(), QtWidgets.QComboBox()
    combo.addItems(["a", "b", "c"])
    spin.setValue(5.0)
    for x in (spin, combo):
        qtbot.addWidget(x)
        x.show()
    wheel(spin, 2)
    wheel(combo, 1)
    assert spin.value() != 5.0
    combo.setCurrentIndex(2)
    wheel(combo, 1)
    assert combo.currentIndex() != 2


def test_wheel_over_unfocused_fields_changes_nothing(window):
    # every protocol's form, not only the one shown
    from protocols import PROTOCOLS

    for name in PROTOCOLS:
        window.protocols.select(name)
    widgets = guarded_widgets(window)
    kinds = {type(x).__name__ for x in widgets}
    assert {"QDoubleSpinBox", "QSpinBox", "QComboBox"} <= kinds, kinds
    for x in widgets:
        if isinstance(x, QtWidgets.QComboBox) and x.count() > 1:
            x.setCurrentIndex(x.count() // 2)  # room to move both ways
    before = [value(x) for x in widgets]
    window.setFocus()
    for x in widgets:
        assert not x.hasFocus()
        wheel(x, 5)
    after = [value(x) for x in widgets]
    changed = [x.objectName() or type(x).__name__ for x, a, b in zip(widgets, before, after,
                                                                       strict=True) if a != b]
    assert not changed, changed
    assert window.wheel_guard.blocked >= 5 * len(widgets)


def test_safety_fields_ignore_the_wheel_even_when_focused(qtbot, window):
    seed = window.connection.seed
    for box in (window.device.max_voltage, window.device.max_compliance):
        assert box.property(SAFETY_PROPERTY)
        box.setFocus()
        qtbot.waitUntil(box.hasFocus, timeout=2000)
        v = box.value()
        wheel(box, 5)
        assert box.value() == v
    # an ordinary field the user clicked into does take the wheel
    seed.setFocus()
    qtbot.waitUntil(seed.hasFocus, timeout=2000)
    s0 = seed.value()
    wheel(seed, 3)
    assert seed.value() == s0 + 3


def test_safety_limit_change_is_confirmed_and_logged_in_the_run_file(qtbot, window, tmp_path):
    dev = window.device
    asked: list[str] = []
    dev.confirm = lambda text: asked.append(text) or False
    dev.max_voltage.setFocus()
    qtbot.waitUntil(dev.max_voltage.hasFocus, timeout=2000)
    dev.max_voltage.setValue(0.01)
    assert dev.safety().max_voltage == 5.0  # not applied while unconfirmed
    dev.max_voltage.editingFinished.emit()
    assert "from 5 V to 0.01 V" in asked[-1]
    assert dev.max_voltage.value() == 5.0 and dev.safety().max_voltage == 5.0  # declined
    dev.confirm = lambda text: asked.append(text) or True
    dev.max_voltage.setValue(3.0)
    dev.max_voltage.editingFinished.emit()
    assert dev.safety().max_voltage == 3.0
    window.connection.use_sim(1)
    window.connection.connect_button.click()
    qtbot.waitUntil(lambda: window.instrument is not None, timeout=5000)
    form = window.protocols.select("read-noise")
    form.editors["duration"].set_text("0.2")
    assert window.start_run()
    qtbot.waitUntil(lambda: not window.running, timeout=15000)
    window.tick()
    run = read_run(tmp_path / "gui.h5")
    (change,) = run.attrs["safety_changes"]
    assert change["limit"] == "max_voltage_V" and change["old"] == 5.0
    assert change["new"] == 3.0 and change["by"] == "user" and change["utc"].endswith("Z")
    assert run.safety["max_voltage_V"] == 3.0
    assert "changed from 5 V to 3 V" in window.log_dock.text()
    # logged once: the next run has no changes to report
    assert window.start_run()
    qtbot.waitUntil(lambda: not window.running, timeout=15000)
    assert read_run(tmp_path / "gui.h5").attrs["safety_changes"] == []


def swmr_rows(path: Path, stream: str = "pulses") -> int:
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as f:
            runs = list(f["runs"].values())
            return int(runs[-1]["data"][stream]["time_s"].shape[0]) if runs else 0
    except (OSError, KeyError, ValueError):
        return 0


@pytest.mark.slow
def test_sigterm_and_sigint_abort_a_gui_run_safely(tmp_path):
    """``labapp gui --run`` against the simulated 4200A on a loopback socket, killed with
    SIGTERM or SIGINT mid-run: the run ends ``aborted`` with the signal as reason, the
    simulated instrument's outputs are off, the process exits 1. Both in parallel."""
    from sim_backend.kxci import KXCIEngine
    from sim_backend.server import KXCIServer

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    runs = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            engine = KXCIEngine(seed=3, speed=1.0)
            server = KXCIServer(engine, port=0)
            server.start_background()
            path = tmp_path / f"{sig.name}.h5"
            proc = subprocess.Popen(
                [sys.executable, "-m", "labapp.cli", "gui", "--run", "--resource",
                 server.resource, "--protocol", "pulse-train", "--set", "count=2000",
                 "--set", "period=0.05", "-o", str(path)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
            runs[sig] = (engine, server, path, proc)
        pending = dict(runs)
        deadline = time.monotonic() + 90
        while pending and time.monotonic() < deadline:
            for sig, (_, _, path, proc) in list(pending.items()):
                assert proc.poll() is None, proc.communicate()
                if swmr_rows(path) > 0:
                    proc.send_signal(sig)
                    del pending[sig]
            time.sleep(0.05)
        assert not pending, "runs never started"
        for sig, (engine, _, path, proc) in runs.items():
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 1, (sig.name, proc.returncode, err)
            assert "Traceback" not in err
            run = read_run(path)
            assert run.status == "aborted" and run.attrs["complete"]
            assert run.attrs["reason"] == f"interrupted by signal {sig.name}"
            assert run.attrs["safe_state_problems"] == []
            assert 0 < run.streams["pulses"]["time_s"].size < 2000
            assert engine.outputs_safe(), f"{sig.name}: outputs left on"
    finally:
        for _, server, _, proc in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            server.shutdown()
            server.server_close()


def test_pause_and_resume_buttons_hold_and_continue_the_same_run(qtbot, window, tmp_path):
    window.connection.use_sim(1, 4.0)  # paced: the run lasts long enough to pause it
    window.connection.connect_button.click()
    qtbot.waitUntil(lambda: window.instrument is not None, timeout=5000)
    k = window.instrument
    form = window.protocols.select("endurance")
    form.editors["cycles"].set_text("30")
    assert window.start_run()
    qtbot.waitUntil(lambda: window.plots.n_points > 0, timeout=10000)
    window.run_panel.pause_button.click()
    qtbot.waitUntil(lambda: window.controller.engine is not None
                    and window.controller.engine.paused, timeout=10000)
    window.tick()
    assert window.run_panel.pause_button.text() == "Resume"
    assert "PAUSED" in window.status.message.text()
    n_cmds, n_points = len(k.adapter.engine.log), window.plots.n_points
    qtbot.wait(600)
    window.tick()
    assert len(k.adapter.engine.log) == n_cmds and window.plots.n_points == n_points
    assert window.running
    window.run_panel.pause_button.click()  # "Resume"
    qtbot.waitUntil(lambda: not window.running, timeout=30000)
    window.tick()
    (info,) = list_runs(tmp_path / "gui.h5")
    assert info.status == "completed"
    run = read_run(tmp_path / "gui.h5")
    assert len(run.attrs["pauses"]) == 1 and run.attrs["pauses"][0]["seconds"] >= 0.5
    assert run.streams["cycles"]["cycle"].size == 30
