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
GUIDE_PEN = pg.mkPen((140, 140, 140), width=1, style=QtCore.Qt.PenStyle.DashLine)


def add_half_integer_guides(plot: pg.PlotItem, g_max: float = GUIDE_MAX_G0) -> list:
    """Dashed horizontal lines at n/2 G0 (n = 1 .. 2 g_max); integer levels darker."""
    lines = []
    for n in range(1, int(2 * g_max) + 1):
        pen = pg.mkPen((110, 110, 110) if n % 2 == 0 else (175, 175, 175), width=1,
                       style=QtCore.Qt.PenStyle.DashLine)
        line = pg.InfiniteLine(pos=n / 2, angle=0, pen=pen, movable=False)
        line.setZValue(-10)
        plot.addItem(line, ignoreBounds=True)
        lines.append(line)
    return lines


def _column(data: Any, *names: str) -> np.ndarray | None:
    for name in names:
        if name in data:
            return np.asarray(data[name])
    return None


class Trace:
    """One curve on one plot, drawn from a :class:`DecimatedTrace`."""

    def __init__(self, plot: pg.PlotItem, pen: Any, max_points: int, abs_y: bool = False,
                 name: str | None = None) -> None:
        self.plot = plot
        self.data = DecimatedTrace(max_points)
        self.abs_y = abs_y
        self.curve = plot.plot([], [], pen=pen, name=name, connect="finite",
                               skipFiniteCheck=False)
        self.force = False
        self._last_range: tuple[float, float] | None = None

    def append(self, x: Any, y: Any) -> None:
        y = np.asarray(y, dtype=float)
        self.data.append(x, np.abs(y) if self.abs_y else y)

    def refresh(self) -> bool:
        """Redraw when data arrived or the user zoomed/panned (clip-to-view)."""
        vb = self.plot.getViewBox()
        x_range = None if vb.autoRangeEnabled()[0] else tuple(vb.viewRange()[0])
        if not (self.data.dirty or self.force or x_range != self._last_range):
            return False
        self.force = False
        self._last_range = x_range
        x, y = self.data.display(x_range)
        self.curve.setData(x, y, connect="finite")
        return True

    def clear(self) -> None:
        self.data.clear()
        self.curve.setData([], [])


class LivePlots(QtWidgets.QWidget):
    """The four live views in one graphics scene, plus a few display options."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, max_points: int = 8000) -> None:
        super().__init__(parent)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
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
        lay.addWidget(self.view, 1)

        self.iv = self.view.addPlot(row=0, col=0, title="I–V")
        self.iv.setLabels(left=("|I|", "A"), bottom=("V", "V"))
        self.gv = self.view.addPlot(row=0, col=1, title="G/G0 vs V")
        self.gv.setLabels(left="G/G0", bottom=("V", "V"))
        self.gt = self.view.addPlot(row=1, col=0, title="G/G0 vs time")
        self.gt.setLabels(left="G/G0", bottom=("time", "s"))
        self.wf = self.view.addPlot(row=1, col=1, title="latest PMU waveform")
        self.wf.setLabels(left=("I", "A"), bottom=("t", "s"))
        self.wf.addLegend(offset=(-10, 10))
        for p in (self.iv, self.gv, self.gt, self.wf):
            p.showGrid(x=True, y=True, alpha=0.2)
            # pyqtgraph's own reduction where its assumptions hold (increasing x); the
            # traces hand it bounded, pre-reduced data in any case
            p.setClipToView(True)
        self.gt.setDownsampling(auto=True, mode="peak")
        add_half_integer_guides(self.gv)
        add_half_integer_guides(self.gt)
        self.gv.setYRange(0, 5)
        self.gt.setYRange(0, 5)
        blue, red, green = (31, 119, 180), (214, 39, 40), (44, 160, 44)
        self.iv_trace = Trace(self.iv, pg.mkPen(blue, width=1), max_points, abs_y=True)
        self.gv_trace = Trace(self.gv, pg.mkPen(red, width=1), max_points)
        self.gt_trace = Trace(self.gt, pg.mkPen(green, width=1), max_points)
        self.traces = [self.iv_trace, self.gv_trace, self.gt_trace]
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
        self._wf_pending: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.x_mode = "time"
        self.n_points = 0
        self.last_compliance = False
        self.refresh_count = 0
        self.log_current.toggled.connect(self._set_log)
        self._set_log(True)

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
        for p in (self.iv, self.gv, self.gt, self.wf):
            p.enableAutoRange()

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
        v = _column(cols, "voltage_V", "v_read_V", "v_program_V")
        i = _column(cols, "current_A", "i_read_A")
        g = _column(cols, "conductance_G0", "g_G0", "g_g0")
        if g is None and v is not None and i is not None:
            g = conductance_g0(v, i)
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
