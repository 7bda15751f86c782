"""Series resistance from plateau levels: estimate, uncertainty, and when it is not known.

A resistance R_s in series with a quantized contact moves a level n/2 G0 to
``(n/2) / (1 + R_s (n/2) G0)`` (more for higher levels), so 300 ohm puts 10 G0 at 8.1 G0
and every label is wrong. The correction ``G = G_meas / (1 - R_s G0 G_meas)`` needs R_s.

Estimate (robust, for traces where only part of the levels are quantized):

1. For every R on a 0.5 ohm grid (up to the R_s that would double the highest level,
   beyond which any set of levels can be lined up), correct the plateau levels and score
   how well they sit on the n/2 ladder with a two-component likelihood: a level is
   quantized (Gaussian around its n/2, sigma 0.03 G0, weight 0.7) or not (uniform over
   the +-1/4 G0 between two n/2 values). Each plateau is one vote. A count of levels
   within a tolerance does not work: a 15 ohm change moves a 10 G0 level by less than
   a 0.1 G0 tolerance, so many R values tie; the likelihood rewards *tight* alignment.
2. Take the R of highest likelihood; refine it by least squares on the levels within
   ``tol`` of n/2 ("used"), their labels fixed. The uncertainty is the standard error of
   that fit, ``s / sqrt(sum J_i^2)``, ``J_i = d G_i / d R_s``, ``s`` the rms residual of
   the used levels (floored at 0.01 G0, the scale of a level's own error).
3. **Identifiable** only if at least 4 plateaus are used, they are at least half of the
   plateaus, and every R that would give a used plateau another n/2 label has a log
   likelihood lower by at least 5 (a likelihood ratio of ~150). Values of R that give
   the used plateaus the same labels are not rivals: they widen the uncertainty of R_s,
   not of the labels. Otherwise the result says why, and the caller keeps the
   uncorrected labels: a series resistance is never applied silently or on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from analysis.conductance import series_correct
from analysis.plateaus import relabel
from labcore.constants import G0


@dataclass(frozen=True)
class SeriesEstimate:
    """Result of :func:`estimate_series_r`."""

    ohm: float | None
    uncertainty_ohm: float | None
    n_plateaus: int
    n_used: int
    identifiable: bool
    warning: str | None
    runner_up_ohm: float | None = None

    def as_dict(self) -> dict:
        """JSON-ready dictionary."""
        return {"ohm": self.ohm, "uncertainty_ohm": self.uncertainty_ohm,
                "n_plateaus": self.n_plateaus, "n_used": self.n_used,
                "identifiable": self.identifiable, "warning": self.warning,
                "runner_up_ohm": self.runner_up_ohm}


#: spread of quantized levels around n/2 (G0) and the share of quantized levels assumed
SIGMA_Q = 0.03
W_QUANTIZED = 0.7


def _corrected(levels: np.ndarray, r: np.ndarray | float) -> np.ndarray:
    return levels / np.maximum(1.0 - np.multiply.outer(r, levels) * G0, 1e-9)


def estimate_series_r(levels_g0: ArrayLike, *, tol: float = 0.1, step_ohm: float = 0.5,
                      min_level: float = 0.4) -> SeriesEstimate:
    """Estimate R_s from measured plateau levels (G0); see the module docstring."""
    lv = np.asarray(levels_g0, dtype=float)
    lv = lv[np.isfinite(lv) & (lv >= min_level)]
    n = int(lv.size)
    if n < 4:
        return SeriesEstimate(None, None, n, 0, False,
                              f"series resistance not identifiable: {n} plateau level(s) "
                              "above 0.4 G0 (at least 4 needed)")
    r_max = 0.5 / (G0 * float(lv.max()))
    grid = np.arange(0.0, r_max, step_ohm)
    corr = _corrected(lv, grid)  # (n_grid, n)
    resid = corr - np.round(2 * corr) / 2
    dens = (W_QUANTIZED * np.exp(-0.5 * (resid / SIGMA_Q) ** 2) / (SIGMA_Q * np.sqrt(2 * np.pi))
            + (1 - W_QUANTIZED) * 2.0)  # uniform density over 1/2 G0
    loglik = np.log(dens).sum(axis=1)
    best = int(np.argmax(loglik))
    use = np.abs(resid[best]) <= tol
    c_best = int(use.sum())
    labels = np.round(2 * corr[best][use]) / 2
    r = float(grid[best])
    x = lv[use]
    for _ in range(20 if c_best else 0):  # Gauss-Newton on the used levels, labels fixed
        c = x / (1 - r * G0 * x)
        jac = G0 * x**2 / (1 - r * G0 * x) ** 2
        step = float(np.sum(jac * (labels - c)) / np.sum(jac**2))
        r = max(r + step, 0.0)
        if abs(step) < 1e-3:
            break
    c = x / (1 - r * G0 * x)
    jac = G0 * x**2 / (1 - r * G0 * x) ** 2
    dof = max(c_best - 1, 1)
    s = max(float(np.sqrt(np.sum((c - labels) ** 2) / dof)), 0.01)
    sig = s / float(np.sqrt(np.sum(jac**2)))
    # rivals: values of R that would label at least one used plateau differently
    lab_all = np.round(2 * corr) / 2
    far = (lab_all[:, use] != lab_all[best, use]).any(axis=1)
    runner_r = float(grid[far][np.argmax(loglik[far])]) if far.any() else None
    margin = float(loglik[best] - loglik[far].max()) if far.any() else np.inf
    reasons = []
    if c_best < 4:
        reasons.append(f"only {c_best} plateaus land on n/2 at the best value")
    if c_best < 0.5 * n:
        reasons.append(f"only {c_best} of {n} plateaus land on n/2 at the best value "
                       "(too many levels off the n/2 ladder)")
    if margin < 5.0:
        reasons.append(f"{runner_r:.0f} ohm, with other n/2 labels, fits the ladder almost "
                       f"as well (log-likelihood {margin:.1f} below the best, 5 needed)")
    ok = not reasons
    warn = None if ok else ("series resistance not identifiable: " + "; ".join(reasons)
                            + ". Levels are labelled without a series correction; pass "
                            "--series-r OHM if it is known.")
    return SeriesEstimate(round(r, 2), round(sig, 2), n, c_best, ok, warn, runner_r)


def relabel_with_series(result, series_r_ohm: float, *, tol: float, g_max: float):
    """A :class:`analysis.plateaus.PlateauResult` with R_s removed from every level.

    ``level_g0``, labels, residuals and kinds are those of the corrected level; the
    measured levels are kept in ``params["level_measured_g0"]`` (same order).
    """
    lv = np.array([p.level_g0 for p in result.plateaus], dtype=float)
    new = series_correct(lv, series_r_ohm) if lv.size else lv
    return relabel(result, np.where(np.isfinite(new), new, lv), tol=tol, g_max=g_max)
