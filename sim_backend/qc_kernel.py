"""The compiled core of the QC device's event loop: circuit, rates and hazard, per step.

Between two channel events the device's state is fixed, so everything a step needs is a
function of the state, the step's source, limit and conduction offsets: the operating
point (:func:`operating_point`), the rate of every process (:func:`rates`), and the hazard
each clock spends over the step. :func:`advance` walks the steps (or runs of identical
steps, each an element with its duration) from one element until a clock's budget is used
up, writes the measured columns on the way, and returns where and which clock fired; the
device (:mod:`sim_backend.qc_device`) applies the event in Python and calls it again.

Why compiled: a step costs a few exponentials, two or three Newton steps and a dozen
rates, about a microsecond as machine code, while a numpy call costs about as much as a
whole step does here. The earlier loop was numpy over windows of steps and spent most of
its time on per-call overheads (~200 us per event, ~320x real time on a DC loop);
compiled, the DC loop runs above the 1000x real time the simulator is held to
(``python -m benchmarks device``).

The physics here is the only copy: :func:`rates` is what ``docs/simulator-physics.md``
describes, and ``tests/test_physics_event_loop.py`` holds :func:`advance` (the circuit
solve and the hazard integration) to a plain reference loop on the closed-form QPC
current of :mod:`sim_backend.qpc`, using :func:`rates` per step.

State and parameters travel as float vectors (:data:`STATE`, :data:`PARAMS`) so one
compiled signature serves every device.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from labcore.constants import E_CHARGE, G0, K_BOLTZMANN
from sim_backend.qc_params import QCParams

_KB_EV = K_BOLTZMANN / E_CHARGE  # Boltzmann constant in eV/K
OSC_WINDOW_V = 0.5  # flicker only while the constriction sees more than this reverse bias
_EXP_SAFE = 600.0  # above this exponent the log-sum-exp form is used
_NEWTON_STEPS = 4
_NEWTON_TOL = 1e-11  # V (relative to 1 + |v|): far below any instrument's resolution
_FREE_TOL = 1e-14  # V (relative to 1 + |v|): the free solve's error bound (nearly exact)
_RTOL = 1e-10
_XTOL = 1e-13
_MAX_ITER = 60

#: the parameters :func:`rates` and :func:`operating_point` read, in vector order
PARAMS = ("t_ambient", "r_thermal", "r_series", "alpha", "beta", "n_sat", "nu0", "e_create",
          "eps_create", "m_wide_create", "eps_create_wide", "gamma_create", "e_remove",
          "eps_remove", "m_wide", "e_last", "m_last", "r_thermal_reset", "m_thermal",
          "m_thermal_floor", "gamma_remove", "nu_decay", "m_decay", "n_ballistic",
          "nu_diffuse", "v_diffuse", "nu_volatile", "v_hold", "trace_stages", "nu_soft",
          "nu_strip", "v_rearrange", "p_anneal", "k_anneal", "p_anneal_shell",
          "k_anneal_shell", "anneal_core", "nu_anneal", "supply_stages", "nu_supply",
          "supply_sites", "p_tip_fix", "nu_tip_relax", "tip_t", "nu_oscillation",
          "nu_oscillation_end")
(_T_AMB, _R_TH, _R_SERIES, _ALPHA, _BETA, _N_SAT, _NU0, _E_CREATE, _EPS_CREATE,
 _M_WIDE_CREATE, _EPS_CREATE_WIDE, _GAMMA_CREATE, _E_REMOVE, _EPS_REMOVE, _M_WIDE, _E_LAST,
 _M_LAST, _R_TH_RESET, _M_THERMAL, _M_THERMAL_FLOOR, _GAMMA_REMOVE, _NU_DECAY, _M_DECAY,
 _N_BALLISTIC, _NU_DIFFUSE, _V_DIFFUSE, _NU_VOLATILE, _V_HOLD, _TRACE_STAGES, _NU_SOFT,
 _NU_STRIP, _V_REARRANGE, _P_ANNEAL, _K_ANNEAL, _P_ANNEAL_SHELL, _K_ANNEAL_SHELL,
 _ANNEAL_CORE, _NU_ANNEAL, _SUPPLY_STAGES, _NU_SUPPLY, _SUPPLY_SITES, _P_TIP_FIX,
 _NU_TIP_RELAX, _TIP_T, _NU_OSC, _NU_OSC_END) = range(len(PARAMS))

#: the device state the rates read, in vector order (``half``: 1.0 when the partial
#: channel is half open; ``phi``: its barrier, or the closed gap's, in eV)
STATE = ("n", "half", "tau_sum", "phi", "n_body", "n_firm", "n_peak", "vacancies",
         "osc_phase")
_N, _HALF, _TAU_SUM, _PHI, _N_BODY, _N_FIRM, _N_PEAK, _VACANCIES, _OSC = range(len(STATE))

#: the shared clock's processes, in the order an event is picked among them (by their
#: rates at the event): creation, Joule removal, zero-bias dissolution, diffusive
#: channels dissolving, unbacked channels relaxing, annealing, vacancy supply, tip
#: incorporation, the flicker's re-forming or re-breaking contact, its settling
SHARED_SLOTS = 10
(SLOT_CREATE, SLOT_REMOVE, SLOT_DECAY, SLOT_DIFFUSE, SLOT_RELAX, SLOT_ANNEAL, SLOT_SUPPLY,
 SLOT_TIP_FIX, SLOT_FLICKER, SLOT_SETTLE) = range(SHARED_SLOTS)
#: the staged processes (a clock each): the trace's regrowth and its stripping
SLOT_SOFT, SLOT_STRIP = SHARED_SLOTS, SHARED_SLOTS + 1
SLOTS = SHARED_SLOTS + 2
#: clocks: the shared one, then one per staged process
CLOCK_SHARED, CLOCK_SOFT, CLOCK_STRIP = 0, 1, 2
#: what :func:`advance` leaves in its ``at`` vector about the element of the event:
#: the rates of the slots, then the constriction voltage and the current there
AT_X, AT_I = SLOTS, SLOTS + 1
AT_SIZE = SLOTS + 2


def param_vector(p: QCParams) -> NDArray[np.float64]:
    """The parameters :func:`rates` and :func:`advance` read, as one float vector."""
    return np.array([float(getattr(p, name)) for name in PARAMS])


# ------------------------------------------------------------------ the circuit
@njit(cache=True, inline="always")
def _softplus(z: float) -> float:
    """``log(1 + e^z)`` without overflow."""
    if z > 0.0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


@njit(cache=True)
def _current(x: float, g1: float, a: float, a_phi: float, b: float) -> tuple[float, float]:
    """``I / G0`` (V) and ``dI/dx / G0`` of the constriction at ``x >= 0``: ``g1 - 1`` open
    channels in parallel with the partial QPC channel of barrier ``phi = a_phi / a`` and
    source-side fraction ``b``, whose Miranda-Sune current (:func:`sim_backend.qpc.qpc_current`)
    in G0 units is ``x + ln[(1 + e^{a (phi - b x)}) / (1 + e^{a (phi + (1 - b) x)})] / a``."""
    ax = a * x
    z1 = a_phi - b * ax  # = a (phi - b x)
    z2 = z1 + ax  # = a (phi + (1 - b) x)
    if z2 > _EXP_SAFE:
        sp1, sp2 = _softplus(z1), _softplus(z2)
        log_ratio = sp1 - sp2
        s1, s2 = math.exp(z1 - sp1), math.exp(z2 - sp2)
    else:
        e1, e2 = math.exp(z1), math.exp(z2)
        p1, p2 = e1 + 1.0, e2 + 1.0
        log_ratio = math.log(p1 / p2)
        s1, s2 = e1 / p1, e2 / p2
    return g1 * x + log_ratio / a, g1 - s2 + b * (s2 - s1)


@njit(cache=True)
def _bracketed(lo: float, hi: float, x: float, target: float, r: float, g1: float, a: float,
               a_phi: float, b: float) -> float:
    """Root in ``[lo, hi]`` of ``x + r f(x) = target`` (``r > 0``) or ``f(x) = target``
    (``r = 0``): Newton, replaced by bisection where it leaves the bracket."""
    x = min(max(x, lo), hi)
    for _ in range(_MAX_ITER):
        i, di = _current(x, g1, a, a_phi, b)
        res, d = x + r * i - target, 1.0 + r * di
        if r == 0.0:
            res, d = i - target, di
        if res > 0:
            hi = x
        else:
            lo = x
        x_new = x - res / d
        if not (lo <= x_new <= hi):
            x_new = 0.5 * (lo + hi)
        done = abs(x_new - x) <= _XTOL * (1.0 + abs(x_new))
        x = x_new
        if done:
            break
    return x


@njit(cache=True)
def operating_point(v: float, i_limit: float, r_total: float, g_open: float, phi: float,
                    alpha: float, beta: float) -> tuple[float, float, bool]:
    """Constriction voltage (V), current (A) and whether the clamp holds, for one step.

    ``x + r_total I(x) = v`` for the constriction ``g_open`` open channels plus the partial
    one, else the source clamps: ``I(x) = sign(v) i_limit``. The circuit is odd in ``v``
    once ``beta`` is swapped for ``1 - beta`` (``I(-u; b) = -I(u; 1 - b)``), so it is
    solved for ``|v|`` on ``[0, |v|]``, where the residual is increasing and has one root.
    """
    neg = v < 0.0
    b = 1.0 - beta if neg else beta
    a_v = -v if neg else v
    g1, a_phi = g_open + 1.0, alpha * phi
    x, i = _solve_free(a_v, r_total * G0, g_open, g1, alpha, a_phi, b)
    lim = i_limit / G0
    clamp = i > lim
    if clamp:
        x = _solve_clamped(lim, x, i, g1, alpha, a_phi, b)
        i = lim
    if neg:
        return -x, -i * G0, clamp
    return x, i * G0, clamp


@njit(cache=True)
def _solve_free(a_v: float, r: float, g_open: float, g1: float, alpha: float, a_phi: float,
                b: float) -> tuple[float, float]:
    """``x + r f(x) = a_v`` (``r`` in units of 1/G0): ``x`` and ``f(x)`` (``I / G0``).

    Newton from the linear-response divider. Its error after a step is
    ``~ (F''/2F') step^2`` with ``|F''/F'| <= r alpha / 4`` (tiny: ``r`` is the series
    resistance in units of 1/G0), so once a step is below ``sqrt(tol / (r alpha))`` the
    error left is below ``tol / 8``: stop there (two steps, usually). A bracketed Newton
    only if that did not land inside the bracket.
    """
    x = a_v / (1.0 + r * (g_open + 0.5 * (1.0 - math.tanh(0.5 * a_phi))))
    bound = math.sqrt(_FREE_TOL * (1.0 + a_v) / max(r * alpha, 1e-300))
    for _ in range(_NEWTON_STEPS):
        i, di = _current(x, g1, alpha, a_phi, b)
        step = (x + r * i - a_v) / (r * di + 1.0)
        x -= step
        if abs(step) <= bound:  # a NaN never passes
            return x, i - di * step  # the current to first order in the step
    i, _ = _current(x, g1, alpha, a_phi, b)
    if not (abs(x + r * i - a_v) <= _RTOL * (a_v + 1e-300)) or x < 0.0 or x > a_v:
        x = _bracketed(0.0, a_v, 0.5 * a_v, a_v, r, g1, alpha, a_phi, b)
        i, _ = _current(x, g1, alpha, a_phi, b)
    return x, i


@njit(cache=True)
def _solve_clamped(lim: float, x_hi: float, i_hi: float, g1: float, alpha: float,
                   a_phi: float, b: float) -> float:
    """``f(x) = lim`` with ``f(x_hi) = i_hi > lim``: Newton from the chord, which starts
    right of the root; a bracketed Newton if it did not converge inside ``[0, x_hi]``."""
    x = x_hi * lim / i_hi
    tol = _NEWTON_TOL * (1.0 + x_hi)
    for _ in range(_NEWTON_STEPS):
        i, di = _current(x, g1, alpha, a_phi, b)
        step = (i - lim) / di
        x -= step
        if abs(step) <= tol:
            return x
    i, _ = _current(x, g1, alpha, a_phi, b)
    if not (abs(i - lim) <= _RTOL * lim) or x < 0.0 or x > x_hi:
        x = _bracketed(0.0, x_hi, 0.5 * x_hi, lim, 0.0, g1, alpha, a_phi, b)
    return x


# ------------------------------------------------------------------ the rates
@njit(cache=True)
def rates(p: NDArray[np.float64], s: NDArray[np.float64], x: float, i: float, tip: float,
          out: NDArray[np.float64]) -> float:
    """Rate of every process (1/s) into ``out`` (:data:`SLOTS`) at one step; returns the
    filament temperature (K).

    ``x`` constriction voltage (V), ``i`` current (A), ``tip`` the read-disturb tip's
    transmission offset. Creation and removal are Arrhenius rates with field-lowered
    barriers at the Joule temperature (removal at the neck's own, hotter, temperature under
    RESET polarity); the body's processes follow ``docs/simulator-physics.md``.
    """
    n = s[_N]
    m = n + 0.5 * s[_HALF]
    power = abs(i * x)
    temp = p[_T_AMB] + p[_R_TH] * power
    for k in range(SLOTS):
        out[k] = 0.0
    _channels(p, m, x, power, temp, out)
    _body(p, s, m, x, out)
    _anneal(p, s, m, x, power, out)
    if n > 0.0 and tip != 0.0:
        out[SLOT_TIP_FIX] = p[_P_TIP_FIX] * p[_NU_TIP_RELAX] / p[_TIP_T] * abs(tip)
    osc = s[_OSC]
    if osc != 0.0:  # a flickering contact during RESET re-forms, breaks again, settles
        window = x < -OSC_WINDOW_V
        if osc == 1.0 or n > 0.0:
            out[SLOT_FLICKER] = p[_NU_OSC] if window else 0.0
        out[SLOT_SETTLE] = p[_NU_OSC_END] if window else 1e6
    return temp


@njit(cache=True)
def _channels(p: NDArray[np.float64], m: float, x: float, power: float, temp: float,
              out: NDArray[np.float64]) -> None:
    """Creation and removal of the outer channel (``m`` channels, a partial one counting
    1/2), and the zero-bias dissolution of a thin filament."""
    # creation: each channel crowds the next one's entry; beyond m_wide_create the neck
    # widens at its rim, where a new channel costs less
    site = 1.0 - m / p[_N_SAT]
    if site > 0.0:
        e_c = (p[_E_CREATE] + p[_EPS_CREATE] * min(m, p[_M_WIDE_CREATE])
               + p[_EPS_CREATE_WIDE] * max(m - p[_M_WIDE_CREATE], 0.0))
        out[SLOT_CREATE] = p[_NU0] * site * math.exp(
            -max(e_c - p[_GAMMA_CREATE] * x, 0.0) / (_KB_EV * temp))
    if m <= 0.0:
        return
    # Joule-driven removal (the field helps a little; beyond m_wide channels the outer
    # channels are all alike); under RESET polarity the neck is hotter than the
    # filament: its spreading resistance grows as the contact thins
    e_r = (p[_E_REMOVE] - p[_EPS_REMOVE] * min(m, p[_M_WIDE])
           + p[_E_LAST] * math.exp(-m / p[_M_LAST]))
    t_neck = temp
    if x < 0.0:
        r_th = p[_R_TH_RESET]
        if p[_M_THERMAL] > 0.0:
            r_th *= math.sqrt(p[_M_THERMAL] / max(m, p[_M_THERMAL_FLOOR]))
        t_neck = p[_T_AMB] + r_th * power
    out[SLOT_REMOVE] = p[_NU0] * math.exp(
        -max(e_r + p[_GAMMA_REMOVE] * x, 0.0) / (_KB_EV * t_neck))
    if p[_NU_DECAY] > 0.0:  # a thin filament dissolves at zero bias
        out[SLOT_DECAY] = p[_NU_DECAY] * math.exp(-m / p[_M_DECAY])


@njit(cache=True)
def _body(p: NDArray[np.float64], s: NDArray[np.float64], m: float, x: float,
          out: NDArray[np.float64]) -> None:
    """Diffusive channels dissolving, unbacked neck channels relaxing, and the trace of
    a thinned body: regrowth under strong SET polarity, stripping of the weakly held
    channels under strong RESET polarity (each at ``trace_stages`` times the channel's
    rate: the stages are sub-steps)."""
    n_body = s[_N_BODY]
    forward = max(x, 0.0)
    excess = s[_N] - max(p[_N_BALLISTIC], n_body)  # diffusive channels beyond the body
    if excess > 0.0:
        out[SLOT_DIFFUSE] = p[_NU_DIFFUSE] * excess * math.exp(-forward / p[_V_DIFFUSE])
    unbacked = math.ceil(m - n_body)  # neck channels the body does not hold
    if unbacked > 0.0:
        out[SLOT_RELAX] = p[_NU_VOLATILE] * unbacked * math.exp(-forward / p[_V_HOLD])
    k = p[_TRACE_STAGES]
    trace = s[_N_PEAK] - n_body
    if trace > 0.0 and x > p[_V_REARRANGE]:
        out[SLOT_SOFT] = k * p[_NU_SOFT] * trace
    weak = n_body - s[_N_FIRM]
    if weak > 0.0 and x < -p[_V_REARRANGE]:
        out[SLOT_STRIP] = k * p[_NU_STRIP] * weak


@njit(cache=True)
def _anneal(p: NDArray[np.float64], s: NDArray[np.float64], m: float, x: float,
            power: float, out: NDArray[np.float64]) -> None:
    """Neck channels consolidated into the body: fast in the core of the hot zone
    (``anneal_core`` of its reach), supply-limited beyond it (one channel per
    ``supply_stages`` vacancy arrivals under SET polarity, tapered over the last fraction
    of a channel and the last ``supply_sites`` unconsolidated channels)."""
    n_firm = s[_N_FIRM]
    unfirm = math.ceil(m - n_firm)  # neck channels not consolidated yet
    if unfirm <= 0.0:
        return
    target = min((power / p[_P_ANNEAL]) ** p[_K_ANNEAL],
                 p[_N_BALLISTIC] + (power / p[_P_ANNEAL_SHELL]) ** p[_K_ANNEAL_SHELL])
    core = p[_ANNEAL_CORE] * target - n_firm
    if core > 0.0:
        out[SLOT_ANNEAL] = p[_NU_ANNEAL] * min(core, unfirm)
    if x > 0.0:
        reach = target - n_firm - s[_VACANCIES] / p[_SUPPLY_STAGES]
        if reach > 0.0:
            supply = p[_SUPPLY_STAGES] * p[_NU_SUPPLY] * min(1.0, (m - n_firm)
                                                              / p[_SUPPLY_SITES])
            out[SLOT_SUPPLY] = supply * min(reach, 1.0)


# ------------------------------------------------------------------ the event loop
@njit(cache=True)
def _conduction(s: NDArray[np.float64], fl: NDArray[np.float64], e: int
                ) -> tuple[float, float]:
    """Open channels' summed transmission and the partial channel's barrier (eV) at
    element ``e``: the state's plus the drive's offsets (the rearranged neck's scales with
    the root of the channel count)."""
    tip = fl[4, e]
    n = s[_N]
    if n > 0.0:
        g_open = max(s[_TAU_SUM] + tip + fl[2, e] + fl[3, e] * math.sqrt(n), 0.0)
    else:
        g_open = max(tip, 0.0)
    return g_open, s[_PHI] + (fl[1, e] if s[_HALF] != 0.0 else fl[0, e])


@njit(cache=True)
def _first_clock(rate: NDArray[np.float64], d: float, left: NDArray[np.float64]
                 ) -> tuple[int, float]:
    """The clock whose budget the element's hazard (``rate`` for ``d`` s) uses up first,
    and the time into the element it does (the shared clock first on a tie); budgets are
    spent: by the whole element when no clock fires, else up to that time."""
    totals = (_shared_rate(rate), rate[SLOT_SOFT], rate[SLOT_STRIP])
    best, tau = -1, d
    for clock in range(3):
        if totals[clock] > 0.0 and totals[clock] * d >= left[clock]:
            t = left[clock] / totals[clock]
            if best < 0 or t < tau:
                best, tau = clock, t
    for clock in range(3):
        if clock != best:
            left[clock] -= totals[clock] * tau
    return best, tau


@njit(cache=True, inline="always")
def _shared_rate(rate: NDArray[np.float64]) -> float:
    total = 0.0
    for k in range(SHARED_SLOTS):
        total += rate[k]
    return total


@njit(cache=True)
def advance(v: NDArray[np.float64], i_limit: NDArray[np.float64], dur: NDArray[np.float64],
            fl: NDArray[np.float64], first: int, dur_first: float, r_total: float,
            p: NDArray[np.float64], s: NDArray[np.float64], left: NDArray[np.float64],
            v_out: NDArray[np.float64], i_out: NDArray[np.float64],
            comp_out: NDArray[np.bool_], temp_out: NDArray[np.float64],
            at: NDArray[np.float64]) -> tuple[int, float, int]:
    """Elements from ``first`` on (steps, or runs of identical steps) until a clock fires.

    Element ``e`` applies ``v[e]`` with the clamp ``i_limit[e]`` for ``dur[e]`` s
    (``dur_first`` for element ``first``: the rest of a step an event cut), with the
    offsets ``fl[:, e]`` (``dphi, dphi_half, dg, dg_neck, tip``). Each clock's hazard over
    an element (its processes' summed rate times the duration) is taken from what is
    ``left`` of its budget; the first element where a budget runs out holds the event, at
    ``tau`` s into it. Columns are written for every element walked, the event's included
    (as it was before the event); ``at`` gets the rates, ``x`` and ``i`` of the event's
    element.

    Returns ``(element, tau, clock)``, or ``(v.size, 0.0, -1)`` when no clock fired
    (every budget then spent by the whole hazard).
    """
    rate = np.empty(SLOTS)
    for e in range(first, v.size):
        g_open, phi = _conduction(s, fl, e)
        x, i, clamp = operating_point(v[e], i_limit[e], r_total, g_open, phi, p[_ALPHA],
                                      p[_BETA])
        temp_out[e] = rates(p, s, x, i, fl[4, e], rate)
        v_out[e] = x + p[_R_SERIES] * i
        i_out[e] = i
        comp_out[e] = clamp
        clock, tau = _first_clock(rate, dur_first if e == first else dur[e], left)
        if clock >= 0:
            at[:SLOTS] = rate
            at[AT_X], at[AT_I] = x, i
            return e, tau, clock
    return v.size, 0.0, -1
