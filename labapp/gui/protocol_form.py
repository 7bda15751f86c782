"""A parameter form generated from a protocol's :class:`~protocols.parameters.Param` list.

One editor per parameter (a line edit accepting SI prefixes and the unit, e.g. ``5mA``;
a combo box for choices; a check box for flags), labelled with the unit, with the
parameter's doc and allowed range as tooltip. Every edit re-validates the whole form
through the protocol itself (the same checks the CLI and the engine apply, including the
cross-parameter ``check()`` and the device's safety profile), flags the offending field
in red with the reason written right under it (not only in a tooltip), and reports
whether the form may be run.
"""

from __future__ import annotations

from typing import Any

from PyQt6 import QtCore, QtWidgets

from drivers.validation import ParameterError
from protocols import Protocol, SafetyProfile
from protocols.parameters import Param, UnknownParameterError

INVALID_STYLE = "background: #fde2e1; border: 1px solid #c0392b"
ERROR_TEXT_STYLE = "color: #c0392b; font-size: 90%"


def format_value(param: Param, value: Any) -> str:
    """Text for an editor: numbers in SI form the parser reads back exactly."""
    if param.kind == "floats":
        return ", ".join(f"{float(v):g}" for v in value)
    if param.kind == "int":
        return str(int(value))
    if param.kind == "float":
        return f"{float(value):.12g}"
    return str(value)


class ParamEditor:
    """The editor widget of one parameter and how to read/write it."""

    def __init__(self, param: Param) -> None:
        self.param = param
        tip = f"{param.doc}\nallowed: {param.allowed()}".strip()
        if param.kind == "str":
            self.widget: QtWidgets.QWidget = QtWidgets.QComboBox()
            self.widget.addItems(list(param.choices))
        elif param.kind == "bool":
            self.widget = QtWidgets.QCheckBox()
        else:
            self.widget = QtWidgets.QLineEdit()
            optional = param.kind == "floats" and not len(param.default)
            self.widget.setPlaceholderText(("optional: " if optional else "") + param.allowed())
        self.widget.setObjectName(f"param_{param.name}")
        self.widget.setToolTip(tip)
        self.base_tip = tip
        #: the field's error, shown right under the editor while there is one
        self.error = QtWidgets.QLabel("")
        self.error.setObjectName(f"error_{param.name}")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_TEXT_STYLE)
        self.error.setVisible(False)
        self.cell = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(self.cell)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        lay.addWidget(self.widget)
        lay.addWidget(self.error)
        self.set(param.default)

    def text(self) -> str:
        w = self.widget
        if isinstance(w, QtWidgets.QComboBox):
            return w.currentText()
        if isinstance(w, QtWidgets.QCheckBox):
            return "true" if w.isChecked() else "false"
        return w.text()

    def value(self) -> Any:
        """Parsed and range-checked value, or :class:`ParameterError`.

        An empty list editor means the declared default when that default is itself
        empty (an optional list such as a compliance ladder); it is not validated as a
        list because the protocol treats "empty" as "not used".
        """
        text = self.text()
        if self.param.kind == "floats" and not text.strip() and len(self.param.default) == 0:
            return list(self.param.default)
        return self.param.parse(text)

    def set(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QtWidgets.QComboBox):
            w.setCurrentText(str(value))
        elif isinstance(w, QtWidgets.QCheckBox):
            w.setChecked(bool(value))
        else:
            w.setText(format_value(self.param, value))

    def set_text(self, text: str) -> None:
        """Type into the editor as a user would (tests, presets with unit strings)."""
        w = self.widget
        if isinstance(w, QtWidgets.QLineEdit):
            w.setText(text)
            if self.param.kind == "floats" and not len(self.param.default):
                w.setPlaceholderText(f"optional: {self.param.allowed()}")
        else:
            self.set(self.param.parse(text))

    def changed_signal(self) -> QtCore.pyqtBoundSignal:
        w = self.widget
        if isinstance(w, QtWidgets.QComboBox):
            return w.currentTextChanged
        if isinstance(w, QtWidgets.QCheckBox):
            return w.toggled
        return w.textChanged

    def flag(self, message: str | None) -> None:
        self.widget.setStyleSheet(INVALID_STYLE if message else "")
        self.widget.setToolTip(f"{message}\n\n{self.base_tip}" if message else self.base_tip)
        self.error.setText(message or "")
        self.error.setVisible(bool(message))


class ProtocolForm(QtWidgets.QWidget):
    """Form for one protocol class; :attr:`validity_changed` fires with True/False."""

    validity_changed = QtCore.pyqtSignal(bool)

    def __init__(self, cls: type[Protocol], parent: QtWidgets.QWidget | None = None,
                 safety: SafetyProfile | None = None) -> None:
        super().__init__(parent)
        self.cls = cls
        self.safety = safety or SafetyProfile()
        self.editors: dict[str, ParamEditor] = {}
        self.errors: dict[str, str] = {}
        self.error_label = QtWidgets.QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c0392b")
        form = QtWidgets.QFormLayout(self)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for p in cls.params:
            ed = ParamEditor(p)
            self.editors[p.name] = ed
            label = QtWidgets.QLabel(f"{p.name} ({p.unit})" if p.unit else p.name)
            label.setToolTip(ed.base_tip)
            form.addRow(label, ed.cell)
            ed.changed_signal().connect(self.revalidate)
        form.addRow(self.error_label)
        self._valid = True
        self.revalidate()

    # -- values -----------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """Parsed values; raises :class:`ParameterError` on the first invalid field.

        Optional lists left empty are omitted, so the protocol applies its own default.
        """
        out = {}
        for name, ed in self.editors.items():
            value = ed.value()
            if ed.param.kind == "floats" and not len(value) and not len(ed.param.default):
                continue
            out[name] = value
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill editors; unknown names raise (a preset for another protocol)."""
        unknown = set(values) - set(self.editors)
        if unknown:
            name = sorted(unknown)[0]
            raise UnknownParameterError(name, values[name], list(self.editors), self.cls.name)
        for name, value in values.items():
            ed = self.editors[name]
            if isinstance(value, str) and ed.param.kind not in ("str",):
                ed.set_text(value)
            else:
                ed.set(value)
        self.revalidate()

    def reset(self) -> None:
        for ed in self.editors.values():
            ed.set(ed.param.default)
        self.revalidate()

    def build(self) -> Protocol:
        """The protocol object for these values (validated, including the safety profile)."""
        protocol = self.cls(**self.values())
        protocol.check_safety(self.safety)
        return protocol

    # -- validation ---------------------------------------------------------------------
    @property
    def valid(self) -> bool:
        return self._valid

    def set_safety(self, safety: SafetyProfile) -> None:
        self.safety = safety
        self.revalidate()

    def revalidate(self) -> None:
        errors, values = self._field_values()
        general = "" if errors else self._protocol_problem(values, errors)
        for name, ed in self.editors.items():
            ed.flag(errors.get(name))
        self.errors = dict(errors)
        if general:
            self.errors[""] = general
        # each field's error is under the field; here the ones that belong to no field
        flagged = [n for n in self.errors if n]
        summary = [general] if general else []
        if flagged:
            summary.append(f"fix the flagged field{'s' if len(flagged) > 1 else ''}: "
                           + ", ".join(flagged))
        self.error_label.setText("\n".join(summary))
        valid = not self.errors
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        self._valid = valid

    def _field_values(self) -> tuple[dict[str, str], dict[str, Any]]:
        """Each field's parse error, and the values that parsed (empty lists left out)."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name, ed in self.editors.items():
            try:
                value = ed.value()
            except ParameterError as exc:
                errors[name] = str(exc)
                continue
            if not (ed.param.kind == "floats" and not len(value)):
                values[name] = value
        return errors, values

    def _protocol_problem(self, values: dict[str, Any], errors: dict[str, str]) -> str:
        """What the protocol and the safety profile refuse in ``values``: an error of one
        field goes into ``errors``; one of no field is returned."""
        try:
            self.cls(**values).check_safety(self.safety)
        except ParameterError as exc:
            if exc.name in self.editors:
                errors[exc.name] = str(exc)
                return ""
            return str(exc)
        except (ValueError, TypeError) as exc:
            return str(exc)
        return ""
