"""SIGINT, SIGTERM and SIGHUP end the GUI the way they end ``labapp run``: the run in
progress is aborted, the instrument put in its safe state and the run file closed with
the signal as the reason; then the window closes.

Why a wakeup socket: Python runs signal handlers only between bytecodes, and while Qt's
event loop waits in C++ no bytecode runs, so a plain handler would wait for the next
mouse move. ``signal.set_wakeup_fd`` writes the signal number into a socket the moment the
signal arrives; a ``QSocketNotifier`` on the other end wakes the event loop, and the
handler (already run by then) has queued the request.

Optional pause/resume signals (``SIGUSR1``/``SIGUSR2``, as in ``labapp run``) reach the
window the same way.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable

from PyQt6 import QtCore

log = logging.getLogger("labapp.gui.signals")

#: signals that abort the run and close the window
ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SignalBridge(QtCore.QObject):
    """Turns POSIX signals into calls in the Qt (GUI) thread.

    ``actions`` maps a signal to a callable taking the signal; it runs in the GUI
    thread, from the event loop. :meth:`restore` puts the previous handlers back.
    """

    def __init__(self, actions: dict[signal.Signals, Callable[[signal.Signals], None]],
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.actions = dict(actions)
        self._old: dict[signal.Signals, object] = {}
        self._old_fd = -1
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._notifier = QtCore.QSocketNotifier(self._rsock.fileno(),
                                                QtCore.QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        self.installed = False

    def install(self) -> SignalBridge:
        """Install the handlers (main thread only; elsewhere this does nothing)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        self._old_fd = signal.set_wakeup_fd(self._wsock.fileno(), warn_on_full_buffer=False)
        for sig in self.actions:
            # the handler itself does nothing: the wakeup byte carries the signal number
            self._old[sig] = signal.signal(sig, lambda *_: None)
        self.installed = True
        return self

    def restore(self) -> None:
        if not self.installed:
            return
        for sig, old in self._old.items():
            signal.signal(sig, old)
        signal.set_wakeup_fd(self._old_fd)
        self.installed = False
        self._notifier.setEnabled(False)
        for s in (self._rsock, self._wsock):
            with contextlib.suppress(OSError):
                s.close()

    def _drain(self) -> None:
        try:
            data = self._rsock.recv(64)
        except (BlockingIOError, OSError):
            return
        for num in data:
            try:
                sig = signal.Signals(num)
            except ValueError:
                continue
            action = self.actions.get(sig)
            if action is None:
                continue
            log.warning("signal %s received", sig.name)
            try:
                action(sig)
            except Exception:  # noqa: BLE001 - a failing action must not kill the loop
                log.exception("handling %s failed", sig.name)
