"""``labapp nn RUNFILE``: paper 000 Fig. 7c-e, a CNN trained with the measured device.

Builds the weight-update model of the device from an ``ltp-ltd`` run, trains paper 000's
network with every weight a differential pair of such devices (NeuroSim's pulse scheme),
against a float baseline and an ideal linear device with as many steps, and writes the
accuracy and loss per epoch, confusion matrices and Fig. 7c-e (see docs/nn.md). Needs the
optional extra: ``pip install 'labapp[nn]'``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labapp.commands.run import number

DATASETS = ("digits", "mnist", "cifar10")
DEVICES = ("measured", "ideal", "float")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _epochs_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of epochs (e.g. 100,200,300)") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"epochs must be >= 1, got {text!r}")
    return values


def _positive_float(text: str) -> float:
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nn", help="paper 000 Fig. 7c-e: train its CNN with the measured device as weights",
        description="Train paper 000's CNN (16 filters 3x3, 2x2 max-pool, 32 filters 3x3, "
        "2x2 max-pool, dense 10) with every weight a differential pair of the device measured "
        "by an ltp-ltd run, updated by whole pulses along the measured potentiation and "
        "depression curves; by default also a float baseline and an ideal linear device with "
        "the same number of steps. Writes per-epoch accuracy and loss (train and test), "
        "confusion matrices, nn-summary.json and fig7c/d/e PNGs into -o DIR. Needs "
        "pip install 'labapp[nn]'. Data sets come from local files only: digits ships with "
        "scikit-learn; mnist needs the four IDX files and cifar10 the python batches in "
        "--data-dir.")
    p.add_argument("file", type=Path, help="run file (.h5) or CSV export holding an ltp-ltd run")
    p.add_argument("--run", default=None, metavar="ID",
                   help="the ltp-ltd run (default: the last ltp-ltd run of the file)")
    p.add_argument("--dataset", choices=DATASETS, default="digits",
                   help="image set (default digits: scikit-learn's 8x8 digits in a 28x28 frame)")
    p.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                   help="folder with the MNIST IDX files or the CIFAR-10 python batches")
    p.add_argument("--epochs", type=_positive_int, default=300,
                   help="training epochs (default 300, as paper 000)")
    p.add_argument("--device", action="append", choices=DEVICES, default=None,
                   help="training run(s): measured device, ideal linear device, float "
                   "weights; repeat for several (default: all three)")
    p.add_argument("--confusion-epochs", type=_epochs_list, default=(100, 200, 300),
                   metavar="E1,E2,...",
                   help="epochs with a confusion matrix (default 100,200,300; the last "
                   "epoch if none of them is reached)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="default 32")
    p.add_argument("--learning-rate", type=_positive_float, default=0.05,
                   help="SGD learning rate (default 0.05, momentum 0.9)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and shuffling seed")
    p.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                   help="use only the first N training images (quick looks at large sets)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                   help="output folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:  # deferred: JAX loads only when training runs (start-up time; an optional extra)
        from analysis.neural.experiment import run_experiment
        from analysis.neural.training import TrainConfig
    except ImportError as exc:
        raise RuntimeError(f"labapp nn needs the optional extra ({exc.name} is missing): "
                           "pip install 'labapp[nn]'") from exc
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.learning_rate, seed=args.seed,
                         confusion_epochs=args.confusion_epochs)
    summary = run_experiment(
        args.file, args.output, run_id=args.run, dataset=args.dataset,
        data_dir=args.data_dir, devices=args.device or DEVICES, config=config,
        n_train=args.limit, log=None if args.json else lambda s: print(s, file=sys.stderr))
    if args.json:
        print(json.dumps(summary))
        return 0
    m = summary["device_model"]
    print(f"device:   {m['p_max']} steps, G {m['g_min_g0']:.2f}-{m['g_max_g0']:.2f} G0, "
          f"NL {m['nl_potentiation']:.2f} / {m['nl_depression']:.2f}, "
          f"c2c {m['sigma_c2c'] * 100:.1f} %, {m['distinct_states']} states visited")
    for kind, r in summary["runs"].items():
        print(f"{kind:9s} test accuracy {r['final_test_accuracy'] * 100:.1f} % "
              f"(best {r['best_test_accuracy'] * 100:.1f} %), loss {r['final_test_loss']:.3f}")
    for f in summary["files"]:
        print(f"written:  {f}")
    return 0
