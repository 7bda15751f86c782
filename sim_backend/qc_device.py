"""A quantized-conductance memristor: QPC conduction plus a Markov jump process of channels.

State (see ``docs/simulator-physics.md``):

* ``n`` fully open conduction channels at the filament's narrowest point, each with its own
  transmission (close to 1 while ballistic, random once ``n`` exceeds ``n_ballistic`` and
  transport turns diffusive);
* one partial channel: the outermost contact with a barrier drawn from a distribution of
  barrier heights when it forms or thins (transmission between 0 and 1 at a read, about
  beta G0 at high bias: the half-integer plateaus), or closed (barrier ``phi_gap`` ~ 1 eV,
  the tunnelling gap that carries the HRS current when ``n = 0``);
* a metastable filament tip that a read bias of ~0.15 V opens (read disturb);
* a flickering contact during RESET (conductance oscillations);
* the neck configuration (redrawn by atomic rearrangements under strong bias: the
  cycle-to-cycle scatter of a level) and two-level RTN traps;
* the filament temperature, quasi-static: ``T = T_amb + R_th |I V|``.
* the width of the filament body (``n_body`` channels): neck channels beyond it are held
  only by the field and relax at zero bias (volatile); Joule heating anneals the neck into
  the body as far as the hot zone reaches (``(P / p_anneal)^k_anneal`` channels, approached
  at ``nu_anneal`` per missing channel), so the kept level is a continuous function of
  compliance, amplitude and pulse count.

Dynamics: creation (positive bias) and removal (negative bias) of channels are Arrhenius
rates with field-lowered barriers evaluated at the constriction voltage and the Joule
temperature of every step (:func:`sim_backend.qc_kernel.rates`). The source clamp enters
through the operating point (the clamp lowers the constriction voltage, which stalls
growth), so compliance sets the final level without any lookup: that is the "thickness
knob".

Time and speed: the drive is a piecewise-constant schedule. Processes that do not change
the channel count (RTN, rearrangements, the read-disturb tip) are drawn for the whole drive
at once as per-step conduction offsets (:mod:`sim_backend.qc_fluctuations`). Between two
channel events the compiled loop :func:`sim_backend.qc_kernel.advance` walks the steps: it
solves each step's operating point, takes every process's rate there and spends each
clock's budget by the step's hazard; the first step where a budget runs out holds the next
event (the exact next-jump time of an inhomogeneous Poisson process). This module applies
the event (a random pick and state change, in Python: a few hundred per drive) and calls
the loop again from the same step, whose remaining part runs with the new state, so one
long step can hold many events (a 20 ms SMU pulse given as one step). A sampled waveform
is walked once per run of identical steps (:class:`_ByRuns`). A process that completes a
channel in several sub-steps (the trace's regrowth and stripping) runs on a clock of its
own with a Gamma budget per channel, so it costs one event per channel.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sim_backend import qc_kernel as kernel
from sim_backend.device_model import DriveResult
from sim_backend.qc_fluctuations import NeckNoise
from sim_backend.qc_params import QCParams, draw_device_params
from sim_backend.qpc import zero_bias_transmission

# event types
(_CREATE, _REMOVE, _TIP_FIX, _REFORM, _REBREAK, _SETTLE, _DIFFUSE, _RELAX, _ANNEAL,
 _SOFT, _STRIP, _SUPPLY) = range(12)
_BODY_EVENTS = frozenset((_ANNEAL, _SUPPLY, _SOFT, _STRIP))
#: the event of each of the shared clock's slots (:data:`sim_backend.qc_kernel.SHARED_SLOTS`;
#: the flicker's slot is a re-forming contact while it is broken, else a re-breaking one)
_SLOT_KINDS = (_CREATE, _REMOVE, _REMOVE, _DIFFUSE, _RELAX, _ANNEAL, _SUPPLY, _TIP_FIX,
               _REBREAK, _SETTLE)
#: the event of each staged clock, and the staged clock of each such event
_STAGED_KINDS = {kernel.CLOCK_SOFT: _SOFT, kernel.CLOCK_STRIP: _STRIP}
_STAGED_CLOCK = {kind: clock for clock, kind in _STAGED_KINDS.items()}


def _checked_schedule(dt: ArrayLike, v_source: ArrayLike, i_limit: ArrayLike,
                      r_source: float) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                                NDArray[np.float64]]:
    """``(v, dt, i_limit)`` as float arrays of one shape, or a one-line ValueError."""
    v = np.atleast_1d(np.asarray(v_source, dtype=float))
    if v.ndim != 1:
        raise ValueError(f"v_source must be 1-D, got shape {v.shape}")
    dts = np.broadcast_to(np.asarray(dt, dtype=float), v.shape).copy()
    ilim = np.broadcast_to(np.asarray(i_limit, dtype=float), v.shape)
    # min / max reductions (NaN propagates through both): no per-step masks on the way
    # of a valid schedule, which a long PMU waveform would pay for on every drive
    if v.size and not (np.isfinite(v.min()) and np.isfinite(v.max())):
        raise ValueError("v_source must be finite")
    if dts.size and not (dts.min() >= 0 and np.isfinite(dts.max())):
        bad = dts[~((dts >= 0) & np.isfinite(dts))]
        raise ValueError(f"dt must be finite and >= 0 s, got {bad[:3]!r}")
    if ilim.size and not ilim.min() > 0:
        raise ValueError("i_limit must be > 0 A (np.inf for no limit)")
    if not (np.isfinite(r_source) and r_source >= 0):
        raise ValueError(f"r_source must be a finite resistance >= 0 Ohm, got {r_source!r}")
    return v, dts, ilim


def _run_starts(v: NDArray[np.float64], ilim: NDArray[np.float64], changes: NDArray[np.bool_]
                ) -> NDArray[np.int64] | None:
    """First step of every run of identical steps (same source, limit and offsets:
    ``changes`` marks where the offsets change), or None when runs are too short to be
    worth it (a list sweep: every step differs)."""
    size = v.size
    new_run = changes
    if size > 1:
        new_run[1:] |= (v[1:] != v[:-1]) | (ilim[1:] != ilim[:-1])
    starts = np.flatnonzero(new_run)
    if not (size and 4 * starts.size < 3 * size):
        return None
    return starts


class _Clocks:
    """The budgets of the event loop's clocks (:data:`sim_backend.qc_kernel.CLOCK_SHARED`
    and the staged ones), as the vector the compiled loop spends in place.

    The shared clock's budget is exponential: the next jump of every process but the
    staged ones. A staged process completes a channel after ``stages`` sub-steps, each an
    exponential wait on its hazard (at ``stages`` times the channel's rate), so the channel
    completes when the hazard uses up their sum, a Gamma(``stages``, 1) budget drawn at
    once: the same Erlang law as counting the sub-steps one event at a time, at one event
    per channel. (Only for a process whose rate does not depend on the sub-steps done: the
    vacancy supply's arrivals slow as they fill the hot zone's reach, so they stay events
    of their own.)
    """

    __slots__ = ("left", "drawn", "stages")

    def __init__(self, rng: np.random.Generator, p: QCParams) -> None:
        self.left = np.empty(3)
        self.drawn = np.ones(3)
        self.stages = p.trace_stages
        self.draw(rng, kernel.CLOCK_SHARED)
        for clock in (kernel.CLOCK_SOFT, kernel.CLOCK_STRIP):
            self.draw(rng, clock)

    def draw(self, rng: np.random.Generator, clock: int) -> None:
        """A new budget for the clock's next event (a staged one's next channel)."""
        if clock == kernel.CLOCK_SHARED:
            self.left[clock] = float(rng.exponential())
        else:
            self.left[clock] = self.drawn[clock] = float(rng.gamma(self.stages))

    def progress(self, clock: int) -> float:
        """Fraction of the way to a staged clock's next channel (the sub-steps done, in
        expectation)."""
        return 1.0 - float(self.left[clock] / self.drawn[clock])


class _Drive:
    """One :meth:`QCDevice.drive`: the schedule, its fluctuations and the event loop.

    A list sweep is walked step by step (:func:`sim_backend.qc_kernel.advance` over the
    steps, the columns written in place); a schedule made of runs of identical steps (a
    sampled waveform) once per run (:class:`_ByRuns`). The step columns that are constant
    between events (channel count, partial and open transmission) are kept as a list of
    stretches and built on first access.
    """

    def __init__(self, dev: QCDevice, v: NDArray[np.float64], dts: NDArray[np.float64],
                 ilim: NDArray[np.float64], r_source: float) -> None:
        self.dev, self.v, self.dts, self.ilim = dev, v, dts, ilim
        self.r_total = dev.params.r_series + r_source
        self.elapsed = np.cumsum(dts)
        self.t_end = dev.time + self.elapsed
        self.fluct = dev.noise.draw(v, dts, dev.n > 0 and dev.n >= dev.n_peak, self.elapsed)
        self.starts = _run_starts(v, ilim, self.fluct.changes())
        #: per stretch of steps with one state: (steps, n, partial, g_open); the columns
        #: (v, i, compliance, temperature) and, when they hold one value per run of
        #: identical steps, the run lengths
        self.runs: list[tuple[int, int, float, float]] = []
        self.cols: list[tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_],
                              NDArray[np.float64], NDArray[np.int64] | None]] = []
        self._partial = (np.nan, 0.0)  # (barrier, transmission) last looked up
        self.params = kernel.param_vector(dev.params)
        self.at = np.empty(kernel.AT_SIZE)  # the rates, x and i at an event

    def run(self) -> DriveResult:
        """Step through the schedule event by event; the device's state advances."""
        if self.starts is not None:
            _ByRuns(self, self.starts).run()
            return self._result()
        size = self.v.size
        cols = (np.empty(size), np.empty(size), np.empty(size, dtype=bool), np.empty(size))
        # the compiled loop takes writable contiguous arrays (one compiled signature; a
        # scalar limit arrives broadcast, the caller's arrays may be read-only)
        v, ilim = (np.require(a, float, ("C", "W")) for a in (self.v, self.ilim))
        offsets = np.require(self.fluct.dense().values, float, ("C", "W"))
        k = 0
        while k < size:
            e, tau, clock = self._advance(v, ilim, self.dts, offsets, k,
                                          float(self.dts[k]), cols)
            self._stretch(e - k)
            if clock < 0:
                break
            self.apply_event(e, tau / self.dts[e] if self.dts[e] > 0 else 1.0, clock)
            k = e
        self.cols.append((*cols, None))
        return self._result()

    def _advance(self, v: NDArray[np.float64], ilim: NDArray[np.float64],
                 dur: NDArray[np.float64], offsets: NDArray[np.float64], first: int,
                 dur_first: float, cols: tuple[NDArray[Any], ...]) -> tuple[int, float, int]:
        """The compiled loop from element ``first`` to the next event (see
        :func:`sim_backend.qc_kernel.advance`) with the device's state and clocks."""
        return kernel.advance(v, ilim, dur, offsets, first, dur_first, self.r_total,
                              self.params, self.dev.state_vector(), self.dev.clocks.left,
                              *cols, self.at)

    def _result(self) -> DriveResult:
        """The measured columns, and the true state as columns built on first access."""
        dev = self.dev
        runs, cols = self.runs, self.cols
        counts = None
        if any(c[4] is not None for c in cols):
            counts = np.concatenate([np.ones(c[0].size, dtype=np.int64) if c[4] is None
                                     else c[4] for c in cols])

        def column(col: int) -> NDArray[Any]:
            if not cols:
                return np.empty(0, dtype=bool if col == 2 else float)
            joined = cols[0][col] if len(cols) == 1 else np.concatenate([c[col] for c in cols])
            return joined if counts is None else np.repeat(joined, counts)

        def state(c: int, dt: type) -> Callable[[], NDArray[Any]]:
            return lambda: np.repeat(np.array([r[c] for r in runs], dtype=dt),
                                     np.array([r[0] for r in runs], dtype=np.int64))

        if self.v.size:
            dev.time = float(self.t_end[-1])
            dev.temperature = (float(cols[-1][3][-1]) if counts is None else  # last step's
                               float(np.concatenate([c[3] for c in cols])[counts > 0][-1]))
        return DriveResult(t=self.t_end, v=column(0), i=column(1), compliance=column(2),
                           n_channels=state(1, np.int64), partial=state(2, float),
                           open_transmission=state(3, float),
                           temperature=lambda: column(3))

    def _stretch(self, steps: int) -> None:
        """The next ``steps`` steps ran with the device state as it is now."""
        dev = self.dev
        phi = dev.phi_partial
        if phi != self._partial[0]:
            self._partial = (phi, dev.partial_transmission)
        self.runs.append((steps, dev.n, self._partial[1], dev.tau_sum))

    def apply_event(self, step: int, frac: float, clock: int) -> None:
        """Spend ``frac`` of ``step`` and apply the event of ``clock`` there: a staged
        process's, or one of the shared clock's processes picked by their rates there
        (``self.at``, from the compiled loop; then the shared clock's next budget is
        drawn). The rest of the step stays in ``dts`` and runs with the new state."""
        dev, at = self.dev, self.at
        self.dts[step] *= max(0.0, 1.0 - frac)
        if clock == kernel.CLOCK_SHARED:
            cum = list(accumulate(at[:kernel.SHARED_SLOTS].tolist()))
            pick = bisect_right(cum, dev.rng.random() * cum[-1])
            if pick >= kernel.SHARED_SLOTS:  # rounding at the top: the last process with
                pick = max(s for s in range(kernel.SHARED_SLOTS) if at[s] > 0)  # a rate
            kind = _SLOT_KINDS[pick]
            if kind == _REBREAK and dev.osc_phase == 1:
                kind = _REFORM
        else:
            kind = _STAGED_KINDS[clock]
        x = float(at[kernel.AT_X])
        if kind == _TIP_FIX:  # the open tip's sign says which way it is incorporated
            x = float(self.fluct[step:step + 1].tip[0])
        dev._apply(kind, float(at[kernel.AT_I]), x)
        if clock == kernel.CLOCK_SHARED:
            dev.clocks.draw(dev.rng, kernel.CLOCK_SHARED)


class _ByRuns:
    """The event loop of a drive made of runs of identical steps, worked once per run.

    A sampled waveform repeats each source value for a whole plateau (100 samples of a
    5 ms pulse) and the offsets change only at their ticks, so the compiled loop walks the
    runs as elements (a run's hazard is its rate times its duration); only the run holding
    the next event is looked at step by step, and the columns are spread to the steps
    once, when the drive's result is assembled.
    """

    def __init__(self, drive: _Drive, starts: NDArray[np.int64]) -> None:
        self.drive = drive
        self.starts = starts
        self.ends = np.append(starts[1:], drive.v.size)
        self.v, self.ilim = drive.v[starts], drive.ilim[starts]
        self.offsets = np.require(drive.fluct[starts].values, float, ("C", "W"))
        el = drive.elapsed
        self.length = self.ends - starts
        self.duration = el[self.ends - 1] - np.concatenate(([0.0], el[self.ends[:-1] - 1]))
        size = starts.size
        self.cols = (np.empty(size), np.empty(size), np.empty(size, dtype=bool),
                     np.empty(size))

    def run(self) -> None:
        """From one event to the next, run by run."""
        drive = self.drive
        size, runs = drive.v.size, self.starts.size
        k, a = 0, 0
        while k < size:
            # the first run from step k on (that step possibly partly spent by an event)
            dur_first = drive.elapsed[self.ends[a] - 1] - drive.elapsed[k] + drive.dts[k]
            r, tau, clock = drive._advance(self.v, self.ilim, self.duration, self.offsets, a,
                                           float(dur_first), self.cols)
            counts = self.length[a:min(r, runs - 1) + 1].copy()
            counts[0] = self.ends[a] - k
            if clock < 0:
                self._commit(a, runs, counts)
                return
            first = k if r == a else int(self.starts[r])
            # the steps of run r up to the event (its rates are constant over the run)
            cum = drive.dts[first:self.ends[r]].cumsum()
            j = min(int(cum.searchsorted(tau)), cum.size - 1)
            frac = (tau - (float(cum[j - 1]) if j else 0.0)) / drive.dts[first + j]
            counts[r - a] = j
            self._commit(a, r + 1, counts)
            drive.apply_event(first + j, frac, clock)
            k, a = first + j, r

    def _commit(self, a: int, b: int, counts: NDArray[np.int64]) -> None:
        """Runs ``a:b`` ran (``counts`` steps of each) with the device state as it is now
        (copies: the next walk rewrites run ``b - 1``)."""
        self.drive.cols.append((*(c[a:b].copy() for c in self.cols), counts))
        self.drive._stretch(int(counts.sum()))


class QCDevice:
    """Quantized-conductance memristor implementing :class:`sim_backend.device.DeviceModel`.

    Parameters
    ----------
    seed : seeds the device-to-device draw and every later random event (deterministic).
    params : nominal parameters (default :class:`QCParams`).
    spread : draw this device's parameters lognormally around ``params`` (device-to-device
        variability); ``False`` uses ``params`` exactly (physics unit tests).
    n_channels : initial number of open channels (0 = pristine HRS).
    half_open : start with the partial channel half open.
    """

    def __init__(
        self,
        seed: int = 0,
        params: QCParams | None = None,
        spread: bool = True,
        n_channels: int = 0,
        half_open: bool = False,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        nominal = params or QCParams()
        self.params = draw_device_params(self.rng, nominal) if spread else nominal
        p = self.params
        if not 0 <= n_channels <= p.n_sat:
            raise ValueError(f"n_channels must be in 0..{p.n_sat}, got {n_channels!r}")
        self.time = 0.0
        self.n = 0
        self.half = False
        self.phi_half = 0.0
        self.phi_closed = float(self.rng.uniform(*p.phi_gap))
        self.tau = np.zeros(p.n_sat + 2)
        self.tau_sum = 0.0
        self.osc_phase = 0  # 0 off, 1 contact broken, 2 contact re-formed
        self.temperature = p.t_ambient
        for _ in range(n_channels):
            self._open_channel()
        if half_open:
            self._set_half()
        # channels the filament body backs (stable); a prepared state is a consolidated one
        self.n_body = max(int(p.n_body0), n_channels + int(half_open))
        self.n_firm = self.n_body  # the consolidated part of the body (hot-annealed)
        self.n_peak = self.n_body  # the widest the body has been since it was formed
        # RTN traps, neck rearrangements and the read-disturb tip (conduction offsets)
        self.noise = NeckNoise(self.rng, p)
        self.vacancies = 0  # vacancy arrivals towards the next supplied channel
        #: the event loop's budgets (the staged ones towards their next channel)
        self.clocks = _Clocks(self.rng, p)
        self.events = 0

    # ----------------------------------------------------------------- state changes
    def _new_transmission(self) -> float:
        p = self.params
        if self.n >= p.n_ballistic:
            return float(self.rng.uniform(*p.diffusive_tau))
        return float(1.0 - abs(self.rng.normal(0.0, p.tau_sigma)))

    def _open_channel(self) -> None:
        if self.n >= self.tau.size:
            return
        t = self._new_transmission()
        self.tau[self.n] = t
        self.tau_sum += t
        self.n += 1

    def _close_channel(self) -> None:
        if self.n == 0:
            return
        self.n -= 1
        self.tau_sum = max(0.0, self.tau_sum - self.tau[self.n])
        self.tau[self.n] = 0.0
        if self.n == 0:
            self.tau_sum = 0.0

    def _set_half(self, phi: float | None = None) -> None:
        self.half = True
        self.phi_half = float(self.rng.normal(0.0, self.params.phi_half_sigma)) \
            if phi is None else phi

    def _close_half(self) -> None:
        self.half = False
        self.phi_closed = float(self.rng.uniform(*self.params.phi_gap))

    def _new_contact(self) -> None:
        """The outermost contact forms with a barrier drawn from the barrier distribution.

        A barrier well below the Fermi level (``phi < -phi_open``) is an open channel; one
        near or above it stays a partial channel with ``T = 1/(1 + e^{alpha phi})`` at low
        bias and about ``beta G0`` at high bias (the bias window straddles it). How often
        n + 1/2 levels appear is therefore an outcome of the barrier distribution, not
        an input. Above ``n_ballistic`` transport is diffusive: channels simply open.
        """
        p = self.params
        if self.n >= p.n_ballistic:
            self._open_channel()
            return
        phi = float(self.rng.normal(p.phi_mean, p.phi_spread))
        if phi < -p.phi_open:
            self._open_channel()
        else:
            self._set_half(phi)

    def _create(self) -> None:
        if self.half:
            self._close_half()
            self._open_channel()
        else:
            self._new_contact()

    def _remove(self, current: float, x: float) -> None:
        p = self.params
        if self.half:
            self._close_half()
            return
        self._close_channel()
        if self.n < self.params.n_ballistic:
            # the removed contact may survive as a partial one: its barrier is redrawn
            phi = float(self.rng.normal(self.params.phi_mean, self.params.phi_spread))
            if phi >= -self.params.phi_open:
                self._set_half(phi)
        if (
            self.osc_phase == 0
            and x < -kernel.OSC_WINDOW_V
            and abs(current) > p.i_oscillation
            and self.rng.random() < p.p_oscillation
        ):
            self.osc_phase = 1

    @property
    def _width(self) -> int:
        """Channels the neck occupies, a partial channel counting as one."""
        return self.n + int(self.half)

    def _body_follows(self) -> None:
        """The body goes with the neck it held: a RESET leaves a thinner filament."""
        self.n_body = min(self.n_body, self._width)
        self.n_firm = min(self.n_firm, self._width)

    def _consolidate(self) -> None:
        """One more neck channel consolidated into the body (and so held by it)."""
        self.n_firm = min(self.n_firm + 1, self._width)
        self.n_body = max(self.n_body, self.n_firm)
        self.n_peak = max(self.n_peak, self.n_body)

    def _close_outer(self) -> None:
        """The outermost channel of the neck goes (the partial one first)."""
        if self.half:
            self._close_half()
        else:
            self._close_channel()

    def _apply_body(self, kind: int) -> None:
        """Events that change the body: annealing, vacancy supply (one channel every
        ``supply_stages`` arrivals), the trace's regrowth and stripping (staged: the event
        is the last of ``trace_stages`` sub-steps, and the process's next budget is
        drawn)."""
        if kind == _ANNEAL:  # one more neck channel consolidated into the body
            self._consolidate()
        elif kind == _SUPPLY:  # one more vacancy reaches the hot zone
            self.vacancies += 1
            if self.vacancies >= self.params.supply_stages:
                self.vacancies = 0
                self._consolidate()
        elif kind == _SOFT:  # a channel of the old body's trace regrows, weakly held
            if self._width <= self.n_body:
                self._create()
            self.n_body = min(self.n_body + 1, self._width)
        else:  # _STRIP: a weakly held channel drifts out
            self._close_outer()
            self._body_follows()
        if kind in _STAGED_CLOCK:
            self.clocks.draw(self.rng, _STAGED_CLOCK[kind])

    @property
    def soft_stage(self) -> float:
        """Progress towards the next regrown trace channel (fraction of its sub-steps)."""
        return self.clocks.progress(kernel.CLOCK_SOFT)

    @property
    def strip_stage(self) -> float:
        """Progress towards the next stripped weak channel (fraction of its sub-steps)."""
        return self.clocks.progress(kernel.CLOCK_STRIP)

    def _apply(self, kind: int, current: float, x: float) -> None:
        if kind in _BODY_EVENTS:
            self._apply_body(kind)
        elif kind == _CREATE:
            self._create()
        elif kind == _REMOVE:
            self._remove(current, x)
            self._body_follows()
        elif kind == _DIFFUSE:  # a diffusive channel dissolves once the field is gone
            self._close_channel()
        elif kind == _RELAX:  # the outermost unbacked channel goes
            self._close_outer()
            self._body_follows()
        elif kind == _TIP_FIX:  # an open tip is incorporated into the filament
            if x > 0:
                self._create()
            else:
                self._remove(current, 0.0)
        elif kind == _REFORM:
            self._open_channel()
            self.osc_phase = 2
        elif kind == _REBREAK:
            self._close_channel()
            self.osc_phase = 1
        else:
            self.osc_phase = 0
        self.events += 1

    # ----------------------------------------------------------------- evaluation
    @property
    def tip(self) -> int:
        """Read-disturb tip: -1, 0, +1 (closing / -, opening / + half a channel)."""
        return self.noise.tip

    @property
    def rtn_dg(self) -> NDArray[np.float64]:
        """Conductance modulation of an open channel by each RTN trap in G0."""
        return self.noise.rtn_dg

    @property
    def phi_partial(self) -> float:
        """Barrier of the partial channel in eV (half-open or the closed gap)."""
        return self.phi_half if self.half else self.phi_closed

    @property
    def partial_transmission(self) -> float:
        """True zero-bias transmission of the partial channel."""
        return float(zero_bias_transmission(self.phi_partial, self.params.alpha))

    def conductance_g0(self) -> float:
        """True zero-bias constriction conductance in G0 (no series resistance, no noise)."""
        tip = self.params.tip_t * self.tip if self.n > 0 or self.tip > 0 else 0.0
        return max(self.tau_sum + tip, 0.0) + self.partial_transmission

    def state_vector(self) -> NDArray[np.float64]:
        """The state the compiled loop reads (:data:`sim_backend.qc_kernel.STATE`)."""
        return np.array((self.n, self.half, self.tau_sum, self.phi_partial, self.n_body,
                         self.n_firm, self.n_peak, self.vacancies, self.osc_phase),
                        dtype=float)

    # ----------------------------------------------------------------- contract
    def drive(
        self,
        dt: ArrayLike,
        v_source: ArrayLike,
        i_limit: ArrayLike,
        r_source: float = 0.0,
    ) -> DriveResult:
        """Apply ``v_source[k]`` for ``dt[k]`` s with the source clamp ``|i| <= i_limit[k]``."""
        v, dts, ilim = _checked_schedule(dt, v_source, i_limit, r_source)
        return _Drive(self, v, dts, ilim, r_source).run()

    def rest(self, duration: float) -> None:
        """Zero bias for ``duration`` s: retention loss, tip relaxation and RTN evolve."""
        if not (np.isfinite(duration) and duration >= 0):
            raise ValueError(f"duration must be finite and >= 0 s, got {duration!r}")
        if duration > 0:
            self.drive([duration], [0.0], [np.inf])
