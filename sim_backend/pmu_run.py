"""Running a simulated PMU test (``:PMU:EXECUTE``): units, the sample rate, one device
drive, the measured points and their status words (a part of
:class:`sim_backend.kxci.KXCIEngine`; Segment Arb units in :mod:`sim_backend.pmu_sarb`).

The device sits between PMU channel 1 and ground; the PMU is a 50 Ω source
[M 7-11] with no current-limit command in the ``:PMU:`` set [M 7-3, 7-4]; the LOAD
setting scales the internal source, ``V_int = V·(R_load + 50)/R_load`` [M 7-11]; with
load-line effect compensation the measured DUT load replaces the LOAD setting, found by
pre-pulses at each level before the test [M 7-10]; currents beyond 1.05 × range saturate
and set the overflow bits; ``series_ohms`` adds a physical resistor on the PMU path.

Sample rate [M 7-24]: the programmed rate is raised to the slowest rate that samples the
shortest measure interval (``1/shortestMeasureInterval``) and lowered to the fastest rate
that keeps every channel within 65 536 points (``65536/TotalMeasureDuration``), on the
200 MS/s / n grid [M 7-23]; when the first exceeds the second the test is refused with
-952 (pulse) or -951 (Segment Arb) [M 2-13].
"""

from __future__ import annotations

import numpy as np

from sim_backend.kxci_common import KXCIError
from sim_backend.pmu_sarb import sarb_specs
from sim_backend.pmu_schedule import (
    UnitSpec,
    Window,
    check_internal,
    pulse_breakpoints,
    source_gain,
    unit_schedule,
)
from sim_backend.pmu_state import (
    MAX_POINTS,
    MAX_STEPS,
    PMU_I_RANGES,
    R_SOURCE,
    RPM_I_RANGES,
    SAMPLE_CLOCK,
    PulseChannel,
    i_code,
)
from sim_backend.pmu_sweep import MAX_PIV_POINTS, pulse_points

#: pre-pulses per level for load-line effect compensation [M 7-10]
LLEC_ITERATIONS = 2


def grid_rate_at_least(rate: float) -> float:
    """The slowest 200 MS/s / n rate not below ``rate`` [M 7-23]."""
    return SAMPLE_CLOCK / max(1, int(np.floor(SAMPLE_CLOCK / rate + 1e-9)))


def _reduced_rate(plans: dict[int, list[UnitSpec]], slowest: float, code: int,
                  paired: bool) -> float:
    """The fastest 200 MS/s / n rate that keeps every channel within 65 536 points; -951 /
    -952 (``code``) when even 1 kS/s does not, or when it is below ``slowest`` [M 7-24]."""

    def worst(r: float) -> int:
        return max(records(specs, r, paired) for specs in plans.values())

    wave = max(sum((w.stop - w.start) * (1 if w.average else s.repeats)
                   for s in specs for w in s.windows if w.kind == "wave")
               for specs in plans.values())
    n = max(1, int(np.ceil(SAMPLE_CLOCK * wave / MAX_POINTS)))
    n_max = int(SAMPLE_CLOCK / 1e3)  # the slowest rate, 1 kS/s [M 7-23]
    while n <= n_max and worst(SAMPLE_CLOCK / n) > MAX_POINTS:
        n += 1
    if n > n_max:
        raise KXCIError(code, "more than 65536 points even at 1 kS/s")
    rate = SAMPLE_CLOCK / n
    if rate < slowest * (1 - 1e-9):
        raise KXCIError(code, f"needs >= {slowest:g} S/s for the shortest interval "
                        f"and <= {rate:g} S/s for 65536 points")
    return rate


def records(specs: list[UnitSpec], rate: float, paired: bool) -> int:
    """Data points of one channel at sample ``rate``: waveform samples plus spot means;
    with ``paired`` (pulse mode) a pulse's high and low spot means share one record
    [M 7-8]."""
    total = 0
    for s in specs:
        wave = sum(w.points(rate, s.repeats) for w in s.windows if w.kind == "wave")
        spot = [w.points(rate, s.repeats) for w in s.windows if w.kind == "spot"]
        total += wave + ((max(spot) if paired else sum(spot)) if spot else 0)
    return total


class PMURunner:
    """Planning, simulating and recording one PMU test.

    Parameters
    ----------
    st : the instrument's shared state (pulse channels, PMU settings, the device).
    """

    def __init__(self, st) -> None:
        self.st = st

    # ------------------------------------------------------------------ planning
    def _pulse_specs(self, c: PulseChannel, points: list[tuple[float, float]]) -> list[UnitSpec]:
        """One unit per (step, sweep) point, repeated ``burst`` times [M 7-13, 7-17]."""
        mm = self.st.pmu.measure_mode
        average = mm in (3, 4)
        dur = c.width + 0.5 * (c.rise + c.fall)
        windows: list[Window] = []
        if mm in (2, 4):
            pre, post = c.wf_fractions  # fractions of width + (rise + fall)/2 [M 7-34]
            a, b = max(0.0, c.delay - pre * dur), min(c.period, c.delay + dur + post * dur)
            windows.append(Window(a, b, "wave", average=average))
        elif mm in (1, 3):
            # fractions of the width from the rise's 50 % point [M 7-32, 7-33]; the low
            # level uses the same fractions of the off time
            top0, top = c.delay + 0.5 * c.rise, c.width
            low0, low = c.delay + dur, c.period - c.delay - dur
            f0, f1 = c.piv
            if c.acquire[0]:
                windows.append(Window(top0 + f0 * top, top0 + f1 * top, "spot", 0, average))
            if c.acquire[1]:
                windows.append(Window(low0 + f0 * low, low0 + f1 * low, "spot", 1, average))
        specs = []
        for base, top in points:
            bt, bv = pulse_breakpoints(base, top, c.period, c.width, c.rise, c.fall, c.delay)
            spec = UnitSpec(bt, bv, windows, self.st.pmu.burst, source_gain(c))
            check_internal(c, spec)
            specs.append(spec)
        if mm in (1, 3) and records(specs, 1.0, paired=True) > MAX_PIV_POINTS:
            raise KXCIError(-949)
        return specs

    def _choose_rate(self, plans: dict[int, list[UnitSpec]], code: int,
                     paired: bool) -> float:
        """The test's sample rate by the manual's rule [M 7-24] (see the module doc)."""
        windows = [(w, s.repeats) for specs in plans.values() for s in specs
                   for w in s.windows]
        if not windows:
            return self.st.pmu.sample_rate
        shortest = min(w.stop - w.start for w, _ in windows)
        slowest = grid_rate_at_least(1.0 / shortest) if shortest > 0 else SAMPLE_CLOCK
        if slowest > SAMPLE_CLOCK * (1 + 1e-9):
            raise KXCIError(code, f"measure interval {shortest:g} s")
        rate = max(self.st.pmu.sample_rate, slowest)

        if max(records(specs, rate, paired) for specs in plans.values()) > MAX_POINTS:
            rate = _reduced_rate(plans, slowest, code, paired)
        return rate

    def _llec(self, c: PulseChannel, specs: list[UnitSpec]) -> None:
        """Load-line effect compensation: pre-pulses at each level measure the DUT load,
        which then replaces the LOAD setting in the source gain [M 7-10]."""
        top0 = c.delay + 0.5 * c.rise
        window = Window(top0 + c.piv[0] * c.width, top0 + c.piv[1] * c.width, "spot")
        c.llec_gain = []
        for spec in specs:
            top = float(np.max(np.abs(spec.bv)))
            if top == 0:
                c.llec_gain.append(spec.gain)
                continue
            for _ in range(LLEC_ITERATIONS):
                unit = unit_schedule(spec.bt, spec.bv, [window], SAMPLE_CLOCK)
                res = self.st.device.drive(unit.dt, unit.level * spec.gain,
                                        np.full(unit.dt.size, np.inf),
                                        r_source=R_SOURCE + self.st.series_ohms)
                _, first, m = unit.windows[0]
                v = float(np.mean(np.asarray(res.v)[first:first + m]))
                i = float(np.mean(np.asarray(res.i)[first:first + m]))
                if i == 0 or v == 0:
                    break
                r_dut = abs(v / i) + self.st.series_ohms
                spec.gain = (r_dut + R_SOURCE) / r_dut
                check_internal(c, spec)
            c.llec_gain.append(spec.gain)

    # ------------------------------------------------------------------ running
    def run_test(self, active: list[PulseChannel]) -> float:
        """Plan, validate and simulate the test on every active channel; its duration."""
        sarb = self.st.pmu.mode == 1
        if sarb:
            plans = {c.number: sarb_specs(c) for c in active}
        else:
            points = pulse_points(active)
            plans = {c.number: self._pulse_specs(c, points[c.number]) for c in active}
        rate = self._choose_rate(plans, -951 if sarb else -952, paired=not sarb)
        duration = max(sum(float(s.bt[-1]) * s.repeats for s in specs)
                       for specs in plans.values())
        wired_done = False
        for c in active:
            wired = c.number == 1 and (not c.rpm or c.rpm_mode == 0)
            specs = plans[c.number]
            if wired and c.llec and not sarb:
                self._llec(c, specs)
            for s in specs:
                s.schedule = unit_schedule(s.bt, s.bv, s.windows, rate)
            c.data = self._simulate(c, specs, wired, sarb)
            wired_done |= wired
        if not wired_done:
            self.st.device.rest(duration)  # nothing drives the device while the test runs
        return duration

    def _simulate(self, c: PulseChannel, specs: list[UnitSpec], wired: bool,
                  sarb: bool) -> np.ndarray:
        """Drive the device through all units at once and extract the measured points."""
        units = [(s.schedule, s.repeats) for s in specs]
        n_steps = sum(u.dt.size * loops for u, loops in units)
        if n_steps > MAX_STEPS:
            raise KXCIError(-986, f"simulator: {n_steps} steps > {MAX_STEPS}")
        dt = np.concatenate([np.tile(u.dt, loops) for u, loops in units])
        v_int = np.concatenate([np.tile(u.level * s.gain, s.repeats)
                                for s, (u, _) in zip(specs, units, strict=True)])
        closed = np.concatenate([np.tile(self._relay_closed(s), s.repeats) for s in specs])
        if wired and n_steps:
            i_limit = np.where(closed, np.inf, 1e-15)  # open relay: no current [M 7-46]
            res = self.st.device.drive(dt, v_int, i_limit, r_source=R_SOURCE + self.st.series_ohms)
            self.st.last_truth = res
            i_all = np.where(closed, np.asarray(res.i), 0.0)
            v_all = np.where(closed, np.asarray(res.v) + i_all * self.st.series_ohms, v_int)
        else:
            i_all = np.zeros(n_steps)
            v_all = v_int  # open circuit: the full internal voltage at the terminal
        c.range_used = self._range_for(c, float(np.max(np.abs(i_all), initial=0.0)))
        parts = []  # per unit: [(window, sample indices (repeats, m), times (repeats, m))]
        offset_steps, offset_t = 0, 0.0
        for u, loops in units:
            rows = []
            for w, first, m in u.windows:
                idx = (offset_steps + np.arange(loops)[:, None] * u.dt.size + first
                       + np.arange(m)[None, :])
                t = (offset_t + np.arange(loops)[:, None] * u.duration
                     + u.t_start[first:first + m][None, :])
                rows.append((w, idx, t))
            parts.append(rows)
            offset_steps += u.dt.size * loops
            offset_t += u.duration * loops
        return self._records(c, parts, v_all, i_all, sarb)

    @staticmethod
    def _relay_closed(spec: UnitSpec) -> np.ndarray:
        u = spec.schedule
        closed = np.ones(u.dt.size, dtype=bool)
        mid = u.t_start + 0.5 * u.dt
        for a, b in spec.open_spans:
            closed &= ~((mid >= a) & (mid < b))
        return closed

    @staticmethod
    def _range_for(c: PulseChannel, i_peak: float) -> float:
        """The current range of the test: the fixed one, or for (limited) autorange the
        smallest range holding the peak current (not below the given one for limited
        auto) [M 7-15, 7-16]; one range per test is a simplification of per-point ranging."""
        if c.range_type == 2:
            return c.i_range
        table = sorted((RPM_I_RANGES if c.rpm else PMU_I_RANGES)[c.v_range])
        if c.range_type == 1:
            table = [r for r in table if r >= c.i_range * (1 - 1e-9)] or table[-1:]
        return next((r for r in table if i_peak <= r), table[-1])

    # ------------------------------------------------------------------ records
    def _status(self, c: PulseChannel, kind, i_over, v_over) -> np.ndarray:
        """The 32-bit status word [LPT 6-23, 6-24]: RPM, measure type, overflow, ranges,
        channel."""
        local = (c.number - 1) % 2 + 1
        rpm_bit = 1 if c.rpm and c.rpm_mode == 0 else 0
        base = (rpm_bit << 24) | (i_code(c.range_used) << 4) \
            | ((0 if c.v_range == 10 else 1) << 2) | local
        return (base | (np.asarray(kind, dtype=np.int64) << 16)
                | (np.asarray(i_over, dtype=np.int64) * (3 << 10))
                | (np.asarray(v_over, dtype=np.int64) * (3 << 8))).astype(float)

    def _measure(self, c: PulseChannel, v: np.ndarray, i: np.ndarray):
        i_lim = 1.05 * c.range_used
        v_lim = 1.05 * c.v_range
        i_over, v_over = np.abs(i) > i_lim, np.abs(v) > v_lim
        return np.clip(v, -v_lim, v_lim), np.clip(i, -i_lim, i_lim), i_over, v_over

    def _window_records(self, c, w: Window, idx, t, v_all, i_all) -> np.ndarray:
        """(time, V, I, kind, I over, V over) per record of one window, in time order."""
        v, i, i_over, v_over = self._measure(c, v_all[idx], i_all[idx])
        if w.kind == "spot":
            axis = (0, 1) if w.average else 1
            rec = [t[:, 0], v.mean(axis=axis), i.mean(axis=axis), i_over.any(axis=axis),
                   v_over.any(axis=axis)]
            if w.average:
                rec = [t[:1, 0]] + [np.atleast_1d(x) for x in rec[1:]]
            kind = 1
        else:
            if w.average:
                rec = [t[0], v.mean(axis=0), i.mean(axis=0), i_over.any(axis=0),
                       v_over.any(axis=0)]
            else:
                rec = [x.ravel() for x in (t, v, i, i_over, v_over)]
            kind = 2
        n = rec[0].size
        return np.column_stack([rec[0], rec[1], rec[2], np.full(n, kind), rec[3], rec[4]])

    def _records(self, c, parts, v_all, i_all, sarb) -> np.ndarray:
        """``V,I,T,S`` rows (waveform, Segment Arb) or ``VH,IH,TH,SH,VL,IL,TL,SL`` rows
        (pulse spot mean) [M 7-7, 7-8]."""
        mm = self.st.pmu.measure_mode
        if sarb or mm in (2, 4):
            return self._wave_records(c, parts, v_all, i_all, sarb)
        if mm in (1, 3):
            out = [self._spot_records(c, rows, v_all, i_all) for rows in parts]
            return np.concatenate(out) if out else np.empty((0, 8))
        return np.empty((0, 4))

    def _wave_records(self, c, parts, v_all, i_all, sarb) -> np.ndarray:
        """``V,I,T,S`` rows of every window, in time order for Segment Arb."""
        recs = [self._window_records(c, w, idx, t, v_all, i_all)
                for rows in parts for w, idx, t in rows]
        allp = np.concatenate(recs) if recs else np.empty((0, 6))
        if sarb:
            allp = allp[np.argsort(allp[:, 0], kind="stable")]
        s = self._status(c, allp[:, 3].astype(np.int64), allp[:, 4].astype(bool),
                         allp[:, 5].astype(bool))
        return np.column_stack([allp[:, 1], allp[:, 2], allp[:, 0], s])

    def _spot_records(self, c, rows, v_all, i_all) -> np.ndarray:
        """``VH,IH,TH,SH,VL,IL,TL,SL`` rows of one unit: the high and low spot means."""
        cols = []
        n = max((r[1].shape[0] if not r[0].average else 1 for r in rows), default=0)
        for tag in (0, 1):
            match = [r for r in rows if r[0].tag == tag]
            if match:
                rec = self._window_records(c, *match[0], v_all, i_all)
                tm, vm, im, io, vo = rec[:, 0], rec[:, 1], rec[:, 2], rec[:, 4], rec[:, 5]
            else:  # not acquired [M 7-14]: zeros
                tm = vm = im = np.zeros(n)
                io = vo = np.zeros(n, dtype=bool)
            cols += [vm, im, tm, self._status(c, 1, io.astype(bool), vo.astype(bool))]
        return np.column_stack(cols)
