"""Conductance histograms and the Gaussian-mixture fit against known peak positions."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.conductance import series_apply
from analysis.histograms import (
    Histogram,
    conductance_histogram,
    fit_mixture,
    state_histogram,
)
from analysis.plateaus import detect_plateaus
from tests.support.synthetic import staircase


def test_histogram_counts_match_numpy_and_skip_nan():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 10_000)
    x[::7] = np.nan
    h = conductance_histogram(x, bin_width=0.05, g_range=(0, 10))
    ref, _ = np.histogram(x[np.isfinite(x)], bins=200, range=(0, 10))
    assert h.bin_width == pytest.approx(0.05)
    np.testing.assert_array_equal(h.counts, ref)


def test_histograms_add_bin_by_bin_and_reject_other_bins():
    a = conductance_histogram([1.0, 1.01, 2.0])
    b = conductance_histogram([1.0])
    assert (a + b).total == 4
    with pytest.raises(ValueError, match="different bins"):
        a + conductance_histogram([1.0], bin_width=0.05)
    assert Histogram.from_dict(a.as_dict()).total == 3


def test_trace_histogram_peaks_within_005_g0_of_truth():
    rng = np.random.default_rng(1)
    trace = staircase(rng, 400, noise_g0=0.06, max_level_g0=8.0, transition=(1, 8))
    h = conductance_histogram(trace.g_g0)
    fit = fit_mixture(h)
    truth = np.unique(trace.levels)
    centres = np.array([p.center_g0 for p in fit.peaks])
    assert fit.success
    assert len(centres) == len(truth)
    assert np.max(np.abs(centres - truth)) < 0.05
    assert [p.label_g0 for p in fit.peaks] == truth.tolist()
    widths = np.array([p.width_g0 for p in fit.peaks])
    assert np.all(np.abs(widths - 0.06) < 0.02)
    # weights follow the time spent at each level
    dwell = np.array([np.sum(np.isclose(trace.levels, lv) *
                             (trace.ends - trace.starts + 1)) for lv in truth])
    np.testing.assert_allclose([p.weight for p in fit.peaks], dwell / dwell.sum(), atol=0.02)


def test_tied_fit_recovers_series_resistance():
    rng = np.random.default_rng(2)
    trace = staircase(rng, 400, noise_g0=0.04, max_level_g0=10.0)
    g = series_apply(trace.g_g0, 150.0)
    fit = fit_mixture(conductance_histogram(g), mode="tied")
    assert fit.series_resistance_ohm == pytest.approx(150.0, rel=0.05)
    assert [p.label_g0 for p in fit.peaks] == np.unique(trace.levels).tolist()


def test_state_histogram_from_plateaus():
    rng = np.random.default_rng(3)
    trace = staircase(rng, 300, noise_g0=0.05, max_level_g0=5.0)
    res = detect_plateaus(trace.g_g0)
    h = state_histogram(res.levels())
    fit = fit_mixture(h)
    assert h.total == len(res.plateaus)
    assert np.max(np.abs([p.center_g0 - p.label_g0 for p in fit.peaks])) < 0.05


def test_empty_histogram_gives_no_peaks_and_bad_bins_raise():
    fit = fit_mixture(conductance_histogram([]))
    assert fit.peaks == [] and not fit.success
    with pytest.raises(ValueError, match="bin_width"):
        conductance_histogram([1.0], bin_width=0)
    with pytest.raises(ValueError, match="mode"):
        fit_mixture(conductance_histogram([1.0]), mode="magic")


def test_bounded_levenberg_marquardt_respects_bounds_and_converges():
    from analysis.histograms import levenberg_marquardt

    x = np.linspace(0, 1, 50)
    y = 3.0 * x + 0.5

    def resid(p):
        return p[0] * x + p[1] - y

    def jac(p):
        return np.column_stack((x, np.ones_like(x)))

    p, ok, msg = levenberg_marquardt(resid, jac, np.array([1.0, 0.0]),
                                     np.array([0.0, 0.0]), np.array([10.0, 10.0]))
    assert ok and "converged" in msg
    np.testing.assert_allclose(p, [3.0, 0.5], atol=1e-6)
    # slope capped below its best value: it sits on the bound, the offset compensates
    p, ok, _ = levenberg_marquardt(resid, jac, np.array([1.0, 0.0]),
                                   np.array([0.0, 0.0]), np.array([2.0, 10.0]))
    assert ok and p[0] == 2.0 and 0.5 < p[1] < 1.5


def test_spd_solver_matches_numpy():
    from analysis.histograms import solve_spd

    rng = np.random.default_rng(4)
    m = rng.normal(size=(60, 40))
    a = m.T @ m + np.eye(40)
    b = rng.normal(size=40)
    np.testing.assert_allclose(solve_spd(a, b), np.linalg.solve(a, b), rtol=1e-9)
    with pytest.raises(np.linalg.LinAlgError):
        solve_spd(-np.eye(3), np.ones(3))


def test_tied_fit_refuses_a_chance_ladder():
    rng = np.random.default_rng(5)
    centres = np.array([1.3, 2.8, 4.1, 5.35, 6.9, 8.2])  # not on one n/2 ladder
    g = np.repeat(centres, 20_000) + rng.normal(0, 0.04, 6 * 20_000)
    fit = fit_mixture(conductance_histogram(g), mode="tied")
    assert "no single series resistance" in fit.params["warning"]
    assert fit.series_resistance_ohm < 100.0  # no chance alignment at hundreds of ohm
