"""SMU side of the simulated 4200A: system mode (pages, channels, sweeps, sampling, buffer)
and user mode (``DV``/``DI``/``TV``/``TI``) [M §5].

The device model is wired between SMU1 and ground (through the RPM on PMU channel 1 when
the mainframe has one: then SMU1 reaches the device only while that RPM is routed to the
SMU, ``:PMU:RPM:CONFIGURE PMU1-1, 2`` [M 7-8]). Every measurement is a ``device.drive``
over the instrument's virtual time; compliance is the device contract's source clamp and
shows as status letter ``C`` [M 3-1].
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numpy as np

from sim_backend.kxci_common import (
    SB_BUSY,
    SB_DATA_READY,
    SB_RQS,
    SB_SYNTAX_ERROR,
    KXCIError,
    fmt_value,
    lookup_channel,
    parse_float,
    parse_int,
    parse_name,
    split_args,
)

#: Integration times in power-line cycles for IT1..IT3 [M 5-40]; 1 PLC = 1/60 s.
IT_PLC = {1: 0.1, 2: 1.0, 3: 10.0}
PLC_S = 1.0 / 60.0
MAX_LIST_POINTS = 4096  # [M 5-16]
MAX_VAR1_POINTS = 1024  # [M 5-19]
MAX_BUFFER = 4096  # [M 5-28]
SMU_V_MAX = 210.0  # [M 5-33]
SMU_I_MAX = 0.105  # 4200/4201-SMU [M 5-33]
HPSMU_I_MAX = 1.05  # 4210/4211-SMU
SMU_I_MIN_COMP = 100e-9  # without preamp; smaller compliance is raised [M 5-16]
SMUPA_I_MIN_COMP = 100e-12
#: full scale per DV / DI range code [M 5-32, 5-33] (0 = auto: the card's limit); values up
#: to 105 % of full scale are accepted, as the SMU's ratings imply (21 V on the 20 V range,
#: 210 V on the 200 V range, 105 mA on 100 mA; reference note §4, SMU manual 5-12, 5-15)
DV_SPAN = {1: 20.0, 2: 200.0, 3: 200.0, 4: 0.2, 5: 2.0}
DI_SPAN = {1: 1e-9, 2: 10e-9, 3: 100e-9, 4: 1e-6, 5: 10e-6, 6: 100e-6, 7: 1e-3, 8: 10e-3,
           9: 100e-3, 10: 1.0, 11: 1e-12, 12: 10e-12, 13: 100e-12}


@dataclass
class SMUChannel:
    """Card, channel-definition and source state of one SMU."""

    number: int
    preamp: bool = False
    high_power: bool = False
    vname: str = ""
    iname: str = ""
    source_mode: int = 0  # 1 V, 2 I, 3 common [M 5-7]
    function: int = 0  # 1 VAR1, 2 VAR2, 3 const, 4 VAR1'
    list_values: np.ndarray | None = None
    list_compliance: float = SMU_I_MAX
    const_value: float = 0.0
    const_compliance: float = SMU_I_MAX
    lowest_range: float = 0.0  # RG [M 5-42]
    # user mode
    output_kind: str = "V"  # V (DV) or I (DI)
    output_v: float = 0.0  # DV volts, or DI voltage compliance
    output_i: float = 0.0  # DI amps
    output_comp: float = 105e-6  # user-mode power-on default [M 5-4]
    output_on: bool = False

    @property
    def defined(self) -> bool:
        return self.source_mode != 0

    @property
    def i_max(self) -> float:
        return HPSMU_I_MAX if self.high_power else SMU_I_MAX

    @property
    def letter(self) -> str:
        """Instrument letter of readings: A = SMU1, B = SMU2, ... [M 3-2]."""
        return chr(ord("A") + self.number - 1)

    def reset(self) -> None:
        keep = (self.number, self.preamp, self.high_power)
        self.__init__(*keep)  # type: ignore[misc]


@dataclass
class SMUState:
    """System/user-mode state that a test or a page command changes."""

    page: str = "DE"
    mode: str = "system"  # system or user
    integration_plc: float = 1.0
    delay_s: float = 0.0  # DT
    hold_s: float = 0.0  # HT
    exit_on_compliance: bool = False
    display_mode: int = 1
    list_names: list[str] = field(default_factory=list)
    samples: int = 0  # NR (0 = sweep mode)
    interval_s: float = 0.01  # IN
    wait_s: float = 0.0  # WT
    buffer: dict[str, list[str]] = field(default_factory=dict)
    status_byte: int = 0
    srq_on_data: bool = False  # DR1
    busy_until: float = 0.0  # wall-clock deadline while a paced test "runs"


def smu_channels(options) -> dict[int, SMUChannel]:
    """SMU cards from ``*OPT?`` entries: ``SMUn``, ``SMUPAn``, ``HPSMUn``, ``HPSMUPAn``."""
    out = {}
    for entry in options:
        m = re.fullmatch(r"(HP)?SMU(PA)?(\d+)", entry)
        if m:
            n = int(m.group(3))
            out[n] = SMUChannel(n, preamp=bool(m.group(2)), high_power=bool(m.group(1)))
    return out


class SMUCommands:
    """Handlers of the SMU commands; mixed into :class:`sim_backend.kxci.KXCIEngine`."""

    def _smu_handlers(self) -> dict:
        return {
            "BC": self._bc, "DE": self._page("DE"), "SS": self._page("SS"),
            "SM": self._page("SM"), "MD": self._page("MD"), "US": self._us,
            "CH": self._ch, "VL": self._vl, "VR": self._vr, "VC": self._vc, "DT": self._dt,
            "HT": self._ht, "IT": self._it, "RG": self._rg, "EC": self._ec, "DM": self._dm,
            "LI": self._li, "NR": self._nr, "IN": self._in, "WT": self._wt, "ME": self._me,
            "SP": self._sp, "DR": self._dr, "DO": self._do, "RD": self._rd, "DV": self._dv,
            "DI": self._di, "TI": self._ti, "TV": self._tv,
        }

    # ------------------------------------------------------------------ helpers
    def _smu(self, text: str) -> SMUChannel:
        return lookup_channel(self.smus, text, bad=-993, missing=-979)

    def _require_page(self, *pages: str) -> None:
        if self.sm.mode != "system":
            raise KXCIError(-975)  # system-mode command in user mode [M 2-12]
        if self.sm.page not in pages:
            raise KXCIError(-989)

    def _require_user(self) -> None:
        if self.sm.mode != "user":
            raise KXCIError(-974)  # user-mode command in system mode [M 2-12]

    def _compliance(self, text: str, smu: SMUChannel) -> float:
        comp = abs(parse_float(text))
        if comp > smu.i_max:
            raise KXCIError(-993, f"compliance {comp} A > {smu.i_max} A")
        floor = SMUPA_I_MIN_COMP if smu.preamp else SMU_I_MIN_COMP
        return max(comp, floor)  # the instrument raises too-small values [M 5-16]

    def _smu1_wired(self) -> bool:
        """SMU1 reaches the device unless an RPM on PMU ch1 routes it elsewhere."""
        return self._rpm_mode(1) in (None, 2)

    # ------------------------------------------------------------------ pages, status
    def _page(self, page: str):
        def enter(rest: str) -> None:
            if rest:
                raise KXCIError(-993, rest)
            self.sm.mode = "system"
            self.sm.page = page

        return enter

    def _us(self, rest: str) -> None:
        if rest:
            raise KXCIError(-993, rest)
        self.sm.mode = "user"
        self.sm.page = "US"

    def _bc(self, rest: str) -> None:
        """``BC``: clear the buffer and the data-ready bit [M 5-37]."""
        if rest:
            raise KXCIError(-993, rest)
        self.sm.buffer = {}
        self.sm.status_byte &= ~(SB_DATA_READY | SB_RQS)

    def _sp(self, _: str) -> str:
        """``SP``: the serial-poll byte on LAN [M 4-6]."""
        return str(self.serial_poll())

    def serial_poll(self) -> int:
        """The status byte; a poll clears B0 (data ready), B1 (syntax error) and RQS
        [M 3-3, 3-4]. Busy (B4) while a paced test runs."""
        with self.lock:
            if time.monotonic() < self.sm.busy_until:
                return SB_BUSY
            sb = self.sm.status_byte
            self.sm.status_byte &= ~(SB_DATA_READY | SB_SYNTAX_ERROR | SB_RQS)
            return sb

    def service_requested(self) -> bool:
        """RQS (B6) pending and the test finished: what raises SRQ on GPIB [M 3-5]."""
        with self.lock:
            return bool(self.sm.status_byte & SB_RQS) and time.monotonic() >= self.sm.busy_until

    def _dr(self, rest: str) -> None:
        """``DR0``/``DR1``: service request on data ready [M 3-5]."""
        self.sm.srq_on_data = parse_int(rest, 0, 1) == 1

    # ------------------------------------------------------------------ DE page
    def _ch(self, rest: str) -> None:
        """``CHA, 'Vname', 'Iname', D, E`` or ``CHA`` to disable [M 5-7]."""
        self._require_page("DE")
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, "CH needs a channel")
        smu = self._smu(args[0])
        if len(args) == 1:
            smu.reset()
            return
        if len(args) != 5:
            raise KXCIError(-993, f"CH takes 5 arguments, got {len(args)}")
        vname, iname = parse_name(args[1]), parse_name(args[2])
        mode, func = parse_int(args[3], 1, 3), parse_int(args[4], 1, 4)
        if mode == 3 and func != 3:
            raise KXCIError(-993, f"CH common channel must be constant, got {func}")
        smu.vname, smu.iname, smu.source_mode, smu.function = vname, iname, mode, func

    # ------------------------------------------------------------------ SS page
    def _vl(self, rest: str) -> None:
        """``VLB, C, compliance, v1, v2, ...`` list sweep, <= 4096 points [M 5-16]."""
        self._require_page("SS")
        args = split_args(rest)
        if len(args) < 4:
            raise KXCIError(-993, "VL needs channel, master, compliance and values")
        smu = self._smu(args[0])
        parse_int(args[1], 0, 1)
        comp = self._compliance(args[2], smu)
        if len(args) - 3 > MAX_LIST_POINTS:
            raise KXCIError(-993, f"{len(args) - 3} list points > {MAX_LIST_POINTS}")
        values = np.array([parse_float(a) for a in args[3:]])
        if np.any(np.abs(values) > SMU_V_MAX):
            raise KXCIError(-993, "list voltage beyond 210 V")
        smu.list_values = values
        smu.list_compliance = comp

    def _vr(self, rest: str) -> None:
        """``VR1, start, stop, step, compliance`` linear VAR1 sweep, <= 1024 points; values
        below 1 mV are set to 0 [M 5-19…5-21]. Log sweeps (VR2..4) are not simulated."""
        self._require_page("SS")
        args = split_args(rest)
        if not args or args[0] not in ("1", "2", "3", "4"):
            raise KXCIError(-993, f"VR mode {rest!r}")
        if args[0] != "1":
            raise KXCIError(-986, "log sweeps are not simulated")
        if len(args) != 5:
            raise KXCIError(-993, "VR1 takes start, stop, step, compliance")
        start, stop, step = (parse_float(a) for a in args[1:4])
        if max(abs(start), abs(stop)) > SMU_V_MAX or step == 0:
            raise KXCIError(-993, f"VR {rest!r}")
        if stop != start and np.sign(step) != np.sign(stop - start):
            raise KXCIError(-993, "VR step sign")
        n = int(abs((stop - start) / step) + 1.5)
        if n > MAX_VAR1_POINTS:
            raise KXCIError(-993, f"VR {n} points > {MAX_VAR1_POINTS}")
        var1 = [s for s in self.smus.values() if s.defined and s.function == 1]
        if not var1:
            raise KXCIError(-991, "no VAR1 channel defined")
        values = start + step * np.arange(n)
        values[np.abs(values) < 1e-3] = 0.0
        var1[0].list_values = values
        var1[0].list_compliance = self._compliance(args[4], var1[0])

    def _vc(self, rest: str) -> None:
        """``VCB, value, compliance`` constant source [M 5-15]."""
        self._require_page("SS")
        args = split_args(rest)
        if len(args) != 3:
            raise KXCIError(-993, "VC takes channel, value, compliance")
        smu = self._smu(args[0])
        value = parse_float(args[1])
        if abs(value) > SMU_V_MAX:
            raise KXCIError(-993, f"VC {value} V")
        smu.const_value = value
        smu.const_compliance = self._compliance(args[2], smu)

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

    # ------------------------------------------------------------------ modeless
    def _it(self, rest: str) -> None:
        """``IT1``/``IT2``/``IT3`` or ``IT4, delayF, filterF, ADplc`` [M 5-40]."""
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, "IT needs a mode")
        mode = args[0]
        if mode in ("1", "2", "3") and len(args) == 1:
            self.sm.integration_plc = IT_PLC[int(mode)]
        elif mode == "4" and len(args) == 4:
            delay_f, filter_f, plc = (parse_float(a) for a in args[1:])
            if not (0 <= delay_f <= 100 and 0 <= filter_f <= 100 and 0.01 <= plc <= 10):
                raise KXCIError(-993, f"IT4 {rest!r}")
            self.sm.integration_plc = plc
        else:
            raise KXCIError(-993, f"IT {rest!r}")

    def _rg(self, rest: str) -> None:
        """``RG ch, amps`` lowest autorange current range [M 5-42]."""
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "RG takes channel, range")
        smu = self._smu(args[0])
        amps = parse_float(args[1])
        lo = 1e-12 if smu.preamp else 100e-9
        if not lo * 0.999 <= amps <= (1.0 if smu.high_power else 0.1) * 1.001:
            raise KXCIError(-993, f"RG {amps}")
        smu.lowest_range = amps

    def _ec(self, rest: str) -> None:
        """``EC 0|1`` exit on compliance [M 5-39]."""
        self.sm.exit_on_compliance = parse_int(rest, 0, 1) == 1

    # ------------------------------------------------------------------ SM page
    def _dm(self, rest: str) -> None:
        self._require_page("SM")
        self.sm.display_mode = parse_int(rest, 1, 2)

    def _li(self, rest: str) -> None:
        """``LI 'n1','n2',...`` up to 6 names [M 5-23]."""
        self._require_page("SM")
        names = [parse_name(a) for a in split_args(rest)]
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

    # ------------------------------------------------------------------ MD page: run
    def _me(self, rest: str) -> None:
        """``ME1`` single run into a cleared buffer, ``ME3`` append, ``ME4`` abort [M 5-28].
        ``ME2`` (repeat) is not simulated (-986)."""
        self._require_page("MD")
        mode = parse_int(rest, 1, 4)
        if mode == 4:
            self.sm.busy_until = 0.0
            return
        if time.monotonic() < self.sm.busy_until:
            raise KXCIError(-980, "a test is running")
        if mode == 2:
            raise KXCIError(-986, "ME2 repeat is not simulated")
        self._run_test(append=mode == 3)

    def _run_test(self, append: bool) -> None:
        st = self.sm
        defined = [s for s in self.smus.values() if s.defined]
        var1 = [s for s in defined if s.function == 1]
        if len(var1) > 1:
            raise KXCIError(-991, "more than one VAR1 channel")
        if var1:
            smu = var1[0]
            if smu.list_values is None:
                raise KXCIError(-991, "VAR1 channel without VL/VR values")
            values, comp = smu.list_values, smu.list_compliance
            steps = np.full(values.size, st.delay_s + st.integration_plc * PLC_S)
            hold, pre_level = st.hold_s, values[0]
        else:
            consts = [s for s in defined if s.function == 3 and s.source_mode == 1]
            if not consts or st.samples == 0:
                raise KXCIError(-991, "no VAR1 channel and no sampling set-up (NR)")
            smu = next((s for s in consts if s.number == 1), consts[0])
            values = np.full(st.samples, smu.const_value)
            comp = smu.const_compliance
            interval = max(st.interval_s, st.integration_plc * PLC_S)
            steps = np.full(st.samples, interval)
            hold, pre_level = st.wait_s, smu.const_value
        n_old = len(st.buffer.get(f"CH{smu.number}T", [])) if append else 0
        if n_old + values.size > MAX_BUFFER:
            raise KXCIError(-991, f"buffer would exceed {MAX_BUFFER} readings")
        if smu.number == 1 and self._smu1_wired():
            if hold:
                self.device.drive([hold], [pre_level], [comp])
            t_start = self.device.time
            res = self.device.drive(steps, values, np.full(values.size, comp))
            self.last_truth = res
            v_meas, i_meas, clamp, t_end = res.v, res.i, res.compliance, res.t
        else:
            # open circuit or no device: the source reaches its level, no current flows
            if hold:
                self.device.rest(hold)
            t_start = self.device.time
            t_end = t_start + np.cumsum(steps)
            self.device.rest(float(steps.sum()))
            v_meas, i_meas = values.copy(), np.zeros(values.size)
            clamp = np.zeros(values.size, dtype=bool)
        n_done = values.size
        if st.exit_on_compliance and clamp.any():
            n_done = int(np.argmax(clamp)) + 1
        status = np.where(clamp[:n_done], "C", "N")
        if not append:
            st.buffer = {}
        t0 = self._test_t0 if append and n_old else t_start
        self._test_t0 = t0
        new = {
            smu.vname: [s + fmt_value(v) for s, v in zip(status, v_meas[:n_done], strict=True)],
            smu.iname: [s + fmt_value(i) for s, i in zip(status, i_meas[:n_done], strict=True)],
            f"CH{smu.number}T": ["N" + fmt_value(t - t0) for t in t_end[:n_done]],
        }
        for name, items in new.items():
            if name:
                st.buffer.setdefault(name, []).extend(items)
        st.status_byte |= SB_DATA_READY | (SB_RQS if st.srq_on_data else 0)
        self._wait_paced(float(t_end[n_done - 1] - t_start) if n_done else 0.0)

    def _buffer_for(self, name: str) -> list[str]:
        st = self.sm
        if name not in st.list_names and not re.fullmatch(r"CH\d+T", name):
            return []  # not enabled with LI: not measured [M 5-38]
        data = st.buffer.get(name)
        if data is None:
            if any(name in (s.vname, s.iname) for s in self.smus.values() if s.defined):
                return []
            raise KXCIError(-993, f"no such name {name!r}")
        return data

    def _do(self, rest: str) -> str:
        """``DO 'name'`` all readings, comma-separated with status prefixes [M 5-38, 2-11].

        A function not enabled with ``LI`` was not measured and reads back empty.
        """
        self._settle()
        return ",".join(self._buffer_for(parse_name(rest)))

    def _rd(self, rest: str) -> str:
        """``RD 'name', N`` one reading (1-based); ``0`` when not measured yet [M 5-41]."""
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "RD takes name, index")
        data = self._buffer_for(parse_name(args[0]))
        k = parse_int(args[1], 1, MAX_BUFFER)
        return data[k - 1] if k <= len(data) else "0"

    # ------------------------------------------------------------------ user mode
    def _user_source(self, rest: str, name: str) -> tuple[SMUChannel, list[str]] | None:
        """Common part of ``DV``/``DI``: the SMU and its 4 arguments, or None when the
        command had only the channel (output off)."""
        self._require_user()
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, f"{name} needs a channel")
        smu = self._smu(args[0])
        if len(args) == 1:
            smu.output_on = False
            smu.output_v = smu.output_i = 0.0
            return None
        if len(args) != 4:
            raise KXCIError(-993, f"{name} takes channel, range, value, compliance")
        return smu, args

    def _dv(self, rest: str) -> None:
        """``DVB, range, volts, Icomp`` or ``DVB`` (off) [M 5-33]."""
        found = self._user_source(rest, "DV")
        if found is None:
            return
        smu, args = found
        rng = parse_int(args[1], 0, 5)
        if rng in (4, 5) and not smu.preamp:
            raise KXCIError(-993, f"DV range {rng} needs a preamp")
        volts = parse_float(args[2])
        if abs(volts) > min(SMU_V_MAX, 1.05 * DV_SPAN.get(rng, SMU_V_MAX)):
            raise KXCIError(-993, f"DV {volts} V on range {rng}")
        smu.output_comp = self._compliance(args[3], smu)
        smu.output_kind, smu.output_v, smu.output_i, smu.output_on = "V", volts, 0.0, True

    def _di(self, rest: str) -> None:
        """``DIB, range, amps, Vcomp`` or ``DIB`` (off) [M 5-32]."""
        found = self._user_source(rest, "DI")
        if found is None:
            return
        smu, args = found
        rng = parse_int(args[1], 0, 13)
        if (rng in (1, 2, 11, 12, 13) and not smu.preamp) or (rng == 10 and not smu.high_power):
            raise KXCIError(-993, f"DI range {rng} not available on this SMU")
        amps = parse_float(args[2])
        if abs(amps) > min(smu.i_max, 1.05 * DI_SPAN.get(rng, smu.i_max)):
            raise KXCIError(-993, f"DI {amps} A on range {rng}")
        vcomp = abs(parse_float(args[3]))
        if vcomp > SMU_V_MAX:
            raise KXCIError(-993, f"DI voltage compliance {vcomp}")
        smu.output_kind, smu.output_i, smu.output_v, smu.output_on = "I", amps, vcomp, True

    def _read_user(self, smu: SMUChannel) -> tuple[str, float, float]:
        """Source the present output for one integration period and read it.

        A current source with voltage compliance is the device contract's voltage source
        at the compliance voltage, clamped at the programmed current: clamped = the current
        source regulates (``N``); not clamped = voltage compliance reached (``C``).
        """
        step = self.sm.integration_plc * PLC_S
        if smu.number == 1 and smu.output_on and self._smu1_wired():
            if smu.output_kind == "V":
                res = self.device.drive([step], [smu.output_v], [smu.output_comp])
                status = "C" if res.compliance[0] else "N"
            else:
                v = np.copysign(smu.output_v, smu.output_i) if smu.output_i else 0.0
                res = self.device.drive([step], [v], [abs(smu.output_i)])
                status = "N" if res.compliance[0] or smu.output_i == 0 else "C"
            self.last_truth = res
            return status, float(res.v[0]), float(res.i[0])
        self.device.rest(step)
        if not smu.output_on:
            return "N", 0.0, 0.0
        if smu.output_kind == "I":  # open circuit: a current source runs into V compliance
            return ("C" if smu.output_i else "N"), np.copysign(smu.output_v, smu.output_i), 0.0
        return "N", smu.output_v, 0.0

    def _ti(self, rest: str) -> str:
        """``TIn`` -> ``XYI+N.NNNNE-NN`` (status, channel letter, I) [M 5-34, 3-2]."""
        self._require_user()
        smu = self._smu(rest)
        status, _, i = self._read_user(smu)
        return f"{status}{smu.letter}I{fmt_value(i)}"

    def _tv(self, rest: str) -> str:
        """``TVn`` -> ``XYV+N.NNNNE+NN`` [M 5-35, 3-2]."""
        self._require_user()
        smu = self._smu(rest)
        status, v, _ = self._read_user(smu)
        return f"{status}{smu.letter}V{fmt_value(v)}"
