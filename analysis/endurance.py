"""Endurance: the two states of every switching cycle versus cycle number.

Input is one conductance read per (cycle, state): either a ``reads`` stream with a
``cycle`` column (two reads per cycle: after SET and after RESET) or per-cycle R_LRS /
R_HRS from :func:`analysis.switching.switching_analysis`. Per cycle the higher read is
the LRS and the lower the HRS; the memory window is their ratio. A cycle whose window
falls below ``min_window`` marks the failure cycle (first such cycle), the usual
endurance figure of merit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass
class EnduranceResult:
    """Per-cycle LRS/HRS conductance and the window."""

    cycle: NDArray[np.int64]
    g_lrs: NDArray[np.float64]
    g_hrs: NDArray[np.float64]
    min_window: float

    @property
    def window(self) -> NDArray[np.float64]:
        """G_LRS / G_HRS per cycle."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.g_lrs / self.g_hrs

    @property
    def failure_cycle(self) -> int | None:
        """First cycle whose window is below ``min_window`` (None: none failed)."""
        bad = np.flatnonzero(~(self.window >= self.min_window))
        return int(self.cycle[bad[0]]) if bad.size else None

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        w = self.window
        fin = w[np.isfinite(w)]
        return {
            "cycles": int(self.cycle.size),
            "median_window": float(np.median(fin)) if fin.size else None,
            "min_window_threshold": self.min_window,
            "failure_cycle": self.failure_cycle,
            "g_lrs_median": float(np.nanmedian(self.g_lrs)) if self.g_lrs.size else None,
            "g_hrs_median": float(np.nanmedian(self.g_hrs)) if self.g_hrs.size else None,
        }


def endurance_from_reads(cycle: ArrayLike, g: ArrayLike, *, min_window: float = 2.0
                         ) -> EnduranceResult:
    """LRS = max and HRS = min of the reads of each cycle (grouped, vectorised)."""
    c = np.asarray(cycle).astype(np.int64)
    y = np.abs(np.asarray(g, dtype=float))
    ok = np.isfinite(y)
    c, y = c[ok], y[ok]
    if c.size == 0:
        return EnduranceResult(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), min_window)
    order = np.argsort(c, kind="stable")
    c, y = c[order], y[order]
    ids, start = np.unique(c, return_index=True)
    return EnduranceResult(ids, np.maximum.reduceat(y, start), np.minimum.reduceat(y, start),
                           min_window)


def endurance_from_resistances(cycle: ArrayLike, r_lrs: ArrayLike, r_hrs: ArrayLike, *,
                               min_window: float = 2.0) -> EnduranceResult:
    """Endurance from per-cycle resistances (ohm); conductances are 1/R (in S)."""
    with np.errstate(divide="ignore"):
        return EnduranceResult(np.asarray(cycle).astype(np.int64),
                               1.0 / np.abs(np.asarray(r_lrs, float)),
                               1.0 / np.abs(np.asarray(r_hrs, float)), min_window)
