"""``labapp presets``: list the shipped parameter presets (or show one)."""

from __future__ import annotations

import argparse
import json

from protocols import get_preset, load_presets


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list protocol presets (paper 000 figures, forming, ...)",
                       description="List presets; use one with 'labapp run PROTOCOL --preset "
                       "NAME'. With a NAME, print its values.")
    p.add_argument("name", nargs="?", help="show this preset's values")
    p.add_argument("--protocol", help="only presets of this protocol")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.name:
        pre = get_preset(args.name)
        pre.resolved()  # validates it
        print(f"{pre.name}  ({pre.protocol})  {pre.title}")
        if pre.source:
            print(f"  source: {pre.source}")
        for key, value in pre.values.items():
            print(f"  --set {key}={json.dumps(value) if isinstance(value, list) else value}")
        return 0
    presets = [p for p in load_presets().values()
               if not args.protocol or p.protocol == args.protocol]
    width = max((len(p.name) for p in presets), default=10)
    for p in presets:
        print(f"{p.name:<{width}}  {p.protocol:<13} {p.title}")
    return 0
