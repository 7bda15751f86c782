"""Per-pulse current levels ("top portion of each plateau"), I_i/I_1 and G_i in G0.

Paper 000 obtains "a representative mean current for each pulse ... by averaging the
top portion of each current plateau", which "reduces the influence of transient
spikes", but does not say how the portion is chosen. Here it is a parameter set stored
with every result (:class:`TopPortion`):

1. the *flat top* of a pulse is where ``|V| >= flat_fraction * max|V|`` of that pulse
   (the programmed plateau of the voltage pulse; without a voltage waveform the whole
   pulse is the flat top);
2. of the flat top, the first ``skip_fraction`` (rise transient, capacitive spike) and
   the last ``tail_fraction`` (fall) are dropped;
3. the current (and voltage) is averaged over what is left.

All pulses are processed at once on the 2-D (pulse, sample) array with masks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labcore.constants import G0


@dataclass(frozen=True)
class TopPortion:
    """How the averaged part of each pulse is chosen (stored with the result)."""

    flat_fraction: float = 0.9
    skip_fraction: float = 0.2
    tail_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("flat_fraction", "skip_fraction", "tail_fraction"):
            v = getattr(self, name)
            if not (0.0 <= v < 1.0):
                raise ValueError(f"{name} must be in [0, 1), got {v!r}")
        if self.skip_fraction + self.tail_fraction >= 1.0:
            raise ValueError(
                f"skip_fraction + tail_fraction must be < 1, got "
                f"{self.skip_fraction} + {self.tail_fraction}"
            )


@dataclass
class PulseLevels:
    """One mean current per pulse and what follows from it."""

    pulse_index: NDArray[np.int64]
    current_A: NDArray[np.float64]
    voltage_V: NDArray[np.float64]
    window: dict

    @property
    def g_g0(self) -> NDArray[np.float64]:
        """G_i = I_i / V_i in G0 (NaN where V_i = 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.voltage_V != 0, self.current_A / self.voltage_V / G0, np.nan)

    @property
    def i_over_i1(self) -> NDArray[np.float64]:
        """I_i / I_1, the paper's normalisation to the first pulse."""
        return normalise_to_first(self.current_A)

    def as_dict(self) -> dict:
        """JSON-ready dictionary."""
        return {
            "pulse_index": self.pulse_index.tolist(),
            "current_A": self.current_A.tolist(),
            "voltage_V": self.voltage_V.tolist(),
            "g_g0": _nan_to_none(self.g_g0),
            "i_over_i1": _nan_to_none(self.i_over_i1),
            "window": self.window,
        }


def _nan_to_none(a: NDArray) -> list:
    return [None if not np.isfinite(v) else float(v) for v in a]


def normalise_to_first(current: ArrayLike) -> NDArray[np.float64]:
    """I_i / I_1; all NaN when I_1 is zero or missing."""
    i = np.asarray(current, dtype=float)
    if i.size == 0 or not np.isfinite(i[0]) or i[0] == 0:
        return np.full(i.shape, np.nan)
    return i / i[0]


def top_portion_mask(voltage_wf: ArrayLike | None, shape: tuple[int, int],
                     portion: TopPortion) -> NDArray[np.bool_]:
    """Boolean (pulse, sample) mask of the samples averaged for each pulse."""
    n_p, n_s = shape
    if voltage_wf is None:
        flat = np.ones(shape, dtype=bool)
    else:
        av = np.abs(np.asarray(voltage_wf, dtype=float))
        if av.shape != shape:
            raise ValueError(f"voltage waveform shape {av.shape} differs from current {shape}")
        peak = np.nanmax(np.where(np.isfinite(av), av, -np.inf), axis=1, keepdims=True)
        flat = av >= portion.flat_fraction * peak
    rank = np.cumsum(flat, axis=1)  # 1-based position inside the flat top
    count = rank[:, -1:]
    lo = portion.skip_fraction * count
    hi = (1.0 - portion.tail_fraction) * count
    mask = flat & (rank > lo) & (rank <= hi)
    # a very short flat top could lose every sample: then keep the whole flat top
    empty = ~mask.any(axis=1)
    mask[empty] = flat[empty]
    return mask


def levels_from_waveforms(
    current_wf: ArrayLike,
    voltage_wf: ArrayLike | None = None,
    *,
    portion: TopPortion | None = None,
    first_index: int = 1,
) -> PulseLevels:
    """Per-pulse mean current over the top portion of each captured pulse.

    Parameters
    ----------
    current_wf : (pulse, sample) current waveforms in A.
    voltage_wf : matching voltage waveforms in V (defines the flat top); optional.
    portion : the averaging window (defaults of :class:`TopPortion`).
    first_index : number of the first pulse (1: pulses counted from 1 as in the paper).
    """
    portion = portion or TopPortion()
    cur = np.atleast_2d(np.asarray(current_wf, dtype=float))
    mask = top_portion_mask(voltage_wf, cur.shape, portion) & np.isfinite(cur)
    n = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        i_mean = np.where(mask, cur, 0.0).sum(axis=1) / n
        if voltage_wf is not None:
            v = np.atleast_2d(np.asarray(voltage_wf, dtype=float))
            v_mean = np.where(mask, v, 0.0).sum(axis=1) / n
        else:
            v_mean = np.full(cur.shape[0], np.nan)
    window = {"source": "waveforms", **asdict(portion),
              "samples_averaged_mean": float(n.mean()) if n.size else 0.0}
    return PulseLevels(np.arange(first_index, first_index + cur.shape[0]), i_mean, v_mean,
                       window)


def levels_from_samples(
    voltage: ArrayLike,
    current: ArrayLike,
    pulse_index: ArrayLike,
    *,
    portion: TopPortion | None = None,
) -> PulseLevels:
    """Per-pulse means from a flat sample table with a ``pulse_index`` column.

    Rows with a negative pulse index (no pulse) are ignored. A pulse is a *contiguous*
    run of rows with the same index (so index 1 of a second cycle is a new pulse, and a
    table of one read per pulse gives one level per row); the top-portion rule is the
    same as for waveforms, applied per group.
    """
    portion = portion or TopPortion()
    v = np.asarray(voltage, dtype=float)
    i = np.asarray(current, dtype=float)
    p = np.asarray(pulse_index).astype(np.int64)
    keep = p >= 0
    v, i, p = v[keep], i[keep], p[keep]
    if p.size == 0:
        return PulseLevels(np.zeros(0, np.int64), np.zeros(0), np.zeros(0),
                           {"source": "samples", **asdict(portion)})
    start = np.concatenate(([0], np.flatnonzero(np.diff(p) != 0) + 1))
    ids = p[start]
    grp = np.repeat(np.arange(ids.size), np.diff(np.append(start, p.size)))
    av = np.abs(v)
    peak = np.maximum.reduceat(np.where(np.isfinite(av), av, -np.inf), start)
    flat = av >= portion.flat_fraction * peak[grp]
    c = np.cumsum(flat)
    before = np.concatenate(([0], c[start[1:] - 1]))
    rank = c - before[grp]
    count = np.add.reduceat(flat.astype(np.int64), start)
    mask = flat & (rank > portion.skip_fraction * count[grp]) & (
        rank <= (1 - portion.tail_fraction) * count[grp])
    n = np.add.reduceat(mask.astype(np.int64), start)
    empty = n == 0
    if empty.any():
        mask |= flat & empty[grp]
        n = np.add.reduceat(mask.astype(np.int64), start)
    with np.errstate(invalid="ignore", divide="ignore"):
        i_mean = np.add.reduceat(np.where(mask, i, 0.0), start) / n
        v_mean = np.add.reduceat(np.where(mask, v, 0.0), start) / n
    return PulseLevels(ids, i_mean, v_mean, {"source": "samples", **asdict(portion)})


def levels_from_reads(stream: dict[str, NDArray]) -> PulseLevels:
    """Per-pulse levels from a ``reads`` stream (one read after each pulse)."""
    i = np.asarray(stream["current_A"], dtype=float)
    v = np.asarray(stream["voltage_V"], dtype=float)
    if "pulse_index" in stream:
        idx = np.asarray(stream["pulse_index"]).astype(np.int64)
    else:
        idx = np.arange(1, i.size + 1)
    return PulseLevels(idx, i, v, {"source": "reads"})
