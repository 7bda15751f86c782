"""The fluctuations of ``sim_backend.qc_fluctuations`` against the per-step law.

A Poisson clock uniformized per step ticks in step ``k`` (hazard ``h_k = rate_k dt_k``) with
probability ``1 - exp(-h_k)``, independently of the other steps, and a process redrawn at
every tick from its target distribution is, at the end of step ``k``, a draw of that
distribution if the clock ticked by then, else the value carried in. The references are
closed forms: ``p + (s_0 - p) e^{-lambda t}`` for the occupancy of a two-state trap or tip
starting in state ``s_0`` (the transition law of a two-state Markov chain). Tolerance,
fixed before the runs: every estimate within 4 binomial standard errors
``sqrt(p (1 - p) / N)`` of its exact value; with a dozen comparisons the chance of a false
failure is ~1e-3, and the seeds are fixed.

The ticks are drawn as exponential gaps on a clock's cumulative hazard where few are
expected and as one Bernoulli trial per step where many are: both must give each step a
tick with probability ``1 - e^{-h}``, independently of its neighbours (a one-step shift
of the ticks, or ``p = h`` per step, fails these tests). The offsets are kept as the
steps where any process changes; spread back to the steps they must equal each process's
own path filled forward step by step.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim_backend.qc_fluctuations import DENSE_TICKS, NeckNoise, _Segments
from sim_backend.qc_params import QCParams

N_SE = 4.0
REPEATS = 3000


def _within(hits: float, trials: float, p: float) -> bool:
    return abs(hits / trials - p) <= N_SE * np.sqrt(p * (1.0 - p) / trials)


@pytest.mark.parametrize("trap_rate", [100.0, 3000.0], ids=["sparse", "dense"])
def test_trap_occupancy_relaxes_as_the_two_state_chain(trap_rate):
    """A trap starting empty is occupied at time t with probability p (1 - e^{-lambda t})."""
    p = QCParams()
    dts = np.full(50, 1e-3)
    t = np.cumsum(dts)
    p_occ = 0.3
    noise = NeckNoise(np.random.default_rng(3), p)
    occupied = np.zeros(dts.size)
    for _ in range(REPEATS):
        noise.rtn_rate = np.array([trap_rate])
        noise.rtn_p_occupied = np.array([p_occ])
        noise.rtn_state = np.array([False])
        noise.rtn_dg = np.array([1.0])
        noise.rtn_dphi = np.array([0.0])
        occupied += noise.draw(np.zeros(dts.size), dts, False).dg
    want = p_occ * -np.expm1(-trap_rate * t)
    for k in (0, 1, 3, 9, 49):
        assert _within(occupied[k], REPEATS, float(want[k])), (k, occupied[k] / REPEATS)


def test_read_disturb_tip_opens_as_the_two_state_chain():
    """At a constant read the tip, closed at first, is open at the end of step k with
    probability (open / lambda)(1 - e^{-lambda t_k}), lambda = open + relax."""
    p = QCParams()
    v_read = 0.15
    dts = np.full(60, 2e-4)
    t = np.cumsum(dts)
    noise = NeckNoise(np.random.default_rng(4), p)
    opened = np.zeros(dts.size)
    for _ in range(REPEATS):
        noise.tip = 0
        opened += noise.draw(np.full(dts.size, v_read), dts, True).tip > 0
    logistic = 1.0 / (1.0 + np.exp(-np.array([(v_read - p.v_disturb) / p.v_disturb_width,
                                               (0.5 - v_read) / 0.05,
                                               (v_read - 0.5) / 0.05])))
    open_rate = p.nu_disturb * logistic[0] * logistic[1]
    lam = open_rate + p.nu_tip_relax * (1.0 + 1e3 * logistic[2])
    want = open_rate / lam * -np.expm1(-lam * t)
    for k in (0, 2, 9, 29, 59):
        assert _within(opened[k], REPEATS, float(want[k])), (k, opened[k] / REPEATS)


def _within_sum(hits: float, probs: np.ndarray, repeats: int) -> bool:
    """``hits`` successes of ``repeats`` runs of independent trials of probabilities
    ``probs`` within 4 standard errors of their mean (the binomial one when all are equal)."""
    mean, var = repeats * probs.sum(), repeats * (probs * (1.0 - probs)).sum()
    return abs(hits - mean) <= N_SE * np.sqrt(var)


def _schedule(h_levels: tuple[float, ...], block: int, rate: float
              ) -> tuple[np.ndarray, ...]:
    """Steps of hazards ``h_levels`` (held ``block`` steps each, cycled 4 times) in two
    voltage runs of rates ``rate`` and ``2 rate``: the steps' hazards, voltages, durations
    and rates."""
    h = np.repeat(np.tile(np.asarray(h_levels), max(4, 20 // block)), block)
    second = np.arange(h.size) >= h.size // 2
    rates = np.where(second, 2.0 * rate, rate)
    return h, np.where(second, 1.5, 0.5), h / rates, rates


@pytest.mark.parametrize(("h_levels", "block", "constant"), [
    ((0.002, 0.02, 0.1), 1, False), ((0.002, 0.02, 0.1), 10, False),
    ((0.002, 0.02, 0.1), 10, True), ((0.3, 1.0, 2.5), 1, False),
    ((0.3, 1.0, 2.5), 10, True)],
    ids=["sparse-steps", "sparse-runs", "sparse-constant", "dense-steps", "dense-constant"])
def test_a_step_ticks_with_probability_one_minus_exp_minus_its_hazard(h_levels, block,
                                                                     constant):
    """Per step 1 - e^{-h}, and neighbouring steps independent (pairs tick together with
    the product of their probabilities), both where the ticks are drawn as gaps on the
    hazard (few expected) and as one trial per step (many); a clock's rate per segment
    of equal voltage and duration (steps alone or in runs), or one constant rate."""
    h, v, dts, rates = _schedule(h_levels, block, 40.0)
    if constant:  # one rate for the whole drive, the hazards from the durations
        v, dts = np.zeros(h.size), h / 40.0
    seg = _Segments(v, dts, np.cumsum(dts))
    assert (seg.starts is None) == (block == 1)
    rate = 40.0 if constant else rates if seg.starts is None else rates[seg.starts]
    assert (h.sum() > DENSE_TICKS * h.size) == (h_levels[0] > 0.2)
    rng = np.random.default_rng(11)
    hits, pairs = np.zeros(h.size), np.zeros(h.size - 1)
    out = np.empty(h.size)
    for _ in range(REPEATS):
        ticked = np.zeros(h.size, dtype=bool)
        ticked[seg.ticks(rng, rate, lambda size: out[:size])] = True
        hits += ticked
        pairs += ticked[1:] & ticked[:-1]
    p = -np.expm1(-h)
    p_pair = p[1:] * p[:-1]
    for level in h_levels:
        sel, sel_pair = np.isclose(h, level), np.isclose(h[:-1], level)
        assert _within_sum(hits[sel].sum(), p[sel], REPEATS), level
        assert _within_sum(pairs[sel_pair].sum(), p_pair[sel_pair], REPEATS), level


def _forward_fill(carried, steps, values, n):
    """Per-step values of a path that takes ``values[:, i]`` from ``steps[i]`` on."""
    out = np.repeat(np.reshape(carried, (-1, 1)), n, axis=1)
    for i, s in enumerate(steps):
        out[:, s:] = values[:, i:i + 1]
    return out


@pytest.mark.parametrize("seed", range(4))
def test_merged_paths_hold_each_path_value_at_every_step(seed):
    """Paths that change at their own steps (some shared, one that never changes) merged
    as the steps where any changes: spread back to every step, each row equals its path
    filled forward step by step (the representation only, no law involved)."""
    from sim_backend.qc_fluctuations import _merge

    rng = np.random.default_rng(seed)
    n = 400
    paths = []
    for rows, count in ((1, 30), (2, 25), (1, 0), (1, 40)):
        steps = np.sort(rng.choice(n, count, replace=False))
        paths.append((rng.normal(size=rows), steps, rng.normal(size=(rows, count))))
    where, values, before = _merge(paths, n)
    assert where is not None and np.all(np.diff(where) > 0)
    want = np.concatenate([_forward_fill(c, s, x, n) for c, s, x in paths])
    # step k holds the values of the last merged step <= k (those carried in before any)
    spread = np.concatenate([np.reshape(before, (-1, 1)), values], axis=1)[
        :, np.searchsorted(where, np.arange(n), side="right")]
    assert np.array_equal(spread, want)
