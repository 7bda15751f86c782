"""In-process pymeasure adapter that routes messages to a :class:`KXCIEngine`.

Used for fast tests and the default ``--sim`` mode: no socket, same command strings.
"""

from __future__ import annotations

from pymeasure.adapters import Adapter

from sim_backend.kxci import KXCIEngine


class SimAdapter(Adapter):
    """A pymeasure adapter whose far end is the simulated 4200A (LAN framing: ACK replies)."""

    def __init__(self, engine: KXCIEngine | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.engine = engine if engine is not None else KXCIEngine()
        self._replies: list[str] = []

    def _write(self, command: str, **kwargs) -> None:
        self._replies.append(self.engine.handle(command))

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
