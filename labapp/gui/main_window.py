"""Main window: instrument, device, protocol and run panels; live plots; data browser; log.

Wiring only. Acquisition runs in the :class:`~labapp.gui.run_controller.RunController`
worker thread; one GUI timer (``REFRESH_HZ`` <= 30 Hz) drains the documents the engine
produced since the last tick, routes records to the live plots, updates the status bar
and redraws what changed. Closing the window during a run aborts it (the run file
records status ``aborted`` with the reason) and waits, bounded, for the safe state.

Layout for a 1366x768 bench screen: the controls are tabs (Protocol first, so every
parameter field is in sight without scrolling; Instrument & device; Run queue) in a dock
that runs the full height of the window, the log below the plots only, and the window
never opens larger than the screen. Run needs no separate Connect: without an
instrument it connects to the chosen one first (the simulator by default) and starts the
run when connected, or says why it cannot.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PyQt6 import QtCore, QtGui, QtWidgets

from drivers.validation import ParameterError
from labapp.gui.connection_panel import ConnectionPanel
from labapp.gui.data_browser import DataBrowser
from labapp.gui.device_panel import DevicePanel
from labapp.gui.live_plots import LivePlots
from labapp.gui.log_dock import LogDock
from labapp.gui.protocol_panel import ProtocolPanel
from labapp.gui.qt_wait import process_until
from labapp.gui.run_controller import EtaEstimator, Job, QueueItem, RunController
from labapp.gui.run_queue import RunPanel
from labapp.gui.status_panel import RunStatus
from labapp.gui.wheel_guard import WheelGuard
from labapp.instrument_choice import fresh_seed
from labcore.run_json import provenance
from protocols import EventKind, Pause, QueueEntry, Record, RunResult, RunStarted

log = logging.getLogger("labapp.gui")


def fit_to_screen(width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` made no larger than the primary screen's available area."""
    screen = QtGui.QGuiApplication.primaryScreen()
    if screen is None:
        return width, height
    area = screen.availableGeometry()
    return min(width, area.width()), min(height, area.height())

REFRESH_HZ = 25
#: how long closing the window waits for an aborted run to reach the safe state
CLOSE_WAIT_S = 15.0
CLOSE_REASON = "window closed during the run"
TITLE = "labapp — 4200A-SCS quantized-conductance probe station"


class MainWindow(QtWidgets.QMainWindow):
    """The probe-station window."""

    def __init__(self, resource: str | None = None, output: Path = Path("runs/gui.h5"),
                 *, seed: int | None = None, sim_speed: float | None = None) -> None:
        super().__init__()
        self.setWindowTitle(TITLE)
        if seed is None:
            seed = fresh_seed()  # runs are independent data unless a seed is chosen
        self.controller = RunController()
        self.eta = EtaEstimator()
        self.results: list[Any] = []
        self._after_connect: Any = None  # the run to start once the instrument answers
        #: asked before closing mid-run (replaced by scripts and tests)
        self.confirm_close: Callable[[], bool] = self._ask_close
        self._close_reason: str | None = None
        self.closed_during_run = False
        #: rows per stream plotted from live documents and not yet matched by a record
        self._live_rows: dict[str, int] = {}

        self._build_controls(resource, output, seed, sim_speed)
        self._build_run_bar()
        self._build_views()
        self._wire()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(1000 / REFRESH_HZ))
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self._update_buttons()

    # -- layout -----------------------------------------------------------------------
    def _build_controls(self, resource: str | None, output: Path, seed: int,
                        sim_speed: float | None) -> None:
        """The controls dock: Protocol, Instrument & device, Run queue tabs, full height."""
        self.connection = ConnectionPanel()
        if resource:
            self.connection.use_resource(resource)
        else:
            self.connection.use_sim(seed, sim_speed)
        self.device = DevicePanel()
        self.protocols = ProtocolPanel()
        self.run_panel = RunPanel()
        self.run_panel.output.setText(str(output))
        setup = QtWidgets.QWidget()
        sl = QtWidgets.QVBoxLayout(setup)
        sl.addWidget(self.connection)
        sl.addWidget(self.device)
        sl.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(setup)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.control_tabs = QtWidgets.QTabWidget()
        self.control_tabs.setObjectName("control_tabs")
        self.control_tabs.addTab(self.protocols, "Protocol")
        self.control_tabs.addTab(scroll, "Instrument && device")
        self.control_tabs.addTab(self.run_panel, "Run queue")
        self.control_tabs.setMinimumWidth(420)
        controls = QtWidgets.QDockWidget("Controls", self)
        controls.setObjectName("controls_dock")
        controls.setWidget(self.control_tabs)
        controls.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, controls)
        # the controls run the full height; the log sits under the plots only
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner,
                       QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)

    def _build_run_bar(self) -> None:
        """Run / Stop / Abort always in sight, above the plots (the queue stays in the panel)."""
        bar = QtWidgets.QToolBar("Run control", self)
        bar.setObjectName("run_toolbar")
        bar.setMovable(False)
        for b in (self.run_panel.run_button, self.run_panel.pause_button,
                  self.run_panel.stop_button, self.run_panel.abort_button):
            b.setMinimumWidth(90)
            bar.addWidget(b)
        self.addToolBar(QtCore.Qt.ToolBarArea.TopToolBarArea, bar)

    def _build_views(self) -> None:
        """Live plots and data browser as tabs, the log below them, the status bar."""
        self.plots = LivePlots()
        self.browser = DataBrowser()
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.plots, "Live")
        self.tabs.addTab(self.browser, "Data browser")
        self.setCentralWidget(self.tabs)
        self.log_dock = LogDock(self)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.status = RunStatus(self.statusBar())
        self.resize(*fit_to_screen(1500, 950))
        # dock sizes apply once the window is laid out
        QtCore.QTimer.singleShot(0, lambda: self.resizeDocks(
            [self.log_dock], [110], QtCore.Qt.Orientation.Vertical))

    def _wire(self) -> None:
        """Panel signals to the window's actions."""
        self.connection.connected.connect(self._connected)
        self.connection.failed.connect(self._connect_failed)
        self.connection.disconnected.connect(self._disconnected)
        self.protocols.validity_changed.connect(lambda _: self._update_buttons())
        self.device.limits_changed.connect(self._safety_changed)
        # the wheel scrolls the panel; it changes a field only when that field has focus,
        # and never a safety limit
        self.wheel_guard = WheelGuard(self).install()
        rp = self.run_panel
        rp.run_button.clicked.connect(self.start_run)
        rp.stop_button.clicked.connect(self.stop_run)
        rp.pause_button.toggled.connect(lambda on: self.pause_run() if on else self.resume_run())
        rp.abort_button.clicked.connect(lambda: self.abort_run())
        rp.add_button.clicked.connect(self.add_to_queue)
        rp.run_queue_button.clicked.connect(self.run_queue)
        rp.list.model().rowsInserted.connect(lambda *_: self._update_buttons())
        rp.list.model().rowsRemoved.connect(lambda *_: self._update_buttons())
        QtGui.QShortcut(QtGui.QKeySequence("Ctrl+."), self, activated=self.abort_run)

    # -- state ----------------------------------------------------------------------------
    @property
    def instrument(self) -> Any:
        return self.connection.instrument

    @property
    def running(self) -> bool:
        return self.controller.running

    def _update_buttons(self) -> None:
        running = self.running
        self.run_panel.set_running(running, self.instrument is not None, self.protocols.valid)
        self.connection.set_locked(running)

    def _safety_changed(self) -> None:
        self.protocols.set_safety(self.device.safety())

    def _connected(self, instrument: Any) -> None:
        self.status.set_message(f"connected: {instrument.idn}")
        if instrument.simulated:
            _, seed = provenance({}, {"idn": instrument.idn, "simulated": True})
            what = "SIMULATED 4200A" + (f" (seed {seed})" if seed is not None else "")
            self.setWindowTitle(f"{TITLE} — {what}")
            self.status.set_source(True, what)
        else:
            self.setWindowTitle(f"{TITLE} — {self.connection.description()}")
            self.status.set_source(False, "4200A " + self.connection.description())
        self._update_buttons()
        then, self._after_connect = self._after_connect, None
        if then is not None:
            then()

    def _connect_failed(self, message: str) -> None:
        if self._after_connect is not None:
            self._after_connect = None
            self._error(f"cannot run: {message}")
            self.control_tabs.setCurrentIndex(1)  # where the instrument is chosen
        self._update_buttons()

    def _disconnected(self) -> None:
        self.setWindowTitle(TITLE)
        self.status.set_source(None)
        self._update_buttons()

    def connect_instrument(self, then_run: bool = False) -> None:
        """Open the instrument chosen in the connection panel (non-blocking)."""
        self._after_connect = self.start_run if then_run else None
        self.connection.start_connect()

    # -- runs -----------------------------------------------------------------------------
    def _job(self, items: list[QueueItem]) -> Job:
        # a copy of the list: items added to the queue during a run wait for the next one
        return Job(list(items), Path(self.run_panel.output.text().strip() or "runs/gui.h5"),
                   self.device.safety(), self.device.metadata(),
                   stop_on_error=self.run_panel.stop_on_error.isChecked())

    def _current_item(self) -> QueueItem | None:
        try:
            values = self.protocols.current_values()
            self.protocols.build()
        except (ParameterError, ValueError) as exc:
            self._error(f"cannot run: {exc}")
            return None
        name = self.protocols.protocol_name
        return QueueItem(name, values, label=name)

    def start_run(self) -> bool:
        """Run the protocol in the form now."""
        item = self._current_item()
        return item is not None and self._start([item])

    def add_to_queue(self) -> None:
        item = self._current_item()
        if item is not None:
            changed = {k: v for k, v in item.values.items()
                       if v != self.protocols.form.editors[k].param.default}
            item.label = item.protocol + (" " + ", ".join(f"{k}={v}" for k, v in changed.items())
                                          if changed else "")
            self.run_panel.add(item)
            self._update_buttons()

    def run_queue(self) -> bool:
        """Run every queued item in order (stop-on-error as set)."""
        self.run_panel.reset_statuses()
        return self._start(self.run_panel.items)

    def _start(self, items: list[QueueItem]) -> bool:
        """Start ``items``; without an instrument, connect first and start them then."""
        if self.instrument is None:
            self._after_connect = lambda: self._start(items)
            self.status.set_message(f"connecting to {self.connection.description()} "
                                    "before the run…")
            self.connection.start_connect()  # no-op while an attempt is under way
            return True
        self.device.commit_pending()  # a limit still being edited is confirmed (or not) first
        job = self._job(items)
        job.path.parent.mkdir(parents=True, exist_ok=True)
        changes = self.device.take_safety_changes()
        job.metadata["safety_changes"] = changes  # logged in the run file
        try:
            self.controller.start(self.instrument, job)
        except (ValueError, RuntimeError) as exc:
            self.device.safety_changes[:0] = changes  # kept for the run that does start
            self._error(str(exc))
            return False
        self.status.set_message(f"running {len(items)} run(s) into {job.path}")
        self._update_buttons()
        return True

    def stop_run(self) -> None:
        if self.running:
            self.status.set_message("stopping at the end of the current step…")
            self.controller.stop()

    def pause_run(self) -> None:
        """Hold the run at its next step (button, SIGUSR1)."""
        if self.running:
            self.status.set_message("pausing at the end of the current step…")
            self.run_panel.show_paused(True)
            self.controller.pause()

    def resume_run(self) -> None:
        """Continue the paused run (button, SIGUSR2)."""
        if self.running:
            self.run_panel.show_paused(False)
            self.controller.resume()

    def abort_run(self, reason: str = "aborted by user") -> None:
        if self.running:
            self.status.set_message(f"aborting: {reason}")
            self.controller.abort(reason)

    # -- the timer: documents in, plots out ----------------------------------------------
    def tick(self) -> None:
        for kind, payload in self.controller.drain():
            self._handle(kind, payload)
        self.plots.refresh()
        if self.running:
            self.status.set_eta(self.eta.remaining())
            self.status.set_compliance(self.plots.last_compliance)

    def _handle(self, kind: EventKind, payload: Any) -> None:
        """One event of the engine or the queue, by its kind (see protocols.events)."""
        handler = self._handlers.get(kind)
        if handler is not None:
            handler(payload)

    @functools.cached_property
    def _handlers(self) -> dict[EventKind, Callable[[Any], None]]:
        return {
            EventKind.LIVE: self._on_live, EventKind.RECORD: self._on_record,
            EventKind.WAVEFORM: lambda wf: self.plots.feed("waveform", wf.data),
            EventKind.PROGRESS: self._on_progress, EventKind.PAUSED: self._on_paused,
            EventKind.RESUMED: self._on_resumed, EventKind.START: self._on_start,
            EventKind.STOP: self._on_stop, EventKind.ITEM: lambda _: self.run_panel.refresh(),
            EventKind.ERROR: self._on_error, EventKind.QUEUE_DONE: self._on_queue_done,
        }

    def _on_live(self, record: Record) -> None:
        """Points of a test still running: plotted now."""
        self._live_rows[record.stream] = self._live_rows.get(record.stream, 0) + _rows(record.data)
        self.plots.feed(record.stream, record.data)

    def _on_record(self, record: Record) -> None:
        """The test's rows with status: only those not plotted live."""
        skip = min(self._live_rows.pop(record.stream, 0), _rows(record.data))
        data = record.data if not skip else {k: v[skip:] for k, v in record.data.items()}
        if _rows(data):
            self.plots.feed(record.stream, data)

    def _on_progress(self, fraction: float) -> None:
        self.eta.update(fraction)
        self.status.set_progress(float(fraction))

    def _on_paused(self, paused: Pause) -> None:
        self.run_panel.show_paused(True)
        self.status.set_message(f"run {paused.run_id} PAUSED at {100 * paused.at:.1f} % — "
                                "outputs held, nothing sent; Resume continues the same run")
        log.info("run %s paused", paused.run_id)

    def _on_resumed(self, resumed: Pause) -> None:
        self.run_panel.show_paused(False)
        self.eta.t0 += resumed.seconds  # the ETA leaves the pause out
        self.status.set_message(f"run {resumed.run_id} resumed after {resumed.seconds:.1f} s")
        log.info("run %s resumed", resumed.run_id)

    def _on_start(self, started: RunStarted) -> None:
        self.plots.clear()
        self._live_rows.clear()
        protocol = started.protocol
        est = protocol.estimated_duration()
        speed = self.connection.speed.value() if self.connection.sim_radio.isChecked() else 1.0
        self.eta.reset(est / speed if est is not None and speed else None)
        self.status.set_progress(0.0)
        self.status.set_compliance(False)
        self.status.set_message(f"run {started.run_id}: {protocol.name} → {started.path}")

    def _on_stop(self, result: RunResult) -> None:
        self.results.append(result)
        text = f"run {result.run_id}: {result.status}"
        if result.reason:
            text += f" ({result.reason})"
        if result.safe_state_problems:
            text += " — SAFE STATE NOT CONFIRMED: " + "; ".join(result.safe_state_problems)
        self.status.set_message(text)
        log.info(text)
        if result.status == "completed":
            self.status.set_progress(1.0)
        self.status.set_eta(0.0)
        self.status.set_compliance(None)  # the badge shows the present: no run
        self.run_panel.refresh()

    def _on_error(self, entry: QueueEntry) -> None:
        self.run_panel.refresh()
        self._error(f"{entry.protocol.name}: {entry.error}")

    def _on_queue_done(self, _results: list[RunResult]) -> None:
        self.run_panel.refresh()
        self._update_buttons()
        job = self.controller.job
        if self.browser.path is not None and job is not None and self.browser.path == job.path:
            self.browser.reload()

    def _error(self, text: str) -> None:
        self.status.set_message(text)
        log.error(text)

    # -- helpers for scripts, tests and --screenshot ---------------------------------------
    def wait_idle(self, timeout: float) -> bool:
        """Process events until no run is active (bounded); True when idle."""
        idle = process_until(lambda: not self.running and not self.controller.inbox, timeout)
        self.tick()
        return idle

    def show_browser(self, path: str | Path | None = None, view: str | None = None,
                     run_id: str | None = None) -> None:
        self.tabs.setCurrentWidget(self.browser)
        if path is not None:
            self.browser.open_file(path, run_id)
        if view is not None:
            self.browser.set_view(view)

    # -- closing --------------------------------------------------------------------------
    def request_close(self, reason: str) -> None:
        """Close without asking (signals, scripts); a run in progress is aborted with
        ``reason`` (e.g. ``interrupted by signal SIGTERM``) and reaches its safe state."""
        self._close_reason = reason
        self.close()

    def _ask_close(self) -> bool:
        answer = QtWidgets.QMessageBox.question(
            self, "Run in progress",
            "A run is in progress. Abort it (outputs off, run file closed as 'aborted') "
            "and close the window?",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            QtWidgets.QMessageBox.StandardButton.No)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        """Ask (when the user closes it mid-run), abort the run, wait (bounded) for its
        safe state, then close."""
        if self.running:
            reason = self._close_reason
            if reason is None:
                if not self.confirm_close():
                    event.ignore()
                    return
                reason = CLOSE_REASON
            self.closed_during_run = True
            log.warning("window closed during a run: aborting (%s)", reason)
            self.controller.abort(reason)
            if not self.controller.wait(CLOSE_WAIT_S):
                log.error("the run did not end within %g s of the abort", CLOSE_WAIT_S)
        for kind, payload in self.controller.drain():
            self._handle(kind, payload)
        self.timer.stop()
        self.connection.disconnect()
        self.log_dock.detach()
        self.wheel_guard.remove()
        super().closeEvent(event)


def _rows(data: Any) -> int:
    """Rows of a record's columns."""
    return len(next(iter(data.values()), ()))
