"""System-mode test of the simulated 4200A: ``ME`` runs, the reading buffer read with
``DO`` / ``RD``, and the commands valid on any system page (``MP``, ``SR``, ``SV``,
``GT``) [M 5-28…5-31, 5-38, 5-41]; see :mod:`sim_backend.kxci_system` for the rules.

A test measures every channel the DE page defines (:mod:`sim_backend.kxci_system_plan`
says what each sources); SMU1's points drive the device in one ``device.drive`` call when
SMU1 reaches it, every other channel reads open-circuit values through the SMU noise
model (:mod:`sim_backend.smu_noise`).
"""

from __future__ import annotations

import copy
import re
import time

import numpy as np

from sim_backend.kxci_channels import MAX_BUFFER, NOT_MAPPED_VALUE, VSVMChannel
from sim_backend.kxci_common import KXCIError, parse_float, parse_int, split_args
from sim_backend.kxci_state import CardPart
from sim_backend.kxci_system_plan import (
    Source,
    TestPlan,
    defined_names,
    parse_quoted,
    plan_test,
    require_page,
)


class SystemTest(CardPart):
    """``ME``, ``DO``, ``RD``, ``MP``, ``SR``, ``SV``, ``GT``, and the test they run."""

    def handlers(self) -> dict:
        return {"ME": self._me, "DO": self._do, "RD": self._rd, "SV": self._sv,
                "GT": self._gt, "MP": self._mp, "SR": self._sr}

    # ------------------------------------------------------------------ any system page
    def _mp(self, rest: str) -> None:
        """``MP ch, SMUn|VSn|VMn`` maps SMU ``ch`` to a function; ``MP ch`` back to SMU
        ``ch`` [M 5-30]."""
        require_page(self.st)
        args = split_args(rest)
        if len(args) not in (1, 2):
            raise KXCIError(-993, "MP takes channel[, function]")
        ch = parse_int(args[0], 1, 9)
        if ch not in self.st.smus:
            raise KXCIError(-979, f"no SMU{ch}")
        target = ("SMU", ch)
        if len(args) == 2:
            m = re.fullmatch(r"(SMU|VS|VM)\s*([1-9])", args[1].upper())
            if not m:
                raise KXCIError(-993, f"MP function {args[1]!r}")
            target = (m.group(1), int(m.group(2)))
        old = self.st.mapped_away.pop(ch, None)
        if old is not None:
            self.st.vsvm.pop(old, None)
        if target[0] != "SMU":
            if target in self.st.vsvm:
                raise KXCIError(-991, f"{target[0]}{target[1]} is already present")
            self.st.mapped_away[ch] = target
            self.st.vsvm[target] = VSVMChannel(*target)
            self.st.smus[ch].undefine()

    def _sr(self, rest: str) -> None:
        """``SR ch, range``: 0 auto, 2 best fixed, 0 < r <= 1 fixed [M 5-31]. The simulated
        source is exact on every range, so the range changes no sourced value."""
        require_page(self.st)
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "SR takes channel, range")
        smu = self.st.smu(args[0])
        rng = parse_float(args[1])
        if not (rng in (0.0, 2.0) or 0.0 < rng <= 1.0):
            raise KXCIError(-993, f"SR range {rng}")
        smu.source_range = rng

    def _sv(self, rest: str) -> None:
        """``SV 'P name[ comment]'`` / ``SV 'D name[ comment]'`` [M 5-29, 5-30]: the
        settings (P) or settings and data (D), kept in the simulator's memory."""
        require_page(self.st)
        kind, name = self._file_arg(rest, comment=True)
        if self.st.test_running():
            raise KXCIError(-980)
        self.st.files[(kind, name)] = self._snapshot(with_data=kind == "D")

    def _gt(self, rest: str) -> None:
        """``GT 'P name'`` / ``GT 'D name'`` [M 5-29]; -984 for a file never saved."""
        require_page(self.st)
        kind, name = self._file_arg(rest, comment=False)
        saved = self.st.files.get((kind, name))
        if saved is None:
            raise KXCIError(-984, f"no {kind} file {name!r}")
        if self.st.test_running():
            raise KXCIError(-980)
        self._restore(saved)

    @staticmethod
    def _file_arg(rest: str, comment: bool) -> tuple[str, str]:
        m = re.fullmatch(r"'([PD]) ([^' ]{1,6})(?: ([^']{1,8}))?'", rest.strip())
        if not m or (m.group(3) and not comment):
            raise KXCIError(-993, f"file {rest!r}")
        return m.group(1), m.group(2)

    def _snapshot(self, with_data: bool) -> dict:
        keep = copy.deepcopy({"smus": self.st.smus, "vsvm": self.st.vsvm, "sm": self.st.sm})
        if not with_data:
            keep["sm"].columns, keep["sm"].channel_names = {}, {}
            keep["sm"].row_times = np.empty(0)
        keep["with_data"] = with_data
        return keep

    def _restore(self, saved: dict) -> None:
        status, srq = self.st.sm.status_byte, self.st.sm.srq_on_data
        columns = (self.st.sm.columns, self.st.sm.channel_names, self.st.sm.row_times)
        self.st.smus = copy.deepcopy(saved["smus"])
        self.st.vsvm = copy.deepcopy(saved["vsvm"])
        self.st.sm = copy.deepcopy(saved["sm"])
        self.st.sm.status_byte, self.st.sm.srq_on_data, self.st.sm.busy_until = status, srq, 0.0
        if not saved["with_data"]:
            self.st.sm.columns, self.st.sm.channel_names, self.st.sm.row_times = columns

    # ------------------------------------------------------------------ MD page: run
    def _me(self, rest: str) -> None:
        """``ME1`` single run into a cleared buffer, ``ME2`` repeat (until ``ME4``), ``ME3``
        append, ``ME4`` abort [M 5-28]."""
        require_page(self.st, "MD")
        mode = parse_int(rest, 1, 4)
        if mode == 4:
            self._abort_test()
            return
        if self.st.test_running():
            raise KXCIError(-980, "a test is running")
        self._run_test(append=mode == 3)
        if mode == 2:
            self.st.sm.repeating = True
            self.st.sm.busy_until = float("inf")

    def _abort_test(self) -> None:
        """``ME4``: stop now; the points not measured yet are not in the buffer."""
        st = self.st.sm
        if self.st.test_running():
            keep = self._visible_rows()
            st.columns = {k: (v[:keep], s[:keep]) for k, (v, s) in st.columns.items()}
            st.row_times = st.row_times[:keep]
        st.busy_until = 0.0
        st.repeating = False

    def _run_test(self, append: bool) -> None:
        st = self.st.sm
        plan = plan_test(self.st)
        n_old = st.row_times.size if append else 0
        if n_old + plan.steps.size > MAX_BUFFER:
            raise KXCIError(-991, f"buffer would exceed {MAX_BUFFER} readings")
        wired = next((s for s in plan.sources if s.smu is not None and s.smu.number == 1
                      and s.kind in "VI"), None) if self.st.smu1_wired() else None
        truth, t_start, t_end = self._drive(plan, wired)
        readings = {s.key: self._readings(s, truth if s is wired else None)
                    for s in plan.sources}
        n_done = self._points_done(readings, plan.steps.size)
        self._store(plan.sources, readings, t_end[:n_done] - t_start, n_done, append)
        self.st.data_ready()
        duration = float(t_end[n_done - 1] - t_start) if n_done else 0.0
        st.run_wall_start, st.run_speed = time.monotonic(), self.st.speed
        st.rows_before_run = n_old
        self.st.wait_paced(duration)
        self._standby(plan.sources, n_done)

    def _drive(self, plan: TestPlan, wired: Source | None):
        """Run the test's time on the device: driven through SMU1 when it is part of the
        test, else resting. Returns (true V/I of SMU1 or None, start time, per-point end
        times)."""
        device = self.st.device
        if wired is not None and plan.pre:
            v0, lim0 = self._drive_args(wired, slice(0, 1))
            device.drive([plan.pre], v0, lim0)
        elif plan.pre:
            device.rest(plan.pre)
        t_start = device.time
        if wired is None:
            device.rest(float(plan.steps.sum()))
            return None, t_start, t_start + np.cumsum(plan.steps)
        v_src, i_lim = self._drive_args(wired, slice(None))
        truth = device.drive(plan.steps, v_src, i_lim)
        self.st.last_truth = truth
        return truth, t_start, truth.t

    def _points_done(self, readings: dict, n: int) -> int:
        """All points, or with ``EC 1`` up to the first in compliance [M 5-39]."""
        if not self.st.sm.exit_on_compliance:
            return n
        clamp = np.zeros(n, dtype=bool)
        for _, _, status in readings.values():
            clamp |= status == "C"
        return int(np.argmax(clamp)) + 1 if clamp.any() else n

    def _drive_args(self, src: Source, sel) -> tuple[np.ndarray, np.ndarray]:
        """Source voltage and current limit for ``device.drive``: a current source is a
        voltage source at its compliance voltage clamped at the programmed current."""
        vals = src.values[sel]
        if src.kind == "V":
            return vals, np.full(vals.size, src.compliance)
        return np.copysign(src.compliance, vals) * (vals != 0), np.abs(vals)

    def _readings(self, src: Source, truth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(V readings, I readings, status letters) of one channel."""
        n = src.values.size
        status = np.full(n, "N")
        if truth is not None:
            v_true, i_true = truth.v, truth.i
            if src.kind == "V":
                status = np.where(truth.compliance, "C", "N")
            else:  # clamped = the current source regulates
                status = np.where(truth.compliance | (src.values == 0), "N", "C")
        elif src.kind == "V":
            v_true, i_true = src.values, np.zeros(n)
        elif src.kind == "I":  # open circuit: runs into its voltage compliance [3P]
            v_true = np.copysign(src.compliance, src.values) * (src.values != 0)
            i_true = np.zeros(n)
            status = np.where(src.values != 0, "C", "N")
        else:  # common or voltmeter: 0 V, no current
            v_true, i_true = np.zeros(n), np.zeros(n)
        if src.vsvm is not None and self.st.phantom_vm.get(src.vsvm.number) is src.vsvm:
            return np.full(n, NOT_MAPPED_VALUE), np.zeros(n), status  # [M 5-8]
        plc = self.st.sm.integration_plc
        v = self.st.noise.measure_v(src.smu, v_true, 0, plc)
        i = self.st.noise.measure_i(src.smu, i_true, plc) if src.smu is not None else i_true
        return v, i, status

    def _store(self, sources, readings, t_rel, n_done, append) -> None:
        st = self.st.sm
        if not append:
            st.columns, st.channel_names, st.row_times = {}, {}, np.empty(0)
        t0 = st.row_times[-1] if append and st.row_times.size else 0.0
        times = t_rel + t0 if append and st.row_times.size else t_rel
        for src in sources:
            v, i, status = readings[src.key]
            names = []
            if src.smu is not None:
                names = [(src.smu.vname, v), (src.smu.iname, i)]
            else:
                names = [(src.vsvm.name, v)]
            for name, values in names:
                old_v, old_s = st.columns.get(name, (np.empty(0), np.empty(0, dtype="<U1")))
                st.columns[name] = (np.concatenate([old_v, values[:n_done]]),
                                    np.concatenate([old_s, status[:n_done]]))
                st.channel_names[name] = src.key
            st.channel_names[src.key] = src.key
        st.row_times = np.concatenate([st.row_times, times])

    def _standby(self, sources, n_done) -> None:
        """``ST n, 0``: the SMU keeps its last source value on after the test [M 5-15]."""
        for src in sources:
            smu = src.smu
            if smu is None or smu.standby or not n_done or src.kind not in "VI":
                continue
            last = float(src.values[n_done - 1])
            if src.kind == "V":
                smu.output_kind, smu.output_v, smu.output_comp = "V", last, src.compliance
                smu.output_i = 0.0
            else:
                smu.output_kind, smu.output_i, smu.output_v = "I", last, src.compliance
            smu.output_on = True

    # ------------------------------------------------------------------ data out
    def _visible_rows(self) -> int:
        """Rows measured so far: all, or while a paced test runs those whose instrument
        time has passed [M 5-41]."""
        st = self.st.sm
        total = st.row_times.size
        if not self.st.test_running() or st.run_speed is None:
            return total
        elapsed = (time.monotonic() - st.run_wall_start) * st.run_speed
        new = st.row_times[st.rows_before_run:]
        base = st.row_times[st.rows_before_run - 1] if st.rows_before_run else 0.0
        return st.rows_before_run + int(np.searchsorted(new - base, elapsed, side="right"))

    def _column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Values and status letters for a ``DO``/``RD`` name: a function name, ``CHn``
        (the channel's measured function), ``<name>T`` / ``CHnT`` timestamps, ``<name>S``
        status [M 5-38, 5-41]."""
        st = self.st.sm
        if name in st.columns:
            return st.columns[name]
        base, suffix = name[:-1], name[-1:]
        if suffix in ("T", "S") and base in st.channel_names:
            return self._times_or_status(base, suffix)
        if re.fullmatch(r"CH\d", name) and name in st.channel_names:
            measured = self._measured_name(int(name[2:]))
            if measured in st.columns:
                return st.columns[measured]
        names = defined_names(self.st)
        if name in names or re.fullmatch(r"CH\dT?", name) or (
                suffix in "TS" and base in names):
            return np.empty(0), np.empty(0, dtype="<U1")  # defined, nothing measured yet
        raise KXCIError(-993, f"no such name {name!r}")

    def _times_or_status(self, base: str, suffix: str) -> tuple[np.ndarray, np.ndarray]:
        """``<name>T`` timestamps or ``<name>S`` status (1 = compliance) of a channel."""
        st = self.st.sm
        key = st.channel_names[base]
        any_name = next(n for n, k in st.channel_names.items() if k == key and
                        n in st.columns)
        status = st.columns[any_name][1]
        if suffix == "T":
            return st.row_times.copy(), np.full(st.row_times.size, "N")
        return np.where(status == "C", 1.0, 0.0), status

    def _measured_name(self, n: int) -> str | None:
        """The function ``CHn`` reads: the current of a V source or common, else V."""
        smu = self.st.smus.get(n)
        if smu is None:
            return None
        return smu.iname if smu.source_mode in (1, 3) else smu.vname

    def _do(self, rest: str) -> str:
        """``DO 'name'``: every reading, ``X±N.NNNNE±NN`` comma-separated (X = status
        letter) [M 3-1, 5-38, 2-11]; -980 while a test is still running [M 3-5]."""
        name = parse_quoted(rest, max_len=7)
        if self.st.test_running():
            raise KXCIError(-980, "DO before the test has finished")
        values, status = self._column(name)
        item = f"%s%+.{self.st.sm.resolution - 1}E"
        # Python floats and str: formatting numpy scalars is ~20x slower
        return ",".join(map(item.__mod__, zip(status.tolist(), values.tolist(), strict=True)))

    def _rd(self, rest: str) -> str:
        """``RD 'name', N``: reading N (1-based) as ``±N.NNNNE±NN``; ``0`` for a point not
        measured yet, also while the test runs [M 5-41]."""
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "RD takes name, index")
        name = parse_quoted(args[0], max_len=7)
        k = parse_int(args[1], 1, MAX_BUFFER)
        values, _ = self._column(name)
        if k > min(values.size, self._visible_rows()):
            return "0"
        return f"{values[k - 1]:+.{self.st.sm.resolution - 1}E}"
