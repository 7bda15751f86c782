"""The fluctuations of ``sim_backend.qc_fluctuations``: law and stream.

A Poisson clock uniformized per step ticks in step ``k`` (hazard ``h_k = rate_k dt_k``) with
probability ``1 - exp(-h_k)``, independently of the other steps, and a process redrawn at
every tick from its target distribution is, at the end of step ``k``, a draw of that
distribution if the clock ticked by then, else the value carried in. The references are
closed forms: ``p + (s_0 - p) e^{-lambda t}`` for the occupancy of a two-state trap or tip
starting in state ``s_0`` (the transition law of a two-state Markov chain). Tolerance,
fixed before the runs: every estimate within 4 binomial standard errors
``sqrt(p (1 - p) / N)`` of its exact value; with a dozen comparisons the chance of a false
failure is ~1e-3, and the seeds are fixed.

``NeckNoise.draw`` keeps the offsets as the steps where they change; a plain per-step
reference kept here (every step's value as the draw at the last tick so far, with
``np.maximum.accumulate``) must give the same columns from the same draws, and leave the
generator in the same state: the device's history for a seed does not depend on how the
offsets are stored.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim_backend.qc_fluctuations import NeckNoise
from sim_backend.qc_params import QCParams

N_SE = 4.0
REPEATS = 3000


def _within(hits: float, trials: float, p: float) -> bool:
    return abs(hits / trials - p) <= N_SE * np.sqrt(p * (1.0 - p) / trials)


@pytest.mark.parametrize("trap_rate", [100.0, 3000.0], ids=["slow", "fast"])
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


def _reference_draw(noise: NeckNoise, v, dts, tip_allowed):
    """Per-step offsets (dphi, dphi_half, dg, dg_neck, tip) drawn step by step."""
    p, rng, n = noise.params, noise.rng, dts.size
    idx = np.arange(n)

    def last_tick(ticks):
        return np.maximum.accumulate(np.where(ticks, idx, -1), axis=-1)

    def clock(h):
        return -np.expm1(-h)

    def logistic(x):
        return 0.5 * (1.0 + np.tanh(0.5 * x))

    ticks = rng.random((noise.rtn_rate.size, n)) < clock(noise.rtn_rate[:, None] * dts)
    draws = rng.random(ticks.shape) < noise.rtn_p_occupied[:, None]
    last = last_tick(ticks)
    states = np.where(last >= 0, np.take_along_axis(draws, np.maximum(last, 0), axis=1),
                      noise.rtn_state[:, None])
    dphi, dg = noise.rtn_dphi @ states, noise.rtn_dg @ states
    noise.rtn_state = states[:, -1].copy()
    av = np.abs(v)
    strong = av > p.v_rearrange
    edge = strong & ~np.concatenate(([noise.strong], strong[:-1]))
    rate = p.nu_rearrange * logistic((av - p.v_rearrange) / 0.05)
    ticks = edge | (rng.random(n) < clock(rate * dts))
    re_tau, re_phi = np.full(n, noise.neck_dtau), np.full(n, noise.neck_dphi)
    if ticks.any():
        last = last_tick(ticks)
        new_tau = rng.normal(0.0, p.rearrange_tau_sigma, n)
        new_phi = rng.normal(0.0, p.rearrange_phi_sigma, n)
        re_tau = np.where(last >= 0, new_tau[np.maximum(last, 0)], re_tau)
        re_phi = np.where(last >= 0, new_phi[np.maximum(last, 0)], re_phi)
    noise.strong = bool(strong[-1])
    noise.neck_dtau, noise.neck_dphi = float(re_tau[-1]), float(re_phi[-1])
    open_rate = np.zeros(n)
    if tip_allowed:
        open_rate = (p.nu_disturb * (v > 0) * logistic((av - p.v_disturb) / p.v_disturb_width)
                     * logistic((0.5 - av) / 0.05))
    lam = open_rate + p.nu_tip_relax * (1.0 + 1e3 * logistic((av - 0.5) / 0.05))
    ticks = rng.random(n) < clock(lam * dts)
    tip = np.full(n, float(noise.tip))
    if ticks.any():
        draws = np.where(rng.random(n) < open_rate / lam, np.sign(v), 0.0)
        last = last_tick(ticks)
        tip = np.where(last >= 0, draws[np.maximum(last, 0)], tip)
    noise.tip = int(tip[-1])
    return dphi, dphi + re_phi, dg, re_tau, p.tip_t * tip


@pytest.mark.parametrize("tip_allowed", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_offsets_and_stream_equal_the_per_step_reference(seed, tip_allowed):
    """A sampled pulse train, a DC loop and a series of reads, one after the other."""
    from sim_backend.qc_stimulus import dc_loop, pulse_train, reads_at

    p = QCParams()
    fast, ref = (NeckNoise(np.random.default_rng(seed), p) for _ in range(2))
    for s in (pulse_train([-1.5] * 20, 5e-3, np.inf, 0.0, 0.0, 2e-3, samples_per_pulse=100),
              dc_loop(step=5e-3, dwell=1.7e-3, compliance=5e-3),
              reads_at(np.arange(200, dtype=float) * 0.05, 0.15, 2e-3)):
        dts = s.dt.astype(float)
        got = fast.draw(s.v, dts, tip_allowed)
        want = _reference_draw(ref, s.v, dts, tip_allowed)
        for name, column in zip(got.COLUMNS, want, strict=True):
            assert np.array_equal(getattr(got, name), column), name
        assert np.array_equal(fast.rtn_state, ref.rtn_state)
        assert (fast.strong, fast.tip) == (ref.strong, ref.tip)
        assert (fast.neck_dtau, fast.neck_dphi) == (ref.neck_dtau, ref.neck_dphi)
        assert fast.rng.bit_generator.state == ref.rng.bit_generator.state
