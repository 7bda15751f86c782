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
visible x range and summarises only that (clip-to-view), so details come back.
This works for any x order, which matters for I-V sweeps (V goes up and down), where
pyqtgraph's own auto-downsampling assumes uniformly increasing x.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


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
    """Append-only float64 array with amortised doubling; :meth:`view` is a no-copy slice."""

    def __init__(self, capacity: int = 4096) -> None:
        self._buf = np.empty(capacity, dtype=np.float64)
        self.n = 0

    def append(self, values: ArrayLike) -> None:
        v = np.asarray(values, dtype=np.float64).ravel()
        need = self.n + v.size
        if need > self._buf.size:
            new = np.empty(max(need, 2 * self._buf.size), dtype=np.float64)
            new[: self.n] = self._buf[: self.n]
            self._buf = new
        self._buf[self.n : need] = v
        self.n = need

    def view(self) -> NDArray[np.float64]:
        return self._buf[: self.n]

    def clear(self) -> None:
        self.n = 0


class DecimatedTrace:
    """Full data plus an incremental min/max summary of at most ~``max_points`` points."""

    def __init__(self, max_points: int = 8000) -> None:
        self.max_points = max_points
        self.x = GrowingArray()
        self.y = GrowingArray()
        self.clear()

    def clear(self) -> None:
        self.x.clear()
        self.y.clear()
        self.stride = 1
        self._done = 0  # raw samples already summarised
        self._sx = GrowingArray()
        self._sy = GrowingArray()
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
        # the newest sample always stays raw, so a live trace ends at the latest point
        todo = ((n - 1 - self._done) // self.stride) * self.stride
        if todo > 0:
            sl = slice(self._done, self._done + todo)
            sx, sy = minmax_decimate(self.x.view()[sl], self.y.view()[sl], self.stride)
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

    def display(self, x_range: tuple[float, float] | None = None) -> tuple[NDArray, NDArray]:
        """Points to draw: the summary plus the raw tail, or the clipped full data."""
        self.dirty = False
        if x_range is not None:
            x, y = self.x.view(), self.y.view()
            lo, hi = x_range
            idx = np.flatnonzero((x >= lo) & (x <= hi))
            if idx.size == 0:
                return x[:0], y[:0]
            xs, ys = x[idx], y[idx]
            window = int(np.ceil(idx.size / self.max_points))
            return minmax_decimate(xs, ys, window)
        self._update_summary()
        tail = slice(self._done, self.x.n)
        if self._done == self.x.n:
            return self._sx.view(), self._sy.view()
        return (np.concatenate((self._sx.view(), self.x.view()[tail])),
                np.concatenate((self._sy.view(), self.y.view()[tail])))
