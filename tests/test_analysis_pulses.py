"""Per-pulse levels, I_i/I_1, polar coordinates and time-lag statistics."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.constants import G0
from analysis.polar import polar_coordinates, ring_radii
from analysis.pulses import (
    TopPortion,
    levels_from_reads,
    levels_from_samples,
    levels_from_waveforms,
    normalise_to_first,
    top_portion_mask,
)
from analysis.timelag import (
    below_unity_fraction,
    lag_density,
    variability_per_level,
    variability_per_stretch,
)
from tests.support.synthetic import reset_train_waveforms


def test_top_portion_average_ignores_edges_and_spike():
    rng = np.random.default_rng(0)
    v, i, g_true = reset_train_waveforms(rng, 60, samples=50, noise_rel=0.01)
    lv = levels_from_waveforms(i, v)
    np.testing.assert_allclose(lv.g_g0, g_true, rtol=0.01)
    # the whole-pulse mean is biased by edges and the spike; the top portion is not
    i_true = -1.5 * g_true * G0
    np.testing.assert_allclose(lv.current_A, i_true, rtol=0.01)
    whole = levels_from_waveforms(i, v, portion=TopPortion(0.0, 0.0, 0.0))
    assert np.min(np.abs(whole.current_A / i_true - 1)) > 0.05
    assert lv.window["skip_fraction"] == 0.2 and lv.window["source"] == "waveforms"
    assert lv.pulse_index[0] == 1


def test_samples_with_pulse_index_give_the_same_levels_as_waveforms():
    rng = np.random.default_rng(1)
    v, i, _ = reset_train_waveforms(rng, 20, samples=40)
    idx = np.repeat(np.arange(1, 21), 40)
    a = levels_from_waveforms(i, v)
    b = levels_from_samples(v.ravel(), i.ravel(), idx)
    np.testing.assert_allclose(b.current_A, a.current_A)
    np.testing.assert_array_equal(b.pulse_index, np.arange(1, 21))
    # rows without a pulse (index -1) are ignored; pulses may come in any order as
    # long as each pulse's samples stay in time order
    perm = (rng.permutation(20)[:, None] * 40 + np.arange(40)).ravel()
    c = levels_from_samples(np.append(v.ravel()[perm], 0.1), np.append(i.ravel()[perm], 1.0),
                            np.append(idx[perm], -1))
    np.testing.assert_allclose(np.sort(c.current_A), np.sort(a.current_A))
    # one read per row, indices repeating over cycles: one level per row, in order
    d = levels_from_samples(np.full(4, 0.1), np.array([1.0, 2.0, 3.0, 4.0]),
                            np.array([1, 2, 1, 2]))
    assert d.pulse_index.tolist() == [1, 2, 1, 2] and d.current_A.tolist() == [1, 2, 3, 4]


def test_mask_keeps_flat_top_only():
    v = np.array([[0.0, 0.5] + [1.0] * 10 + [0.5]])
    m = top_portion_mask(v, v.shape, TopPortion(0.9, 0.2, 0.1))
    # flat top = 10 samples (2..11); skip first 2, drop last 1
    assert np.flatnonzero(m[0]).tolist() == [4, 5, 6, 7, 8, 9, 10]
    with pytest.raises(ValueError, match="skip_fraction"):
        TopPortion(0.9, 0.6, 0.5)


def test_i_over_i1_and_reads():
    lv = levels_from_reads({"current_A": np.array([2e-3, 1e-3, 5e-4]),
                            "voltage_V": np.full(3, 0.1)})
    np.testing.assert_allclose(lv.i_over_i1, [1, 0.5, 0.25])
    np.testing.assert_allclose(lv.g_g0, np.array([2e-3, 1e-3, 5e-4]) / 0.1 / G0)
    assert np.all(np.isnan(normalise_to_first([0.0, 1.0])))


def test_polar_paper_rule_puts_every_pulse_on_one_axis():
    theta, r = polar_coordinates([1.0, 0.9, 0.8, 0.7])
    np.testing.assert_allclose(np.cos(theta), [1, -1, 1, -1], atol=1e-12)
    np.testing.assert_allclose(np.sin(theta), 0, atol=1e-12)
    theta2, _ = polar_coordinates(np.ones(4), rule="spread")
    np.testing.assert_allclose(theta2, [0, np.pi / 2, np.pi, 3 * np.pi / 2])
    with pytest.raises(ValueError, match="rule"):
        polar_coordinates([1.0], rule="other")


def test_rings_sit_at_quantized_levels():
    radii, levels = ring_radii(g1_g0=4.0, r_max=1.0)
    np.testing.assert_allclose(levels, np.arange(1, 9) / 2)
    np.testing.assert_allclose(radii * 4.0, levels)


def test_below_unity_fraction_and_density():
    x = np.array([10.0, 9.0, 9.0, 8.0, 8.5, 7.0])
    assert below_unity_fraction(x) == pytest.approx(3 / 5)
    assert below_unity_fraction(-x) == pytest.approx(3 / 5)  # RESET currents negative
    rng = np.random.default_rng(2)
    y = rng.uniform(0, 1, 10_001)
    d = lag_density(y, bins=10, value_range=(0, 1))
    ref, _, _ = np.histogram2d(y[1:], y[:-1], bins=10, range=[[0, 1], [0, 1]])
    np.testing.assert_array_equal(d.counts, ref)
    assert d.counts.sum() == 10_000


def test_variability_per_level_recovers_relative_scatter():
    rng = np.random.default_rng(3)
    g = np.repeat([10.0, 8.0, 6.5], 200)
    current = g * G0 * 0.1 * (1 + rng.normal(0, 0.07, g.size))
    g_meas = current / 0.1 / G0
    out = variability_per_level(current, g_meas, min_length=20, merge_g0=1.0)
    assert [o["label_g0"] for o in out] == [6.5, 8.0, 10.0]
    for o in out:
        assert o["cv"] == pytest.approx(0.07, rel=0.2)


def test_variability_per_stretch_counts_levels_off_n_over_2():
    """Measured levels sit off n/2 (series resistance, transmissions < 1): the per-level
    pooling drops them, the per-stretch variability keeps every flat stretch."""
    rng = np.random.default_rng(4)
    g = np.repeat([9.77, 7.83, 6.3], 200)
    current = g * G0 * 1.5 * (1 + rng.normal(0, 0.06, g.size))
    g_meas = current / 1.5 / G0
    assert variability_per_level(current, g_meas, min_length=10) == []
    out = variability_per_stretch(current, g_meas, min_length=10)
    assert [round(o["level_g0"], 1) for o in out] == [9.8, 7.8, 6.3]
    assert [o["n_pulses"] for o in out] == [200, 200, 200]
    for o in out:
        assert o["cv"] == pytest.approx(0.06, rel=0.2)


def test_clearly_above_unity_ignores_noise_on_a_flat_level():
    from analysis.timelag import clearly_above_unity_fraction

    rng = np.random.default_rng(8)
    flat = 1.0 + rng.normal(0, 0.01, 2000)
    assert 0.4 < below_unity_fraction(flat) < 0.6
    assert clearly_above_unity_fraction(flat) < 0.04
    steps_up = np.repeat([1.0, 2.0, 3.0], 5) + rng.normal(0, 0.001, 15)
    assert clearly_above_unity_fraction(steps_up) == pytest.approx(2 / 14)
