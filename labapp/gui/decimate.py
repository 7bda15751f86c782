"""Bounded-cost display data for long live traces (pure numpy, no Qt).

A live trace can hold 10^6 points and more; drawing them all on every refresh would
make the window slower the longer a run lasts. :class:`DecimatedTrace` keeps the full
data (for zooming) and an incrementally built *min/max summary*: consecutive windows of
``stride`` samples are reduced to their minimum and maximum (in sample order), which
preserves the envelope of the trace (spikes and steps stay visible) at screen
resolution. Each refresh only summarises the samples that arrived since the last one,
so its cost is proportional to the new data, not to the run length; when the summary
grows past ``max_points`` the stride doubles and the summary is reduced once more.

When the user zooms in, :meth:`DecimatedTrace.display` clips the full data to the
visible x range and summarises only that (clip-to-view), so details come back; the
clipped points are kept as a trace of their own that new samples are added to, so a
zoomed live view also costs only the new data per refresh. Storage is in fixed-size
blocks (no copy of the stored trace when it grows), sized for 10^7 points and more.
This works for any x order, which matters for I-V sweeps (V goes up and down), where
pyqtgraph's own auto-downsampling assumes uniformly increasing x.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: the raw tail (samples not yet in the summary) is drawn as at most ~2x this many points
TAIL_POINTS = 256


def minmax_decimate(x: NDArray, y: NDArray, window: int) -> tuple[NDArray, NDArray]:
    """Reduce every ``window`` consecutive samples to their min and max of y.

    The two points of a window are emitted in sample order; NaNs are ignored (a window
    of NaNs gives NaN, which breaks the drawn line there, as gaps should). A trailing
    partial window is kept as it is.
    """
    n = x.size
    if window <= 1 or n <= 2:
        return x, y
    m = (n // window) * window
    yb = y[:m].reshape(-1, window)
    nan = np.isnan(yb)
    if nan.any():
        imin = np.where(nan, np.inf, yb).argmin(axis=1)
        imax = np.where(nan, -np.inf, yb).argmax(axis=1)
    else:
        imin = yb.argmin(axis=1)
        imax = yb.argmax(axis=1)
    first = np.minimum(imin, imax)
    second = np.maximum(imin, imax)
    base = np.arange(0, m, window)
    idx = np.empty(2 * base.size, dtype=np.int64)
    idx[0::2] = base + first
    idx[1::2] = base + second
    if m < n:
        idx = np.concatenate((idx, np.arange(m, n)))
    return x[idx], y[idx]


class GrowingArray:
    """Append-only float64 array stored in fixed-size blocks.

    Appending never copies what is stored (a contiguous array that doubles would copy up
    to the whole trace, 80 MB per 10^7 points, inside one GUI refresh); each block keeps
    the min and max of its values, so :meth:`select` skips blocks outside an x range
    (a time axis zoomed into the last minute of a 10^7-point run touches a block or two).
    """

    def __init__(self, block: int = 1 << 20, track_range: bool = True) -> None:
        self.block = int(block)
        self.track_range = track_range  # per-block min/max, for blocks_overlapping()
        self.clear()

    def clear(self) -> None:
        self._blocks: list[NDArray[np.float64]] = []
        self._lo: list[float] = []
        self._hi: list[float] = []
        self.n = 0

    def append(self, values: ArrayLike) -> None:
        v = np.asarray(values, dtype=np.float64).ravel()
        pos = 0
        while pos < v.size:
            used = self.n % self.block
            if used == 0:
                self._blocks.append(np.empty(self.block, dtype=np.float64))
                self._lo.append(np.inf)
                self._hi.append(-np.inf)
            take = min(self.block - used, v.size - pos)
            part = v[pos:pos + take]
            self._blocks[-1][used:used + take] = part
            if self.track_range and take:
                lo, hi = float(part.min()), float(part.max())
                if lo != lo or hi != hi:  # NaN inside: the range of the other values
                    with np.errstate(invalid="ignore"), warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        lo, hi = float(np.nanmin(part)), float(np.nanmax(part))
                if lo == lo:
                    self._lo[-1] = min(self._lo[-1], lo)
                    self._hi[-1] = max(self._hi[-1], hi)
            pos += take
            self.n += take

    def slice(self, start: int, stop: int) -> NDArray[np.float64]:
        """Values ``start:stop`` (a view when they lie in one block, else a copy)."""
        stop = min(stop, self.n)
        if start >= stop:
            return np.empty(0, dtype=np.float64)
        b0, b1 = start // self.block, (stop - 1) // self.block
        if b0 == b1:
            off = b0 * self.block
            return self._blocks[b0][start - off:stop - off]
        parts = [self._blocks[b0][start - b0 * self.block:]]
        parts += self._blocks[b0 + 1:b1]
        parts.append(self._blocks[b1][:stop - b1 * self.block])
        return np.concatenate(parts)

    def view(self) -> NDArray[np.float64]:
        """All values (a copy when there is more than one block)."""
        return self.slice(0, self.n)

    def blocks_overlapping(self, lo: float, hi: float, start: int = 0):
        """``(first_index, values)`` of the stored pieces from ``start`` on whose value
        range meets ``[lo, hi]``."""
        for b in range(start // self.block, len(self._blocks)):
            first = max(start, b * self.block)
            end = min(self.n, (b + 1) * self.block)
            if first >= end or self._hi[b] < lo or self._lo[b] > hi:
                continue
            yield first, self._blocks[b][first - b * self.block:end - b * self.block]


class DecimatedTrace:
    """Full data plus an incremental min/max summary of at most ~``max_points`` points."""

    def __init__(self, max_points: int = 8000, block: int = 1 << 20) -> None:
        self.max_points = max_points
        self.x = GrowingArray(block)
        self.y = GrowingArray(block, track_range=False)
        self.clear()

    def clear(self) -> None:
        self.x.clear()
        self.y.clear()
        self.stride = 1
        self._done = 0  # raw samples already summarised
        self._sx = GrowingArray(1 << 16, track_range=False)
        self._sy = GrowingArray(1 << 16, track_range=False)
        self._zoom: tuple[tuple[float, float], DecimatedTrace, int] | None = None
        self.dirty = True

    def __len__(self) -> int:
        return self.x.n

    def append(self, x: ArrayLike, y: ArrayLike) -> None:
        xa = np.asarray(x, dtype=np.float64).ravel()
        ya = np.asarray(y, dtype=np.float64).ravel()
        if xa.shape != ya.shape:
            xa = np.broadcast_to(xa, ya.shape) if xa.size == 1 else xa
        if xa.size != ya.size:
            raise ValueError(f"x has {xa.size} samples, y has {ya.size}")
        if ya.size:
            self.x.append(xa)
            self.y.append(ya)
            self.dirty = True

    def _update_summary(self) -> None:
        n = self.x.n
        if self._sx.n == 0:  # a first summary of many samples: start at a fitting stride
            while (n - 1 - self._done) // self.stride > self.max_points:
                self.stride *= 2
        # the newest sample always stays raw, so a live trace ends at the latest point
        todo = ((n - 1 - self._done) // self.stride) * self.stride
        if todo > 0:
            end = self._done + todo
            sx, sy = minmax_decimate(self.x.slice(self._done, end),
                                     self.y.slice(self._done, end), self.stride)
            self._sx.append(sx)
            self._sy.append(sy)
            self._done += todo
        while self._sx.n > self.max_points:
            # halve the summary: min/max of 2 consecutive min/max pairs
            sx, sy = minmax_decimate(self._sx.view().copy(), self._sy.view().copy(), 4)
            self._sx.clear()
            self._sy.clear()
            self._sx.append(sx)
            self._sy.append(sy)
            self.stride *= 2

    def _zoomed(self, x_range: tuple[float, float]) -> DecimatedTrace:
        """The points inside ``x_range`` as a trace of their own, kept up to date.

        A new range scans the stored data once (blocks outside the range are skipped);
        while the range stays, only samples that arrived since are scanned, so a zoomed
        view of a 10^7-point run streams at the cost of the new data.
        """
        if self._zoom is None or self._zoom[0] != x_range:
            self._zoom = (x_range, DecimatedTrace(self.max_points, block=1 << 16), 0)
        rng, trace, scanned = self._zoom
        lo, hi = rng
        for first, xs in self.x.blocks_overlapping(lo, hi, scanned):
            idx = np.flatnonzero((xs >= lo) & (xs <= hi))
            if idx.size:
                trace.append(xs[idx], self.y.slice(first, first + xs.size)[idx])
        self._zoom = (rng, trace, self.x.n)
        return trace

    def display(self, x_range: tuple[float, float] | None = None) -> tuple[NDArray, NDArray]:
        """Points to draw: the summary plus the raw tail, or the clipped full data."""
        self.dirty = False
        if x_range is not None:
            return self._zoomed(tuple(x_range)).display()
        self._zoom = None
        self._update_summary()
        if self._done == self.x.n:
            return self._sx.view(), self._sy.view()
        tx, ty = self.x.slice(self._done, self.x.n), self.y.slice(self._done, self.x.n)
        if tx.size > TAIL_POINTS:
            # the samples not yet summarised (up to one stride: 4096 at 10^7 points)
            # drawn as min/max pairs too, ending at the newest sample
            wx, wy = minmax_decimate(tx[:-1], ty[:-1], -(-(tx.size - 1) // TAIL_POINTS))
            tx, ty = np.append(wx, tx[-1]), np.append(wy, ty[-1])
        return np.concatenate((self._sx.view(), tx)), np.concatenate((self._sy.view(), ty))
