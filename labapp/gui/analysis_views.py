"""Analysis views of a stored run, drawn with pyqtgraph in the data browser.

Each view takes a loaded :class:`~analysis.runfile.RunData`, computes with the
``analysis`` package (no physics here) and draws into a ``PlotItem``. It returns a
:class:`ViewResult`: the columns it drew (for CSV export) and a short text summary.
A view that does not apply to a run (a polar plot of a DC sweep) raises
:class:`NotApplicable` with the reason, which the browser shows instead of a plot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore

from analysis.conductance import conductance_g0
from analysis.histograms import conductance_histogram, fit_mixture
from analysis.nonlinearity import fit_update, split_ltp_ltd
from analysis.plateaus import breaks_from_labels, detect_plateaus
from analysis.polar import RULE_LABELS, polar_coordinates, ring_radii
from analysis.pulses import (
    PulseLevels,
    levels_from_reads,
    levels_from_waveforms,
    normalise_to_first,
)
from analysis.runfile import RunData
from analysis.timelag import below_unity_fraction, lag_density
from labapp.gui.live_plots import add_half_integer_guides

#: |V| below this is not used for conductance (G = I/V is noise near 0 V)
V_MIN = 0.02
BLUE, RED, GREEN, GREY = (31, 119, 180), (214, 39, 40), (44, 160, 44), (120, 120, 120)


class NotApplicable(Exception):
    """The view needs data this run does not have."""


@dataclass
class ViewResult:
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    text: str = ""


def main_table(run: RunData) -> dict[str, np.ndarray]:
    """The stream holding voltage and current (``samples`` first)."""
    for name in ("samples", *sorted(run.streams)):
        cols = run.streams.get(name, {})
        if "voltage_V" in cols and "current_A" in cols and len(cols["current_A"]):
            return cols
    raise NotApplicable(f"run {run.run_id} has no stream with voltage and current data")


def conductance(cols: dict[str, np.ndarray]) -> np.ndarray:
    """G/G0 per row: the stored column, else I/V; NaN where |V| < V_MIN."""
    v = np.asarray(cols["voltage_V"], float)
    g = (np.asarray(cols["conductance_G0"], float) if "conductance_G0" in cols
         else conductance_g0(v, cols["current_A"]))
    return np.where(np.abs(v) >= V_MIN, g, np.nan)


def is_pulse_run(cols: dict[str, np.ndarray]) -> bool:
    return "pulse_index" in cols and np.any(np.asarray(cols["pulse_index"]) >= 0)


def pulse_levels(run: RunData) -> PulseLevels:
    """One level per pulse: the read after each pulse, or the captured waveforms."""
    cols = run.streams.get("samples", {})
    if "pulse_index" in cols and len(cols.get("current_A", ())):
        keep = np.asarray(cols["pulse_index"]) >= 0
        return levels_from_reads({k: np.asarray(v)[keep] for k, v in cols.items()})
    if "current_A" in run.waveforms:
        return levels_from_waveforms(run.waveforms["current_A"], run.waveforms.get("voltage_V"))
    raise NotApplicable(f"run {run.run_id} ({run.protocol}) has no per-pulse data "
                        "(needs a pulse-train run)")


def _guides(plot: pg.PlotItem) -> None:
    add_half_integer_guides(plot)


# -- views ----------------------------------------------------------------------------------
def view_iv(run: RunData, plot: pg.PlotItem) -> ViewResult:
    cols = main_table(run)
    v, i = np.asarray(cols["voltage_V"], float), np.asarray(cols["current_A"], float)
    plot.setLogMode(y=True)
    plot.plot(v, np.abs(i), pen=pg.mkPen(BLUE, width=1), connect="finite")
    plot.setLabels(left=("|I|", "A"), bottom=("V", "V"))
    plot.setTitle(f"I–V — {run.protocol} {run.run_id}")
    return ViewResult({"voltage_V": v, "current_A": i}, f"{v.size} points")


def view_trace(run: RunData, plot: pg.PlotItem) -> ViewResult:
    cols = main_table(run)
    g = conductance(cols)
    if is_pulse_run(cols):
        x, label = np.asarray(cols["pulse_index"], float), "pulse number"
    else:
        x, label = np.asarray(cols["voltage_V"], float), ("V", "V")
    plot.plot(x, g, pen=pg.mkPen(RED, width=1), connect="finite")
    _guides(plot)
    plot.setLabels(left="G/G0", bottom=label)
    plot.setTitle("G/G0 with n/2 guides")
    top = np.nanmax(g) if np.isfinite(g).any() else 5.0
    plot.setYRange(0, max(1.0, min(top * 1.1, 25.0)))
    return ViewResult({"x": x, "conductance_G0": g}, f"{g.size} points")


def view_histogram(run: RunData, plot: pg.PlotItem) -> ViewResult:
    cols = main_table(run)
    g = conductance(cols)
    hist = conductance_histogram(g[np.isfinite(g)])
    if hist.total == 0:
        raise NotApplicable("no conductance values with |V| >= "
                            f"{V_MIN:g} V in range 0-25 G0")
    fit = fit_mixture(hist)
    plot.plot(hist.edges, hist.counts, stepMode="center", fillLevel=0,
              brush=(31, 119, 180, 90), pen=pg.mkPen(BLUE, width=1))
    model = fit.model(hist.centers, hist.bin_width)
    lines = [f"{hist.total} values, bin {hist.bin_width:g} G0; fit: {fit.message or 'ok'}"]
    if fit.peaks:
        plot.plot(hist.centers, model, pen=pg.mkPen(RED, width=2), name="mixture fit")
        for p in fit.peaks:
            line = pg.InfiniteLine(p.center_g0, angle=90,
                                   pen=pg.mkPen(RED, style=QtCore.Qt.PenStyle.DotLine))
            plot.addItem(line)
            t = pg.TextItem(f"{p.center_g0:.2f}", color=RED, anchor=(0.5, 1))
            t.setPos(p.center_g0, float(hist.counts.max()))
            plot.addItem(t)
            lines.append(f"peak {p.center_g0:.3f} G0 (n/2 = {p.label_g0:g}), "
                         f"sigma {p.width_g0:.3f}, weight {p.weight:.2f}")
    top = max((p.center_g0 + 4 * p.width_g0 for p in fit.peaks), default=0.0)
    data_top = float(np.nanpercentile(g, 99.5)) if np.isfinite(g).any() else 5.0
    plot.setXRange(0, min(25.0, max(2.0, top, data_top * 1.1)))
    plot.setLabels(left="counts", bottom="G/G0")
    plot.setTitle("Conductance histogram with fitted peaks")
    return ViewResult({"g_center_G0": hist.centers, "counts": hist.counts.astype(float),
                       "fit_counts": model}, "\n".join(lines))


def view_plateaus(run: RunData, plot: pg.PlotItem) -> ViewResult:
    cols = main_table(run)
    g = conductance(cols)
    pulses = is_pulse_run(cols)
    x = np.asarray(cols["pulse_index"] if pulses else np.arange(g.size), float)
    res = detect_plateaus(g, x, breaks=breaks_from_labels(cols.get("segment"),
                                                          cols.get("cycle")))
    plot.plot(x, g, pen=pg.mkPen(GREY, width=1), connect="finite")
    _guides(plot)
    level = np.full(g.size, np.nan)
    for p in res.plateaus:
        level[p.start_index:p.end_index + 1] = p.level_g0
        color = GREEN if p.on_half_integer else RED
        plot.plot([x[p.start_index], x[p.end_index]], [p.level_g0, p.level_g0],
                  pen=pg.mkPen(color, width=3))
    plot.setLabels(left="G/G0", bottom="pulse number" if pulses else "sample")
    plot.setTitle(f"Plateaus ({len(res.plateaus)}; green = at n/2)")
    top = np.nanmax(g) if np.isfinite(g).any() else 5.0
    plot.setYRange(0, max(1.0, min(top * 1.1, 25.0)))
    report = res.report("pulse" if pulses else "V")
    return ViewResult({"x": x, "conductance_G0": g, "plateau_level_G0": level},
                      "\n".join(report[:30]) or "no plateaus found")


def view_timelag(run: RunData, plot: pg.PlotItem) -> ViewResult:
    try:
        lv = pulse_levels(run)
        series, what = np.abs(lv.current_A), "|I_i| (A)"
    except NotApplicable:
        g = conductance(main_table(run))
        series, what = g[np.isfinite(g)], "G_i/G0 (samples)"
    if series.size < 3:
        raise NotApplicable("time-lag map needs at least 3 values")
    dens = lag_density(series, bins=120)
    img = pg.ImageItem(np.log1p(dens.counts.T.astype(float)))
    lo, hi = float(dens.edges[0]), float(dens.edges[-1])
    img.setRect(QtCore.QRectF(lo, lo, hi - lo, hi - lo))
    img.setColorMap(pg.colormap.get("viridis"))
    plot.addItem(img)
    plot.plot([lo, hi], [lo, hi], pen=pg.mkPen("w", width=1, style=QtCore.Qt.PenStyle.DashLine))
    plot.setLabels(left=what.replace("_i", "_{i+1}"), bottom=what)
    plot.setTitle("Time-lag map (x_{i+1} vs x_i), dashed: unity")
    plot.setAspectLocked(True)
    frac = below_unity_fraction(series)
    a, b = series[:-1], series[1:]
    return ViewResult({"x_i": a, "x_i1": b},
                      f"{a.size} pairs; below unity: {100 * frac:.1f} %")


def view_polar(run: RunData, plot: pg.PlotItem, rule: str = "paper") -> ViewResult:
    lv = pulse_levels(run)
    r = normalise_to_first(lv.current_A)
    theta, r = polar_coordinates(r, rule=rule)
    ok = np.isfinite(r)
    if not ok.any():
        raise NotApplicable("I_1 is zero or missing: I_i/I_1 is undefined")
    x, y = r * np.cos(theta), r * np.sin(theta)
    g = lv.g_g0
    r_max = float(np.nanmax(np.abs(r[ok])))
    radii, levels = ring_radii(float(g[0]) if g.size and np.isfinite(g[0]) else np.nan, r_max)
    phi = np.linspace(0, 2 * np.pi, 181)
    for rad in radii:
        plot.plot(rad * np.cos(phi), rad * np.sin(phi),
                  pen=pg.mkPen(GREY, style=QtCore.Qt.PenStyle.DashLine))
    plot.plot(x[ok], y[ok], pen=None, symbol="o", symbolSize=5, symbolBrush=BLUE)
    plot.setAspectLocked(True)
    plot.setLabels(left="I/I1 · sin θ", bottom="I/I1 · cos θ")
    plot.setTitle(f"Polar plot: {RULE_LABELS[rule]}")
    return ViewResult({"pulse": lv.pulse_index.astype(float), "theta_rad": theta, "r": r},
                      f"{int(ok.sum())} pulses; rings at n/2 G0 = "
                      + ", ".join(f"{v:g}" for v in levels[:12]))


def view_ltp_ltd(run: RunData, plot: pg.PlotItem) -> ViewResult:
    lv = pulse_levels(run)
    g = lv.g_g0
    cols = run.streams.get("samples", {})
    polarity = None
    if "v_program_V" in cols and "pulse_index" in cols:
        keep = np.asarray(cols["pulse_index"]) >= 0
        vp = np.asarray(cols["v_program_V"], float)[keep]
        polarity = vp if vp.size == g.size else None
    up, down = split_ltp_ltd(g, polarity=polarity)
    k_up = np.arange(up.size, dtype=float)
    k_down = np.arange(down.size, dtype=float) + up.size - 1
    plot.plot(k_up, up, pen=None, symbol="o", symbolSize=5, symbolBrush=GREEN, name="LTP")
    plot.plot(k_down, down, pen=None, symbol="s", symbolSize=5, symbolBrush=RED, name="LTD")
    lines = []
    for name, y, k in (("potentiation", up, k_up), ("depression", down, k_down)):
        if y.size < 4:
            lines.append(f"{name}: {y.size} points, too few to fit")
            continue
        fit = fit_update(y, name)
        p = np.linspace(0, fit.p_max, 200)
        curve = fit.curve(p)
        kk = k[0] + (p if name == "potentiation" else fit.p_max - p)
        plot.plot(kk, curve, pen=pg.mkPen(GREEN if name == "potentiation" else RED, width=2))
        lines.append(f"{name}: A = {fit.A:.3g} pulses, NL label {fit.label:.2f}, "
                     f"G {fit.g_min:.3g}..{fit.g_max:.3g} G0, rms {fit.rms_residual:.3g}")
    plot.setLabels(left="G/G0", bottom="pulse number")
    plot.setTitle("Potentiation / depression with nonlinearity fit")
    return ViewResult({"pulse": np.arange(g.size, dtype=float), "conductance_G0": g},
                      "\n".join(lines))


ViewFn = Callable[..., ViewResult]

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
