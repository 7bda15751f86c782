"""Switching voltages, on/off ratio and top level of DC sweeps, per cycle.

Sweep layout (``protocols/dc_sweep``): segment 1 is 0 -> +V (SET), 2 is +V -> 0,
3 is 0 -> -V (RESET), 4 is -V -> 0. Without a ``segment`` column the branches are
inferred from the voltage: rising positive = 1, falling positive = 2, falling negative
= 3, rising negative = 4.

Two definitions of V_SET / V_RESET, because the papers use both:

* **first jump** (paper 000: "the first current jump during the SET and RESET
  process"): the first sample on the branch where G = I/V changes by at least
  ``jump_g0`` *and* by at least ``jump_rel`` of its previous value (up on SET, down on
  RESET) and does not come back past the middle of the jump later on the branch (a
  telegraph blip is not a SET); samples with ``|V| < v_min`` are ignored because G is
  noise there;
* **dI/dV extremum** (paper 001): the voltage of the maximum of dI/dV on the SET branch
  and of the minimum on the RESET branch.

On/off ratio: R = V/I at the sample nearest ``v_read`` on the rising SET sweep (the
state left by the previous RESET, HRS) and on the falling SET sweep (LRS after SET).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis.conductance import conductance_g0
from analysis.noise import fit_noise_model


def infer_segments(voltage: ArrayLike) -> NDArray[np.int64]:
    """Segment ids 1-4 of a bipolar sweep from the voltage alone."""
    v = np.asarray(voltage, dtype=float)
    dv = np.gradient(v) if v.size > 1 else np.zeros_like(v)
    seg = np.where(v >= 0, np.where(dv >= 0, 1, 2), np.where(dv <= 0, 3, 4))
    return seg.astype(np.int64)


@dataclass
class SwitchingResult:
    """Per-cycle switching voltages (NaN where not found) and resistances."""

    cycle: NDArray[np.int64]
    v_set_jump: NDArray[np.float64]
    v_reset_jump: NDArray[np.float64]
    v_set_didv: NDArray[np.float64]
    v_reset_didv: NDArray[np.float64]
    r_hrs_ohm: NDArray[np.float64]
    r_lrs_ohm: NDArray[np.float64]
    top_g0: NDArray[np.float64]
    params: dict = field(default_factory=dict)

    @property
    def on_off(self) -> NDArray[np.float64]:
        """R_HRS / R_LRS per cycle."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.r_hrs_ohm / self.r_lrs_ohm

    def as_dict(self) -> dict:
        """JSON-ready dictionary (NaN as None)."""
        def clean(a: NDArray) -> list:
            return [None if not np.isfinite(x) else float(x) for x in np.asarray(a, float)]

        return {
            "cycle": self.cycle.tolist(),
            "v_set_jump_V": clean(self.v_set_jump),
            "v_reset_jump_V": clean(self.v_reset_jump),
            "v_set_didv_V": clean(self.v_set_didv),
            "v_reset_didv_V": clean(self.v_reset_didv),
            "r_hrs_ohm": clean(self.r_hrs_ohm),
            "r_lrs_ohm": clean(self.r_lrs_ohm),
            "on_off": clean(self.on_off),
            "top_g0": clean(self.top_g0),
            "params": self.params,
        }


def first_jump(v: NDArray, g: NDArray, direction: int, jump_g0: float | None,
               jump_rel: float, compliance: NDArray | None = None) -> float:
    """Voltage of the first lasting G change of at least jump_g0 and jump_rel.

    The one V_SET / V_RESET detector of the project: the analysis calls it per cycle and
    the dc-sweep protocol calls it (through :func:`switching_voltage`) for the per-cycle
    candidates it records while measuring.

    ``direction`` +1 looks for a rise (SET), -1 for a drop (RESET). *Lasting*: for the
    rest of the branch G stays beyond the midpoint of the jump, so a telegraph blip in
    the high-resistance state (up and straight back down) is not taken for the SET.
    ``jump_g0`` None: the smallest jump is 5 noise sigmas of the branch at the level
    before the jump (:mod:`analysis.noise`), so noise never makes a switch. With
    ``compliance`` (SET only) the first sample in compliance also counts, whichever
    comes first.
    """
    ok = np.isfinite(g)
    comp = None if compliance is None else np.asarray(compliance, bool)[ok]
    v, g = v[ok], g[ok] * direction  # a drop becomes a rise
    if g.size < 2:
        return float("nan")
    d = np.diff(g)
    prev = np.abs(g[:-1])
    if jump_g0 is None:
        model = fit_noise_model(np.abs(g))
        min_jump = 5.0 * model.sigma(prev)
    else:
        min_jump = jump_g0
    rest_min = np.minimum.accumulate(g[::-1])[::-1][1:]  # min of g[k+1:], per k
    hit = (d >= min_jump) & (d >= jump_rel * prev) & (rest_min >= g[:-1] + 0.5 * d)
    if comp is not None and direction > 0:
        hit = hit | comp[1:]
    idx = np.flatnonzero(hit)
    return float(v[idx[0] + 1]) if idx.size else float("nan")


def switching_voltage(voltage: ArrayLike, current: ArrayLike, direction: int, *,
                      ratio: float, compliance: ArrayLike | None = None,
                      v_min: float = 0.01) -> float:
    """V_SET (direction +1) or V_RESET (-1) of one branch, with a current-ratio rule:
    the first lasting change of G = I/V by the factor ``ratio`` (the dc-sweep
    protocol's ``jump_ratio``), or the first point in compliance on SET. |V| below
    ``v_min`` is ignored (G is noise there). This is :func:`first_jump` with
    ``jump_rel = ratio - 1`` (rise) or ``1 - 1/ratio`` (drop) and a noise-derived
    minimum jump.
    """
    v = np.asarray(voltage, dtype=float)
    g = np.abs(conductance_g0(v, current, v_min))
    rel = (ratio - 1.0) if direction > 0 else (1.0 - 1.0 / ratio)
    return first_jump(v, g, direction, None, rel, compliance)


def didv_extremum(v: NDArray, i: NDArray, direction: int) -> float:
    """Voltage (midpoint) of max (direction +1) or min (-1) of dI/dV on a branch."""
    dv = np.diff(v)
    di = np.diff(i)
    ok = dv != 0
    if not ok.any():
        return float("nan")
    s = np.where(ok, di / np.where(ok, dv, 1.0), np.nan) * direction
    if not np.isfinite(s).any():
        return float("nan")
    j = int(np.nanargmax(s))
    return float(0.5 * (v[j] + v[j + 1]))


def _r_at(v: NDArray, i: NDArray, v_read: float) -> float:
    if v.size == 0:
        return float("nan")
    j = int(np.argmin(np.abs(np.abs(v) - v_read)))
    return float(v[j] / i[j]) if i[j] != 0 else float("inf")


def switching_analysis(
    voltage: ArrayLike,
    current: ArrayLike,
    *,
    segment: ArrayLike | None = None,
    cycle: ArrayLike | None = None,
    jump_g0: float | None = None,
    jump_rel: float = 0.1,
    v_min: float = 0.05,
    v_read: float = 0.1,
    jump_ratio: float | None = None,
    compliance: ArrayLike | None = None,
) -> SwitchingResult:
    """V_SET, V_RESET (both definitions), R_HRS, R_LRS and top level per cycle.

    Parameters
    ----------
    voltage, current : the samples of one or more sweep cycles.
    segment : segment ids 1-4 (see module doc); inferred from V when missing.
    cycle : cycle number per sample; one cycle when missing.
    jump_g0, jump_rel : minimum G change (G0; None: 5 noise sigmas) and relative change
        for a "jump".
    v_min : |V| below which G is not used for jump detection (V).
    v_read : read voltage for R_HRS / R_LRS (V).
    jump_ratio : the dc-sweep protocol's current ratio; when given it replaces
        ``jump_rel`` (``ratio - 1`` on SET, ``1 - 1/ratio`` on RESET), so the analysis
        and the protocol's per-cycle candidates apply the same rule.
    compliance : per-sample compliance flags; on SET the first flagged sample counts.
    """
    v = np.asarray(voltage, dtype=float)
    i = np.asarray(current, dtype=float)
    seg = infer_segments(v) if segment is None else np.asarray(segment).astype(np.int64)
    cyc = np.zeros(v.size, np.int64) if cycle is None else np.asarray(cycle).astype(np.int64)
    g = conductance_g0(v, i, v_min)
    comp = None if compliance is None else np.asarray(compliance).astype(bool)
    rel_set, rel_reset = ((jump_ratio - 1.0, 1.0 - 1.0 / jump_ratio) if jump_ratio
                          else (jump_rel, jump_rel))
    ids = np.unique(cyc)
    out = {k: np.full(ids.size, np.nan) for k in
           ("vsj", "vrj", "vsd", "vrd", "rh", "rl", "top")}
    for n, c in enumerate(ids):
        m = cyc == c
        vv, ii, gg, ss = v[m], i[m], g[m], seg[m]
        s1, s2, s3 = ss == 1, ss == 2, ss == 3
        c1 = None if comp is None else comp[m][s1]
        out["vsj"][n] = first_jump(vv[s1], np.abs(gg[s1]), +1, jump_g0, rel_set, c1)
        out["vrj"][n] = first_jump(vv[s3], np.abs(gg[s3]), -1, jump_g0, rel_reset)
        out["vsd"][n] = didv_extremum(vv[s1], ii[s1], +1)
        out["vrd"][n] = didv_extremum(vv[s3], ii[s3], -1)
        out["rh"][n] = _r_at(vv[s1], ii[s1], v_read)
        out["rl"][n] = _r_at(vv[s2], ii[s2], v_read)
        setg = np.abs(gg[s1 | s2])
        setg = setg[np.isfinite(setg)]
        out["top"][n] = float(setg.max()) if setg.size else np.nan
    params = dict(jump_g0=jump_g0, jump_rel=jump_rel, v_min=v_min, v_read=v_read,
                  jump_ratio=jump_ratio)
    return SwitchingResult(ids, out["vsj"], out["vrj"], out["vsd"], out["vrd"], out["rh"],
                           out["rl"], out["top"], params)


def ecdf(values: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Empirical cumulative distribution: sorted finite values and P(X <= x)."""
    x = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    return x, np.arange(1, x.size + 1) / max(x.size, 1)


def top_level_vs_compliance(compliance_a: ArrayLike, top_g0: ArrayLike) -> dict:
    """Linear fit of the top conductance level against the compliance current.

    The compliance model of the simulator gives n_final ~ I_cc / (G0 V_crit), a line
    through the origin; the fit reports slope (G0 per A), intercept and the points.
    """
    cc = np.asarray(compliance_a, dtype=float)
    top = np.asarray(top_g0, dtype=float)
    ok = np.isfinite(cc) & np.isfinite(top)
    cc, top = cc[ok], top[ok]
    res: dict = {"compliance_A": cc.tolist(), "top_g0": top.tolist()}
    if np.unique(cc).size >= 2:
        slope, icpt = np.polyfit(cc, top, 1)
        res.update(slope_g0_per_A=float(slope), intercept_g0=float(icpt))
    return res
