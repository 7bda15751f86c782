"""Conductance histograms and their Gaussian-mixture fit with centres near k/2 G0.

Two histograms answer two questions:

* the **trace histogram** counts every sample; its peaks are where the device *spends
  time*, so long plateaus weigh more (the usual break-junction histogram);
* the **state histogram** counts one value per detected plateau; its peaks are which
  levels the device *visits*, independent of how long it stays.

Bins default to 0.025 G0 (at most 0.05 G0 is needed to separate k and k + 1/2). Bin
edges are fixed from ``g_range`` and ``bin_width``, so histograms of many cycles, runs
and files add bin by bin (:meth:`Histogram.__add__`) without keeping the samples, which
is what the batch analysis does.

The mixture fit is a least-squares fit of a sum of Gaussians plus a flat background
(counts between peaks from transitions) to the bin counts (Poisson weights), with an
analytic Jacobian and a small bounded Levenberg-Marquardt solver
(:func:`levenberg_marquardt`; scipy's trust region is the fallback): it costs the same
for 10^3 or 10^9 samples. Centres are either free (bounded to
+-0.2 G0 around the k/2 they start from; the deviation is the quantization error) or
tied through one series resistance R_s: ``c_k = (k/2) / (1 + R_s (k/2) G0)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares
from scipy.signal import find_peaks

from analysis.options import DEFAULT_BIN_G0
from labcore.constants import G0

DEFAULT_RANGE_G0 = (0.0, 25.0)


@dataclass
class Histogram:
    """Counts on fixed, uniform bins (edges in G0)."""

    edges: NDArray[np.float64]
    counts: NDArray[np.int64]

    @property
    def centers(self) -> NDArray[np.float64]:
        """Bin centres in G0."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def bin_width(self) -> float:
        """Bin width in G0."""
        return float(self.edges[1] - self.edges[0])

    @property
    def total(self) -> int:
        """Number of values counted."""
        return int(self.counts.sum())

    def __add__(self, other: Histogram) -> Histogram:
        if self.edges.shape != other.edges.shape or not np.allclose(self.edges, other.edges):
            raise ValueError("histograms with different bins cannot be added")
        return Histogram(self.edges, self.counts + other.counts)

    def as_dict(self) -> dict:
        """JSON-ready dictionary (edges and counts as lists)."""
        return {"edges_g0": self.edges.tolist(), "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Histogram:
        """Inverse of :meth:`as_dict`."""
        return cls(np.asarray(d["edges_g0"], float), np.asarray(d["counts"], np.int64))


def conductance_histogram(
    values: ArrayLike,
    *,
    bin_width: float = DEFAULT_BIN_G0,
    g_range: tuple[float, float] = DEFAULT_RANGE_G0,
) -> Histogram:
    """Histogram of conductance values (G0) on fixed uniform bins; NaNs are skipped.

    The counts are those of ``np.histogram`` with a range and a bin count, computed by
    :func:`uniform_counts` (fewer passes per sample).
    """
    lo, hi = float(g_range[0]), float(g_range[1])
    if not (np.isfinite(bin_width) and bin_width > 0):
        raise ValueError(f"bin_width must be > 0 G0, got {bin_width!r}")
    if not hi > lo:
        raise ValueError(f"g_range must be (low, high) with high > low, got {g_range!r}")
    nb = int(round((hi - lo) / bin_width))
    if nb < 1 or nb > 10_000_000:
        raise ValueError(f"g_range/bin_width gives {nb} bins; allowed 1..1e7")
    hi = lo + nb * bin_width
    x = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        x = x[np.isfinite(x)]
    edges = np.linspace(lo, hi, nb + 1)  # as np.histogram makes them
    return Histogram(edges, uniform_counts(x, edges))


#: samples per block of :func:`uniform_counts` (as ``np.histogram``'s blocks)
COUNT_BLOCK = 65536


def uniform_counts(x: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """Counts of finite ``x`` on uniform ``edges``, equal to ``np.histogram``'s.

    ``np.histogram`` checks every sample against the edges on both sides (two gathers
    per sample) to fix index rounding; here only samples within 1e-6 bin of an edge are
    checked that way (the same rules: bins half open, the last one closed), the rest
    take the floor of their scaled value. A third less time on 10^7 samples.
    """
    nb = edges.size - 1
    lo, hi = float(edges[0]), float(edges[-1])
    scale = nb / (hi - lo)
    out = np.zeros(nb, np.int64)
    for s in range(0, x.size, COUNT_BLOCK):
        a = x[s:s + COUNT_BLOCK]
        if a.size and (a.min() < lo or a.max() > hi):
            a = a[(a >= lo) & (a <= hi)]
        f = (a - lo) * scale
        k = f.astype(np.intp)
        f -= k
        near = np.flatnonzero(np.abs(f - 0.5) > 0.5 - 1e-6)
        if near.size:
            kk = np.minimum(k[near], nb - 1)
            an = a[near]
            kk -= an < edges[kk]
            kk += (an >= edges[kk + 1]) & (kk != nb - 1)
            k[near] = kk
        out += np.bincount(k, minlength=nb)
    return out


def state_histogram(levels_g0: ArrayLike, *, bin_width: float = 0.1,
                    g_range: tuple[float, float] = DEFAULT_RANGE_G0) -> Histogram:
    """Histogram of plateau levels (one value per plateau); 0.1 G0 bins by default."""
    return conductance_histogram(levels_g0, bin_width=bin_width, g_range=g_range)


@dataclass(frozen=True)
class Peak:
    """One fitted Gaussian: centre and sigma in G0, weight = fraction of peak area."""

    center_g0: float
    width_g0: float
    weight: float
    label_g0: float
    counts: float
    center_err_g0: float | None = None
    width_err_g0: float | None = None
    counts_err: float | None = None
    significance: float | None = None

    def as_dict(self) -> dict:
        """JSON-ready dictionary."""
        return {"center_g0": self.center_g0, "width_g0": self.width_g0,
                "weight": self.weight, "label_g0": self.label_g0, "counts": self.counts,
                "center_err_g0": self.center_err_g0, "width_err_g0": self.width_err_g0,
                "counts_err": self.counts_err, "significance": self.significance}


@dataclass
class MixtureFit:
    """Result of :func:`fit_mixture`."""

    peaks: list[Peak]
    mode: str
    background: float
    series_resistance_ohm: float | None = None
    success: bool = True
    message: str = ""
    params: dict = field(default_factory=dict)

    def model(self, g: ArrayLike, bin_width: float) -> NDArray[np.float64]:
        """Fitted counts per bin at conductances g (for plotting)."""
        x = np.asarray(g, dtype=float)
        out = np.full_like(x, self.background)
        for p in self.peaks:
            amp = p.counts * bin_width / (p.width_g0 * np.sqrt(2 * np.pi))
            out += amp * np.exp(-0.5 * ((x - p.center_g0) / p.width_g0) ** 2)
        return out


def find_candidate_peaks(hist: Histogram, *, min_prominence: float = 0.02,
                         min_separation_g0: float = 0.3, g_min: float = 0.25
                         ) -> NDArray[np.float64]:
    """Peak positions (G0) of the lightly smoothed histogram, prominent and separated.

    Bins below ``g_min`` (the off state, which can hold most samples of a sweep) are
    left out, so prominence is judged among the quantized levels.
    """
    c = np.where(hist.centers >= g_min, hist.counts, 0).astype(float)
    if c.sum() == 0:
        return np.zeros(0)
    bw = hist.bin_width
    k = max(1, int(round(0.03 / bw)))
    ker = np.exp(-0.5 * (np.arange(-3 * k, 3 * k + 1) / k) ** 2)
    sm = np.convolve(c, ker / ker.sum(), mode="same")
    dist = max(1, int(round(min_separation_g0 / bw)))
    idx, _ = find_peaks(sm, prominence=min_prominence * sm.max(), distance=dist)
    return hist.centers[idx]


def fit_mixture(
    hist: Histogram,
    *,
    mode: str = "free",
    centers_g0: ArrayLike | None = None,
    max_center_shift_g0: float = 0.2,
    min_prominence: float = 0.02,
    max_width_g0: float = 0.3,
    select: bool = True,
) -> MixtureFit:
    """Fit Gaussians plus a flat background; keep only the peaks the data support.

    Model selection (BIC): a peak costs 3 parameters, so it stays only if removing it
    raises the binned Poisson deviance (-2 ln L) by more than ``3 ln N`` (N = counted
    values); ``significance`` is the square root of that increase, computed with the
    other peaks held fixed. The weakest failing peaks (half of them, at least one) are
    dropped and the rest refitted until every peak passes; a histogram of 800 values
    thus keeps the levels it shows, not one peak per count.
    Parameter errors come from the covariance ``(J^T W J)^-1``, scaled up by the
    reduced chi^2 when the counts scatter more than Poisson (correlated samples).

    Parameters
    ----------
    hist : the histogram (counts per bin).
    mode : ``"free"`` (each centre free within ``max_center_shift_g0`` of its start) or
        ``"tied"`` (centres ``(k/2)/(1 + R_s (k/2) G0)`` with one R_s >= 0).
    centers_g0 : starting centres; default: prominent peaks of the histogram.
    min_prominence : peak prominence as a fraction of the highest peak.
    max_width_g0 : upper bound of each Gaussian sigma.
    select : drop the peaks the data do not support (default); False keeps every one.

    Returns
    -------
    MixtureFit with peaks sorted by centre; each labelled with its k/2.
    """
    if mode not in ("free", "tied"):
        raise ValueError(f"mode must be 'free' or 'tied', got {mode!r}")
    c0 = (find_candidate_peaks(hist, min_prominence=min_prominence)
          if centers_g0 is None else np.sort(np.asarray(centers_g0, dtype=float)))
    penalty = 3.0 * np.log(max(hist.total, 2))
    dropped = 0
    first_warning = None
    while True:
        fit = _fit_once(hist, c0, mode, max_center_shift_g0, max_width_g0)
        first_warning = first_warning or fit.params.get("warning")
        if first_warning:  # a refit from fitted centres must not hide the first verdict
            fit.params["warning"] = first_warning
        keep = _supported(fit, penalty) if select else None
        if keep is None:
            break
        dropped += len(fit.peaks) - keep.size
        if not keep.size:
            return MixtureFit([], mode, fit.background, None, False,
                              "no peak is supported by the data (BIC)",
                              {**fit.params, "bic_penalty": float(penalty),
                               "peaks_dropped": dropped})
        c0 = np.array([fit.peaks[i].center_g0 for i in keep])
    fit.params.update(bic_penalty=float(penalty), peaks_dropped=dropped)
    return fit


def _supported(fit: MixtureFit, penalty: float) -> NDArray | None:
    """Indices of the peaks kept for a refit when some fail the BIC ``penalty`` (the
    weakest failing half, at least one, dropped); None when every peak passes."""
    z2 = np.array([(p.significance or 0.0) ** 2 for p in fit.peaks])
    if not z2.size or z2.min() >= penalty:
        return None
    fail = np.flatnonzero(z2 < penalty)
    drop = fail[np.argsort(z2[fail])][: max(1, fail.size // 2)]
    return np.setdiff1d(np.arange(len(fit.peaks)), drop)


@dataclass
class _Mixture:
    """Gaussians plus a flat background on the fitted bins, with Poisson weights.

    Parameters ``p``: free mode ``[bg, a_1..a_K, c_1..c_K, s_1..s_K]``; tied mode
    ``[bg, R_s, a_1..a_K, s_1..s_K]`` with centres ``labels / (1 + R_s labels G0)``.
    """

    x: NDArray
    y: NDArray
    mode: str
    labels: NDArray

    def __post_init__(self) -> None:
        self.wts = 1.0 / np.sqrt(self.y + 1.0)  # Poisson weights
        self.k = self.labels.size
        self.rg = self.labels * G0

    def unpack(self, p: NDArray) -> tuple:
        """``(background, amplitudes, centres, sigmas, R_s or None)``."""
        k = self.k
        if self.mode == "free":
            return p[0], p[1:k + 1], p[k + 1:2 * k + 1], p[2 * k + 1:], None
        return p[0], p[2:k + 2], self.labels / (1 + p[1] * self.rg), p[k + 2:], p[1]

    def resid(self, p: NDArray) -> NDArray:
        """Weighted residuals of the model against the counts."""
        bg, a, c, s, _ = self.unpack(p)
        g = np.exp(-0.5 * ((self.x[:, None] - c) / s) ** 2)
        return (bg + g @ a - self.y) * self.wts

    def jac(self, p: NDArray) -> NDArray:
        """Analytic Jacobian of :meth:`resid`."""
        bg, a, c, s, r = self.unpack(p)
        z = (self.x[:, None] - c) / s
        g = np.exp(-0.5 * z * z)
        ag = g * a
        d_c = ag * z / s  # d model / d c
        d_s = ag * z * z / s
        cols = [np.ones((self.x.size, 1))]
        if self.mode == "free":
            cols += [g, d_c, d_s]
        else:
            dc_dr = -self.labels * self.rg / (1 + r * self.rg) ** 2
            cols += [(d_c * dc_dr).sum(axis=1, keepdims=True), g, d_s]
        return np.hstack(cols) * self.wts[:, None]


def _start(c0: NDArray, x: NDArray, y: NDArray, mode: str, bw: float,
           max_center_shift_g0: float, max_width_g0: float, params: dict
           ) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """``(labels, p0, lower bounds, upper bounds)`` of a fit from the centres ``c0``;
    a tied fit whose centres sit on no n/2 ladder notes a warning in ``params``."""
    k_idx = np.searchsorted(x, c0).clip(0, x.size - 1)
    a0 = np.maximum(y[k_idx], 1.0)
    s0 = np.full(c0.size, max(2 * bw, 0.05))
    bg0 = max(float(np.percentile(y, 10)), 0.0)
    smin = 0.6 * bw  # narrower than a bin leaves the centre undetermined inside it
    K = c0.size
    if mode == "free":
        p0 = np.concatenate(([bg0], a0, c0, s0))
        lb = np.concatenate(([0.0], np.zeros(K), c0 - max_center_shift_g0, np.full(K, smin)))
        ub = np.concatenate(([np.inf], np.full(K, np.inf), c0 + max_center_shift_g0,
                             np.full(K, max_width_g0)))
        return np.round(2 * c0) / 2, p0, lb, ub
    r0, mse = _initial_series_r(c0)
    params["ladder_rms_g0"] = float(np.sqrt(mse))
    if mse > 0.25 * RANDOM_LADDER_MSE:
        # no single R_s puts these centres on n/2 (non-quantized steps dominate):
        # say so, and start from R_s = 0 rather than from a chance alignment
        params["warning"] = (f"no single series resistance maps the peaks onto n/2 "
                             f"(rms distance {np.sqrt(mse):.3f} G0); tied fit from R_s = 0")
        r0 = 0.0
    p0 = np.concatenate(([bg0, r0], a0, s0))
    lb = np.concatenate(([0.0, 0.0], np.zeros(K), np.full(K, smin)))
    ub = np.concatenate(([np.inf, 1e5], np.full(K, np.inf), np.full(K, max_width_g0)))
    return _labels_for_r(c0, r0), p0, lb, ub


def _fit_once(hist: Histogram, c0: NDArray, mode: str, max_center_shift_g0: float,
              max_width_g0: float) -> MixtureFit:
    """Fit Gaussians plus a flat background to a histogram (one fit from the sorted
    starting centres ``c0``, no selection; see :func:`fit_mixture`)."""
    bw = hist.bin_width
    if c0.size == 0:
        return MixtureFit([], mode, 0.0, None, False, "no peaks in histogram")
    x_all = hist.centers
    lo, hi = c0.min() - 0.75, c0.max() + 0.75
    sel = (x_all >= lo) & (x_all <= hi)
    x, y = x_all[sel], hist.counts.astype(float)[sel]
    params: dict = {"mode": mode, "max_center_shift_g0": max_center_shift_g0,
                    "bin_width_g0": bw}
    labels, p0, lb, ub = _start(c0, x, y, mode, bw, max_center_shift_g0, max_width_g0,
                                params)
    model = _Mixture(x, y, mode, labels)
    p0 = np.clip(p0, lb, ub)
    p_best, ok, msg = levenberg_marquardt(model.resid, model.jac, p0, lb, ub)
    if not ok:  # fall back on scipy's bounded trust region
        res = least_squares(model.resid, p0, jac=model.jac, bounds=(lb, ub), x_scale="jac",
                            max_nfev=200, tr_solver="lsmr")
        p_best, ok, msg = res.x, bool(res.success), str(res.message)
    bg, _, _, _, r = model.unpack(p_best)
    peaks = _peaks(model, p_best, _errors(model.resid, model.jac, p_best, lb, ub), bw)
    return MixtureFit(peaks, mode, float(bg), None if r is None else float(r),
                      bool(ok), msg, params)


def _peaks(model: _Mixture, p: NDArray, err: NDArray, bw: float) -> list[Peak]:
    """The fitted Gaussians as peaks sorted by centre, with errors and significance."""
    bg, a, c, s, r = model.unpack(p)
    K, labels, rg = model.k, model.labels, model.rg
    area = a * s * np.sqrt(2 * np.pi) / bw  # counts under each Gaussian
    tot = area.sum()
    if model.mode == "free":
        ea, ec, es = err[1:K + 1], err[K + 1:2 * K + 1], err[2 * K + 1:]
    else:
        ea, es = err[2:K + 2], err[K + 2:]
        ec = err[1] * labels * rg / (1 + r * rg) ** 2
    sig = _peak_significance(model.x, model.y, bg, a, c, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        earea = area * np.sqrt((ea / np.where(a > 0, a, 1)) ** 2 + (es / s) ** 2)
    return [
        Peak(float(c[i]), float(s[i]), float(area[i] / tot) if tot > 0 else 0.0,
             float(labels[i] if model.mode == "tied" else np.round(2 * c[i]) / 2),
             float(area[i]), float(ec[i]), float(es[i]), float(earea[i]), float(sig[i]))
        for i in np.argsort(c)
    ]


def _peak_significance(x: NDArray, y: NDArray, bg: float, a: NDArray, c: NDArray,
                       s: NDArray) -> NDArray:
    """sqrt of the Poisson deviance increase when each peak is removed (others fixed).

    The binned Poisson likelihood, not the Gaussian-weighted chi^2: a 30-count peak on
    an empty background is overwhelming evidence although its amplitude error is large.
    Model counts are floored at 0.01 per bin so an empty background stays finite.
    """
    g = a * np.exp(-0.5 * ((x[:, None] - c) / s) ** 2)  # (bins, peaks)
    mu = np.maximum(bg + g.sum(axis=1), 0.01)
    out = np.empty(a.size)
    for k in range(a.size):
        mu_k = np.maximum(mu - g[:, k], 0.01)
        dev = 2.0 * float(np.sum(mu_k - mu + y * np.log(mu / mu_k)))
        out[k] = np.sqrt(max(dev, 0.0))
    return out


def _errors(resid, jac, p: NDArray, lb: NDArray, ub: NDArray) -> NDArray:
    """Standard errors of the parameters from ``(J^T J)^-1`` of the weighted residuals,
    scaled by sqrt(reduced chi^2) when above 1; parameters at a bound get 0."""
    r = resid(p)
    jm = jac(p)
    free = (p > lb) & (p < ub)
    out = np.zeros(p.size)
    if not free.any():
        return out
    jf = jm[:, free]
    h = np.einsum("ij,ik->jk", jf, jf)
    try:  # no LAPACK: see solve_spd
        cov = solve_spd(h + 1e-12 * np.diag(np.diag(h)), np.eye(h.shape[0]))
    except np.linalg.LinAlgError:
        return out
    dof = max(r.size - int(free.sum()), 1)
    scale = max(float(r @ r) / dof, 1.0)
    out[free] = np.sqrt(np.maximum(np.diag(cov), 0.0) * scale)
    return out


def levenberg_marquardt(resid, jac, p0: NDArray, lb: NDArray, ub: NDArray, *,
                        max_iter: int = 200, rtol: float = 1e-7
                        ) -> tuple[NDArray, bool, str]:
    """Bounded Levenberg-Marquardt on the normal equations (Marquardt's diagonal scaling,
    steps projected onto the bounds).

    Why not ``scipy.optimize.least_squares``: its trust-region step takes an SVD of the
    Jacobian (or many LSMR iterations) each iteration; on a loaded machine the threaded
    SVD stalled by 30x. Here J^T J is formed with ``einsum`` (single-threaded) and the
    n x n system (n = 3 per peak + 1) is solved by :func:`solve_spd`, a few ms per
    iteration.

    Returns (parameters, converged, message).
    """
    p = np.clip(np.asarray(p0, dtype=float), lb, ub)
    r = resid(p)
    cost = float(r @ r)
    lam = 1.0  # cautious first steps: Gauss-Newton jumps can empty a peak
    for it in range(max_iter):
        jm = jac(p)
        g = jm.T @ r
        # parameters held at a bound by the gradient are frozen for this step
        free = ~(((p <= lb) & (g > 0)) | ((p >= ub) & (g < 0)))
        jf = jm[:, free]
        h = np.einsum("ij,ik->jk", jf, jf)
        gf = g[free]
        d = np.maximum(np.diag(h), 1e-12)
        improved = False
        for _ in range(30):
            try:
                step_f = solve_spd(h + lam * np.diag(d), -gf)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            step = np.zeros_like(p)
            step[free] = step_f
            p_new = np.clip(p + step, lb, ub)
            r_new = resid(p_new)
            c_new = float(r_new @ r_new)
            if np.isfinite(c_new) and c_new <= cost:
                improved = True
                rel = (cost - c_new) / max(cost, 1e-300)
                p, r, cost = p_new, r_new, c_new
                lam = max(lam / 10, 1e-12)
                break
            lam *= 4
        if not improved:
            return p, True, f"converged: no further decrease after {it + 1} iterations"
        if rel < rtol:
            return p, True, f"converged: relative cost change {rel:.1e} in {it + 1} iterations"
    return p, False, f"no convergence in {max_iter} iterations"


def solve_spd(a: NDArray, b: NDArray) -> NDArray:
    """Solve a x = b for a symmetric positive definite a by Gaussian elimination.

    Written with numpy ufuncs (outer products, no BLAS/LAPACK call) because for the
    ~100 x 100 damped normal matrices here LAPACK's threaded solve stalled by 30-50x when
    other processes held the cores; this costs ~2 ms at n = 120 whatever the load.
    """
    a = np.array(a, dtype=float)
    x = np.array(b, dtype=float)  # (n,) or (n, m): m right-hand sides at once
    n = a.shape[0]
    for k in range(n):
        piv = a[k, k]
        if not piv > 0:
            raise np.linalg.LinAlgError("matrix is not positive definite")
        f = a[k + 1:, k] / piv
        a[k + 1:, k + 1:] -= np.multiply.outer(f, a[k, k + 1:])
        x[k + 1:] -= np.multiply.outer(f, x[k])
    for k in range(n - 1, -1, -1):
        row = a[k, k + 1:] if x.ndim == 1 else a[k, k + 1:, None]
        x[k] = (x[k] - np.sum(row * x[k + 1:], axis=0)) / a[k, k]
    return x


def _labels_for_r(c: NDArray, r: float) -> NDArray:
    """n/2 labels of centres c after removing a series resistance r."""
    corr = c / np.maximum(1 - r * G0 * c, 1e-9)
    return np.maximum(np.round(2 * corr) / 2, 0.5)


#: mean squared distance to the nearest n/2 of values spread at random (uniform +-1/4)
RANDOM_LADDER_MSE = 0.5**2 / 12


def _initial_series_r(c: NDArray) -> tuple[float, float]:
    """R_s (ohm) that best maps the centres onto the n/2 ladder, and its mean squared
    distance to the ladder (grid search on 1 ohm steps).

    The grid stops where the correction would double the highest centre
    (R_s G0 c_max = 1/2): beyond that, the corrected values spread so fast that some
    R_s lines up any set of centres by chance. Among near-equal minima (rms within
    ~0.045 G0) the smallest R_s is taken, for the same reason.
    """
    r_max = 0.5 / (G0 * max(float(c.max()), 0.5))
    grid = np.arange(0.0, r_max, 1.0)
    corr = c[None, :] / (1 - grid[:, None] * G0 * c[None, :])
    err = ((corr - np.round(2 * corr) / 2) ** 2).mean(axis=1)
    best = err.min()
    k = int(np.flatnonzero(err <= best + 0.002)[0])
    return float(grid[k]), float(err[k])
