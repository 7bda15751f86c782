"""Loopback TCP server that makes a :class:`KXCIEngine` look like a 4200A on LAN.

KXCI over Ethernet is a raw socket (default port 1225); every command ends with NUL and
every command gets a reply ending with NUL, ``ACK`` when there is no data [M 2-5, 2-10].
The server binds 127.0.0.1 unless told otherwise, so the simulator is not exposed.
Faults of the engine's :class:`~sim_backend.faults.FaultPlan` (reply delay, dropped
connection, garbled reply) are applied here, per message.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable

from sim_backend.kxci import KXCIEngine

DEFAULT_PORT = 1225


class _Handler(socketserver.BaseRequestHandler):
    server: KXCIServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        engine = self.server.engine
        faults = engine.faults
        buf = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                message = raw.decode(errors="replace").strip("\r\n")
                if faults.active and faults.drop(engine.message_count + 1):
                    sock.close()  # the peer sees the connection closed, no reply
                    return
                k, reply = engine.process(message)
                if faults.active:
                    pause = faults.delay_for(k)
                    if pause:
                        time.sleep(pause)
                    reply = faults.garble(k, reply)
                try:
                    sock.sendall(reply.encode() + b"\0")
                except OSError:
                    return


class KXCIServer(socketserver.ThreadingTCPServer):
    """Threaded TCP server; all connections share one engine (one instrument)."""

    daemon_threads = True
    allow_reuse_address = True

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
