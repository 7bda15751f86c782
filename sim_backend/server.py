"""Loopback TCP server that makes a :class:`KXCIEngine` look like a 4200A on LAN.

KXCI over Ethernet is a raw socket (default port 1225); every command ends with NUL and
every command gets a reply ending with NUL, ``ACK`` when there is no data [M 2-5, 2-10].
The server binds 127.0.0.1 unless told otherwise, so the simulator is not exposed.
Faults of the engine's :class:`~sim_backend.faults.FaultPlan` (reply delay, dropped
connection, garbled reply) are applied here, per message.

Robustness rules (each has a test in ``tests/test_sim_server.py``):

* every message gets exactly one reply; an exception inside the engine is reported as a
  KXCI error (``:ERROR:LAST:GET``) and on stderr, never by closing the connection;
* a message longer than :data:`MAX_MESSAGE` bytes is refused with KXCI error -992 and its
  bytes are discarded as they arrive, so an unterminated stream does not grow the server;
  the one reply to it is sent when its terminator arrives;
* receiving is linear in the bytes received (one ``bytearray``, scanned once).
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable

from sim_backend.kxci import KXCIEngine

DEFAULT_PORT = 1225
#: longest accepted message (bytes before the NUL). The longest well-formed KXCI messages
#: are a KULT ``EX`` call with arrays of < 16 000 elements [M 4-8] (~200 kB) and a 4096-point
#: ``VL`` list [M 5-16] (~60 kB); 1 MiB leaves room for both.
MAX_MESSAGE = 1 << 20
RECV_BYTES = 65536


class _Handler(socketserver.BaseRequestHandler):
    server: KXCIServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        overflow = False  # discarding the rest of an over-long message
        while True:
            try:
                chunk = sock.recv(RECV_BYTES)
            except OSError:
                return
            if not chunk:
                return
            start = 0
            while True:
                end = chunk.find(b"\0", start)
                if end < 0:
                    break
                if overflow:
                    overflow = False  # the over-long message ends here; answer it once
                    if not self._reply(sock, None):
                        return
                elif len(buf) + end - start > MAX_MESSAGE:
                    buf.clear()
                    self.server.engine.refuse(-992, f"message longer than {MAX_MESSAGE} bytes")
                    if not self._reply(sock, None):
                        return
                else:
                    buf += chunk[start:end]
                    message = bytes(buf).decode(errors="replace").strip("\r\n")
                    buf.clear()
                    if not self._reply(sock, message):
                        return
                start = end + 1
            if not overflow:
                buf += chunk[start:]
                if len(buf) > MAX_MESSAGE:
                    buf.clear()
                    overflow = True
                    self.server.engine.refuse(-992, f"message longer than {MAX_MESSAGE} bytes")

    def _reply(self, sock: socket.socket, message: str | None) -> bool:
        """Answer one message (None: the over-long one, already refused); False when the
        connection is gone."""
        engine = self.server.engine
        faults = engine.faults
        if faults.active and faults.drop(engine.message_count + 1):
            sock.close()  # the peer sees the connection closed, no reply
            return False
        if message is None:
            k, reply = engine.message_count, engine.error_reply
        else:
            try:
                k, reply = engine.process(message)
            except Exception as exc:  # a simulator defect: report it, keep the connection
                traceback.print_exc(file=sys.stderr)
                engine.refuse(-986, f"simulator error: {type(exc).__name__}: {exc}")
                k, reply = engine.message_count, engine.error_reply
        if faults.active:
            pause = faults.delay_for(k)
            if pause:
                time.sleep(pause)
            reply = faults.garble(k, reply)
        try:
            sock.sendall(reply.encode() + b"\0")
        except OSError:
            return False
        return True


class KXCIServer(socketserver.ThreadingTCPServer):
    """Threaded TCP server; all connections share one engine (one instrument)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # many clients may connect at once

    def __init__(self, engine: KXCIEngine, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        self.engine = engine
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def resource(self) -> str:
        """The pyvisa resource string a client opens to reach this server."""
        return f"TCPIP::{self.server_address[0]}::{self.port}::SOCKET"

    def start_background(self) -> threading.Thread:
        """Serve from a daemon thread (tests, in-process demos)."""
        thread = threading.Thread(target=self.serve_forever, name="kxci-sim", daemon=True)
        thread.start()
        return thread


def serve(engine_factory: Callable[[], KXCIEngine], host: str = "127.0.0.1",
          port: int = DEFAULT_PORT, ready: Callable[[KXCIServer], None] | None = None) -> None:
    """Run a server in the foreground until interrupted."""
    with KXCIServer(engine_factory(), host, port) as server:
        if ready is not None:
            ready(server)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
