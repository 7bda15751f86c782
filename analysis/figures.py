"""Publication figures from run data (matplotlib, Agg; units on every axis).

The registry :data:`FIGURES` maps the names of ``labapp analyze --figure`` to functions
taking a :class:`analysis.summary.RunAnalysis` (so every figure shares the run's cached
results). I-V and G-V live here; histogram, plateau, switching, retention, endurance and
RTN figures in :mod:`analysis.figures_states`; pulse, polar, time-lag and LTP/LTD
figures in :mod:`analysis.figures_pulses`.

=========  =====================================================  ==================
name       what                                                   paper 000
=========  =====================================================  ==================
iv         |I| vs V on a log axis, per cycle, compliance marked   Fig. 1e, 2a/d/g
gv         G/G0 vs V, SET and RESET branches, n/2 lines, plateaus Fig. 1f-g, 2b-i
histogram  trace and state histograms with Gaussian mixture       (papers 002, 004)
plateaus   level trace with labelled plateaus                     Fig. 1f-g, 5, S12
pulses     per-pulse levels (waveforms + top portion), I_i/I_1    Fig. 5, 6a-d, S11-12
polar      r = I_i/I_1, angle (i-1)pi and the 2pi(i-1)/N variant  Fig. 6e
timelag    I_{i+1} vs I_i with unity line, density map            Fig. 6f
ltp-ltd    potentiation/depression with NeuroSim fit              Fig. 7b, S13
retention  G(t) log-log with power-law drift and extrapolation    Fig. S5
cdf        V_SET / V_RESET cumulative distributions               (paper 001, 002)
endurance  LRS/HRS per cycle                                      (papers 001, 002)
rtn        RTN trace, digitised levels, dwell times               (papers 002, 003)
compliance top level per cycle vs SET compliance (ladder runs)     Fig. 2
=========  =====================================================  ==================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.figure_style import (  # noqa: E402
    DPI,
    G_LABEL,
    SINGLE,
    half_integer_lines,
    new_figure,
    styled,
    title,
)
from analysis.figures_pulses import (  # noqa: E402
    figure_ltp_ltd,
    figure_polar,
    figure_pulses,
    figure_timelag,
)
from analysis.figures_states import (  # noqa: E402
    NotApplicable,
    figure_cdf,
    figure_endurance,
    figure_histogram,
    figure_plateaus,
    figure_retention,
    figure_rtn,
)
from analysis.options import figure_supported  # noqa: E402
from analysis.plateaus import KIND_QUANTIZED  # noqa: E402
from analysis.summary import RunAnalysis  # noqa: E402
from labcore.runfile import RunData  # noqa: E402

SET_SEGMENTS = (1, 2)
RESET_SEGMENTS = (3, 4)


def _analysis(obj: RunAnalysis | RunData) -> RunAnalysis:
    return obj if isinstance(obj, RunAnalysis) else RunAnalysis(obj)


def figure_iv(an: RunAnalysis | RunData) -> Figure:
    """I-V loop on a log |I| axis, coloured by cycle, compliance-limited points marked."""
    an = _analysis(an)
    s = an.samples
    v = np.asarray(s["voltage_V"], float)
    i = np.abs(np.asarray(s["current_A"], float))
    fig, ax = new_figure()
    cycles = np.asarray(s.get("cycle", np.zeros(v.size, int)))
    ids = np.unique(cycles)
    cmap = plt.get_cmap("viridis", max(ids.size, 2))
    for n, c in enumerate(ids):
        m = cycles == c
        ax.semilogy(v[m], np.where(i[m] > 0, i[m], np.nan), lw=0.7, color=cmap(n),
                    label=f"cycle {int(c) + 1}" if ids.size <= 8 else None)
    if "compliance" in s and np.any(s["compliance"]):
        m = np.asarray(s["compliance"]).astype(bool)
        ax.semilogy(v[m], i[m], ".", ms=1.5, color="k", label="in compliance")
    ax.set_xlabel("Voltage V (V)")
    ax.set_ylabel("|Current| |I| (A)")
    title(ax, an.run, f"{ids.size} cycle(s)")
    ax.legend(loc="lower right", frameon=False)
    return styled(fig)


def _gv_panel(ax, an: RunAnalysis, mask: np.ndarray, colour: str, label: str,
              top: float) -> None:
    s = an.samples
    v = np.asarray(s["voltage_V"], float)
    g = np.abs(an.g)
    cc = an.compliance_per_cycle
    cyc = np.asarray(s.get("cycle", np.zeros(v.size, int)))
    levels = sorted(set(cc.values()))
    if len(levels) >= 2:  # compliance ladder: one colour per compliance (paper Fig. 2)
        per_sample = np.array([cc.get(int(c), np.nan) for c in cyc])
        cmap = plt.get_cmap("plasma", len(levels) + 1)
        for k, lv in enumerate(levels):
            m = mask & (per_sample == lv)
            ax.plot(v[m], g[m], ".", ms=1.5, color=cmap(k), label=f"{label}, {lv * 1e3:g} mA",
                    rasterized=m.sum() > 5000)
    else:
        ax.plot(v[mask], g[mask], ".", ms=1.5, color=colour, label=label,
                rasterized=mask.sum() > 5000)
    longest: dict[float, object] = {}
    for p in an.plateaus.plateaus:
        if not (mask[p.start_index] and p.kind == KIND_QUANTIZED):
            continue
        ax.plot([p.x_start, p.x_end], [p.level_g0] * 2, color="k", lw=1.2)
        if p.label_g0 not in longest or p.n_samples > longest[p.label_g0].n_samples:
            longest[p.label_g0] = p
    # one label per level (on its longest plateau), so clusters of cycles stay legible
    for label, p in sorted(longest.items())[:30]:
        ax.annotate(f"{label:g}", (0.5 * (p.x_start + p.x_end), p.level_g0),
                    textcoords="offset points", xytext=(0, 3), fontsize=5, ha="center")
    # n/2 guide lines over the analysis range (paper 000 analyses up to 25 G0)
    half_integer_lines(ax, min(top, an.options.g_range_max))
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("Voltage V (V)")
    ax.set_ylabel(G_LABEL)
    ax.legend(loc="best", frameon=True, framealpha=0.8, edgecolor="none", markerscale=3)


def figure_gv(an: RunAnalysis | RunData, g_max: float | None = None) -> Figure:
    """G/G0 versus V with dashed guide lines at every n/2 and the quantized plateaus.

    With sweep segments: SET branch (segments 1-2) and RESET branch (3-4) in two panels,
    as paper 000 Fig. 1f-g and 2b-i; otherwise one panel.
    """
    an = _analysis(an)
    s = an.samples
    g = np.abs(an.g)
    fin = g[np.isfinite(g)]
    top = g_max if g_max is not None else (float(fin.max()) if fin.size else 5.0)
    top = max(top, 1.0)
    seg = s.get("segment")
    if seg is not None and np.isin(seg, RESET_SEGMENTS).any():
        seg = np.asarray(seg)
        fig, (a1, a2) = new_figure(1, 2, width=2 * SINGLE, height=0.8 * SINGLE)
        _gv_panel(a1, an, np.isin(seg, SET_SEGMENTS), "C3", "SET branch", top)
        _gv_panel(a2, an, np.isin(seg, RESET_SEGMENTS), "C0", "RESET branch", top)
        title(a1, an.run)
    else:
        fig, ax = new_figure()
        _gv_panel(ax, an, np.ones(g.size, dtype=bool), "C0", "G/G$_0$", top)
        title(ax, an.run)
    return styled(fig)


def figure_compliance(an: RunAnalysis | RunData) -> Figure:
    """Top conductance level of each cycle versus its SET compliance (paper 000 Fig. 2)."""
    an = _analysis(an)
    sw = an.switching
    cc = an.compliance_per_cycle
    if sw is None or len(set(cc.values())) < 2:
        raise NotApplicable("the 'compliance' figure needs sweep cycles at two or more "
                            "compliance values (a compliance ladder)")
    x = np.array([cc.get(int(c), np.nan) for c in sw.cycle]) * 1e3
    fig, ax = new_figure()
    ax.plot(x, sw.top_g0, "o", ms=3, mfc="none", label="cycle")
    ok = np.isfinite(x) & np.isfinite(sw.top_g0)
    if np.unique(x[ok]).size >= 2:
        slope, icpt = np.polyfit(x[ok], sw.top_g0[ok], 1)
        xs = np.linspace(0, x[ok].max() * 1.05, 50)
        ax.plot(xs, icpt + slope * xs, "--", label=f"linear fit, {slope:.3g} G$_0$/mA")
    ax.set_xlabel("SET compliance I$_{CC}$ (mA)")
    ax.set_ylabel("Top level " + G_LABEL)
    ax.legend(frameon=False)
    title(ax, an.run)
    return styled(fig)


FIGURES: dict[str, Callable[[RunAnalysis], Figure]] = {
    "iv": figure_iv,
    "gv": figure_gv,
    "histogram": figure_histogram,
    "plateaus": figure_plateaus,
    "pulses": figure_pulses,
    "polar": figure_polar,
    "timelag": figure_timelag,
    "ltp-ltd": figure_ltp_ltd,
    "retention": figure_retention,
    "cdf": figure_cdf,
    "endurance": figure_endurance,
    "rtn": figure_rtn,
    "compliance": figure_compliance,
}


def applicable_figures(an: RunAnalysis) -> list[str]:
    """Names of the figures this run has data for (what ``--figure all`` renders)."""
    names = ["iv"] if an.is_sweep else []
    names += ["gv"] if an.is_sweep else []
    names += ["histogram", "plateaus"]
    if an.has_pulses and an.pulses is not None and an.pulses.current_A.size:
        names += ["pulses", "polar", "timelag"]
    if an.nonlinearity:
        names.append("ltp-ltd")
    if an.retention is not None:
        names.append("retention")
    if an.switching is not None:
        names += ["cdf", "endurance"]
        if len(set(an.compliance_per_cycle.values())) >= 2:
            names.append("compliance")
    elif an.endurance is not None:
        names.append("endurance")
    if an.rtn is not None:
        names.append("rtn")
    return [n for n in names if figure_supported(an.protocol, n)]


def save_figures(run: RunAnalysis | RunData, names: Sequence[str], outdir: str | Path,
                 *, dpi: int = DPI) -> list[Path]:
    """Render the named figures as PNG into ``outdir``; returns the written paths.

    Raises
    ------
    ValueError
        An unknown figure name, or a figure the run has no data for (the message says
        what is missing).
    """
    an = _analysis(run)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"figure {unknown[0]!r} unknown; choose from {', '.join(FIGURES)}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        try:
            fig = FIGURES[name](an)
        except NotApplicable as exc:
            raise ValueError(f"{an.run.path}: {exc}") from exc
        path = out / f"{an.run.run_id}_{name}.png"
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        paths.append(path)
    return paths
