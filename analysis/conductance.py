"""Conductance in units of G0, with |V| masking and optional series-resistance correction.

Why a function and not just ``i / v / G0``: every sweep crosses 0 V, where G = I/V is
0/0 and pure noise, so samples with ``|V|`` below a threshold are masked (returned as
NaN, never dropped, so indices keep pointing at the original samples). A series or
contact resistance R_s in the current path lowers every measured level through the same
resistor; ``G_corr = 1 / (1/G - R_s)`` removes it, which puts plateaus back on n/2.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labcore.constants import G0

#: |V| below this is masked when forming G = I/V (every sweep crosses 0 V).
V_MASK = 1e-3


def conductance_g0(
    voltage: ArrayLike,
    current: ArrayLike,
    v_min: float = V_MASK,
    *,
    series_resistance_ohm: float | None = None,
) -> NDArray[np.float64]:
    """G = I/V in units of G0, NaN where ``|V| < v_min`` (G is undefined near 0 V).

    Parameters
    ----------
    voltage, current : measured voltage (V) and current (A), same shape.
    v_min : voltage magnitude threshold in V (>= 0).
    series_resistance_ohm : optional series resistance to remove, see :func:`series_correct`.
    """
    v = np.asarray(voltage, dtype=float)
    i = np.asarray(current, dtype=float)
    if i.shape != v.shape:
        raise ValueError(f"voltage and current differ in shape: {v.shape} vs {i.shape}")
    if not (np.isfinite(v_min) and v_min >= 0):
        raise ValueError(f"v_min must be a finite voltage >= 0 V, got {v_min!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where((np.abs(v) >= v_min) & (v != 0), i / v / G0, np.nan)
    if series_resistance_ohm:
        g = series_correct(g, series_resistance_ohm)
    return g


def series_correct(g_g0: ArrayLike, series_resistance_ohm: float) -> NDArray[np.float64]:
    """Remove a series resistance: ``G_corr = 1 / (1/G - R_s)`` (G in G0 units).

    Samples whose measured resistance is not larger than R_s cannot come from a device
    in series with R_s; they become NaN instead of a negative or infinite conductance.
    """
    if not (np.isfinite(series_resistance_ohm) and series_resistance_ohm >= 0):
        raise ValueError(
            f"series_resistance_ohm must be a finite resistance >= 0 ohm, "
            f"got {series_resistance_ohm!r}"
        )
    g = np.asarray(g_g0, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 1.0 / g - series_resistance_ohm * G0  # resistance in units of 1/G0
        return np.where(r > 0, 1.0 / r, np.nan)


def series_apply(g_g0: ArrayLike, series_resistance_ohm: float) -> NDArray[np.float64]:
    """Inverse of :func:`series_correct`: what a conductance looks like behind R_s.

    ``G_meas = G / (1 + R_s G)``; the tied-centre histogram fit puts peak k at
    ``(k/2) / (1 + R_s (k/2) G0)``.
    """
    g = np.asarray(g_g0, dtype=float)
    return g / (1.0 + series_resistance_ohm * G0 * g)
