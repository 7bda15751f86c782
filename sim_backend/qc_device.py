"""A quantized-conductance memristor: QPC conduction plus a Markov jump process of channels.

State (see ``docs/simulator-physics.md``):

* ``n`` fully open conduction channels at the filament's narrowest point, each with its own
  transmission (close to 1 while ballistic, random once ``n`` exceeds ``n_ballistic`` and
  transport turns diffusive);
* one partial channel: the outermost contact with a barrier drawn from a distribution of
  barrier heights when it forms or thins (transmission between 0 and 1 at a read, about
  beta G0 at high bias: the half-integer plateaus), or closed (barrier ``phi_gap`` ~ 1 eV,
  the tunnelling gap that carries the HRS current when ``n = 0``);
* a metastable filament tip that a read bias of ~0.15 V opens (read disturb);
* a flickering contact during RESET (conductance oscillations);
* the neck configuration (redrawn by atomic rearrangements under strong bias: the
  cycle-to-cycle scatter of a level) and two-level RTN traps;
* the filament temperature, quasi-static: ``T = T_amb + R_th |I V|``.
* the width of the filament body (``n_body`` channels): neck channels beyond it are held
  only by the field and relax at zero bias (volatile); Joule heating anneals the neck into
  the body as far as the hot zone reaches (``(P / p_anneal)^k_anneal`` channels, approached
  at ``nu_anneal`` per missing channel), so the kept level is a continuous function of
  compliance, amplitude and pulse count.

Dynamics: creation (positive bias) and removal (negative bias) of channels are Arrhenius
rates with field-lowered barriers evaluated at the constriction voltage and the Joule
temperature of every step. The source clamp enters through the operating point (the clamp
lowers the constriction voltage, which stalls growth), so compliance sets the final level
without any lookup: that is the "thickness knob".

Time and speed: the drive is a piecewise-constant schedule. Processes that do not change
the channel count (RTN, rearrangements, the read-disturb tip) are drawn for the whole drive
at once as per-step conduction offsets. Between two channel events every quantity is a
vector over steps: the circuit is solved over a window of steps (once per run of identical
steps), rates are integrated into a cumulative hazard, and the next event is where the
hazard crosses an exponential budget (the exact next-jump time of an inhomogeneous Poisson
process). Python loops run once per *event*, never per sample, and a step may hold many
events (a 20 ms SMU pulse given as one step) because the remaining part of a step is
carried over.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labcore.constants import E_CHARGE, K_BOLTZMANN
from sim_backend.device import DriveResult
from sim_backend.qc_circuit import CircuitSolution, solve_operating_point
from sim_backend.qc_params import QCParams, draw_device_params
from sim_backend.qpc import zero_bias_transmission

_KB_EV = K_BOLTZMANN / E_CHARGE  # Boltzmann constant in eV/K

# event types (rows of the rate matrix)
_CREATE, _REMOVE, _TIP_FIX, _REFORM, _REBREAK, _SETTLE, _DIFFUSE, _RELAX, _ANNEAL = range(9)

_W0 = 128  # first window after an event (steps); doubles while nothing happens
_W_MAX = 8192
_OSC_WINDOW_V = 0.5  # flicker only while the constriction sees more than this reverse bias
_TIP_MAX_V = 0.5  # the read-disturb tip opens only at read-like biases


def _logistic(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass
class _Fluctuations:
    """Per-step conduction offsets of a drive (RTN traps, neck rearrangements)."""

    dphi: NDArray[np.float64]  # barrier offset of a closed partial channel / gap, eV
    dphi_half: NDArray[np.float64]  # barrier offset of a half-open channel, eV
    dg: NDArray[np.float64]  # transmission offset of the open channels (RTN)
    dg_neck: NDArray[np.float64]  # rearrangement offset per square root of the channel count
    tip: NDArray[np.float64]  # transmission the read-disturb tip adds (+) or removes (-)

    def __getitem__(self, sl: slice | NDArray[np.int64]) -> _Fluctuations:
        return _Fluctuations(self.dphi[sl], self.dphi_half[sl], self.dg[sl],
                             self.dg_neck[sl], self.tip[sl])

    def changes(self) -> NDArray[np.bool_]:
        """True where a step's offsets differ from the previous step's."""
        out = np.zeros(self.dg.size, dtype=bool)
        if out.size:
            out[0] = True
            for a in (self.dphi, self.dphi_half, self.dg, self.dg_neck, self.tip):
                out[1:] |= a[1:] != a[:-1]
        return out


class QCDevice:
    """Quantized-conductance memristor implementing :class:`sim_backend.device.DeviceModel`.

    Parameters
    ----------
    seed : seeds the device-to-device draw and every later random event (deterministic).
    params : nominal parameters (default :class:`QCParams`).
    spread : draw this device's parameters lognormally around ``params`` (device-to-device
        variability); ``False`` uses ``params`` exactly (physics unit tests).
    n_channels : initial number of open channels (0 = pristine HRS).
    half_open : start with the partial channel half open.
    """

    def __init__(
        self,
        seed: int = 0,
        params: QCParams | None = None,
        spread: bool = True,
        n_channels: int = 0,
        half_open: bool = False,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        nominal = params or QCParams()
        self.params = draw_device_params(self.rng, nominal) if spread else nominal
        p = self.params
        if not 0 <= n_channels <= p.n_sat:
            raise ValueError(f"n_channels must be in 0..{p.n_sat}, got {n_channels!r}")
        self.time = 0.0
        self.n = 0
        self.half = False
        self.phi_half = 0.0
        self.phi_closed = float(self.rng.uniform(*p.phi_gap))
        self.tau = np.zeros(p.n_sat + 2)
        self.tau_sum = 0.0
        self.tip = 0  # -1, 0, +1: metastable tip closing / -, opening / + half a channel
        self.osc_phase = 0  # 0 off, 1 contact broken, 2 contact re-formed
        self.temperature = p.t_ambient
        for _ in range(n_channels):
            self._open_channel()
        if half_open:
            self._set_half()
        # channels the filament body backs (stable); a prepared state is a consolidated one
        self.n_body = max(int(p.n_body0), n_channels + int(half_open))
        # RTN traps: capture/emission times log-uniform; uniformization rate and occupancy.
        k = p.rtn_traps
        lo, hi = np.log(p.rtn_tau_range[0]), np.log(p.rtn_tau_range[1])
        tau_c = np.exp(self.rng.uniform(lo, hi, k))
        tau_e = np.exp(self.rng.uniform(lo, hi, k))
        self.rtn_rate = 1.0 / tau_c + 1.0 / tau_e
        self.rtn_p_occupied = (1.0 / tau_c) / self.rtn_rate
        self.rtn_state = self.rng.random(k) < self.rtn_p_occupied
        self.rtn_dphi = p.rtn_dphi * np.exp(self.rng.normal(0.0, 0.3, k))
        self.rtn_dg = p.rtn_dg * np.exp(self.rng.normal(0.0, 0.3, k))
        self.neck_dtau = 0.0  # neck rearrangement: transmission offset per sqrt(channel)
        self.neck_dphi = 0.0  # and barrier offset of the half channel (eV)
        self._budget = float(self.rng.exponential())
        self.events = 0

    # ----------------------------------------------------------------- state changes
    def _new_transmission(self) -> float:
        p = self.params
        if self.n >= p.n_ballistic:
            return float(self.rng.uniform(*p.diffusive_tau))
        return float(1.0 - abs(self.rng.normal(0.0, p.tau_sigma)))

    def _open_channel(self) -> None:
        if self.n >= self.tau.size:
            return
        t = self._new_transmission()
        self.tau[self.n] = t
        self.tau_sum += t
        self.n += 1

    def _close_channel(self) -> None:
        if self.n == 0:
            return
        self.n -= 1
        self.tau_sum = max(0.0, self.tau_sum - self.tau[self.n])
        self.tau[self.n] = 0.0
        if self.n == 0:
            self.tau_sum = 0.0

    def _set_half(self, phi: float | None = None) -> None:
        self.half = True
        self.phi_half = float(self.rng.normal(0.0, self.params.phi_half_sigma)) \
            if phi is None else phi

    def _close_half(self) -> None:
        self.half = False
        self.phi_closed = float(self.rng.uniform(*self.params.phi_gap))

    def _new_contact(self) -> None:
        """The outermost contact forms with a barrier drawn from the barrier distribution.

        A barrier well below the Fermi level (``phi < -phi_open``) is an open channel; one
        near or above it stays a partial channel with ``T = 1/(1 + e^{alpha phi})`` at low
        bias and about ``beta G0`` at high bias (the bias window straddles it). How often
        n + 1/2 levels appear is therefore an outcome of the barrier distribution, not
        an input. Above ``n_ballistic`` transport is diffusive: channels simply open.
        """
        p = self.params
        if self.n >= p.n_ballistic:
            self._open_channel()
            return
        phi = float(self.rng.normal(p.phi_mean, p.phi_spread))
        if phi < -p.phi_open:
            self._open_channel()
        else:
            self._set_half(phi)

    def _create(self) -> None:
        if self.half:
            self._close_half()
            self._open_channel()
        else:
            self._new_contact()

    def _remove(self, current: float, x: float) -> None:
        p = self.params
        if self.half:
            self._close_half()
            return
        self._close_channel()
        if self.n < self.params.n_ballistic:
            # the removed contact may survive as a partial one: its barrier is redrawn
            phi = float(self.rng.normal(self.params.phi_mean, self.params.phi_spread))
            if phi >= -self.params.phi_open:
                self._set_half(phi)
        if (
            self.osc_phase == 0
            and x < -_OSC_WINDOW_V
            and abs(current) > p.i_oscillation
            and self.rng.random() < p.p_oscillation
        ):
            self.osc_phase = 1

    def _apply(self, kind: int, current: float, x: float) -> None:
        if kind == _CREATE:
            self._create()
        elif kind == _ANNEAL:  # one more neck channel consolidated into the body
            self.n_body = min(self.n_body + 1, int(np.ceil(self.n + 0.5 * self.half)))
        elif kind == _REMOVE:
            self._remove(current, x)
        elif kind == _DIFFUSE:  # a diffusive channel dissolves once the field is gone
            self._close_channel()
        elif kind == _RELAX:  # the outermost unbacked (half or whole) channel dissolves
            if self.half:
                self._close_half()
            else:
                self._close_channel()
        elif kind == _TIP_FIX:  # an open tip is incorporated into the filament
            if x > 0:
                self._create()
            else:
                self._remove(current, 0.0)
        elif kind == _REFORM:
            self._open_channel()
            self.osc_phase = 2
        elif kind == _REBREAK:
            self._close_channel()
            self.osc_phase = 1
        else:
            self.osc_phase = 0
        self.events += 1

    # ----------------------------------------------------------------- evaluation
    @property
    def phi_partial(self) -> float:
        """Barrier of the partial channel in eV (half-open or the closed gap)."""
        return self.phi_half if self.half else self.phi_closed

    @property
    def partial_transmission(self) -> float:
        """True zero-bias transmission of the partial channel."""
        return float(zero_bias_transmission(self.phi_partial, self.params.alpha))

    def conductance_g0(self) -> float:
        """True zero-bias constriction conductance in G0 (no series resistance, no noise)."""
        tip = self.params.tip_t * self.tip if self.n > 0 or self.tip > 0 else 0.0
        return max(self.tau_sum + tip, 0.0) + self.partial_transmission

    def _operating_point(
        self,
        v: NDArray[np.float64],
        ilim: NDArray[np.float64],
        r_source: float,
        fl: _Fluctuations,
    ) -> CircuitSolution:
        p = self.params
        if self.n > 0:
            # the rearranged neck's offset scales with the neck as it is now
            g_open = np.maximum(self.tau_sum + fl.tip + fl.dg
                                + fl.dg_neck * np.sqrt(self.n), 0.0)
        else:
            g_open = np.maximum(fl.tip, 0.0)
        phi = self.phi_partial + (fl.dphi_half if self.half else fl.dphi)
        return solve_operating_point(
            v, ilim, p.r_series + r_source, g_open, phi, p.alpha, p.beta, p.r_series
        )

    def _rates(
        self, sol: CircuitSolution, span: float, tip: NDArray[np.float64] | None
    ) -> tuple[list[tuple[int, NDArray[np.float64] | float]], NDArray[np.float64]]:
        """Active processes ``(kind, rate per step in 1/s)`` and the temperature per step.

        A process is left out when a rigorous upper bound of its rate over the window
        (extreme voltage, hottest step) times the window's duration ``span`` is below
        1e-12, i.e. when it could not fire with more than that probability: read and
        rest windows then cost almost nothing.
        """
        p = self.params
        x = sol.v_constriction
        temp = p.t_ambient + p.r_thermal * np.abs(sol.i * x)
        x_max, x_min, t_max = float(x.max()), float(x.min()), float(temp.max())
        kt_max = _KB_EV * t_max
        negligible = 1e-12 / max(span, 1e-300)
        procs: list[tuple[int, NDArray[np.float64] | float]] = []
        inv_kt = None
        m = self.n + 0.5 * self.half
        site = max(0.0, 1.0 - m / p.n_sat)
        # each channel crowds the next one's entry; beyond m_wide_create the neck widens
        # at its rim, where a new channel costs less
        e_c = (p.e_create + p.eps_create * min(m, p.m_wide_create)
               + p.eps_create_wide * max(m - p.m_wide_create, 0.0))
        if site > 0.0 and p.nu0 * site * np.exp(-max(e_c - p.gamma_create * x_max, 0.0)
                                                 / kt_max) > negligible:
            inv_kt = 1.0 / (_KB_EV * temp)
            barrier = np.maximum(e_c - p.gamma_create * x, 0.0)
            procs.append((_CREATE, p.nu0 * site * np.exp(-barrier * inv_kt)))
        # beyond m_wide channels the neck's outer channels are all alike: the removal
        # barrier stops falling with size
        e_r = (p.e_remove - p.eps_remove * min(m, p.m_wide)
               + p.e_last * np.exp(-m / p.m_last))
        # removal is Joule-assisted at the neck (RESET: thermally driven dissolution);
        # the field only helps a little, so a RESET stops once the power has fallen.
        # Under positive bias the field drives vacancies into the neck, which outweighs
        # the thermal out-diffusion: there removal sees only the filament temperature.
        r_th = p.r_thermal_reset
        if p.m_thermal > 0:  # spreading resistance of a contact of radius ~ sqrt(m)
            r_th = r_th * np.sqrt(p.m_thermal / max(m, p.m_thermal_floor))
        t_neck = np.where(x < 0, p.t_ambient + r_th * np.abs(sol.i * x), temp)
        kt_neck_max = _KB_EV * float(t_neck.max())
        if m > 0 and p.nu0 * np.exp(-max(e_r + p.gamma_remove * x_min, 0.0)
                                    / kt_neck_max) > negligible:
            barrier = np.maximum(e_r + p.gamma_remove * x, 0.0)
            procs.append((_REMOVE, p.nu0 * np.exp(-barrier / (_KB_EV * t_neck))))
        if m > 0 and p.nu_decay > 0:
            # a thin filament dissolves at zero bias (retention grows with the level)
            decay = p.nu_decay * np.exp(-m / p.m_decay)
            if decay * span > 1e-12:
                procs.append((_REMOVE, decay))
        excess = self.n - p.n_ballistic
        if excess > 0 and p.nu_diffuse * excess * np.exp(-max(x_min, 0.0) / p.v_diffuse) \
                > negligible:
            procs.append((_DIFFUSE, p.nu_diffuse * excess
                          * np.exp(-np.maximum(x, 0.0) / p.v_diffuse)))
        unbacked = int(np.ceil(m - self.n_body))
        if unbacked > 0:
            # neck channels beyond the body's width relax once the field is gone
            if p.nu_volatile * unbacked * np.exp(-max(x_min, 0.0) / p.v_hold) > negligible:
                procs.append((_RELAX, p.nu_volatile * unbacked
                              * np.exp(-np.maximum(x, 0.0) / p.v_hold)))
            # ... and are annealed into the body as far as the hot zone reaches
            power = np.abs(sol.i * x)
            reach = (power / p.p_anneal) ** p.k_anneal - self.n_body
            if p.nu_anneal * min(unbacked, float(reach.max())) * span > 1e-12:
                procs.append((_ANNEAL, p.nu_anneal * np.clip(reach, 0.0, unbacked)))
        if self.n > 0 and tip is not None and tip.any():
            procs.append((_TIP_FIX, (p.p_tip_fix * p.nu_tip_relax / p.tip_t) * np.abs(tip)))
        if self.osc_phase:
            window = x < -_OSC_WINDOW_V
            if self.osc_phase == 1:
                procs.append((_REFORM, np.where(window, p.nu_oscillation, 0.0)))
            elif self.n > 0:
                procs.append((_REBREAK, np.where(window, p.nu_oscillation, 0.0)))
            procs.append((_SETTLE, np.where(window, p.nu_oscillation_end, 1e6)))
        return procs, temp

    def _fluctuations(
        self, v: NDArray[np.float64], dts: NDArray[np.float64]
    ) -> _Fluctuations:
        """RTN and neck rearrangements at the end of every step, as conduction offsets.

        Both are two-valued or redrawn jump processes that do not change the channel
        count, so they are precomputed for the whole drive instead of splitting it into
        events. A process uniformized at rate ``lambda`` takes a fresh draw from its
        target distribution at every Poisson tick (for a two-state trap the stationary
        distribution when ``lambda = 1/tau_c + 1/tau_e``, which is exact), so the value at
        the end of a step is the draw of the last tick so far, or the value carried in
        from the previous drive: exact for any step length, and fully vectorised.

        Rearrangements tick at ``nu_rearrange`` once the programmed bias exceeds
        ``v_rearrange`` (either polarity): atoms at the neck move under strong bias, which
        redraws the outermost open channel's transmission deficit and the half channel's
        barrier offset (the 5-10 % cycle-to-cycle scatter of a level).
        """
        p = self.params
        n = dts.size
        idx = np.arange(n)
        k = self.rtn_rate.size
        dphi = np.zeros(n)
        dg = np.zeros(n)
        if k and n:
            ticks = self.rng.random((k, n)) < -np.expm1(-self.rtn_rate[:, None] * dts[None, :])
            draws = self.rng.random((k, n)) < self.rtn_p_occupied[:, None]
            last = np.maximum.accumulate(np.where(ticks, idx[None, :], -1), axis=1)
            states = np.where(
                last >= 0,
                np.take_along_axis(draws, np.maximum(last, 0), axis=1),
                self.rtn_state[:, None],
            )
            self.rtn_state = states[:, -1].copy()
            dphi = self.rtn_dphi @ states
            dg = self.rtn_dg @ states
        rate = p.nu_rearrange * _logistic((np.abs(v) - p.v_rearrange) / 0.05)
        ticks = self.rng.random(n) < -np.expm1(-rate * dts)
        if ticks.any():
            last = np.maximum.accumulate(np.where(ticks, idx, -1))
            j = np.maximum(last, 0)
            # the neck's outer channels are rearranged together: the offset of the summed
            # transmission scales with the square root of the neck's width (applied with
            # the channel count of the moment: cycle-to-cycle spread of a level)
            new_tau = self.rng.normal(0.0, p.rearrange_tau_sigma, n)
            new_phi = self.rng.normal(0.0, p.rearrange_phi_sigma, n)
            re_tau = np.where(last >= 0, new_tau[j], self.neck_dtau)
            re_phi = np.where(last >= 0, new_phi[j], self.neck_dphi)
            self.neck_dtau = float(re_tau[-1])
            self.neck_dphi = float(re_phi[-1])
        else:
            re_tau = np.full(n, self.neck_dtau)
            re_phi = np.full(n, self.neck_dphi)
        tip = p.tip_t * self._tip_path(v, dts, idx)
        return _Fluctuations(dphi=dphi, dphi_half=dphi + re_phi, dg=dg, dg_neck=re_tau,
                             tip=tip)

    def _tip_path(self, v: NDArray[np.float64], dts: NDArray[np.float64],
                  idx: NDArray[np.int64]) -> NDArray[np.float64]:
        """State of the read-disturb tip at the end of every step: -1, 0 or +1.

        A two-state process opened at the programmed read bias (logistic in |v|, only
        within the read range: above ~0.5 V the tip is part of the main dynamics) and
        relaxed at ``nu_tip_relax`` (much faster under strong bias); it opens towards the
        sign of the bias. Uniformized
        per step at ``lambda_k = open_k + relax``, so the end-of-step state is a draw from
        that step's stationary distribution taken at the last tick (exact per step).
        """
        p = self.params
        av = np.abs(v)
        # only a complete filament (a neck as wide as its body) has a tip to open: none in
        # the HRS, none on a neck a RESET has thinned (its tip region is depleted)
        formed = 1.0 if self.n > 0 and self.n >= self.n_body else 0.0
        # a read is a weak SET: only the SET polarity draws the tip out (vacancies drift
        # towards the top electrode); a negative bias pushes it back (relaxation)
        open_rate = (formed * p.nu_disturb * (v > 0)
                     * _logistic((av - p.v_disturb) / p.v_disturb_width)
                     * _logistic((_TIP_MAX_V - av) / 0.05))
        # strong bias (above the read range) hands an open tip back to the main dynamics
        relax = p.nu_tip_relax * (1.0 + 1e3 * _logistic((av - _TIP_MAX_V) / 0.05))
        lam = open_rate + relax
        ticks = self.rng.random(v.size) < -np.expm1(-lam * dts)
        if not ticks.any():
            return np.full(v.size, float(self.tip))
        draws = np.where(self.rng.random(v.size) < open_rate / lam, np.sign(v), 0.0)
        last = np.maximum.accumulate(np.where(ticks, idx, -1))
        path = np.where(last >= 0, draws[np.maximum(last, 0)], float(self.tip))
        self.tip = int(path[-1])
        return path

    # ----------------------------------------------------------------- contract
    def drive(
        self,
        dt: ArrayLike,
        v_source: ArrayLike,
        i_limit: ArrayLike,
        r_source: float = 0.0,
    ) -> DriveResult:
        """Apply ``v_source[k]`` for ``dt[k]`` s with the source clamp ``|i| <= i_limit[k]``."""
        v = np.atleast_1d(np.asarray(v_source, dtype=float))
        if v.ndim != 1:
            raise ValueError(f"v_source must be 1-D, got shape {v.shape}")
        dts = np.broadcast_to(np.asarray(dt, dtype=float), v.shape).copy()
        ilim = np.broadcast_to(np.asarray(i_limit, dtype=float), v.shape)
        if not np.all(np.isfinite(v)):
            raise ValueError("v_source must be finite")
        if np.any(~np.isfinite(dts)) or np.any(dts < 0):
            raise ValueError(f"dt must be finite and >= 0 s, got {dts[~(dts >= 0)][:3]!r}")
        if np.any(np.isnan(ilim)) or np.any(ilim <= 0):
            raise ValueError("i_limit must be > 0 A (np.inf for no limit)")
        if not (np.isfinite(r_source) and r_source >= 0):
            raise ValueError(f"r_source must be a finite resistance >= 0 Ohm, got {r_source!r}")
        size = v.size
        out_v = np.empty(size)
        out_i = np.empty(size)
        out_c = np.zeros(size, dtype=bool)
        out_n = np.empty(size, dtype=np.int64)
        out_p = np.empty(size)
        out_g = np.empty(size)
        out_t = np.empty(size)
        t_end = self.time + np.cumsum(dts)
        fluct = self._fluctuations(v, dts)
        # steps with the same source, limit and offsets as the step before share their
        # operating point and rates (pulse plateaus, sampled waveforms): solve once per run
        new_run = fluct.changes()
        if size > 1:
            new_run[1:] |= (v[1:] != v[:-1]) | (ilim[1:] != ilim[:-1])
        dedup = bool(size) and 4 * int(np.count_nonzero(new_run)) < 3 * size
        has_tip = bool(fluct.tip.any())
        t_start = np.concatenate(([self.time], t_end[:-1])) if size else t_end

        k = 0
        window = _W0
        while k < size:
            e = min(size, k + window)
            dt_w = dts[k:e]
            span = float(t_end[e - 1] - t_start[k])  # >= the window's remaining time
            first = None
            if dedup:
                starts = new_run[k:e].copy()
                starts[0] = True
                first = np.flatnonzero(starts)
            if first is not None and 2 * first.size < e - k:
                rid = np.cumsum(starts) - 1
                at = first + k
                sol = self._operating_point(v[at], ilim[at], r_source, fluct[at])
                procs, temp = self._rates(sol, span, fluct.tip[at] if has_tip else None)
                sol = CircuitSolution(sol.v_constriction[rid], sol.v_terminal[rid], sol.i[rid],
                                      sol.compliance[rid])
                temp = temp[rid]
                procs = [(kind, r if np.isscalar(r) else r[rid]) for kind, r in procs]
            else:
                sol = self._operating_point(v[k:e], ilim[k:e], r_source, fluct[k:e])
                procs, temp = self._rates(sol, span, fluct.tip[k:e] if has_tip else None)
            j = e - k  # no event in this window: commit it whole
            if procs:
                total = procs[0][1]
                for _, r in procs[1:]:
                    total = total + r
                total = np.broadcast_to(total, dt_w.shape)
                hazard = np.cumsum(total * dt_w)
                if hazard[-1] >= self._budget:
                    j = int(np.searchsorted(hazard, self._budget))
                else:
                    self._budget -= float(hazard[-1])
            if j:
                sl = slice(k, k + j)
                out_v[sl] = sol.v_terminal[:j]
                out_i[sl] = sol.i[:j]
                out_c[sl] = sol.compliance[:j]
                out_n[sl] = self.n
                out_p[sl] = self.partial_transmission
                out_g[sl] = self.tau_sum
                out_t[sl] = temp[:j]
            if j == e - k:
                k = e
                window = min(2 * window, _W_MAX)
                continue
            # an event inside step k + j: spend that part of the step, then jump
            before = float(hazard[j - 1]) if j else 0.0
            frac = (self._budget - before) / (total[j] * dts[k + j])
            dts[k + j] *= max(0.0, 1.0 - frac)
            at_j = np.array([r if np.isscalar(r) else r[j] for _, r in procs], dtype=float)
            pick = int(np.searchsorted(np.cumsum(at_j), self.rng.random() * at_j.sum(),
                                       side="right"))
            kind = procs[min(pick, len(procs) - 1)][0]
            x_j = float(sol.v_constriction[j])
            if kind == _TIP_FIX:  # the open tip's sign says which way it is incorporated
                x_j = float(fluct.tip[k + j])
            self._apply(kind, float(sol.i[j]), x_j)
            self._budget = float(self.rng.exponential())
            k += j
            window = _W0
        if size:
            self.time = float(t_end[-1])
            self.temperature = float(out_t[-1])
        return DriveResult(
            t=t_end,
            v=out_v,
            i=out_i,
            compliance=out_c,
            n_channels=out_n,
            partial=out_p,
            open_transmission=out_g,
            temperature=out_t,
        )

    def rest(self, duration: float) -> None:
        """Zero bias for ``duration`` s: retention loss, tip relaxation and RTN evolve."""
        if not (np.isfinite(duration) and duration >= 0):
            raise ValueError(f"duration must be finite and >= 0 s, got {duration!r}")
        if duration > 0:
            self.drive([duration], [0.0], [np.inf])
