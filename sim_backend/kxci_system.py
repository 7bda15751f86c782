"""System mode of the simulated 4200A: pages ``DE SS SM MD``, channel definitions, VAR1 /
VAR2 / VAR1' / constant sources, list, linear and log sweeps, sampling, the test run, the
reading buffer (``DO``, ``RD``), files (``SV``, ``GT``), ``MP`` and ``SR`` [M 5-5…5-31,
5-38, 5-41]. The page commands are here (:class:`SystemPages`); the test, the buffer and
the commands valid on any page in :mod:`sim_backend.kxci_system_test`
(:class:`~sim_backend.kxci_system_test.SystemTest`); what a test sources in
:mod:`sim_backend.kxci_system_plan`; the state in :mod:`sim_backend.kxci_state`.

A test (``ME1``/``ME2``/``ME3``) measures **every** channel the DE page defines: each SMU's
voltage and current, each VS's voltage and each VM's voltage, with a timestamp per point;
all of them are readable with ``DO``/``RD`` by name (``'V1'``), with ``T`` appended for
timestamps (``'V1T'``, and ``'CHnT'``), ``S`` for the status letters (``'V1S'``). The
manual's Example 3 reads back the current of Example 1's VAR1 voltage sweep although
Example 1 sends no ``LI`` [M 5-45, 5-46], so ``LI``/``XN``/``YA``/``YB`` select nothing
here; they are checked and stored.

Sweep layout [M 5-17…5-21]: VAR1 (linear ``VR1``/``IR1``, log ``VR2``-``VR4`` with 10/25/50
points per decade, or the VAR1 channel's ``VL``/``IL`` list) runs once per VAR2 step
(``VP``/``IP``, 1..32 steps, up to four VAR2 channels in definition order); VAR1' =
VAR1 × ``RT`` + ``FS``; subordinate lists (``VLn, 0, ...``) step with VAR1. Without a VAR1
channel, ``NR`` readings are taken at constant bias every ``IN`` seconds after ``WT``
(sampling). Time per point: ``DT`` + the integration time; ``HT`` before the first point.

Real time [M 5-41, 5-46]: with ``speed=X`` the test runs X times faster than real time;
``SP`` shows busy (B4) until its end, ``RD`` returns the points measured so far (``0`` for
a point not measured yet) and ``DO`` is refused with -980 until the test ends ("If you try
to get data before all the measurements in a test are completed, an error occurs"
[M 3-5]). ``ME4`` aborts: the points not yet measured are dropped.

KXCI start-up state [M 5-5]: SMU1 ``V1``/``I1`` common, SMU2 ``V2``/``I2`` current VAR2
(20 µA start, 20 µA step, 5 steps, 2 V compliance), SMU3 ``V3``/``I3`` voltage VAR1 (0 to 1
V in 10 mV, 0.1 A compliance), SMU4 ``V4``/``I4`` voltage constant; ``*RST`` returns to it.
"""

from __future__ import annotations

import numpy as np

from sim_backend.kxci_channels import (
    MAX_BUFFER,
    MAX_LIST_POINTS,
    MAX_VAR1_POINTS,
    SMU_V_MAX,
    SMUChannel,
    VSVMChannel,
)
from sim_backend.kxci_common import (
    KXCIError,
    parse_float,
    parse_floats,
    parse_int,
    split_args,
)
from sim_backend.kxci_state import MAX_VAR2_STEPS, CardPart, StepSpec, SweepSpec
from sim_backend.kxci_system_plan import defined_names, parse_quoted, require_page

__all__ = ["SystemPages", "parse_quoted"]


class SystemPages(CardPart):
    """The DE, SS and SM page commands [M 5-7…5-27]."""

    def handlers(self) -> dict:
        return {
            "DE": self._page("DE"), "SS": self._page("SS"), "SM": self._page("SM"),
            "MD": self._page("MD"), "CH": self._ch, "VS": self._vs_def, "VM": self._vm_def,
            "VL": self._list("V"), "IL": self._list("I"), "VR": self._var1("V"),
            "IR": self._var1("I"), "VP": self._var2("V"), "IP": self._var2("I"),
            "VC": self._const("V"), "IC": self._const("I"), "SC": self._sc, "DT": self._dt,
            "HT": self._ht, "RT": self._rt, "FS": self._fs, "ST": self._st, "DM": self._dm,
            "LI": self._li, "NR": self._nr, "IN": self._in, "WT": self._wt,
            "XN": self._axis("X", 2), "YA": self._axis("Y1", 3), "YB": self._axis("Y2", 3),
            "XT": self._xt,
        }

    # ------------------------------------------------------------------ helpers
    def _page(self, page: str):
        def enter(rest: str) -> None:
            if rest:
                raise KXCIError(-993, rest)
            self.st.sm.mode = "system"
            self.st.sm.page = page

        return enter

    def _source_channel(self, text: str, kinds: str = "V"):
        """The channel a source command addresses: SMU n, or VS n for voltage commands
        when the mainframe has VSn and no SMUn (a VS is a voltage source only [M 5-16])."""
        n = parse_int(text, 1, 9)
        if n in self.st.smus:
            return self.st.smu(str(n))
        vs = self.st.vsvm_channel("VS", n)
        if vs is not None and kinds == "V":
            return vs
        raise KXCIError(-979, f"no SMU{n}")

    def _i_limit(self, smu, value: float, what: str) -> None:
        i_max = smu.i_max if isinstance(smu, SMUChannel) else 0.0
        if abs(value) > i_max * 1.0000001:
            raise KXCIError(-993, f"{what} {value} A beyond {i_max} A")

    def _source_value(self, ch, kind: str, text: str, what: str) -> float:
        value = parse_float(text)
        if kind == "V" and abs(value) > SMU_V_MAX:
            raise KXCIError(-993, f"{what} {value} V")
        if kind == "I":
            self._i_limit(ch, value, what)
        return value

    def _comp_for(self, ch, kind: str, text: str) -> float:
        """Compliance: current for a voltage source (raised to the card's minimum
        [M 5-16]), voltage (±210 V) for a current source."""
        if kind == "I":
            comp = abs(parse_float(text))
            if comp > SMU_V_MAX:
                raise KXCIError(-993, f"voltage compliance {comp}")
            return comp
        if isinstance(ch, SMUChannel):
            return self.st.compliance(text, ch)
        return abs(parse_float(text))

    # ------------------------------------------------------------------ DE page
    def _ch(self, rest: str) -> None:
        """``CHA, 'Vname', 'Iname', D, E`` or ``CHA`` to disable [M 5-7, 5-8]."""
        require_page(self.st, "DE")
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, "CH needs a channel")
        smu = self.st.smu(args[0])
        if len(args) == 1:
            smu.undefine()
            return
        if len(args) != 5:
            raise KXCIError(-993, f"CH takes 5 arguments, got {len(args)}")
        vname, iname = parse_quoted(args[1]), parse_quoted(args[2])
        mode, func = parse_int(args[3], 1, 3), parse_int(args[4], 1, 4)
        if mode == 3 and func != 3:
            raise KXCIError(-993, f"CH common channel must be constant, got {func}")
        smu.vname, smu.iname, smu.source_mode, smu.function = vname, iname, mode, func

    def _vs_def(self, rest: str) -> None:
        """``VSn, 'name', function`` or ``VSn`` (not used) [M 5-9]."""
        require_page(self.st, "DE")
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, "VS needs a channel")
        n = parse_int(args[0], 1, 9)
        vs = self.st.vsvm_channel("VS", n)
        if len(args) == 1:
            if vs is not None:
                vs.name, vs.function = "", 0
            return
        if len(args) != 3:
            raise KXCIError(-993, "VS takes channel, name, function")
        name, func = parse_quoted(args[1]), parse_int(args[2], 1, 4)
        if vs is None:
            raise KXCIError(-988, f"no VS{n}")
        vs.name, vs.function = name, func

    def _vm_def(self, rest: str) -> None:
        """``VMn, 'name'`` or ``VMn`` (not used) [M 5-8]. A VM the mainframe does not have
        reads 9.000E+37 [M 5-8]."""
        require_page(self.st, "DE")
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, "VM needs a channel")
        n = parse_int(args[0], 1, 9)
        if len(args) == 1:
            if (vm := self.st.vsvm_channel("VM", n)) is not None:
                vm.name = ""
            self.st.phantom_vm.pop(n, None)
            return
        if len(args) != 2:
            raise KXCIError(-993, "VM takes channel, name")
        name = parse_quoted(args[1])
        vm = self.st.vsvm_channel("VM", n)
        if vm is None:
            self.st.phantom_vm[n] = VSVMChannel("VM", n, name=name)
        else:
            vm.name = name

    # ------------------------------------------------------------------ SS page
    def _list(self, kind: str):
        def handler(rest: str) -> None:
            """``VLn``/``ILn, master, compliance, v1, v2, ...`` <= 4096 points [M 5-16]."""
            require_page(self.st, "SS")
            args = split_args(rest)
            if len(args) < 4:
                raise KXCIError(-993, "VL/IL needs channel, master, compliance and values")
            ch = self._source_channel(args[0], kind)
            master = parse_int(args[1], 0, 1) == 1
            if len(args) - 3 > MAX_LIST_POINTS:
                raise KXCIError(-993, f"{len(args) - 3} list points > {MAX_LIST_POINTS}")
            comp = self._comp_for(ch, kind, args[2])
            values = parse_floats(args[3:])
            if kind == "V" and np.any(np.abs(values) > SMU_V_MAX):
                raise KXCIError(-993, "list voltage beyond 210 V")
            if kind == "I":
                self._i_limit(ch, float(np.max(np.abs(values))), "IL")
            ch.list_values, ch.list_master = values, master
            if isinstance(ch, SMUChannel):
                ch.list_kind, ch.list_compliance = kind, comp

        return handler

    def _var1(self, kind: str):
        def handler(rest: str) -> None:
            """``VR``/``IR mode, start, stop, step, compliance``; linear (1) or log10/25/50
            (2-4, start and stop only, compliance optional) [M 5-19…5-21]."""
            require_page(self.st, "SS")
            args = split_args(rest)
            if not args:
                raise KXCIError(-993, "VR/IR needs a sweep type")
            mode = parse_int(args[0], 1, 4)
            spec = SweepSpec(kind=kind, mode=mode, compliance=self.st.sm.var1.compliance)
            if mode == 1:
                self._linear_var1(spec, args)
            else:
                self._log_var1(spec, args)
            if spec.values().size > MAX_VAR1_POINTS:
                raise KXCIError(-993, f"VAR1 {spec.values().size} points > {MAX_VAR1_POINTS}")
            self.st.sm.var1 = spec

        return handler

    def _linear_var1(self, spec: SweepSpec, args: list[str]) -> None:
        """``VR1, start, stop, step, compliance``: the step has the sign of the sweep."""
        kind = spec.kind
        if len(args) != 5:
            raise KXCIError(-993, "linear VAR1 takes start, stop, step, compliance")
        spec.start, spec.stop, spec.step = (
            self._plain_value(kind, a, "VAR1") for a in args[1:4])
        spec.compliance = self._var_comp(kind, args[4])
        if kind == "V":  # below 1 mV is 0 [M 5-19]
            spec.start = 0.0 if abs(spec.start) < 1e-3 else spec.start
            spec.step = 0.0 if abs(spec.step) < 1e-3 else spec.step
        if spec.step == 0 or (spec.stop != spec.start and
                              np.sign(spec.step) != np.sign(spec.stop - spec.start)):
            raise KXCIError(-993, f"VAR1 step {spec.step}")

    def _log_var1(self, spec: SweepSpec, args: list[str]) -> None:
        """``VR2..4, start, stop[, , compliance]``: start and stop of one sign, not 0."""
        kind = spec.kind
        if len(args) not in (3, 4, 5) or (len(args) == 5 and args[3]):
            raise KXCIError(-993, "log VAR1 takes start, stop[, compliance]")
        spec.start, spec.stop = (self._plain_value(kind, a, "VAR1") for a in args[1:3])
        if len(args) >= 4:
            spec.compliance = self._var_comp(kind, args[-1])
        if spec.start == 0 or spec.stop == 0 or np.sign(spec.start) != np.sign(spec.stop):
            raise KXCIError(-993, "log sweep needs start and stop of one sign, not 0")

    def _plain_value(self, kind: str, text: str, what: str) -> float:
        value = parse_float(text)
        limit = SMU_V_MAX if kind == "V" else max(
            [s.i_max for s in self.st.smus.values()] or [0.105])
        if abs(value) > limit * 1.0000001:
            raise KXCIError(-993, f"{what} {value}")
        return value

    def _var_comp(self, kind: str, text: str) -> float:
        comp = abs(parse_float(text))
        if kind == "I" and comp > SMU_V_MAX:
            raise KXCIError(-993, f"voltage compliance {comp}")
        if kind == "V" and comp > max([s.i_max for s in self.st.smus.values()] or [0.105]):
            raise KXCIError(-993, f"current compliance {comp}")
        return comp

    def _var2(self, kind: str):
        def handler(rest: str) -> None:
            """``VP``/``IP start, step, steps, compliance[, index]`` [M 5-17, 5-18]."""
            require_page(self.st, "SS")
            args = split_args(rest)
            if len(args) not in (4, 5):
                raise KXCIError(-993, "VP/IP takes start, step, steps, compliance[, index]")
            start, step = (self._plain_value(kind, a, "VAR2") for a in args[:2])
            if kind == "V":  # below 1 mV is 0 [M 5-17]
                start = 0.0 if abs(start) < 1e-3 else start
                step = 0.0 if abs(step) < 1e-3 else step
            n = parse_int(args[2], 1, MAX_VAR2_STEPS)
            comp = self._var_comp(kind, args[3])
            index = parse_int(args[4], 1, 4) if len(args) == 5 else 1
            self.st.sm.var2[index] = StepSpec(kind, start, step, n, comp)

        return handler

    def _const(self, kind: str):
        def handler(rest: str) -> None:
            """``VCn``/``ICn, value, compliance`` constant source [M 5-15]."""
            require_page(self.st, "SS")
            args = split_args(rest)
            if len(args) != 3:
                raise KXCIError(-993, "VC/IC takes channel, value, compliance")
            smu = self.st.smu(args[0])
            smu.const_value = self._source_value(smu, kind, args[1], "VC/IC")
            smu.const_compliance = self._comp_for(smu, kind, args[2])
            smu.const_kind = kind

        return handler

    def _sc(self, rest: str) -> None:
        """``SCn, volts``: constant level of VSn; ``SCn`` alone turns it off [M 5-14]."""
        require_page(self.st, "SS")
        args = split_args(rest)
        if not args or len(args) > 2:
            raise KXCIError(-993, "SC takes channel, volts")
        n = parse_int(args[0], 1, 9)
        vs = self.st.vsvm_channel("VS", n)
        if vs is None:
            raise KXCIError(-988, f"no VS{n}")
        value = parse_float(args[1]) if len(args) == 2 else 0.0
        if abs(value) > SMU_V_MAX:
            raise KXCIError(-993, f"SC {value} V")
        vs.const_value = value

    def _timing(self, page: str, rest: str, lo: float, hi: float, name: str) -> float:
        """A time argument of a page command, in [lo, hi] s."""
        require_page(self.st, page)
        value = parse_float(rest)
        if not lo <= value <= hi:
            raise KXCIError(-993, f"{name} {value}")
        return value

    def _dt(self, rest: str) -> None:
        """``DT s`` delay before each measurement, 0..6.553 s [M 5-10]."""
        self.st.sm.delay_s = self._timing("SS", rest, 0.0, 6.553, "DT")

    def _ht(self, rest: str) -> None:
        """``HT s`` hold before the sweep, 0..655.3 s [M 5-12]."""
        self.st.sm.hold_s = self._timing("SS", rest, 0.0, 655.3, "HT")

    def _ratio_offset(self, rest: str, lo: float, hi: float, attr: str) -> None:
        require_page(self.st, "SS")
        args = split_args(rest)
        if len(args) not in (1, 2):
            raise KXCIError(-993, f"{attr} takes a value[, channel]")
        value = parse_float(args[0])
        if not lo <= value <= hi:
            raise KXCIError(-993, f"{attr} {value}")
        if len(args) == 2:
            setattr(self.st.smu(args[1]), attr, value)
        else:
            setattr(self.st.sm, attr, value)
            for smu in self.st.smus.values():
                setattr(smu, attr, None)

    def _rt(self, rest: str) -> None:
        """``RT ratio[, ch]``: VAR1' = VAR1 × ratio + offset, -10..10 [M 5-13]."""
        self._ratio_offset(rest, -10.0, 10.0, "ratio")

    def _fs(self, rest: str) -> None:
        """``FS offset[, ch]``, -210..210 [M 5-11]."""
        self._ratio_offset(rest, -210.0, 210.0, "offset")

    def _st(self, rest: str) -> None:
        """``ST ch, 0|1``: automatic standby after the test [M 5-14, 5-15]."""
        require_page(self.st, "SS")
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "ST takes channel, 0|1")
        self.st.smu(args[0]).standby = parse_int(args[1], 0, 1) == 1

    # ------------------------------------------------------------------ SM page
    def _dm(self, rest: str) -> None:
        """``DM1`` graphics / ``DM2`` list; DM3 and DM4 are not accepted [M 5-22]."""
        require_page(self.st, "SM")
        self.st.sm.display_mode = parse_int(rest, 1, 2)

    def _li(self, rest: str) -> None:
        """``LI 'n1','n2',...`` up to 6 names [M 5-23]."""
        require_page(self.st, "SM")
        names = [parse_quoted(a) for a in split_args(rest)]
        if not 1 <= len(names) <= 6:
            raise KXCIError(-993, f"LI takes 1..6 names, got {len(names)}")
        self.st.sm.list_names = names

    def _nr(self, rest: str) -> None:
        """``NR n`` sampling-mode readings 1..4096 [M 5-23]."""
        require_page(self.st, "SM")
        self.st.sm.samples = parse_int(rest, 1, MAX_BUFFER)

    def _in(self, rest: str) -> None:
        """``IN s`` sampling interval 0.01..10 s [M 5-22]."""
        self.st.sm.interval_s = self._timing("SM", rest, 0.01, 10.0, "IN")

    def _wt(self, rest: str) -> None:
        """``WT s`` wait before sampling 0..100 s [M 5-24]."""
        self.st.sm.wait_s = self._timing("SM", rest, 0.0, 100.0, "WT")

    def _axis(self, axis: str, max_scale: int):
        def handler(rest: str) -> None:
            """``XN``/``YA``/``YB 'name', scale, min, max`` graph axes [M 5-25…5-27]; the
            name must be one defined on the DE page."""
            require_page(self.st, "SM")
            args = split_args(rest)
            if len(args) != 4:
                raise KXCIError(-993, "axis takes name, scale, min, max")
            name = parse_quoted(args[0])
            if name not in defined_names(self.st):
                raise KXCIError(-993, f"{name!r} is not defined on the DE page")
            scale = parse_int(args[1], 1, max_scale)
            lo, hi = parse_float(args[2]), parse_float(args[3])
            if max(abs(lo), abs(hi)) > 9999:
                raise KXCIError(-993, f"axis limits {lo}, {hi}")
            self.st.sm.axes[axis] = (name, scale, lo, hi)

        return handler

    def _xt(self, rest: str) -> None:
        """``XT min, max`` time axis in s, up to 9999 [M 5-25]."""
        require_page(self.st, "SM")
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "XT takes min, max")
        lo, hi = (parse_float(a) for a in args)
        if not (0 <= lo <= 9999 and 0 <= hi <= 9999):
            raise KXCIError(-993, f"XT {lo}, {hi}")
        self.st.sm.axes["X"] = ("time", 1, lo, hi)

