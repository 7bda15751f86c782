"""Publication figures from run data (matplotlib, Agg; units on every axis)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.conductance import conductance_g0  # noqa: E402
from analysis.runfile import RunData  # noqa: E402


def _title(run: RunData) -> str:
    return f"{run.protocol} · {run.run_id} · {run.status}"


def figure_iv(run: RunData) -> Figure:
    """I-V loop on a log |I| axis, coloured by cycle."""
    s = run.samples
    fig, ax = plt.subplots(figsize=(5.0, 3.8), layout="constrained")
    cycles = s.get("cycle", np.zeros(len(s["voltage_V"]), int))
    for c in np.unique(cycles):
        m = cycles == c
        ax.semilogy(s["voltage_V"][m], np.abs(s["current_A"][m]), lw=0.8,
                    label=f"cycle {int(c)}")
    if "compliance" in s and np.any(s["compliance"]):
        m = s["compliance"].astype(bool)
        ax.semilogy(s["voltage_V"][m], np.abs(s["current_A"][m]), ".", ms=2, color="k",
                    label="in compliance")
    ax.set_xlabel("Voltage V (V)")
    ax.set_ylabel("|Current| (A)")
    ax.set_title(_title(run), fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def figure_gv(run: RunData, g_max: float | None = None) -> Figure:
    """G/G0 versus V with dashed guide lines at every n/2 (the quantized levels)."""
    s = run.samples
    g = conductance_g0(s["voltage_V"], s["current_A"])
    fig, ax = plt.subplots(figsize=(5.0, 3.8), layout="constrained")
    finite = g[np.isfinite(g)]
    top = g_max if g_max is not None else (min(30.0, float(np.nanmax(finite))) if finite.size
                                           else 5.0)
    top = max(top, 1.0)
    for k in range(1, int(np.ceil(2 * top)) + 1):
        ax.axhline(k / 2, color="0.6" if k % 2 else "0.35", lw=0.5, ls="--", zorder=0)
    seg = s.get("segment")
    if seg is not None:
        for ids, label, colour in (((1, 2), "SET branch", "C3"), ((3, 4), "RESET branch", "C0")):
            m = np.isin(seg, ids)
            ax.plot(s["voltage_V"][m], np.abs(g[m]), ".", ms=1.5, color=colour, label=label)
        ax.legend(fontsize=7)
    else:
        ax.plot(s["voltage_V"], np.abs(g), ".", ms=1.5)
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("Voltage V (V)")
    ax.set_ylabel("Conductance G/G$_0$ (G$_0$ = 2e$^2$/h)")
    ax.set_title(_title(run), fontsize=8)
    return fig


FIGURES = {"iv": figure_iv, "gv": figure_gv}


def save_figures(run: RunData, names: list[str], outdir: str | Path) -> list[Path]:
    """Render the named figures as PNG into ``outdir``; returns the written paths."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        if name not in FIGURES:
            raise ValueError(f"figure {name!r} unknown; choose from {', '.join(FIGURES)}")
        fig = FIGURES[name](run)
        path = out / f"{run.run_id}_{name}.png"
        fig.savefig(path, dpi=150)
        plt.close(fig)
        paths.append(path)
    return paths
