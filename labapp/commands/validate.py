"""``labapp validate FILE``: check run files against the schema, say what is wrong."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labcore.validate import errors, validate_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help="check run files against the schema (exit 1 if damaged)",
        description="Check run files against the labapp-run schema: required attributes, "
        "units, equal column lengths, monotone time, parameters, NeXus attributes and "
        "links. Prints one line per problem (kind in brackets, HDF5 path, what is wrong); "
        "exit code 0 when every file is valid, 1 otherwise. Warnings (a run cut off by a "
        "crash) do not fail unless --strict. info, analyze and analyze-batch run the same "
        "checks when they open a file.")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="run file(s) (.h5)")
    p.add_argument("--strict", action="store_true", help="warnings fail too")
    p.add_argument("--json", action="store_true",
                   help="print {file: [{code, where, message, severity}]} as JSON")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    report, bad = {}, False
    for path in args.files:
        problems = validate_file(path)
        report[str(path)] = [p.as_dict() for p in problems]
        failing = problems if args.strict else errors(problems)
        bad = bad or bool(failing)
        if args.json:
            continue
        if not problems:
            print(f"{path}: valid")
            continue
        verdict = "INVALID" if failing else "valid with warnings"
        print(f"{path}: {verdict}", file=sys.stdout)
        for p in problems:
            print(f"  {p}")
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    return 1 if bad else 0
