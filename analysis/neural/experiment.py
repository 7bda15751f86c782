"""One ``labapp nn`` experiment: device model from a run, training, files and summary.

Writes into the output folder:

- ``nn-summary.json``: data set, settings, the device model, and per training run the
  per-epoch accuracy and loss (train and test) and the confusion matrices;
- ``nn-history-<device>.csv``: the per-epoch figures of each training run as plain CSV
  (the project's one CSV writer, :func:`labcore.csv_io.write_csv`);
- ``fig7c_accuracy.png``, ``fig7d_loss.png``, ``fig7e_confusion.png``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from analysis.neural import datasets
from analysis.neural import device_model as dm
from labcore.csv_io import write_csv

#: training runs ``--device`` can ask for, in the order they are trained and plotted
DEVICE_KINDS = ("measured", "ideal", "float")


def device_for(kind: str, measured: dm.DeviceModel) -> dm.DeviceModel | None:
    """The device of a training run: the measured one, its ideal twin, or None (float)."""
    if kind == "measured":
        return measured
    if kind == "ideal":
        return dm.ideal(measured.p_max, g_min_g0=measured.g_min_g0,
                        g_max_g0=measured.g_max_g0)
    if kind == "float":
        return None
    raise ValueError(f"unknown device {kind!r}; choose from {', '.join(DEVICE_KINDS)}")


def run_experiment(run_file: str | Path, outdir: str | Path, *, run_id: str | None = None,
                   dataset: str = "digits", data_dir: str | Path | None = None,
                   devices: Sequence[str] = DEVICE_KINDS, config=None,
                   n_train: int | None = None, n_test: int | None = None,
                   dpi: int = 150, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train paper 000's network with the device of ``run_file`` and write the results.

    Everything that can be refused (run, data set, settings) is checked before training.
    Returns the summary that ``nn-summary.json`` holds, with ``files`` listing what was
    written.
    """
    # JAX and matplotlib load only when an experiment runs (start-up time of the CLI)
    from analysis.neural.figures import save_figures
    from analysis.neural.training import TrainConfig

    config = config or TrainConfig()
    unknown = [d for d in devices if d not in DEVICE_KINDS]
    if unknown or not devices:
        raise ValueError(f"unknown device {', '.join(unknown) or '(none)'}; choose from "
                         f"{', '.join(DEVICE_KINDS)}")
    measured = dm.from_run(run_file, run_id)
    data = datasets.load(dataset, data_dir).subset(n_train, n_test)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    histories = {kind: _train_one(data, kind, measured, config, log)
                 for kind in dict.fromkeys(devices)}
    files = []
    for kind, h in histories.items():
        files.append(write_csv(out / f"nn-history-{kind}.csv", {
            "epoch": h.epoch, "train_loss": h.train_loss, "train_accuracy": h.train_accuracy,
            "test_loss": h.test_loss, "test_accuracy": h.test_accuracy}))
    subtitle = f"{data.name}, {measured.p_max} steps, NL {measured.nl_potentiation:.2f}/" \
               f"{measured.nl_depression:.2f}"
    files += save_figures(histories, data.classes, out, subtitle, dpi=dpi)
    summary = _summary(data, config, measured, histories)
    summary_path = out / "nn-summary.json"
    files.append(summary_path)
    summary["files"] = [str(f) for f in files]
    summary_path.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def _train_one(data: datasets.Dataset, kind: str, measured: dm.DeviceModel, config: Any,
               log: Callable[[str], None] | None) -> Any:
    """One training run (``kind`` of device), its progress logged about 20 times."""
    from analysis.neural.training import train  # JAX: see run_experiment

    def progress(epoch: int, h: Any) -> None:
        every = max(1, config.epochs // 20)
        if log and (epoch % every == 0 or epoch == config.epochs):
            log(f"{kind}: epoch {epoch}/{config.epochs} test accuracy "
                f"{h.test_accuracy[-1] * 100:.1f} % loss {h.test_loss[-1]:.3f} "
                f"({h.seconds / epoch:.2f} s/epoch)")

    return train(data, device_for(kind, measured), config, progress)


def _summary(data: datasets.Dataset, config: Any, measured: dm.DeviceModel,
             histories: dict[str, Any]) -> dict[str, Any]:
    """What ``nn-summary.json`` holds (without the file list)."""
    return {
        "dataset": data.name,
        "n_train": int(data.x_train.shape[0]),
        "n_test": int(data.x_test.shape[0]),
        "image_shape": list(data.image_shape),
        "classes": list(data.classes),
        "config": {**asdict(config), "confusion_epochs": list(config.confusion_at())},
        "device_model": measured.as_dict(),
        "runs": {kind: {**h.as_dict(),
                        "final_test_accuracy": h.test_accuracy[-1],
                        "best_test_accuracy": max(h.test_accuracy),
                        "final_test_loss": h.test_loss[-1]}
                 for kind, h in histories.items()},
    }
