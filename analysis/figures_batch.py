"""Figures of a batch report: aggregate histograms, switching CDFs across runs, and the
top conductance level versus compliance current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from analysis.figure_style import DPI, G_LABEL, SINGLE, new_figure, styled
from analysis.figures_states import cdf_axes, histogram_axes
from analysis.histograms import fit_mixture


def _sim_note(report: Any) -> str:
    """`` · SIMULATED`` (all runs) or `` · n of m SIMULATED`` for a figure title."""
    n = report.simulated_runs
    if not n:
        return ""
    return " · SIMULATED" if n == len(report.runs) else f" · {n} of {len(report.runs)} SIMULATED"


def batch_figures(report: Any, agg: dict[str, Any], out: Path) -> list[Path]:
    """Render the batch figures that the data supports; returns the written files."""
    written = []
    if report.histogram is not None and report.histogram.total:
        fig, (a1, a2) = new_figure(2, 1, width=SINGLE, height=1.3 * SINGLE)
        histogram_axes(a1, report.histogram, fit_mixture(report.histogram),
                       label=f"all samples, {len(report.runs)} runs")
        a1.set_title(f"aggregate of {report.files} files" + _sim_note(report), fontsize=7)
        sh = report.state_hist
        if sh is not None and sh.total:
            histogram_axes(a2, sh, fit_mixture(sh) if sh.total >= 20 else None,
                           label=f"{sh.total} plateaus")
        else:
            a2.set_axis_off()
        written.append(_save(styled(fig), out / "aggregate_histogram.png"))
    vs, vr = agg.get("v_set_jump_V", []), agg.get("v_reset_jump_V", [])
    if vs or vr:
        fig, ax = new_figure()
        cdf_axes(ax, [(np.asarray(vs, float), "V$_{SET}$", "-"),
                      (np.abs(np.asarray(vr, float)), "|V$_{RESET}$|", "-")])
        ax.set_title(f"first-jump definition, {len(report.runs)} runs" + _sim_note(report),
                     fontsize=7)
        written.append(_save(styled(fig), out / "switching_cdf.png"))
    tc = agg.get("top_level_vs_compliance")
    if tc and len(tc.get("compliance_A", [])) >= 2:
        fig, ax = new_figure()
        cc = np.asarray(tc["compliance_A"]) * 1e3
        ax.plot(cc, tc["top_g0"], "o", ms=3, label="run (median over cycles)")
        if "slope_g0_per_A" in tc:
            xs = np.linspace(0, cc.max() * 1.05, 50)
            ax.plot(xs, tc["intercept_g0"] + tc["slope_g0_per_A"] * xs * 1e-3, "--",
                    label=f"linear fit, {tc['slope_g0_per_A'] * 1e-3:.3g} G$_0$/mA")
        ax.set_xlabel("Compliance current I$_{CC}$ (mA)")
        ax.set_ylabel("Top level " + G_LABEL)
        ax.legend(frameon=False)
        written.append(_save(styled(fig), out / "top_level_vs_compliance.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
