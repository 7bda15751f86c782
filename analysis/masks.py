"""Samples that must not enter plateaus or histograms: compliance and near-zero bias.

Why: while the SMU limits the current, I = I_cc and "G" = I_cc / V falls as 1/V along
the sweep. That is the instrument's limit, not the device; a staircase detector finds
dozens of fake plateaus there and labels some "quantized". Near 0 V, G = I/V is 0/0.
Both kinds of sample are masked (set to NaN, so indices keep pointing at the samples
and a mask is a forced plateau boundary) and counted in the summary.

Compliance comes from, in order of trust:

1. the instrument's status flag (the ``compliance`` column the drivers record);
2. the compliance current of the run (``compliance_set`` parameter or the per-cycle
   table): |I| within 2 % of I_cc;
3. the clamp itself: on each branch, a run of >= 4 samples whose |I| stays within 3
   noise sigmas of the branch's top current while |V| changes by >= 5 % (and by >= 10
   relative noise sigmas) and
   ``d ln|I| / d ln|V| < 0.5`` (an ohmic device has slope 1, a clamp 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass
class Masks:
    """Boolean masks over the samples and where the compliance mask came from."""

    near_zero_bias: NDArray[np.bool_]
    compliance: NDArray[np.bool_]
    compliance_source: str

    @property
    def any(self) -> NDArray[np.bool_]:
        """Samples excluded from plateaus and histograms."""
        return self.near_zero_bias | self.compliance

    def as_dict(self) -> dict:
        """Counts for the JSON summary."""
        return {"near_zero_bias": int(self.near_zero_bias.sum()),
                "compliance": int(self.compliance.sum()),
                "compliance_source": self.compliance_source}


def clamp_mask(voltage: ArrayLike, current: ArrayLike, branch: ArrayLike | None = None,
               *, min_run: int = 4) -> NDArray[np.bool_]:
    """Samples where |I| is held at the branch's top value while |V| moves (see module)."""
    v = np.abs(np.asarray(voltage, dtype=float))
    i = np.abs(np.asarray(current, dtype=float))
    br = np.zeros(v.size, np.int64) if branch is None else np.asarray(branch)
    out = np.zeros(v.size, dtype=bool)
    change = np.flatnonzero(br[1:] != br[:-1]) + 1
    for a, b in zip(np.concatenate(([0], change)), np.append(change, v.size), strict=True):
        ii, vv = i[a:b], v[a:b]
        if ii.size < min_run:
            continue
        pos = ii[ii > 0]
        if pos.size < min_run:
            continue
        # relative noise of |I| from neighbour differences of ln|I| (robust: MAD)
        dl = np.diff(np.log(pos))
        rel = max(1.4826 * float(np.median(np.abs(dl - np.median(dl)))) / np.sqrt(2), 1e-4)
        top = ii >= float(pos.max()) * (1 - 4 * rel)
        i_top = float(np.median(ii[top]))
        sig = rel * i_top
        cand = np.abs(ii - i_top) <= 3 * sig
        starts = np.flatnonzero(np.diff(np.concatenate(([0], cand.view(np.int8), [0]))) == 1)
        ends = np.flatnonzero(np.diff(np.concatenate(([0], cand.view(np.int8), [0]))) == -1)
        for s, e in zip(starts, ends, strict=True):
            if e - s < min_run:
                continue
            vr, ir = vv[s:e], ii[s:e]
            # |V| must move well beyond what the current noise could hide
            if vr.min() <= 0 or vr.max() / vr.min() < 1 + max(0.05, 10 * sig / i_top):
                continue
            slope = np.polyfit(np.log(vr), np.log(np.maximum(ir, 1e-300)), 1)[0]
            if slope < 0.5:
                out[a + s:a + e] = True
    return out


def sample_masks(voltage: ArrayLike, current: ArrayLike, v_min: float, *,
                 flag: ArrayLike | None = None, compliance_a: ArrayLike | float | None = None,
                 branch: ArrayLike | None = None, detect_clamp: bool = False) -> Masks:
    """Near-zero-bias and compliance masks of a set of samples.

    Parameters
    ----------
    voltage, current : samples (V, A).
    v_min : |V| below this is near-zero bias (V).
    flag : the instrument's compliance status per sample, if recorded.
    compliance_a : compliance current per sample or one value (A), if known.
    branch : sweep branch id per sample (segment and cycle), for the clamp search.
    detect_clamp : search for clamps when neither flag nor current is known (sweeps).
    """
    v = np.asarray(voltage, dtype=float)
    i = np.asarray(current, dtype=float)
    near = np.abs(v) < v_min
    comp = np.zeros(v.size, dtype=bool)
    source = "none"
    if flag is not None and len(flag) == v.size:
        comp = np.asarray(flag).astype(bool)
        source = "instrument flag"
    elif compliance_a is not None:
        cc = np.broadcast_to(np.asarray(compliance_a, dtype=float), v.shape)
        with np.errstate(invalid="ignore"):
            comp = np.isfinite(cc) & (cc > 0) & (np.abs(i) >= 0.98 * cc)
        source = "compliance current"
    if detect_clamp and source != "instrument flag":
        clamp = clamp_mask(v, i, branch)
        if clamp.any():
            comp = comp | clamp
            source = "clamp" if source == "none" else source + " + clamp"
    return Masks(near, comp & ~near, source)
