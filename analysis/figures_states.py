"""Figures of conductance states: histograms, plateaus, switching CDFs, retention,
endurance and RTN. Each function takes a :class:`analysis.summary.RunAnalysis`."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from analysis.conductance import conductance_g0
from analysis.endurance import endurance_from_resistances
from analysis.figure_style import (
    AXIS_LABELS,
    DOUBLE,
    G_LABEL,
    SINGLE,
    half_integer_lines,
    new_figure,
    styled,
    title,
)
from analysis.histograms import Histogram, MixtureFit, conductance_histogram, fit_mixture
from analysis.plateaus import KIND_ABOVE, KIND_NOT_HALF, KIND_OFF, KIND_QUANTIZED
from analysis.retention import TEN_YEARS_S
from analysis.summary import RunAnalysis
from analysis.switching import ecdf
from labcore.constants import G0

KIND_COLOURS = {KIND_QUANTIZED: "C2", KIND_NOT_HALF: "C1", KIND_OFF: "0.35", KIND_ABOVE: "C4"}


class NotApplicable(ValueError):
    """The requested figure needs data this run does not have."""


def histogram_axes(ax, hist: Histogram, fit: MixtureFit | None, *, label: str) -> None:
    """Draw a histogram with its fitted mixture and n/2 guide lines on ``ax``."""
    c = hist.counts
    nz = np.flatnonzero(c)
    if nz.size == 0:
        raise NotApplicable("no conductance values to histogram")
    lo = hist.edges[nz[0]]
    hi = hist.edges[nz[-1] + 1]
    pad = 0.25
    ax.stairs(c, hist.edges, fill=True, color="C0", alpha=0.45, label=label)
    if fit is not None and fit.peaks:
        x = np.linspace(max(lo - pad, 0), hi + pad, 2000)
        ax.plot(x, fit.model(x, hist.bin_width), color="C3", lw=0.9,
                label=f"Gaussian mixture ({fit.mode})")
    # the off state (< 1/4 G0) can hold most samples of a sweep: scale to the QC peaks
    qc = c[hist.centers >= 0.25]
    y_top = float(qc.max()) if qc.size and qc.max() > 0 else float(c.max())
    if fit is not None and len(fit.peaks) <= 8:
        for p in fit.peaks:
            ax.annotate(f"{p.center_g0:.2f}", (p.center_g0, y_top * 1.05), fontsize=5,
                        ha="center", va="bottom")
    half_integer_lines(ax, hi + pad, horizontal=False, bottom=max(lo - pad, 0))
    ax.set_xlim(max(lo - pad, 0), hi + pad)
    ax.set_ylim(0, y_top * 1.45)
    ax.set_xlabel(G_LABEL)
    ax.set_ylabel(f"Counts (per {hist.bin_width:g} G$_0$ bin)")
    ax.legend(loc="upper left", frameon=False, fontsize=6, ncols=2)


def figure_histogram(an: RunAnalysis) -> Figure:
    """Trace histogram (every sample) with mixture fit, and state histogram (per plateau)."""
    fig, (a1, a2) = new_figure(2, 1, width=SINGLE, height=1.3 * SINGLE)
    pulse_run = an.has_pulses and not an.is_sweep
    if pulse_run:
        g, _, _ = an.level_trace
        h = conductance_histogram(g, bin_width=max(an.options.bin_width_g0, 0.05),
                                  g_range=(0.0, an.options.g_range_max))
        histogram_axes(a1, h, an.mixture, label="per-pulse G$_i$")
    else:
        histogram_axes(a1, an.histogram, an.mixture, label="trace (every sample)")
    title(a1, an.run)
    sh = an.state_histogram
    if sh.total:
        fit = fit_mixture(sh) if sh.total >= 20 else None
        histogram_axes(a2, sh, fit, label=f"states ({sh.total} plateaus)")
    else:
        a2.text(0.5, 0.5, "no plateaus detected", ha="center", transform=a2.transAxes)
        a2.set_xlabel(G_LABEL)
        a2.set_ylabel("Counts (plateaus per bin)")
    return styled(fig)


def figure_plateaus(an: RunAnalysis) -> Figure:
    """The level trace with detected plateaus (quantized green, not at n/2 orange, off
    grey, above the analysis range purple)."""
    g, x, unit = an.level_trace
    res = an.plateaus
    fig, ax = new_figure(width=DOUBLE * 0.6)
    ax.plot(x, g, ".", ms=1.2, color="0.55", label="G/G$_0$", rasterized=g.size > 5000)
    done = set()
    fin = g[np.isfinite(g)]
    top = min(float(fin.max()) if fin.size else 1.0, an.options.g_range_max + 5)
    xr = float(np.nanmax(x) - np.nanmin(x)) if x.size else 1.0
    placed: list[tuple[float, float]] = []
    for p in res.plateaus:
        colour = KIND_COLOURS.get(p.kind, "C1")
        lab = p.kind if p.kind not in done else None
        done.add(p.kind)
        ax.plot([p.x_start, p.x_end], [p.level_g0, p.level_g0], color=colour, lw=2.0,
                solid_capstyle="butt", label=lab)
        # a label only where it cannot overlap the last ones (4 % of x, 5 % of y apart)
        xc = 0.5 * (p.x_start + p.x_end)
        if all(abs(xc - a) > 0.04 * xr or abs(p.level_g0 - b) > 0.05 * top
               for a, b in placed[-6:]):
            placed.append((xc, p.level_g0))
            ax.annotate(f"{p.label_g0:g}" if p.on_half_integer else f"{p.level_g0:.2f}",
                        (xc, p.level_g0), fontsize=5, textcoords="offset points",
                        xytext=(0, 3), ha="center")
    low = float(fin.min()) if fin.size else 0.0
    half_integer_lines(ax, max(top, 0.5), bottom=max(low, 0.0))
    warn = (res.params.get("series_resistance") or {}).get("warning")
    ax.set_ylim(0, max(top, 1.0) * (1.18 if warn else 1.08))
    if warn:  # the figure says what the JSON says, above the data
        ax.text(0.99, 0.985, "series resistance not identifiable: labels without a "
                "correction (see --json)", transform=ax.transAxes, fontsize=5,
                color="#b03a2e", va="top", ha="right")
    ax.set_xlabel(AXIS_LABELS[unit])
    ax.set_ylabel(G_LABEL)
    ax.legend(loc="upper left" if warn else "best", frameon=False, markerscale=4)
    title(ax, an.run, f"{len(res.plateaus)} plateaus")
    return styled(fig)


def figure_cdf(an: RunAnalysis) -> Figure:
    """Cumulative distributions of V_SET and V_RESET (first jump and dI/dV extremum)."""
    sw = an.switching
    if sw is None:
        raise NotApplicable("the 'cdf' figure needs a DC sweep (segments SET/RESET)")
    fig, ax = new_figure()
    cdf_axes(ax, [(sw.v_set_jump, "V$_{SET}$ first jump", "-"),
                  (sw.v_set_didv, "V$_{SET}$ max dI/dV", "--"),
                  (np.abs(sw.v_reset_jump), "|V$_{RESET}$| first jump", "-"),
                  (np.abs(sw.v_reset_didv), "|V$_{RESET}$| min dI/dV", "--")])
    title(ax, an.run, f"{sw.cycle.size} cycles")
    return styled(fig)


def cdf_axes(ax, series: list[tuple]) -> None:
    """Empirical CDFs of switching voltages: series of (values, label, line style)."""
    for vals, lab, st in series:
        xs, ps = ecdf(vals)
        if xs.size:
            ax.step(xs, ps, where="post", ls=st, label=f"{lab} (n = {xs.size})")
    ax.set_xlabel("Switching voltage |V| (V)")
    ax.set_ylabel("Cumulative probability (–)")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False)


def figure_retention(an: RunAnalysis) -> Figure:
    """G versus time on log-log axes with the power-law fit and its extrapolation."""
    fit = an.retention
    if fit is None:
        raise NotApplicable("the 'retention' figure needs a retention run with >= 3 reads")
    src = an.run.streams.get("reads") or an.samples
    t = np.asarray(src["time_s"], float)
    g = np.abs(conductance_g0(src["voltage_V"], src["current_A"], an.options.v_min))
    t_prog = float(np.min(t)) - fit.t_first_s
    tr = t - t_prog
    fig, ax = new_figure()
    ax.loglog(tr, g, "o", ms=2.5, mfc="none", label="read")
    tt = np.logspace(np.log10(fit.t_first_s), np.log10(fit.t_last_s), 100)
    ax.loglog(tt, fit.predict(tt), color="C3",
              label=f"fit G = {fit.g_init:.3g}·t$^{{-{fit.nu:.3g}}}$")
    te = np.logspace(np.log10(fit.t_last_s), np.log10(TEN_YEARS_S), 50)
    ax.loglog(te, fit.predict(te), color="C3", ls=":", label="extrapolation (10 years)")
    ax.set_xlabel("Time since programming t (s)")
    ax.set_ylabel(G_LABEL)
    ax.legend(frameon=False)
    title(ax, an.run)
    return styled(fig)


def figure_endurance(an: RunAnalysis) -> Figure:
    """LRS and HRS conductance per cycle (log cycle axis)."""
    e = an.endurance
    if e is None and an.switching is not None:
        sw = an.switching
        e = endurance_from_resistances(sw.cycle, sw.r_lrs_ohm, sw.r_hrs_ohm)
        e.g_lrs, e.g_hrs = e.g_lrs / G0, e.g_hrs / G0
    if e is None or e.cycle.size == 0:
        raise NotApplicable("the 'endurance' figure needs an endurance run or sweep cycles")
    fig, ax = new_figure()
    c = e.cycle + 1
    ax.semilogx(c, e.g_lrs, "o", ms=2.5, label="LRS")
    ax.semilogx(c, e.g_hrs, "s", ms=2.5, label="HRS")
    ax.set_yscale("log")
    ax.set_xlabel("Cycle number (–)")
    ax.set_ylabel(G_LABEL)
    if e.failure_cycle is not None:
        ax.axvline(e.failure_cycle + 1, color="k", ls=":", lw=0.7,
                   label=f"window < {e.min_window:g} from cycle {e.failure_cycle + 1}")
    ax.legend(frameon=False)
    title(ax, an.run)
    return styled(fig)


def figure_rtn(an: RunAnalysis) -> Figure:
    """RTN trace with the digitised levels, and dwell-time statistics."""
    r = an.rtn
    if r is None:
        raise NotApplicable("the 'rtn' figure needs a read-noise run")
    t = np.asarray(an.samples["time_s"], float)
    g = np.abs(an.g)
    fig, (a1, a2) = new_figure(2, 1, width=DOUBLE * 0.6, height=SINGLE)
    n = min(t.size, 20000)
    a1.plot(t[:n], g[:n], lw=0.4, color="0.5", label="G/G$_0$")
    a1.plot(t[:n], r.levels[r.states[:n]], lw=0.8, color="C3", label="digitised")
    a1.set_xlabel("Time t (s)")
    a1.set_ylabel(G_LABEL)
    a1.legend(frameon=False, loc="upper right")
    title(a1, an.run)
    a2.bar([f"{lv:.2f}" for lv in r.levels], r.dwell_mean_s * 1e3, color="C0")
    a2.set_xlabel("Level G (G$_0$)")
    a2.set_ylabel("Mean dwell time τ (ms)")
    return styled(fig)
