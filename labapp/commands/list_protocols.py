"""``labapp protocols [NAME]``: what each protocol does and every parameter it takes.

The table is built from the protocols' own :class:`~protocols.parameters.Param`
declarations (the ones validation, the GUI forms and the run file's units use), so it
cannot drift from what ``labapp run`` accepts. ``labapp run PROTOCOL --help`` prints the
same table.
"""

from __future__ import annotations

import argparse
import textwrap

from protocols import PROTOCOLS, get_protocol, load_presets
from protocols.base import Protocol
from protocols.parameters import Param


def default_text(p: Param) -> str:
    """The default as ``--set`` would take it back."""
    if p.kind == "floats":
        return ",".join(f"{v:g}" for v in p.default) or "(empty)"
    if p.kind == "float":
        return f"{p.default:g}"
    if p.kind == "bool":
        return "true" if p.default else "false"
    return str(p.default)


def parameter_table(cls: type[Protocol], width: int = 100) -> str:
    """Every parameter of ``cls``: name, unit, default, allowed range, then its description."""
    rows = [(p.name, p.unit or "-", default_text(p), p.allowed()) for p in cls.params]
    head = ("parameter", "unit", "default", "allowed")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = [f"parameters of {cls.name} ({cls.title}); set with --set NAME=VALUE, SI units, "
             "prefixes accepted (5mA, 20ms, 150mV):",
             "  " + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    indent = " " * 6
    for p, row in zip(cls.params, rows, strict=True):
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                     .rstrip())
        if p.doc:
            lines.extend(textwrap.wrap(p.doc, width, initial_indent=indent,
                                       subsequent_indent=indent))
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("protocols", help="list protocols, or one protocol's parameters",
                       description="Without NAME: the protocols. With NAME: every parameter "
                       "with unit, default, allowed range and description, its data streams "
                       "and its presets.")
    p.add_argument("name", nargs="?", metavar="NAME", help="a protocol, e.g. dc-sweep")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    presets = load_presets().values()
    if not args.name:
        width = max(len(n) for n in PROTOCOLS)
        for name, cls in PROTOCOLS.items():
            n = sum(1 for pr in presets if pr.protocol == name)
            print(f"{name:<{width}}  {cls.title}  ({len(cls.params)} parameters, {n} presets)")
        print("\n'labapp protocols NAME' (or 'labapp run NAME --help') lists a protocol's "
              "parameters")
        return 0
    cls = get_protocol(args.name)
    doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    print(f"{cls.name}: {doc}")
    print()
    print(parameter_table(cls))
    print()
    print("streams written: " + "; ".join(f"{s} ({', '.join(cols)})"
                                          for s, cols in cls.streams.items()))
    names = [pr.name for pr in presets if pr.protocol == cls.name]
    print("presets: " + (", ".join(names) if names else "none"))
    return 0
