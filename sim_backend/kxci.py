"""A simulated Keithley 4200A-SCS speaking KXCI (the instrument's remote command set).

One :class:`KXCIEngine` holds the instrument state (page, channel definitions, sources,
buffers, status byte, last error) and a device model wired between SMU1 and ground. The
same engine sits behind the in-process pymeasure adapter (``sim_backend.adapter``) and the
loopback TCP server (``sim_backend.server``), so a test that passes on either has exercised
the exact command strings the driver sends to a real instrument.

Syntax and reply formats follow the KXCI manual (4200A-KXCI-907-01 Rev. E); section and
page numbers are cited per command below as ``[M p]``. Replies on LAN: ``ACK`` for commands
that return nothing, the data otherwise [M 2-10, 2-11].

Virtual time: the device evolves in instrument time, which runs as fast as possible
(``speed=None``) or paced against the wall clock (``speed=X``, 1 = real time). Tests report
timestamps relative to their start, like the instrument. Two simulator-only commands expose
the clock to the host so that protocols can wait in instrument time (a 6e3 s retention run
takes well under a second): ``:SIM:TIME?`` and ``:SIM:ADVANCE seconds``. The driver sends
them only to an instrument whose ``*IDN?`` serial starts with ``SIM``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim_backend.device import DeviceModel, default_device

#: KXCI error codes and messages [M 2-12, 2-13].
ERRORS: dict[int, str] = {
    -992: "KXCI command error.",
    -993: "Invalid command argument.",
    -991: "Illegal setup.",
    -989: "Command not valid on this page.",
    -986: "Unsupported command.",
    -980: "Command not valid during test execution.",
    -979: "SMU not present.",
}

#: Integration times in power-line cycles for IT1..IT3 [M 5-40]; 1 PLC = 1/60 s.
IT_PLC = {1: 0.1, 2: 1.0, 3: 10.0}
PLC_S = 1.0 / 60.0

MAX_LIST_POINTS = 4096  # [M 5-16]
MAX_BUFFER = 4096  # [M 5-28]
SMU_V_MAX = 210.0  # [M 5-33]
SMU_I_MAX = 0.105  # 4200/4201-SMU [M 5-33]
SMU_I_MIN_COMP = 100e-9  # without preamp; smaller compliance is raised [M 5-16]

# Status byte bits [M 3-3]
SB_DATA_READY = 1
SB_SYNTAX_ERROR = 2
SB_BUSY = 16


class KXCIError(Exception):
    """A command the instrument rejects; carries the KXCI error code."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{ERRORS.get(code, 'Error.')} ({code}) {detail}".strip())


def fmt_value(value: float) -> str:
    """A reading as the instrument prints it: sign, 5 significant digits, 2-digit exponent.

    ``+1.2345E-03`` is 11 characters, inside KXCI's 12-character limit [M 5-6].
    """
    return f"{value:+.4E}"


@dataclass
class SMUChannel:
    """Channel-definition and source state of one SMU."""

    number: int
    vname: str = ""
    iname: str = ""
    source_mode: int = 0  # 1 V, 2 I, 3 common [M 5-7]
    function: int = 0  # 1 VAR1, 2 VAR2, 3 const, 4 VAR1'
    list_values: np.ndarray | None = None
    list_compliance: float = SMU_I_MAX
    const_value: float = 0.0
    const_compliance: float = SMU_I_MAX
    # user mode
    output_v: float = 0.0
    output_comp: float = 105e-6  # user-mode power-on default [M 5-4]
    output_on: bool = False

    @property
    def defined(self) -> bool:
        return self.source_mode != 0


@dataclass
class KXCIState:
    """Everything that a ``*RST``-like re-init would reset."""

    page: str = "DE"
    mode: str = "system"  # system or user
    smus: dict[int, SMUChannel] = field(default_factory=dict)
    integration_plc: float = 1.0
    delay_s: float = 0.0  # DT
    hold_s: float = 0.0  # HT
    exit_on_compliance: bool = False
    display_mode: int = 1
    list_names: list[str] = field(default_factory=list)
    buffer: dict[str, list[str]] = field(default_factory=dict)
    status_byte: int = 0
    last_error: tuple[int, str] | None = None
    busy_until: float = 0.0  # wall-clock deadline while a paced test "runs"


_CMD_RE = re.compile(r"^\s*(\*?[A-Z:]+[A-Z?]*)\s*(.*)$", re.IGNORECASE)


class KXCIEngine:
    """Parser and state machine of the simulated 4200A.

    Parameters
    ----------
    device : the device behind SMU1 (default: :func:`sim_backend.device.default_device`).
    seed : seed for the default device.
    options : slot entries answered to ``*OPT?`` [M 4-4].
    speed : None = as fast as possible; X > 0 paces instrument time at X times real time.
    """

    IDN = "KEITHLEY INSTRUMENTS,KI4200A,SIM{seed:07d},V1.13"

    def __init__(
        self,
        device: DeviceModel | None = None,
        seed: int = 0,
        options: tuple[str, ...] = ("SMU1", "SMU2", "SMU3", "SMU4", "PMU1", "", "", ""),
        speed: float | None = None,
    ) -> None:
        self.device = device if device is not None else default_device(seed)
        self.seed = seed
        self.options = options
        self.speed = speed
        self.state = KXCIState()
        self.lock = threading.RLock()
        self.log: list[str] = []  # every message received, for tests
        self._new_smus()
        self._handlers: dict[str, Callable[[str], str | None]] = {
            "*IDN?": self._idn,
            "*OPT?": self._opt,
            "BC": self._bc,
            "DE": self._page("DE"),
            "SS": self._page("SS"),
            "SM": self._page("SM"),
            "MD": self._page("MD"),
            "US": self._us,
            "CH": self._ch,
            "VL": self._vl,
            "VC": self._vc,
            "DT": self._dt,
            "HT": self._ht,
            "IT": self._it,
            "EC": self._ec,
            "DM": self._dm,
            "LI": self._li,
            "ME": self._me,
            "SP": self._sp,
            "DO": self._do,
            "DV": self._dv,
            "TI": self._ti,
            "TV": self._tv,
            ":ERROR:LAST:GET": self._err_get,
            ":ERROR:LAST:CLEAR": self._err_clear,
            ":SIM:TIME?": self._sim_time,
            ":SIM:ADVANCE": self._sim_advance,
        }

    # ------------------------------------------------------------------ plumbing
    def _new_smus(self) -> None:
        self.state.smus = {
            int(o[3:]): SMUChannel(int(o[3:])) for o in self.options if re.fullmatch(r"SMU\d", o)
        }

    def handle(self, message: str) -> str:
        """Process one message (terminator stripped) and return the LAN reply.

        Several commands may share a message, separated by ``;`` [M 5-8]; the reply is the
        data of the last query in it, or ``ACK`` when none of them returns data.
        """
        with self.lock:
            self.log.append(message)
            reply: str | None = None
            for part in message.split(";"):
                part = part.strip()
                if not part:
                    continue
                try:
                    out = self._dispatch(part)
                except KXCIError as exc:
                    self.state.last_error = (exc.code, ERRORS.get(exc.code, "Error."))
                    self.state.status_byte |= SB_SYNTAX_ERROR
                    out = None
                if out is not None:
                    reply = out
            return reply if reply is not None else "ACK"

    def _dispatch(self, part: str) -> str | None:
        upper = part.upper()
        # longest-prefix match over the command table
        for name in sorted(self._handlers, key=len, reverse=True):
            if upper.startswith(name):
                return self._handlers[name](part[len(name):].strip())
        raise KXCIError(-992, part)

    def _require_page(self, *pages: str) -> None:
        if self.state.mode != "system" or self.state.page not in pages:
            raise KXCIError(-989)

    def _smu(self, text: str) -> SMUChannel:
        try:
            n = int(text)
        except ValueError as exc:
            raise KXCIError(-993, f"channel {text!r}") from exc
        if n not in self.state.smus:
            raise KXCIError(-979, f"SMU{n}")
        return self.state.smus[n]

    @staticmethod
    def _args(text: str) -> list[str]:
        return [a.strip() for a in text.split(",")] if text.strip() else []

    @staticmethod
    def _float(text: str) -> float:
        if len(text) > 12:
            raise KXCIError(-993, f"number longer than 12 characters: {text!r}")
        try:
            value = float(text)
        except ValueError as exc:
            raise KXCIError(-993, f"not a number: {text!r}") from exc
        if not np.isfinite(value):
            raise KXCIError(-993, f"not a number: {text!r}")
        return value

    @staticmethod
    def _name(text: str) -> str:
        m = re.fullmatch(r"'([^']{0,6})'", text.strip())
        if not m:
            raise KXCIError(-993, f"name {text!r}")
        return m.group(1)

    def _wait_paced(self, duration: float) -> None:
        if self.speed:
            self.state.busy_until = time.monotonic() + duration / self.speed

    # ------------------------------------------------------------------ identity, status
    def _idn(self, _: str) -> str:
        return self.IDN.format(seed=self.seed)

    def _opt(self, _: str) -> str:
        return ",".join(self.options)

    def _bc(self, _: str) -> None:
        self.state.buffer = {}
        self.state.status_byte &= ~SB_DATA_READY

    def _sp(self, _: str) -> str:
        sb = self.state.status_byte
        if time.monotonic() < self.state.busy_until:
            return str(SB_BUSY)
        self.state.status_byte &= ~SB_SYNTAX_ERROR  # cleared by serial poll [M 3-4]
        return str(sb)

    def _err_get(self, _: str) -> str:
        if self.state.last_error is None:
            return "No error. (0)"
        code, msg = self.state.last_error
        return f"{msg} ({code})"

    def _err_clear(self, _: str) -> None:
        self.state.last_error = None

    def _sim_time(self, _: str) -> str:
        return repr(float(self.device.time))

    def _sim_advance(self, arg: str) -> None:
        seconds = float(arg)
        if not np.isfinite(seconds) or seconds < 0:
            raise KXCIError(-993, f"advance {arg!r}")
        self._settle()
        smu1 = self.state.smus.get(1)
        if smu1 is not None and smu1.output_on and smu1.output_v != 0.0 and seconds > 0:
            # the output stays on while the host waits: the device is biased, not resting
            self.last_truth = self.device.drive([seconds], [smu1.output_v], [smu1.output_comp])
        else:
            self.device.rest(seconds)
        self._wait_paced(seconds)
        self._settle()

    def _settle(self) -> None:
        """Block until a paced test or wait has run its wall-clock time."""
        remaining = self.state.busy_until - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)

    # ------------------------------------------------------------------ pages
    def _page(self, page: str) -> Callable[[str], None]:
        def enter(rest: str) -> None:
            if rest:
                raise KXCIError(-993, rest)
            self.state.mode = "system"
            self.state.page = page

        return enter

    def _us(self, rest: str) -> None:
        if rest:
            raise KXCIError(-993, rest)
        self.state.mode = "user"
        self.state.page = "US"

    # ------------------------------------------------------------------ DE page
    def _ch(self, rest: str) -> None:
        """``CHA, 'Vname', 'Iname', D, E`` or ``CHA`` to disable [M 5-7]."""
        self._require_page("DE")
        args = self._args(rest)
        if not args:
            raise KXCIError(-993, "CH needs a channel")
        smu = self._smu(args[0])
        if len(args) == 1:
            self.state.smus[smu.number] = SMUChannel(smu.number)
            return
        if len(args) != 5:
            raise KXCIError(-993, f"CH takes 5 arguments, got {len(args)}")
        vname, iname = self._name(args[1]), self._name(args[2])
        mode, func = int(args[3]), int(args[4])
        if mode not in (1, 2, 3) or func not in (1, 2, 3, 4) or (mode == 3 and func != 3):
            raise KXCIError(-993, f"CH mode {mode} function {func}")
        smu.vname, smu.iname, smu.source_mode, smu.function = vname, iname, mode, func

    # ------------------------------------------------------------------ SS page
    def _compliance(self, text: str) -> float:
        comp = abs(self._float(text))
        if comp > SMU_I_MAX:
            raise KXCIError(-993, f"compliance {comp} A > {SMU_I_MAX} A")
        return max(comp, SMU_I_MIN_COMP)  # the instrument raises too-small values [M 5-16]

    def _vl(self, rest: str) -> None:
        """``VLB, C, compliance, v1, v2, ...`` list sweep, <= 4096 points [M 5-16]."""
        self._require_page("SS")
        args = self._args(rest)
        if len(args) < 4:
            raise KXCIError(-993, "VL needs channel, master, compliance and values")
        smu = self._smu(args[0])
        if args[1] not in ("0", "1"):
            raise KXCIError(-993, f"VL master flag {args[1]!r}")
        comp = self._compliance(args[2])
        values = np.array([self._float(a) for a in args[3:]])
        if values.size > MAX_LIST_POINTS:
            raise KXCIError(-993, f"{values.size} list points > {MAX_LIST_POINTS}")
        if np.any(np.abs(values) > SMU_V_MAX):
            raise KXCIError(-993, "list voltage beyond 210 V")
        smu.list_values = values
        smu.list_compliance = comp

    def _vc(self, rest: str) -> None:
        """``VCB, value, compliance`` constant source [M 5-15]."""
        self._require_page("SS")
        args = self._args(rest)
        if len(args) != 3:
            raise KXCIError(-993, "VC takes channel, value, compliance")
        smu = self._smu(args[0])
        value = self._float(args[1])
        if abs(value) > SMU_V_MAX:
            raise KXCIError(-993, f"VC {value} V")
        smu.const_value = value
        smu.const_compliance = self._compliance(args[2])

    def _dt(self, rest: str) -> None:
        self._require_page("SS")
        value = self._float(rest)
        if not 0 <= value <= 6.553:  # [M 5-10]
            raise KXCIError(-993, f"DT {value}")
        self.state.delay_s = value

    def _ht(self, rest: str) -> None:
        self._require_page("SS")
        value = self._float(rest)
        if not 0 <= value <= 655.3:  # [M 5-12]
            raise KXCIError(-993, f"HT {value}")
        self.state.hold_s = value

    # ------------------------------------------------------------------ modeless
    def _it(self, rest: str) -> None:
        """``IT1``/``IT2``/``IT3`` or ``IT4, delayF, filterF, ADplc`` [M 5-40]."""
        args = self._args(rest)
        if not args:
            raise KXCIError(-993, "IT needs a mode")
        mode = args[0]
        if mode in ("1", "2", "3") and len(args) == 1:
            self.state.integration_plc = IT_PLC[int(mode)]
        elif mode == "4" and len(args) == 4:
            plc = self._float(args[3])
            if not 0.01 <= plc <= 10:
                raise KXCIError(-993, f"IT4 A/D {plc} PLC")
            self.state.integration_plc = plc
        else:
            raise KXCIError(-993, f"IT {rest!r}")

    def _ec(self, rest: str) -> None:
        if rest not in ("0", "1"):
            raise KXCIError(-993, f"EC {rest!r}")
        self.state.exit_on_compliance = rest == "1"

    # ------------------------------------------------------------------ SM page
    def _dm(self, rest: str) -> None:
        self._require_page("SM")
        if rest not in ("1", "2"):
            raise KXCIError(-993, f"DM {rest!r}")
        self.state.display_mode = int(rest)

    def _li(self, rest: str) -> None:
        """``LI 'n1','n2',...`` up to 6 names [M 5-23]."""
        self._require_page("SM")
        names = [self._name(a) for a in self._args(rest)]
        if not 1 <= len(names) <= 6:
            raise KXCIError(-993, f"LI takes 1..6 names, got {len(names)}")
        self.state.list_names = names

    # ------------------------------------------------------------------ MD page: run
    def _me(self, rest: str) -> None:
        """``ME1`` single run into a cleared buffer [M 5-28]."""
        self._require_page("MD")
        if rest != "1":
            raise KXCIError(-993, f"ME{rest} not supported by the simulator")
        self._run_sweep()

    def _run_sweep(self) -> None:
        st = self.state
        var1 = [s for s in st.smus.values() if s.defined and s.function == 1]
        if len(var1) != 1 or var1[0].list_values is None:
            raise KXCIError(-991, "one SMU must be VAR1 with a VL list")
        smu = var1[0]
        if smu.number != 1:
            raise KXCIError(-991, "the simulated device is wired to SMU1")
        values = smu.list_values
        n = values.size
        step_s = st.delay_s + st.integration_plc * PLC_S
        if st.hold_s:
            self.device.drive([st.hold_s], [values[0]], [smu.list_compliance])
        t_start = self.device.time
        res = self.device.drive(np.full(n, step_s), values, np.full(n, smu.list_compliance))
        n_done = n
        if st.exit_on_compliance and res.compliance.any():
            n_done = int(np.argmax(res.compliance)) + 1
        status = np.where(res.compliance[:n_done], "C", "N")
        st.buffer = {}
        if smu.vname:
            st.buffer[smu.vname] = [s + fmt_value(v) for s, v in zip(status, res.v[:n_done],
                                                                     strict=True)]
        if smu.iname:
            st.buffer[smu.iname] = [s + fmt_value(i) for s, i in zip(status, res.i[:n_done],
                                                                     strict=True)]
        st.buffer[f"CH{smu.number}T"] = ["N" + fmt_value(t - t_start) for t in res.t[:n_done]]
        # ground-truth side channel for validation (simulator only)
        self.last_truth = res
        st.status_byte |= SB_DATA_READY
        self._wait_paced(float(res.t[-1] - t_start) if n else 0.0)

    def _do(self, rest: str) -> str:
        """``DO 'name'`` all readings, comma-separated with status prefixes [M 5-38, 2-11].

        A function not enabled with ``LI`` was not measured and reads back empty.
        """
        self._settle()
        name = self._name(rest)
        st = self.state
        if name not in st.list_names and not name.endswith("T"):
            return ""
        data = st.buffer.get(name)
        if data is None:
            raise KXCIError(-993, f"no such name {name!r}")
        return ",".join(data)

    # ------------------------------------------------------------------ user mode
    def _dv(self, rest: str) -> None:
        """``DVB, range, volts, Icomp`` or ``DVB`` (off) [M 5-33]."""
        if self.state.mode != "user":
            raise KXCIError(-974)
        args = self._args(rest)
        smu = self._smu(args[0]) if args else None
        if smu is None:
            raise KXCIError(-993, "DV needs a channel")
        if len(args) == 1:
            smu.output_on = False
            smu.output_v = 0.0
            return
        if len(args) != 4:
            raise KXCIError(-993, "DV takes channel, range, volts, compliance")
        if args[1] not in {"0", "1", "2", "3", "4", "5"}:
            raise KXCIError(-993, f"DV range {args[1]!r}")
        volts = self._float(args[2])
        if abs(volts) > SMU_V_MAX:
            raise KXCIError(-993, f"DV {volts} V")
        smu.output_comp = self._compliance(args[3])
        smu.output_v = volts
        smu.output_on = True

    def _read_user(self, smu: SMUChannel) -> tuple[str, float, float]:
        """Source the present output for one integration period and read it."""
        step = self.state.integration_plc * PLC_S
        if smu.number == 1 and smu.output_on:
            res = self.device.drive([step], [smu.output_v], [smu.output_comp])
            status = "C" if res.compliance[0] else "N"
            self.last_truth = res
            return status, float(res.v[0]), float(res.i[0])
        self.device.rest(step)
        return "N", smu.output_v if smu.output_on else 0.0, 0.0

    def _ti(self, rest: str) -> str:
        """``TIn`` -> ``XYI+N.NNNNE-NN`` (status, channel letter, I) [M 5-34, 3-2]."""
        if self.state.mode != "user":
            raise KXCIError(-974)
        smu = self._smu(rest)
        status, _, i = self._read_user(smu)
        return f"{status}{chr(ord('A') + smu.number - 1)}I{fmt_value(i)}"

    def _tv(self, rest: str) -> str:
        """``TVn`` -> ``XYV+N.NNNNE+NN`` [M 5-35, 3-2]."""
        if self.state.mode != "user":
            raise KXCIError(-974)
        smu = self._smu(rest)
        status, v, _ = self._read_user(smu)
        return f"{status}{chr(ord('A') + smu.number - 1)}V{fmt_value(v)}"

    # ------------------------------------------------------------------ inspection
    def outputs_safe(self) -> bool:
        """True when every SMU output is off or at 0 V (the safe state)."""
        return all((not s.output_on) or s.output_v == 0.0 for s in self.state.smus.values())
