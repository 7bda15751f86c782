"""Connection panel: the simulated 4200A (default) or a VISA resource, tested with *IDN?.

Opening a real resource can block for the whole VISA timeout (an unreachable LAN
address, a GPIB board with nothing attached), so the connect call runs in a short-lived
worker thread and the panel polls for its result; the window stays responsive and an
answer that never comes ends as a clear error after ``timeout + grace`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PyQt6 import QtCore, QtWidgets

from labapp.gui.qt_wait import process_until
from labapp.instrument_choice import connect

log = logging.getLogger("labapp.gui.connection")

#: extra seconds past the VISA timeout before the panel gives up on a connect attempt
GRACE_S = 3.0


def _side_by_side(*widgets: QtWidgets.QWidget) -> QtWidgets.QHBoxLayout:
    row = QtWidgets.QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    return row


class ConnectionPanel(QtWidgets.QGroupBox):
    """Choose, open and test the instrument; emits :attr:`connected` with the driver."""

    connected = QtCore.pyqtSignal(object)
    disconnected = QtCore.pyqtSignal()
    #: a connect attempt failed; the message names the instrument and the reason
    failed = QtCore.pyqtSignal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None, *,
                 connector: Callable[..., Any] = connect) -> None:
        super().__init__("Instrument", parent)
        self._connector = connector
        self.instrument: Any = None
        self._pending: dict[str, Any] | None = None
        self._make_widgets()
        self._lay_out()
        self.sim_radio.toggled.connect(self._mode_changed)
        self.connect_button.clicked.connect(self.start_connect)
        self.disconnect_button.clicked.connect(self.disconnect)
        self._poll = QtCore.QTimer(self)
        self._poll.setInterval(30)
        self._poll.timeout.connect(self._check_pending)
        self._mode_changed()

    def _make_widgets(self) -> None:
        self.sim_radio = QtWidgets.QRadioButton("Simulated 4200A")
        self.res_radio = QtWidgets.QRadioButton("VISA resource")
        self.sim_radio.setChecked(True)
        self.resource = QtWidgets.QLineEdit()
        self.resource.setPlaceholderText("TCPIP::192.168.0.10::1225::SOCKET")
        self.resource.setToolTip("LAN: TCPIP::<address>::1225::SOCKET (KXCI port); "
                                 "GPIB: GPIB0::<address>::INSTR")
        self.seed = QtWidgets.QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("simulator random seed: the same seed gives the same device")
        self.speed = QtWidgets.QDoubleSpinBox()
        self.speed.setRange(0.0, 1e6)
        self.speed.setDecimals(2)
        self.speed.setSpecialValueText("as fast as possible")
        self.speed.setToolTip("simulator pacing: instrument time runs at X times real time "
                              "(0 = as fast as possible)")
        self.timeout = QtWidgets.QDoubleSpinBox()
        self.timeout.setRange(0.5, 120.0)
        self.timeout.setValue(5.0)
        self.timeout.setSuffix(" s")
        self.timeout.setToolTip("VISA timeout for every read from the instrument")
        self.connect_button = QtWidgets.QPushButton("Connect / test")
        self.disconnect_button = QtWidgets.QPushButton("Disconnect")
        self.disconnect_button.setEnabled(False)
        self.idn_label = QtWidgets.QLabel("not connected")
        self.idn_label.setWordWrap(True)
        self.idn_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cards_label = QtWidgets.QLabel("")
        self.cards_label.setWordWrap(True)
        self.error_label = QtWidgets.QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b")

    def _lay_out(self) -> None:
        form = QtWidgets.QFormLayout(self)
        form.addRow(_side_by_side(self.sim_radio, self.res_radio))
        for label, widget in (("Resource", self.resource), ("Sim seed", self.seed),
                              ("Sim speed", self.speed), ("Timeout", self.timeout)):
            form.addRow(label, widget)
        form.addRow(_side_by_side(self.connect_button, self.disconnect_button))
        form.addRow("*IDN?", self.idn_label)
        form.addRow("Cards", self.cards_label)
        form.addRow(self.error_label)

    # -- configuration ------------------------------------------------------------------
    def _mode_changed(self) -> None:
        sim = self.sim_radio.isChecked()
        self.resource.setEnabled(not sim)
        self.seed.setEnabled(sim)
        self.speed.setEnabled(sim)

    def use_resource(self, resource: str) -> None:
        self.res_radio.setChecked(True)
        self.resource.setText(resource)

    def use_sim(self, seed: int = 0, speed: float | None = None) -> None:
        self.sim_radio.setChecked(True)
        self.seed.setValue(seed)
        self.speed.setValue(speed or 0.0)

    def description(self) -> str:
        if self.sim_radio.isChecked():
            speed = self.speed.value()
            pace = f", speed x{speed:g}" if speed else ""
            return f"simulated 4200A (seed {self.seed.value()}{pace})"
        return self.resource.text().strip()

    @property
    def busy(self) -> bool:
        return self._pending is not None

    # -- connecting ---------------------------------------------------------------------
    def start_connect(self) -> None:
        """Open the chosen instrument in a worker thread; the result arrives via polling."""
        if self._pending is not None:
            return
        self.error_label.setText("")
        if self.sim_radio.isChecked():
            kwargs: dict[str, Any] = {"sim": True, "seed": self.seed.value(),
                                      "speed": self.speed.value() or None}
        else:
            resource = self.resource.text().strip()
            if not resource:
                self._fail("resource: enter a VISA resource string "
                           "(e.g. TCPIP::192.168.0.10::1225::SOCKET) or choose the simulator")
                return
            kwargs = {"resource": resource, "timeout_ms": int(self.timeout.value() * 1000)}
        self.disconnect()
        pending: dict[str, Any] = {"deadline": time.monotonic() + self.timeout.value() + GRACE_S,
                                   "what": self.description()}
        self._pending = pending

        def work() -> None:
            try:
                pending["result"] = self._connector(**kwargs)
            except Exception as exc:  # noqa: BLE001 - shown to the user
                pending["error"] = exc

        self.connect_button.setEnabled(False)
        self.idn_label.setText(f"connecting to {pending['what']} ...")
        threading.Thread(target=work, name="labapp-connect", daemon=True).start()
        self._poll.start()

    def _check_pending(self) -> None:
        pending = self._pending
        if pending is None:
            self._poll.stop()
            return
        if "result" in pending:
            self._finish()
            self._accept(pending["result"])
        elif "error" in pending:
            self._finish()
            exc = pending["error"]
            self._fail(f"cannot connect to {pending['what']}: {exc}")
        elif time.monotonic() > pending["deadline"]:
            self._finish()
            self._fail(f"cannot connect to {pending['what']}: no answer within "
                       f"{self.timeout.value() + GRACE_S:g} s")

    def wait_done(self, timeout: float = 10.0) -> None:
        """Block (processing events) until a connect attempt ends; for scripts and tests."""
        process_until(lambda: self._pending is None, timeout, self._check_pending)

    def _finish(self) -> None:
        self._pending = None
        self._poll.stop()
        self.connect_button.setEnabled(True)

    def _accept(self, instrument: Any) -> None:
        self.instrument = instrument
        self.idn_label.setText(str(instrument.idn))
        self.cards_label.setText(", ".join(str(c) for c in instrument.cards if str(c).strip()))
        self.disconnect_button.setEnabled(True)
        log.info("connected: %s (cards: %s)", instrument.idn, self.cards_label.text())
        self.connected.emit(instrument)

    def _fail(self, message: str) -> None:
        self.idn_label.setText("not connected")
        self.cards_label.setText("")
        self.error_label.setText(message)
        log.error(message)
        self.failed.emit(message)

    def disconnect(self) -> None:
        if self.instrument is None:
            return
        inst, self.instrument = self.instrument, None
        try:
            inst.safe_off()
            inst.adapter.close()
        except Exception as exc:  # noqa: BLE001 - closing a lost connection
            log.warning("closing the instrument: %s", exc)
        self.idn_label.setText("not connected")
        self.cards_label.setText("")
        self.disconnect_button.setEnabled(False)
        self.disconnected.emit()

    def set_locked(self, locked: bool) -> None:
        """No reconnecting while a run uses the instrument."""
        for w in (self.connect_button, self.disconnect_button, self.sim_radio, self.res_radio):
            w.setEnabled(not locked)
        if not locked:
            self.disconnect_button.setEnabled(self.instrument is not None)
