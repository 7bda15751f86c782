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
temperature of every step. The source clamp enters through the operating point (the clamp
lowers the constriction voltage, which stalls growth), so compliance sets the final level
without any lookup: that is the "thickness knob".

Time and speed: the drive is a piecewise-constant schedule. Processes that do not change
the channel count (RTN, rearrangements, the read-disturb tip) are drawn for the whole drive
at once as per-step conduction offsets (:mod:`sim_backend.qc_fluctuations`). Between two
channel events every quantity is a vector over steps: the circuit is solved over a window
of steps (once per run of identical steps), rates are integrated into a cumulative hazard,
and the next event is where the hazard crosses an exponential budget (the exact next-jump
time of an inhomogeneous Poisson process). Python loops run once per *event*, never per
sample, and a step may hold many events (a 20 ms SMU pulse given as one step) because the
remaining part of a step is carried over. A process that completes a channel in several
sub-steps (the trace's regrowth and stripping) runs on a clock of its own
with a Gamma budget per channel, so it costs one event per channel. After an event the
rest of the window keeps its operating point when the conduction did not change, and is
re-solved from the old roots when only the open channels changed (one Newton step; see
``docs/simulator-physics.md``).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labcore.constants import E_CHARGE, K_BOLTZMANN
from sim_backend.device_model import DriveResult
from sim_backend.qc_circuit import CircuitSolution, solve_operating_point, warm_start
from sim_backend.qc_fluctuations import Fluctuations, NeckNoise
from sim_backend.qc_params import QCParams, draw_device_params
from sim_backend.qpc import zero_bias_transmission

_KB_EV = K_BOLTZMANN / E_CHARGE  # Boltzmann constant in eV/K

# event types (rows of the rate matrix)
(_CREATE, _REMOVE, _TIP_FIX, _REFORM, _REBREAK, _SETTLE, _DIFFUSE, _RELAX, _ANNEAL,
 _SOFT, _STRIP, _SUPPLY) = range(12)
_BODY_EVENTS = frozenset((_ANNEAL, _SUPPLY, _SOFT, _STRIP))
#: processes that complete a channel in several sub-steps, each on a clock of its own
_STAGED = (_SOFT, _STRIP)
_SHARED = -1  # the clock every other process shares (an exponential budget, then a pick)

_W0 = 128  # first window after an event (steps); doubles while nothing happens
_W_MAX = 8192
_W_RUNS = 2048  # first window of a drive worked per run (runs)
_OSC_WINDOW_V = 0.5  # flicker only while the constriction sees more than this reverse bias

#: a channel process: (event kind, rate in 1/s per step of the window or one constant)
Process = tuple[int, NDArray[np.float64] | float]


class _Window:
    """The operating point of a window of steps, as the rate functions need it.

    Attributes: ``x`` constriction voltage per step (V), ``power`` dissipated in the
    constriction per step (W), ``temp`` filament temperature per step (K), ``span``
    duration of the window (s; bounds the probability of a process), ``m`` channel count
    (a half-open channel counting 1/2); ``x_max``, ``x_min`` and ``negligible`` (the rate
    below which a process cannot fire within the window) derived from them.
    """

    __slots__ = ("x", "power", "temp", "span", "m", "x_max", "x_min", "negligible")

    def __init__(self, x: NDArray[np.float64], power: NDArray[np.float64],
                 temp: NDArray[np.float64], span: float, m: float) -> None:
        self.x, self.power, self.temp, self.span, self.m = x, power, temp, span, m
        self.x_max = float(np.maximum.reduce(x))
        self.x_min = float(np.minimum.reduce(x))
        self.negligible = 1e-12 / max(span, 1e-300)


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
    if v.size and not (math.isfinite(v.min()) and math.isfinite(v.max())):
        raise ValueError("v_source must be finite")
    if dts.size and not (dts.min() >= 0 and math.isfinite(dts.max())):
        bad = dts[~((dts >= 0) & np.isfinite(dts))]
        raise ValueError(f"dt must be finite and >= 0 s, got {bad[:3]!r}")
    if ilim.size and not ilim.min() > 0:
        raise ValueError("i_limit must be > 0 A (np.inf for no limit)")
    if not (np.isfinite(r_source) and r_source >= 0):
        raise ValueError(f"r_source must be a finite resistance >= 0 Ohm, got {r_source!r}")
    return v, dts, ilim


def _run_starts(v: NDArray[np.float64], ilim: NDArray[np.float64], fluct: Fluctuations
                ) -> NDArray[np.int64] | None:
    """First step of every run of identical steps (same source, limit and offsets), or
    None when runs are too short to be worth it (a list sweep: every step differs)."""
    size = v.size
    new_run = fluct.changes()
    if size > 1:
        new_run[1:] |= (v[1:] != v[:-1]) | (ilim[1:] != ilim[:-1])
    starts = np.flatnonzero(new_run)
    if not (size and 4 * starts.size < 3 * size):
        return None
    return starts


def _tail(sol: CircuitSolution, j: int) -> CircuitSolution:
    """The operating point of a window from its step ``j`` on."""
    if sol.x_free is None or sol.di_free is None:
        return CircuitSolution(sol.v_constriction[j:], sol.v_terminal[j:], sol.i[j:],
                               sol.compliance[j:])
    return CircuitSolution(sol.v_constriction[j:], sol.v_terminal[j:], sol.i[j:],
                           sol.compliance[j:], sol.x_free[j:], sol.di_free[j:])


def _total(procs: list[Process]) -> NDArray[np.float64] | float:
    """Summed rate of the processes (an array over the window, or one constant)."""
    total = procs[0][1]
    for _, r in procs[1:]:
        total = total + r
    return total


def _at(rate: NDArray[np.float64] | float, i: int) -> float:
    """A process's rate at element ``i`` of the window."""
    return float(rate[i]) if isinstance(rate, np.ndarray) else float(rate)


class _StagedClock:
    """The budget of a staged process: a channel completes after ``stages`` sub-steps.

    The sub-steps are exponential waits on the process's hazard (at ``stages`` times the
    channel's rate), so the channel completes when the hazard uses up their sum, a
    Gamma(``stages``, 1) budget drawn at once: the same Erlang law as counting the
    sub-steps one event at a time, at one event per channel instead of ``stages``. (Only
    for a process whose rate does not depend on the sub-steps done: the vacancy supply's
    arrivals slow as they fill the hot zone's reach, so they stay events of their own.)
    """

    __slots__ = ("stages", "drawn", "left")

    def __init__(self, rng: np.random.Generator, stages: int) -> None:
        self.stages = stages
        self.draw(rng)

    def draw(self, rng: np.random.Generator) -> None:
        """A new budget for the next channel."""
        self.drawn = self.left = float(rng.gamma(self.stages))

    @property
    def progress(self) -> float:
        """Fraction of the way to the next channel (the sub-steps done, in expectation)."""
        return 1.0 - self.left / self.drawn


class _Clocks:
    """The budgets of the event loop's clocks: the shared one (an exponential budget, the
    next jump of every process but the staged ones) and one per staged process."""

    __slots__ = ("shared", "staged")

    def __init__(self, rng: np.random.Generator, p: QCParams) -> None:
        self.shared = float(rng.exponential())
        self.staged = {kind: _StagedClock(rng, stages) for kind, stages in (
            (_SOFT, p.trace_stages), (_STRIP, p.trace_stages))}

    def budget(self, clock: int) -> float:
        """What is left of a clock's budget (hazard until its next event)."""
        return self.shared if clock == _SHARED else self.staged[clock].left

    def spend(self, clock: int, hazard: float) -> None:
        """Use up ``hazard`` of a clock's budget (time passed without its event)."""
        if clock == _SHARED:
            self.shared -= hazard
        else:
            self.staged[clock].left -= hazard


def _shared(procs: list[Process]) -> list[Process]:
    """The processes on the shared clock (all but the staged ones)."""
    return [pr for pr in procs if pr[0] not in _STAGED]


def _clocks(procs: list[Process]) -> list[tuple[int, list[Process]]]:
    """The processes by clock: the shared one first, then each staged process alone."""
    shared = _shared(procs)
    return ([(_SHARED, shared)] if shared else []) + [(pr[0], [pr]) for pr in procs
                                                      if pr[0] in _STAGED]


def _next_event(budgets: _Clocks, procs: list[Process], dur: NDArray[np.float64]
                ) -> tuple[int, float, int] | None:
    """The first budget the processes' hazard uses up over elements of durations ``dur``.

    Each clock's cumulative hazard is compared with its budget (the exact next jump of an
    inhomogeneous Poisson process, or the last sub-step of a staged one); the earliest
    crossing is the event. Returns ``(element, time into it in s, clock)`` with every
    other budget spent up to that time, or None, with every budget spent by the whole
    window's hazard.
    """
    clocks = [(c, _total(ps)) for c, ps in _clocks(procs)]
    hazards = [(total * dur).cumsum() for _, total in clocks]
    best: tuple[int, float, int] | None = None
    for (clock, total), h in zip(clocks, hazards, strict=True):
        budget = budgets.budget(clock)
        if h[-1] >= budget:
            i = int(h.searchsorted(budget))
            tau = (budget - (float(h[i - 1]) if i else 0.0)) / _at(total, i)
            if best is None or (i, tau) < best[:2]:
                best = (i, tau, clock)
    for (clock, total), h in zip(clocks, hazards, strict=True):
        if best is None:
            budgets.spend(clock, float(h[-1]))
        elif clock != best[2]:
            i, tau = best[0], best[1]
            budgets.spend(clock, (float(h[i - 1]) if i else 0.0) + _at(total, i) * tau)
    return best


class _Drive:
    """One :meth:`QCDevice.drive`: the schedule, its fluctuations and the event loop.

    Speed (see ``docs/simulator-physics.md``, "Algorithm"): a window costs a fixed number
    of numpy calls whatever its length, so the loop keeps their number low. A schedule
    made of runs of identical steps (a sampled waveform) is worked once per run
    (:class:`_ByRuns`); a list sweep step by step, where an event that leaves the
    conduction unchanged (annealing into the body, the end of a flicker) keeps the
    window's operating point and re-evaluates only the rates. The step columns that are
    constant between events (channel count, partial and open transmission) are written
    once per drive from a list of runs.
    """

    def __init__(self, dev: QCDevice, v: NDArray[np.float64], dts: NDArray[np.float64],
                 ilim: NDArray[np.float64], r_source: float) -> None:
        self.dev, self.v, self.dts, self.ilim, self.r_source = dev, v, dts, ilim, r_source
        self.elapsed = np.cumsum(dts)
        self.t0 = dev.time
        self.t_end = dev.time + self.elapsed
        self.fluct = dev.noise.draw(v, dts, dev.n > 0 and dev.n >= dev.n_peak, self.elapsed)
        self.starts = _run_starts(v, ilim, self.fluct)
        if self.starts is None:  # step by step: the offsets as columns, sliced per window
            self.fluct = self.fluct.dense()
        #: per stretch of steps with one state: (steps, n, partial, g_open); the columns
        #: (v, i, compliance, temperature) and, when they hold one value per run of
        #: identical steps, the run lengths
        self.runs: list[tuple[int, int, float, float]] = []
        self.cols: list[tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_],
                              NDArray[np.float64], NDArray[np.int64] | None]] = []
        self._partial = (np.nan, 0.0)  # (barrier, transmission) last looked up
        self._dphi_max = max(self.fluct.maximum(0), self.fluct.maximum(1), 0.0)
        self._signs: tuple[NDArray[np.int64], NDArray[np.int64], float] | None = None
        #: the last window solved step by step: (first step, solution, open conduction)
        self._last: tuple[int, CircuitSolution, NDArray[np.float64]] | None = None

    def run(self) -> DriveResult:
        """Step through the schedule event by event; the device's state advances."""
        if self.starts is not None:
            _ByRuns(self, self.starts).run()
            return self._result()
        size = self.v.size
        k, window = 0, _W0
        #: what an event left: (window end, operating point kept, only the supply changed)
        carry: tuple[int, bool, bool] | None = None
        evaluated: tuple[int, list[Process], NDArray[np.float64]] | None = None
        while k < size:
            if carry is None:
                e = min(size, k + window)
                sol = self._solve(k, e)
                procs, temp = self._rates(sol, k, e)
                evaluated = (k, procs, temp)
            elif carry[2] and evaluated is not None:
                e = carry[0]
                sol, procs, temp = self._after_arrival(k, evaluated)
            else:
                e = carry[0]
                sol, procs, temp = self._after_event(k, e, carry[1])
                evaluated = (k, procs, temp)
            event = _next_event(self.dev.clocks, procs, self.dts[k:e]) if procs else None
            j = e - k if event is None else event[0]
            if j:
                self._commit(j, sol, temp)
            if event is None:
                k, window, carry = e, min(2 * window, _W_MAX), None
                continue
            carry = self._event_in_step(procs, sol, k, event, e)
            k, window = k + j, _W0
        return self._result()

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
            joined = np.concatenate([c[col] for c in cols])
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

    def _commit(self, j: int, sol: CircuitSolution, temp: NDArray[np.float64],
                counts: NDArray[np.int64] | None = None) -> None:
        """The next steps ran with the device state as it is now: ``j`` steps of the
        window, or (``counts`` given) ``counts[r]`` steps of each of its first ``j`` runs."""
        self.cols.append((sol.v_terminal[:j], sol.i[:j], sol.compliance[:j], temp[:j],
                          None if counts is None else counts[:j]))
        dev = self.dev
        phi = dev.phi_partial
        if phi != self._partial[0]:
            self._partial = (phi, dev.partial_transmission)
        steps = j if counts is None else int(counts[:j].sum())
        self.runs.append((steps, dev.n, self._partial[1], dev.tau_sum))

    def _rates(self, sol: CircuitSolution, k: int, e: int
               ) -> tuple[list[Process], NDArray[np.float64]]:
        span = self._span(k, e)
        return self.dev._rates(sol, span, self.fluct.tip[k:e] if self.fluct.has_tip else None)

    def _span(self, k: int, e: int) -> float:
        """Duration of steps ``k:e`` as scheduled (>= what is left of them)."""
        return float(self.t_end[e - 1] - (self.t_end[k - 1] if k else self.t0))

    def _solve(self, k: int, e: int, start_from: tuple[int, CircuitSolution,
               NDArray[np.float64]] | None = None) -> CircuitSolution:
        """Operating point of steps ``k:e``, kept (with the conduction) for the next event.

        ``start_from``: ``(k0, sol, g_open)`` of an earlier solve from step ``k0`` whose
        partial channel still holds: its roots give a warm start.
        """
        dev, p = self.dev, self.dev.params
        g_open, phi = dev._conduction(self.fluct[k:e])
        r_total = p.r_series + self.r_source
        start = None
        if start_from is not None:
            k0, old, g_old = start_from
            start = warm_start(_tail(old, k - k0), g_open - g_old[k - k0:], r_total)
        sol = solve_operating_point(self.v[k:e], self.ilim[k:e], r_total, g_open, phi,
                                    p.alpha, p.beta, p.r_series, start, self._bounds(k, e))
        self._last = (k, sol, g_open)
        return sol

    def _bounds(self, k: int, e: int) -> tuple[float, float, float]:
        """``bounds`` of :func:`solve_operating_point` for steps ``k:e``: what the solve
        would find by reductions per window, from the signs of the steps (counts up to
        each step) and the largest |v| and barrier offset of the drive."""
        if self._signs is None:
            v = self.v
            self._signs = (np.cumsum(v < 0), np.cumsum(v > 0),
                           float(np.abs(v).max(initial=0.0)))
        n_neg, n_pos, v_max = self._signs
        neg = n_neg[e - 1] - (n_neg[k - 1] if k else 0)
        pos = n_pos[e - 1] - (n_pos[k - 1] if k else 0)
        return (-v_max if neg else 0.0, v_max if pos else 0.0,
                max(self.dev.phi_partial + self._dphi_max, 0.0))

    def _after_event(self, k: int, e: int, kept: bool
                     ) -> tuple[CircuitSolution, list[Process], NDArray[np.float64]]:
        """Steps ``k:e`` after an event inside the solved window ``self._last``.

        ``kept``: the conduction did not change, the operating point holds and only the
        rates are new; else only the open channels changed: warm-started solve.
        """
        if kept:
            k0, old, g_old = self._last
            sol = _tail(old, k - k0)
            self._last = (k, sol, g_old[k - k0:])
        else:
            sol = self._solve(k, e, self._last)
        procs, temp = self._rates(sol, k, e)
        return sol, procs, temp

    def _after_arrival(self, k: int, evaluated: tuple[int, list[Process], NDArray[np.float64]]
                       ) -> tuple[CircuitSolution, list[Process], NDArray[np.float64]]:
        """Steps from ``k`` on after a vacancy arrival: the operating point holds, and the
        rates of the window ``evaluated`` from step ``k0`` hold but the supply's (one
        numpy expression instead of all rate functions: the arrivals are most of the
        events of a DC SET). Processes the full evaluation would now skip as negligible
        over the shorter rest of the window stay in (their hazard is below 1e-12)."""
        k0, procs, temp = evaluated
        j0, old, g_old = self._last
        sol = _tail(old, k - j0)
        self._last = (k, sol, g_old[k - j0:])
        off = k - k0
        supply = _supply_rate(self.dev, off)
        return sol, [(kind, supply if kind == _SUPPLY else
                      (r[off:] if isinstance(r, np.ndarray) else r)) for kind, r in procs], \
            temp[off:]

    def _event_in_step(self, procs: list[Process], sol: CircuitSolution, k: int,
                       event: tuple[int, float, int], e: int
                       ) -> tuple[int, bool, bool] | None:
        """Spend step ``k + j`` up to the ``event`` ``(j, time into the step, clock)``,
        apply it (a shared clock's event picked by the rates there).

        The rest of the step stays in ``dts`` and runs with the new state, so one long
        step can hold many events. Returns ``(e, True, arrival)`` when the event left the
        conduction unchanged (the window's operating point still holds; ``arrival``: it
        was a vacancy arrival that completed no channel, so only the supply's rate
        changed), ``(e, False, False)`` when it changed only the open channels (the
        window's roots are a warm start), else None (a fresh window).
        """
        j, tau, clock = event
        kind, before, after = self.apply_event(procs, sol, j, k + j, tau / self.dts[k + j],
                                               clock)
        if self._last is None:
            return None
        if after == before:
            return e, True, kind == _SUPPLY and self.dev.vacancies > 0
        # the partial channel (open or closed, its barrier) unchanged: open channels only
        return (e, False, False) if after[1:2] + after[3:] == before[1:2] + before[3:] \
            else None

    def apply_event(self, procs: list[Process], sol: CircuitSolution, at: int, step: int,
                    frac: float, clock: int
                    ) -> tuple[int, tuple[int, bool, float, float],
                               tuple[int, bool, float, float]]:
        """Spend ``frac`` of ``step`` and apply the event of ``clock`` at element ``at`` of
        the window: a staged process's, or one of the shared clock's processes picked by
        their rates there (then the shared clock's next budget is drawn); the event's
        kind and the conduction key before and after."""
        dev = self.dev
        self.dts[step] *= max(0.0, 1.0 - frac)
        kind = clock
        if clock == _SHARED:
            shared = _shared(procs)
            cum = list(accumulate(_at(r, at) for _, r in shared))
            pick = bisect_right(cum, dev.rng.random() * cum[-1])
            kind = shared[min(pick, len(shared) - 1)][0]
        x = float(sol.v_constriction[at])
        if kind == _TIP_FIX:  # the open tip's sign says which way it is incorporated
            x = float(self.fluct[step:step + 1].tip[0])
        before = dev._conduction_key()
        dev._apply(kind, float(sol.i[at]), x)
        if clock == _SHARED:
            dev.clocks.shared = float(dev.rng.exponential())
        return kind, before, dev._conduction_key()


class _ByRuns:
    """The event loop of a drive made of runs of identical steps, worked once per run.

    A sampled waveform repeats each source value for a whole plateau (100 samples of a
    5 ms pulse) and the offsets change only at their ticks, so the circuit, the rates and
    the hazard are evaluated per run (the hazard of a run is its rate times its
    duration); only the run holding the next event is looked at step by step, and the
    columns are spread to the steps once, when the drive's result is assembled.
    """

    def __init__(self, drive: _Drive, starts: NDArray[np.int64]) -> None:
        self.drive = drive
        self.starts = starts
        self.ends = np.append(starts[1:], drive.v.size)
        self.v, self.ilim = drive.v[starts], drive.ilim[starts]
        self.fluct = drive.fluct[starts]
        self.tip = self.fluct.tip if self.fluct.has_tip else None
        el = drive.elapsed
        self.length = self.ends - starts
        self.duration = el[self.ends - 1] - np.concatenate(([0.0], el[self.ends[:-1] - 1]))

    def run(self) -> None:
        """Window after window of runs, from one event to the next."""
        size, runs = self.drive.v.size, self.starts.size
        # a run costs little: a drive starts with a long window (a PMU waveform's 500
        # pulses), and after an event the window restarts short (events come in bursts)
        k, a, window = 0, 0, _W_RUNS
        while k < size:
            b = min(runs, a + window)
            moved = self._window(k, a, b)
            if moved is None:
                k, a, window = int(self.ends[b - 1]), b, min(8 * window, _W_MAX)
            else:
                k, a, window = moved[0], moved[1], _W0

    def _window(self, k: int, a: int, b: int) -> tuple[int, int] | None:
        """Runs ``a:b`` from step ``k`` (inside run ``a``) up to the next event.

        Returns None when no event happened, else ``(step, run)`` of the event (the rest
        of that step runs with the new state).
        """
        drive, dev = self.drive, self.drive.dev
        sol = dev._operating_point(self.v[a:b], self.ilim[a:b], drive.r_source,
                                   self.fluct[a:b])
        procs, temp = dev._rates(sol, drive._span(k, int(self.ends[b - 1])),
                                 None if self.tip is None else self.tip[a:b])
        counts = self.length[a:b].copy()
        counts[0] = self.ends[a] - k
        if not procs:
            drive._commit(b - a, sol, temp, counts)
            return None
        duration = self.duration[a:b].copy()
        # the first run from step k on (that step possibly partly spent by an event)
        duration[0] = drive.elapsed[self.ends[a] - 1] - drive.elapsed[k] + drive.dts[k]
        event = _next_event(dev.clocks, procs, duration)
        if event is None:
            drive._commit(b - a, sol, temp, counts)
            return None
        r, tau, clock = event
        first = k if r == 0 else int(self.starts[a + r])
        # the steps of run r up to the event (its rates are constant over the run)
        cum = drive.dts[first:self.ends[a + r]].cumsum()
        j = min(int(cum.searchsorted(tau)), cum.size - 1)
        frac = (tau - (float(cum[j - 1]) if j else 0.0)) / drive.dts[first + j]
        counts[r] = j
        drive._commit(r + 1, sol, temp, counts)
        drive.apply_event(procs, sol, r, first + j, frac, clock)
        return first + j, a + r


def _supply_rate(dev: QCDevice, offset: int) -> NDArray[np.float64]:
    """The vacancy supply's rate over the window last evaluated, from its element
    ``offset`` on, with the arrivals so far (an arrival changes only this rate)."""
    base, reach = dev._supply_terms
    return base[offset:] * np.clip(reach[offset:] - dev.vacancies
                                   / dev.params.supply_stages, 0.0, 1.0)


def _flicker(p: QCParams, x: NDArray[np.float64], osc_phase: int, n: int) -> list[Process]:
    """A flickering contact during RESET re-forms, breaks again and settles."""
    window = x < -_OSC_WINDOW_V
    procs: list[Process] = []
    if osc_phase == 1:
        procs.append((_REFORM, np.where(window, p.nu_oscillation, 0.0)))
    elif n > 0:
        procs.append((_REBREAK, np.where(window, p.nu_oscillation, 0.0)))
    procs.append((_SETTLE, np.where(window, p.nu_oscillation_end, 1e6)))
    return procs


def _growth(p: QCParams, w: _Window) -> list[Process]:
    """Creation of a channel (field-lowered barrier, filament temperature)."""
    site = max(0.0, 1.0 - w.m / p.n_sat)
    # each channel crowds the next one's entry; beyond m_wide_create the neck widens
    # at its rim, where a new channel costs less
    e_c = (p.e_create + p.eps_create * min(w.m, p.m_wide_create)
           + p.eps_create_wide * max(w.m - p.m_wide_create, 0.0))
    kt_max = _KB_EV * float(w.temp.max())
    bound = p.nu0 * site * np.exp(-max(e_c - p.gamma_create * w.x_max, 0.0) / kt_max)
    if site <= 0.0 or bound <= w.negligible:
        return []
    barrier = np.maximum(e_c - p.gamma_create * w.x, 0.0)
    return [(_CREATE, p.nu0 * site * np.exp(-barrier / (_KB_EV * w.temp)))]

def _removal(p: QCParams, w: _Window) -> list[Process]:
    """Joule-driven removal of the outer channel and zero-bias dissolution.

    Removal is Joule-assisted at the neck (RESET: thermally driven dissolution); the
    field only helps a little, so a RESET stops once the power has fallen. Under
    positive bias the field drives vacancies into the neck, which outweighs the thermal
    out-diffusion: there removal sees only the filament temperature.
    """
    m = w.m
    if m <= 0:
        return []
    # beyond m_wide channels the neck's outer channels are all alike: the removal
    # barrier stops falling with size
    e_r = (p.e_remove - p.eps_remove * min(m, p.m_wide)
           + p.e_last * np.exp(-m / p.m_last))
    r_th = p.r_thermal_reset
    if p.m_thermal > 0:  # spreading resistance of a contact of radius ~ sqrt(m)
        r_th = r_th * np.sqrt(p.m_thermal / max(m, p.m_thermal_floor))
    # (a window of forward bias only has the filament temperature at the neck)
    t_neck = w.temp if w.x_min >= 0 else np.where(w.x < 0, p.t_ambient + r_th * w.power,
                                                  w.temp)
    kt_neck_max = _KB_EV * float(t_neck.max())
    procs: list[Process] = []
    if p.nu0 * np.exp(-max(e_r + p.gamma_remove * w.x_min, 0.0) / kt_neck_max) \
            > w.negligible:
        barrier = np.maximum(e_r + p.gamma_remove * w.x, 0.0)
        procs.append((_REMOVE, p.nu0 * np.exp(-barrier / (_KB_EV * t_neck))))
    if p.nu_decay > 0:
        # a thin filament dissolves at zero bias (retention grows with the level)
        decay = p.nu_decay * np.exp(-m / p.m_decay)
        if decay * w.span > 1e-12:
            procs.append((_REMOVE, decay))
    return procs


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
        #: the supply's rate terms over the last window evaluated: (rate at full reach, reach)
        self._supply_terms: tuple[NDArray[np.float64], NDArray[np.float64]] = (
            np.zeros(0), np.zeros(0))
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
            and x < -_OSC_WINDOW_V
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
        if kind in self.clocks.staged:
            self.clocks.staged[kind].draw(self.rng)

    @property
    def soft_stage(self) -> float:
        """Progress towards the next regrown trace channel (fraction of its sub-steps)."""
        return self.clocks.staged[_SOFT].progress

    @property
    def strip_stage(self) -> float:
        """Progress towards the next stripped weak channel (fraction of its sub-steps)."""
        return self.clocks.staged[_STRIP].progress

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

    def _operating_point(
        self,
        v: NDArray[np.float64],
        ilim: NDArray[np.float64],
        r_source: float,
        fl: Fluctuations,
    ) -> CircuitSolution:
        p = self.params
        g_open, phi = self._conduction(fl)
        return solve_operating_point(
            v, ilim, p.r_series + r_source, g_open, phi, p.alpha, p.beta, p.r_series
        )

    def _conduction(self, fl: Fluctuations
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Summed open-channel transmission and partial-channel barrier (eV) per step."""
        if self.n > 0:
            # the rearranged neck's offset scales with the neck as it is now
            g_open = np.maximum(self.tau_sum + fl.tip + fl.dg
                                + fl.dg_neck * math.sqrt(self.n), 0.0)
        else:
            g_open = np.maximum(fl.tip, 0.0)
        return g_open, self.phi_partial + (fl.dphi_half if self.half else fl.dphi)

    def _conduction_key(self) -> tuple[int, bool, float, float]:
        """Everything :meth:`_conduction` reads of the state (the event loop keeps an
        operating point while this does not change)."""
        return self.n, self.half, self.tau_sum, self.phi_partial

    def _rates(
        self, sol: CircuitSolution, span: float, tip: NDArray[np.float64] | None
    ) -> tuple[list[Process], NDArray[np.float64]]:
        """Active processes ``(kind, rate per step in 1/s)`` and the temperature per step.

        A process is left out when a rigorous upper bound of its rate over the window
        (extreme voltage, hottest step) times the window's duration ``span`` is below
        1e-12, i.e. when it could not fire with more than that probability: read and
        rest windows then cost almost nothing.
        """
        p = self.params
        x = sol.v_constriction
        power = np.abs(sol.i * x)
        w = _Window(x=x, power=power, temp=p.t_ambient + p.r_thermal * power, span=span,
                    m=self.n + 0.5 * self.half)
        procs = _growth(p, w) + _removal(p, w) + self._body(w)
        if self.n > 0 and tip is not None and tip.any():
            procs.append((_TIP_FIX, (p.p_tip_fix * p.nu_tip_relax / p.tip_t) * np.abs(tip)))
        if self.osc_phase:
            procs += _flicker(p, x, self.osc_phase, self.n)
        return procs, w.temp

    def _body(self, w: _Window) -> list[Process]:
        """Diffusive channels dissolving, unbacked neck channels relaxing or annealing."""
        p = self.params
        procs: list[Process] = []
        hold = np.exp(-max(w.x_min, 0.0) / p.v_diffuse)
        # diffusive channels dissolve unless the body reaches out to them
        excess = self.n - max(p.n_ballistic, self.n_body)
        if excess > 0 and p.nu_diffuse * excess * hold > w.negligible:
            procs.append((_DIFFUSE, p.nu_diffuse * excess
                          * np.exp(-np.maximum(w.x, 0.0) / p.v_diffuse)))
        unbacked = int(np.ceil(w.m - self.n_body))
        if unbacked > 0:
            # neck channels beyond the body's width relax once the field is gone
            if p.nu_volatile * unbacked * np.exp(-max(w.x_min, 0.0) / p.v_hold) \
                    > w.negligible:
                procs.append((_RELAX, p.nu_volatile * unbacked
                              * np.exp(-np.maximum(w.x, 0.0) / p.v_hold)))
        return procs + self._trace(w) + self._anneal(w)

    def _trace(self, w: _Window) -> list[Process]:
        """Weak regrowth into, and stripping out of, the trace of a thinned body.

        Strong SET-polarity bias regrows the body a RESET thinned, channel by channel, at
        ``nu_soft`` per channel of the trace (``n_peak``) not yet regrown; strong RESET
        polarity strips the weakly held channels (``n_body - n_firm``) at ``nu_strip``
        per channel: first-order, gradual potentiation and depression (Fig. 7b).
        """
        p = self.params
        procs: list[Process] = []
        trace = self.n_peak - self.n_body
        k = p.trace_stages  # sub-steps per channel, each at k times the channel's rate
        if trace > 0 and w.x_max > p.v_rearrange and k * p.nu_soft * trace * w.span > 1e-12:
            procs.append((_SOFT, k * p.nu_soft * trace * (w.x > p.v_rearrange)))
        weak = self.n_body - self.n_firm
        if weak > 0 and w.x_min < -p.v_rearrange and k * p.nu_strip * weak * w.span > 1e-12:
            procs.append((_STRIP, k * p.nu_strip * weak * (w.x < -p.v_rearrange)))
        return procs

    def _anneal(self, w: _Window) -> list[Process]:
        """Neck channels consolidated into the body, fast in the core of the hot zone and
        supply-limited beyond it.

        The hot zone reaches ``reach(P)`` channels (the cross-section above the vacancy
        mobility temperature, capped by the diffusive shell). Its inner part, the core
        (``anneal_core`` of the reach), consolidates at ``nu_anneal`` per missing channel
        within a pulse; beyond the core the body grows only as fast as SET-polarity drift
        brings vacancies in: one channel per ``supply_stages`` arrivals at
        ``supply_stages * nu_supply`` per second (zero order, tapered over the last
        fraction of a channel and over the last ``supply_sites`` unconsolidated neck
        channels). Paper 000 L110: 2-4 pulses give "initial jumps up to ~18 G0, as
        insufficient pulse count limits vacancy accumulation", 6-10 pulses ~25 G0: a
        jump, then a steady climb, not one exponential approach. Counting arrivals
        (Erlang) rather than drawing one channel per event keeps the pulse-to-pulse
        scatter of that climb below a Poisson count's.
        """
        p = self.params
        unfirm = int(np.ceil(w.m - self.n_firm))  # neck channels not consolidated yet
        if unfirm <= 0:
            return []
        target = np.minimum((w.power / p.p_anneal) ** p.k_anneal,
                            p.n_ballistic + (w.power / p.p_anneal_shell) ** p.k_anneal_shell)
        reach = target - self.n_firm
        r_max = float(reach.max())
        if r_max <= 0:
            return []
        core = p.anneal_core * target - self.n_firm
        supply = p.supply_stages * p.nu_supply * min(1.0, (w.m - self.n_firm) / p.supply_sites)
        bound = p.nu_anneal * min(unfirm, max(float(core.max()), 0.0)) + supply * min(r_max, 1.0)
        if bound * w.span <= 1e-12:
            return []  # too slow to fire within the window (reads, rests)
        procs = [(_ANNEAL, p.nu_anneal * np.minimum(np.maximum(core, 0.0), unfirm))]
        if supply > 0 and w.x_max > 0:
            self._supply_terms = (supply * (w.x > 0), reach)
            procs.append((_SUPPLY, _supply_rate(self, 0)))
        return procs

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
