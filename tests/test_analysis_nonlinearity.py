"""Nonlinearity fit (NeuroSim form) recovers A from model data with noise."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.nonlinearity import fit_update, g_ltd, g_ltp, nl_label, split_ltp_ltd
from tests.support.synthetic import ltp_ltd_train


def test_model_runs_from_g_min_to_g_max_in_both_directions():
    p = np.array([0.0, 30.0])
    np.testing.assert_allclose(g_ltp(p, 5.08, 2, 20, 30), [2, 20])
    np.testing.assert_allclose(g_ltd(p, 4.85, 2, 20, 30), [2, 20])
    # the sign printed in paper 000 eq. 3 would overshoot G_max at P = 0
    b = (20 - 2) / (1 - np.exp(-30 / 4.85))
    printed = -b * (1 - np.exp(-(0 - 30) / 4.85)) + 20
    assert printed > 20


@pytest.mark.parametrize("seed", range(5))
def test_fit_recovers_a_within_10_percent(seed):
    rng = np.random.default_rng(seed)
    g, pol = ltp_ltd_train(rng, a_ltp=5.08, a_ltd=4.85, noise_g0=0.15)
    up, down = split_ltp_ltd(g, polarity=pol)
    f_up = fit_update(up, "potentiation")
    f_down = fit_update(down, "depression")
    assert f_up.A == pytest.approx(5.08, rel=0.10)
    assert f_down.A == pytest.approx(4.85, rel=0.10)
    assert f_up.p_max == 30 and f_down.p_max == 30
    assert f_up.g_min == pytest.approx(2.0, abs=0.3)
    assert f_down.g_max == pytest.approx(20.0, abs=0.3)
    assert f_up.B == pytest.approx((f_up.g_max - f_up.g_min) / (1 - np.exp(-30 / f_up.A)))


def test_linear_update_gives_infinite_a_and_zero_label():
    f = fit_update(np.linspace(1, 10, 20))
    assert f.A == float("inf") or abs(f.A) > 1e3
    assert abs(f.label) < 0.05
    assert f.as_dict()["A"] is None or abs(f.as_dict()["A"]) > 1e3


def test_label_matches_neurosim_published_pairs():
    assert nl_label(0.4992) == pytest.approx(2.40, abs=0.02)
    assert nl_label(0.2003) == pytest.approx(4.88, abs=0.02)
    assert nl_label(-0.2003) == pytest.approx(-4.88, abs=0.02)


def test_split_by_count_and_by_maximum():
    g = np.array([1, 2, 3, 4, 3, 2, 1.0])
    up, down = split_ltp_ltd(g)
    assert up.tolist() == [1, 2, 3, 4] and down.tolist() == [4, 3, 2, 1]
    up, down = split_ltp_ltd(g, n_potentiation=3)
    assert up.tolist() == [1, 2, 3]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least 4"):
        fit_update([1.0, 2.0])
    with pytest.raises(ValueError, match="direction"):
        fit_update(np.arange(5.0), "sideways")
