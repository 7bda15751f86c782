"""V_SET/V_RESET, on/off ratio, top level, retention drift, endurance and RTN."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.constants import G0
from analysis.endurance import endurance_from_reads, endurance_from_resistances
from analysis.retention import fit_drift
from analysis.rtn import analyze_rtn
from analysis.switching import (
    ecdf,
    infer_segments,
    switching_analysis,
    top_level_vs_compliance,
)
from tests.support.synthetic import telegraph


def sweep_cycle(v_set_at: float, v_reset_at: float, g_hrs: float = 0.05, g_lrs: float = 8.0,
                step: float = 0.01, vmax: float = 2.0):
    """One bipolar loop: HRS until v_set_at, LRS until -v_reset_at on the RESET branch."""
    up = np.arange(0, vmax + step / 2, step)
    down = up[::-1][1:]
    neg = -up[1:]
    back = -down
    v = np.concatenate((up, down, neg, back))
    seg = np.concatenate((np.full(up.size, 1), np.full(down.size, 2), np.full(neg.size, 3),
                          np.full(back.size, 4)))
    g = np.full(v.size, g_hrs)
    on = (seg == 1) & (v >= v_set_at)
    g[on] = g_lrs
    g[seg == 2] = g_lrs
    g[(seg == 3) & (v > -v_reset_at)] = g_lrs
    return v, v * g * G0, seg


def test_switching_voltages_both_definitions_per_cycle():
    rng = np.random.default_rng(0)
    vs, is_, segs, cyc = [], [], [], []
    truth = []
    for c in range(5):
        v_set = round(rng.uniform(0.8, 1.6), 2)
        v_reset = round(rng.uniform(0.5, 1.2), 2)
        v, i, s = sweep_cycle(v_set, v_reset)
        vs.append(v)
        is_.append(i)
        segs.append(s)
        cyc.append(np.full(v.size, c))
        truth.append((v_set, v_reset))
    res = switching_analysis(np.concatenate(vs), np.concatenate(is_),
                             segment=np.concatenate(segs), cycle=np.concatenate(cyc))
    t = np.array(truth)
    np.testing.assert_allclose(res.v_set_jump, t[:, 0], atol=1e-9)
    np.testing.assert_allclose(res.v_reset_jump, -t[:, 1], atol=0.0101)
    np.testing.assert_allclose(res.v_set_didv, t[:, 0] - 0.005, atol=1e-9)
    np.testing.assert_allclose(res.v_reset_didv, -t[:, 1] + 0.005, atol=0.0101)
    np.testing.assert_allclose(res.on_off, 8.0 / 0.05)
    np.testing.assert_allclose(res.top_g0, 8.0)
    x, p = ecdf(res.v_set_jump)
    assert p[-1] == 1.0 and np.all(np.diff(x) >= 0)


def test_segments_inferred_from_voltage_match_the_protocol_layout():
    v, _, seg = sweep_cycle(1.0, 1.0)
    inferred = infer_segments(v)
    assert np.mean(inferred == seg) > 0.99


def test_top_level_grows_linearly_with_compliance():
    cc = np.array([1e-3, 5e-3, 7e-3, 10e-3])
    top = cc / (G0 * 0.5)
    res = top_level_vs_compliance(cc, top)
    assert res["slope_g0_per_A"] == pytest.approx(1 / (G0 * 0.5), rel=1e-6)


def test_drift_fit_recovers_exponent():
    rng = np.random.default_rng(1)
    t = np.logspace(0, 4, 60)
    g = 10.0 * t ** -0.02 * (1 + rng.normal(0, 0.002, t.size))
    fit = fit_drift(t, g, t_program=0.0)
    assert fit.nu == pytest.approx(0.02, abs=0.002)
    assert fit.g_init == pytest.approx(10.0, rel=0.01)
    assert fit.g_at_10_years_extrapolated < fit.predict(1e4)
    with pytest.raises(ValueError, match=">= 3 points"):
        fit_drift([1.0, 2.0], [1.0, 1.0])


def test_endurance_window_and_failure_cycle():
    cycle = np.repeat(np.arange(10), 2)
    g = np.tile([10.0, 0.5], 10)
    g[16:] = [10.0, 9.0, 10.0, 9.5]  # stuck in LRS from cycle 8
    res = endurance_from_reads(cycle, g)
    assert res.failure_cycle == 8
    np.testing.assert_allclose(res.window[:8], 20.0)
    r = endurance_from_resistances([0, 1], [1e3, 1e3], [1e6, 1.5e3])
    assert r.failure_cycle == 1


def test_rtn_levels_and_dwell_times():
    rng = np.random.default_rng(4)
    t, x, state = telegraph(rng, 300_000, dt=2e-4, tau_low=0.05, tau_high=0.02,
                            low=2.0, high=2.5, noise=0.05)
    res = analyze_rtn(t, x)
    np.testing.assert_allclose(res.levels, [2.0, 2.5], atol=0.01)
    assert np.mean(res.states == state) > 0.99
    assert res.dwell_mean_s[0] == pytest.approx(0.05, rel=0.1)
    assert res.dwell_mean_s[1] == pytest.approx(0.02, rel=0.1)
    assert res.as_dict()["relative_amplitude"][0] == pytest.approx(0.25, abs=0.01)


def test_telegraph_blip_before_set_is_not_the_set():
    v, i, seg = sweep_cycle(1.2, 0.8)
    blip = (seg == 1) & (v > 0.30) & (v < 0.35)
    i = np.where(blip, v * 0.6 * G0, i)  # 0.05 -> 0.6 G0 and straight back
    res = switching_analysis(v, i, segment=seg)
    assert res.v_set_jump[0] == pytest.approx(1.2)
