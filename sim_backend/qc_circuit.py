"""Self-consistent source / series-resistance / filament circuit, solved over arrays.

The source (voltage ``v_src``, output resistance ``r_source``) drives the device, which is a
series resistance ``r_series`` (electrodes, bulk filament) followed by the constriction:
``n`` open channels with summed transmission (ohmic, ``g_open``) in parallel with one partial
QPC channel of barrier ``phi`` (:mod:`sim_backend.qpc`). The constriction voltage ``x`` solves

    x + (r_series + r_source) * f(x) = v_src,        f(x) = g_open x + I_qpc(x; phi)

and, where ``|f(x)|`` would exceed the current limit, the source clamps instead:
``f(x) = sign(v_src) * i_limit``. ``f`` is strictly increasing and has the sign of ``x``, so
both equations have exactly one root between 0 and ``v_src``.

Speed: this runs once per window of steps between two random events, so it is written for
small arrays, where every numpy call costs about the same whatever the length: conductances
in G0 units (no rescaling inside the loop), the QPC current from two exponentials and one
logarithm, scalars as 0-d arrays, Newton steps from the linear-response divider until a step
is below the quadratic-convergence bound (two steps; one from :func:`warm_start` after a
change of the open channels only), and a bracketed Newton only for elements that did not
converge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labcore.constants import G0

_MAX_ITER = 60
_XTOL = 1e-13
_NEWTON_STEPS = 4
_NEWTON_TOL = 1e-11  # V (relative to 1 + |v|): far below any instrument's resolution
_FREE_TOL = 1e-14  # V (relative to 1 + |v|): the free solve's error bound (nearly exact)
_RTOL = 1e-10
_EXP_SAFE = 600.0  # above this exponent the log-sum-exp form is used
_ONE = np.array(1.0)

Residual = Callable[[NDArray[np.float64]], tuple[NDArray[np.float64], NDArray[np.float64]]]


@dataclass(slots=True)
class CircuitSolution:
    """Operating point of every step.

    Attributes
    ----------
    v_constriction : voltage across the quantum constriction in V (drives the ion dynamics).
    v_terminal : voltage across the device terminals in V (what the source measures).
    i : device current in A.
    compliance : True where the source clamp limited the current.
    x_free, di_free : ``|x|`` where ``x + R f(x) = v`` without the clamp, and ``f'`` there
        (``dI/dx / G0``): a warm start for the next solve after a change of the open
        channels only (see :func:`warm_start`). None where not kept.
    """

    v_constriction: NDArray[np.float64]
    v_terminal: NDArray[np.float64]
    i: NDArray[np.float64]
    compliance: NDArray[np.bool_]
    x_free: NDArray[np.float64] | None = None
    di_free: NDArray[np.float64] | None = None


class Constriction:
    """Current of the constriction in G0 units (``I / G0`` in V) and its derivative.

    Parameters
    ----------
    g_open : summed transmission of the open channels (G / G0), per step.
    phi : barrier of the partial channel in eV, per step.
    alpha : QPC barrier shape in 1/eV.
    beta : source-side voltage fraction, scalar or per step (already swapped for x < 0).
    """

    def __init__(
        self,
        g_open: NDArray[np.float64],
        phi: NDArray[np.float64],
        alpha: float,
        beta: float | NDArray[np.float64],
        exp_safe: bool | None = None,
    ) -> None:
        self.g_open = g_open
        self.phi = phi
        self.alpha = float(alpha)
        self.beta = beta
        #: whether plain exponentials cannot overflow for 0 <= x <= x_max (set by the
        #: solver from the bracket; None: check at every call)
        self.exp_safe = exp_safe
        # shared by every Newton step; scalars as 0-d arrays, which numpy multiplies
        # without converting a Python float at every call
        self._g1 = g_open + _ONE
        self._a = np.array(self.alpha)
        self._a_phi = self._a * phi
        self._inv_a = np.array(1.0 / self.alpha)
        self._b = np.asarray(beta, dtype=float)

    def subset(self, k: NDArray[np.int64]) -> Constriction:
        """The same constriction restricted to elements ``k``."""
        b = self.beta if isinstance(self.beta, float) else self.beta[k]
        return Constriction(self.g_open[k], self.phi[k], self.alpha, b, self.exp_safe)

    def linear(self) -> NDArray[np.float64]:
        """Zero-bias conductance in G0: open channels plus ``1 / (1 + e^{alpha phi})``."""
        if self.exp_safe:
            return self.g_open + 1.0 / (np.exp(self._a_phi) + 1.0)
        return self.g_open + 0.5 * (1.0 - np.tanh(0.5 * self._a_phi))

    def current(self, x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``I/G0`` and ``dI/dx / G0`` at constriction voltage ``x >= 0``."""
        b = self._b
        ax = self._a * x
        z1 = self._a_phi - b * ax  # = a (phi - b x)
        z2 = z1 + ax  # = a (phi + (1 - b) x)
        safe = self.exp_safe
        if safe is None:
            safe = not (z2.size and z2.max() > _EXP_SAFE)
        if not safe:
            sp1, sp2 = np.logaddexp(0.0, z1), np.logaddexp(0.0, z2)
            log_ratio = sp1 - sp2
            s1, s2 = np.exp(z1 - sp1), np.exp(z2 - sp2)
        else:
            e1, e2 = np.exp(z1), np.exp(z2)
            p1, p2 = e1 + _ONE, e2 + _ONE
            log_ratio = np.log(p1 / p2)
            s1, s2 = e1 / p1, e2 / p2
        i = self._g1 * x + log_ratio * self._inv_a
        di = self._g1 - s2 + b * (s2 - s1)
        return i, di


def _abs_max(a: NDArray[np.float64]) -> float:
    """``max |a|`` (0 for an empty array) without the method-call overhead."""
    return float(np.maximum.reduce(np.abs(a), initial=0.0))


def bracketed_newton(
    residual: Residual,
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    x0: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Root of an increasing ``residual(x) -> (r, dr/dx)`` inside ``[lo, hi]``, element-wise.

    Newton steps that leave the current bracket are replaced by bisection, so convergence
    is guaranteed for any monotone residual.
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


def warm_start(sol: CircuitSolution, dg: NDArray[np.float64], r_total: float
               ) -> NDArray[np.float64] | None:
    """Start of the free solve after the open channels' conduction changed by ``dg``.

    With the partial channel unchanged, ``f_new(x) = f_old(x) + dg x`` exactly, so the
    Newton step of the new circuit from the old root costs no exponential; its error is
    second order in the change, and one Newton step of :func:`solve_operating_point`
    from here meets the convergence bound (instead of two from the linear divider).
    """
    if sol.x_free is None or sol.di_free is None:
        return None
    r = r_total * G0
    x = sol.x_free
    return x - r * dg * x / (r * (sol.di_free + dg) + 1.0)


def _solve_free(c: Constriction, a: NDArray[np.float64], r: float, a_max: float,
                start: NDArray[np.float64] | None = None
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``x + r f(x) = a`` (r in units of 1/G0); returns x, f(x) and f'(x).

    ``start``: a first guess (default the linear-response divider).
    """
    x = a / (1.0 + r * c.linear()) if start is None else start
    # Newton's error after a step is ~ (F''/2F') step^2 with |F''/F'| <= r alpha / 4 (tiny:
    # r is the series resistance in units of 1/G0), so once a step is below
    # sqrt(tol / (r alpha)) the error left is below tol / 8: stop there (two steps from the
    # linear-response divider, usually)
    bound = math.sqrt(_FREE_TOL * (1.0 + a_max) / max(r * c.alpha, 1e-300))
    r0 = np.array(r)
    for _ in range(_NEWTON_STEPS):
        i, di = c.current(x)
        step = (x + r0 * i - a) / (r0 * di + _ONE)
        x = x - step
        i = i - di * step  # first order in the step
        if _abs_max(step) <= bound:
            # converged (a NaN never passes the bound): the root of an increasing F
            # within the tolerance, inside [0, a]
            return x, i, di
    i, di = c.current(x)
    bad = ~(np.abs(x + r * i - a) <= _RTOL * (a + 1e-300)) | (x < 0.0) | (x > a)
    if np.count_nonzero(bad):
        k = np.flatnonzero(bad)
        ck, ak = c.subset(k), a[k]

        def res(xs: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            ii, dd = ck.current(xs)
            return xs + r * ii - ak, 1.0 + r * dd

        x, i, di = x.copy(), i.copy(), di.copy()
        x[k] = bracketed_newton(res, np.zeros(k.size), ak.copy(), 0.5 * ak)
        i[k], di[k] = ck.current(x[k])
    return x, i, di


def _solve_clamped(c: Constriction, lim: NDArray[np.float64], x_hi: NDArray[np.float64],
                   i_hi: NDArray[np.float64]) -> NDArray[np.float64]:
    """``f(x) = lim`` with ``f(x_hi) = i_hi > lim``; the chord start lies right of the root."""
    x = x_hi * lim / i_hi
    tol = _NEWTON_TOL * (1.0 + float(np.maximum.reduce(x_hi, initial=0.0)))
    for _ in range(_NEWTON_STEPS):
        i, di = c.current(x)
        step = (i - lim) / di
        x = x - step
        i = i - di * step
        if _abs_max(step) <= tol:
            break
    else:
        i, _ = c.current(x)
    bad = ~(np.abs(i - lim) <= _RTOL * lim) | (x < 0.0) | (x > x_hi)
    if np.count_nonzero(bad):
        k = np.flatnonzero(bad)
        ck, lk = c.subset(k), lim[k]

        def res(xs: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            ii, dd = ck.current(xs)
            return ii - lk, dd

        x = x.copy()
        x[k] = bracketed_newton(res, np.zeros(k.size), x_hi[k].copy(), 0.5 * x_hi[k])
    return x


def _by_polarity(v_src: NDArray[np.float64], beta: float, v_lo: float, v_hi: float
                 ) -> tuple[float | NDArray[np.float64], float | NDArray[np.float64],
                            NDArray[np.float64]]:
    """``(sign, beta, |v|)`` of each step: the circuit is odd in v once beta is swapped
    for 1 - beta (I(-u; b) = -I(u; 1 - b)); a window of one polarity keeps scalars."""
    if v_lo >= 0.0:
        return 1.0, float(beta), v_src
    if v_hi <= 0.0:
        return -1.0, 1.0 - beta, -v_src
    neg = v_src < 0
    return np.where(neg, -1.0, 1.0), np.where(neg, 1.0 - beta, beta), np.abs(v_src)


def solve_operating_point(
    v_src: NDArray[np.float64],
    i_limit: NDArray[np.float64],
    r_total: float,
    g_open: NDArray[np.float64],
    phi: NDArray[np.float64],
    alpha: float,
    beta: float,
    r_series: float,
    start: NDArray[np.float64] | None = None,
    bounds: tuple[float, float, float] | None = None,
) -> CircuitSolution:
    """Operating point for every element of ``v_src`` (arrays of equal length).

    Parameters
    ----------
    v_src : programmed source voltage per step in V.
    i_limit : current limit per step in A (``np.inf`` = none); must be > 0.
    r_total : series resistance of device plus source output in Ohm.
    g_open : summed transmission of the fully open channels (G / G0), per step.
    phi : barrier of the partial channel in eV, per step.
    alpha, beta : QPC shape parameters.
    r_series : the device's own series resistance in Ohm (for the terminal voltage).
    start : first guess of the unclamped ``|x|`` per step (:func:`warm_start`), or None.
    bounds : ``(v_lo, v_hi, phi_hi)`` with ``v_lo <= min(v_src, 0)``, ``v_hi >= max(v_src,
        0)`` (0 where there is no step of that sign) and ``phi_hi >= max(phi, 0)``, when the
        caller knows them (saves the reductions); looser bounds cost only precision.
    """
    # solve for |v| and keep the bracket [0, |v_src|] positive
    if bounds is None:
        bounds = (float(np.minimum.reduce(v_src, initial=0.0)),
                  float(np.maximum.reduce(v_src, initial=0.0)),
                  float(np.maximum.reduce(phi, initial=0.0)))
    v_lo, v_hi, phi_hi = bounds
    sign, b, a = _by_polarity(v_src, beta, v_lo, v_hi)
    # exponents are at most alpha (phi + |v|): decide once whether exp() may overflow
    z_max = alpha * (phi_hi + max(-v_lo, v_hi))
    c = Constriction(g_open, phi, alpha, b, exp_safe=z_max <= _EXP_SAFE)
    x_free, i, di = _solve_free(c, a, r_total * G0, max(-v_lo, v_hi), start)
    x = x_free
    lim = i_limit / G0
    clamp = i > lim
    if np.count_nonzero(clamp):
        k = np.flatnonzero(clamp)
        x, i = x.copy(), i.copy()
        x[k] = _solve_clamped(c.subset(k), lim[k], x[k], i[k])
        i[k] = lim[k]
    i_amp = i * G0
    v_term = x + r_series * i_amp
    if isinstance(sign, float) and sign > 0.0:  # a window of one polarity
        return CircuitSolution(x, v_term, i_amp, clamp, x_free, di)
    if isinstance(sign, float):  # a window of reverse polarity
        return CircuitSolution(-x, -v_term, -i_amp, clamp, x_free, di)
    return CircuitSolution(sign * x, sign * v_term, sign * i_amp, clamp, x_free, di)
