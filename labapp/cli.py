"""``labapp`` command line: one module per subcommand under :mod:`labapp.commands`.

Every error a user can cause (bad parameter, unreachable instrument, unreadable file)
ends as one line on stderr naming what is wrong, and a non-zero exit code; a traceback
appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from drivers.validation import ParameterError
from protocols.versioning import software_version

#: subcommand modules, in the order ``--help`` lists them
COMMANDS = ("run", "rerun", "list_protocols", "presets", "analyze", "analyze_batch", "info",
            "validate", "export", "import_csv", "sim_server", "sim", "gui", "demo", "reproduce",
            "nn")

EXIT_USAGE = 2
EXIT_FAILED = 1


class Parser(argparse.ArgumentParser):
    """Usage errors as one line naming the problem and where help is, not a usage dump."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="labapp",
        description="Instrument control and analysis for quantized-conductance memristors "
        "(Keithley 4200A-SCS, simulated or real).",
    )
    parser.add_argument("--version", action="version",
                        version=f"labapp {software_version()['software_version']}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log engine messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        command_module(name).register(sub)
    return parser


def command_module(name: str):
    """The module of subcommand ``name``; a module missing (or one it needs) ends the
    program with one line naming it: every listed command is part of the install."""
    module = f"labapp.commands.{name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise SystemExit(f"labapp: command module {module} cannot be loaded: {exc} "
                         "(a broken install? pip install -e . again)") from exc


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("labapp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # output piped into e.g. ``head``, which closed early: not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - one line for users, traceback with --debug
        if args.debug:
            raise
        print(f"labapp {args.command}: error: {describe(exc)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ParameterError) else EXIT_FAILED


def describe(exc: BaseException) -> str:
    """One line naming what failed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return text


if __name__ == "__main__":
    sys.exit(main())
