"""Device and sample panel: who/what is measured and the device's safety profile.

Its :meth:`DevicePanel.metadata` and :meth:`DevicePanel.safety` go into every run's
engine, so each run file carries device id, sample, operator, notes and the limits the
run was checked against.
"""

from __future__ import annotations

from typing import Any

from PyQt6 import QtWidgets

from drivers.keithley4200 import SMU_I_MAX, SMU_V_MAX
from protocols import SafetyProfile


class DevicePanel(QtWidgets.QGroupBox):
    """Device id, sample, operator, notes; max |V| and max compliance."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Device and sample", parent)
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
        return SafetyProfile(max_voltage=self.max_voltage.value(),
                             max_compliance=self.max_compliance.value() * 1e-3)

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
