"""Live plots fed from the run's record stream (never from the file).

Four views of the run in progress: I-V (|I| on a log axis by default), G/G0 vs V with
dashed n/2 guide lines, G/G0 vs pulse number (pulse protocols) or time (sweeps), and
the latest PMU waveform. :meth:`LivePlots.feed` only appends arrays (cheap, called for
every record); :meth:`LivePlots.refresh`, called by the window's timer (<= 30 Hz),
redraws only the traces that changed, from bounded-size display data
(:mod:`labapp.gui.decimate`), so a run with 10^6 points on screen refreshes as fast as
a short one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from analysis.conductance import conductance_g0
from labapp.gui.decimate import DecimatedTrace

#: n/2 guide lines up to this conductance (G0); paper 000 analyses up to 25 G0
GUIDE_MAX_G0 = 25.0


class HalfIntegerGuides:
    """Dashed horizontal lines at n/2 G0 (n = 1 .. 2 g_max), integer levels darker.

    Two curves of line pairs instead of 50 ``InfiniteLine`` items: each infinite line
    recomputes its bounding rectangle on every repaint, which costs more than the data.
    The segments span the visible x range (updated when it changes) and are ignored by
    auto-range, so they never stretch the view.
    """

    def __init__(self, plot: pg.PlotItem, g_max: float = GUIDE_MAX_G0) -> None:
        self.plot = plot
        n = np.arange(1, int(2 * g_max) + 1)
        self.levels = {0: n[n % 2 == 0] / 2.0, 1: n[n % 2 == 1] / 2.0}
        self.curves = []
        for odd, color in ((0, (110, 110, 110)), (1, (180, 180, 180))):
            c = pg.PlotCurveItem(pen=pg.mkPen(color, width=1, style=QtCore.Qt.PenStyle.DashLine),
                                 connect="pairs")
            c.setZValue(-10)
            plot.addItem(c, ignoreBounds=True)
            self.curves.append((c, self.levels[odd]))
        plot.getViewBox().sigXRangeChanged.connect(self.update)
        self.update()

    def update(self, *_: object) -> None:
        lo, hi = self.plot.getViewBox().viewRange()[0]
        for curve, levels in self.curves:
            x = np.tile([lo, hi], levels.size)
            y = np.repeat(levels, 2)
            curve.setData(x, y, connect="pairs")


def add_half_integer_guides(plot: pg.PlotItem, g_max: float = GUIDE_MAX_G0) -> HalfIntegerGuides:
    """Dashed n/2 guide lines on ``plot`` (see :class:`HalfIntegerGuides`)."""
    guides = HalfIntegerGuides(plot, g_max)
    plot._labapp_guides = guides  # keep alive with the plot
    return guides


def _column(data: Any, *names: str) -> np.ndarray | None:
    for name in names:
        if name in data:
            return np.asarray(data[name])
    return None


def _readings(cols: dict[str, np.ndarray]) -> tuple[np.ndarray | None, ...]:
    """Voltage, current and G/G0 of a record by their column names (G from V and I when
    the record has none)."""
    v = _column(cols, "voltage_V", "v_read_V", "v_program_V")
    i = _column(cols, "current_A", "i_read_A")
    g = _column(cols, "conductance_G0", "g_G0", "g_g0")
    if g is None and v is not None and i is not None:
        g = conductance_g0(v, i)
    return v, i, g


def _span(lo: float, hi: float, log: bool) -> tuple[float, float] | None:
    """Finite (lo, hi) in view units (log10 for a log axis); None when nothing to show."""
    if log:
        lo = max(lo, 1e-300)
        if not hi > 0:
            return None
        lo, hi = np.log10(lo), np.log10(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    if hi <= lo:
        pad = max(abs(lo) * 0.05, 1e-12 if not log else 0.5)
        return lo - pad, hi + pad
    return lo, hi


def follow_range(current: tuple[float, float], data: tuple[float, float],
                 headroom: float = 0.15) -> tuple[float, float] | None:
    """New axis range for ``data``, or None when the current one can stay.

    The range changes only when data leaves it or fills less than half of it, and then
    with ``headroom`` on each side: a live trace that grows a little every refresh does
    not move (and re-lay-out) its axis on every refresh.
    """
    lo, hi = current
    dlo, dhi = data
    span = dhi - dlo
    inside = dlo >= lo and dhi <= hi
    if inside and span >= 0.5 * (hi - lo):
        return None
    return dlo - headroom * span, dhi + headroom * span


class Trace:
    """One curve on one plot, drawn from a :class:`DecimatedTrace`.

    The plot follows the data (:func:`follow_range`) until the user zooms or pans;
    then the view is clipped to the visible x range at full resolution, until the
    plot's auto-range button ("A") hands the range back to the trace.
    """

    def __init__(self, plot: pg.PlotItem, pen: Any, max_points: int, abs_y: bool = False,
                 name: str | None = None) -> None:
        self.plot = plot
        self.data = DecimatedTrace(max_points)
        self.abs_y = abs_y
        self.curve = plot.plot([], [], pen=pen, name=name, connect="finite",
                               skipFiniteCheck=False)
        self.force = False
        self.follow = True
        self.y_floor: float | None = None  # lowest y the view shows (e.g. 0 for G/G0)
        self._last_range: tuple[float, float] | None = None
        vb = plot.getViewBox()
        vb.disableAutoRange()
        vb.sigRangeChangedManually.connect(self._user_range)

    def _user_range(self, *_: object) -> None:
        self.follow = False

    def append(self, x: Any, y: Any) -> None:
        y = np.asarray(y, dtype=float)
        self.data.append(x, np.abs(y) if self.abs_y else y)

    def clear(self) -> None:
        self.data.clear()
        self.curve.setData([], [])
        self.follow = True
        self._last_range = None

    def refresh(self) -> bool:
        """Redraw when data arrived or the user zoomed/panned (clip-to-view)."""
        vb = self.plot.getViewBox()
        if any(vb.autoRangeEnabled()):  # the "A" button: follow the data again
            vb.disableAutoRange()
            self.follow = True
            self.force = True
        x_range = None if self.follow else tuple(vb.viewRange()[0])
        if not (self.data.dirty or self.force or x_range != self._last_range):
            return False
        self.force = False
        self._last_range = x_range
        x, y = self.data.display(x_range)
        self.curve.setData(x, y, connect="finite")
        if self.follow and x.size:
            self._follow(vb, x, y)
        return True

    def _follow(self, vb: pg.ViewBox, x: np.ndarray, y: np.ndarray) -> None:
        log_x, log_y = self.plot.ctrl.logXCheck.isChecked(), self.plot.ctrl.logYCheck.isChecked()
        with np.errstate(invalid="ignore"):
            xs = _span(float(np.nanmin(x)), float(np.nanmax(x)), log_x)
            yv = y[y > 0] if log_y else y
            ys = _span(float(np.nanmin(yv)), float(np.nanmax(yv)), log_y) if yv.size else None
        (cx0, cx1), (cy0, cy1) = vb.viewRange()
        new_x = follow_range((cx0, cx1), xs) if xs else None
        new_y = follow_range((cy0, cy1), ys) if ys else None
        if new_y is not None and self.y_floor is not None and not log_y:
            new_y = (max(new_y[0], self.y_floor), new_y[1])
        if new_x is not None or new_y is not None:
            vb.setRange(xRange=new_x, yRange=new_y, padding=0)


_BLUE, _RED, _GREEN = (31, 119, 180), (214, 39, 40), (44, 160, 44)


class LivePlots(QtWidgets.QWidget):
    """The four live views in one graphics scene, plus a few display options."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, max_points: int = 4000) -> None:
        super().__init__(parent)
        self.log_current = QtWidgets.QCheckBox("log |I|")
        self.log_current.setChecked(True)
        self.points = QtWidgets.QLabel("0 points")
        opts = QtWidgets.QHBoxLayout()
        opts.addWidget(self.log_current)
        opts.addStretch(1)
        opts.addWidget(self.points)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(opts)
        grid = QtWidgets.QGridLayout()
        grid.setSpacing(2)
        lay.addLayout(grid, 1)
        self._build_plots(grid)
        self._build_traces(max_points)
        self._build_waveform_plot()
        self._wf_pending: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.x_mode = "time"
        self.n_points = 0
        self.last_compliance = False
        self.refresh_count = 0
        self.log_current.toggled.connect(self._set_log)
        self._set_log(True)

    def _build_plots(self, grid: QtWidgets.QGridLayout) -> None:
        """I-V, G-V, G-t (or G vs pulse) and waveform plots on a 2x2 grid."""
        # one graphics view per plot: a redraw of one plot (new points, a moving axis)
        # does not repaint the other three
        self.views = [pg.PlotWidget(background="w") for _ in range(4)]
        for k, v in enumerate(self.views):
            grid.addWidget(v, k // 2, k % 2)
        self.iv, self.gv, self.gt, self.wf = (v.getPlotItem() for v in self.views)
        self.iv.setTitle("I–V")
        self.iv.setLabels(left=("|I|", "A"), bottom=("V", "V"))
        self.gv.setTitle("G/G0 vs V")
        self.gv.setLabels(left="G/G0", bottom=("V", "V"))
        self.gt.setTitle("G/G0 vs time")
        self.gt.setLabels(left="G/G0", bottom=("time", "s"))
        self.wf.setTitle("latest PMU waveform")
        self.wf.setLabels(left=("I", "A"), bottom=("t", "s"))
        self.wf.addLegend(offset=(-10, 10))
        # No grid: grid lines belong to the axis items, which then span the plot area and
        # are repainted (alpha-blended) on every curve update.
        # pyqtgraph's own clip-to-view only on G vs time/pulse: it bisects x, which an I-V
        # sweep (V up and down) breaks. Its peak downsampling is not used: it assumes
        # uniform x spacing and drops the last partial window, i.e. the newest points;
        # the traces' min/max summary bounds the drawn data instead.
        self.gt.setClipToView(True)
        add_half_integer_guides(self.gv)
        add_half_integer_guides(self.gt)
        self.gv.setYRange(0, 5)
        self.gt.setYRange(0, 5)

    def _build_traces(self, max_points: int) -> None:
        blue, red, green = _BLUE, _RED, _GREEN
        self.iv_trace = Trace(self.iv, pg.mkPen(blue, width=1), max_points, abs_y=True)
        self.gv_trace = Trace(self.gv, pg.mkPen(red, width=1), max_points)
        self.gt_trace = Trace(self.gt, pg.mkPen(green, width=1), max_points)
        self.traces = [self.iv_trace, self.gv_trace, self.gt_trace]
        self.gv_trace.y_floor = self.gt_trace.y_floor = 0.0
        for p in (self.iv, self.gv, self.gt):
            for side in ("left", "bottom"):
                # a fixed unit label: the SI prefix would be re-laid-out on range changes
                p.getAxis(side).enableAutoSIPrefix(False)

    def _build_waveform_plot(self) -> None:
        """The latest PMU waveform: I on the left axis, V on a second (right) axis."""
        blue, red = _BLUE, _RED
        self.wf_current = self.wf.plot([], [], pen=pg.mkPen(blue, width=1.5), name="I")
        self.wf_voltage_axis = pg.ViewBox()
        self.wf.showAxis("right")
        self.wf.scene().addItem(self.wf_voltage_axis)
        self.wf.getAxis("right").linkToView(self.wf_voltage_axis)
        self.wf.getAxis("right").setLabel("V", units="V")
        self.wf_voltage_axis.setXLink(self.wf)
        self.wf_voltage = pg.PlotDataItem([], [], pen=pg.mkPen(red, width=1.5))
        self.wf_voltage_axis.addItem(self.wf_voltage)
        self.wf.legend.addItem(self.wf_voltage, "V (right)")
        self.wf.vb.sigResized.connect(self._sync_wf_axes)

    # -- data in ---------------------------------------------------------------------------
    def clear(self) -> None:
        for t in self.traces:
            t.clear()
        self.wf_current.setData([], [])
        self.wf_voltage.setData([], [])
        self._wf_pending = None
        self.n_points = 0
        self.last_compliance = False
        self.set_x_mode("time")
        self.wf.enableAutoRange()

    def set_x_mode(self, mode: str) -> None:
        """``time`` or ``pulse``: what the third plot's x axis is."""
        if mode == self.x_mode:
            return
        self.x_mode = mode
        self.gt_trace.clear()
        if mode == "pulse":
            self.gt.setTitle("G/G0 vs pulse number")
            self.gt.setLabels(bottom="pulse number")
        else:
            self.gt.setTitle("G/G0 vs time")
            self.gt.setLabels(bottom=("time", "s"))

    def feed(self, stream: str, data: Any) -> None:
        """One record of any stream; columns are routed by name (cheap, no drawing)."""
        cols = {k: np.asarray(v) for k, v in data.items()}
        if any(a.ndim == 2 for a in cols.values()) or "wave" in stream:
            self._feed_waveform(cols)
            return
        v, i, g = _readings(cols)
        comp = _column(cols, "compliance")
        if comp is not None and comp.size:
            self.last_compliance = bool(np.any(comp))
        pulse = _column(cols, "pulse_index", "pulse", "pulse_number")
        if pulse is not None and g is not None:
            self.set_x_mode("pulse")
            self.gt_trace.append(pulse, g)
            self.n_points += g.size
            return
        if v is None or i is None:
            return
        self.iv_trace.append(v, i)
        self.gv_trace.append(v, g)
        t = _column(cols, "time_s")
        if t is not None and self.x_mode == "time":
            self.gt_trace.append(t, g)
        self.n_points += i.size

    def _feed_waveform(self, cols: dict[str, np.ndarray]) -> None:
        i = _column(cols, "current_A", "i_A", "current")
        if i is None:
            return
        v = _column(cols, "voltage_V", "v_A", "voltage")
        t = _column(cols, "time_s", "t_s", "time")
        last = np.atleast_2d(i)[-1]
        tl = np.atleast_2d(t)[-1] if t is not None else np.arange(last.size, dtype=float)
        vl = np.atleast_2d(v)[-1] if v is not None else None
        if tl.size != last.size:
            tl = np.arange(last.size, dtype=float)
        self._wf_pending = (tl, last, vl)

    # -- drawing ---------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Redraw what changed; returns True when anything was drawn."""
        drawn = False
        for t in self.traces:
            drawn |= t.refresh()
        if self._wf_pending is not None:
            t, i, v = self._wf_pending
            self._wf_pending = None
            self.wf_current.setData(t, i)
            if v is not None and v.size == t.size:
                self.wf_voltage.setData(t, v)
                self.wf_voltage_axis.enableAutoRange()
            drawn = True
        if drawn:
            self.refresh_count += 1
            self.points.setText(f"{self.n_points:,} points")
        return drawn

    def _set_log(self, on: bool) -> None:
        self.iv.setLogMode(x=False, y=on)
        self.iv_trace.force = True

    def _sync_wf_axes(self) -> None:
        self.wf_voltage_axis.setGeometry(self.wf.vb.sceneBoundingRect())
        self.wf_voltage_axis.linkedViewChanged(self.wf.vb, self.wf_voltage_axis.XAxis)
