"""Log dock: Python ``logging`` records (engine, driver, GUI) shown in the window.

The engine and the driver log from the acquisition thread; a Qt widget may only be
touched from the GUI thread. The handler therefore only appends formatted lines to a
thread-safe deque, and the dock drains it on a timer (no signal per message, so a
chatty run cannot flood the event loop).
"""

from __future__ import annotations

import collections
import logging

from PyQt6 import QtCore, QtGui, QtWidgets

#: loggers whose messages the dock shows (children included)
WATCHED = ("labapp", "protocols", "drivers", "sim_backend", "pymeasure")


class DequeHandler(logging.Handler):
    """Formats records into a bounded deque; safe to call from any thread."""

    def __init__(self, maxlen: int = 5000) -> None:
        super().__init__(level=logging.INFO)
        self.lines: collections.deque[tuple[int, str]] = collections.deque(maxlen=maxlen)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                            "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append((record.levelno, self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


class LogDock(QtWidgets.QDockWidget):
    """Read-only, bounded view of the log; attaches its handler on creation."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, max_blocks: int = 5000) -> None:
        super().__init__("Log", parent)
        self.setObjectName("log_dock")
        self.view = QtWidgets.QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(max_blocks)
        self.view.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.setWidget(self.view)
        self.handler = DequeHandler(max_blocks)
        self._loggers = [logging.getLogger(name) for name in WATCHED]
        for lg in self._loggers:
            lg.addHandler(self.handler)
            if lg.getEffectiveLevel() > logging.INFO:
                lg.setLevel(logging.INFO)
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(200)
        self.timer.timeout.connect(self.drain)
        self.timer.start()

    def drain(self) -> None:
        """Move pending lines into the view (GUI thread)."""
        lines = self.handler.lines
        if not lines:
            return
        out = []
        while lines:
            level, text = lines.popleft()
            out.append(f"!! {text}" if level >= logging.ERROR else text)
        self.view.appendPlainText("\n".join(out))

    def text(self) -> str:
        """Everything currently shown (for tests and copy)."""
        self.drain()
        return self.view.toPlainText()

    def detach(self) -> None:
        """Remove the handler (the window is closing)."""
        self.timer.stop()
        for lg in self._loggers:
            lg.removeHandler(self.handler)
