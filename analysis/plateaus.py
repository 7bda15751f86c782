"""Steps and plateaus in G/G0 traces: change points, merging, n/2 labels, jump reports.

Method (our own, vectorised; no extra dependency)
-------------------------------------------------
1. **Noise**: sigma = MAD(diff(g)) / (0.6745 sqrt 2). Differences remove the levels, the
   median ignores the few samples that contain a step, so sigma is the white noise on a
   plateau even for a staircase.
2. **Change points**: binary segmentation with the l2 cost (the cost PELT minimises).
   For a segment the gain of a split after sample k is
   ``S_k^2/k + (S - S_k)^2/(n - k) - S^2/n`` (S_k the cumulative sum of the centred
   segment), computed for every k at once from one ``cumsum``. A split is kept when its
   gain exceeds ``penalty * sigma^2 * ln(N)`` (a BIC-like threshold; the maximum gain of
   pure noise grows like ``2 sigma^2 ln n``). For a noiseless staircase the best l2
   split always sits on a true change point, so binary segmentation finds exact edges;
   segments are processed from a stack, each with a handful of numpy calls.
   Gaps (masked samples, e.g. around 0 V) and caller-given ``breaks`` (sweep segment,
   cycle or pulse-train boundaries) are forced change points.
3. **Merging**: adjacent segments are merged left to right when their means differ by
   less than one noise sigma or than the split threshold allows, or when both are
   plateau-long and the straight-line fits of the running plateau and of the next
   segment meet at the boundary within 4 times the spread that the trace's own noise
   (white and slow, at their time scale) gives that jump, with slopes that agree within
   4 times the spread noise gives their difference; this removes splits caused by
   drift, 1/f noise or RTN without any scale in G0, and keeps a ramp that ends on a
   level (same value at the boundary, another slope) apart from that level.
4. **Plateaus**: merged segments with at least ``min_length`` samples whose level does
   not change from first to last third by more than 3 noise sigmas and 6 times the
   spread that noise gives that difference at the segment's time scale (measured on the
   trace, :func:`analysis.noise.wander_sigma`: 1/f noise wanders more than white noise
   over tens of samples); a slow ramp is a transition, not a plateau. ``max_drift_g0``
   replaces this by a fixed limit in G0.
5. **Labels**: the nearest n/2 and the residual; ``on_half_integer`` when
   ``|residual| <= label_tol_g0``, otherwise the plateau is a "step, not at n/2"
   (a step-like change of a few-atom contact that is not quantized, paper 004).
   Levels below 1/4 G0 are "off", levels above ``g_range_max`` (25 G0, paper 000
   restricts its analysis to 25 G0) are "above range".
6. **Jumps**: between consecutive plateaus, at the sample with the largest |dG|,
   reported as the paper does: "3 G0 -> 7 G0 at 1.5 V; plateau at 8.5 G0".

Works on sweeps (x = voltage), pulse trains (x = pulse number) and time traces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis.noise import WINDOW, NoiseModel, despike, fit_noise_model, wander_sigma

#: adjacent segments closer than this many noise sigmas are one plateau
MERGE_SIGMAS = 1.0
#: adjacent plateau-long pieces whose line fits meet within this many spreads are one
CONTINUITY_SIGMAS = 4.0
KIND_QUANTIZED = "quantized"
KIND_NOT_HALF = "step, not at n/2"
KIND_OFF = "off"
KIND_ABOVE = "above range"


@dataclass(frozen=True)
class Plateau:
    """One plateau; indices refer to the caller's samples (inclusive at both ends)."""

    start_index: int
    end_index: int
    n_samples: int
    level_g0: float
    std_g0: float
    label_g0: float
    residual_g0: float
    on_half_integer: bool
    kind: str
    x_start: float
    x_end: float

    def as_dict(self) -> dict:
        """JSON-ready dictionary."""
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Jump:
    """A conductance change between two consecutive plateaus."""

    index: int
    x: float
    g_before_g0: float
    g_after_g0: float
    plateau_before: int
    plateau_after: int

    def as_dict(self) -> dict:
        """JSON-ready dictionary."""
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in asdict(self).items()}


@dataclass
class PlateauResult:
    """Plateaus, jumps and the parameters that produced them."""

    plateaus: list[Plateau]
    jumps: list[Jump]
    noise_g0: float
    change_points: NDArray[np.int64]
    params: dict = field(default_factory=dict)

    def levels(self) -> NDArray[np.float64]:
        """Plateau levels in G0 (the input of a state histogram)."""
        return np.array([p.level_g0 for p in self.plateaus], dtype=float)

    def report(self, x_unit: str = "V") -> list[str]:
        """Sentences in the paper's style, one per jump (and lone plateaus)."""
        return jump_report(self, x_unit)


def estimate_noise(g: ArrayLike) -> float:
    """White-noise sigma of a piecewise-constant signal from the MAD of its differences."""
    y = np.asarray(g, dtype=float)
    y = y[np.isfinite(y)]
    if y.size < 3:
        return 0.0
    d = np.diff(y)
    return float(np.median(np.abs(d - np.median(d))) / (0.6744897501960817 * np.sqrt(2.0)))


def binary_segmentation(
    y: ArrayLike, threshold: float, *, min_size: int = 2, blocks: ArrayLike | None = None
) -> NDArray[np.int64]:
    """Change points of a finite 1-D signal by l2 binary segmentation.

    All segments of one recursion level are split at once: one pass over the samples
    of the still-active segments computes every candidate gain, a segment-wise maximum
    (``np.maximum.reduceat``) picks each segment's best split. The Python loop runs
    once per level (about log2 of the number of segments), not once per segment.

    Parameters
    ----------
    y : finite samples.
    threshold : minimum cost reduction (sum of squares) for a split.
    min_size : minimum samples on each side of a split (>= 1).
    blocks : forced boundaries (indices where a new segment must start).

    Returns
    -------
    Sorted segment start indices, beginning with 0 (ends are the next start or len(y)).
    """
    y = np.asarray(y, dtype=np.float64)
    n_all = y.size
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}")
    given = np.zeros(0, np.int64) if blocks is None else np.asarray(blocks, np.int64).ravel()
    bounds = np.unique(np.concatenate(([0, n_all], given[(given > 0) & (given < n_all)])))
    found = [bounds[:-1]]
    a, b = bounds[:-1], bounds[1:]
    cs = np.concatenate(([0.0], np.cumsum(y - y.mean())))
    while a.size:
        keep = b - a >= 2 * min_size
        a, b = a[keep], b[keep]
        if not a.size:
            break
        gain, j, offs, m = _split_gains(cs, a, b, min_size)
        best = np.maximum.reduceat(gain, offs)
        split = best > threshold
        if not split.any():
            break
        # first candidate at its segment's maximum, in the segments that split
        hit = np.flatnonzero(gain == np.repeat(np.where(split, best, np.inf), m))
        seg = np.searchsorted(offs + m, hit, side="right")
        first = np.concatenate(([True], seg[1:] != seg[:-1]))
        cut = j[hit[first]]
        found.append(cut)
        a = np.concatenate((a[seg[first]], cut))
        b = np.concatenate((cut, b[seg[first]]))
    return np.unique(np.concatenate(found))


def _split_gains(cs: NDArray[np.float64], a: NDArray[np.int64], b: NDArray[np.int64],
                 min_size: int) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """l2 gain of every candidate split of the segments [a, b), segment after segment.

    Returns (gain, split position j (left part [a, j)), first candidate of each segment,
    candidates per segment). With ``mu`` the segment mean of the centred trace, the
    left part's centred sum is ``cs[j] - cs[a] - (j - a) mu`` and the gain
    ``s^2 n / (k (n - k))``, k = j - a; the per-segment terms are expanded with
    ``np.repeat`` (contiguous), the candidates are one ``arange``.
    """
    n = b - a
    m = n - 2 * min_size + 1
    offs = np.cumsum(m) - m
    j = np.arange(int(m.sum()), dtype=np.int64)
    j += np.repeat(a + min_size - offs, m)
    mu = (cs[b] - cs[a]) / n
    s = cs[j]
    s -= j * np.repeat(mu, m)
    s -= np.repeat(cs[a] - a * mu, m)
    k = j - np.repeat(a, m)
    nr = np.repeat(n, m)
    gain = s * s
    gain *= nr
    gain /= k * (nr - k)
    return gain, j, offs, m


def detect_plateaus(
    g_g0: ArrayLike,
    x: ArrayLike | None = None,
    *,
    breaks: ArrayLike | None = None,
    min_length: int = 5,
    merge_g0: float | None = None,
    label_tol_g0: float = 0.1,
    max_drift_g0: float | None = None,
    penalty: float = 4.0,
    noise_g0: float | None = None,
    g_range_max: float = 25.0,
    spike_filter: bool = True,
) -> PlateauResult:
    """Find plateaus in a conductance trace and label them with the nearest n/2.

    Parameters
    ----------
    g_g0 : conductance in G0 units; NaN samples (masked |V|, compliance) are skipped and
        split plateaus.
    x : the axis to report positions in (voltage, pulse number, time); default index.
    breaks : indices where a new segment must start (e.g. where ``segment`` or ``cycle``
        changes); see :func:`breaks_from_labels`.
    min_length : minimum samples of a plateau (>= 2).
    merge_g0 : G in G0 only: also merge plateau-long pieces with the same nearest n/2
        closer than this (G0). Default None: the trace's own noise decides (unit free).
    label_tol_g0 : maximum |level - n/2| (G0) for a quantized label.
    max_drift_g0 : if given, maximum change of the level between the first and last
        third (G0); default: a segment is a ramp when that change exceeds 3 local noise
        sigmas and 6 times its spread under the trace's noise at that time scale
        (white and 1/f; noise-derived, unit free).
    penalty : split threshold in units of sigma^2 ln(N) (sigma from the noise model).
    noise_g0 : white noise sigma if known (G0); the noise model is fitted otherwise.
    g_range_max : plateaus above this level (G0) are reported as "above range".
    spike_filter : replace single-sample spikes (Hampel filter) before segmentation.

    Returns
    -------
    PlateauResult: plateaus in sample order, jumps between consecutive ones; ``params``
    holds ``noise_model`` (sigma(G)), ``spikes`` (samples replaced), ``spike_index``.
    """
    g = np.array(g_g0, dtype=np.float64).ravel()  # a copy: despiked samples go back in
    _check_parameters(min_length, merge_g0, label_tol_g0, penalty, max_drift_g0)
    xa = _axis(x, g.size)
    params: dict = dict(min_length=min_length, merge_g0=merge_g0, label_tol_g0=label_tol_g0,
                        max_drift_g0=max_drift_g0, penalty=penalty, g_range_max=g_range_max)
    idx = np.flatnonzero(np.isfinite(g))  # NaN samples are skipped
    y, spikes, model = _clean(g[idx], noise_g0, spike_filter)
    sigma = float(model.sigma(np.median(np.abs(y)))) if y.size else 0.0
    params.update(noise_g0=sigma, noise_model=model.as_dict(), spikes=int(spikes.sum()),
                  spike_index=idx[spikes])
    if y.size < min_length:
        return PlateauResult([], [], sigma, np.zeros(0, np.int64), params)
    threshold = penalty * np.log(max(y.size, 3))
    cps, ms, me, sums = _segments(y, model.transform(y), _forced_boundaries(idx, breaks),
                                  threshold, min_length, merge_g0)
    plateaus = _plateaus(sums, idx, ms, me, xa, min_length, max_drift_g0, label_tol_g0,
                         g_range_max)
    g[idx] = y
    return PlateauResult(plateaus, _jumps(plateaus, g, xa, model), sigma, idx[cps], params)


def _axis(x: ArrayLike | None, n: int) -> NDArray[np.float64]:
    """The reporting axis: ``x`` as floats (n samples), or the sample index."""
    xa = np.arange(n, dtype=float) if x is None else np.asarray(x, dtype=float).ravel()
    if xa.size != n:
        raise ValueError(f"x has {xa.size} samples, g has {n}")
    return xa


def _segments(y: NDArray[np.float64], z: NDArray[np.float64], forced: set[int],
              threshold: float, min_length: int, merge_g0: float | None
              ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], _Sums]:
    """Change points of the unit-noise trace z, then the merged segments (merged
    until a pass changes nothing).

    Returns (change points, merged starts, merged ends (exclusive), cumulative sums).
    """
    seeds = window_candidates(z, max(2, min_length // 2), threshold)
    cps = binary_segmentation(z, threshold, min_size=1, blocks=sorted(forced | set(seeds)))
    ends = np.append(cps[1:], y.size)
    sums = _Sums(y, z)
    hard = np.zeros(y.size + 1, dtype=bool)
    hard[sorted(forced | {0})] = True
    ms, me = cps, ends
    while True:  # again over the merged segments: a piece that was short in one pass
        # (not plateau-long, so not merged by label) can be long enough in the next
        m2, e2 = (np.asarray(v, np.int64) for v in
                  _merge(ms, me, sums, hard, threshold, merge_g0, min_length))
        if m2.size == ms.size:
            return cps, m2, e2, sums
        ms, me = m2, e2


def _check_parameters(min_length: int, merge_g0: float | None, label_tol_g0: float, penalty: float,
                      max_drift_g0: float | None) -> None:
    """One-line errors naming the parameter that is out of range."""
    if min_length < 2:
        raise ValueError(f"min_length must be >= 2 samples, got {min_length}")
    checked = [("label_tol_g0", label_tol_g0), ("penalty", penalty)]
    checked += [(k, v) for k, v in (("merge_g0", merge_g0), ("max_drift_g0", max_drift_g0))
                if v is not None]
    for name, val in checked:
        if not np.isfinite(val) or val <= 0:
            raise ValueError(f"{name} must be > 0, got {val!r}")
    if label_tol_g0 > 0.25:
        raise ValueError(
            f"label_tol_g0 must be <= 0.25 G0 (half the n/2 spacing), got {label_tol_g0}"
        )


def _clean(y: NDArray[np.float64], noise_g0: float | None, spike_filter: bool
           ) -> tuple[NDArray[np.float64], NDArray[np.bool_], NoiseModel]:
    """(samples with spikes replaced, spike mask, noise model); a given ``noise_g0``
    (white sigma) replaces the fitted model."""
    given = NoiseModel(float(noise_g0), 0.0) if noise_g0 is not None and noise_g0 > 0 else None
    if spike_filter and y.size >= 3 * WINDOW:
        y, spikes, model = despike(y, given)
    else:
        spikes = np.zeros(y.size, dtype=bool)
        model = given or fit_noise_model(y)
    return y, spikes, given or model


def _forced_boundaries(idx: NDArray[np.int64], breaks: ArrayLike | None) -> set[int]:
    """Segment starts (in finite-sample positions) that are never merged over: gaps in
    the finite samples and the caller's breaks."""
    forced = set((np.flatnonzero(np.diff(idx) > 1) + 1).tolist())
    if breaks is not None:
        forced.update(np.searchsorted(idx, np.asarray(breaks, dtype=np.int64)).tolist())
    return forced


class _Sums:
    """Cumulative sums (leading 0) of the trace g, its square and its unit-noise z."""

    def __init__(self, y: NDArray[np.float64], z: NDArray[np.float64]) -> None:
        self.y = y
        self.g = np.concatenate(([0.0], np.cumsum(y)))
        self.g2 = np.concatenate(([0.0], np.cumsum(y * y)))
        self.z = np.concatenate(([0.0], np.cumsum(z)))
        self.iz = np.concatenate(([0.0], np.cumsum(np.arange(z.size) * z)))

    def mean(self, a: NDArray[np.int64], b: NDArray[np.int64], which: str = "g"
             ) -> NDArray[np.float64]:
        """Mean over [a, b) of ``g`` or ``z``."""
        c = getattr(self, which)
        return (c[b] - c[a]) / (b - a)


def window_candidates(y: NDArray[np.float64], w: int, threshold: float) -> NDArray[np.int64]:
    """Likely change points: local maxima of the two-window l2 statistic above threshold/2.

    ``D_i = (mean(y[i:i+w]) - mean(y[i-w:i]))^2 w/2`` is the gain of a split at i seen
    through two windows of w samples. Its peaks seed the binary segmentation, which then
    needs only a few levels instead of log2(N / plateau length). A false seed is
    harmless: the two halves of a plateau have equal means and are merged again.
    """
    n = y.size
    if n < 2 * w + 1:
        return np.zeros(0, dtype=np.int64)
    c = np.concatenate(([0.0], np.cumsum(y - y.mean())))
    i = np.arange(w, n - w + 1)
    d = (c[i + w] - 2.0 * c[i] + c[i - w]) / w
    stat = d * d * (w / 2.0)
    peak = np.zeros(stat.size, dtype=bool)
    peak[1:-1] = (stat[1:-1] >= stat[:-2]) & (stat[1:-1] > stat[2:])
    peak &= stat > 0.5 * threshold
    return i[peak]


def _merge(starts: NDArray, ends: NDArray, sums: _Sums, hard: NDArray, threshold: float,
           merge_g0: float | None, min_length: int) -> tuple[list[int], list[int]]:
    """Left-to-right merge of adjacent segments (never across a hard boundary).

    A segment joins the running plateau when, in unit-noise coordinates, the two means
    differ by less than one noise sigma or by less than the split threshold allows
    (``d^2 n1 n2 / (n1 + n2) < threshold``: the split would not be made on the merged
    data), or when both are plateau-long and meet without a significant jump
    (:class:`_Continuity`: a drift or 1/f excursion on one plateau; transition samples
    are never merged this way). With ``merge_g0`` (G known to be in G0) pieces with the
    same nearest n/2 closer than ``merge_g0`` are merged as well.
    """
    ms: list[int] = []
    me: list[int] = []
    meets = _Continuity(sums, starts, ends, min_length)
    sg = (sums.g[ends] - sums.g[starts]).tolist()
    zs = (sums.z[ends] - sums.z[starts]).tolist()
    hard_at = hard[starts].tolist()
    ends_at = ends.tolist()
    lengths = (ends - starts).tolist()
    run_sum = run_z = 0.0
    run_n = 0
    bridged = -1
    # the tests in order of cost, each evaluated only when the cheaper ones fail
    for k, (a, b, sm, sz, h) in enumerate(zip(starts.tolist(), ends_at, sg, zs,
                                              hard_at, strict=True)):
        n = b - a
        if k == bridged:  # the far side of a bridged short piece: already in the run
            continue
        if ms and not h:
            if (_one_segment(run_z, run_n, sz, n, threshold)
                    or meets(k, ms[-1], a)
                    or (merge_g0 is not None and n >= min_length and run_n >= min_length
                        and _same_label(run_sum / run_n, sm / n, merge_g0))):
                me[-1] = b
                run_sum += sm
                run_z += sz
                run_n += n
                meets.join(k)
                continue
            if run_n >= min_length and _bridges(k, (run_z, run_n), zs, lengths,
                                                hard_at, threshold, min_length):
                bridged = k + 1
                me[-1] = ends_at[k + 1]
                run_sum += sm + sg[k + 1]
                run_z += sz + zs[k + 1]
                run_n += n + lengths[k + 1]
                meets.join(k)
                meets.join(k + 1)
                continue
        ms.append(a)
        me.append(b)
        run_sum, run_z, run_n = sm, sz, n
        meets.join(k, new=True)
    return ms, me


def _one_segment(run_z: float, run_n: int, z: float, n: int, threshold: float) -> bool:
    """The running plateau and a piece (sums of z, sample counts) are one segment: their
    means differ by less than one noise sigma, or the split would not be made on the
    merged data (``d^2 n1 n2 / (n1 + n2) < threshold``)."""
    d = run_z / run_n - z / n
    return -MERGE_SIGMAS < d < MERGE_SIGMAS or d * d * run_n * n < threshold * (run_n + n)


def _bridges(k: int, run: tuple[float, int], zs: list[float], lengths: list[int],
             hard_at: list[bool], threshold: float, min_length: int) -> bool:
    """A short piece k (shorter than a plateau) and the plateau-long piece after it
    continue the running plateau: taken together, their mean in unit-noise coordinates
    passes the same split test as one segment would.

    Why: a brief excursion of a few noise sigmas inside one plateau can be split off
    by the change-point stage; alone it is too short to be compared with the plateau by
    continuity, and without this the plateau would be reported as two.
    """
    if k + 1 >= len(zs) or hard_at[k + 1] or lengths[k] >= min_length:
        return False
    if lengths[k + 1] < min_length:
        return False
    return _one_segment(*run, zs[k] + zs[k + 1], lengths[k] + lengths[k + 1], threshold)


class _Continuity:
    """Does a segment continue the running plateau without a step?

    The running plateau's straight-line fit (on z) and the segment's are extrapolated
    to their boundary; the jump there is compared with its spread under the trace's own
    noise: white, ``4/n1 + 4/n2`` in z units, times the excess of the slow noise at the
    pieces' time scale (:func:`analysis.noise.wander_sigma` over ``sqrt(2/t)``, t = n/3).
    A drifting level meets itself at the boundary, a step does not; no scale in G0. The
    slopes must agree as well (their difference within ``CONTINUITY_SIGMAS`` times its
    spread, ``1/S_xx`` per piece times the same excess): a ramp that ends on a level
    meets it at the boundary but continues with another slope. The left side is the
    whole running plateau, so a short piece across a transition cannot chain two levels
    together.
    """

    def __init__(self, sums: _Sums, starts: NDArray[np.int64], ends: NDArray[np.int64],
                 min_length: int) -> None:
        n = ends - starts
        t = np.maximum(1, n // 3)
        self.excess = (wander_sigma(sums.z, starts, ends, t) / np.sqrt(2.0 / t)).tolist()
        self.zs = (sums.z[ends] - sums.z[starts]).tolist()
        self.izs = (sums.iz[ends] - sums.iz[starts]).tolist()
        self.n = n.tolist()
        self.min_length = min_length
        self.run = [0.0, 0.0, 0, 1.0]  # sum z, sum i z, samples, largest excess

    @staticmethod
    def _slope(sz: float, siz: float, n: int, first: int) -> float:
        """Slope of the least-squares line through n samples from ``first``."""
        sxx = n * (n * n - 1.0) / 12.0
        return (siz - (first + 0.5 * (n - 1)) * sz) / sxx if sxx > 0 else 0.0

    def _line_at(self, sz: float, siz: float, n: int, first: int, at: float) -> float:
        """Value at ``at`` of the least-squares line through n samples from ``first``."""
        c = first + 0.5 * (n - 1)
        return sz / n + self._slope(sz, siz, n, first) * (at - c)

    def __call__(self, k: int, run_start: int, start: int) -> bool:
        sz, siz, rn, rex = self.run
        n = self.n[k]
        if n < self.min_length or rn < self.min_length:
            return False
        excess = max(rex, self.excess[k])
        jump = (self._line_at(sz, siz, rn, run_start, start - 0.5)
                - self._line_at(self.zs[k], self.izs[k], n, start, start - 0.5))
        if abs(jump) >= CONTINUITY_SIGMAS * np.sqrt(4.0 / rn + 4.0 / n) * excess:
            return False
        # and without a kink: a ramp that ends on a level meets it, but is not that level
        kink = (self._slope(sz, siz, rn, run_start)
                - self._slope(self.zs[k], self.izs[k], n, start))
        spread = np.sqrt(_slope_variance(rn) + _slope_variance(n)) * excess
        return abs(kink) < CONTINUITY_SIGMAS * spread

    def join(self, k: int, new: bool = False) -> None:
        """Add segment k to the running plateau (or start a new one with it)."""
        r = [0.0, 0.0, 0, 0.0] if new else self.run
        self.run = [r[0] + self.zs[k], r[1] + self.izs[k], r[2] + self.n[k],
                    max(r[3], self.excess[k])]


def _slope_variance(n: int) -> float:
    """Variance of a least-squares slope through n unit-noise samples (1 / S_xx)."""
    return 12.0 / (n * (n * n - 1.0)) if n > 1 else np.inf


def _same_label(g1: float, g2: float, merge_g0: float) -> bool:
    """Same nearest n/2 (at least 1/2 G0) and closer than ``merge_g0``."""
    l1 = round(2 * g1) / 2
    return l1 >= 0.5 and l1 == round(2 * g2) / 2 and abs(g1 - g2) < merge_g0


def _plateaus(sums: _Sums, idx: NDArray, ms: NDArray[np.int64], me: NDArray[np.int64],
              xa: NDArray, min_length: int, max_drift: float | None, tol: float,
              g_max: float) -> list[Plateau]:
    """Vectorised statistics of the merged segments, then the labelled plateaus."""
    n = me - ms
    ok = n >= min_length
    a, b, n = ms[ok], me[ok], n[ok]
    if not a.size:
        return []
    level = sums.mean(a, b)
    var = np.maximum((sums.g2[b] - sums.g2[a]) / n - level**2, 0.0)
    t = np.maximum(1, n // 3)
    if max_drift is not None:
        flat = np.abs(sums.mean(b - t, b) - sums.mean(a, a + t)) <= max_drift
    else:  # a ramp: the thirds differ by > 3 noise sigmas and > 6 times their own spread
        dz = np.abs(sums.mean(b - t, b, "z") - sums.mean(a, a + t, "z"))
        flat = (dz <= 3.0) | (dz <= 6.0 * wander_sigma(sums.z, ms, me, t))
    a, b, n, level, var = a[flat], b[flat], n[flat], level[flat], var[flat]
    label = np.round(2.0 * level) / 2.0
    resid = level - label
    on = (np.abs(resid) <= tol) & (level >= 0.25) & (level <= g_max)
    kind = np.where(level < 0.25, KIND_OFF, np.where(level > g_max, KIND_ABOVE,
                    np.where(on, KIND_QUANTIZED, KIND_NOT_HALF)))
    i0 = idx[a]
    i1 = idx[b - 1]
    rows = zip(i0.tolist(), i1.tolist(), n.tolist(), level.tolist(), np.sqrt(var).tolist(),
               label.tolist(), resid.tolist(), on.tolist(), kind.tolist(),
               xa[i0].tolist(), xa[i1].tolist(), strict=True)
    return [Plateau(*r) for r in rows]


def _jumps(plateaus: list[Plateau], g: NDArray, xa: NDArray, model: NoiseModel
           ) -> list[Jump]:
    """Jump between consecutive plateaus at the largest single-sample |dG| between them."""
    if len(plateaus) < 2:
        return []
    lo = np.array([p.end_index for p in plateaus[:-1]], dtype=np.int64)
    hi = np.array([p.start_index for p in plateaus[1:]], dtype=np.int64)
    d = np.abs(np.diff(g))
    d[~np.isfinite(d)] = -1.0
    # diff index j is the change from sample j to j+1; region j in [lo, hi)
    m = np.maximum(hi - lo, 1)
    offs = np.concatenate(([0], np.cumsum(m)[:-1]))
    seg = np.repeat(np.arange(lo.size), m)
    j = np.minimum(np.arange(int(m.sum())) - offs[seg] + lo[seg], d.size - 1)
    dv = d[j]
    best = np.maximum.reduceat(dv, offs)
    hit = np.flatnonzero(dv == best[seg])
    first = np.concatenate(([True], seg[hit][1:] != seg[hit][:-1]))
    at = j[hit[first]] + 1
    lv = [p.level_g0 for p in plateaus]
    zl = model.transform(np.asarray(lv)).tolist()
    # consecutive plateaus at the same level (split by an excursion or a gap) are not a
    # jump: only changes larger than the noise sigma at that level are reported
    return [Jump(int(at[k]), float(xa[at[k]]), lv[k], lv[k + 1], k, k + 1)
            for k in range(lo.size) if abs(zl[k + 1] - zl[k]) >= 1.0]


def relabel(result: PlateauResult, levels_g0: ArrayLike, *, tol: float, g_max: float
            ) -> PlateauResult:
    """The plateaus with new levels (after a series-resistance or baseline correction):
    labels, residuals and kinds follow the new level; the levels as detected stay in
    ``params["level_measured_g0"]`` (the first correction's input is kept)."""
    new = np.asarray(levels_g0, dtype=float)
    out = []
    for p, lev in zip(result.plateaus, new.tolist(), strict=True):
        lab = round(2 * lev) / 2
        on = abs(lev - lab) <= tol and 0.25 <= lev <= g_max
        kind = (KIND_OFF if lev < 0.25 else KIND_ABOVE if lev > g_max
                else KIND_QUANTIZED if on else KIND_NOT_HALF)
        out.append(replace(p, level_g0=lev, label_g0=lab, residual_g0=lev - lab,
                           on_half_integer=bool(on), kind=kind))
    jumps = [replace(j, g_before_g0=out[j.plateau_before].level_g0,
                     g_after_g0=out[j.plateau_after].level_g0) for j in result.jumps]
    measured = result.params.get("level_measured_g0") or [p.level_g0 for p in result.plateaus]
    params = {**result.params, "level_measured_g0": measured}
    return PlateauResult(out, jumps, result.noise_g0, result.change_points, params)


def drift_baseline(levels_g0: ArrayLike, *, tol: float = 0.1, window: int = 5
                   ) -> NDArray[np.float64] | None:
    """Slow additive baseline (G0) under a sequence of plateau levels, or None.

    A leakage path that drifts by a few tenths of G0 shifts every plateau off n/2 by the
    same slowly varying amount. The residual of each plateau from its nearest n/2 is
    known modulo 1/2 G0; unwrapped in time order (consecutive plateaus differ by much
    less than 1/4 G0 of drift) and smoothed by a running median over ``window`` plateaus
    (robust to the levels that are not quantized), it is the baseline. It is returned
    only when it moves at least a third of the plateaus (and >= 3) onto n/2 and takes
    none off: otherwise the levels are left as they are.
    """
    lv = np.asarray(levels_g0, dtype=float)
    use = np.isfinite(lv) & (lv >= 0.5)
    if use.sum() < max(window, 3):
        return None
    r = lv[use] - np.round(2 * lv[use]) / 2
    un = np.unwrap(r * 4 * np.pi) / (4 * np.pi)
    h = window // 2
    pad = np.concatenate((np.full(h, un[0]), un, np.full(h, un[-1])))
    base = np.median(np.lib.stride_tricks.sliding_window_view(pad, window), axis=1)
    before = np.abs(r) <= tol
    after_lv = lv[use] - base
    after = np.abs(after_lv - np.round(2 * after_lv) / 2) <= tol
    gained = int((after & ~before).sum())
    lost = int((before & ~after).sum())
    if gained < max(3, use.sum() / 3) or lost > 0:
        return None
    out = np.zeros(lv.size)
    out[use] = base
    # plateaus below 1/2 G0 take the baseline of their nearest neighbour in time
    idx = np.flatnonzero(use)
    near = idx[np.clip(np.searchsorted(idx, np.arange(lv.size)), 0, idx.size - 1)]
    out[~use] = out[near[~use]]
    return out


def breaks_from_labels(*labels: ArrayLike | None) -> NDArray[np.int64]:
    """Indices where any of the given per-sample labels (segment, cycle, ...) changes."""
    out: set[int] = set()
    for lab in labels:
        if lab is None:
            continue
        a = np.asarray(lab)
        if a.size > 1:
            out.update((np.flatnonzero(a[1:] != a[:-1]) + 1).tolist())
    return np.array(sorted(out), dtype=np.int64)


def _fmt_level(level: float, label: float, on: bool) -> str:
    return f"{label:g} G0" if on else f"{level:.2f} G0"


def jump_report(result: PlateauResult, x_unit: str = "V") -> list[str]:
    """Paper-style sentences: "3 G0 → 7 G0 at 1.5 V; plateau at 8.5 G0 (1.50–1.60 V)".

    Each jump is described by the plateau levels before and after (as n/2 labels when
    quantized, otherwise with two decimals and a "step, not at n/2" note) and the
    position of the largest single-sample change between them.
    """
    ps = result.plateaus
    lines = []
    for jmp in result.jumps:
        p, q = ps[jmp.plateau_before], ps[jmp.plateau_after]
        before = _fmt_level(p.level_g0, p.label_g0, p.on_half_integer)
        after = _fmt_level(q.level_g0, q.label_g0, q.on_half_integer)
        note = "" if q.on_half_integer else f" ({q.kind})"
        lines.append(
            f"{before} → {after} at {_at(jmp.x, x_unit)}; plateau at {after}{note} "
            f"({_span(q.x_start, q.x_end, x_unit)})"
        )
    if not result.jumps and len(ps) == 1:
        p = ps[0]
        lines.append(
            f"plateau at {_fmt_level(p.level_g0, p.label_g0, p.on_half_integer)} "
            f"({_span(p.x_start, p.x_end, x_unit)})"
        )
    return lines


def _at(x: float, unit: str) -> str:
    return f"pulse {x:.0f}" if unit == "pulse" else f"{x:.4g} {unit}"


def _span(a: float, b: float, unit: str) -> str:
    return f"pulses {a:.0f}–{b:.0f}" if unit == "pulse" else f"{a:.4g}–{b:.4g} {unit}"


def match_plateaus(
    detected: list[tuple[int, int]], truth: list[tuple[int, int]], min_overlap: float = 0.5
) -> list[tuple[int, int]]:
    """Pairs (i_detected, i_truth) overlapping by at least ``min_overlap`` of the true one.

    Used to score a detector against ground truth (precision = matched/detected,
    recall = matched/true); each true plateau is matched at most once.
    """
    pairs = []
    used: set[int] = set()
    for i, (a, b) in enumerate(detected):
        for j, (c, d) in enumerate(truth):
            if j in used:
                continue
            ov = min(b, d) - max(a, c) + 1
            if ov >= min_overlap * (d - c + 1) and ov >= min_overlap * (b - a + 1):
                pairs.append((i, j))
                used.add(j)
                break
    return pairs
