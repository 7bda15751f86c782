"""Live plots: record routing, bounded redraw, zoom to full resolution, range following."""

from __future__ import annotations

import numpy as np
import pytest

from labapp.gui.live_plots import LivePlots, follow_range
from tests.support.synthetic import sweep_samples


@pytest.fixture
def plots(qtbot):
    p = LivePlots(max_points=2000)
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    return p


def sweep(cycles: int = 40):
    return sweep_samples(np.random.default_rng(1), cycles=cycles, step=0.002, v_max=2.0)


def test_long_sweep_is_drawn_from_bounded_data(plots):
    s = sweep()
    n = s["voltage_V"].size
    assert n > 100_000
    for part in np.array_split(np.arange(n), 40):
        plots.feed("samples", {k: v[part] for k, v in s.items()})
        plots.refresh()
    assert plots.n_points == n
    for trace in plots.traces:
        x, y = trace.curve.getData()
        assert 0 < x.size <= 2 * 2000 + trace.data.stride
    # the envelope survives: the highest conductance level is still drawn
    g = np.abs(s["current_A"] / np.where(s["voltage_V"] == 0, np.nan, s["voltage_V"]))
    _, gy = plots.gv_trace.curve.getData()
    assert np.nanmax(gy) == pytest.approx(np.nanmax(g) / 7.748091729863649e-05, rel=1e-6)
    # the view follows the data: the whole G range is visible
    (_, _), (y0, y1) = plots.gv.getViewBox().viewRange()
    assert y0 <= 0.0 and y1 >= np.nanmax(gy)


def test_zoom_shows_full_resolution_and_auto_button_follows_again(plots):
    s = sweep(10)
    plots.feed("samples", s)
    plots.refresh()
    vb = plots.gt.getViewBox()
    t = s["time_s"]
    lo, hi = float(t[1000]), float(t[1600])
    vb.sigRangeChangedManually.emit(vb.state["mouseEnabled"])  # what a mouse zoom emits
    vb.setXRange(lo, hi, padding=0)
    assert plots.refresh()
    x, _ = plots.gt_trace.curve.getData()
    inside = np.count_nonzero((t >= lo) & (t <= hi))
    assert x.size == inside and x.min() >= lo and x.max() <= hi  # every sample, no others
    plots.gt.autoBtnClicked()  # the "A" button
    plots.refresh()
    assert plots.gt_trace.follow
    x, _ = plots.gt_trace.curve.getData()
    assert x.max() == pytest.approx(t.max())


def test_records_are_routed_by_their_columns(plots):
    # pulse protocol reads: G/G0 vs pulse number
    plots.feed("samples", {"pulse_index": np.arange(1, 6), "voltage_V": np.full(5, 0.1),
                           "current_A": np.linspace(1e-5, 5e-5, 5),
                           "conductance_G0": np.arange(1.0, 6.0)})
    assert plots.x_mode == "pulse"
    # a captured waveform block (pulse, sample): the last pulse is drawn
    wf = {"time_s": np.tile(np.arange(50) * 1e-5, (3, 1)),
          "voltage_V": np.full((3, 50), -1.5), "current_A": np.arange(150.0).reshape(3, 50)}
    plots.feed("waveform", wf)
    plots.feed("samples", {"compliance": np.array([False, True]), "voltage_V": np.ones(2),
                           "current_A": np.ones(2), "time_s": np.zeros(2)})
    assert plots.last_compliance
    plots.refresh()
    x, g = plots.gt_trace.curve.getData()
    assert x.tolist() == [1, 2, 3, 4, 5] and g.tolist() == [1, 2, 3, 4, 5]
    _, i = plots.wf_current.getData()
    np.testing.assert_array_equal(i, wf["current_A"][-1])
    plots.clear()
    assert plots.x_mode == "time" and plots.n_points == 0


def test_follow_range_moves_only_when_needed():
    assert follow_range((0.0, 10.0), (1.0, 9.0)) is None  # inside and filling it
    lo, hi = follow_range((0.0, 10.0), (1.0, 12.0))  # data left the range
    assert lo < 1.0 and hi > 12.0
    lo, hi = follow_range((0.0, 100.0), (1.0, 2.0))  # far too wide: shrink
    assert hi < 10
