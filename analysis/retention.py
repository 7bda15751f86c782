"""Retention: power-law drift fit of conductance versus time.

Drift law (paper 003): ``G(t) = G_init * (t / t_ref)^(-nu)``. Paper 003 writes the
prefactor as "G_0", meaning the initial programmed conductance; here it is ``g_init``
so it cannot be confused with the conductance quantum. The fit is a straight line on
log-log axes (``log G = log g_init - nu log(t / t_ref)``) over samples with t > 0 and
G > 0; t is counted from the first read unless ``t_program`` says when the state was
written. Anything beyond the measured time is an extrapolation and is labelled so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

TEN_YEARS_S = 10 * 365.25 * 86400


@dataclass
class DriftFit:
    """Power-law drift parameters."""

    g_init: float
    nu: float
    t_ref_s: float
    r_squared: float
    t_first_s: float
    t_last_s: float
    n_points: int
    g_at_10_years_extrapolated: float

    def predict(self, t: ArrayLike) -> NDArray[np.float64]:
        """G at times t (s after programming); beyond t_last_s it is an extrapolation."""
        return self.g_init * (np.asarray(t, dtype=float) / self.t_ref_s) ** (-self.nu)

    def as_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)


def fit_drift(time_s: ArrayLike, g: ArrayLike, *, t_program: float | None = None,
              t_ref_s: float = 1.0) -> DriftFit:
    """Fit G(t) = g_init (t/t_ref)^(-nu).

    Parameters
    ----------
    time_s : read times (s).
    g : conductance (any unit; G0 in labapp) at those times.
    t_program : time the state was written (s); default: one read interval (the first
        one, so log-spaced reads work) before the first read.
    t_ref_s : reference time of g_init (s).
    """
    t = np.asarray(time_s, dtype=float)
    y = np.asarray(g, dtype=float)
    if t.shape != y.shape:
        raise ValueError(f"time ({t.size}) and g ({y.size}) differ in length")
    if t_program is None:
        ts = np.sort(t[np.isfinite(t)])
        dt = float(ts[1] - ts[0]) if ts.size > 1 else 1.0
        t_program = float(ts[0]) - (dt if dt > 0 else 1.0) if ts.size else 0.0
    tr = t - t_program
    ok = np.isfinite(tr) & np.isfinite(y) & (tr > 0) & (y > 0)
    if ok.sum() < 3:
        raise ValueError(f"need >= 3 points with t > 0 and G > 0 for a drift fit, got {ok.sum()}")
    lx = np.log(tr[ok] / t_ref_s)
    ly = np.log(y[ok])
    slope, icpt = np.polyfit(lx, ly, 1)
    pred = icpt + slope * lx
    ss_res = float(((ly - pred) ** 2).sum())
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    g_init = float(np.exp(icpt))
    nu = float(-slope)
    return DriftFit(g_init, nu, t_ref_s, r2, float(tr[ok].min()), float(tr[ok].max()),
                    int(ok.sum()), float(g_init * (TEN_YEARS_S / t_ref_s) ** (-nu)))
