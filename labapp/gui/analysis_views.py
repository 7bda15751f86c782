"""Analysis views of a stored run, drawn with pyqtgraph in the data browser.

Every number comes from :class:`analysis.summary.RunAnalysis` (the same lazily computed
results the CLI's ``analyze`` prints), so the browser and the CLI never disagree; this
module only draws. Each view takes the run's ``RunAnalysis`` and a ``PlotItem`` and
returns a :class:`ViewResult`: the columns it drew (for CSV export) and a text summary.
A view that does not apply (a polar plot of a DC sweep) raises :class:`NotApplicable`
with the reason, which the browser shows instead of a plot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore

from analysis.histograms import conductance_histogram
from analysis.polar import RULE_LABELS, polar_coordinates, ring_radii
from analysis.pulses import PulseLevels, normalise_to_first
from analysis.summary import RunAnalysis
from analysis.timelag import below_unity_fraction, lag_density
from labapp.gui.live_plots import add_half_integer_guides

BLUE, RED, GREEN, GREY = (31, 119, 180), (214, 39, 40), (44, 160, 44), (120, 120, 120)


class NotApplicable(Exception):
    """The view needs data this run does not have."""


@dataclass
class ViewResult:
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    text: str = ""


def _pulses(ra: RunAnalysis) -> PulseLevels:
    p = ra.read_levels if ra.has_pulses else None
    if p is None or p.current_A.size == 0:
        raise NotApplicable(f"run {ra.run.run_id} ({ra.protocol or 'no protocol'}) has no "
                            "per-pulse data (needs a pulse-train run)")
    return p


def _x_label(unit: str) -> str | tuple[str, str]:
    return {"pulse": "pulse number", "V": ("V", "V"), "s": ("time", "s")}.get(unit, unit)


def _g_range(plot: pg.PlotItem, g: np.ndarray) -> None:
    top = float(np.nanmax(g)) if np.isfinite(g).any() else 5.0
    plot.setYRange(0, max(1.0, min(top * 1.1, 25.0)))


# -- views ----------------------------------------------------------------------------------
def view_trace(ra: RunAnalysis, plot: pg.PlotItem) -> ViewResult:
    g, x, unit = ra.level_trace
    pen = pg.mkPen(RED, width=1)
    if unit == "pulse":
        plot.plot(x, g, pen=pen, symbol="o", symbolSize=4, symbolBrush=RED)
    else:
        plot.plot(x, g, pen=pen, connect="finite")
    add_half_integer_guides(plot)
    plot.setLabels(left="G/G0", bottom=_x_label(unit))
    plot.setTitle(f"G/G0 — {ra.protocol} {ra.run.run_id}")
    _g_range(plot, g)
    return ViewResult({"x": x, "conductance_G0": g}, f"{g.size} points vs {unit}")


def view_iv(ra: RunAnalysis, plot: pg.PlotItem) -> ViewResult:
    s = ra.samples
    v, i = np.asarray(s["voltage_V"], float), np.asarray(s["current_A"], float)
    plot.setLogMode(y=True)
    plot.plot(v, np.abs(i), pen=pg.mkPen(BLUE, width=1), connect="finite")
    plot.setLabels(left=("|I|", "A"), bottom=("V", "V"))
    plot.setTitle(f"I–V — {ra.protocol} {ra.run.run_id}")
    return ViewResult({"voltage_V": v, "current_A": i}, f"{v.size} points")


def view_histogram(ra: RunAnalysis, plot: pg.PlotItem) -> ViewResult:
    fit = ra.mixture
    bw = float(fit.params.get("bin_width_g0", ra.options.bin_width_g0))
    if ra.has_pulses and not ra.is_sweep:
        g = ra.level_trace[0]
        hist = conductance_histogram(g, bin_width=bw, g_range=(0.0, ra.options.g_range_max))
    else:
        hist = ra.histogram
    if hist.total == 0:
        raise NotApplicable(f"no conductance values with |V| >= {ra.options.v_min:g} V "
                            f"in 0-{ra.options.g_range_max:g} G0")
    plot.plot(hist.edges, hist.counts, stepMode="center", fillLevel=0,
              brush=(31, 119, 180, 90), pen=pg.mkPen(BLUE, width=1))
    model = fit.model(hist.centers, hist.bin_width) if fit.peaks else np.zeros(hist.centers.size)
    lines = [f"{hist.total} values, bin {hist.bin_width:g} G0, {len(fit.peaks)} fitted peaks"
             + ("" if fit.success else f" ({fit.message})")]
    # the high-resistance state piles up below 1/4 G0 and would flatten the quantized
    # peaks: the count axis is scaled to the histogram above 1/4 G0 when that differs
    above = hist.counts[hist.centers >= 0.25]
    top = float(above.max()) if above.size and above.max() > 0 else float(hist.counts.max())
    if fit.peaks:
        plot.plot(hist.centers, model, pen=pg.mkPen(RED, width=2))
        for k, p in enumerate(fit.peaks):
            plot.addItem(pg.InfiniteLine(p.center_g0, angle=90, pen=pg.mkPen(
                RED, style=QtCore.Qt.PenStyle.DotLine)))
            label = pg.TextItem(f"{p.label_g0:g}", color=RED, anchor=(0.5, 1))
            label.setPos(p.center_g0, top * (1.12 if k % 2 else 1.04))  # staggered labels
            plot.addItem(label)
            lines.append(f"peak {p.center_g0:.3f} G0 (n/2 = {p.label_g0:g}), "
                         f"sigma {p.width_g0:.3f} G0, weight {p.weight:.2f}")
    plot.setYRange(0, top * 1.15)
    nz = np.flatnonzero(hist.counts)
    right = max(hist.edges[nz[-1] + 1] if nz.size else 2.0,
                max((p.center_g0 + 4 * p.width_g0 for p in fit.peaks), default=0.0))
    plot.setXRange(0, min(ra.options.g_range_max, max(2.0, 1.05 * right)))
    plot.setLabels(left="counts", bottom="G/G0")
    plot.setTitle("Conductance histogram, fitted peaks (red, labelled n/2)")
    return ViewResult({"g_center_G0": hist.centers, "counts": hist.counts.astype(float),
                       "fit_counts": model}, "\n".join(lines))


def view_plateaus(ra: RunAnalysis, plot: pg.PlotItem) -> ViewResult:
    g, x, unit = ra.level_trace
    res = ra.plateaus
    plot.plot(x, g, pen=pg.mkPen(GREY, width=1), connect="finite")
    add_half_integer_guides(plot)
    level = np.full(g.size, np.nan)
    for p in res.plateaus:
        level[p.start_index:p.end_index + 1] = p.level_g0
        plot.plot([p.x_start, p.x_end], [p.level_g0, p.level_g0],
                  pen=pg.mkPen(GREEN if p.on_half_integer else RED, width=3))
    plot.setLabels(left="G/G0", bottom=_x_label(unit))
    plot.setTitle(f"Plateaus: {len(res.plateaus)} (green: at n/2, red: not at n/2)")
    _g_range(plot, g)
    report = res.report(unit)
    return ViewResult({"x": x, "conductance_G0": g, "plateau_level_G0": level},
                      "\n".join(report[:40]) or "no plateaus found")


def view_timelag(ra: RunAnalysis, plot: pg.PlotItem) -> ViewResult:
    try:
        series, what = np.abs(_pulses(ra).current_A), "|I|"
    except NotApplicable:
        g = ra.level_trace[0]
        series, what = g[np.isfinite(g)], "G/G0"
    series = series[np.isfinite(series)]
    if series.size < 3:
        raise NotApplicable("a time-lag map needs at least 3 values")
    dens = lag_density(series, bins=120)
    img = pg.ImageItem(np.log1p(dens.counts.T.astype(float)))
    lo, hi = float(dens.edges[0]), float(dens.edges[-1])
    img.setRect(QtCore.QRectF(lo, lo, hi - lo, hi - lo))
    img.setColorMap(pg.colormap.get("viridis"))
    plot.addItem(img)
    plot.plot([lo, hi], [lo, hi], pen=pg.mkPen(RED, width=1, style=QtCore.Qt.PenStyle.DashLine))
    plot.setLabels(left=f"{what} (i+1)", bottom=f"{what} (i)")
    plot.setTitle("Time-lag map: x(i+1) vs x(i); dashed: unity")
    plot.setAspectLocked(True)
    frac = below_unity_fraction(series)
    return ViewResult({"x_i": series[:-1], "x_next": series[1:]},
                      f"{series.size - 1} pairs of {what}; below unity: {100 * frac:.1f} %")


def view_polar(ra: RunAnalysis, plot: pg.PlotItem, rule: str = "paper") -> ViewResult:
    lv = _pulses(ra)
    theta, r = polar_coordinates(normalise_to_first(lv.current_A), rule=rule)
    ok = np.isfinite(r)
    if not ok.any():
        raise NotApplicable("I_1 is zero or missing: I_i/I_1 is undefined")
    g1 = float(np.abs(lv.g_g0[0])) if lv.g_g0.size else float("nan")
    radii, levels = ring_radii(g1, float(np.nanmax(np.abs(r))))
    phi = np.linspace(0, 2 * np.pi, 181)
    for rad in radii:
        plot.plot(rad * np.cos(phi), rad * np.sin(phi),
                  pen=pg.mkPen(GREY, style=QtCore.Qt.PenStyle.DashLine))
    plot.plot((r * np.cos(theta))[ok], (r * np.sin(theta))[ok], pen=None, symbol="o",
              symbolSize=5, symbolBrush=BLUE)
    plot.setAspectLocked(True)
    plot.setLabels(left="(I/I1) sin θ", bottom="(I/I1) cos θ")
    plot.setTitle(f"Polar plot — {RULE_LABELS[rule]}")
    return ViewResult({"pulse": lv.pulse_index.astype(float), "theta_rad": theta, "r": r},
                      f"{int(ok.sum())} pulses; dashed rings at n/2 G0 = "
                      + ", ".join(f"{v:g}" for v in levels[:12]))


def view_ltp_ltd(ra: RunAnalysis, plot: pg.PlotItem) -> ViewResult:
    fits = ra.nonlinearity
    if not fits:
        raise NotApplicable(f"run {ra.run.run_id} ({ra.protocol}) is not a potentiation/"
                            "depression run with enough pulses to fit")
    g = np.abs(_pulses(ra).g_g0)
    k = np.arange(g.size, dtype=float)
    plot.plot(k, g, pen=None, symbol="o", symbolSize=5, symbolBrush=BLUE)
    lines = []
    n_up = int(fits["potentiation"].n_points) if "potentiation" in fits else 0
    for name, fit in fits.items():
        p = np.linspace(0, fit.p_max, 200)
        if name == "potentiation":
            kk = p
        else:  # depression is fitted in pulse position P = P_max - k from its first pulse
            kk = max(n_up - 1, 0) + (fit.p_max - p)
        plot.plot(kk, fit.curve(p), pen=pg.mkPen(GREEN if name == "potentiation" else RED,
                                                 width=2))
        lines.append(f"{name}: A = {fit.A:.3g} pulses, NL label {fit.label:.2f}, "
                     f"G {fit.g_min:.3g}..{fit.g_max:.3g} G0, rms {fit.rms_residual:.3g}")
    plot.setLabels(left="G/G0", bottom="pulse number")
    plot.setTitle("Potentiation (green) / depression (red) nonlinearity fit")
    return ViewResult({"pulse": k, "conductance_G0": g}, "\n".join(lines))


ViewFn = Callable[..., ViewResult]

#: the RunAnalysis results each view uses; the browser computes them in a worker thread
#: first (a mixture fit can take seconds) and then draws from the cache in the GUI thread
VIEW_NEEDS: dict[str, tuple[str, ...]] = {
    "G/G0 trace": ("level_trace",),
    "I–V": ("samples",),
    "Histogram + fit": ("level_trace", "histogram", "mixture"),
    "Plateaus": ("level_trace", "plateaus"),
    "Time-lag map": ("read_levels", "level_trace"),
    "Polar plot": ("read_levels",),
    "LTP/LTD fit": ("read_levels", "nonlinearity"),
}

#: browser views by name, in menu order
VIEWS: dict[str, ViewFn] = {
    "G/G0 trace": view_trace,
    "I–V": view_iv,
    "Histogram + fit": view_histogram,
    "Plateaus": view_plateaus,
    "Time-lag map": view_timelag,
    "Polar plot": view_polar,
    "LTP/LTD fit": view_ltp_ltd,
}
