"""System mode of the simulated 4200A: pages ``DE SS SM MD``, channel definitions, VAR1 /
VAR2 / VAR1' / constant sources, list, linear and log sweeps, sampling, the test run, the
reading buffer (``DO``, ``RD``), files (``SV``, ``GT``), ``MP`` and ``SR`` [M 5-5…5-31,
5-38, 5-41].

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

import copy
import re
import time
from dataclasses import dataclass, field

import numpy as np

from sim_backend.kxci_common import (
    KXCIError,
    parse_float,
    parse_floats,
    parse_int,
    split_args,
)
from sim_backend.kxci_smu import (
    MAX_BUFFER,
    MAX_LIST_POINTS,
    MAX_VAR1_POINTS,
    NOT_MAPPED_VALUE,
    PLC_S,
    SMU_V_MAX,
    SMUChannel,
    VSVMChannel,
)

#: log sweep points per decade for VR2/VR3/VR4 (Log10, Log25, Log50) [M 5-19]
LOG_POINTS = {2: 10, 3: 25, 4: 50}
MAX_VAR2_STEPS = 32  # [M 5-17]


@dataclass
class SweepSpec:
    """VAR1 (``VR``/``IR``) set-up [M 5-19]."""

    kind: str = "V"
    mode: int = 1
    start: float = 0.0
    stop: float = 1.0
    step: float = 0.01
    compliance: float = 0.1

    def values(self) -> np.ndarray:
        if self.mode == 1:
            n = int(abs((self.stop - self.start) / self.step) + 1.5)
            return self.start + self.step * np.arange(n)
        per_decade = LOG_POINTS[self.mode]
        decades = np.log10(self.stop / self.start)
        n = int(round(abs(decades) * per_decade)) + 1
        return self.start * 10.0 ** (np.sign(decades) * np.arange(n) / per_decade)


@dataclass
class StepSpec:
    """VAR2 (``VP``/``IP``) set-up of one stepper [M 5-17, 5-18]."""

    kind: str = "I"
    start: float = 20e-6
    step: float = 20e-6
    n: int = 5
    compliance: float = 2.0

    def values(self) -> np.ndarray:
        return self.start + self.step * np.arange(self.n)


@dataclass
class SystemState:
    """System/user-mode state that a test or a page command changes."""

    page: str = "DE"
    mode: str = "system"  # system or user
    integration_plc: float = 1.0
    delay_s: float = 0.0  # DT
    hold_s: float = 0.0  # HT
    exit_on_compliance: bool = False
    display_mode: int = 1
    list_names: list[str] = field(default_factory=list)
    axes: dict[str, tuple] = field(default_factory=dict)  # XN/XT/YA/YB
    samples: int = 0  # NR (0 = sweep mode)
    interval_s: float = 0.01  # IN
    wait_s: float = 0.0  # WT
    ratio: float = 1.0  # RT for every VAR1' channel
    offset: float = 0.0  # FS
    var1: SweepSpec = field(default_factory=SweepSpec)
    var2: dict[int, StepSpec] = field(default_factory=lambda: {1: StepSpec()})
    resolution: int = 5  # RS digits
    # buffer: name -> (values, status letters); per-row instrument times
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    channel_names: dict[str, str] = field(default_factory=dict)  # name -> channel key
    row_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    rows_before_run: int = 0
    run_wall_start: float = 0.0
    run_speed: float | None = None
    repeating: bool = False  # ME2
    status_byte: int = 0
    srq_on_data: bool = False  # DR1
    busy_until: float = 0.0  # wall-clock deadline while a paced test "runs"


#: KXCI start-up channel definitions for SMU1..4 [M 5-5]: (V name, I name, mode, function)
STARTUP_CHANNELS = {1: ("V1", "I1", 3, 3), 2: ("V2", "I2", 2, 2), 3: ("V3", "I3", 1, 1),
                    4: ("V4", "I4", 1, 3)}


def apply_startup_definitions(smus: dict[int, SMUChannel]) -> None:
    """Channel definitions of the KXCI start-up state [M 5-5]."""
    for n, (vname, iname, mode, func) in STARTUP_CHANNELS.items():
        smu = smus.get(n)
        if smu is not None:
            smu.vname, smu.iname, smu.source_mode, smu.function = vname, iname, mode, func
            smu.const_kind = "V"
            smu.const_compliance = 0.105 if n == 1 else 0.1


def parse_quoted(text: str, max_len: int = 6) -> str:
    """A quoted name: ``'V1'`` [M 5-7]."""
    m = re.fullmatch(r"'([^']{1,%d})'".replace("%d", str(max_len)), text.strip())
    if not m:
        raise KXCIError(-993, f"name {text!r}")
    return m.group(1).strip()


@dataclass
class _Source:
    """One channel's part of a test: what it sources per point, and its readings."""

    key: str  # "CHn", "VSn", "VMn"
    kind: str  # V, I or M (voltmeter) or C (common)
    values: np.ndarray
    compliance: float
    smu: SMUChannel | None = None
    vsvm: VSVMChannel | None = None


class SystemCommands:
    """Handlers of the system-mode commands; mixed into :class:`sim_backend.kxci.KXCIEngine`."""

    def _system_handlers(self) -> dict:
        return {
            "DE": self._page("DE"), "SS": self._page("SS"), "SM": self._page("SM"),
            "MD": self._page("MD"), "CH": self._ch, "VS": self._vs_def, "VM": self._vm_def,
            "VL": self._list("V"), "IL": self._list("I"), "VR": self._var1("V"),
            "IR": self._var1("I"), "VP": self._var2("V"), "IP": self._var2("I"),
            "VC": self._const("V"), "IC": self._const("I"), "SC": self._sc, "DT": self._dt,
            "HT": self._ht, "RT": self._rt, "FS": self._fs, "ST": self._st, "DM": self._dm,
            "LI": self._li, "NR": self._nr, "IN": self._in, "WT": self._wt,
            "XN": self._axis("X", 2), "YA": self._axis("Y1", 3), "YB": self._axis("Y2", 3),
            "XT": self._xt, "ME": self._me, "DO": self._do, "RD": self._rd, "SV": self._sv,
            "GT": self._gt, "MP": self._mp, "SR": self._sr,
        }

    # ------------------------------------------------------------------ helpers
    def _require_page(self, *pages: str) -> None:
        if self.sm.mode != "system":
            raise KXCIError(-975)  # system-mode command in user mode [M 2-12]
        if pages and self.sm.page not in pages:
            raise KXCIError(-989)

    def _page(self, page: str):
        def enter(rest: str) -> None:
            if rest:
                raise KXCIError(-993, rest)
            self.sm.mode = "system"
            self.sm.page = page

        return enter

    def _source_channel(self, text: str, kinds: str = "V"):
        """The channel a source command addresses: SMU n, or VS n for voltage commands
        when the mainframe has VSn and no SMUn (a VS is a voltage source only [M 5-16])."""
        n = parse_int(text, 1, 9)
        if n in self.smus:
            return self._smu(str(n))
        vs = self._vsvm("VS", n)
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
            return self._compliance(text, ch)
        return abs(parse_float(text))

    # ------------------------------------------------------------------ DE page
    def _ch(self, rest: str) -> None:
        """``CHA, 'Vname', 'Iname', D, E`` or ``CHA`` to disable [M 5-7, 5-8]."""
        self._require_page("DE")
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, "CH needs a channel")
        smu = self._smu(args[0])
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
        self._require_page("DE")
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, "VS needs a channel")
        n = parse_int(args[0], 1, 9)
        vs = self._vsvm("VS", n)
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
        self._require_page("DE")
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, "VM needs a channel")
        n = parse_int(args[0], 1, 9)
        if len(args) == 1:
            if (vm := self._vsvm("VM", n)) is not None:
                vm.name = ""
            self.phantom_vm.pop(n, None)
            return
        if len(args) != 2:
            raise KXCIError(-993, "VM takes channel, name")
        name = parse_quoted(args[1])
        vm = self._vsvm("VM", n)
        if vm is None:
            self.phantom_vm[n] = VSVMChannel("VM", n, name=name)
        else:
            vm.name = name

    # ------------------------------------------------------------------ SS page
    def _list(self, kind: str):
        def handler(rest: str) -> None:
            """``VLn``/``ILn, master, compliance, v1, v2, ...`` <= 4096 points [M 5-16]."""
            self._require_page("SS")
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
            self._require_page("SS")
            args = split_args(rest)
            if not args:
                raise KXCIError(-993, "VR/IR needs a sweep type")
            mode = parse_int(args[0], 1, 4)
            spec = SweepSpec(kind=kind, mode=mode, compliance=self.sm.var1.compliance)
            if mode == 1:
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
            else:
                if len(args) not in (3, 4, 5) or (len(args) == 5 and args[3]):
                    raise KXCIError(-993, "log VAR1 takes start, stop[, compliance]")
                spec.start, spec.stop = (self._plain_value(kind, a, "VAR1") for a in args[1:3])
                if len(args) >= 4:
                    spec.compliance = self._var_comp(kind, args[-1])
                if spec.start == 0 or spec.stop == 0 or np.sign(spec.start) != np.sign(
                        spec.stop):
                    raise KXCIError(-993, "log sweep needs start and stop of one sign, not 0")
            if spec.values().size > MAX_VAR1_POINTS:
                raise KXCIError(-993, f"VAR1 {spec.values().size} points > {MAX_VAR1_POINTS}")
            self.sm.var1 = spec

        return handler

    def _plain_value(self, kind: str, text: str, what: str) -> float:
        value = parse_float(text)
        limit = SMU_V_MAX if kind == "V" else max(
            [s.i_max for s in self.smus.values()] or [0.105])
        if abs(value) > limit * 1.0000001:
            raise KXCIError(-993, f"{what} {value}")
        return value

    def _var_comp(self, kind: str, text: str) -> float:
        comp = abs(parse_float(text))
        if kind == "I" and comp > SMU_V_MAX:
            raise KXCIError(-993, f"voltage compliance {comp}")
        if kind == "V" and comp > max([s.i_max for s in self.smus.values()] or [0.105]):
            raise KXCIError(-993, f"current compliance {comp}")
        return comp

    def _var2(self, kind: str):
        def handler(rest: str) -> None:
            """``VP``/``IP start, step, steps, compliance[, index]`` [M 5-17, 5-18]."""
            self._require_page("SS")
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
            self.sm.var2[index] = StepSpec(kind, start, step, n, comp)

        return handler

    def _const(self, kind: str):
        def handler(rest: str) -> None:
            """``VCn``/``ICn, value, compliance`` constant source [M 5-15]."""
            self._require_page("SS")
            args = split_args(rest)
            if len(args) != 3:
                raise KXCIError(-993, "VC/IC takes channel, value, compliance")
            smu = self._smu(args[0])
            smu.const_value = self._source_value(smu, kind, args[1], "VC/IC")
            smu.const_compliance = self._comp_for(smu, kind, args[2])
            smu.const_kind = kind

        return handler

    def _sc(self, rest: str) -> None:
        """``SCn, volts``: constant level of VSn; ``SCn`` alone turns it off [M 5-14]."""
        self._require_page("SS")
        args = split_args(rest)
        if not args or len(args) > 2:
            raise KXCIError(-993, "SC takes channel, volts")
        n = parse_int(args[0], 1, 9)
        vs = self._vsvm("VS", n)
        if vs is None:
            raise KXCIError(-988, f"no VS{n}")
        value = parse_float(args[1]) if len(args) == 2 else 0.0
        if abs(value) > SMU_V_MAX:
            raise KXCIError(-993, f"SC {value} V")
        vs.const_value = value

    def _timing(self, page: str, rest: str, lo: float, hi: float, name: str) -> float:
        """A time argument of a page command, in [lo, hi] s."""
        self._require_page(page)
        value = parse_float(rest)
        if not lo <= value <= hi:
            raise KXCIError(-993, f"{name} {value}")
        return value

    def _dt(self, rest: str) -> None:
        """``DT s`` delay before each measurement, 0..6.553 s [M 5-10]."""
        self.sm.delay_s = self._timing("SS", rest, 0.0, 6.553, "DT")

    def _ht(self, rest: str) -> None:
        """``HT s`` hold before the sweep, 0..655.3 s [M 5-12]."""
        self.sm.hold_s = self._timing("SS", rest, 0.0, 655.3, "HT")

    def _ratio_offset(self, rest: str, lo: float, hi: float, attr: str) -> None:
        self._require_page("SS")
        args = split_args(rest)
        if len(args) not in (1, 2):
            raise KXCIError(-993, f"{attr} takes a value[, channel]")
        value = parse_float(args[0])
        if not lo <= value <= hi:
            raise KXCIError(-993, f"{attr} {value}")
        if len(args) == 2:
            setattr(self._smu(args[1]), attr, value)
        else:
            setattr(self.sm, attr, value)
            for smu in self.smus.values():
                setattr(smu, attr, None)

    def _rt(self, rest: str) -> None:
        """``RT ratio[, ch]``: VAR1' = VAR1 × ratio + offset, -10..10 [M 5-13]."""
        self._ratio_offset(rest, -10.0, 10.0, "ratio")

    def _fs(self, rest: str) -> None:
        """``FS offset[, ch]``, -210..210 [M 5-11]."""
        self._ratio_offset(rest, -210.0, 210.0, "offset")

    def _st(self, rest: str) -> None:
        """``ST ch, 0|1``: automatic standby after the test [M 5-14, 5-15]."""
        self._require_page("SS")
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "ST takes channel, 0|1")
        self._smu(args[0]).standby = parse_int(args[1], 0, 1) == 1

    # ------------------------------------------------------------------ SM page
    def _dm(self, rest: str) -> None:
        """``DM1`` graphics / ``DM2`` list; DM3 and DM4 are not accepted [M 5-22]."""
        self._require_page("SM")
        self.sm.display_mode = parse_int(rest, 1, 2)

    def _li(self, rest: str) -> None:
        """``LI 'n1','n2',...`` up to 6 names [M 5-23]."""
        self._require_page("SM")
        names = [parse_quoted(a) for a in split_args(rest)]
        if not 1 <= len(names) <= 6:
            raise KXCIError(-993, f"LI takes 1..6 names, got {len(names)}")
        self.sm.list_names = names

    def _nr(self, rest: str) -> None:
        """``NR n`` sampling-mode readings 1..4096 [M 5-23]."""
        self._require_page("SM")
        self.sm.samples = parse_int(rest, 1, MAX_BUFFER)

    def _in(self, rest: str) -> None:
        """``IN s`` sampling interval 0.01..10 s [M 5-22]."""
        self.sm.interval_s = self._timing("SM", rest, 0.01, 10.0, "IN")

    def _wt(self, rest: str) -> None:
        """``WT s`` wait before sampling 0..100 s [M 5-24]."""
        self.sm.wait_s = self._timing("SM", rest, 0.0, 100.0, "WT")

    def _axis(self, axis: str, max_scale: int):
        def handler(rest: str) -> None:
            """``XN``/``YA``/``YB 'name', scale, min, max`` graph axes [M 5-25…5-27]; the
            name must be one defined on the DE page."""
            self._require_page("SM")
            args = split_args(rest)
            if len(args) != 4:
                raise KXCIError(-993, "axis takes name, scale, min, max")
            name = parse_quoted(args[0])
            if name not in self._defined_names():
                raise KXCIError(-993, f"{name!r} is not defined on the DE page")
            scale = parse_int(args[1], 1, max_scale)
            lo, hi = parse_float(args[2]), parse_float(args[3])
            if max(abs(lo), abs(hi)) > 9999:
                raise KXCIError(-993, f"axis limits {lo}, {hi}")
            self.sm.axes[axis] = (name, scale, lo, hi)

        return handler

    def _xt(self, rest: str) -> None:
        """``XT min, max`` time axis in s, up to 9999 [M 5-25]."""
        self._require_page("SM")
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "XT takes min, max")
        lo, hi = (parse_float(a) for a in args)
        if not (0 <= lo <= 9999 and 0 <= hi <= 9999):
            raise KXCIError(-993, f"XT {lo}, {hi}")
        self.sm.axes["X"] = ("time", 1, lo, hi)

    # ------------------------------------------------------------------ any system page
    def _mp(self, rest: str) -> None:
        """``MP ch, SMUn|VSn|VMn`` maps SMU ``ch`` to a function; ``MP ch`` back to SMU
        ``ch`` [M 5-30]."""
        self._require_page()
        args = split_args(rest)
        if len(args) not in (1, 2):
            raise KXCIError(-993, "MP takes channel[, function]")
        ch = parse_int(args[0], 1, 9)
        if ch not in self.smus:
            raise KXCIError(-979, f"no SMU{ch}")
        target = ("SMU", ch)
        if len(args) == 2:
            m = re.fullmatch(r"(SMU|VS|VM)\s*([1-9])", args[1].upper())
            if not m:
                raise KXCIError(-993, f"MP function {args[1]!r}")
            target = (m.group(1), int(m.group(2)))
        old = self.mapped_away.pop(ch, None)
        if old is not None:
            self.vsvm.pop(old, None)
        if target[0] != "SMU":
            if target in self.vsvm:
                raise KXCIError(-991, f"{target[0]}{target[1]} is already present")
            self.mapped_away[ch] = target
            self.vsvm[target] = VSVMChannel(*target)
            self.smus[ch].undefine()

    def _sr(self, rest: str) -> None:
        """``SR ch, range``: 0 auto, 2 best fixed, 0 < r <= 1 fixed [M 5-31]. The simulated
        source is exact on every range, so the range changes no sourced value."""
        self._require_page()
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "SR takes channel, range")
        smu = self._smu(args[0])
        rng = parse_float(args[1])
        if not (rng in (0.0, 2.0) or 0.0 < rng <= 1.0):
            raise KXCIError(-993, f"SR range {rng}")
        smu.source_range = rng

    def _sv(self, rest: str) -> None:
        """``SV 'P name[ comment]'`` / ``SV 'D name[ comment]'`` [M 5-29, 5-30]: the
        settings (P) or settings and data (D), kept in the simulator's memory."""
        self._require_page()
        kind, name = self._file_arg(rest, comment=True)
        if self._test_running():
            raise KXCIError(-980)
        self.files[(kind, name)] = self._snapshot(with_data=kind == "D")

    def _gt(self, rest: str) -> None:
        """``GT 'P name'`` / ``GT 'D name'`` [M 5-29]; -984 for a file never saved."""
        self._require_page()
        kind, name = self._file_arg(rest, comment=False)
        saved = self.files.get((kind, name))
        if saved is None:
            raise KXCIError(-984, f"no {kind} file {name!r}")
        if self._test_running():
            raise KXCIError(-980)
        self._restore(saved)

    @staticmethod
    def _file_arg(rest: str, comment: bool) -> tuple[str, str]:
        m = re.fullmatch(r"'([PD]) ([^' ]{1,6})(?: ([^']{1,8}))?'", rest.strip())
        if not m or (m.group(3) and not comment):
            raise KXCIError(-993, f"file {rest!r}")
        return m.group(1), m.group(2)

    def _snapshot(self, with_data: bool) -> dict:
        keep = copy.deepcopy({"smus": self.smus, "vsvm": self.vsvm, "sm": self.sm})
        if not with_data:
            keep["sm"].columns, keep["sm"].channel_names = {}, {}
            keep["sm"].row_times = np.empty(0)
        keep["with_data"] = with_data
        return keep

    def _restore(self, saved: dict) -> None:
        status, srq = self.sm.status_byte, self.sm.srq_on_data
        columns = (self.sm.columns, self.sm.channel_names, self.sm.row_times)
        self.smus = copy.deepcopy(saved["smus"])
        self.vsvm = copy.deepcopy(saved["vsvm"])
        self.sm = copy.deepcopy(saved["sm"])
        self.sm.status_byte, self.sm.srq_on_data, self.sm.busy_until = status, srq, 0.0
        if not saved["with_data"]:
            self.sm.columns, self.sm.channel_names, self.sm.row_times = columns

    # ------------------------------------------------------------------ MD page: run
    def _me(self, rest: str) -> None:
        """``ME1`` single run into a cleared buffer, ``ME2`` repeat (until ``ME4``), ``ME3``
        append, ``ME4`` abort [M 5-28]."""
        self._require_page("MD")
        mode = parse_int(rest, 1, 4)
        if mode == 4:
            self._abort_test()
            return
        if self._test_running():
            raise KXCIError(-980, "a test is running")
        self._run_test(append=mode == 3)
        if mode == 2:
            self.sm.repeating = True
            self.sm.busy_until = float("inf")

    def _abort_test(self) -> None:
        """``ME4``: stop now; the points not measured yet are not in the buffer."""
        st = self.sm
        if self._test_running():
            keep = self._visible_rows()
            st.columns = {k: (v[:keep], s[:keep]) for k, (v, s) in st.columns.items()}
            st.row_times = st.row_times[:keep]
        st.busy_until = 0.0
        st.repeating = False

    def _defined_names(self) -> set[str]:
        names = {n for s in self.smus.values() if s.defined for n in (s.vname, s.iname)}
        names |= {c.name for c in self.vsvm.values() if c.defined}
        names |= {c.name for c in self.phantom_vm.values()}
        return names

    def _plan(self) -> tuple[list[_Source], np.ndarray, float, bool]:
        """Every defined channel's source values per point, the time per point, the time
        before the first point, and whether this is a sampling test."""
        st = self.sm
        chans: list[tuple[str, object]] = [(f"CH{s.number}", s) for s in
                                            sorted(self.smus.values(), key=lambda s: s.number)
                                            if s.defined]
        chans += [(f"{c.kind}{c.number}", c) for c in self.vsvm.values() if c.defined]
        chans += [(f"VM{c.number}", c) for c in self.phantom_vm.values()]
        func = {key: (c.function if isinstance(c, SMUChannel) or c.kind == "VS" else 0)
                for key, c in chans}
        var1 = [key for key, c in chans if func[key] == 1]
        if len(var1) > 1:
            raise KXCIError(-991, f"more than one VAR1 channel: {var1}")
        var2 = [key for key, c in chans if func[key] == 2]
        if len(var2) > 4:
            raise KXCIError(-991, "more than four VAR2 channels")
        lookup = dict(chans)
        sampling = not var1
        if sampling:
            if st.samples == 0:
                raise KXCIError(-991, "no VAR1 channel and no sampling set-up (NR)")
            n1, n2 = st.samples, 1
            v1 = np.zeros(n1)
            v2_by_key: dict[str, tuple[np.ndarray, float, str]] = {}
        else:
            ch1 = lookup[var1[0]]
            kind1 = self._kind(ch1)
            if ch1.list_values is not None and ch1.list_master:
                v1 = ch1.list_values
                comp1 = ch1.list_compliance if isinstance(ch1, SMUChannel) else 0.0
                if isinstance(ch1, SMUChannel) and ch1.list_kind != kind1:
                    raise KXCIError(-991, f"{var1[0]} list kind differs from its mode")
            else:
                if st.var1.kind != kind1:
                    raise KXCIError(-991, f"VAR1 set up with {st.var1.kind}R for a "
                                    f"{kind1} source")
                v1, comp1 = st.var1.values(), st.var1.compliance
            n1 = v1.size
            v2_by_key = {}
            steps = set()
            for index, key in enumerate(var2, start=1):
                spec = st.var2.get(index)
                if spec is None:
                    raise KXCIError(-991, f"no VP/IP set-up for VAR2 stepper {index}")
                if spec.kind != self._kind(lookup[key]):
                    raise KXCIError(-991, f"VAR2 {index} source kind differs from {key}")
                v2_by_key[key] = (spec.values(), spec.compliance, spec.kind)
                steps.add(spec.n)
            if len(steps) > 1:
                raise KXCIError(-991, "VAR2 steppers with different step counts")
            n2 = steps.pop() if steps else 1
        total = n1 * n2
        sources = []
        for key, c in chans:
            kind = self._kind(c)
            smu = c if isinstance(c, SMUChannel) else None
            f = func[key]
            if f == 1:
                vals, comp = np.tile(v1, n2), comp1
            elif f == 4:
                ratio = getattr(c, "ratio", None)  # per SMU (RT/FS ..., n) or for all
                offset = getattr(c, "offset", None)
                ratio = st.ratio if ratio is None else ratio
                offset = st.offset if offset is None else offset
                vals, comp = np.tile(v1 * ratio + offset, n2), comp1
            elif f == 2:
                v2, comp, _ = v2_by_key[key]
                vals = np.repeat(v2, n1)
            elif c.list_values is not None and not c.list_master and not sampling:
                if c.list_values.size != n1:
                    raise KXCIError(-991, f"{key} subordinate list has {c.list_values.size} "
                                    f"points, VAR1 has {n1}")
                vals = np.tile(c.list_values, n2)
                comp = c.list_compliance if smu is not None else 0.0
            elif kind == "M":
                vals, comp = np.zeros(total), 0.0
            elif smu is None:  # VS constant
                vals, comp = np.full(total, c.const_value), 0.0
            elif kind == "C":
                vals, comp = np.zeros(total), smu.i_max
            else:
                if smu.const_kind != kind:
                    raise KXCIError(-991, f"{key} constant set with the other source mode")
                vals, comp = np.full(total, smu.const_value), smu.const_compliance
            sources.append(_Source(key, kind, np.asarray(vals, dtype=float), comp, smu,
                                   None if smu is not None else c))
        if sampling:
            step = max(st.interval_s, st.integration_plc * PLC_S)
            return sources, np.full(total, step), st.wait_s, True
        return sources, np.full(total, st.delay_s + st.integration_plc * PLC_S), \
            st.hold_s, False

    @staticmethod
    def _kind(c) -> str:
        if isinstance(c, SMUChannel):
            return {1: "V", 2: "I", 3: "C"}[c.source_mode]
        return "V" if c.kind == "VS" else "M"

    def _run_test(self, append: bool) -> None:
        st = self.sm
        sources, steps, pre, _ = self._plan()
        n_old = st.row_times.size if append else 0
        if n_old + steps.size > MAX_BUFFER:
            raise KXCIError(-991, f"buffer would exceed {MAX_BUFFER} readings")
        wired = next((s for s in sources if s.smu is not None and s.smu.number == 1
                      and s.kind in "VI"), None) if self._smu1_wired() else None
        truth = None
        if wired is not None and pre:
            v0, lim0 = self._drive_args(wired, slice(0, 1))
            self.device.drive([pre], v0, lim0)
        elif pre:
            self.device.rest(pre)
        t_start = self.device.time
        if wired is not None:
            v_src, i_lim = self._drive_args(wired, slice(None))
            truth = self.device.drive(steps, v_src, i_lim)
            self.last_truth = truth
            t_end = truth.t
        else:
            t_end = t_start + np.cumsum(steps)
            self.device.rest(float(steps.sum()))
        readings = {s.key: self._readings(s, truth if s is wired else None) for s in sources}
        n_done = steps.size
        if st.exit_on_compliance:
            clamp = np.zeros(steps.size, dtype=bool)
            for _, _, status in readings.values():
                clamp |= status == "C"
            if clamp.any():
                n_done = int(np.argmax(clamp)) + 1
        self._store(sources, readings, t_end[:n_done] - t_start, n_done, append)
        self._data_ready()
        duration = float(t_end[n_done - 1] - t_start) if n_done else 0.0
        st.run_wall_start, st.run_speed = time.monotonic(), self.speed
        st.rows_before_run = n_old
        self._wait_paced(duration)
        self._standby(sources, n_done)

    def _drive_args(self, src: _Source, sel) -> tuple[np.ndarray, np.ndarray]:
        """Source voltage and current limit for ``device.drive``: a current source is a
        voltage source at its compliance voltage clamped at the programmed current."""
        vals = src.values[sel]
        if src.kind == "V":
            return vals, np.full(vals.size, src.compliance)
        return np.copysign(src.compliance, vals) * (vals != 0), np.abs(vals)

    def _readings(self, src: _Source, truth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        if src.vsvm is not None and self.phantom_vm.get(src.vsvm.number) is src.vsvm:
            return np.full(n, NOT_MAPPED_VALUE), np.zeros(n), status  # [M 5-8]
        plc = self.sm.integration_plc
        v = self.noise.measure_v(src.smu, v_true, 0, plc)
        i = self.noise.measure_i(src.smu, i_true, plc) if src.smu is not None else i_true
        return v, i, status

    def _store(self, sources, readings, t_rel, n_done, append) -> None:
        st = self.sm
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

    def _clear_buffer(self) -> None:
        st = self.sm
        st.columns, st.channel_names, st.row_times = {}, {}, np.empty(0)

    # ------------------------------------------------------------------ data out
    def _visible_rows(self) -> int:
        """Rows measured so far: all, or while a paced test runs those whose instrument
        time has passed [M 5-41]."""
        st = self.sm
        total = st.row_times.size
        if not self._test_running() or st.run_speed is None:
            return total
        elapsed = (time.monotonic() - st.run_wall_start) * st.run_speed
        new = st.row_times[st.rows_before_run:]
        base = st.row_times[st.rows_before_run - 1] if st.rows_before_run else 0.0
        return st.rows_before_run + int(np.searchsorted(new - base, elapsed, side="right"))

    def _column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Values and status letters for a ``DO``/``RD`` name: a function name, ``CHn``
        (the channel's measured function), ``<name>T`` / ``CHnT`` timestamps, ``<name>S``
        status [M 5-38, 5-41]."""
        st = self.sm
        if name in st.columns:
            return st.columns[name]
        base, suffix = name[:-1], name[-1:]
        if suffix in ("T", "S") and base in st.channel_names:
            key = st.channel_names[base]
            any_name = next(n for n, k in st.channel_names.items() if k == key and
                            n in st.columns)
            status = st.columns[any_name][1]
            if suffix == "T":
                return st.row_times.copy(), np.full(st.row_times.size, "N")
            return np.where(status == "C", 1.0, 0.0), status
        if re.fullmatch(r"CH\d", name) and name in st.channel_names:
            smu = self.smus.get(int(name[2:]))
            if smu is not None:
                measured = smu.iname if smu.source_mode in (1, 3) else smu.vname
                if measured in st.columns:
                    return st.columns[measured]
        if name in self._defined_names() or re.fullmatch(r"CH\dT?", name) or (
                suffix in "TS" and base in self._defined_names()):
            return np.empty(0), np.empty(0, dtype="<U1")  # defined, nothing measured yet
        raise KXCIError(-993, f"no such name {name!r}")

    def _do(self, rest: str) -> str:
        """``DO 'name'``: every reading, ``X±N.NNNNE±NN`` comma-separated (X = status
        letter) [M 3-1, 5-38, 2-11]; -980 while a test is still running [M 3-5]."""
        name = parse_quoted(rest, max_len=7)
        if self._test_running():
            raise KXCIError(-980, "DO before the test has finished")
        values, status = self._column(name)
        spec = f"+.{self.sm.resolution - 1}E"
        # Python floats and str: formatting numpy scalars is ~20x slower
        return ",".join([s + format(v, spec) for s, v in
                         zip(status.tolist(), values.tolist(), strict=True)])

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
        return f"{values[k - 1]:+.{self.sm.resolution - 1}E}"
