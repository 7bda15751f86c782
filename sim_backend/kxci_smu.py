"""SMU side of the simulated 4200A: channel state, user mode (``US``, ``DV``/``DI``/``DS``,
``TV``/``TI``) and the modeless SMU commands (``BC``, ``EC``, ``IT``, ``RG``, ``RI``,
``RV``, ``RS``, ``AC``, ``EM``) [M §5]. System mode (pages, tests, buffer) lives in
:mod:`sim_backend.kxci_system`; the channel state in :mod:`sim_backend.kxci_channels`.

The device model is wired between SMU1 and ground (through the RPM on PMU channel 1 when
the mainframe has one: then SMU1 reaches the device only while that RPM is routed to the
SMU, ``:PMU:RPM:CONFIGURE PMU1-1, 2`` [M 7-22]). Every other channel is wired to nothing
and reads open-circuit values (0 A; a current source runs into its voltage compliance, as
pymeasure's hardware test of the real instrument expects [3P pymeasure
tests/instruments/keithley/test_keithley4200_with_device.py]). Readings pass through
:mod:`sim_backend.smu_noise` (range, resolution, seeded noise) and carry the status
letter ``N`` or ``C`` [M 3-1].
"""

from __future__ import annotations

import numpy as np

from sim_backend.kxci_channels import (
    DI_SPAN,
    DV_SPAN,
    IT_PLC,
    PLC_S,
    SMU_V_MAX,
    TI_MAX_CHANNEL,
    TV_CODES,
    VS_V_MAX,
    SMUChannel,
    reading_letter,
)
from sim_backend.kxci_common import (
    SB_BUSY,
    SB_DATA_READY,
    SB_RQS,
    SB_SYNTAX_ERROR,
    KXCIError,
    parse_float,
    parse_int,
    split_args,
)
from sim_backend.kxci_state import CardPart


class SMUCard(CardPart):
    """User-mode and modeless SMU commands of the mainframe's SMUs."""

    def handlers(self) -> dict:
        return {
            "US": self._us, "BC": self._bc, "SP": self._sp, "DR": self._dr,
            "IT": self._it, "RG": self._rg, "RI": self._ri, "RV": self._rv, "RS": self._rs,
            "EC": self._ec, "AC": self._ac, "EM": self._em,
            "DV": self._dv, "DI": self._di, "DS": self._ds, "TI": self._ti, "TV": self._tv,
        }

    def _require_user(self) -> None:
        if self.st.sm.mode != "user":
            raise KXCIError(-974)  # user-mode command in system mode [M 2-12]

    # ------------------------------------------------------------------ status, buffer
    def _us(self, rest: str) -> None:
        """``US``: user mode [M 5-31]."""
        if rest:
            raise KXCIError(-993, rest)
        self.st.sm.mode = "user"
        self.st.sm.page = "US"

    def _bc(self, rest: str) -> None:
        """``BC``: clear the buffer and the data-ready bit [M 5-37].

        The syntax-error bit (B1) and RQS are cleared too: pymeasure's test against the
        real instrument expects status 0 right after ``clear()`` (= ``BC``) [3P pymeasure
        test_keithley4200_with_device.py].
        """
        if rest:
            raise KXCIError(-993, rest)
        self.st.clear_buffer()
        self.st.sm.status_byte &= ~(SB_DATA_READY | SB_SYNTAX_ERROR | SB_RQS)

    def _sp(self, rest: str) -> str:
        """``SP``: the serial-poll byte on LAN [M 4-6]."""
        if rest:
            raise KXCIError(-993, rest)
        return str(self.serial_poll())

    def serial_poll(self) -> int:
        """The status byte; a poll clears B0 (data ready), B1 (syntax error) and RQS
        [M 3-3, 3-4]. Busy (B4) while a paced test runs."""
        with self.st.lock:
            if self.st.test_running():
                return SB_BUSY | (self.st.sm.status_byte & SB_SYNTAX_ERROR)
            sb = self.st.sm.status_byte
            self.st.sm.status_byte &= ~(SB_DATA_READY | SB_SYNTAX_ERROR | SB_RQS)
            return sb

    def service_requested(self) -> bool:
        """RQS (B6) pending and the test finished: what raises SRQ on GPIB [M 3-5]."""
        with self.st.lock:
            return bool(self.st.sm.status_byte & SB_RQS) and not self.st.test_running()

    def _dr(self, rest: str) -> None:
        """``DR0``/``DR1``: service request on data ready [M 4-1]. The manual calls it
        GPIB-only; on LAN it is accepted (the manual's C examples send it) and only sets
        RQS with B0, which ``SP`` reports."""
        self.st.sm.srq_on_data = parse_int(rest, 0, 1) == 1

    # ------------------------------------------------------------------ modeless
    def _it(self, rest: str) -> None:
        """``IT1``/``IT2``/``IT3`` or ``IT4, delayF, filterF, ADplc`` [M 5-40]."""
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, "IT needs a mode")
        mode = args[0]
        if mode in ("1", "2", "3") and len(args) == 1:
            self.st.sm.integration_plc = IT_PLC[int(mode)]
        elif mode == "4" and len(args) == 4:
            delay_f, filter_f, plc = (parse_float(a) for a in args[1:])
            if not (0 <= delay_f <= 100 and 0 <= filter_f <= 100 and 0.01 <= plc <= 10):
                raise KXCIError(-993, f"IT4 {rest!r}")
            self.st.sm.integration_plc = plc
        else:
            raise KXCIError(-993, f"IT {rest!r}")

    def _rg(self, rest: str) -> None:
        """``RG ch, amps`` lowest autorange current range [M 5-42]; the manual's bounds
        are signed (-100e-9 ...), the magnitude is the range."""
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "RG takes channel, range")
        smu = self.st.smu(args[0])
        smu.lowest_range = _current_range(smu, args[1], "RG")

    def _ri(self, rest: str) -> None:
        """``RI ch, range, compliance``: fixed current range now [M 5-42, 5-43]."""
        args = split_args(rest)
        if len(args) != 3:
            raise KXCIError(-993, "RI takes channel, range, compliance")
        smu = self.st.smu(args[0])
        amps = _current_range(smu, args[1], "RI range")
        smu.output_comp = self.st.compliance(args[2], smu)
        smu.fixed_i_range = amps

    def _rv(self, rest: str) -> None:
        """``RV ch, range, compliance``: voltage range closest above ``range`` now
        [M 5-43, 5-44]; compliance is a voltage (±210 V)."""
        args = split_args(rest)
        if len(args) != 3:
            raise KXCIError(-993, "RV takes channel, range, compliance")
        smu = self.st.smu(args[0])
        volts, comp = abs(parse_float(args[1])), abs(parse_float(args[2]))
        if volts > SMU_V_MAX or comp > SMU_V_MAX:
            raise KXCIError(-993, f"RV {rest!r}")
        spans = sorted({0.2, 2.0} if smu.preamp else set()) + [20.0, 200.0]
        smu.fixed_v_range = next((s for s in spans if volts <= s), 200.0)

    def _rs(self, rest: str) -> None:
        """``RS digits``: resolution of every reading, 3..7 digits [M 5-43]."""
        self.st.sm.resolution = parse_int(rest, 3, 7)

    def _ec(self, rest: str) -> None:
        """``EC 0|1`` exit on compliance [M 5-39]."""
        self.st.sm.exit_on_compliance = parse_int(rest, 0, 1) == 1

    def _ac(self, rest: str) -> None:
        """``AC n``: autocalibrate SMU n [M 5-37]. The simulated SMU has no offsets to
        calibrate; the channel is checked (-979 when absent) and the command completes."""
        self.st.smu(rest)

    def _em(self, rest: str) -> None:
        """``EM mode, sessions`` [M 5-39]: ``EM 1,x`` keeps the 4200A command set; the
        4145 Emulation command set (``EM 0,x``) is not simulated: -986."""
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "EM takes mode, sessions")
        mode = parse_int(args[0], 0, 1)
        parse_int(args[1], 0, 1)
        if mode == 0:
            raise KXCIError(-986, "the 4145 Emulation command set is not simulated")

    # ------------------------------------------------------------------ user mode
    def _user_source(self, rest: str, name: str) -> tuple[SMUChannel, list[str]] | None:
        """Common part of ``DV``/``DI``: the SMU and its 4 arguments, or None when the
        command had only the channel (output off)."""
        self._require_user()
        args = split_args(rest)
        if not args:
            raise KXCIError(-993, f"{name} needs a channel")
        smu = self.st.smu(args[0])
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
        smu.output_comp = self.st.compliance(args[3], smu)
        smu.output_kind, smu.output_v, smu.output_i, smu.output_on = "V", volts, 0.0, True
        smu.output_range = rng

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
        smu.output_range = rng

    def _ds(self, rest: str) -> None:
        """``DSn, volts``: voltage source VSn outputs ±200 V [M 5-33]; -988 when the
        mainframe has no VSn (no ``VSn`` card in ``*OPT?`` and no ``MP`` map)."""
        self._require_user()
        args = split_args(rest)
        if len(args) != 2:
            raise KXCIError(-993, "DS takes channel, volts")
        n = parse_int(args[0], 1, 9)
        volts = parse_float(args[1])
        if abs(volts) > VS_V_MAX:
            raise KXCIError(-993, f"DS {volts} V")
        vs = self.st.vsvm_channel("VS", n)
        if vs is None:
            raise KXCIError(-988, f"no VS{n}")
        vs.user_value, vs.user_on = volts, True

    def _read_user(self, smu: SMUChannel) -> tuple[str, float, float]:
        """Source the present output for one integration period and read it.

        A current source with voltage compliance is the device contract's voltage source
        at the compliance voltage, clamped at the programmed current: clamped = the current
        source regulates (``N``); not clamped = voltage compliance reached (``C``). A 0 A
        source holds the device at 0 V.
        """
        step = self.st.sm.integration_plc * PLC_S
        wired = smu.number == 1 and self.st.smu1_wired()
        if wired and smu.output_on and (smu.output_kind == "V" or smu.output_i != 0):
            if smu.output_kind == "V":
                res = self.st.device.drive([step], [smu.output_v], [smu.output_comp])
                status = "C" if res.compliance[0] else "N"
            else:
                v = float(np.copysign(smu.output_v, smu.output_i))
                res = self.st.device.drive([step], [v], [abs(smu.output_i)])
                status = "N" if res.compliance[0] else "C"
            self.st.last_truth = res
            v_true, i_true = float(res.v[0]), float(res.i[0])
        else:
            self.st.device.rest(step)
            status, v_true, i_true = "N", 0.0, 0.0
            if smu.output_on and smu.output_kind == "V":
                v_true = smu.output_v
            elif smu.output_on and smu.output_i != 0:  # open circuit: V compliance [3P]
                status, v_true = "C", float(np.copysign(smu.output_v, smu.output_i))
        v_meas = self.st.noise.measure_v(smu, np.array([v_true]), smu.output_range)[0]
        i_meas = self.st.noise.measure_i(smu, np.array([i_true]), self.st.sm.integration_plc)[0]
        return status, float(v_meas), float(i_meas)

    def _ti(self, rest: str) -> str:
        """``TIn`` -> ``XYI±N.NNNNE±NN``: status, letter A (SMU1) ... , I [M 5-34, 3-2]."""
        self._require_user()
        code = parse_int(rest, 1, TI_MAX_CHANNEL)
        smu = self.st.smu(str(code))
        status, _, i = self._read_user(smu)
        self.st.data_ready()
        return f"{status}{reading_letter(code)}I{self.st.fmt(i)}"

    def _tv(self, rest: str) -> str:
        """``TVn`` -> ``XYV±N.NNNNE±NN`` with the manual's channel codes: 1-4 SMU1-4, 5-6
        VM1-2, 7-10 SMU5-8, 11-16 VM3-8; letter A = code 1 ... P = code 16 [M 5-35, 3-2]."""
        self._require_user()
        code = parse_int(rest, 1, 16)
        kind, n = TV_CODES[code]
        if kind == "SMU":
            status, v, _ = self._read_user(self.st.smu(str(n)))
        else:
            vm = self.st.vsvm_channel("VM", n)
            if vm is None:
                raise KXCIError(-988, f"no VM{n}")
            self.st.device.rest(self.st.sm.integration_plc * PLC_S)
            status, v = "N", float(self.st.noise.measure_v(None, np.zeros(1), 0)[0])
        self.st.data_ready()
        return f"{status}{reading_letter(code)}V{self.st.fmt(v)}"


def _current_range(smu: SMUChannel, text: str, what: str) -> float:
    """The magnitude of a current range argument of ``RG``/``RI`` [M 5-42], checked
    against the SMU's ranges: 1 pA with a preamplifier (100 nA without) up to 1 A on a
    high-power SMU (100 mA otherwise); ``what`` names the argument in the error."""
    amps = abs(parse_float(text))
    lo = 1e-12 if smu.preamp else 100e-9
    if not lo * 0.999 <= amps <= (1.0 if smu.high_power else 0.1) * 1.001:
        raise KXCIError(-993, f"{what} {amps}")
    return amps
