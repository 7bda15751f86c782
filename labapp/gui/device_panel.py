"""Device and sample panel: who/what is measured and the device's safety profile.

Its :meth:`DevicePanel.metadata` and :meth:`DevicePanel.safety` go into every run's
engine, so each run file carries device id, sample, operator, notes and the limits the
run was checked against.

Safety limits never change by accident: the wheel cannot touch them
(:func:`~labapp.gui.wheel_guard.mark_safety`), a value typed by the user takes effect only
after a confirmation ("Change Max |V| from 5 V to 0.01 V?"; declined = the old value is
restored), and every change, confirmed by the user or set by a script, is logged and
stored in the next run file (``safety_changes``: UTC time, limit, old and new value, by).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PyQt6 import QtCore, QtWidgets

from drivers.keithley4200 import SMU_I_MAX, SMU_V_MAX
from labapp.gui.wheel_guard import mark_safety
from protocols import SafetyProfile

log = logging.getLogger("labapp.gui.device")

#: limit name -> (label, unit shown, factor from the box's unit to SI)
LIMITS = {"max_voltage": ("Max |V|", "V", 1.0), "max_compliance": ("Max compliance", "mA", 1e-3)}


class DevicePanel(QtWidgets.QGroupBox):
    """Device id, sample, operator, notes; max |V| and max compliance."""

    #: the confirmed safety limits changed
    limits_changed = QtCore.pyqtSignal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Device and sample", parent)
        #: asks the user; replaced by scripts and tests (text -> accepted)
        self.confirm: Callable[[str], bool] = self._ask
        #: changes not yet stored in a run file (see :meth:`take_safety_changes`)
        self.safety_changes: list[dict[str, Any]] = []
        self._asking = False
        self.device_id = QtWidgets.QLineEdit()
        self.device_id.setPlaceholderText("e.g. W3-D12")
        self.sample = QtWidgets.QLineEdit()
        self.operator = QtWidgets.QLineEdit()
        self.notes = QtWidgets.QPlainTextEdit()
        self.notes.setFixedHeight(48)
        defaults = SafetyProfile()
        self.max_voltage = QtWidgets.QDoubleSpinBox()
        self.max_voltage.setRange(0.01, SMU_V_MAX)
        self.max_voltage.setDecimals(2)
        self.max_voltage.setSuffix(" V")
        self.max_voltage.setValue(defaults.max_voltage)
        self.max_voltage.setToolTip("largest |V| any protocol may apply to this device; runs "
                                    "asking for more are refused before anything is sent")
        self.max_compliance = QtWidgets.QDoubleSpinBox()
        self.max_compliance.setRange(0.001, SMU_I_MAX * 1e3)
        self.max_compliance.setDecimals(3)
        self.max_compliance.setSuffix(" mA")
        self.max_compliance.setValue(defaults.max_compliance * 1e3)
        self.max_compliance.setToolTip("largest current compliance any protocol may set on "
                                       "this device")
        self._confirmed = {"max_voltage": self.max_voltage.value(),
                           "max_compliance": self.max_compliance.value()}
        for name in LIMITS:
            box = self.box(name)
            mark_safety(box)
            box.valueChanged.connect(lambda _v, n=name: self._value_changed(n))
            box.editingFinished.connect(lambda n=name: self.commit(n))
        form = QtWidgets.QFormLayout(self)
        form.addRow("Device id", self.device_id)
        form.addRow("Sample", self.sample)
        form.addRow("Operator", self.operator)
        form.addRow("Notes", self.notes)
        form.addRow("Max |V|", self.max_voltage)
        form.addRow("Max compliance", self.max_compliance)

    def metadata(self) -> dict[str, Any]:
        """Run-file metadata for the engine."""
        return {"device_id": self.device_id.text().strip(), "sample": self.sample.text().strip(),
                "operator": self.operator.text().strip(),
                "notes": self.notes.toPlainText().strip()}

    def safety(self) -> SafetyProfile:
        """The confirmed limits (an edit awaiting confirmation does not count yet)."""
        return SafetyProfile(max_voltage=self._confirmed["max_voltage"],
                             max_compliance=self._confirmed["max_compliance"] * 1e-3)

    # -- safety-limit changes -------------------------------------------------------------
    def box(self, name: str) -> QtWidgets.QDoubleSpinBox:
        return getattr(self, name)

    def _value_changed(self, name: str) -> None:
        # the user is typing or stepping: confirm when they are done (editingFinished);
        # a value set by a program (no focus) takes effect now and is logged
        if not self.box(name).hasFocus():
            self.commit(name, by="program")

    def commit(self, name: str, by: str = "user") -> bool:
        """Apply the box's value as the new limit after confirmation; True when applied.

        Declined: the box shows the confirmed value again. Applied: the change is logged
        and kept for the next run file.
        """
        box = self.box(name)
        old, new = self._confirmed[name], box.value()
        if new == old or self._asking:  # the dialog taking focus ends the edit again
            return new == old
        label, unit, factor = LIMITS[name]
        if by == "user":
            self._asking = True
            try:
                accepted = self.confirm(f"Change the safety limit {label} from {old:g} {unit} "
                                        f"to {new:g} {unit}?")
            finally:
                self._asking = False
        else:
            accepted = True
        if not accepted:
            blocked = box.blockSignals(True)
            box.setValue(old)
            box.blockSignals(blocked)
            log.warning("safety limit %s kept at %g %s (change to %g %s declined)",
                        label, old, unit, new, unit)
            return False
        self._confirmed[name] = new
        si = "V" if unit == "V" else "A"
        self.safety_changes.append({
            "utc": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "limit": f"{name}_{si}", "old": old * factor, "new": new * factor, "by": by})
        log.warning("safety limit %s changed from %g %s to %g %s (%s)", label, old, unit, new,
                    unit, "confirmed" if by == "user" else "set by " + by)
        self.limits_changed.emit()
        return True

    def commit_pending(self) -> bool:
        """Confirm edits still in progress (before a run starts); False if one was declined."""
        return all([self.commit(name) for name in LIMITS])

    def take_safety_changes(self) -> list[dict[str, Any]]:
        """The changes since the last call (stored with the next run), then forgotten."""
        out, self.safety_changes = self.safety_changes, []
        return out

    def _ask(self, text: str) -> bool:
        answer = QtWidgets.QMessageBox.question(
            self, "Change safety limit", text,
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            QtWidgets.QMessageBox.StandardButton.No)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def set_values(self, *, device_id: str = "", sample: str = "", operator: str = "",
                   notes: str = "", max_voltage: float | None = None,
                   max_compliance: float | None = None) -> None:
        self.device_id.setText(device_id)
        self.sample.setText(sample)
        self.operator.setText(operator)
        self.notes.setPlainText(notes)
        if max_voltage is not None:
            self.max_voltage.setValue(max_voltage)
        if max_compliance is not None:
            self.max_compliance.setValue(max_compliance * 1e3)
