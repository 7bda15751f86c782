"""Bounded waiting that keeps the Qt event loop running (scripts, tests, --screenshot)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PyQt6 import QtCore


def process_until(done: Callable[[], bool], timeout: float, poll: Callable[[], None] = lambda: None,
                  pause: float = 0.003) -> bool:
    """Process events (and call ``poll``) until ``done()`` or ``timeout`` s; True if done.

    Every wait in the GUI's helpers is bounded: a run or a connection that never ends
    returns False after ``timeout`` instead of hanging the caller.
    """
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return True
        if time.monotonic() >= deadline:
            return False
        QtCore.QCoreApplication.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
        poll()
        time.sleep(pause)
