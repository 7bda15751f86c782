"""Weight-update nonlinearity of potentiation/depression (LTP/LTD) trains.

Model (NeuroSim; paper 000 eqs. 2-4 with the depression sign corrected)::

    G_LTP(P) =  B (1 - exp(-P / A))           + G_min
    G_LTD(P) = -B (1 - exp(+(P - P_max) / A)) + G_max
    B        = (G_max - G_min) / (1 - exp(-P_max / A))

P is the pulse position on [0, P_max]: potentiation moves P up, depression moves it
down, so both curves run from G_min at P = 0 to G_max at P = P_max.

**Paper 000 prints eq. 3 with exponent -(P - P_max)/A.** With that sign
G_LTD(0) = G_max + B (e^{P_max/A} - 1) > G_max: the curve does not span
[G_min, G_max] and cannot describe a depression train. The form above (exponent
+(P - P_max)/A, as in the NeuroSim manual) does, and is what this module fits.

Fit: in normalised units x = P/P_max, y = (G - G_min)/(G_max - G_min), both curves
become ``f(x; c) = (1 - e^{-c x}) / (1 - e^{-c})`` with ``c = P_max / A`` (LTD
measured as depression pulse count k = P_max - P). For a fixed c the model is linear in
(G_min, G_max), so c is found by a bounded 1-D search with the two endpoints solved by
linear least squares at every step (variable projection): no starting guesses, no
local minima from the endpoints. ``endpoints="data"`` instead fixes G_min, G_max to
the measured extremes as the paper describes. c -> 0 is a linear update (A = inf);
negative c (negative A) is an update that accelerates.

Nonlinearity label: NeuroSim's table of labels satisfies
``NL = max_x (f(x; 1/a) - x) / 0.099`` with a = A / P_max (within 0.2 %; it
reproduces the manual's pairs 2.40 <-> a = 0.4992 and 4.88 <-> a = 0.2003), so the
label is computed, not looked up; its sign follows A.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar

C_BOUND = 60.0  # |P_max / A| above this is a step, not a curve
NL_SCALE = 0.099


def shape(x: ArrayLike, c: float) -> NDArray[np.float64]:
    """Normalised update curve f(x; c) = (1 - e^{-c x}) / (1 - e^{-c}); f(x; 0) = x."""
    x = np.asarray(x, dtype=float)
    if abs(c) < 1e-9:
        return x.copy()
    return np.expm1(-c * x) / np.expm1(-c)


def g_ltp(p: ArrayLike, a: float, g_min: float, g_max: float, p_max: float) -> NDArray:
    """G_LTP(P) = B (1 - e^{-P/A}) + G_min (eq. 2)."""
    p = np.asarray(p, dtype=float)
    b = b_coefficient(a, g_min, g_max, p_max)
    if not np.isfinite(a):
        return g_min + (g_max - g_min) * p / p_max
    return b * (-np.expm1(-p / a)) + g_min


def g_ltd(p: ArrayLike, a: float, g_min: float, g_max: float, p_max: float) -> NDArray:
    """G_LTD(P) = -B (1 - e^{(P - P_max)/A}) + G_max (eq. 3, sign as in NeuroSim).

    P is the pulse *position*: G_LTD(0) = G_min, G_LTD(P_max) = G_max.
    """
    p = np.asarray(p, dtype=float)
    b = b_coefficient(a, g_min, g_max, p_max)
    if not np.isfinite(a):
        return g_min + (g_max - g_min) * p / p_max
    return -b * (-np.expm1((p - p_max) / a)) + g_max


def b_coefficient(a: float, g_min: float, g_max: float, p_max: float) -> float:
    """B = (G_max - G_min) / (1 - e^{-P_max/A}) (eq. 4); G_max - G_min for A = inf."""
    if not np.isfinite(a):
        return g_max - g_min
    return float((g_max - g_min) / (-np.expm1(-p_max / a)))


def nl_label(a_over_pmax: float) -> float:
    """NeuroSim-style nonlinearity label of normalised A (a = A/P_max), signed."""
    if not np.isfinite(a_over_pmax) or a_over_pmax == 0:
        return 0.0
    x = np.linspace(0.0, 1.0, 2001)
    dev = shape(x, 1.0 / a_over_pmax) - x
    return float(np.sign(a_over_pmax) * np.max(np.abs(dev)) / NL_SCALE)


@dataclass
class NonlinearityFit:
    """Fitted parameters of one direction (``potentiation`` or ``depression``)."""

    direction: str
    A: float
    B: float
    g_min: float
    g_max: float
    p_max: float
    label: float
    rms_residual: float
    n_points: int
    endpoints: str

    def as_dict(self) -> dict:
        """JSON-ready dictionary (infinite A written as None)."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float) and not np.isfinite(v):
                d[k] = None
        return d

    def curve(self, p: ArrayLike) -> NDArray[np.float64]:
        """Model G at pulse positions P (eq. 2 or the corrected eq. 3)."""
        fn = g_ltp if self.direction == "potentiation" else g_ltd
        return fn(p, self.A, self.g_min, self.g_max, self.p_max)


def fit_update(
    g: ArrayLike, direction: str = "potentiation", *, endpoints: str = "fit",
    pulses: ArrayLike | None = None,
) -> NonlinearityFit:
    """Fit A (and G_min, G_max) to one potentiation or depression train.

    Parameters
    ----------
    g : conductance after each pulse, in train order (any unit; G0 in labapp).
        Element 0 is the state before the first pulse if the train starts with a read.
    direction : ``"potentiation"`` (G rises with pulse number) or ``"depression"``.
    endpoints : ``"fit"`` (G_min, G_max fitted with A) or ``"data"`` (the measured
        extremes, as paper 000 describes).
    pulses : pulse counts k of the values (default 0..N-1); P_max = max(k).

    Returns
    -------
    NonlinearityFit; for depression, A and the curve refer to pulse position
    P = P_max - k, so ``fit.curve(P)`` overlays the data at ``k = P_max - P``.
    """
    if direction not in ("potentiation", "depression"):
        raise ValueError(f"direction must be 'potentiation' or 'depression', got {direction!r}")
    if endpoints not in ("fit", "data"):
        raise ValueError(f"endpoints must be 'fit' or 'data', got {endpoints!r}")
    x, y, p_max = _train_positions(g, pulses)
    # depression: G falls with k; mirror to a rising curve  G_max - G(k) = (dG) f(x)
    sign = 1.0 if direction == "potentiation" else -1.0
    c_best = _best_curvature(lambda c: _line_fit(x, y, c, endpoints, sign)[0])
    cost, start, span = _line_fit(x, y, c_best, endpoints, sign)
    if sign > 0:
        g_min, g_max = start, start + span
    else:
        g_max, g_min = start, start + span
    a = p_max / c_best if abs(c_best) > 1e-9 else float("inf")
    return NonlinearityFit(
        direction=direction, A=float(a), B=b_coefficient(a, g_min, g_max, p_max),
        g_min=float(g_min), g_max=float(g_max), p_max=p_max,
        label=nl_label(a / p_max if np.isfinite(a) else float("inf")),
        rms_residual=float(np.sqrt(cost / y.size)), n_points=int(y.size), endpoints=endpoints,
    )


def _train_positions(g: ArrayLike, pulses: ArrayLike | None
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """``(x = k / P_max, finite G values, P_max)`` of a train; refuses fewer than 4
    finite points or pulse numbers that do not span a range."""
    y = np.asarray(g, dtype=float)
    k = np.arange(y.size, dtype=float) if pulses is None else np.asarray(pulses, dtype=float)
    ok = np.isfinite(y) & np.isfinite(k)
    y, k = y[ok], k[ok]
    if y.size < 4:
        raise ValueError(f"need at least 4 finite points for a nonlinearity fit, got {y.size}")
    k = k - k.min()
    p_max = float(k.max())
    if p_max <= 0:
        raise ValueError("pulse numbers must span more than one value")
    return k / p_max, y, p_max


def _line_fit(x: NDArray, y: NDArray, c: float, endpoints: str, sign: float
              ) -> tuple[float, float, float]:
    """``(squared residual, start, span)`` of ``y = start + span * shape(x, c)``: the
    measured extremes (``endpoints="data"``) or the closed-form straight-line fit."""
    f = shape(x, c)
    if endpoints == "data":
        lo_, hi_ = (y.min(), y.max())
        start = lo_ if sign > 0 else hi_
        span = (hi_ - lo_) * sign
    else:  # straight-line least squares y = start + span * f, closed form
        fm, ym = f.mean(), y.mean()
        var = float(((f - fm) ** 2).sum())
        span = float(((f - fm) * (y - ym)).sum() / var) if var > 0 else 0.0
        start = ym - span * fm
    r = y - (start + span * f)
    return float(r @ r), float(start), float(span)


def _best_curvature(cost: Callable[[float], float]) -> float:
    """The curvature c (= P_max / A) of least cost: a grid over +-C_BOUND, refined by a
    bounded scalar search between the best point's neighbours."""
    grid = np.linspace(-C_BOUND, C_BOUND, 241)
    costs = np.array([cost(c) for c in grid])
    j = int(np.argmin(costs))
    lo = grid[max(j - 1, 0)]
    hi = grid[min(j + 1, grid.size - 1)]
    if not hi > lo:
        return float(grid[j])
    res = minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    return float(res.x) if res.fun <= costs[j] else float(grid[j])


def split_ltp_ltd(
    g: ArrayLike, polarity: ArrayLike | None = None, n_potentiation: int | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Split one LTP/LTD sequence into its potentiation and depression halves.

    Uses, in this order: the sign of a per-pulse ``polarity`` (programming voltage:
    positive = potentiation), a known number of potentiation pulses, or the maximum
    of G (the turning point). The last potentiation value starts the depression half,
    so both halves include the turning state.
    """
    y = np.asarray(g, dtype=float)
    if polarity is not None:
        pol = np.asarray(polarity, dtype=float)
        if pol.shape != y.shape:
            raise ValueError(f"polarity has {pol.size} entries, g has {y.size}")
        neg = np.flatnonzero(pol < 0)
        cut = int(neg[0]) if neg.size else y.size
    elif n_potentiation is not None:
        cut = int(n_potentiation)
    else:
        cut = int(np.nanargmax(y)) + 1
    if not 1 <= cut <= y.size:
        raise ValueError(f"potentiation length must be within 1..{y.size}, got {cut}")
    return y[:cut], y[max(cut - 1, 0):]
