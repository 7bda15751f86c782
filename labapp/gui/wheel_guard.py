"""No accidental changes from the mouse wheel.

Scrolling the control panel with the wheel must scroll the panel, not change whatever
number box or combo box happens to pass under the pointer (a safety limit once went from
5 V to 0.01 V that way, unnoticed). :class:`WheelGuard` is an event filter on the
application that acts only on widgets inside one window:

* spin boxes and combo boxes react to the wheel only while they have keyboard focus
  (clicked or tabbed into); otherwise the wheel scrolls the enclosing scroll area;
* widgets marked with :func:`mark_safety` (the device's safety limits) never react to
  the wheel, focused or not.

Every guarded widget also gets ``Qt.StrongFocus``, so the wheel cannot give it focus.
"""

from __future__ import annotations

from PyQt6 import QtCore, QtWidgets

#: dynamic property that marks a widget whose value the wheel may never change
SAFETY_PROPERTY = "labapp_safety_field"
GUARDED = (QtWidgets.QAbstractSpinBox, QtWidgets.QComboBox)


def mark_safety(widget: QtWidgets.QWidget) -> None:
    """The wheel never changes this widget (e.g. max |V|, max compliance)."""
    widget.setProperty(SAFETY_PROPERTY, True)


def guarded_target(obj: QtCore.QObject) -> QtWidgets.QWidget | None:
    """The spin box / combo box an event on ``obj`` (or its inner line edit) goes to."""
    for candidate in (obj, obj.parent() if obj is not None else None):
        if isinstance(candidate, GUARDED):
            return candidate
    return None


class WheelGuard(QtCore.QObject):
    """Application event filter guarding the spin and combo boxes of ``root``."""

    def __init__(self, root: QtWidgets.QWidget) -> None:
        super().__init__(root)
        self.root = root
        self.blocked = 0  #: wheel events kept away from a guarded widget (tests, logs)

    def install(self) -> WheelGuard:
        app = QtWidgets.QApplication.instance()
        app.installEventFilter(self)
        self.root.destroyed.connect(lambda *_: app.removeEventFilter(self))
        return self

    def remove(self) -> None:
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        etype = event.type()
        if etype == QtCore.QEvent.Type.Polish and isinstance(obj, GUARDED):
            obj.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
            return False
        if etype != QtCore.QEvent.Type.Wheel:
            return False
        target = guarded_target(obj)
        if target is None or not self._inside(target):
            return False
        target.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        if target.hasFocus() and not target.property(SAFETY_PROPERTY):
            return False  # a focused ordinary field: the wheel is the user's intent
        self.blocked += 1
        self._scroll_instead(target, event)
        return True

    def _inside(self, widget: QtWidgets.QWidget) -> bool:
        try:
            return widget is self.root or self.root.isAncestorOf(widget)
        except RuntimeError:  # root already deleted
            return False

    @staticmethod
    def _scroll_instead(widget: QtWidgets.QWidget, event: QtCore.QEvent) -> None:
        """Hand the wheel to the nearest scroll area, so the panel still scrolls."""
        parent = widget.parentWidget()
        while parent is not None and not isinstance(parent, QtWidgets.QAbstractScrollArea):
            parent = parent.parentWidget()
        if parent is not None:
            bar = parent.verticalScrollBar()
            steps = event.angleDelta().y() / 120.0
            bar.setValue(bar.value() - int(round(steps * bar.singleStep() * 3)))
