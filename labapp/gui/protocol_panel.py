"""Protocol panel: pick a protocol, fill its generated form, load/save presets.

Forms are built lazily, one per protocol, and kept (switching back keeps the values).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PyQt6 import QtCore, QtWidgets

from drivers.validation import ParameterError
from labapp.gui import file_dialogs
from labapp.gui.protocol_form import ProtocolForm
from protocols import PROTOCOLS, Protocol, SafetyProfile
from protocols.preset_library import (
    Preset,
    PresetError,
    get_preset,
    load_presets,
    save_preset,
)

log = logging.getLogger("labapp.gui.protocols")


class ProtocolPanel(QtWidgets.QGroupBox):
    """Protocol chooser + form + presets; :attr:`validity_changed` mirrors the form."""

    validity_changed = QtCore.pyqtSignal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Protocol", parent)
        self.safety = SafetyProfile()
        self.forms: dict[str, ProtocolForm] = {}
        self.chooser = QtWidgets.QComboBox()
        self.chooser.setObjectName("protocol_chooser")
        self.preset_box = QtWidgets.QComboBox()
        self.preset_box.setToolTip("shipped presets (paper 000's included)")
        for box in (self.chooser, self.preset_box):  # long titles must not widen the panel
            box.setSizeAdjustPolicy(
                QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(16)
        self.load_button = QtWidgets.QPushButton("Load…")
        self.save_button = QtWidgets.QPushButton("Save…")
        self.reset_button = QtWidgets.QPushButton("Defaults")
        self.stack = QtWidgets.QStackedWidget()
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.stack)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.chooser)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Preset"))
        row.addWidget(self.preset_box, 1)
        lay.addLayout(row)
        row2 = QtWidgets.QHBoxLayout()
        for b in (self.load_button, self.save_button, self.reset_button):
            row2.addWidget(b)
        lay.addLayout(row2)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.message)
        self.refresh_protocols()
        self.chooser.currentIndexChanged.connect(self._show_current)
        self.preset_box.activated.connect(self._apply_shipped)
        self.load_button.clicked.connect(self._load_dialog)
        self.save_button.clicked.connect(self._save_dialog)
        self.reset_button.clicked.connect(lambda: self.form.reset())
        self._show_current()

    # -- protocols and forms --------------------------------------------------------------
    def refresh_protocols(self) -> None:
        """(Re)list the registered protocols (new ones appear without a restart)."""
        current = self.chooser.currentData()
        self.chooser.blockSignals(True)
        self.chooser.clear()
        for name, cls in sorted(PROTOCOLS.items()):
            self.chooser.addItem(f"{cls.title or name} [{name}]", name)
        if current:
            i = self.chooser.findData(current)
            if i >= 0:
                self.chooser.setCurrentIndex(i)
        self.chooser.blockSignals(False)
        try:
            self._presets = list(load_presets().values())
        except PresetError as exc:
            self._presets = []
            log.error("shipped presets: %s", exc)
        self.preset_box.clear()
        self.preset_box.addItem("(choose a preset)", None)
        for i, pr in enumerate(self._presets):
            self.preset_box.addItem(f"{pr.name}: {pr.title}", i)
            self.preset_box.setItemData(i + 1, f"{pr.protocol}; {pr.source}",
                                        QtCore.Qt.ItemDataRole.ToolTipRole)

    @property
    def protocol_name(self) -> str:
        return str(self.chooser.currentData())

    @property
    def form(self) -> ProtocolForm:
        return self.form_for(self.protocol_name)

    def form_for(self, name: str) -> ProtocolForm:
        if name not in self.forms:
            form = ProtocolForm(PROTOCOLS[name], safety=self.safety)
            form.validity_changed.connect(self._form_validity)
            self.forms[name] = form
            self.stack.addWidget(form)
        return self.forms[name]

    def select(self, name: str) -> ProtocolForm:
        i = self.chooser.findData(name)
        if i < 0:
            raise KeyError(f"unknown protocol {name!r}; known: {', '.join(sorted(PROTOCOLS))}")
        self.chooser.setCurrentIndex(i)
        return self.form

    def _show_current(self) -> None:
        if self.chooser.count() == 0:
            return
        self.stack.setCurrentWidget(self.form)
        self.validity_changed.emit(self.form.valid)

    def _form_validity(self, _: bool) -> None:
        self.validity_changed.emit(self.form.valid)

    @property
    def valid(self) -> bool:
        return self.form.valid

    def set_safety(self, safety: SafetyProfile) -> None:
        self.safety = safety
        for form in self.forms.values():
            form.set_safety(safety)
        self.validity_changed.emit(self.form.valid)

    def build(self) -> Protocol:
        return self.form.build()

    def current_values(self) -> dict[str, Any]:
        return self.form.values()

    # -- presets ------------------------------------------------------------------------
    def apply_preset(self, preset: Preset) -> None:
        """Switch to the preset's protocol and fill its values (errors shown, not raised)."""
        if preset.protocol not in PROTOCOLS:
            self._say(f"preset {preset.name!r}: protocol {preset.protocol!r} is not available "
                      f"(known: {', '.join(sorted(PROTOCOLS))})", error=True)
            return
        form = self.select(preset.protocol)
        form.reset()
        try:
            preset.resolved()  # the protocol layer's own check of the preset
            form.set_values(dict(preset.values))
        except (ParameterError, PresetError) as exc:
            self._say(f"preset {preset.name!r}: {exc}", error=True)
            return
        self._say(f"preset loaded: {preset.name} — {preset.title}")

    def load_file(self, path: str | Path) -> None:
        """Apply a preset given by file path or by shipped name (as ``--preset``)."""
        try:
            self.apply_preset(get_preset(path))
        except PresetError as exc:
            self._say(str(exc), error=True)

    def save_file(self, path: str | Path, title: str = "") -> Path:
        """Write the current form (must be valid) as a preset."""
        values = self.form.values()
        out = save_preset(path, self.protocol_name, values, title)
        self._say(f"preset saved: {out}")
        return out

    def _apply_shipped(self, index: int) -> None:
        i = self.preset_box.itemData(index)
        if i is not None:
            self.apply_preset(self._presets[i])

    def _load_dialog(self) -> None:
        file_dialogs.open_file(self, "Load preset", "Preset (*.json)", self.load_file)

    def _save_dialog(self) -> None:
        if not self.form.valid:
            self._say("fix the flagged parameters before saving a preset", error=True)
            return
        file_dialogs.save_file(self, "Save preset", "Preset (*.json)", self.save_file)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #c0392b" if error else "")
        self.message.setText(text)
        (log.error if error else log.info)(text)
