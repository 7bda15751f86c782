"""``labapp sim-server``: the simulated 4200A as a KXCI LAN server on loopback.

Every option is checked before the server starts; a bad one ends the command with a
one-line ``error: --option ...`` message and exit status 2 (nothing is served).
"""

from __future__ import annotations

import argparse
import math

from sim_backend.faults import FaultPlan
from sim_backend.kxci import DEFAULT_OPTIONS, KXCIEngine
from sim_backend.server import DEFAULT_PORT, serve
from sim_backend.slots import parse_slots

FAULT_HELP = ("inject a fault (repeatable): delay=S (every reply S s late), delay-at=K "
              "(only reply K), drop-after=N (close the connection instead of answering "
              "message N+1, once), garble-at=K (corrupt reply K), error-at=K[:CODE] "
              "(message K fails with KXCI error CODE, default -992). Messages count from 1.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim-server", help="serve the simulated 4200A over TCP (KXCI LAN)",
                       description="Serve the simulated 4200A-SCS on a TCP socket with KXCI "
                       "LAN framing (NUL terminators, ACK replies). Connect with "
                       "TCPIP::127.0.0.1::PORT::SOCKET. See docs/driver.md.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0 = any free)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default loopback only; the simulator has no "
                   "authentication)")
    p.add_argument("--seed", type=int, default=0, help="device seed")
    p.add_argument("--sim-speed", type=float, default=None, metavar="X",
                   help="pace instrument time at X times real time (X > 0; default: as "
                   "fast as possible)")
    p.add_argument("--options", default=",".join(DEFAULT_OPTIONS), metavar="SLOTS",
                   help="the *OPT? slot list, e.g. 'SMU1,SMUPA2,,,PMU1RPM1-2,,,' "
                   "(default: %(default)s)")
    p.add_argument("--series-ohms", type=float, default=0.0, metavar="R",
                   help="resistor in series with the device on the PMU path (R >= 0, "
                   "default 0)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE",
                   help=FAULT_HELP)
    p.set_defaults(func=main)


def check_options(args: argparse.Namespace) -> tuple[FaultPlan, tuple[str, ...]]:
    """The fault plan and slot list; ValueError with a one-line message naming the option."""
    try:
        faults = FaultPlan.parse(args.fault)
    except ValueError as exc:
        raise ValueError(f"--fault: {exc}") from None
    try:
        options = parse_slots(args.options)
    except ValueError as exc:
        raise ValueError(f"--options {args.options!r}: {exc}") from None
    if args.sim_speed is not None and not (math.isfinite(args.sim_speed) and args.sim_speed > 0):
        raise ValueError(f"--sim-speed {args.sim_speed}: must be a finite number > 0")
    if not (math.isfinite(args.series_ohms) and 0 <= args.series_ohms <= 1e12):
        raise ValueError(f"--series-ohms {args.series_ohms}: must be a finite resistance "
                         "in [0, 1e12] ohm")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: must be in 0..65535")
    return faults, options


def main(args: argparse.Namespace) -> int:
    try:
        faults, options = check_options(args)
    except ValueError as exc:
        print(f"error: {exc}")
        return 2

    def ready(server) -> None:
        extra = f" with faults {args.fault}" if args.fault else ""
        print(f"simulated 4200A listening on {server.resource}{extra}", flush=True)

    serve(lambda: KXCIEngine(seed=args.seed, speed=args.sim_speed, options=options,
                             faults=faults, series_ohms=args.series_ohms),
          args.host, args.port, ready)
    return 0
