"""Plateau detection scored against ground truth (precision, recall, labels, jumps)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.plateaus import (
    KIND_NOT_HALF,
    KIND_QUANTIZED,
    MERGE_SIGMAS,
    binary_segmentation,
    breaks_from_labels,
    detect_plateaus,
    estimate_noise,
    match_plateaus,
)
from tests.support.synthetic import staircase


def score(trace, result):
    det = [(p.start_index, p.end_index) for p in result.plateaus]
    pairs = match_plateaus(det, trace.plateaus())
    precision = len(pairs) / max(len(det), 1)
    recall = len(pairs) / len(trace.starts)
    labels_ok = [result.plateaus[i].label_g0 == trace.levels[j] for i, j in pairs]
    return precision, recall, float(np.mean(labels_ok)) if labels_ok else 0.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("noise", [0.03, 0.08])
def test_precision_recall_and_labels_on_known_staircases(seed, noise):
    rng = np.random.default_rng(seed)
    trace = staircase(rng, 60, noise_g0=noise, length=(15, 150), transition=(1, 6))
    res = detect_plateaus(trace.g_g0, min_length=8)
    precision, recall, labels = score(trace, res)
    assert precision >= 0.95, precision
    assert recall >= 0.95, recall
    assert labels == 1.0
    assert all(p.on_half_integer and p.kind == KIND_QUANTIZED for p in res.plateaus)


def test_edges_are_located_within_the_transition():
    rng = np.random.default_rng(5)
    trace = staircase(rng, 30, noise_g0=0.04, transition=(1, 4))
    res = detect_plateaus(trace.g_g0)
    pairs = match_plateaus([(p.start_index, p.end_index) for p in res.plateaus],
                           trace.plateaus())
    for i, j in pairs:
        assert abs(res.plateaus[i].start_index - trace.starts[j]) <= 4
        assert abs(res.plateaus[i].end_index - trace.ends[j]) <= 4


def test_off_ladder_steps_are_reported_as_not_half_integer():
    rng = np.random.default_rng(7)
    g = np.concatenate([np.full(100, 3.0), np.full(100, 4.27), np.full(100, 6.5)])
    g += rng.normal(0, 0.02, g.size)
    res = detect_plateaus(g)
    kinds = [p.kind for p in res.plateaus]
    assert kinds == [KIND_QUANTIZED, KIND_NOT_HALF, KIND_QUANTIZED]
    assert res.plateaus[1].residual_g0 == pytest.approx(-0.23, abs=0.02)
    assert not res.plateaus[1].on_half_integer


def test_jump_report_in_paper_style_on_a_sweep():
    # SET sweep: 3 G0 up to 1.5 V, jump to 7 G0, then 8.5 G0 from 1.6 V
    v = np.round(np.arange(0.5, 2.0, 0.001), 6)
    g = np.where(v < 1.5, 3.0, np.where(v < 1.6, 7.0, 8.5))
    g = g + np.random.default_rng(0).normal(0, 0.03, g.size)
    res = detect_plateaus(g, x=v)
    lines = res.report("V")
    assert lines[0].startswith("3 G0 → 7 G0 at 1.5 V; plateau at 7 G0")
    assert lines[1].startswith("7 G0 → 8.5 G0 at 1.6 V; plateau at 8.5 G0")
    assert res.jumps[0].x == pytest.approx(1.5, abs=0.002)


def test_nan_gaps_and_breaks_split_plateaus():
    g = np.full(300, 2.0)
    g[100:110] = np.nan  # masked |V| samples
    res = detect_plateaus(g, min_length=5)
    assert [(p.start_index, p.end_index) for p in res.plateaus] == [(0, 99), (110, 299)]
    seg = np.repeat([1, 2], 150)
    res2 = detect_plateaus(np.full(300, 2.0), breaks=breaks_from_labels(seg))
    assert [(p.start_index, p.end_index) for p in res2.plateaus] == [(0, 149), (150, 299)]


def test_slow_ramp_is_not_a_plateau():
    g = np.linspace(18.0, 2.5, 2000) + np.random.default_rng(3).normal(0, 0.02, 2000)
    res = detect_plateaus(g, min_length=20)
    assert res.plateaus == [] or all(p.n_samples < 200 for p in res.plateaus)


def test_a_level_after_a_ramp_is_found():
    """A decay that ends on a level (a RESET train: one channel per 30 pulses from 17 G0,
    then 9 G0 for 260 pulses) at 6 % pulse-to-pulse scatter, on 30 seeds. The ramp's line
    fit meets the level at their boundary, but with another slope: the level is a plateau
    of its own, not the end of a ramp (before, on 6 of these seeds both were merged and
    dropped as one ramp).

    Truth by construction: the level spans pulses 240-499. How far into the ramp it may
    reach follows from the merge rule (a piece whose mean is within ``MERGE_SIGMAS``
    noise sigmas of the level joins it): a ramp piece of L pulses next to the level has
    its mean about s L / 2 above it, so up to L = 2 MERGE_SIGMAS sigma / s pulses."""
    level, slope, sigma = 9.0, 1.0 / 30, 0.06 * 9.0
    reach = 2.0 * MERGE_SIGMAS * sigma / slope
    ramp = 17.0 - np.floor(np.arange(240) / 30.0)
    missed = []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        g = np.r_[ramp, np.full(260, level)] * (1.0 + 0.06 * rng.standard_normal(500))
        res = detect_plateaus(g, min_length=10, merge_g0=0.25)
        last = res.plateaus[-1] if res.plateaus else None
        if not (last is not None and last.end_index == 499
                and 240 - reach <= last.start_index <= 250
                and abs(last.level_g0 - level) <= 0.2):
            missed.append(seed)
    assert missed == []


def test_noise_estimate_ignores_steps():
    rng = np.random.default_rng(9)
    trace = staircase(rng, 40, noise_g0=0.05)
    assert estimate_noise(trace.g_g0) == pytest.approx(0.05, rel=0.1)


def test_binary_segmentation_finds_exact_edges_without_noise():
    y = np.repeat([1.0, 3.0, 2.0, 5.0], [10, 7, 30, 4])
    cps = binary_segmentation(y, 1e-6, min_size=1)
    assert cps.tolist() == [0, 10, 17, 47]


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="min_length"):
        detect_plateaus(np.ones(10), min_length=1)
    with pytest.raises(ValueError, match="label_tol_g0"):
        detect_plateaus(np.ones(10), label_tol_g0=0.3)
    with pytest.raises(ValueError, match="x has 3"):
        detect_plateaus(np.ones(10), x=np.ones(3))


@settings(max_examples=25, deadline=None)
@given(levels=st.lists(st.integers(1, 40), min_size=1, max_size=12),
       lengths=st.lists(st.integers(20, 120), min_size=12, max_size=12),
       seed=st.integers(0, 2**16))
def test_any_staircase_is_recovered_exactly(levels, lengths, seed):
    # consecutive levels differ (otherwise they are one plateau)
    ks = [levels[0]] + [b for a, b in zip(levels, levels[1:], strict=False) if b != a]
    g = np.concatenate([np.full(n, k / 2) for k, n in zip(ks, lengths, strict=False)])
    g = g + np.random.default_rng(seed).normal(0, 0.04, g.size)
    res = detect_plateaus(g, min_length=10)
    assert [p.label_g0 for p in res.plateaus] == [k / 2 for k in ks]
    assert len(res.jumps) == len(ks) - 1
