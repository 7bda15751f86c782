"""Conduction offsets of the QC device that do not change its channel count.

RTN traps, atomic rearrangements of the neck and the metastable read-disturb tip are jump
processes that never open or close a channel, so :class:`NeckNoise` draws them for a whole
drive at once, as per-step offsets (:class:`Fluctuations`) that the circuit solve of
:mod:`sim_backend.qc_device` adds to the neck's conduction. Each process uniformized at rate
``lambda`` takes a fresh draw from its target distribution at every Poisson tick (for a
two-state trap the stationary distribution when ``lambda = 1/tau_c + 1/tau_e``, which is
exact), so its value at the end of a step is the draw of the last tick so far, or the value
carried in from the previous drive: exact for any step length, and fully vectorised.

Only the steps that hold a tick change a value, so a drive's offsets are kept as those
steps and the values from each on (:class:`Fluctuations`); a drive made of runs of
identical steps reads them once per run and never spreads them to the steps.

Sampling. Only the last tick's draw in a step matters. The ticks are the points of a
unit-rate Poisson process on the clock's cumulative hazard, so a step of hazard ``h``
holds ``Poisson(h)`` ticks, at least one with probability ``1 - e^{-h}``, independently of
the other steps. Where the expected number of ticks is small against the number of steps
(a 50 000-sample PMU waveform sees a few thousand trap ticks and a few hundred
rearrangements) the points are drawn as exponential gaps on the hazard and located with a
binary search, and a value is drawn only where a step ticked; where it is not (a trap
ticking at 1 kHz through a 6000 s rest) every step is one Bernoulli trial of that
probability. Both draw the same law (held to it in ``tests/test_physics_fluctuations.py``).
The noise draws from its own generator, spawned from the device's: deterministic for a
seed, and the device's channel events do not depend on how the noise is sampled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from sim_backend.qc_params import QCParams

_TIP_MAX_V = 0.5  # the read-disturb tip opens only at read-like biases
_SCRATCH = 1 << 18  # draws kept in a buffer between drives (2 MB)
#: expected ticks per step above which every step is drawn as one Bernoulli trial
DENSE_TICKS = 0.25
_NONE = np.zeros(0, dtype=np.int64)


def logistic(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``1 / (1 + e^{-x})`` without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _column(c: int, doc: str) -> property:
    """Column ``c`` of :class:`Fluctuations` as one value per step, built on first use."""

    def get(self: Fluctuations) -> NDArray[np.float64]:
        if c not in self._columns:
            self._columns[c] = _at(self.before[c], self.steps, self.values[c:c + 1], None,
                                   self.size)[0]
        return self._columns[c]

    get.__doc__ = doc
    return property(get)


class Fluctuations:
    """Conduction offsets of a drive (RTN traps, neck rearrangements, tip), per step.

    Stored as the steps where an offset may change (``steps``, sorted), the offsets from
    each of them on (``values``, one row per column) and the offsets before the first
    (``before``); a column as one value per step is built on first use. A drive that
    works once per run of identical steps reads the values at the runs' first steps and
    never builds the columns (50 000 samples of a PMU waveform hold a few thousand
    changes).
    """

    COLUMNS = ("dphi", "dphi_half", "dg", "dg_neck", "tip")
    dphi = _column(0, "Barrier offset of a closed partial channel / the gap per step (eV).")
    dphi_half = _column(1, "Barrier offset of a half-open channel per step (eV).")
    dg = _column(2, "Transmission offset of the open channels per step (RTN).")
    dg_neck = _column(3, "Rearrangement offset per square root of the channel count.")
    tip = _column(4, "Transmission the read-disturb tip adds (+) or removes (-), per step.")

    def __init__(self, size: int, steps: NDArray[np.int64] | None,
                 values: NDArray[np.float64], before: NDArray[np.float64]) -> None:
        #: ``steps`` None: one value per step (``values`` are the columns)
        self.size, self.steps, self.values, self.before = size, steps, values, before
        self._columns: dict[int, NDArray[np.float64]] = {}

    def dense(self) -> Fluctuations:
        """The same offsets with one value per step (a step-by-step drive slices them)."""
        if self.steps is None:
            return self
        cols = [self.dphi, self.dphi_half, self.dg, self.dg_neck, self.tip]
        return Fluctuations(self.size, None, np.array(cols).reshape(5, self.size),
                            self.before)

    def _held_before(self) -> bool:
        """Whether step 0 holds the ``before`` offsets."""
        return bool(self.size) and self.steps is not None \
            and not (self.steps.size and self.steps[0] == 0)

    def maximum(self, c: int) -> float:
        """Largest value of column ``c`` over the drive (0 for an empty drive)."""
        if not self.size:
            return 0.0
        top = float(self.values[c].max(initial=-np.inf))
        return max(top, float(self.before[c])) if self._held_before() else top

    @cached_property
    def has_tip(self) -> bool:
        """Whether the tip is open at any step."""
        return bool(self.values[4].any()) or (self._held_before() and bool(self.before[4]))

    def __getitem__(self, sl: slice | NDArray[np.int64]) -> Fluctuations:
        """The offsets of steps ``sl`` (a slice of step 1, or step indices)."""
        if self.steps is None:
            vals = self.values[:, sl]
            return Fluctuations(vals.shape[1], None, vals, self.before)
        if isinstance(sl, slice):
            k, e, _ = sl.indices(self.size)
            i0, i1 = np.searchsorted(self.steps, (k, e))
            before = self.values[:, i0 - 1] if i0 else self.before
            return Fluctuations(max(e - k, 0), self.steps[i0:i1] - k, self.values[:, i0:i1],
                                before)
        # the offsets from each change on, the ones carried in first
        held = np.concatenate((self.before[:, None], self.values), axis=1)
        vals = held[:, np.searchsorted(self.steps, sl, side="right")]
        return Fluctuations(vals.shape[1], None, vals, self.before)

    def changes(self) -> NDArray[np.bool_]:
        """True where a step's offsets differ from the previous step's (and at step 0)."""
        out = np.zeros(self.size, dtype=bool)
        if not out.size:
            return out
        vals = self.values
        if self.steps is None:
            np.any(vals[:, 1:] != vals[:, :-1], axis=0, out=out[1:])
        elif self.steps.size:
            changed = np.empty(self.steps.size, dtype=bool)
            changed[0] = bool((vals[:, 0] != self.before).any())
            np.any(vals[:, 1:] != vals[:, :-1], axis=0, out=changed[1:])
            out[self.steps[changed]] = True
        out[0] = True
        return out


class _Segments:
    """Runs of steps with one programmed voltage and one duration.

    Every rate of the fluctuations depends on the voltage only, so its value, and a
    clock's tick probability ``1 - e^{-rate dt}``, is evaluated once per segment (a
    sampled waveform repeats each value for a whole plateau) and spread to the steps:
    the same numbers as step by step, with the transcendental functions once per run.
    """

    def __init__(self, v: NDArray[np.float64], dts: NDArray[np.float64],
                 elapsed: NDArray[np.float64]) -> None:
        self.size = v.size
        new = np.empty(v.size, dtype=bool)
        new[:1] = True
        np.not_equal(v[1:], v[:-1], out=new[1:])
        new[1:] |= dts[1:] != dts[:-1]
        starts = np.flatnonzero(new)
        #: None where runs are too short to gain (a sweep): every step is a segment
        self.starts: NDArray[np.int64] | None = None
        self.lengths: NDArray[np.int64] | None = None
        self.v, self.dt = v, dts
        self.t1 = elapsed  # elapsed time at each segment's end
        if 2 * starts.size <= v.size:
            ends = np.empty_like(starts)  # one past each segment's last step
            ends[:-1] = starts[1:]
            ends[-1] = v.size
            self.starts, self.lengths = starts, ends - starts
            self.v, self.dt = v[starts], dts[starts]
            ends -= 1
            self.t1 = elapsed[ends]
        self.t0 = np.empty(self.t1.size)  # and at its start
        self.t0[:1] = 0.0
        self.t0[1:] = self.t1[:-1]

    def ticks(self, rng: np.random.Generator, rate: NDArray[np.float64] | float,
              buffer: Callable[[int], NDArray[np.float64]]) -> NDArray[np.int64]:
        """Sorted steps holding at least one tick of a Poisson clock (``rate`` 1/s, per
        segment or constant).

        Either every step is a Bernoulli trial (many ticks expected; its uniforms drawn
        into ``buffer(size)``), or the points of the unit-rate process on
        the cumulative hazard are drawn and mapped back to the time within their
        segment, then to their step (see the module doc).
        """
        if np.ndim(rate) == 0:  # a constant rate: the hazard is rate times the time
            rate = float(rate)
            total = rate * float(self.t1[-1])
            if total > DENSE_TICKS * self.size:
                return self._trials(rng, np.full(self.dt.size, rate), buffer(self.size))
            t = _unit_points(rng, total)
            t /= rate
            at = np.searchsorted(self.t1, t)  # t1[at - 1] < t <= t1[at]
            if t.size and t[-1] > self.t1[-1]:  # rounded past the end
                np.minimum(at, self.t1.size - 1, out=at)
            t -= self.t0[at]  # the time into the segment, in steps of it
            t /= self.dt[at]
            return self._step_of(at, t)
        hazard = rate * (self.t1 - self.t0)
        cum = np.cumsum(hazard)
        total = float(cum[-1])
        if total > DENSE_TICKS * self.size:
            return self._trials(rng, rate, buffer(self.size))
        points = _unit_points(rng, total)
        at = np.searchsorted(cum, points)  # cum[at - 1] < point <= cum[at]
        cum[1:] = cum[:-1]  # the hazard before each segment
        cum[0] = 0.0
        points -= cum[at]  # the hazard into the segment, in steps of it
        points /= (rate * self.dt)[at]
        return self._step_of(at, points)

    def _step_of(self, at: NDArray[np.int64], into: NDArray[np.float64]
                 ) -> NDArray[np.int64]:
        """The distinct steps of points in segments ``at`` (sorted), ``into`` (> 0)
        steps into them (a step ``j`` of a segment holds ``(j, j + 1]``; a point
        rounded past the segment's end stays in its last step)."""
        if self.starts is None or self.lengths is None:
            return _unique(at)
        np.ceil(into, out=into)
        step = into.astype(np.int64)
        np.minimum(step, self.lengths[at], out=step)
        step += self.starts[at]
        step -= 1
        return _unique(step)

    def _trials(self, rng: np.random.Generator, rate: NDArray[np.float64],
                out: NDArray[np.float64]) -> NDArray[np.int64]:
        """Steps where one Bernoulli trial of ``1 - e^{-rate dt}`` (``rate`` per
        segment) succeeds."""
        return np.flatnonzero(rng.random(out=out) < self.tick_probability(rate))

    def tick_probability(self, rate: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per step, the probability ``1 - e^{-rate dt}`` that a clock of ``rate`` (per
        segment; one row per clock) ticks within the step."""
        p = -np.expm1(-(rate * self.dt))
        return p if self.lengths is None else np.repeat(p, self.lengths, axis=-1)

    def first_steps(self, mask: NDArray[np.bool_]) -> NDArray[np.int64]:
        """The first step of each segment where ``mask`` holds."""
        return np.flatnonzero(mask) if self.starts is None else self.starts[mask]

    def of_steps(self, steps: NDArray[np.int64]) -> NDArray[np.int64]:
        """The segment of each of ``steps``."""
        if self.starts is None:
            return steps
        return np.searchsorted(self.starts, steps, side="right") - 1


def _unit_points(rng: np.random.Generator, total: float) -> NDArray[np.float64]:
    """Points of a unit-rate Poisson process on ``(0, total]``, as cumulated Exp(1) gaps."""
    chunk = int(total + 5.0 * math.sqrt(total) + 10.0)
    points = np.cumsum(rng.standard_exponential(chunk))
    while points[-1] <= total:
        points = np.concatenate((points, points[-1]
                                 + np.cumsum(rng.standard_exponential(chunk))))
    return points[:int(np.searchsorted(points, total, side="right"))]


def _unique(steps: NDArray[np.int64]) -> NDArray[np.int64]:
    """The distinct values of a sorted array."""
    if steps.size < 2:
        return steps
    keep = np.empty(steps.size, dtype=bool)
    keep[0] = True
    np.not_equal(steps[1:], steps[:-1], out=keep[1:])
    return steps[keep]


def _at(carried: NDArray[np.float64], steps: NDArray[np.int64] | None,
        values: NDArray[np.float64], where: NDArray[np.int64] | None, n: int
        ) -> NDArray[np.float64]:
    """Values at steps ``where`` (None: at every one of ``n`` steps) of paths that take
    ``values[:, i]`` from ``steps[i]`` on (None: one value per step) and ``carried``
    before; one row per path."""
    if steps is None:
        return values if where is None else values[:, where]
    held = np.concatenate((np.reshape(carried, (-1, 1)), values), axis=1)
    if where is None:
        counts = np.empty(steps.size + 1, dtype=np.int64)
        counts[0], counts[-1] = (steps[0], n - steps[-1]) if steps.size else (n, n)
        np.subtract(steps[1:], steps[:-1], out=counts[1:-1])
        return np.repeat(held, counts, axis=1)
    return held[:, np.searchsorted(steps, where, side="right")]


def _merge(paths: Sequence[Path], n: int
           ) -> tuple[NDArray[np.int64] | None, NDArray[np.float64], NDArray[np.float64]]:
    """Paths over ``n`` steps as one: the steps where any may change (None: at every
    step, where they change at more than a quarter of them), the values there, and the
    values carried in."""
    before = np.concatenate([c for c, _, _ in paths])
    sizes = [n if s is None else s.size for _, s, _ in paths]
    if sum(sizes) * 4 > n:
        return None, np.concatenate([_at(c, s, x, None, n) for c, s, x in paths]), before
    steps = np.concatenate([s for _, s, _ in paths if s is not None])
    order = np.argsort(steps, kind="stable")  # a merge of sorted runs
    where = steps[order]
    last = np.empty(where.size, dtype=bool)  # the last entry of each step holds them all
    last[-1:] = True
    np.not_equal(where[1:], where[:-1], out=last[:-1])
    owner = np.repeat(np.arange(len(paths)), sizes)[order]
    # a path's value at each kept entry: its own entries up to there (0: carried); every
    # row's value carried in and its draws one after the other in ``parts``
    upto = np.cumsum(owner == np.arange(len(paths))[:, None], axis=1)[:, last]
    parts: list[NDArray[np.float64]] = []
    rows, base = [], []
    for i, (c, _, x) in enumerate(paths):
        for carried, drawn in zip(np.reshape(c, -1), x, strict=True):
            rows.append(i)
            base.append(sum(part.size for part in parts))
            parts += [np.array([carried]), drawn]
    index = upto[rows]
    index += np.array(base)[:, None]
    return where[last], np.concatenate(parts)[index], before


#: paths of processes over a drive: (values carried in, steps where they are redrawn
#: (None: every step), the draws there; one row per path)
Path = tuple[NDArray[np.float64], NDArray[np.int64] | None, NDArray[np.float64]]


class NeckNoise:
    """State of the RTN traps, the neck's rearrangement offsets and the read-disturb tip.

    Parameters
    ----------
    rng : the device's generator: the traps' time constants and amplitudes are drawn from
        it (device-to-device), their dynamics from a generator spawned from it (which does
        not advance it).
    params : the device's parameters.
    """

    def __init__(self, rng: np.random.Generator, params: QCParams) -> None:
        self.params = params
        p = params
        # RTN traps: capture/emission times log-uniform; uniformization rate and occupancy.
        k = p.rtn_traps
        lo, hi = np.log(p.rtn_tau_range[0]), np.log(p.rtn_tau_range[1])
        tau_c = np.exp(rng.uniform(lo, hi, k))
        tau_e = np.exp(rng.uniform(lo, hi, k))
        self.rtn_rate = 1.0 / tau_c + 1.0 / tau_e
        self.rtn_p_occupied = (1.0 / tau_c) / self.rtn_rate
        self.rtn_state = rng.random(k) < self.rtn_p_occupied
        self.rtn_dphi = p.rtn_dphi * np.exp(rng.normal(0.0, 0.3, k))
        self.rtn_dg = p.rtn_dg * np.exp(rng.normal(0.0, 0.3, k))
        self.rng = rng.spawn(1)[0]
        self.neck_dtau = 0.0  # neck rearrangement: transmission offset per sqrt(channel)
        self.neck_dphi = 0.0  # and barrier offset of the half channel (eV)
        self.strong = False  # whether the last step so far was above ``v_rearrange``
        self.tip = 0  # -1, 0, +1: metastable tip closing / -, opening / + half a channel
        self._scratch = np.empty(0)

    def _buffer(self, size: int) -> NDArray[np.float64]:
        """Room for ``size`` draws, kept from one drive to the next up to ``_SCRATCH``.

        A drive's per-step trials are read once and dropped, but freshly allocated they
        cost a page fault per 4 kB every drive (the allocator returns freed large blocks
        to the system): a kept buffer is faulted in once.
        """
        if size > _SCRATCH:
            return np.empty(size)
        if self._scratch.size < size:
            self._scratch = np.empty(size)
        return self._scratch[:size]

    def draw(self, v: NDArray[np.float64], dts: NDArray[np.float64], tip_allowed: bool,
             elapsed: NDArray[np.float64] | None = None) -> Fluctuations:
        """The offsets at the end of every step of a drive (programmed voltages ``v``).

        ``tip_allowed``: whether the filament has a tip a read can open (a complete one).
        ``elapsed``: ``cumsum(dts)`` when the caller has it.
        """
        n = dts.size
        if not n:
            return Fluctuations(0, _NONE, np.zeros((5, 0)), np.zeros(5))
        seg = _Segments(v, dts, np.cumsum(dts) if elapsed is None else elapsed)
        # rows: one per trap (its occupancy), rearrangements (dg_neck, half channel's
        # offset), tip
        where, values, before = _merge([*self._rtn(seg), self._rearrangements(seg),
                                        self._tip_path(seg, v, tip_allowed)], n)
        k = self.rtn_rate.size
        amplitudes = np.array([self.rtn_dphi, self.rtn_dg]).reshape(2, k)
        cols = np.empty((5, values.shape[1]))
        ends = np.empty(5)
        for out, x in ((cols, values), (ends, before)):
            traps = amplitudes @ x[:k]
            # COLUMNS order; a half channel sees the traps and the rearranged neck
            out[0], out[2] = traps[0], traps[1]
            out[1] = x[k + 1] + traps[0]
            out[3], out[4] = x[k], x[k + 2]
        return Fluctuations(n, where, cols, ends)

    def _rtn(self, seg: _Segments) -> list[Path]:
        """Occupancy of each two-level trap, changing only where a tick draws the other
        state (a trap's state is its last tick's draw)."""
        paths = []
        carried = self.rtn_state.astype(float)
        state = self.rtn_state.copy()
        for i, rate in enumerate(self.rtn_rate):
            ticks = seg.ticks(self.rng, float(rate), self._buffer)
            occupied = np.empty(ticks.size + 1, dtype=bool)  # the state carried in, then
            occupied[0] = state[i]  # the draw of each ticked step
            np.less(self.rng.random(ticks.size), self.rtn_p_occupied[i], out=occupied[1:])
            flips = np.flatnonzero(occupied[1:] != occupied[:-1])
            states = np.empty((1, flips.size))  # a flip turns the state over
            states[0, ::2] = not state[i]
            states[0, 1::2] = state[i]
            state[i] = occupied[-1]
            paths.append((carried[i:i + 1], ticks[flips], states))
        self.rtn_state = state
        return paths

    def _rearrangements(self, seg: _Segments) -> Path:
        """Neck offsets redrawn by rearrangements under strong bias.

        Atoms at the neck move when the programmed bias rises above ``v_rearrange``
        (either polarity): the heating transient at a pulse's leading edge (or where a
        sweep crosses it) leaves a fresh configuration, and while the bias stays strong
        further rearrangements tick at ``nu_rearrange``. A rearrangement redraws the open
        channels' summed transmission offset (per square root of the channel count,
        applied with the count of the moment) and the half channel's barrier offset: the
        cycle-to-cycle scatter of a level, and the pulse-to-pulse scatter of a train
        (paper 000 L123: 5-10 %), constant within a pulse.
        """
        p = self.params
        av = np.abs(seg.v)
        strong = av > p.v_rearrange
        edge = strong & ~np.concatenate(([self.strong], strong[:-1]))
        self.strong = bool(strong[-1])
        rate = p.nu_rearrange * logistic((av - p.v_rearrange) / 0.05)
        ticks = _unique(np.sort(np.concatenate((seg.ticks(self.rng, rate, self._buffer),
                                                seg.first_steps(edge)))))
        carried = np.array([self.neck_dtau, self.neck_dphi])
        if not ticks.size:
            return carried, _NONE, np.zeros((2, 0))
        new = self.rng.standard_normal((2, ticks.size))
        new[0] *= p.rearrange_tau_sigma
        new[1] *= p.rearrange_phi_sigma
        self.neck_dtau, self.neck_dphi = float(new[0, -1]), float(new[1, -1])
        return carried, ticks, new

    def _tip_path(self, seg: _Segments, v: NDArray[np.float64], tip_allowed: bool) -> Path:
        """Transmission of the read-disturb tip (``tip_t`` times -1, 0 or +1) per step.

        A two-state process opened at the programmed read bias (logistic in ``v``, only
        within the read range: above ~0.5 V the tip is part of the main dynamics) and
        relaxed at ``nu_tip_relax`` (much faster under strong bias). A read is a weak SET:
        only the SET polarity draws the tip out (vacancies drift towards the top
        electrode); a negative bias pushes it back. Uniformized per step at
        ``lambda_k = open_k + relax``, so the end-of-step state is a draw from that step's
        stationary distribution taken at the last tick (exact per step). A closed tip
        that no step can open stays closed whatever the ticks: nothing is drawn.
        """
        p = self.params
        av = np.abs(seg.v)
        carried = np.array([p.tip_t * self.tip])
        open_rate = None
        if tip_allowed and bool(np.any(seg.v > 0)):
            open_rate = (p.nu_disturb * (seg.v > 0)
                         * logistic((av - p.v_disturb) / p.v_disturb_width)
                         * logistic((_TIP_MAX_V - av) / 0.05))
            if not open_rate.any():
                open_rate = None
        if self.tip == 0 and open_rate is None:  # closed, and no step can open it
            return carried, _NONE, np.zeros((1, 0))
        # strong bias (above the read range) hands an open tip back to the main dynamics
        relax = p.nu_tip_relax * (1.0 + 1e3 * logistic((av - _TIP_MAX_V) / 0.05))
        lam = relax if open_rate is None else open_rate + relax
        ticks = seg.ticks(self.rng, lam, self._buffer)
        if not ticks.size:
            return carried, _NONE, np.zeros((1, 0))
        if open_rate is None:  # an open tip that nothing reopens closes at its first tick
            self.tip = 0
            return carried, ticks[:1], np.zeros((1, 1))
        at = seg.of_steps(ticks)
        opened = self.rng.random(ticks.size) < (open_rate / lam)[at]
        state = np.where(opened, np.sign(v[ticks]), 0.0)
        self.tip = int(state[-1])
        return carried, ticks, p.tip_t * state[None, :]
