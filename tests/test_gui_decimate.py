"""Bounded display data for long live traces (labapp.gui.decimate)."""

from __future__ import annotations

import numpy as np

from labapp.gui.decimate import DecimatedTrace, GrowingArray, minmax_decimate


def test_minmax_keeps_envelope_and_order():
    rng = np.random.default_rng(3)
    y = rng.normal(size=10_000)
    y[1234] = 50.0  # a spike must survive
    y[8765] = -40.0
    x = np.arange(y.size, dtype=float)
    xd, yd = minmax_decimate(x, y, 100)
    assert xd.size == 200
    assert yd.max() == 50.0 and yd.min() == -40.0
    assert np.all(np.diff(xd) >= 0)  # sample order preserved
    # every window's extremes are present
    blocks = y.reshape(100, 100)
    np.testing.assert_array_equal(np.sort(yd.reshape(100, 2), axis=1)[:, 1], blocks.max(axis=1))


def test_minmax_ignores_nan_and_keeps_partial_tail():
    y = np.array([np.nan, 1.0, 2.0, np.nan, np.nan, np.nan, 3.0])
    x = np.arange(y.size, dtype=float)
    xd, yd = minmax_decimate(x, y, 3)
    assert yd[:2].tolist() == [1.0, 2.0]
    assert np.isnan(yd[2:4]).all()  # an all-NaN window stays a gap
    assert yd[-1] == 3.0 and xd[-1] == 6.0


def test_growing_array_appends_without_losing_data():
    g = GrowingArray(4)
    for k in range(50):
        g.append(np.arange(k, k + 3))
    assert g.n == 150
    assert g.view()[-3:].tolist() == [49.0, 50.0, 51.0]


def test_trace_display_is_bounded_and_incremental():
    tr = DecimatedTrace(max_points=2000)
    rng = np.random.default_rng(0)
    levels = np.repeat(np.arange(0.5, 10.5, 0.5), 50_000)  # a staircase of 10^6 points
    for chunk in np.array_split(np.arange(levels.size), 100):
        tr.append(chunk.astype(float), levels[chunk] + rng.normal(0, 0.01, chunk.size))
        x, y = tr.display()
        assert x.size <= 2 * tr.max_points + tr.stride
    assert len(tr) == levels.size
    x, y = tr.display()
    assert x.size <= 2 * tr.max_points + tr.stride
    # every step level is still drawn
    for lv in np.arange(0.5, 10.5, 0.5):
        assert np.any(np.abs(y - lv) < 0.05)
    assert np.all(np.diff(x) >= 0)


def test_trace_clip_to_view_returns_full_resolution_when_zoomed():
    tr = DecimatedTrace(max_points=1000)
    x = np.linspace(0, 100, 200_000)
    tr.append(x, np.sin(x))
    xd, yd = tr.display((10.0, 10.1))
    inside = np.count_nonzero((x >= 10.0) & (x <= 10.1))
    assert xd.size == inside  # fewer than max_points: nothing dropped
    assert xd.min() >= 10.0 and xd.max() <= 10.1


def test_block_storage_slices_across_blocks_and_skips_blocks_out_of_range():
    g = GrowingArray(block=1000)
    values = np.arange(10_500, dtype=float)
    for part in np.array_split(values, 37):  # appends that straddle block boundaries
        g.append(part)
    assert g.n == values.size
    np.testing.assert_array_equal(g.slice(990, 2010), values[990:2010])
    np.testing.assert_array_equal(g.view(), values)
    pieces = list(g.blocks_overlapping(5200.0, 5300.0))
    assert [first for first, _ in pieces] == [5000]  # only the block that holds them
    pieces = list(g.blocks_overlapping(0.0, 1e9, start=10_250))
    assert pieces[0][0] == 10_250 and pieces[0][1].size == 250


def test_zoomed_live_trace_streams_and_equals_a_fresh_clip():
    rng = np.random.default_rng(1)
    live = DecimatedTrace(max_points=500, block=4096)
    x = np.arange(300_000, dtype=float)
    y = np.cumsum(rng.normal(size=x.size))
    zoom = (100_000.0, 250_000.0)
    for part in np.array_split(np.arange(x.size), 60):  # zoomed while data streams in
        live.append(x[part], y[part])
        xd, yd = live.display(zoom)
        assert xd.size <= 2 * 500 + 2 * live._zoom[1].stride
    fresh = DecimatedTrace(max_points=500, block=4096)
    fresh.append(x, y)
    xf, yf = fresh.display(zoom)
    inside = (x >= zoom[0]) & (x <= zoom[1])
    # the same envelope either way: the extremes of the zoomed data are drawn
    assert yd.max() == yf.max() == y[inside].max()
    assert yd.min() == yf.min() == y[inside].min()
    assert xd.min() >= zoom[0] and xd.max() <= zoom[1] and xd[-1] == x[inside][-1]
