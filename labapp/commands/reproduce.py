"""``labapp reproduce FIG``: one of paper 000's figures from simulated runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from labapp.reproduce import NN_EPOCHS, RECIPES, reproduce


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce", help="reproduce a figure of paper 000 on the simulated 4200A",
        description="Run the protocols a figure of paper 000 needs on the simulated 4200A "
        "(one instrument, so the device keeps its state between runs), write "
        "DIR/paper000-FIG.h5 and render the figure(s). Figures: "
        + "; ".join(f"{k}: {r.title}" for k, r in RECIPES.items()))
    p.add_argument("figure", choices=list(RECIPES), help="figure of paper 000")
    p.add_argument("-o", "--output", type=Path, default=Path("figures"),
                   help="output directory (default: figures)")
    p.add_argument("--seed", type=int, default=None,
                   help="simulated device seed (default: the recipe's device)")
    p.add_argument("--dpi", type=int, default=150, help="figure resolution")
    p.add_argument("--nn-epochs", type=int, default=None, metavar="N",
                   help="fig7 only: epochs of the Fig. 7c-e training on the digits set "
                   "(default 10; 0 skips it; needs pip install 'labapp[nn]')")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    nn_epochs = NN_EPOCHS if args.nn_epochs is None else args.nn_epochs
    if nn_epochs < 0:
        raise ValueError(f"--nn-epochs must be >= 0, got {nn_epochs}")
    for path in reproduce(args.figure, args.output, seed=args.seed, dpi=args.dpi,
                          nn_epochs=nn_epochs):
        if path.suffix == ".png":
            print(f"figure:   {path}")
    return 0
