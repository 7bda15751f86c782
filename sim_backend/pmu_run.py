"""Running a simulated PMU test (``:PMU:EXECUTE``): the schedule, one device drive, the
measured points and their status words (mixed into :class:`sim_backend.kxci.KXCIEngine`).

The device sits between PMU channel 1 and ground; the PMU is a 50 Ω source with no
current limit (``i_limit = inf``) [M 7-11, 7-24]; the LOAD setting scales the internal
source, ``V_int = V·(R_load + 50)/R_load`` [M 7-11]; currents beyond 1.05 × range saturate
and set the overflow bits; ``series_ohms`` adds a physical resistor on the PMU path.
"""

from __future__ import annotations

import numpy as np

from sim_backend.kxci_common import KXCIError
from sim_backend.pmu_schedule import (
    UnitSchedule,
    Window,
    pulse_breakpoints,
    segment_breakpoints,
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


class PMURun:
    """Planning, simulating and recording one PMU test."""

    def _internal(self, c: PulseChannel, levels: np.ndarray) -> np.ndarray:
        v_int = levels * (c.load + R_SOURCE) / c.load
        if np.max(np.abs(v_int), initial=0.0) > c.v_range * (1 + 1e-9):
            raise KXCIError(-964, f"{np.max(np.abs(v_int)):g} V internal on the "
                            f"{c.v_range} V range with load {c.load:g}")
        return v_int

    def _plan_pulse(self, c: PulseChannel):
        """Units (one per pulse period) of a standard pulse train."""
        mm = self.pmu.measure_mode
        bt, bv = pulse_breakpoints(c.base, c.amplitude, c.period, c.width, c.rise, c.fall,
                                   c.delay)
        self._internal(c, bv)
        dur = c.width + 0.5 * (c.rise + c.fall)
        windows: list[Window] = []
        rate = self.pmu.sample_rate
        if mm in (2, 4):
            pre, post = c.wf_fractions
            a, b = max(0.0, c.delay - pre * dur), min(c.period, c.delay + dur + post * dur)
            per_pulse = int(np.floor((b - a) * rate + 1e-6))
            total = per_pulse * (1 if mm == 4 else self.pmu.burst)
            n = 1
            while total > MAX_POINTS:  # rate auto-lowered to fit 65 536 points [M 7-23]
                n += 1
                rate = SAMPLE_CLOCK / n
                per_pulse = int(np.floor((b - a) * rate + 1e-6))
                total = per_pulse * (1 if mm == 4 else self.pmu.burst)
            windows.append(Window(a, b, "wave"))
        elif mm in (1, 3):
            # fractions of the width, from the rise's 50 % point [M 7-23]; the low level
            # uses the same fractions of the off time
            top0, top = c.delay + 0.5 * c.rise, c.width
            low0, low = c.delay + dur, c.period - c.delay - dur
            f0, f1 = c.piv
            if c.acquire[0]:
                windows.append(Window(top0 + f0 * top, top0 + f1 * top, "spot", 0))
            if c.acquire[1]:
                windows.append(Window(low0 + f0 * low, low0 + f1 * low, "spot", 1))
        unit = unit_schedule(bt, bv, windows, rate)
        return [(unit, self.pmu.burst)], c.period * self.pmu.burst, mm

    def _plan_sarb(self, c: PulseChannel):
        """Units (one per sequence in the list, with its loop count) of a Segment Arb test."""
        if not c.seq_list:
            raise KXCIError(-961, "no sequence list")
        units = []
        prev_stop = None
        total_points = 0
        duration = 0.0
        for seq_no, loops in c.seq_list:
            seq = c.sequences.get(seq_no)
            if seq is None:
                raise KXCIError(-961, f"sequence {seq_no}")
            times = np.asarray(seq.get("TIME", []))
            n = times.size
            if n < 3:
                raise KXCIError(-958)
            start_v = np.asarray(seq.get("STARTV", []))
            stop_v = np.asarray(seq.get("STOPV", []))
            mtype = np.asarray(seq.get("MEAS:TYPE", [0] * n), dtype=int)
            mstart = np.asarray(seq.get("MEAS:START", [0.0] * n))
            mstop = np.asarray(seq.get("MEAS:STOP", list(times)))
            if any(a.size != n for a in (start_v, stop_v, mtype, mstart, mstop)):
                raise KXCIError(-962, f"sequence {seq_no}: field lengths differ")
            if np.any(~np.isclose(stop_v[:-1], start_v[1:], atol=1e-9)) or (
                    prev_stop is not None and not np.isclose(prev_stop, start_v[0], atol=1e-9)):
                raise KXCIError(-956)
            if loops > 1 and not np.isclose(stop_v[-1], start_v[0], atol=1e-9):
                raise KXCIError(-956, "looped sequence does not end where it starts")
            if np.any(mstop > times * (1 + 1e-9)) or np.any(mstart > mstop):
                raise KXCIError(-962, "measure window outside its segment")
            prev_stop = stop_v[-1]
            bt, bv = segment_breakpoints(start_v, stop_v, times)
            self._internal(c, bv)
            seg0 = np.concatenate(([0.0], np.cumsum(times)[:-1]))
            windows = [Window(seg0[k] + mstart[k], seg0[k] + mstop[k],
                              "spot" if mtype[k] in (1, 3) else "wave", k)
                       for k in range(n) if mtype[k]]
            unit = unit_schedule(bt, bv, windows, self.pmu.sample_rate)
            points = sum(1 if w.kind == "spot" else m for w, _, m in unit.windows)
            total_points += points * loops
            if total_points > MAX_POINTS:
                raise KXCIError(-963)
            units.append((unit, loops))
            duration += unit.duration * loops
        return units, duration, 0

    def _simulate(self, c: PulseChannel, units: list[tuple[UnitSchedule, int]], wired: bool,
                  measure_mode: int) -> np.ndarray:
        """Drive the device through all units at once and extract the measured points."""
        n_steps = sum(u.dt.size * loops for u, loops in units)
        if n_steps > MAX_STEPS:
            raise KXCIError(-986, f"simulator: {n_steps} steps > {MAX_STEPS}")
        dt = np.concatenate([np.tile(u.dt, loops) for u, loops in units])
        level = np.concatenate([np.tile(u.level, loops) for u, loops in units])
        v_int = self._internal(c, level)
        r_total = R_SOURCE + self.series_ohms
        if wired and n_steps:
            res = self.device.drive(dt, v_int, np.full(n_steps, np.inf), r_source=r_total)
            self.last_truth = res
            i_all = np.asarray(res.i)
            v_all = np.asarray(res.v) + i_all * self.series_ohms
        else:
            self.device.rest(float(dt.sum()))
            i_all = np.zeros(n_steps)
            v_all = v_int  # open circuit: the full internal voltage at the terminal
        c.range_used = self._range_for(c, float(np.max(np.abs(i_all), initial=0.0)))
        # unit start times and step offsets
        rows = []
        offset_steps, offset_t = 0, 0.0
        sarb = self.pmu.mode == 1
        for u, loops in units:
            for w, first, m in u.windows:
                idx = (offset_steps + np.arange(loops)[:, None] * u.dt.size + first
                       + np.arange(m)[None, :])
                t_unit = offset_t + np.arange(loops)[:, None] * u.duration
                t = t_unit + u.t_start[first:first + m][None, :]
                rows.append((w, idx, t))
            offset_steps += u.dt.size * loops
            offset_t += u.duration * loops
        return self._records(c, rows, v_all, i_all, measure_mode, sarb)

    @staticmethod
    def _range_for(c: PulseChannel, i_peak: float) -> float:
        """The current range of the test: the fixed one, or for (limited) autorange the
        smallest range holding the peak current (not below the given one for limited
        auto) [M 7-15]; one range per test is a simplification of per-point ranging."""
        if c.range_type == 2:
            return c.i_range
        table = sorted((RPM_I_RANGES if c.rpm else PMU_I_RANGES)[c.v_range])
        if c.range_type == 1:
            table = [r for r in table if r >= c.i_range * (1 - 1e-9)] or table[-1:]
        return next((r for r in table if i_peak <= r), table[-1])

    def _status(self, c: PulseChannel, kind: int, i_over, v_over) -> np.ndarray:
        local = (c.number - 1) % 2 + 1
        rpm_bit = 1 if c.rpm and c.rpm_mode == 0 else 0
        base = (rpm_bit << 24) | (kind << 16) | (i_code(c.range_used) << 4) \
            | ((0 if c.v_range == 10 else 1) << 2) | local
        return (base | (np.asarray(i_over, dtype=np.int64) * (3 << 10))
                | (np.asarray(v_over, dtype=np.int64) * (3 << 8))).astype(float)

    def _measure(self, c: PulseChannel, v: np.ndarray, i: np.ndarray):
        i_lim = 1.05 * c.range_used
        v_lim = 1.05 * c.v_range
        i_over, v_over = np.abs(i) > i_lim, np.abs(v) > v_lim
        return np.clip(v, -v_lim, v_lim), np.clip(i, -i_lim, i_lim), i_over, v_over

    def _records(self, c, rows, v_all, i_all, measure_mode, sarb) -> np.ndarray:
        if sarb:
            parts = []  # (time, V, I, kind, over flags) per record, sorted by time
            for w, idx, t in rows:
                v, i, i_over, v_over = self._measure(c, v_all[idx], i_all[idx])
                if w.kind == "wave":
                    parts.append(np.column_stack([t.ravel(), v.ravel(), i.ravel(),
                                                  np.full(t.size, 2), i_over.ravel(),
                                                  v_over.ravel()]))
                else:
                    parts.append(np.column_stack([t[:, 0], v.mean(axis=1), i.mean(axis=1),
                                                  np.full(t.shape[0], 1), i_over.any(axis=1),
                                                  v_over.any(axis=1)]))
            allp = np.concatenate(parts) if parts else np.empty((0, 6))
            allp = allp[np.argsort(allp[:, 0], kind="stable")]
            s = self._status(c, 0, allp[:, 4].astype(bool), allp[:, 5].astype(bool))
            s = s.astype(np.int64) | (allp[:, 3].astype(np.int64) << 16)
            return np.column_stack([allp[:, 1], allp[:, 2], allp[:, 0], s.astype(float)])
        if measure_mode in (2, 4):
            (w, idx, t), = rows
            v, i, i_over, v_over = self._measure(c, v_all[idx], i_all[idx])
            if measure_mode == 4:
                v, i, t = v.mean(axis=0), i.mean(axis=0), t[0]
                i_over, v_over = i_over.any(axis=0), v_over.any(axis=0)
            s = self._status(c, 2, i_over.ravel(), v_over.ravel())
            return np.column_stack([v.ravel(), i.ravel(), t.ravel(), s])
        if measure_mode in (1, 3):
            cols = []
            for tag in (0, 1):
                match = [r for r in rows if r[0].tag == tag]
                if match:
                    w, idx, t = match[0]
                    v, i, i_over, v_over = self._measure(c, v_all[idx], i_all[idx])
                    vm, im, tm = v.mean(axis=1), i.mean(axis=1), t[:, 0]
                    io, vo = i_over.any(axis=1), v_over.any(axis=1)
                else:
                    n = self.pmu.burst
                    vm = im = tm = np.zeros(n)
                    io = vo = np.zeros(n, dtype=bool)
                if measure_mode == 3:
                    vm, im, tm = vm.mean(keepdims=True), im.mean(keepdims=True), tm[:1]
                    io, vo = io.any(keepdims=True), vo.any(keepdims=True)
                cols += [vm, im, tm, self._status(c, 1, io, vo)]
            return np.column_stack(cols)
        return np.empty((0, 4))
