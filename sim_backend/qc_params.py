"""Parameters of the quantized-conductance device and their device-to-device spread.

Nominal values are *model* defaults chosen so that the simulated device reproduces the
calibration targets of paper 000 (see ``docs/simulator-physics.md``); they are not literature
values for BiFeO3. Every device draws its own parameter set once, from lognormal
distributions around the nominal values (``sigma_ln`` about 0.03–0.10, the 5–10 %
device-to-device spread the paper reports), so an ensemble of seeds is an ensemble of
devices.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np


@dataclass(frozen=True)
class QCParams:
    """All parameters of one device (energies in eV, voltages in V, times in s).

    Conduction
    ----------
    alpha, beta : QPC barrier shape (1/eV) and source-side voltage fraction.
    r_series : series resistance of electrodes and bulk filament in Ohm.
    n_ballistic : channels above which transport turns diffusive (no quantization).
    n_sat : number of channel sites the constriction can hold (growth saturates there).
    tau_sigma : per-channel transmission deficit spread (ballistic channels).
    diffusive_tau : (low, high) uniform transmission range of channels above ``n_ballistic``.
    phi_half_sigma : spread of the barrier of a prepared half-open channel around 0 eV.
    phi_mean, phi_spread : normal distribution of the barrier of the outermost contact,
        drawn whenever it forms or thins (the distribution of barrier heights of the
        Miranda-Sune model); below ``-phi_open`` the contact is an open channel, above
        it a partial one. The share of n + 1/2 levels is an outcome of this distribution.
    phi_open : barrier depth (eV) below the Fermi level beyond which a contact is open.
    phi_gap : (low, high) uniform range of the closed channel's barrier (HRS tunnel gap).

    Ion dynamics (Arrhenius, field-lowered; rate = nu0 exp(-(E - gamma x) / kT))
    ----------------------------------------------------------------------------
    nu0 : attempt frequency in 1/s.
    e_create, eps_create : creation barrier at size 0 and its increase per channel.
    m_wide_create, eps_create_wide : beyond ``m_wide_create`` channels the barrier rises by
        only ``eps_create_wide`` per channel (a wide neck grows at its rim).
    gamma_create : field lowering of the creation barrier in eV/V (positive bias).
    e_remove, eps_remove : removal barrier at size 0 and its decrease per channel.
    m_wide : size beyond which the removal barrier no longer falls (outer channels of a
        wide neck are all alike).
    e_last, m_last : extra stability of the last few contacts, ``e_last exp(-m / m_last)``
        added to the removal barrier (the single-atom contact near 1 G0 is the most
        stable configuration of a point contact).
    gamma_remove : field lowering of the removal barrier in eV/V (negative bias).
    r_thermal_reset : thermal resistance of the neck for removal (K/W): removal runs at
        ``T = T_amb + r_thermal_reset |I x|``, so a RESET is Joule-driven and stops where
        the dissipated power has fallen (intermediate levels at -3 V).
    m_thermal, m_thermal_floor : the neck is a constriction whose spreading resistance
        ``1 / (4 kappa a)`` grows as its radius ``a ~ sqrt(m)`` shrinks:
        ``r_thermal_reset`` holds at ``m_thermal`` channels and scales as
        ``sqrt(m_thermal / max(m, m_thermal_floor))`` (below a few channels the heat
        leaves through the electrodes; 0 switches the scaling off). A thinning neck
        stays hot, so a RESET train keeps decaying (Fig. 6) instead of stalling.
    nu_decay, m_decay : zero-bias dissolution of a thin filament, ``nu_decay exp(-m /
        m_decay)`` per second: low levels drift, retention grows exponentially with the
        level (paper 002 L318).
    r_thermal : thermal resistance of the filament in K/W (Joule heating).
    nu_diffuse, v_diffuse : channels beyond ``n_ballistic`` (the diffusive, wide part of a
        high-compliance filament) dissolve at ``nu_diffuse`` each once the field is gone;
        positive bias holds them (suppression ``exp(-V / v_diffuse)``). Paper 000: states
        of 25-40 G0 are rarely observed because of "accelerated oxygen ion diffusion and
        structural reconfiguration".
    t_ambient : ambient temperature in K.

    Filament body (compliance-dependent stability of the neck)
    ----------------------------------------------------------
    n_body0 : channels the body of a pristine device backs (0: nothing is stable before
        the first SET has heated the neck).
    nu_volatile, v_hold : a neck channel beyond the body's width is not backed by the
        vacancy reservoir of the body and relaxes at ``nu_volatile`` once the field is gone;
        positive bias holds it (suppression ``exp(-V / v_hold)``).
    p_anneal, k_anneal : Joule heating anneals the neck into the body. The zone hot enough
        for lateral vacancy diffusion grows with the power ``P = |I x|`` dissipated at the
        neck (radius ~ P for a point source, cross-section ~ P^2), so the body can back at
        most ``reach = (P / p_anneal)^k_anneal`` channels.
    anneal_core, nu_anneal : the core of the hot zone (``anneal_core`` of the reach)
        consolidates fast, at ``nu_anneal`` per missing channel (within one 20 ms pulse):
        the initial jump of paper 000 Fig. 5d (L110).
    nu_supply, supply_stages : beyond the core the body grows only as fast as SET-polarity
        drift supplies vacancies ("insufficient pulse count limits vacancy accumulation",
        L110): one channel per ``supply_stages`` arrivals at ``supply_stages * nu_supply``
        per second, about 2 channels per 20 ms pulse (2-4 pulses ~18 G0, 6-10 pulses ~25
        G0). Counting arrivals keeps that climb's scatter below a Poisson count's.
    supply_sites : the supply slows over the last ``supply_sites`` unconsolidated neck
        channels (fewer sites catch the vacancies): a body short of a narrow neck fills it
        over several pulses, so pulsed landing levels stay continuous.
    nu_soft, nu_strip : regrowth into the trace of a thinned body. A RESET thins the body
        with the neck, but the vacancy-rich trace of the widest body so far (``n_peak``)
        stays around it: under SET-polarity bias above ``v_rearrange`` the trace regrows
        at ``nu_soft`` per channel of it not yet regrown, weakly held: until Joule
        annealing consolidates them, the weakly held channels drift out again under
        RESET-polarity bias above ``v_rearrange`` at ``nu_strip`` per channel. Both are
        first order; each rate is fitted to one of paper 000's nonlinearities (Fig. 7b,
        L130): 30 x 1.5 V / 5 ms potentiation with NL 5.08 (``nu_soft``, about 5 pulses
        per e-fold) and 30 x -1.5 V depression with NL 4.85 (``nu_strip``: the Joule
        removal of the high levels adds to the stripping, so it is a little slower).
    trace_stages : a trace channel regrows (or is stripped) after ``trace_stages``
        sub-steps at ``trace_stages`` times the rate: the same mean time per channel, but
        regular (Erlang) instead of exponential waiting times, so that a potentiation of
        ~10 channels is not a staircase of 10 random steps whose NL scatters by +-1.5
        between devices (the atoms of a channel move in one by one). Drawn as one
        Gamma(trace_stages, 1) budget per channel, like the supply.
    p_anneal_shell, k_anneal_shell : beyond ``n_ballistic`` channels the body reaches into
        the diffusive shell of the filament only as far as ``n_ballistic + (P /
        p_anneal_shell)^k_anneal_shell``: the shell lies further from the hot spot than
        the core, so it consolidates only at the highest powers. Diffusive channels the
        body backs stay (no zero-bias dissolution); the rest dissolve. Fitted to paper
        000 Fig. 2 (L67): DC SETs reach the compliance (~34 G0 at 5 mA) but RESET starts
        from 22 / 23 / 24 G0 at 5 / 7 / 10 mA: most of the shell dissolves, a little
        more of it stays the higher the compliance.

    Read disturb (metastable filament tip, MSS-like logistic in bias)
    ----------------------------------------------------------------
    nu_disturb : saturated opening rate of the tip in 1/s: a positive (SET-polarity) read
        opens it, on a complete filament only (at least one channel and a neck as wide as
        its body; a RESET-thinned neck has no tip).
    v_disturb, v_disturb_width : logistic centre and width of the opening rate in V (of the
        programmed read bias).
    nu_tip_relax : relaxation rate of an open tip in 1/s.
    p_tip_fix : probability that a relaxing tip is incorporated into the filament.
    tip_t : transmission an open tip adds (positive bias) or removes (negative bias).

    Rearrangement under strong bias (cycle-to-cycle variation of a level)
    ---------------------------------------------------------------------
    v_rearrange : bias (V, either polarity) above which atoms at the neck rearrange. The
        neck is redrawn once each time the bias rises above it (the heating transient of a
        pulse's leading edge, or of a sweep crossing it): every strong pulse starts in a
        fresh configuration, which holds for the pulse.
    nu_rearrange : rate in 1/s of further rearrangements while the bias stays above
        ``v_rearrange`` (slow creep at a steady temperature: a 5 ms pulse keeps its
        configuration, a DC branch above 1 V is redrawn a few times).
    rearrange_phi_sigma : spread of the half channel's barrier redrawn at a rearrangement.
    rearrange_tau_sigma : spread of the open channels' summed transmission offset per
        square root of the channel count (scaled with the channel count of the moment).

    RESET oscillations
    ------------------
    p_oscillation : probability that a RESET removal leaves a flickering contact.
    i_oscillation : minimum current for the flicker window in A.
    nu_oscillation, nu_oscillation_end : flicker and settle rates in 1/s.

    Random telegraph noise
    ----------------------
    rtn_traps : number of two-level traps.
    rtn_tau_range : (low, high) log-uniform range of trap time constants in s.
    rtn_dphi : barrier modulation of the partial channel / gap by one trap in eV.
    rtn_dg : conductance modulation of an open channel by one trap in G0.
    """

    alpha: float = 4.0
    beta: float = 0.5
    r_series: float = 30.0
    n_ballistic: int = 25
    n_sat: int = 60
    tau_sigma: float = 0.02
    diffusive_tau: tuple[float, float] = (0.3, 0.9)
    phi_half_sigma: float = 0.03
    phi_mean: float = -0.3
    phi_spread: float = 0.3
    phi_open: float = 0.35
    phi_gap: tuple[float, float] = (0.8, 1.1)

    nu0: float = 1e13
    e_create: float = 1.207
    eps_create: float = 0.03
    m_wide_create: float = 12.0
    eps_create_wide: float = 0.015
    gamma_create: float = 0.5
    e_remove: float = 1.36
    eps_remove: float = 0.0147
    gamma_remove: float = 0.05
    r_thermal_reset: float = 1.04e5
    m_thermal: float = 10.0
    m_thermal_floor: float = 4.0
    nu_decay: float = 1e-2
    m_decay: float = 1.5
    m_wide: float = 12.0
    e_last: float = 0.25
    m_last: float = 2.0
    r_thermal: float = 3.0e3
    nu_diffuse: float = 30.0
    v_diffuse: float = 0.1
    t_ambient: float = 300.0
    n_body0: int = 0
    nu_volatile: float = 3e4
    v_hold: float = 0.1
    p_anneal: float = 1.6e-3
    k_anneal: float = 2.5
    p_anneal_shell: float = 9e-3
    k_anneal_shell: float = 3.0
    nu_anneal: float = 150.0
    anneal_core: float = 0.5
    nu_supply: float = 110.0
    supply_stages: int = 8
    supply_sites: float = 4.0
    nu_soft: float = 56.0
    nu_strip: float = 33.0
    trace_stages: int = 8

    nu_disturb: float = 2000.0
    v_disturb: float = 0.15
    v_disturb_width: float = 0.005
    nu_tip_relax: float = 5.0
    p_tip_fix: float = 0.15
    tip_t: float = 0.5

    nu_rearrange: float = 20.0
    v_rearrange: float = 1.0
    rearrange_phi_sigma: float = 0.15
    rearrange_tau_sigma: float = 0.18

    p_oscillation: float = 0.08
    i_oscillation: float = 3e-4
    nu_oscillation: float = 400.0
    nu_oscillation_end: float = 40.0

    rtn_traps: int = 2
    rtn_tau_range: tuple[float, float] = (2e-3, 0.2)
    rtn_dphi: float = 0.04
    rtn_dg: float = 0.05


#: Lognormal sigma of the device-to-device spread, per parameter (absent = fixed).
D2D_SIGMA: dict[str, float] = {
    "alpha": 0.05,
    "r_series": 0.10,
    "e_create": 0.01,
    "gamma_create": 0.02,
    "e_remove": 0.01,
    "gamma_remove": 0.02,
    "r_thermal_reset": 0.08,
    "r_thermal": 0.10,
    "nu_disturb": 0.10,
    "rtn_dphi": 0.20,
    "rtn_dg": 0.20,
}


def draw_device_params(rng: np.random.Generator, nominal: QCParams | None = None) -> QCParams:
    """One device's parameters: each spread parameter times ``exp(N(0, sigma))``."""
    nominal = nominal or QCParams()
    changes = {}
    for f in fields(nominal):
        sigma = D2D_SIGMA.get(f.name)
        if sigma:
            changes[f.name] = getattr(nominal, f.name) * float(np.exp(rng.normal(0.0, sigma)))
    return replace(nominal, **changes)
