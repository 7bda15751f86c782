"""Weight-update model of one device, from a measured potentiation/depression run.

The model is NeuroSim's (its V3.0 manual, sections 5.1-5.2; paper 000 eqs. 2-4 with the
depression sign as :mod:`analysis.nonlinearity` explains). In normalised units
``y = (G - G_min) / (G_max - G_min)`` and pulse position ``x = P / P_max``:

- potentiation moves a device along ``y = f(x; c_p)``,
- depression moves it along ``y = 1 - f(k; c_d)`` with ``k`` the depression pulses counted
  from G_max,

with ``f(x; c) = (1 - e^{-c x}) / (1 - e^{-c})`` and ``c = P_max / A`` (c = 0 is a linear
device). Every pulse also adds cycle-to-cycle noise ``sigma * sqrt(n)`` for ``n`` pulses,
NeuroSim's form, with sigma in units of the conductance window.

From the run this module takes: G_min, G_max (the window both fitted curves span), P_max,
A and the NeuroSim nonlinearity label of each direction (the existing fit,
:func:`analysis.nonlinearity.fit_update`), the cycle-to-cycle spread (the scatter of the
measured pulse-to-pulse increments around the fitted curve) and the number of distinct
conductance states the train visited (a read within twice that scatter of the current
state's level is the same state).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from analysis.inputs import load_run
from analysis.nonlinearity import NonlinearityFit, nl_label, shape
from analysis.run_kind import RunKind, kind_of_protocol
from analysis.summary import RunAnalysis
from labcore.runfile import list_runs

#: largest curve shape P_max/A considered (NL label 10.08: the first pulse does ~all)
C_MAX = 2000.0


@dataclass(frozen=True)
class DeviceModel:
    """Everything training needs to know about the device behind a synaptic weight.

    Attributes
    ----------
    kind : ``"measured"``, ``"ideal"`` or ``"nonlinear"`` (built from a label).
    g_min_g0, g_max_g0 : conductance window (G0); a weight uses the normalised window.
    p_max : pulses from G_min to G_max: the number of update steps (states - 1).
    c_potentiation, c_depression : curve shape ``P_max / A`` of each direction (0: linear).
    nl_potentiation, nl_depression : NeuroSim nonlinearity labels of the two curves.
    sigma_c2c : cycle-to-cycle spread of one pulse, as a fraction of the window.
    distinct_states : conductance states the measured train visited (None if not measured).
    source : where the numbers come from (run file and run id, or how it was built).
    """

    kind: str
    g_min_g0: float
    g_max_g0: float
    p_max: int
    c_potentiation: float
    c_depression: float
    nl_potentiation: float
    nl_depression: float
    sigma_c2c: float
    distinct_states: int | None
    source: str

    def as_dict(self) -> dict:
        """JSON-ready dictionary."""
        return asdict(self)

    def curve(self, direction: str, pulses: NDArray) -> NDArray[np.float64]:
        """Normalised conductance after ``pulses`` pulses from the start of a direction."""
        x = np.clip(np.asarray(pulses, dtype=float) / self.p_max, 0.0, 1.0)
        if direction == "potentiation":
            return shape(x, self.c_potentiation)
        return 1.0 - shape(x, self.c_depression)


def c_for_label(label: float) -> float:
    """Curve shape c = P_max/A whose NeuroSim label is ``label`` (0 gives a linear curve).

    Inverts :func:`analysis.nonlinearity.nl_label`, which reproduces NeuroSim's published
    pairs (2.40 <-> A/P_max = 0.4992, 4.88 <-> 0.2003).
    """
    if not np.isfinite(label):
        raise ValueError(f"nonlinearity label must be a finite number, got {label!r}")
    if abs(label) < 1e-9:
        return 0.0
    mag = abs(label)
    top = nl_label(1.0 / C_MAX)
    if mag > top:
        raise ValueError(f"nonlinearity label {label} is beyond a step-like device "
                         f"(|NL| <= {top:.2f})")
    c = brentq(lambda c: nl_label(1.0 / c) - mag, 1e-6, C_MAX, xtol=1e-10)
    return float(np.sign(label) * c)


def ideal(p_max: int, *, g_min_g0: float = 1.0, g_max_g0: float = 25.0) -> DeviceModel:
    """A linear, noise-free device with ``p_max`` steps (the reference of paper-style plots)."""
    _check_p_max(p_max)
    return DeviceModel("ideal", g_min_g0, g_max_g0, int(p_max), 0.0, 0.0, 0.0, 0.0, 0.0,
                       None, f"ideal linear device, {p_max} steps")


def with_label(label: float, p_max: int, *, sigma_c2c: float = 0.0,
               g_min_g0: float = 1.0, g_max_g0: float = 25.0,
               label_depression: float | None = None) -> DeviceModel:
    """A device whose curves carry the NeuroSim label ``label`` (and ``label_depression``).

    Without ``label_depression`` both directions carry ``label``.
    """
    _check_p_max(p_max)
    dep = label if label_depression is None else label_depression
    cp, cd = c_for_label(label), c_for_label(dep)
    lp = nl_label(1.0 / cp) if cp else 0.0
    ld = nl_label(1.0 / cd) if cd else 0.0
    return DeviceModel("nonlinear", g_min_g0, g_max_g0, int(p_max), cp, cd, lp, ld,
                       float(sigma_c2c), None,
                       f"NL {label}/{dep} (potentiation/depression), {p_max} steps")


def _check_p_max(p_max: int) -> None:
    if int(p_max) != p_max or p_max < 2:
        raise ValueError(f"number of update steps must be an integer >= 2, got {p_max!r}")


def from_fits(fits: dict[str, NonlinearityFit], g_up: NDArray, g_down: NDArray,
              source: str) -> DeviceModel:
    """The model of a device from its potentiation and depression fits and raw reads.

    Parameters
    ----------
    fits : ``{"potentiation": fit, "depression": fit}`` (G0), as
        :attr:`analysis.summary.RunAnalysis.nonlinearity` returns them.
    g_up, g_down : the measured reads of the two halves, in train order (G0).
    source : a note of where they come from, stored with the model.
    """
    missing = {"potentiation", "depression"} - set(fits)
    if missing:
        raise ValueError(f"the run has no {' or '.join(sorted(missing))} half to fit "
                         "(need an ltp-ltd run with both phases)")
    up, down = fits["potentiation"], fits["depression"]
    g_min = min(up.g_min, down.g_min)
    g_max = max(up.g_max, down.g_max)
    if not g_max > g_min:
        raise ValueError(f"the fitted window is empty (G_min {g_min:.3g}, G_max {g_max:.3g} G0)")
    p_max = int(round(max(up.p_max, down.p_max)))
    window = g_max - g_min
    increments = []
    for fit, g in ((up, g_up), (down, g_down)):
        g = np.asarray(g, dtype=float)
        g = g[np.isfinite(g)]
        pos = np.arange(g.size, dtype=float)
        if fit.direction == "depression":
            pos = fit.p_max - pos  # the fit's curve is in pulse position P = P_max - k
        model = fit.curve(pos)
        increments.append(np.diff(g) - np.diff(model))
    inc = np.concatenate(increments)
    # the residual increment of one pulse holds the pulse's own spread and two reads'
    # noise; all of it is charged to the pulse (a conservative device)
    sigma = float(np.std(inc, ddof=1) / window) if inc.size > 2 else 0.0
    distinct = visited_states(np.concatenate([g_up, g_down]), 2.0 * sigma * window)
    return DeviceModel(
        "measured", float(g_min), float(g_max), p_max,
        _c_of(up), _c_of(down), float(up.label), float(down.label), sigma, distinct, source)


def visited_states(g: NDArray, gap: float) -> int:
    """Conductance states a train visited, in time order.

    A read starts a new state when it differs from the current state's level by more
    than ``gap``; a state's level is the first read that started it.
    """
    g = np.asarray(g, dtype=float)
    g = g[np.isfinite(g)]
    if not g.size:
        return 0
    count, level = 1, g[0]
    for value in g[1:]:
        if abs(value - level) > gap:
            count += 1
            level = value
    return count


def _c_of(fit: NonlinearityFit) -> float:
    return 0.0 if not np.isfinite(fit.A) else float(fit.p_max / fit.A)


def from_run(path, run_id: str | None = None) -> DeviceModel:
    """The model of the device measured by an ``ltp-ltd`` run of a run file.

    Without ``run_id`` the last ``ltp-ltd`` run of the file is used (the last run if
    there is none, which is then refused by name).
    """
    if run_id is None and Path(path).suffix.lower() in (".h5", ".hdf5"):
        ltp = [r.run_id for r in list_runs(path)
               if kind_of_protocol(r.protocol) is RunKind.LTP_LTD]
        run_id = ltp[-1] if ltp else None
    run = load_run(path, run_id)
    ra = RunAnalysis(run)
    if not ra.is_ltp_ltd:
        raise ValueError(f"{path}: run {run.run_id} is a {run.protocol or 'CSV'} run; the "
                         "device model needs an ltp-ltd (potentiation/depression) run")
    fits = ra.nonlinearity
    if not fits:
        raise ValueError(f"{path}: run {run.run_id} has too few reads for a nonlinearity fit")
    g_up, g_down = ra.ltp_ltd_halves
    return from_fits(fits, g_up, g_down, f"{path} run {run.run_id}")
