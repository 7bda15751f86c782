"""Paper 000 Fig. 7c-e from training histories, in the project's figure style.

- ``fig7c_accuracy.png``: train and test accuracy (%) against epoch, one colour per
  training run (device, float baseline, ...), train dashed and test solid;
- ``fig7d_loss.png``: mean cross-entropy loss against epoch, same layout;
- ``fig7e_confusion.png``: the test-set confusion matrices of the first run at its chosen
  epochs, true class down, predicted class across, counts in the cells.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.figure_style import DOUBLE, SINGLE, new_figure
from analysis.neural.training import History

COLOURS = ("C0", "C3", "C2", "C1", "C4")


def _curves(histories: dict[str, History], train_key: str, test_key: str, ylabel: str,
            scale: float, out: Path, dpi: int, subtitle: str) -> Path:
    fig, ax = new_figure()
    for colour, (label, h) in zip(COLOURS, histories.items(), strict=False):
        ax.plot(h.epoch, np.asarray(getattr(h, test_key)) * scale, color=colour,
                label=f"{label} (test)")
        ax.plot(h.epoch, np.asarray(getattr(h, train_key)) * scale, color=colour, ls="--",
                lw=0.8, label=f"{label} (train)")
    ax.set_xlabel("Epoch (–)")
    ax.set_ylabel(ylabel)
    ax.set_title(subtitle, fontsize=7)
    ax.legend(frameon=False)
    fig.savefig(out, dpi=dpi)
    return out


def save_figures(histories: dict[str, History], classes: tuple[str, ...], outdir: Path,
                 subtitle: str, dpi: int = 150) -> list[Path]:
    """Write Fig. 7c, 7d and 7e for ``histories`` (the first one's confusion matrices)."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = [
        _curves(histories, "train_accuracy", "test_accuracy", "Accuracy (%)", 100.0,
                outdir / "fig7c_accuracy.png", dpi, subtitle),
        _curves(histories, "train_loss", "test_loss", "Mean loss (–)", 1.0,
                outdir / "fig7d_loss.png", dpi, subtitle),
    ]
    first = next(iter(histories.values()))
    if first.confusion:
        written.append(_confusion(first, classes, outdir / "fig7e_confusion.png", dpi,
                                  subtitle))
    return written


def _confusion(h: History, classes: tuple[str, ...], out: Path, dpi: int,
               subtitle: str) -> Path:
    epochs = sorted(h.confusion)
    width = min(DOUBLE, SINGLE * 0.9 * len(epochs) + 0.4)
    fig, axes = new_figure(1, len(epochs), width=width, height=SINGLE * 0.95)
    axes = np.atleast_1d(axes)
    names = [c[:5] for c in classes]
    for ax, epoch in zip(axes, epochs, strict=True):
        m = np.asarray(h.confusion[epoch])
        ax.imshow(m, cmap="Blues")
        total = m.sum()
        acc = np.trace(m) / total * 100 if total else 0.0
        ax.set_title(f"epoch {epoch}: {acc:.1f} %", fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=90 if len(names[0]) > 1 else 0)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("Predicted class (–)")
        top = m.max() if m.size else 0
        if len(names) <= 10:
            for (i, j), v in np.ndenumerate(m):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=4,
                            color="white" if v > top / 2 else "black")
    axes[0].set_ylabel("True class (–)")
    fig.suptitle(f"{h.device} · {subtitle}", fontsize=7)
    fig.savefig(out, dpi=dpi)
    return out
