"""Noise model of a trace: white + proportional, robust; spike rejection; a unit-noise scale.

Why: real read-outs do not have one noise sigma. A current amplifier adds a floor (white,
in siemens) and an error proportional to the signal, so a 25 G0 plateau is an order of
magnitude noisier than a 1 G0 one; glitches hit single samples. Thresholds fixed in G0
then fail both ways (splits on high plateaus, missed steps on low ones) and change when
the same data is read in other units. Here every threshold comes from the trace itself:

1. **Local spread**: the trace is cut into blocks of 4 samples; each block gives a
   sample standard deviation and a level (its mean). The median of the block sigmas
   (divided by 0.8873, its value for unit Gaussian noise, computed once on 5e5 blocks)
   is the noise: blocks that contain a step or a spike are a minority and the median
   ignores them. Block spread, not differences or the residual from a running median:
   fast telegraph noise on a plateau (a partial channel toggling every few samples) is
   then noise, as a physicist reading the trace would call it, not a series of steps.
2. **Level dependence**: blocks are binned by their level (equal-count bins); each bin
   gives a robust sigma, and ``sigma(G)^2 = a^2 + (b G)^2`` is fitted by
   non-negative least squares with relative weights. ``a`` is the white floor (same unit
   as G), ``b`` the proportional part (dimensionless).
3. **Spikes** (Hampel filter): samples farther than ``k sigma(level)`` from a 7-sample
   running median are replaced by it (never removed, so indices and gaps stay) and
   counted; the model is then refitted on the cleaned trace.
4. **Variance-stabilising transform**: ``z = asinh(b G / a) / b`` has unit noise at every
   level (dz/dG = 1/sigma(G)). Change points found on ``z`` need one threshold in
   units of sigma. Multiplying G by a constant multiplies ``a`` by it and leaves ``b``
   and ``z`` unchanged: detection is scale invariant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import median_filter
from scipy.optimize import nnls

#: running-median window (samples) of the noise estimate and the spike filter
WINDOW = 7
#: samples per block of the spread estimate
BLOCK = 4
#: blocks used at most (evenly spread over the trace)
MAX_BLOCKS = 50_000
#: median of the sample standard deviation of 4 unit Gaussian samples
BLOCK_MEDIAN_STD = 0.8873
#: spike threshold in local sigmas (Hampel's usual 3 is too eager on 10^6 samples:
#: 0.27 % of clean Gaussian samples would be "spikes")
SPIKE_SIGMAS = 5.0


@dataclass(frozen=True)
class NoiseModel:
    """sigma(G) = sqrt(white^2 + (proportional * G)^2), G in the trace's own unit."""

    white: float
    proportional: float
    n_bins: int = 1

    def sigma(self, g: ArrayLike) -> NDArray[np.float64]:
        """Noise sigma at level(s) g."""
        g = np.asarray(g, dtype=float)
        return np.sqrt(self.white**2 + (self.proportional * g) ** 2)

    def transform(self, g: ArrayLike) -> NDArray[np.float64]:
        """Unit-noise coordinate z(G) (see module docstring)."""
        g = np.asarray(g, dtype=float)
        a, b = self.white, self.proportional
        if b <= 0:
            return g / a
        return np.arcsinh(b * g / a) / b

    def as_dict(self) -> dict:
        """JSON-ready dictionary."""
        return {"white": self.white, "proportional": self.proportional,
                "n_bins": self.n_bins}


#: a sorting network of 7 inputs (16 compare-exchanges in 6 layers; Knuth, TAOCP 5.3.4)
SORT7 = ((0, 6), (2, 3), (4, 5), (0, 2), (1, 4), (3, 6), (0, 1), (2, 5), (3, 4),
         (1, 2), (4, 6), (2, 3), (4, 5), (1, 2), (3, 4), (5, 6))
#: samples per block of the running median (the 7 shifted blocks stay in cache)
MEDIAN_BLOCK = 32768


def running_median(y: NDArray[np.float64], window: int = WINDOW) -> NDArray[np.float64]:
    """Running median (edges: nearest sample repeated).

    The 7-sample window of the spike filter goes through a sorting network on the 7
    shifted copies of the trace, in cache-sized blocks (32 elementwise min/max per
    block; about half the time of a rank filter on 10^6 samples). Other windows, and
    traces with NaN, use ``scipy.ndimage.median_filter``.
    """
    y = np.asarray(y, dtype=np.float64)
    if window != 7 or y.size < 7 or not np.isfinite(y).all():
        return median_filter(y, size=window, mode="nearest")
    pad = np.concatenate((np.full(3, y[0]), y, np.full(3, y[-1])))
    out = np.empty(y.size)
    for s in range(0, y.size, MEDIAN_BLOCK):
        e = min(y.size, s + MEDIAN_BLOCK)
        v = [pad[s + k:e + k] for k in range(7)]
        for i, j in SORT7:
            v[i], v[j] = np.minimum(v[i], v[j]), np.maximum(v[i], v[j])
        out[s:e] = v[3]
    return out


def fit_noise_model(y: ArrayLike, *, n_bins: int = 16, min_per_bin: int = 16
                    ) -> NoiseModel:
    """Fit ``sigma(G)^2 = a^2 + (b G)^2`` to the block spread of a finite trace.

    The white term is floored at 1e-6 of the trace's largest |value| so that a
    noiseless trace still has a finite, scale-relative threshold.
    """
    y = np.asarray(y, dtype=float)
    floor = 1e-6 * float(np.max(np.abs(y))) if y.size else 1e-12
    floor = floor if floor > 0 else 1e-12
    m = y.size // BLOCK
    if m < 2:
        s = float(np.std(y)) if y.size > 1 else 0.0
        return NoiseModel(max(s, floor), 0.0, 1)
    blocks = y[: m * BLOCK].reshape(m, BLOCK)
    if m > MAX_BLOCKS:  # evenly spread subset: medians of 5e4 blocks are precise enough
        blocks = blocks[:: -(-m // MAX_BLOCKS)]
        m = blocks.shape[0]
    sd = blocks.std(axis=1, ddof=1) / BLOCK_MEDIAN_STD
    lev = np.abs(blocks.mean(axis=1))
    nb = int(max(1, min(n_bins, m // min_per_bin)))
    order = np.argsort(lev, kind="stable")
    groups = np.array_split(order, nb)
    sig = np.array([float(np.median(sd[g])) for g in groups])
    lvl = np.array([float(np.median(lev[g])) for g in groups])
    ok = np.isfinite(sig)
    if _level_dependence_identifiable(lvl[ok]) and np.median(sig) > 0:
        s2, l2 = sig[ok] ** 2, lvl[ok] ** 2
        # relative errors (each bin's sigma^2 is known to a similar fraction), but not
        # below the typical bin: a noiseless stretch (sigma ~ 0) must not pin the fit
        w = 1.0 / (s2 + np.median(s2))
        coef, _ = nnls(np.column_stack((np.ones_like(l2), l2)) * w[:, None], s2 * w)
        a, b = float(np.sqrt(coef[0])), float(np.sqrt(coef[1]))
    else:
        a, b = float(np.median(sig)) if sig.size else 0.0, 0.0
    # a floor keeps the transform finite when the fit puts all noise in the b term
    a = max(a, floor, 0.05 * b * float(np.median(lev)) if b > 0 else 0.0)
    return NoiseModel(a, b, nb)


#: the bins' levels must span at least this ratio for the proportional term to be fitted
#: (over a narrower span white and proportional noise differ by less than the bins'
#: scatter, and the split between them, extrapolated to other levels, is arbitrary)
MIN_LEVEL_SPAN = 2.0


def _level_dependence_identifiable(levels: NDArray[np.float64]) -> bool:
    """Two or more bins whose median levels span :data:`MIN_LEVEL_SPAN` (ratio).

    Equal-count bins of a trace that spends most of its time on one plateau all sit at
    that plateau's level: two points at nearly one level fit ``a^2 + (b G)^2`` with any
    split of the noise between ``a`` and ``b``, and a split that puts it in ``b`` makes a
    short, lower plateau look 8x quieter than it is (its samples then read as spikes).
    The white-only model is the one the data support there.
    """
    if levels.size < 2:  # the levels are block means of |G|, never negative
        return False
    lo, hi = float(np.min(levels)), float(np.max(levels))
    return hi > 0 and hi >= MIN_LEVEL_SPAN * lo


def despike(y: ArrayLike, model: NoiseModel | None = None, *,
            sigmas: float = SPIKE_SIGMAS) -> tuple[NDArray[np.float64], NDArray[np.bool_],
                                                    NoiseModel]:
    """Hampel filter: replace samples > ``sigmas`` local sigmas from the running median.

    Returns (cleaned copy, spike mask, noise model of the cleaned trace). The model is
    fitted before (spikes barely move a median) and refitted after the cleaning.
    """
    y = np.asarray(y, dtype=float)
    med = running_median(y) if y.size >= WINDOW else y.copy()
    model = model or fit_noise_model(y)
    spikes = np.abs(y - med) > sigmas * model.sigma(np.abs(med))
    out = np.where(spikes, med, y)
    if spikes.any():
        model = fit_noise_model(out)
    return out, spikes, model


#: block lengths (samples) at which the slow noise is measured
WANDER_SCALES = 2 ** np.arange(2, 16)
#: triples evaluated at most per block length (evenly spread over the trace)
MAX_TRIPLES = 20_000
#: segments at least 3 L long needed to measure the slow noise at block length L
MIN_WANDER_SEGMENTS = 3


def wander_sigma(zsum: NDArray[np.float64], starts: NDArray[np.int64],
                 ends: NDArray[np.int64], t: NDArray[np.int64]) -> NDArray[np.float64]:
    """Spread of ``mean(last t) - mean(first t)`` of a level, in unit-noise (z) units.

    Why: the noise model measures the spread within 4 samples. 1/f (flicker) noise has
    more power at low frequency, so a plateau's level wanders over tens of samples by
    several of those sigmas; judged by the white sigma alone, such a plateau looks like
    a ramp. Here the wander is measured at the time scale asked for, from the trace.

    How: for block lengths L = 4, 8, 16, ... the second difference of three adjacent
    L-sample means, ``H = m1 - 2 m2 + m3`` (the Hadamard statistic), over positions
    whose three blocks lie inside one segment (``starts``/``ends``: segments without a
    significant step). A linear trend cancels in H, so a ramp does not pass for noise;
    steps are excluded by the segments; the median makes the rest robust.
    ``sigma_D = sigma_H / sqrt 3`` (equal for white noise, where var D = 2/L and
    var H = 6/L). Block lengths are measured while at least :data:`MIN_WANDER_SEGMENTS`
    segments are 3 L long; ``t`` between them is interpolated (log-log), beyond the
    longest extrapolated as white noise, and never less than the white ``sqrt(2/t)``.

    Parameters
    ----------
    zsum : cumulative sum of the unit-noise trace, with a leading 0.
    starts, ends : segments (end exclusive).
    t : block lengths to evaluate (one third of each candidate plateau).
    """
    t = np.maximum(np.asarray(t, dtype=np.int64), 1)
    white = np.sqrt(2.0 / t)
    n_all = zsum.size - 1
    lens = ends - starts
    scale, sig = [], []
    for L in WANDER_SCALES:
        if np.count_nonzero(lens >= 3 * L) < MIN_WANDER_SEGMENTS:
            break
        i = np.arange(0, max(n_all - 3 * L + 1, 0), max(1, n_all // MAX_TRIPLES))
        seg = np.searchsorted(starts, i, side="right") - 1
        i = i[(seg >= 0) & (i + 3 * L <= ends[np.maximum(seg, 0)])]
        if i.size == 0:
            break
        s0, s1, s2, s3 = (zsum[i + k * L] for k in range(4))
        h = ((s1 - s0) - 2.0 * (s2 - s1) + (s3 - s2)) / L
        scale.append(float(L))
        sig.append(1.4826 * float(np.median(np.abs(h))) / np.sqrt(3.0))
    if not scale:
        return white
    # log-log interpolation between measured scales; beyond the longest, white scaling
    # (the smaller, stricter extrapolation)
    lt, ls, lg = np.log(t), np.log(scale), np.log(np.maximum(sig, 1e-300))
    measured = np.exp(np.interp(lt, ls, lg))
    beyond = sig[-1] * np.sqrt(scale[-1] / t)
    return np.maximum(white, np.where(t > scale[-1], beyond, measured))
