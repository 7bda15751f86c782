"""Polar representation of normalised per-pulse currents (paper 000, Fig. 6e).

Paper 000 defines it (Fig. 6e caption and text): radius ``r_i = I_i / I_1`` and angle
``theta_i = (i - 1) * pi`` for pulse number i (counted from 1). Taken literally, every
pulse lies on one axis: odd pulses at 0 rad, even pulses at pi rad. That is the default
here (``rule="paper"``) because it is the published definition. The rule
``theta_i = 2 pi (i - 1) / N`` spreads the N pulses once around the circle so that
"each pulse maps to a radial spoke"; it is offered as ``rule="spread"`` and labelled a
variant wherever it is drawn, since it is not the paper's definition.

Each quantized level n/2 G0 maps to a ring of radius ``(n/2) / G_1`` (G_1 the first
pulse's conductance in G0), so plateaus of the pulse train appear as concentric rings.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

RULES = ("paper", "spread")
RULE_LABELS = {
    "paper": "angle = (i−1)·π (paper 000 definition)",
    "spread": "variant: angle = 2π(i−1)/N (not the paper's definition)",
}


def polar_coordinates(
    i_over_i1: ArrayLike, rule: str = "paper", pulse_number: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(theta in rad, r) of each pulse.

    Parameters
    ----------
    i_over_i1 : normalised currents I_i/I_1, pulse 1 first.
    rule : ``"paper"`` — theta = (i−1)·π, the definition of paper 000 (every point on
        the horizontal axis); ``"spread"`` — variant theta = 2π(i−1)/N.
    pulse_number : pulse numbers i (default 1..N).
    """
    r = np.asarray(i_over_i1, dtype=float)
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    i = (np.arange(1, r.size + 1) if pulse_number is None
         else np.asarray(pulse_number, dtype=float))
    if i.shape != r.shape:
        raise ValueError(f"pulse_number has {i.size} entries, i_over_i1 has {r.size}")
    n = max(r.size, 1)
    theta = (i - 1) * np.pi if rule == "paper" else 2 * np.pi * (i - 1) / n
    return theta, r


def ring_radii(g1_g0: float, r_max: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Radii of the quantized-level rings and their levels in G0.

    Level n/2 G0 sits at radius (n/2)/G_1; rings from 1/2 G0 up to ``r_max``.
    """
    if not (np.isfinite(g1_g0) and g1_g0 > 0):
        return np.zeros(0), np.zeros(0)
    n_max = int(np.floor(2 * r_max * g1_g0))
    levels = np.arange(1, n_max + 1) / 2.0
    return levels / g1_g0, levels
