"""The window at the bench (offscreen Qt, 1366x768): every protocol field in sight, Run
without a separate Connect, field errors next to the field, a badge that shows the
present, and a clear message when Qt cannot start.

Reference for the screen size: 1366x768, the most common laptop/bench panel size; the
system-package list for a minimal Debian is the one the window was reported to need
(libxcb-icccm4 ... libxcb-cursor0), and the package names follow Debian Policy 8.1.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PyQt6 import QtCore

from analysis.runfile import list_runs
from labapp.gui import qt_check
from labapp.gui.main_window import MainWindow
from protocols import PROTOCOLS

BENCH = (1366, 768)


@pytest.fixture
def bench(qtbot, tmp_path):
    w = MainWindow(output=tmp_path / "gui.h5", seed=1)
    qtbot.addWidget(w)
    w.resize(*BENCH)
    w.show()
    qtbot.waitExposed(w)
    return w


def in_sight(w: MainWindow, widget) -> bool:
    """The whole widget inside the window and inside its scroll area's viewport."""
    top_left = widget.mapTo(w, QtCore.QPoint(0, 0))
    rect = QtCore.QRect(top_left, widget.size())
    if not (widget.isVisible() and w.rect().contains(rect)):
        return False
    viewport = w.protocols.stack.parentWidget()  # the form's scroll viewport
    vp_rect = QtCore.QRect(viewport.mapTo(w, QtCore.QPoint(0, 0)), viewport.size())
    return vp_rect.contains(rect)


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_every_field_is_visible_at_1366x768(bench, qtbot, name):
    assert (bench.width(), bench.height()) == BENCH
    form = bench.protocols.select(name)
    qtbot.wait(50)  # layout
    hidden = [p for p, ed in form.editors.items() if not in_sight(bench, ed.widget)]
    assert not hidden, f"{name}: fields out of sight at 1366x768: {hidden}"
    assert any("compliance" in p for p in form.editors)  # the key fields are among them
    assert in_sight(bench, bench.run_panel.run_button) or bench.run_panel.run_button.isVisible()


def test_the_window_opens_no_larger_than_the_screen(qtbot, tmp_path):
    from PyQt6 import QtGui

    w = MainWindow(output=tmp_path / "gui.h5")
    qtbot.addWidget(w)
    area = QtGui.QGuiApplication.primaryScreen().availableGeometry()
    assert w.width() <= area.width() and w.height() <= area.height()


def test_run_without_connect_runs_on_the_simulator(bench, qtbot, tmp_path):
    assert bench.instrument is None and bench.run_panel.run_button.isEnabled()
    form = bench.protocols.select("dc-sweep")
    for k, v in {"step": "0.05", "integration": "short", "v_set": "2", "v_reset": "2"}.items():
        form.editors[k].set_text(v)
    bench.run_panel.run_button.click()
    qtbot.waitUntil(lambda: bench.instrument is not None, timeout=10000)
    qtbot.waitUntil(lambda: bool(bench.results), timeout=20000)
    bench.tick()
    assert bench.results[-1].status == "completed"
    assert [r.protocol for r in list_runs(tmp_path / "gui.h5")] == ["dc-sweep"]


def test_run_says_why_it_cannot_connect(bench, qtbot):
    bench.connection.use_resource("TCPIP::127.0.0.1::1::SOCKET")  # nothing listens
    bench.connection.timeout.setValue(1.0)
    bench.run_panel.run_button.click()
    qtbot.waitUntil(lambda: "cannot run" in bench.status.message.text(), timeout=10000)
    assert "cannot connect to TCPIP::127.0.0.1::1::SOCKET" in bench.status.message.text()
    assert bench.control_tabs.currentIndex() == 1 and not bench.running  # where to fix it


def test_field_error_is_shown_next_to_the_field(bench, qtbot):
    form = bench.protocols.select("dc-sweep")
    ed = form.editors["compliance_set"]
    ed.set_text("5mV")
    assert ed.error.isVisible()
    assert ed.error.text() == "5mV is a voltage; compliance_set takes a current in A"
    below = ed.error.mapTo(bench, QtCore.QPoint(0, 0)).y()
    field = ed.widget.mapTo(bench, QtCore.QPoint(0, 0)).y()
    assert field < below <= field + ed.widget.height() + 10  # right under the field
    assert in_sight(bench, ed.error)
    assert not bench.run_panel.run_button.isEnabled()
    assert "fix the flagged protocol parameters" in bench.run_panel.run_button.toolTip()
    ed.set_text("5mA")
    assert not ed.error.isVisible() and bench.run_panel.run_button.isEnabled()


def test_compliance_badge_shows_the_present(bench, qtbot):
    badge = bench.status.compliance
    assert badge.text() == "compliance –"
    form = bench.protocols.select("dc-sweep")  # 100 uA SET compliance: the SET half hits it
    for k, v in {"step": "0.01", "integration": "short", "v_set": "2", "v_reset": "2",
                 "compliance_set": "100uA", "cycles": "3"}.items():
        form.editors[k].set_text(v)
    bench.connection.use_sim(1, 4.0)  # paced: about 1.5 s, so the badge is seen mid-run
    bench.run_panel.run_button.click()
    qtbot.waitUntil(lambda: badge.text() == "IN COMPLIANCE", timeout=20000)
    qtbot.waitUntil(lambda: bool(bench.results), timeout=30000)
    bench.tick()
    assert badge.text() == "compliance –"  # no run: nothing is in compliance now


def test_no_display_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = subprocess.run([sys.executable, "-m", "labapp.cli", "gui"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    line = out.stderr.strip()
    assert "\n" not in line and line.startswith("labapp gui: error: the window cannot start")
    missing = qt_check.missing_xcb_libraries()  # what the dynamic linker says here
    if missing:
        assert all(lib in line for lib in missing) and "sudo apt-get install" in line
    else:
        assert "no display" in line


def test_missing_libraries_are_named_with_their_packages():
    problem = qt_check.qt_start_problem(
        {"DISPLAY": ":0"}, missing=lambda: ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0"])
    assert problem.startswith("the window cannot start: Qt's X11 platform plugin needs "
                              "libxcb-icccm.so.4, libxkbcommon-x11.so.0, not installed; "
                              "on Debian/Ubuntu: sudo apt-get install libxcb-icccm4 "
                              "libxkbcommon-x11-0")
    assert qt_check.qt_start_problem({"QT_QPA_PLATFORM": "offscreen"},
                                     missing=lambda: ["x.so.1"]) is None


@pytest.mark.parametrize("soname", ["libxcb-icccm.so.4", "libxcb-image.so.0",
                                    "libxcb-keysyms.so.1", "libxcb-render-util.so.0",
                                    "libxcb-xkb.so.1", "libxkbcommon-x11.so.0",
                                    "libxcb-shape.so.0", "libxcb-xinerama.so.0",
                                    "libxcb-cursor.so.0.0.0"])
def test_debian_package_names(soname):
    assert qt_check.debian_package(soname) in qt_check.DEBIAN_PACKAGES


def test_preset_by_name_or_file_in_the_window(bench, tmp_path):
    from protocols.preset_library import PRESET_DIR

    copy = tmp_path / "mine.json"
    copy.write_text((PRESET_DIR / "paper000-fig7-ltp-ltd.json").read_text())
    bench.protocols.load_file("forming")  # as `labapp gui --preset forming`
    assert bench.protocols.protocol_name == "dc-sweep"
    assert bench.protocols.form.values()["sweep"] == "set-only"
    bench.protocols.load_file(str(copy))  # as `labapp gui --preset mine.json`
    assert bench.protocols.protocol_name == "ltp-ltd"
