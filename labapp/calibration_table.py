"""The paper-000 calibration table: rows, bands, pass rule and the metric of every row.

The table itself is data, ``calibration_table.json`` beside this module (versioned; its
bands were fixed before the device physics was tuned). This module reads it and holds the
*metric as code*: each row names one function of :data:`METRICS`, which turns the run
files of the row's recipes on one device into one number with the lab's analysis
(:mod:`analysis`). The runner that executes the recipes through the protocols, the driver
and the simulated 4200A is :mod:`labapp.calibration`; this module needs only the measured
arrays, so the metrics can be checked on hand-made data
(``tests/test_calibration_paper000.py``). It lives beside the runner, not in
``sim_backend``: the simulator does not depend on the analysis that judges it.

Pass rule (from the table): a row passes when the median of its metric over at least
``min_seeds`` device seeds lies in the band and at least ``min_fraction_in_band`` of the
seeds do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analysis.nonlinearity import fit_update
from analysis.plateaus import detect_plateaus
from analysis.pulses import levels_from_waveforms
from analysis.switching import switching_analysis
from analysis.timelag import clearly_above_unity_fraction, variability_per_stretch
from labcore.constants import G0

TABLE_PATH = Path(__file__).with_name("calibration_table.json")

Array = NDArray[np.float64]
#: a recipe: (protocol, preset or "", overrides), run in order on one device
RunSpec = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class PassRule:
    """Median over >= ``min_seeds`` seeds in band and >= ``min_fraction`` of seeds in band."""

    min_seeds: int
    min_fraction: float


@dataclass(frozen=True)
class Row:
    """One calibration row (see the table's ``about``)."""

    id: str
    paper: str
    paper_value: str
    recipes: tuple[str, ...]
    metric: str
    unit: str
    lo: float
    hi: float
    band_text: str

    def in_band(self, value: float) -> bool:
        return bool(np.isfinite(value) and self.lo <= value <= self.hi)

    @property
    def band(self) -> str:
        if self.band_text:
            return self.band_text
        unit = f" {self.unit}" if self.unit else ""
        if not np.isfinite(self.lo):
            return f"<= {self.hi:g}{unit}"
        if not np.isfinite(self.hi):
            return f">= {self.lo:g}{unit}"
        return f"{self.lo:g} - {self.hi:g}{unit}"


@dataclass(frozen=True)
class Table:
    name: str
    version: int
    rule: PassRule
    recipes: dict[str, tuple[RunSpec, ...]]
    rows: tuple[Row, ...]

    def row(self, row_id: str) -> Row:
        for r in self.rows:
            if r.id == row_id:
                return r
        raise KeyError(f"row {row_id!r} unknown; rows: {', '.join(r.id for r in self.rows)}")


def load_table(path: Path = TABLE_PATH) -> Table:
    """Read and check the calibration table (every metric and recipe must exist)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rule = PassRule(int(data["pass_rule"]["min_seeds"]),
                    float(data["pass_rule"]["min_fraction_in_band"]))
    recipes = {k: tuple((str(p), str(pre), dict(ov)) for p, pre, ov in v)
               for k, v in data["recipes"].items()}
    rows = []
    for r in data["rows"]:
        lo, hi = r["band"]
        row = Row(r["id"], r["paper"], r["paper_value"], tuple(r["recipes"]), r["metric"],
                  r.get("unit", ""), -np.inf if lo is None else float(lo),
                  np.inf if hi is None else float(hi), r.get("band_text", ""))
        if row.metric not in METRICS:
            raise ValueError(f"{path}: row {row.id}: metric {row.metric!r} unknown")
        missing = [k for k in row.recipes if k not in recipes]
        if missing:
            raise ValueError(f"{path}: row {row.id}: recipe {missing[0]!r} unknown")
        rows.append(row)
    ids = [r.id for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate row ids")
    return Table(str(data["name"]), int(data["version"]), rule, recipes, tuple(rows))


# --------------------------------------------------------------------------- results
@dataclass
class Measured:
    """A metric's value on one device and the trace it came from (for the row's figure)."""

    value: float
    x: Array = field(default_factory=lambda: np.zeros(0))
    y: Array = field(default_factory=lambda: np.zeros(0))
    xlabel: str = ""
    ylabel: str = ""


@dataclass
class RowResult:
    """A row over the seed ensemble, judged by the pass rule."""

    row: Row
    seeds: tuple[int, ...]
    values: Array
    example: Measured | None = None

    @property
    def median(self) -> float:
        v = self.values[np.isfinite(self.values)]
        return float(np.median(v)) if v.size else float("nan")

    @property
    def iqr(self) -> tuple[float, float]:
        v = self.values[np.isfinite(self.values)]
        if not v.size:
            return (float("nan"), float("nan"))
        q1, q3 = np.percentile(v, [25, 75])
        return float(q1), float(q3)

    @property
    def fraction_in_band(self) -> float:
        return float(np.mean([self.row.in_band(v) for v in self.values])) \
            if self.values.size else 0.0

    def passed(self, rule: PassRule) -> bool:
        """The table's pass rule. A NaN seed (metric undefined) counts as out of band."""
        return (self.values.size >= rule.min_seeds and self.row.in_band(self.median)
                and self.fraction_in_band >= rule.min_fraction)


# --------------------------------------------------------------------------- helpers
def _samples(run) -> dict[str, Array]:
    return {k: np.asarray(v) for k, v in run.streams["samples"].items()}


def _g(v: Array, i: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(v) > 1e-3, i / v / G0, np.nan)


def _reads(run) -> tuple[Array, Array]:
    """(pulse index, read G/G0) of a pulse train: index 0 is the read before the first pulse."""
    s = _samples(run)
    return s["pulse_index"].astype(float), _g(s["voltage_V"], s["current_A"])


def _cycles(run):
    """Per DC-sweep cycle: (v, i, segment, set compliance in A)."""
    s = _samples(run)
    cyc = run.streams["cycles"]
    cc = dict(zip(np.asarray(cyc["cycle"]).tolist(),
                  np.asarray(cyc["compliance_set_A"]).tolist(), strict=True))
    for c in np.unique(s["cycle"]):
        m = s["cycle"] == c
        yield s["voltage_V"][m], s["current_A"][m], s["segment"][m], float(cc[int(c)])


def _level(g: Array, v: Array, mask: Array) -> float:
    """Median G on the low-bias part (0.2-0.5 V magnitude) of a branch: a read level."""
    sel = mask & (np.abs(v) >= 0.2) & (np.abs(v) <= 0.5)
    return float(np.nanmedian(g[sel])) if sel.any() else float("nan")


def _median(values: Sequence[float]) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


# --------------------------------------------------------------------------- metrics
def _dc_jump(runs, which: str) -> Measured:
    """Median over cycles of ``v_set_jump`` or ``v_reset_jump``, with the first cycle's G-V."""
    s = _samples(runs[0][0])
    sw = switching_analysis(s["voltage_V"], s["current_A"], segment=s["segment"],
                            cycle=s["cycle"])
    first = s["cycle"] == s["cycle"][0]
    return Measured(_median(getattr(sw, which)), s["voltage_V"][first],
                    _g(s["voltage_V"], s["current_A"])[first], "V (V)", "G / G0")


def dc_v_set(runs) -> Measured:
    """V_SET, the first lasting current jump of the SET branch (paper 000 L63), median over
    cycles (:func:`analysis.switching.switching_analysis`)."""
    return _dc_jump(runs, "v_set_jump")


def dc_v_reset(runs) -> Measured:
    """V_RESET, the first lasting current drop of the negative branch, median over cycles."""
    return _dc_jump(runs, "v_reset_jump")


def dc_top_plateau(runs) -> Measured:
    """Highest plateau of the rising SET branch below compliance, median over cycles.

    Plateaus (:func:`analysis.plateaus.detect_plateaus`, >= 5 points) of G on segment 1
    where the current is below 95 % of the compliance and |V| > 50 mV: the highest
    level the filament holds before the source clamp takes over.
    """
    tops, ex = [], None
    for v, i, seg, cc in _cycles(runs[0][0]):
        m = (seg == 1) & (np.abs(i) < 0.95 * cc) & (np.abs(v) > 0.05)
        g = _g(v[m], i[m])
        res = detect_plateaus(g, v[m], min_length=5)
        levels = [p.level_g0 for p in res.plateaus]
        tops.append(max(levels) if levels else float("nan"))
        if ex is None:
            ex = Measured(0.0, v[seg <= 2], _g(v[seg <= 2], i[seg <= 2]), "V (V)", "G / G0")
    assert ex is not None
    ex.value = _median(tops)
    return ex


def dc_reset_start(runs) -> Measured:
    """Level at the start of the RESET branch (G at -0.2 ... -0.5 V on segment 3)."""
    v, i, seg, _ = next(_cycles(runs[0][0]))
    g = _g(v, i)
    return Measured(_level(g, v, seg == 3), v, g, "V (V)", "G / G0")


def dc_reset_end(runs) -> Measured:
    """Level at the end of the RESET branch (G at -0.5 ... -0.2 V on segment 4)."""
    v, i, seg, _ = next(_cycles(runs[0][0]))
    g = _g(v, i)
    return Measured(_level(g, v, seg == 4), v, g, "V (V)", "G / G0")


def dc_ladder_monotone(runs) -> Measured:
    """1 if the RESET-start level rises with compliance (5 <= 7 <= 10 mA) and reaches
    24 G0 at the highest compliance, else 0 (median level per compliance step)."""
    per: dict[float, list[float]] = {}
    for v, i, seg, cc in _cycles(runs[0][0]):
        per.setdefault(cc, []).append(_level(_g(v, i), v, seg == 3))
    ccs = sorted(per)
    levels = np.array([_median(per[c]) for c in ccs])
    ok = bool(np.all(np.isfinite(levels)) and np.all(np.diff(levels) >= 0)
              and levels[-1] >= 24.0)
    return Measured(float(ok), np.array(ccs) * 1e3, levels, "compliance (mA)",
                    "RESET-start level / G0")


def last_read(runs) -> Measured:
    """Read conductance after the last pulse of the train."""
    k, g = _reads(runs[0][-1])
    return Measured(float(g[-1]), k, g, "pulse (0: read before the train)", "read G / G0")


def rising_reads(runs) -> Measured:
    """Number of reads that rise by at least 1/4 G0 over the previous read (a slow rise
    spreads over many reads; a single jump counts once)."""
    k, g = _reads(runs[0][-1])
    return Measured(float(np.sum(np.diff(g) >= 0.25)), k, g,
                    "pulse (0: read before the train)", "read G / G0")


def increasing_last_reads(runs) -> Measured:
    """1 if the last read rises strictly from recipe to recipe (e.g. 1.5 < 1.9 < 2.3 V)."""
    last = np.array([_reads(r[-1])[1][-1] for r in runs])
    ok = bool(np.all(np.isfinite(last)) and np.all(np.diff(last) > 0))
    return Measured(float(ok), np.arange(1, last.size + 1, dtype=float), last,
                    "recipe", "last read G / G0")


def first_read_ratio(runs) -> Measured:
    """Read after the first pulse, second recipe over first (0.15 V over 0.1 V reads)."""
    firsts = []
    for r in runs:
        k, g = _reads(r[-1])
        firsts.append(float(g[k == 1][0]))
    k, g = _reads(runs[-1][-1])
    return Measured(firsts[1] / firsts[0], k, g, "pulse", "read G / G0 (second recipe)")


def _reset_levels(runs):
    wf = runs[0][-1].waveforms
    return levels_from_waveforms(np.abs(np.asarray(wf["current_A"])),
                                 np.abs(np.asarray(wf["voltage_V"])))


def reset_train_final_ratio(runs) -> Measured:
    """I_500 / I_1 of the RESET train (top-portion means, paper 000 Fig. S11-S12)."""
    lv = _reset_levels(runs)
    r = lv.i_over_i1
    return Measured(float(r[-1]), lv.pulse_index.astype(float), r, "pulse", "I_i / I_1")


def reset_train_up_pairs(runs) -> Measured:
    """Percentage of consecutive pulses with I_{i+1} > I_i + 2 sigma_read
    (:func:`analysis.timelag.clearly_above_unity_fraction`, sigma from the MAD of the
    pulse-to-pulse differences)."""
    lv = _reset_levels(runs)
    i = np.abs(lv.current_A)
    return Measured(100.0 * clearly_above_unity_fraction(i, k_sigma=2.0), i[:-1] * 1e3,
                    i[1:] * 1e3, "I_i (mA)", "I_i+1 (mA)")


def reset_train_flat_cv(runs) -> Measured:
    """Median sigma/mu (%) of I_i over the flat stretches of >= 10 pulses
    (:func:`analysis.timelag.variability_per_stretch`: every plateau of G_i, whether or
    not its level is on n/2, as the table's metric states)."""
    lv = _reset_levels(runs)
    stretches = variability_per_stretch(lv.current_A, lv.g_g0, min_length=10)
    cvs = [d["cv"] for d in stretches]
    return Measured(100.0 * _median(cvs) if cvs else float("nan"),
                    lv.pulse_index.astype(float), lv.g_g0, "pulse", "G_i / G0")


def _ltp_reads(runs) -> tuple[Array, Array, int]:
    run = runs[0][-1]
    s = _samples(run)
    g = _g(s["voltage_V"], s["current_A"])
    count = int(run.parameters["count"]["value"])
    return np.arange(g.size, dtype=float), g, count


def nl_potentiation(runs) -> Measured:
    """|NL| of the potentiation half (NeuroSim fit, :func:`analysis.nonlinearity.fit_update`)."""
    x, g, n = _ltp_reads(runs)
    return Measured(abs(fit_update(g[: n + 1], "potentiation").label), x, g,
                    "pulse (0: before the train)", "read G / G0")


def nl_depression(runs) -> Measured:
    """|NL| of the depression half."""
    x, g, n = _ltp_reads(runs)
    return Measured(abs(fit_update(g[n:], "depression").label), x, g,
                    "pulse (0: before the train)", "read G / G0")


def ltp_ltd_return(runs) -> Measured:
    """|G_end / G_start - 1| in %: where depression ends against where potentiation began."""
    x, g, _ = _ltp_reads(runs)
    return Measured(100.0 * abs(g[-1] / g[0] - 1.0), x, g, "pulse (0: before the train)",
                    "read G / G0")


def retention_max_change(runs) -> Measured:
    """max |G(t) / G(first read) - 1| in % over the retention run."""
    s = _samples(runs[0][-1])
    g = _g(s["voltage_V"], s["current_A"])
    t = s["elapsed_s"].astype(float)
    return Measured(100.0 * float(np.nanmax(np.abs(g / g[0] - 1.0))), t, g, "t (s)",
                    "G / G0 at the read")


METRICS: dict[str, Callable[[Any], Measured]] = {f.__name__: f for f in (
    dc_v_set, dc_v_reset, dc_top_plateau, dc_reset_start, dc_reset_end, dc_ladder_monotone,
    last_read, rising_reads, increasing_last_reads, first_read_ratio,
    reset_train_final_ratio, reset_train_up_pairs, reset_train_flat_cv,
    nl_potentiation, nl_depression, ltp_ltd_return, retention_max_change)}
