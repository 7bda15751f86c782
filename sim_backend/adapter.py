"""In-process pymeasure adapter that routes messages to a :class:`KXCIEngine`.

Used for fast tests and the default ``--sim`` mode: no socket, same command strings, LAN
framing (every command gets a reply, ``ACK`` when there is no data). The engine's
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

    def __init__(self, engine: KXCIEngine | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.engine = engine if engine is not None else KXCIEngine()
        self._replies: list[str] = []

    def _write(self, command: str, **kwargs) -> None:
        faults = self.engine.faults
        if faults.active and faults.drop(self.engine.message_count + 1):
            self._replies.clear()
            raise ConnectionResetError("simulated 4200A: connection dropped (fault injection)")
        k, reply = self.engine.process(command)
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
