"""Self-consistent source / series-resistance / filament circuit, solved over arrays.

The source (voltage ``v_src``, output resistance ``r_source``) drives the device, which is a
series resistance ``r_series`` (electrodes, bulk filament) followed by the constriction:
``n`` open channels with summed transmission (ohmic, ``g_open``) in parallel with one partial
QPC channel of barrier ``phi`` (:mod:`sim_backend.qpc`). The constriction voltage ``x`` solves

    x + (r_series + r_source) * f(x) = v_src,        f(x) = g_open x + I_qpc(x; phi)

and, where ``|f(x)|`` would exceed the current limit, the source clamps instead:
``f(x) = sign(v_src) * i_limit``. ``f`` is strictly increasing and has the sign of ``x``, so
both equations have exactly one root between 0 and ``v_src``; a bracketed (safeguarded)
Newton iteration over whole arrays finds it in a handful of vector operations, with no
per-sample loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sim_backend.qpc import qpc_current_and_conductance

_MAX_ITER = 40
_XTOL = 1e-13

Residual = Callable[[NDArray[np.float64]], tuple[NDArray[np.float64], NDArray[np.float64]]]


@dataclass(frozen=True)
class CircuitSolution:
    """Operating point of every step.

    Attributes
    ----------
    v_constriction : voltage across the quantum constriction in V (drives the ion dynamics).
    v_terminal : voltage across the device terminals in V (what the source measures).
    i : device current in A.
    compliance : True where the source clamp limited the current.
    """

    v_constriction: NDArray[np.float64]
    v_terminal: NDArray[np.float64]
    i: NDArray[np.float64]
    compliance: NDArray[np.bool_]


def bracketed_newton(
    residual: Residual,
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    x0: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Root of an increasing ``residual(x) -> (r, dr/dx)`` inside ``[lo, hi]``, element-wise.

    Newton steps that leave the current bracket are replaced by bisection, so convergence
    is guaranteed for any monotone residual; typical operating points converge in 2–4 steps.
    """
    x = np.clip(x0, lo, hi)
    for _ in range(_MAX_ITER):
        r, dr = residual(x)
        pos = r > 0
        hi = np.where(pos, x, hi)
        lo = np.where(pos, lo, x)
        x_new = x - r / dr
        bad = ~((x_new >= lo) & (x_new <= hi))
        if bad.any():
            x_new = np.where(bad, 0.5 * (lo + hi), x_new)
        done = np.abs(x_new - x) <= _XTOL * (1.0 + np.abs(x_new))
        x = x_new
        if done.all():
            break
    return x


def solve_operating_point(
    v_src: NDArray[np.float64],
    i_limit: NDArray[np.float64],
    r_total: float,
    g_open: NDArray[np.float64],
    phi: NDArray[np.float64],
    alpha: float,
    beta: float,
    r_series: float,
) -> CircuitSolution:
    """Operating point for every element of ``v_src`` (arrays of equal length).

    Parameters
    ----------
    v_src : programmed source voltage per step in V.
    i_limit : current limit per step in A (``np.inf`` = none); must be > 0.
    r_total : series resistance of device plus source output in Ohm.
    g_open : conductance of the fully open channels in S, per step.
    phi : barrier of the partial channel in eV, per step.
    alpha, beta : QPC shape parameters.
    r_series : the device's own series resistance in Ohm (for the terminal voltage).
    """
    sign = np.where(v_src < 0, -1.0, 1.0)
    a = np.abs(v_src)
    # The circuit is odd in v once beta is swapped for 1 - beta (I(-u; b) = -I(u; 1 - b)),
    # so solve for |v| and keep the bracket [0, |v_src|] positive.
    b = np.where(sign > 0, beta, 1.0 - beta)

    def device(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        iq, gq = qpc_current_and_conductance(x, phi, alpha, b)
        return g_open * x + iq, g_open + gq

    # Start from the linear-response divider: exact for open channels, close otherwise.
    g_lin = g_open + device(np.zeros_like(a))[1]
    x0 = a / (1.0 + r_total * g_lin)

    def free(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        i, di = device(x)
        return x + r_total * i - a, 1.0 + r_total * di

    x = bracketed_newton(free, np.zeros_like(a), a.copy(), x0)
    i, _ = device(x)
    clamp = i > i_limit
    if clamp.any():
        lim = i_limit[clamp]
        g_c, p_c, b_c = g_open[clamp], phi[clamp], b[clamp]

        def clamped(xc: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            iq, gq = qpc_current_and_conductance(xc, p_c, alpha, b_c)
            return g_c * xc + iq - lim, g_c + gq

        x_hi = x[clamp]
        xc = bracketed_newton(clamped, np.zeros_like(x_hi), x_hi, x_hi * lim / i[clamp])
        x = x.copy()
        x[clamp] = xc
        i = np.where(clamp, np.minimum(i, i_limit), i)
    v_terminal = x + r_series * i
    return CircuitSolution(
        v_constriction=sign * x,
        v_terminal=sign * v_terminal,
        i=sign * i,
        compliance=clamp,
    )
