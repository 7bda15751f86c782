"""Time-lag analysis of per-pulse levels: I_{i+1} versus I_i (paper 000, Fig. 6f).

* the scatter of ``(x_i, x_{i+1})`` with the unity line; a point below the line is a
  pulse that lowered the level (paper 000: all RESET-train points fall below it);
* a 2-D density map for long trains (10^6 pulses), binned with one ``bincount`` on a
  linear bin index, which is several times faster than ``np.histogram2d``;
* the scatter per discrete level, sigma/mu of the level values on each plateau of the
  pulse sequence, the metric behind the paper's "variability ranges of 5-10 %"
  (the paper does not give its formula; this one is stated in docs/analysis.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis.plateaus import detect_plateaus, estimate_noise


def lag_pairs(x: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(x_i, x_{i+1}) for consecutive pulses."""
    a = np.asarray(x, dtype=float).ravel()
    return a[:-1], a[1:]


def below_unity_fraction(x: ArrayLike, *, rtol: float = 0.0) -> float:
    """Fraction of consecutive pairs with ``|x_{i+1}| < |x_i| (1 - rtol)``.

    Magnitudes are compared so that negative RESET currents read like positive ones.
    NaN pairs are ignored; NaN when there is no valid pair.
    """
    a, b = lag_pairs(np.abs(np.asarray(x, dtype=float)))
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return float("nan")
    return float(np.mean(b[ok] < a[ok] * (1.0 - rtol)))


def clearly_above_unity_fraction(x: ArrayLike, *, k_sigma: float = 2.0) -> float:
    """Fraction of pairs with ``|x_{i+1}| - |x_i| > k_sigma * sigma_d``.

    sigma_d is the noise of a pulse-to-pulse difference (sqrt 2 times the level noise
    from the MAD of the differences, as for plateaus), so a flat noisy level gives
    about 2.3 % at k_sigma = 2. Paper
    000 says *all* points of its RESET train fall below the unity line; with read noise
    about half of the pairs on a flat level fall just above it, so this is the number
    that tests the claim: pairs above the line by more than the noise.
    """
    a, b = lag_pairs(np.abs(np.asarray(x, dtype=float)))
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return float("nan")
    sigma_d = np.sqrt(2.0) * estimate_noise(np.abs(np.asarray(x, dtype=float)))
    return float(np.mean((b[ok] - a[ok]) > k_sigma * sigma_d))


@dataclass
class LagDensity:
    """Counts of (x_i, x_{i+1}) on a square grid; ``counts[j, k]`` is y bin j, x bin k."""

    counts: NDArray[np.int64]
    edges: NDArray[np.float64]


def lag_density(x: ArrayLike, *, bins: int = 200,
                value_range: tuple[float, float] | None = None) -> LagDensity:
    """2-D histogram of the lag pairs on ``bins`` x ``bins`` equal bins."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    a, b = lag_pairs(x)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if value_range is None:
        lo = float(min(a.min(), b.min())) if a.size else 0.0
        hi = float(max(a.max(), b.max())) if a.size else 1.0
        if hi <= lo:
            hi = lo + 1.0
    else:
        lo, hi = map(float, value_range)
    scale = bins / (hi - lo)
    ia = ((a - lo) * scale).astype(np.int64)
    ib = ((b - lo) * scale).astype(np.int64)
    np.minimum(ia, bins - 1, out=ia)  # the maximum lands in the last bin
    np.minimum(ib, bins - 1, out=ib)
    inside = (ia >= 0) & (ib >= 0) & (a <= hi) & (b <= hi)
    flat = np.bincount((ib * bins + ia)[inside], minlength=bins * bins)
    return LagDensity(flat.reshape(bins, bins), np.linspace(lo, hi, bins + 1))


def _cv_row(x: NDArray[np.float64]) -> dict | None:
    """``n_pulses, mean, std, cv`` of the finite values of ``x`` (None below 2 values)."""
    x = x[np.isfinite(x)]
    if x.size < 2:
        return None
    m, s = float(x.mean()), float(x.std(ddof=1))
    return {"n_pulses": int(x.size), "mean": m, "std": s,
            "cv": s / abs(m) if m else float("nan")}


def _checked(values: ArrayLike, g_g0: ArrayLike) -> tuple[NDArray, NDArray]:
    v = np.asarray(values, dtype=float)
    g = np.asarray(g_g0, dtype=float)
    if v.shape != g.shape:
        raise ValueError(f"values ({v.size}) and g_g0 ({g.size}) differ in length")
    return v, g


def variability_per_level(
    values: ArrayLike, g_g0: ArrayLike, *, min_length: int = 3, merge_g0: float = 0.25
) -> list[dict]:
    """sigma/mu of the values on each quantized level of a pulse sequence.

    The plateaus of the per-pulse conductance G_i are found with
    :func:`analysis.plateaus.detect_plateaus` (pulse number as the axis); the values
    (e.g. currents I_i) on all plateaus with the same n/2 label are pooled per label.

    Returns
    -------
    One dict per label: ``label_g0, n_pulses, mean, std, cv`` (cv = std/|mean|).
    """
    v, g = _checked(values, g_g0)
    res = detect_plateaus(g, min_length=min_length, merge_g0=merge_g0)
    pooled: dict[float, list[NDArray]] = {}
    for p in res.plateaus:
        if p.on_half_integer:
            pooled.setdefault(p.label_g0, []).append(v[p.start_index:p.end_index + 1])
    out = []
    for label in sorted(pooled):
        row = _cv_row(np.concatenate(pooled[label]))
        if row is not None:
            out.append({"label_g0": label, **row})
    return out


def variability_per_stretch(
    values: ArrayLike, g_g0: ArrayLike, *, min_length: int = 10, merge_g0: float = 0.25
) -> list[dict]:
    """sigma/mu of the values on each flat stretch of a pulse sequence, quantized or not.

    Paper 000 (L121-L123) reads the variability as the vertical scatter around each
    discrete level of the RESET train; a measured level sits off n/2 by the series
    resistance and the channels' transmissions, so a stretch counts whatever its label.
    The stretches are the plateaus of G_i (:func:`analysis.plateaus.detect_plateaus`,
    pulse number as the axis) of at least ``min_length`` pulses.

    Returns
    -------
    One dict per stretch: ``start, end, level_g0, n_pulses, mean, std, cv``.
    """
    v, g = _checked(values, g_g0)
    res = detect_plateaus(g, min_length=min_length, merge_g0=merge_g0)
    out = []
    for p in res.plateaus:
        row = _cv_row(v[p.start_index:p.end_index + 1])
        if row is not None:
            out.append({"start": p.start_index, "end": p.end_index,
                        "level_g0": p.level_g0, **row})
    return out
