"""In-process pymeasure adapter that routes messages to a :class:`KXCIEngine`.

Used for fast tests and the default ``--sim`` mode: no socket, same command strings. LAN
framing by default (every command gets a reply, ``ACK`` when there is no data); with
``framing="gpib"`` commands that return nothing get no reply and the adapter offers the
GPIB ``read_stb`` (serial poll) and ``wait_for_srq`` calls on ``adapter.connection``, so
the driver's GPIB path runs against the same engine [M 3-4, 3-5, 4-1]. The engine's
:class:`~sim_backend.faults.FaultPlan` applies here too: a delay sleeps before the reply
is queued, a garbled reply is queued garbled, and a dropped connection raises
:class:`ConnectionResetError` on that write (like a peer that closed the socket).
"""

from __future__ import annotations

import time

from pymeasure.adapters import Adapter

from sim_backend.kxci import KXCIEngine


class SimAdapter(Adapter):
    """A pymeasure adapter whose far end is the simulated 4200A (LAN framing: ACK replies)."""

    def __init__(self, engine: KXCIEngine | None = None, framing: str = "lan",
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if framing not in ("lan", "gpib"):
            raise ValueError(f"framing={framing!r}: 'lan' or 'gpib'")
        self.engine = engine if engine is not None else KXCIEngine()
        self.framing = framing
        self.connection = self  # GPIB calls (read_stb, wait_for_srq) live on the adapter
        self._replies: list[str] = []

    # ------------------------------------------------------------------ GPIB calls
    def describe(self) -> dict:
        """The simulator behind this adapter (seed, cards, device and its parameters)."""
        return self.engine.describe()

    def read_stb(self) -> int:
        """Serial poll: the status byte; clears B1 and RQS like a poll does [M 3-4]."""
        return self.engine.serial_poll()

    def wait_for_srq(self, timeout: int = 25000) -> None:
        """Return once the instrument requests service (RQS, B6), else TimeoutError."""
        deadline = time.monotonic() + timeout / 1000
        while not self.engine.service_requested():
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulated 4200A: no SRQ within {timeout} ms")
            time.sleep(0.001)
        self.engine.serial_poll()

    def _write(self, command: str, **kwargs) -> None:
        faults = self.engine.faults
        if faults.active and faults.drop(self.engine.message_count + 1):
            self._replies.clear()
            raise ConnectionResetError("simulated 4200A: connection dropped (fault injection)")
        k, reply = self.engine.process(command)
        if self.framing == "gpib" and reply == "ACK":
            return  # GPIB: no reply to a command that returns no data
        if faults.active:
            pause = faults.delay_for(k)
            if pause:
                time.sleep(pause)
            reply = faults.garble(k, reply)
        self._replies.append(reply)

    def _read(self, **kwargs) -> str:
        if not self._replies:
            raise TimeoutError("simulated 4200A: read with no reply pending")
        return self._replies.pop(0)

    def _write_bytes(self, content: bytes, **kwargs) -> None:
        self._write(content.decode().rstrip("\0"))

    def _read_bytes(self, count: int, break_on_termchar: bool = False, **kwargs) -> bytes:
        return (self._read() + "\0").encode()

    def flush_read_buffer(self) -> None:
        self._replies.clear()

    def close(self) -> None:
        self._replies.clear()
