"""Conduction offsets of the QC device that do not change its channel count.

RTN traps, atomic rearrangements of the neck and the metastable read-disturb tip are jump
processes that never open or close a channel, so :class:`NeckNoise` draws them for a whole
drive at once, as per-step offsets (:class:`Fluctuations`) that the circuit solve of
:mod:`sim_backend.qc_device` adds to the neck's conduction. Each process uniformized at rate
``lambda`` takes a fresh draw from its target distribution at every Poisson tick (for a
two-state trap the stationary distribution when ``lambda = 1/tau_c + 1/tau_e``, which is
exact), so its value at the end of a step is the draw of the last tick so far, or the value
carried in from the previous drive: exact for any step length, and fully vectorised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from sim_backend.qc_params import QCParams

_TIP_MAX_V = 0.5  # the read-disturb tip opens only at read-like biases


def _per_run(fn: Callable[[NDArray[np.float64]], NDArray[np.float64]],
             x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``fn(x)`` for an element-wise ``fn``, evaluated once per run of equal values of ``x``.

    A sampled waveform repeats each value for a whole plateau (100 samples of a pulse), and
    the transcendental functions dominate a drive's draws: the values are the same, the
    work is once per run. Falls back to ``fn(x)`` where the values keep changing (a
    sweep), which a look at the first steps tells cheaply.
    """
    n = x.shape[-1]
    if n < 64 or np.count_nonzero(x[1:64] != x[:63]) > 16:
        return fn(x)
    starts = np.flatnonzero(np.concatenate(([True], x[1:] != x[:-1])))
    if 4 * starts.size > n:
        return fn(x)
    return np.repeat(fn(x[starts]), np.diff(np.append(starts, n)), axis=-1)


def _logistic(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def logistic(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``1 / (1 + e^{-x})`` without overflow."""
    return _per_run(_logistic, x) if isinstance(x, np.ndarray) and x.ndim == 1 \
        else _logistic(x)


def tick_probability(rate_dt: NDArray[np.float64]) -> NDArray[np.float64]:
    """Probability ``1 - e^{-rate dt}`` that a Poisson clock ticks within a step."""
    return _per_run(lambda h: -np.expm1(-h), rate_dt)


@dataclass
class Fluctuations:
    """Per-step conduction offsets of a drive (RTN traps, neck rearrangements, tip)."""

    dphi: NDArray[np.float64]  # barrier offset of a closed partial channel / gap, eV
    dphi_half: NDArray[np.float64]  # barrier offset of a half-open channel, eV
    dg: NDArray[np.float64]  # transmission offset of the open channels (RTN)
    dg_neck: NDArray[np.float64]  # rearrangement offset per square root of the channel count
    tip: NDArray[np.float64]  # transmission the read-disturb tip adds (+) or removes (-)

    def __getitem__(self, sl: slice | NDArray[np.int64]) -> Fluctuations:
        return Fluctuations(self.dphi[sl], self.dphi_half[sl], self.dg[sl],
                            self.dg_neck[sl], self.tip[sl])

    @cached_property
    def has_tip(self) -> bool:
        """Whether the tip is open at any step."""
        return bool(self.tip.any())

    def changes(self) -> NDArray[np.bool_]:
        """True where a step's offsets differ from the previous step's."""
        out = np.zeros(self.dg.size, dtype=bool)
        if out.size:
            out[0] = True
            for a in (self.dphi, self.dphi_half, self.dg, self.dg_neck, self.tip):
                out[1:] |= a[1:] != a[:-1]
        return out


def _last_tick(ticks: NDArray[np.bool_], idx: NDArray[np.int64]) -> NDArray[np.int64]:
    """Index of the last tick at or before each step along the last axis (-1: none yet)."""
    return np.maximum.accumulate(np.where(ticks, idx, -1), axis=-1)


class NeckNoise:
    """State of the RTN traps, the neck's rearrangement offsets and the read-disturb tip.

    Parameters
    ----------
    rng : the device's generator (every draw of the device comes from one stream).
    params : the device's parameters.
    """

    def __init__(self, rng: np.random.Generator, params: QCParams) -> None:
        self.rng = rng
        self.params = params
        p = params
        # RTN traps: capture/emission times log-uniform; uniformization rate and occupancy.
        k = p.rtn_traps
        lo, hi = np.log(p.rtn_tau_range[0]), np.log(p.rtn_tau_range[1])
        tau_c = np.exp(rng.uniform(lo, hi, k))
        tau_e = np.exp(rng.uniform(lo, hi, k))
        self.rtn_rate = 1.0 / tau_c + 1.0 / tau_e
        self.rtn_p_occupied = (1.0 / tau_c) / self.rtn_rate
        self.rtn_state = rng.random(k) < self.rtn_p_occupied
        self.rtn_dphi = p.rtn_dphi * np.exp(rng.normal(0.0, 0.3, k))
        self.rtn_dg = p.rtn_dg * np.exp(rng.normal(0.0, 0.3, k))
        self.neck_dtau = 0.0  # neck rearrangement: transmission offset per sqrt(channel)
        self.neck_dphi = 0.0  # and barrier offset of the half channel (eV)
        self.strong = False  # whether the last step so far was above ``v_rearrange``
        self.tip = 0  # -1, 0, +1: metastable tip closing / -, opening / + half a channel

    def draw(self, v: NDArray[np.float64], dts: NDArray[np.float64],
             tip_allowed: bool) -> Fluctuations:
        """The offsets at the end of every step of a drive (programmed voltages ``v``).

        ``tip_allowed``: whether the filament has a tip a read can open (a complete one).
        """
        n = dts.size
        idx = np.arange(n)
        dphi, dg = self._rtn(dts, idx)
        re_tau, re_phi = self._rearrangements(v, dts, idx)
        tip = self.params.tip_t * self._tip_path(v, dts, idx, tip_allowed)
        return Fluctuations(dphi=dphi, dphi_half=dphi + re_phi, dg=dg, dg_neck=re_tau,
                            tip=tip)

    def _rtn(self, dts: NDArray[np.float64], idx: NDArray[np.int64]
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Barrier and transmission offsets of the two-level traps."""
        n, k = dts.size, self.rtn_rate.size
        if not (k and n):
            return np.zeros(n), np.zeros(n)
        ticks = self.rng.random((k, n)) < _per_run(
            lambda d: -np.expm1(-self.rtn_rate[:, None] * d[None, :]), dts)
        draws = self.rng.random((k, n)) < self.rtn_p_occupied[:, None]
        last = _last_tick(ticks, idx[None, :])
        states = np.where(last >= 0, np.take_along_axis(draws, np.maximum(last, 0), axis=1),
                          self.rtn_state[:, None])
        self.rtn_state = states[:, -1].copy()
        return self.rtn_dphi @ states, self.rtn_dg @ states

    def _rearrangements(self, v: NDArray[np.float64], dts: NDArray[np.float64],
                        idx: NDArray[np.int64]
                        ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Neck offsets redrawn by rearrangements under strong bias.

        Atoms at the neck move when the programmed bias rises above ``v_rearrange``
        (either polarity): the heating transient at a pulse's leading edge (or where a
        sweep crosses it) leaves a fresh configuration, and while the bias stays strong
        further rearrangements tick at ``nu_rearrange``. A rearrangement redraws the open
        channels' summed transmission offset (per square root of the channel count,
        applied with the count of the moment) and the half channel's barrier offset: the
        cycle-to-cycle scatter of a level, and the pulse-to-pulse scatter of a train
        (paper 000 L123: 5-10 %), constant within a pulse.
        """
        p = self.params
        n = dts.size
        av = np.abs(v)
        strong = av > p.v_rearrange
        edge = strong & ~np.concatenate(([self.strong], strong[:-1]))
        if n:
            self.strong = bool(strong[-1])
        rate = p.nu_rearrange * logistic((av - p.v_rearrange) / 0.05)
        ticks = edge | (self.rng.random(n) < tick_probability(rate * dts))
        if not ticks.any():
            return np.full(n, self.neck_dtau), np.full(n, self.neck_dphi)
        last = _last_tick(ticks, idx)
        j = np.maximum(last, 0)
        new_tau = self.rng.normal(0.0, p.rearrange_tau_sigma, n)
        new_phi = self.rng.normal(0.0, p.rearrange_phi_sigma, n)
        re_tau = np.where(last >= 0, new_tau[j], self.neck_dtau)
        re_phi = np.where(last >= 0, new_phi[j], self.neck_dphi)
        self.neck_dtau = float(re_tau[-1])
        self.neck_dphi = float(re_phi[-1])
        return re_tau, re_phi

    def _tip_path(self, v: NDArray[np.float64], dts: NDArray[np.float64],
                  idx: NDArray[np.int64], tip_allowed: bool) -> NDArray[np.float64]:
        """State of the read-disturb tip at the end of every step: -1, 0 or +1.

        A two-state process opened at the programmed read bias (logistic in ``v``, only
        within the read range: above ~0.5 V the tip is part of the main dynamics) and
        relaxed at ``nu_tip_relax`` (much faster under strong bias). A read is a weak SET:
        only the SET polarity draws the tip out (vacancies drift towards the top
        electrode); a negative bias pushes it back. Uniformized per step at
        ``lambda_k = open_k + relax``, so the end-of-step state is a draw from that step's
        stationary distribution taken at the last tick (exact per step).
        """
        p = self.params
        av = np.abs(v)
        open_rate = np.zeros(v.size)
        if tip_allowed:
            open_rate = (p.nu_disturb * (v > 0)
                         * logistic((av - p.v_disturb) / p.v_disturb_width)
                         * logistic((_TIP_MAX_V - av) / 0.05))
        # strong bias (above the read range) hands an open tip back to the main dynamics
        relax = p.nu_tip_relax * (1.0 + 1e3 * logistic((av - _TIP_MAX_V) / 0.05))
        lam = open_rate + relax
        ticks = self.rng.random(v.size) < tick_probability(lam * dts)
        if not ticks.any():
            return np.full(v.size, float(self.tip))
        draws = np.where(self.rng.random(v.size) < open_rate / lam, np.sign(v), 0.0)
        last = _last_tick(ticks, idx)
        path = np.where(last >= 0, draws[np.maximum(last, 0)], float(self.tip))
        self.tip = int(path[-1])
        return path
