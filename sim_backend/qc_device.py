"""A quantized-conductance memristor: QPC conduction plus a Markov jump process of channels.

State (see ``docs/simulator-physics.md``):

* ``n`` fully open conduction channels at the filament's narrowest point, each with its own
  transmission (close to 1 while ballistic, random once ``n`` exceeds ``n_ballistic`` and
  transport turns diffusive);
* one partial channel: half-open (barrier ``phi ~ 0`` eV, transmission ~ 1/2, the
  half-integer plateaus) or closed (barrier ``phi_gap`` ~ 1 eV, the tunnelling gap that
  carries the HRS current when ``n = 0``);
* a metastable filament tip that read bias can open (read disturb);
* a flickering contact during RESET (conductance oscillations);
* two-level RTN traps that modulate the partial channel's barrier and one open channel;
* the filament temperature, quasi-static: ``T = T_amb + R_th |I V|``.

Dynamics: creation (positive bias) and removal (negative bias) of channels are Arrhenius
rates with field-lowered barriers evaluated at the constriction voltage and the Joule
temperature of every step. The source clamp enters through the operating point (the clamp
lowers the constriction voltage, which stalls growth), so compliance sets the final level
without any lookup: that is the "thickness knob".

Time and speed: the drive is a piecewise-constant schedule. Between two events every
quantity is a vector over steps: the circuit is solved over a window of steps, rates are
integrated into a cumulative hazard, and the next event is where the hazard crosses an
exponential budget (the exact next-jump time of an inhomogeneous Poisson process). Python
loops run once per *event*, never per sample, and a step may hold many events (a 20 ms SMU
pulse given as one step) because the remaining part of a step is carried over.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis.constants import E_CHARGE, G0, K_BOLTZMANN
from sim_backend.device import DriveResult
from sim_backend.qc_circuit import CircuitSolution, solve_operating_point
from sim_backend.qc_params import QCParams, draw_device_params
from sim_backend.qpc import zero_bias_transmission

_KB_EV = K_BOLTZMANN / E_CHARGE  # Boltzmann constant in eV/K

# event types (rows of the rate matrix)
_CREATE, _REMOVE, _TIP_OPEN, _TIP_RELAX, _REFORM, _REBREAK, _SETTLE = range(7)
_N_EVENTS = 7

_W0 = 128  # first window after an event (steps); grows x4 while nothing happens
_OSC_WINDOW_V = 0.5  # flicker only while the constriction sees more than this reverse bias


def _logistic(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


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

    def _set_half(self) -> None:
        self.half = True
        self.phi_half = float(self.rng.normal(0.0, self.params.phi_half_sigma))

    def _close_half(self) -> None:
        self.half = False
        self.phi_closed = float(self.rng.uniform(*self.params.phi_gap))

    def _p_half(self) -> float:
        return self.params.p_half if self.n < self.params.n_ballistic else 0.0

    def _create(self) -> None:
        if self.half:
            self._close_half()
            self._open_channel()
        elif self.rng.random() < self._p_half():
            self._set_half()
        else:
            self._open_channel()

    def _remove(self, current: float, x: float) -> None:
        p = self.params
        if self.half:
            self._close_half()
            return
        self._close_channel()
        if self.rng.random() < self._p_half():
            self._set_half()
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
        elif kind == _REMOVE:
            self._remove(current, x)
        elif kind == _TIP_OPEN:
            self.tip = 1 if x > 0 else -1
        elif kind == _TIP_RELAX:
            if self.rng.random() < self.params.p_tip_fix:
                if self.tip > 0:
                    self._create()
                else:
                    self._remove(current, 0.0)
            self.tip = 0
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
        return self.tau_sum + tip + self.partial_transmission

    def _operating_point(
        self,
        v: NDArray[np.float64],
        ilim: NDArray[np.float64],
        r_source: float,
        dphi: NDArray[np.float64],
        dg: NDArray[np.float64],
    ) -> CircuitSolution:
        p = self.params
        tip = p.tip_t * self.tip if (self.n > 0 or self.tip > 0) else 0.0
        g_open = G0 * np.maximum(self.tau_sum + tip + (dg if self.n > 0 else 0.0), 0.0)
        g_open = np.broadcast_to(g_open, v.shape)
        phi = self.phi_partial + dphi
        return solve_operating_point(
            v, ilim, p.r_series + r_source, g_open, phi, p.alpha, p.beta, p.r_series
        )

    def _rates(self, sol: CircuitSolution) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Rate matrix (events x steps) in 1/s, and the filament temperature per step."""
        p = self.params
        x = sol.v_constriction
        temp = p.t_ambient + p.r_thermal * np.abs(sol.i * x)
        inv_kt = 1.0 / (_KB_EV * temp)
        m = self.n + 0.5 * self.half
        rates = np.zeros((_N_EVENTS, x.size))
        site = max(0.0, 1.0 - m / p.n_sat)
        if site > 0.0:
            barrier = np.maximum(p.e_create + p.eps_create * m - p.gamma_create * x, 0.0)
            rates[_CREATE] = p.nu0 * site * np.exp(-barrier * inv_kt)
        if m > 0:
            # the bulk of a diffusive filament is no less stable than its ballistic neck
            m_eff = min(m, p.n_ballistic)
            barrier = np.maximum(p.e_remove - p.eps_remove * m_eff + p.gamma_remove * x, 0.0)
            rates[_REMOVE] = p.nu0 * np.exp(-barrier * inv_kt)
        if self.tip == 0:
            if self.n > 0:  # the tip belongs to an existing filament
                rates[_TIP_OPEN] = p.nu_disturb * _logistic(
                    (np.abs(x) - p.v_disturb) / p.v_disturb_width
                )
        else:
            rates[_TIP_RELAX] = p.nu_tip_relax
        if self.osc_phase:
            window = x < -_OSC_WINDOW_V
            if self.osc_phase == 1:
                rates[_REFORM] = np.where(window, p.nu_oscillation, 0.0)
            elif self.n > 0:
                rates[_REBREAK] = np.where(window, p.nu_oscillation, 0.0)
            rates[_SETTLE] = np.where(window, p.nu_oscillation_end, 1e6)
        return rates, temp

    def _rtn_paths(
        self, dts: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Barrier and conductance modulation by the RTN traps at the end of every step.

        A two-state Markov chain uniformized at rate ``lambda = 1/tau_c + 1/tau_e`` resets to
        its stationary distribution at every Poisson tick, so the state at the end of a step
        is a fresh stationary draw taken at the last tick so far, or the initial state if no
        tick has happened: exact for any step length, and fully vectorised.
        """
        k, n = self.rtn_rate.size, dts.size
        if k == 0 or n == 0:
            z = np.zeros(n)
            return z, z
        p_tick = -np.expm1(-self.rtn_rate[:, None] * dts[None, :])
        ticks = self.rng.random((k, n)) < p_tick
        draws = self.rng.random((k, n)) < self.rtn_p_occupied[:, None]
        last = np.where(ticks, np.arange(n)[None, :], -1)
        last = np.maximum.accumulate(last, axis=1)
        states = np.where(
            last >= 0,
            np.take_along_axis(draws, np.maximum(last, 0), axis=1),
            self.rtn_state[:, None],
        )
        self.rtn_state = states[:, -1].copy()
        dphi = self.rtn_dphi @ states
        dg = self.rtn_dg @ states
        return dphi, dg

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
        dphi, dg = self._rtn_paths(dts)

        k = 0
        window = _W0
        while k < size:
            e = min(size, k + window)
            sol = self._operating_point(v[k:e], ilim[k:e], r_source, dphi[k:e], dg[k:e])
            rates, temp = self._rates(sol)
            total = rates.sum(axis=0)
            hazard = np.cumsum(total * dts[k:e])
            if hazard[-1] < self._budget:
                j = e - k  # no event in this window: commit it whole
            else:
                j = int(np.searchsorted(hazard, self._budget))
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
                self._budget -= float(hazard[-1])
                k = e
                window *= 4
                continue
            # an event inside step k + j: spend that part of the step, then jump
            before = float(hazard[j - 1]) if j else 0.0
            frac = (self._budget - before) / (total[j] * dts[k + j])
            dts[k + j] *= max(0.0, 1.0 - frac)
            cum = np.cumsum(rates[:, j])
            kind = int(np.searchsorted(cum, self.rng.random() * cum[-1], side="right"))
            self._apply(min(kind, _N_EVENTS - 1), float(sol.i[j]), float(sol.v_constriction[j]))
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
