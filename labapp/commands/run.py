"""``labapp run PROTOCOL``: run a protocol on the simulator or a real 4200A."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from drivers.validation import ParameterError, check_range
from labapp.commands.list_protocols import parameter_table
from labapp.instrument_choice import ENV, InstrumentChoice, choose, connect
from labcore.run_json import provenance
from labcore.runfile import claim
from protocols import (
    PROTOCOLS,
    EventKind,
    Pause,
    RunEngine,
    SafetyProfile,
    build,
    get_protocol,
)
from protocols.parameters import Param, parse_assignments, parse_quantity

#: file name endings a run file may have (it is HDF5, whatever the name says)
RUN_FILE_SUFFIXES = (".h5", ".hdf5")


def run_file_path(text: str) -> Path:
    """``-o`` value: a run file is HDF5, so a name like ``out.csv`` is refused with a hint."""
    p = Path(text)
    if p.suffix.lower() not in RUN_FILE_SUFFIXES:
        hint = (f"; for CSV, run to {p.with_suffix('.h5')} and then "
                f"'labapp export {p.with_suffix('.h5')} --csv DIR'"
                if p.suffix.lower() == ".csv" else "")
        raise argparse.ArgumentTypeError(
            f"{text!r}: a run file is HDF5 and its name must end in .h5 "
            f"(e.g. {p.with_suffix('.h5')}){hint}")
    return p


def quantity(name: str, unit: str):
    """argparse type: a number in ``unit``, SI prefix and unit accepted (``5mA``)."""
    param = Param(name, 0.0, unit)

    def convert(text: str) -> float:
        try:
            return parse_quantity(param, text)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = f"quantity in {unit}"
    return convert


def number(text: str) -> float:
    """argparse type: a plain number (no unit)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def whole_number(text: str) -> int:
    """argparse type: an integer, also written as ``1e3`` (refused when not whole)."""
    value = number(text)
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


class ProtocolHelp(argparse.Action):
    """``-h``: the generic options, and with a protocol named before it, its parameters."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):  # noqa: A002 - argparse's keyword
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        name = getattr(namespace, "protocol", None)
        if name in PROTOCOLS:
            print()
            print(parameter_table(PROTOCOLS[name]))
        else:
            print(f"\nprotocols: {', '.join(PROTOCOLS)}; 'labapp run PROTOCOL --help' lists "
                  "a protocol's parameters")
        parser.exit()


def add_connection_args(p: argparse.ArgumentParser) -> None:
    """--sim / --resource / --seed / --sim-speed, shared by commands that connect."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sim", action="store_true",
                   help="use the simulated 4200A in this process (every output then says "
                   "SIMULATED)")
    g.add_argument("--resource", metavar="RES",
                   help="VISA resource of a 4200A, e.g. TCPIP::192.168.0.10::1225::SOCKET "
                   f"(default: ${ENV} or 'resource' in ~/.config/labapp/config.toml; "
                   "'sim' there means the simulator)")
    p.add_argument("--seed", type=whole_number, default=None,
                   help="simulator seed (reproducible runs; default: a fresh seed per run, "
                   "stored in the run file)")
    p.add_argument("--sim-speed", type=float, default=None, metavar="X",
                   help="pace the simulator at X times real time (default: as fast as possible)")


def check_connection_args(args: argparse.Namespace) -> None:
    """Reject simulator options that would otherwise be ignored or fail later, unnamed."""
    if args.sim_speed is not None:
        check_range("--sim-speed", args.sim_speed, 0.0, 1e6, "x real time", lo_open=True)
    if args.seed is not None and args.seed < 0:
        raise ParameterError("--seed", args.seed, "an integer >= 0")


def instrument_choice(args: argparse.Namespace, command: str = "labapp run") -> InstrumentChoice:
    """The explicit instrument choice of a command (see :mod:`labapp.instrument_choice`)."""
    return choose(args.sim, args.resource, args.seed, command)


def open_instrument(args: argparse.Namespace, choice: InstrumentChoice | None = None):
    check_connection_args(args)
    choice = choice or instrument_choice(args)
    if not choice.sim:
        return connect(choice.resource)
    return connect(sim=True, seed=choice.seed, speed=args.sim_speed)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a protocol and write a run file", add_help=False,
                       usage="labapp run PROTOCOL [options] [--set NAME=VALUE ...]",
                       description="Run a protocol; prints the file and run id it wrote. "
                       "'labapp run PROTOCOL --help' lists the protocol's parameters with "
                       "unit, default and allowed range. Ctrl-C or SIGTERM abort safely; "
                       + PAUSE_HELP + ".")
    p.add_argument("-h", "--help", action=ProtocolHelp,
                   help="show this help (with PROTOCOL: also its parameters) and exit")
    p.add_argument("protocol", choices=list(PROTOCOLS), metavar="PROTOCOL",
                   help=f"one of: {', '.join(PROTOCOLS)}")
    add_connection_args(p)
    p.add_argument("--preset", metavar="NAME|FILE.json",
                   help="start from a preset: a shipped name (see 'labapp presets') or a "
                   "preset file; --set overrides")
    p.add_argument("--set", dest="assignments", action="append", default=[],
                   metavar="NAME=VALUE", help="set a parameter (SI units; 5mA accepted)")
    p.add_argument("-o", "--output", required=True, type=run_file_path,
                   help="run file (.h5, HDF5; 'labapp export' writes CSV)")
    p.add_argument("--device-id", default="", help="device under test")
    p.add_argument("--sample", default="", help="sample name")
    p.add_argument("--operator", default="", help="who ran it")
    p.add_argument("--notes", default="", help="free text stored with the run")
    p.add_argument("--max-voltage", type=quantity("--max-voltage", "V"),
                   default=SafetyProfile.max_voltage, metavar="V",
                   help="safety profile: largest |V| allowed on this device "
                   f"(default {SafetyProfile.max_voltage:g} V; e.g. 3 or 3V)")
    p.add_argument("--max-compliance", type=quantity("--max-compliance", "A"),
                   default=SafetyProfile.max_compliance, metavar="A",
                   help="safety profile: largest compliance allowed on this device "
                   f"(default {SafetyProfile.max_compliance:g} A; e.g. 0.005 or 5mA)")
    p.add_argument("--quiet", action="store_true",
                   help="no start line and no progress bar (the result line stays)")
    p.set_defaults(func=main)


def simulated_tag(instrument) -> str:
    """`` [SIMULATED, seed N]`` for the simulator (in-process or ``labapp sim-server``,
    known by its ``SIM<seed>`` serial), else empty."""
    if not instrument.simulated:
        return ""
    _, seed = provenance({}, {"idn": instrument.idn, "simulated": True})
    return " [SIMULATED" + (f", seed {seed}" if seed is not None else "") + "]"


def start_line(protocol, choice: InstrumentChoice, output: Path, run_id: str,
               instrument=None) -> str:
    """What runs, on what, with which compliances (stderr, as the run starts)."""
    comp = protocol.compliance_line()
    what = choice.describe()
    if instrument is not None and instrument.simulated and not choice.sim:
        what += simulated_tag(instrument)  # a resource that turned out to be the simulator
    return (f"labapp run: {protocol.name} on {what} -> {output} run {run_id}"
            + (f"; compliance: {comp}" if comp else ""))


class Progress:
    """Progress bar with samples and ETA on stderr, fed from the run's documents.

    On a terminal the bar redraws in place; otherwise (logs, pipes) a plain line is printed
    at most every ``every`` seconds, so long unattended runs still show where they are.
    Samples count the main stream's rows, including the points of an instrument test still
    running (``live`` documents, about every 0.25 s), so the count moves during a long
    test instead of jumping when it ends.
    """

    def __init__(self, enabled: bool, stream=None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.every = every
        self.t0 = time.monotonic()
        self._last = -1e9
        self._open = False
        #: Ctrl-Z toggles pause (stdin is a terminal)
        self.tty_keys = False
        self.stream_name = "samples"
        self.stored = 0  #: rows of the main stream in the file
        self.shown = 0  #: rows of the running test shown live, not yet in the file
        self.frac = 0.0

    @property
    def samples(self) -> int:
        return self.stored + self.shown

    def line(self, frac: float) -> str:
        frac = min(1.0, max(1e-9, float(frac)))
        elapsed = time.monotonic() - self.t0
        eta = elapsed * (1 - frac) / frac
        bar = "#" * int(30 * frac)
        return (f"[{bar:<30}] {100 * frac:5.1f} %  {self.samples:>8d} samples  "
                f"elapsed {elapsed:6.1f} s  ETA {eta:6.1f} s")

    def _show(self) -> None:
        now = time.monotonic()
        if self.tty:
            print("\r" + self.line(self.frac), end="", file=self.stream, flush=True)
            self._open = True
        elif now - self._last >= self.every:
            print(self.line(self.frac), file=self.stream, flush=True)
            self._last = now

    def __call__(self, kind: EventKind, payload: Any) -> None:
        kind = EventKind(kind)
        if kind is EventKind.PAUSED or kind is EventKind.RESUMED:
            self._pause_line(kind, payload)  # the answer to the user's key/signal: always shown
            return
        if not self.enabled:
            return
        if kind is EventKind.START:
            self.t0 = time.monotonic()
            streams = list(payload.protocol.streams or ["samples"])
            self.stream_name = "samples" if "samples" in streams else streams[0]
        elif kind is EventKind.PROGRESS:
            self.frac = float(payload)
            self._show()
        elif kind in (EventKind.LIVE, EventKind.RECORD) and payload.stream == self.stream_name:
            self._count(kind, len(next(iter(payload.data.values()), ())))
        elif kind is EventKind.STOP and self._open:
            print(file=self.stream)
            self._open = False

    def _count(self, kind: EventKind, n: int) -> None:
        if kind is EventKind.LIVE:
            self.shown += n
        else:  # the test's rows reach the file: those shown live are among them
            self.stored += n
            self.shown = max(0, self.shown - n)

    def _pause_line(self, kind: EventKind, event: Pause) -> None:
        if self._open:
            print(file=self.stream)
            self._open = False
        if kind is EventKind.PAUSED:
            how = "Ctrl-Z again or " if self.tty_keys else ""
            print(f"labapp run: paused at {100 * event.at:.1f} % (outputs held, nothing "
                  f"sent); resume: {how}kill -USR2 {os.getpid()} (SIGUSR2)",
                  file=self.stream, flush=True)
        else:
            self.t0 += event.seconds  # elapsed and ETA leave the pause out
            print(f"labapp run: resumed after {event.seconds:.1f} s", file=self.stream,
                  flush=True)


#: what pauses and resumes ``labapp run`` (documented in --help and README)
PAUSE_HELP = ("pause at the next step: kill -USR1 PID (SIGUSR1) or, on a terminal, Ctrl-Z; "
              "resume: kill -USR2 PID (SIGUSR2) or Ctrl-Z again")


def main(args: argparse.Namespace) -> int:
    check_connection_args(args)
    cls = get_protocol(args.protocol)
    values = parse_assignments(cls.params, args.assignments, cls.name)
    protocol = build(cls.name, args.preset, values)
    safety = SafetyProfile(args.max_voltage, args.max_compliance)
    protocol.check_safety(safety)  # before the instrument is touched
    choice = instrument_choice(args)
    # one writer per file: refuse a file another run, import or repair holds (or that is
    # no run file) before connecting, so a refused run never touches the instrument
    lock = claim(args.output, f"labapp run {protocol.name}")
    try:
        instrument = open_instrument(args, choice)
        engine = RunEngine(instrument, safety, {"device_id": args.device_id,
                                                "sample": args.sample,
                                                "operator": args.operator,
                                                "notes": args.notes,
                                                "preset": args.preset or ""})

        def announce(kind: EventKind, payload: Any) -> None:
            # once the run file is open (a file error stays the only line)
            if kind is EventKind.START and not args.quiet:
                print(start_line(protocol, choice, args.output, payload.run_id,
                                 instrument), file=sys.stderr, flush=True)

        progress = Progress(not args.quiet)
        # Ctrl-Z pauses/resumes instead of suspending the process while it holds the
        # instrument
        progress.tty_keys = sys.stdin is not None and sys.stdin.isatty()
        toggle = (signal.SIGTSTP,) if progress.tty_keys else ()
        # Ctrl-C / SIGTERM: abort, instrument safe, file closed; SIGUSR1/SIGUSR2: pause/resume
        with engine.abort_on_signals(), engine.pause_on_signals(toggle):
            result = engine.run(protocol, args.output, consumers=[announce, progress],
                                lock=lock)
    finally:
        lock.release()  # idempotent; the run released it when it closed the file
    tag = simulated_tag(instrument)
    print(f"{result.path} run {result.run_id} status {result.status}"
          + (f" ({result.reason})" if result.reason else "") + tag)
    for problem in result.safe_state_problems:
        print(f"labapp run: WARNING: safe state not confirmed: {problem}", file=sys.stderr)
    if result.status == "failed" and getattr(args, "debug", False):
        print(result.traceback, file=sys.stderr)
    if result.converged is False:  # e.g. write-verify missed its target
        return 1
    return 0 if result.ok else 1
