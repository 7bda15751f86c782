"""Shared look of the publication figures: sizes, fonts, n/2 guide lines, labels.

Figures are sized for a journal column (3.4 in single, 7.0 in double), 8-pt text,
saved at 300 dpi; every axis label carries its unit in parentheses, "(–)" for
dimensionless quantities, so a figure can be read without its caption.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.provenance import label

SINGLE = 3.4
DOUBLE = 7.0
DPI = 300

RC = {
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.linewidth": 0.7,
    "lines.linewidth": 1.0,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "savefig.dpi": DPI,
}

G_LABEL = "Conductance G (G$_0$)"
AXIS_LABELS = {
    "V": "Voltage V (V)",
    "pulse": "Pulse number i (–)",
    "s": "Time t (s)",
}


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = SINGLE,
               height: float | None = None, **kw) -> tuple[Figure, np.ndarray | Axes]:
    """A constrained-layout figure (nrows x ncols axes) in the house style.

    The style is set in matplotlib's rcParams (fonts and ticks are read when text is
    drawn, after this returns); analysis figures are the only plots made by the
    processes that import this module.

    The figure is not registered with pyplot, so no GUI backend is involved whatever
    backend the caller chose (MPLBACKEND, ``matplotlib.use``): ``savefig`` renders PNG
    and PDF with matplotlib's own canvases, a GUI embeds the figure in its canvas, and
    the figure is freed with its last reference.
    """
    matplotlib.rcParams.update(RC)
    fig = Figure(figsize=(width, height or 0.78 * width), layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kw)


def half_integer_lines(ax: Axes, top: float, *, horizontal: bool = True, bottom: float = 0.0,
                       label: bool = False) -> None:
    """Light dashed guide lines at every n/2 G0 from ``bottom`` to ``top`` (integers a
    little darker), optionally labelled. Callers pass the range the data cover, so no
    guide runs where there is nothing to compare with."""
    for k in range(max(1, int(np.ceil(2 * bottom))), int(np.floor(2 * top)) + 1):
        style = {"color": "0.6" if k % 2 == 0 else "0.8", "lw": 0.3, "ls": (0, (4, 4)),
                 "zorder": 0}
        (ax.axhline if horizontal else ax.axvline)(k / 2, **style)
        if label and top - bottom <= 12 and k % 2 == 0:
            if horizontal:
                ax.annotate(f"{k // 2}", (1.0, k / 2), xycoords=("axes fraction", "data"),
                            fontsize=6, color="0.35", va="center", ha="left")


def title(ax: Axes, run, extra: str = "") -> None:
    """Small title naming protocol and run, so a figure file identifies its source
    (and says SIMULATED, with the seed, for simulator data)."""
    proto = run.protocol or "csv"
    sim = label(run)
    text = f"{proto} · {run.run_id}" + (f" · {extra}" if extra else "")
    if sim:
        ax.set_title(f"{text} · {sim}", fontsize=7, color="#b03a2e")
    else:
        ax.set_title(text, fontsize=7)


def styled(fig: Figure) -> Figure:
    """Apply tick and font styling to every axes of a finished figure."""
    for ax in fig.axes:
        ax.tick_params(labelsize=7, direction="in")
    return fig
