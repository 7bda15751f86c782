"""``labapp sim-server``: the simulated 4200A as a KXCI LAN server on loopback."""

from __future__ import annotations

import argparse

from sim_backend.kxci import KXCIEngine
from sim_backend.server import DEFAULT_PORT, serve


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim-server", help="serve the simulated 4200A over TCP (KXCI LAN)",
                       description="Serve the simulated 4200A-SCS on a TCP socket with KXCI "
                       "LAN framing (NUL terminators, ACK replies). Connect with "
                       "TCPIP::127.0.0.1::PORT::SOCKET.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0 = any free)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default loopback only; the simulator has no "
                   "authentication)")
    p.add_argument("--seed", type=int, default=0, help="device seed")
    p.add_argument("--sim-speed", type=float, default=None, metavar="X",
                   help="pace instrument time at X times real time")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    def ready(server) -> None:
        print(f"simulated 4200A listening on {server.resource}", flush=True)

    serve(lambda: KXCIEngine(seed=args.seed, speed=args.sim_speed), args.host, args.port, ready)
    return 0
