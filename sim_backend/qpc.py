"""Quantum-point-contact (QPC) conduction of a filament: Miranda–Suñé current in closed form.

The narrowest point of an oxygen-vacancy filament is modelled as a saddle-point barrier for
the first transverse sub-band, with transmission ``T(E) = 1 / (1 + exp(-alpha (E - phi)))``
(energies in eV). Integrating the Landauer formula between the two quasi-Fermi levels
``mu_S = beta V`` and ``mu_D = -(1 - beta) V`` gives, per channel,

    I(V) = G0 { V + (1/alpha) ln[(1 + e^{a (phi - beta V)}) / (1 + e^{a (phi + (1-beta) V)})] }

with ``a = alpha``, V in volts, phi in eV and alpha in 1/eV (2e/h times an energy eV is
G0 V).
Limits that make it the right building block for a quantized-conductance device:

* ``phi -> -inf``: ``I -> G0 V`` (an open channel, the integer plateau);
* ``phi = 0``: ``dI/dV (V -> 0) = G0 / 2`` exactly (a half-open channel, the half-integer
  plateau) without any extra physics;
* ``alpha phi >> 1``: ``I ~ (2 G0 / alpha) e^{-alpha phi} sinh(alpha V / 2)``, the
  tunnelling-like high-resistance state.

:func:`landauer_current_numeric` integrates the same transmission numerically; the tests use
it as the oracle for the closed form.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labcore.constants import G0


def _softplus(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``ln(1 + e^x)`` without overflow (barriers of several eV times alpha)."""
    return np.logaddexp(0.0, x)


def _logistic(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``1 / (1 + e^{-x})`` without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def transmission(energy_ev: ArrayLike, phi: ArrayLike, alpha: float) -> NDArray[np.float64]:
    """Saddle-point transmission ``T(E)`` of one channel (energies in eV, alpha in 1/eV)."""
    e = np.asarray(energy_ev, dtype=float)
    return _logistic(alpha * (e - np.asarray(phi, dtype=float)))


def qpc_current(
    v: ArrayLike, phi: ArrayLike, alpha: float, beta: float = 0.5
) -> NDArray[np.float64]:
    """Closed-form Miranda–Suñé current of one channel in A.

    Parameters
    ----------
    v : voltage across the constriction in V (any shape; broadcast with ``phi``).
    phi : barrier height of the channel's first sub-band above the Fermi level in eV.
    alpha : barrier shape factor in 1/eV (larger = thicker, more opaque barrier).
    beta : fraction of the voltage dropping on the source side (0..1, 1/2 = symmetric).
    """
    v = np.asarray(v, dtype=float)
    phi = np.asarray(phi, dtype=float)
    a = float(alpha)
    log_ratio = _softplus(a * (phi - beta * v)) - _softplus(a * (phi + (1.0 - beta) * v))
    return G0 * (v + log_ratio / a)


def qpc_differential_conductance(
    v: ArrayLike, phi: ArrayLike, alpha: float, beta: float = 0.5
) -> NDArray[np.float64]:
    """``dI/dV`` of :func:`qpc_current` in S (used by the Newton solve of the series circuit)."""
    v = np.asarray(v, dtype=float)
    phi = np.asarray(phi, dtype=float)
    a = float(alpha)
    s1 = _logistic(a * (phi - beta * v))
    s2 = _logistic(a * (phi + (1.0 - beta) * v))
    return G0 * (1.0 - beta * s1 - (1.0 - beta) * s2)


def qpc_current_and_conductance(
    v: NDArray[np.float64], phi: NDArray[np.float64], alpha: float, beta: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`qpc_current` and :func:`qpc_differential_conductance` sharing the exponentials.

    The circuit solver evaluates both at every Newton step; fusing them halves the work.
    """
    a = float(alpha)
    z1 = a * (phi - beta * v)
    z2 = a * (phi + (1.0 - beta) * v)
    i = G0 * (v + (_softplus(z1) - _softplus(z2)) / a)
    di = G0 * (1.0 - beta * _logistic(z1) - (1.0 - beta) * _logistic(z2))
    return i, di


def zero_bias_transmission(phi: ArrayLike, alpha: float) -> NDArray[np.float64]:
    """Linear-response transmission ``G(V->0)/G0 = 1 / (1 + e^{alpha phi})`` of one channel."""
    return _logistic(-float(alpha) * np.asarray(phi, dtype=float))


def landauer_current_numeric(v: float, phi: float, alpha: float, beta: float = 0.5) -> float:
    """Landauer current of one channel by numerical integration (the closed form's oracle).

    ``I = (2e/h) * integral_{mu_D}^{mu_S} T(E) dE`` at zero temperature, i.e. in volts and
    eV units ``G0 * integral T(E) dE`` with ``mu_S = beta V`` and ``mu_D = -(1 - beta) V``.
    """
    from scipy.integrate import quad

    lo, hi = -(1.0 - beta) * v, beta * v
    val, _ = quad(lambda e: float(transmission(e, phi, alpha)), lo, hi, epsabs=1e-14, limit=200)
    return G0 * val
