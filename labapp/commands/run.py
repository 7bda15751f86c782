"""``labapp run PROTOCOL``: run a protocol on the simulator or a real 4200A."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from drivers.validation import ParameterError, check_range
from protocols import PROTOCOLS, RunEngine, SafetyProfile, build, connect, get_protocol
from protocols.parameters import parse_assignments


def add_connection_args(p: argparse.ArgumentParser) -> None:
    """--sim / --resource / --seed / --sim-speed, shared by commands that connect."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sim", action="store_true",
                   help="use the simulated 4200A in this process (the default)")
    g.add_argument("--resource", metavar="RES",
                   help="VISA resource of a 4200A, e.g. TCPIP::192.168.0.10::1225::SOCKET")
    p.add_argument("--seed", type=int, default=0, help="simulator seed (reproducible runs)")
    p.add_argument("--sim-speed", type=float, default=None, metavar="X",
                   help="pace the simulator at X times real time (default: as fast as possible)")


def check_connection_args(args: argparse.Namespace) -> None:
    """Reject simulator options that would otherwise be ignored or fail later, unnamed."""
    if args.sim_speed is not None:
        check_range("--sim-speed", args.sim_speed, 0.0, 1e6, "x real time", lo_open=True)
    if args.seed < 0:
        raise ParameterError("--seed", args.seed, "an integer >= 0")


def open_instrument(args: argparse.Namespace):
    check_connection_args(args)
    if args.resource:
        return connect(args.resource)
    return connect(sim=True, seed=args.seed, speed=args.sim_speed)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a protocol and write a run file",
                       description="Run a protocol; prints the file and run id it wrote.")
    p.add_argument("protocol", choices=list(PROTOCOLS), help="protocol name")
    add_connection_args(p)
    p.add_argument("--preset", metavar="NAME",
                   help="start from a named preset (see 'labapp presets'); --set overrides")
    p.add_argument("--set", dest="assignments", action="append", default=[],
                   metavar="NAME=VALUE", help="set a parameter (SI units; 5mA accepted)")
    p.add_argument("-o", "--output", required=True, type=Path, help="run file (.h5)")
    p.add_argument("--device-id", default="", help="device under test")
    p.add_argument("--sample", default="", help="sample name")
    p.add_argument("--operator", default="", help="who ran it")
    p.add_argument("--notes", default="", help="free text stored with the run")
    p.add_argument("--max-voltage", type=float, default=SafetyProfile.max_voltage,
                   help="safety profile: largest |V| allowed on this device (V)")
    p.add_argument("--max-compliance", type=float, default=SafetyProfile.max_compliance,
                   help="safety profile: largest compliance allowed on this device (A)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


class Progress:
    """Progress bar with ETA on stderr, fed from the run's documents.

    On a terminal the bar redraws in place; otherwise (logs, pipes) a line is printed at
    most every ``every`` seconds, so long unattended runs still show where they are.
    """

    def __init__(self, enabled: bool, stream=None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.every = every
        self.t0 = time.monotonic()
        self._last = -1e9
        self._open = False

    def line(self, frac: float) -> str:
        frac = min(1.0, max(1e-9, float(frac)))
        elapsed = time.monotonic() - self.t0
        eta = elapsed * (1 - frac) / frac
        bar = "#" * int(30 * frac)
        return f"[{bar:<30}] {100 * frac:5.1f} %  elapsed {elapsed:6.1f} s  ETA {eta:6.1f} s"

    def __call__(self, kind: str, payload) -> None:
        if not self.enabled:
            return
        if kind == "start":
            self.t0 = time.monotonic()
        elif kind == "progress":
            now = time.monotonic()
            if self.tty:
                print("\r" + self.line(payload), end="", file=self.stream, flush=True)
                self._open = True
            elif now - self._last >= self.every:
                print(self.line(payload), file=self.stream, flush=True)
                self._last = now
        elif kind == "stop" and self._open:
            print(file=self.stream)
            self._open = False


def main(args: argparse.Namespace) -> int:
    check_connection_args(args)
    cls = get_protocol(args.protocol)
    values = parse_assignments(cls.params, args.assignments)
    protocol = build(cls.name, args.preset, values)
    safety = SafetyProfile(args.max_voltage, args.max_compliance)
    protocol.check_safety(safety)  # before the instrument is touched
    instrument = open_instrument(args)
    engine = RunEngine(instrument, safety, {"device_id": args.device_id, "sample": args.sample,
                                            "operator": args.operator, "notes": args.notes,
                                            "preset": args.preset or ""})
    with engine.abort_on_signals():  # Ctrl-C / SIGTERM: abort, instrument safe, file closed
        result = engine.run(protocol, args.output, consumers=[Progress(not args.quiet)])
    print(f"{result.path} run {result.run_id} status {result.status}"
          + (f" ({result.reason})" if result.reason else ""))
    for problem in result.safe_state_problems:
        print(f"labapp run: WARNING: safe state not confirmed: {problem}", file=sys.stderr)
    if result.status == "failed" and getattr(args, "debug", False):
        print(result.traceback, file=sys.stderr)
    if result.outcome.get("converged") is False:  # e.g. write-verify missed its target
        return 1
    return 0 if result.ok else 1
