"""Keithley 4200A-SCS driver over KXCI, on pymeasure.

Transport framing [M 2-5, 2-10, 2-11]: on LAN (``TCPIP::host::1225::SOCKET``) every
command ends with NUL and *every* command gets a reply, ``ACK`` when it returns no data;
on GPIB there is no ACK. :attr:`Keithley4200A.ack` holds which one applies.

What is here (the foundation): identity, card discovery from ``*OPT?``, error retrieval,
user-mode SMU source/measure keeping the reading's status letter, a system-mode list sweep
(``DE``/``CH``/``SS``/``VL``/``SM``/``DM2``/``LI``/``MD``/``ME1``/``SP``/``DO``), and
:meth:`Keithley4200A.safe_off`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np
from pymeasure.instruments import Channel, Instrument

from drivers.validation import ParameterError, check_int, check_range, fmt_number

#: 4200/4201-SMU limits [M 5-33]
SMU_V_MAX = 210.0
SMU_I_MAX = 0.105
MAX_LIST_POINTS = 4096  # VL [M 5-16]
#: integration modes IT1..IT3 in PLC [M 5-40]
INTEGRATION_PLC = {"short": 0.1, "normal": 1.0, "long": 10.0}
_IT_CODE = {"short": 1, "normal": 2, "long": 3}


class InstrumentError(Exception):
    """An error reported by the instrument: KXCI code and text."""

    def __init__(self, code: int, text: str, command: str = "") -> None:
        self.code = code
        self.text = text
        self.command = command
        where = f" after {command!r}" if command else ""
        super().__init__(f"4200A error {code}: {text}{where}")


@dataclass(frozen=True)
class Reading:
    """One SMU reading with its status letter (``N`` normal, ``C`` compliance, ...)."""

    value: float
    status: str

    @property
    def compliance(self) -> bool:
        return self.status == "C"


def parse_reading(text: str) -> Reading:
    """Parse ``XYZ+N.NNNNE-NN`` (user mode) or ``X+N.NNNNE-NN`` / ``X N.NNE-NN`` (DO lists)."""
    m = re.fullmatch(r"\s*([A-Z])(?:[A-Z][VI])?\s*([-+]?[0-9.]+(?:[Ee][-+]?\d+)?)\s*", text)
    if not m:
        raise ValueError(f"cannot parse 4200A reading {text!r}")
    return Reading(float(m.group(2)), m.group(1))


def parse_reading_list(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Values and status letters of a ``DO`` reply, as numpy arrays."""
    text = text.strip().rstrip(",")
    if not text:
        return np.empty(0), np.empty(0, dtype="<U1")
    items = [parse_reading(x) for x in text.split(",")]
    return (np.fromiter((r.value for r in items), float, len(items)),
            np.array([r.status for r in items]))


@dataclass
class SweepData:
    """Result of one system-mode sweep on one SMU."""

    voltage: np.ndarray
    current: np.ndarray
    time: np.ndarray
    compliance: np.ndarray


class SMU(Channel):
    """One SMU card, addressed by its number (``SMU1`` -> 1)."""

    def source_voltage(self, volts: float, compliance: float, range_code: int = 0) -> None:
        """User mode: source ``volts`` with current ``compliance`` (``DV``) [M 5-33].

        Compliance is part of the same command, so the output never runs unlimited.
        """
        check_range("voltage", volts, -SMU_V_MAX, SMU_V_MAX, "V")
        check_range("compliance", abs(compliance), 0.0, SMU_I_MAX, "A", lo_open=True)
        check_int("range_code", range_code, 0, 5)
        self.parent.user_mode()
        self.parent.command(
            f"DV{self.id}, {range_code}, {fmt_number(volts)}, {fmt_number(abs(compliance))}"
        )

    def output_off(self) -> None:
        """User mode ``DVn`` with no arguments: output off [M 5-33]."""
        self.parent.user_mode()
        self.parent.command(f"DV{self.id}")

    def measure_current(self) -> Reading:
        """``TIn`` -> current with its status letter [M 5-34, 3-2]."""
        self.parent.user_mode()
        return parse_reading(self.parent.query(f"TI{self.id}"))

    def measure_voltage(self) -> Reading:
        """``TVn`` -> voltage with its status letter [M 5-35, 3-2]."""
        self.parent.user_mode()
        return parse_reading(self.parent.query(f"TV{self.id}"))


class Keithley4200A(Instrument):
    """Keithley 4200A-SCS mainframe; SMU channels built from the ``*OPT?`` reply.

    Parameters
    ----------
    adapter : pyvisa resource string (``TCPIP::host::1225::SOCKET``) or a pymeasure adapter
        (e.g. :class:`sim_backend.adapter.SimAdapter`).
    ack : True on LAN (every command replies ``ACK``); False on GPIB.
    timeout : I/O timeout in ms.
    """

    def __init__(self, adapter, name: str = "Keithley 4200A-SCS", ack: bool | None = None,
                 timeout: int = 10000, **kwargs) -> None:
        if ack is None:
            ack = not (isinstance(adapter, str) and adapter.upper().startswith("GPIB"))
        kwargs.setdefault("visa_library", "@py")
        super().__init__(
            adapter,
            name,
            includeSCPI=False,
            tcpip={"write_termination": "\0", "read_termination": "\0"},
            gpib={"write_termination": "\n", "read_termination": "\n"},
            timeout=timeout,
            **kwargs,
        )
        self.ack = ack
        self._mode: str | None = None
        self.idn = self.query("*IDN?")
        self.cards = [c.strip() for c in self.query("*OPT?").split(",")]
        self.smus: dict[int, SMU] = {}
        for entry in self.cards:
            m = re.fullmatch(r"(?:HP)?SMU(?:PA)?(\d)", entry)
            if m:
                n = int(m.group(1))
                self.smus[n] = self.add_child(SMU, n, collection="smu_channels",
                                              prefix=f"smu{n}_")
        self.simulated = self.idn.split(",")[2].startswith("SIM") if self.idn.count(",") >= 2 \
            else False

    # ------------------------------------------------------------------ messaging
    def command(self, cmd: str) -> None:
        """Send a command that returns no data; on LAN the reply must be ``ACK``."""
        self.write(cmd)
        if self.ack:
            reply = self.read().strip()
            if reply != "ACK":
                raise InstrumentError(0, f"expected ACK, got {reply!r}", cmd)

    def query(self, cmd: str) -> str:
        """Send a query and return its data reply."""
        return self.ask(cmd).strip()

    def last_error(self) -> tuple[int, str] | None:
        """``:ERROR:LAST:GET`` -> (code, text) or None when there is no error [M 4-2]."""
        reply = self.query(":ERROR:LAST:GET")
        m = re.search(r"^(.*)\((-?\d+)\)\s*$", reply)
        if not m or int(m.group(2)) == 0:
            return None
        return int(m.group(2)), m.group(1).strip()

    def check_errors(self, command: str = "") -> None:
        """Raise :class:`InstrumentError` for a pending KXCI error, and clear it."""
        err = self.last_error()
        if err is not None:
            self.command(":ERROR:LAST:CLEAR")
            raise InstrumentError(err[0], err[1], command)

    def user_mode(self) -> None:
        if self._mode != "user":
            self.command("US")
            self._mode = "user"

    @property
    def status_byte(self) -> int:
        """Serial-poll byte via ``SP`` (LAN) [M 4-6]."""
        return int(self.query("SP"))

    # ------------------------------------------------------------------ sweeps
    def list_sweep(
        self,
        smu: int,
        voltages: np.ndarray,
        compliance: float,
        *,
        delay: float = 0.0,
        integration: str = "normal",
        exit_on_compliance: bool = False,
        timeout: float = 600.0,
        should_stop=None,
    ) -> SweepData:
        """Run one VAR1 list sweep on ``smu`` and fetch V, I, timestamps and compliance.

        Sequence [M 5-7, 5-16, 5-22, 5-23, 5-28, 5-38; §1.8 of the reference note]:
        ``BC``, ``DE``, ``CHn,...``, ``SS``, ``VLn, 1, comp, v...``, ``DT``, ``ITk``, ``EC``,
        ``SM``, ``DM2``, ``LI``, ``MD``, ``ME1``, poll ``SP``, ``DO``.
        """
        if smu not in self.smus:
            raise ParameterError("smu", smu, f"one of {sorted(self.smus)} (from *OPT?)")
        v = np.asarray(voltages, dtype=float)
        if not 1 <= v.size <= MAX_LIST_POINTS:
            raise ParameterError("points", int(v.size), f"[1, {MAX_LIST_POINTS}]")
        if not np.all(np.isfinite(v)) or np.any(np.abs(v) > SMU_V_MAX):
            bad = v[~np.isfinite(v) | (np.abs(v) > SMU_V_MAX)][0]
            raise ParameterError("voltage", float(bad), f"[-{SMU_V_MAX:g}, {SMU_V_MAX:g}] V")
        check_range("compliance", compliance, 0.0, SMU_I_MAX, "A", lo_open=True)
        check_range("delay", delay, 0.0, 6.553, "s")
        if integration not in _IT_CODE:
            raise ParameterError("integration", integration, f"one of {sorted(_IT_CODE)}")
        vname, iname = f"V{smu}", f"I{smu}"
        self._mode = "system"
        self.command("BC")
        self.command("DE")
        self.command(f"CH{smu}, '{vname}', '{iname}', 1, 1")
        self.command("SS")
        self.command(f"VL{smu}, 1, {fmt_number(compliance)}, "
                     + ", ".join(fmt_number(x) for x in v))
        self.command(f"DT {fmt_number(delay)}")
        self.command(f"IT{_IT_CODE[integration]}")
        self.command(f"EC {int(exit_on_compliance)}")
        self.command("SM")
        self.command("DM2")
        self.command(f"LI '{vname}', '{iname}', 'CH{smu}T'")
        self.command("MD")
        self.command("ME1")
        self.check_errors("ME1")
        self.wait_for_data(timeout, should_stop=should_stop)
        volts, vstat = parse_reading_list(self.query(f"DO '{vname}'"))
        amps, _ = parse_reading_list(self.query(f"DO '{iname}'"))
        times, _ = parse_reading_list(self.query(f"DO 'CH{smu}T'"))
        return SweepData(voltage=volts, current=amps, time=times, compliance=vstat == "C")

    def wait_for_data(self, timeout: float = 600.0, poll: float = 0.005,
                      should_stop=None) -> None:
        """Poll ``SP`` until the data-ready bit is set and busy is clear [M 3-3, 4-6].

        ``should_stop`` (a callable) makes the wait interruptible; the wait is bounded.
        """
        deadline = time.monotonic() + timeout
        while True:
            sb = self.status_byte
            if sb & 1 and not sb & 16:
                return
            if sb & 2:
                self.check_errors("SP")
            if should_stop is not None and should_stop():
                raise InterruptedError("wait for 4200A data interrupted")
            if time.monotonic() > deadline:
                raise TimeoutError(f"4200A: no data after {timeout:g} s (status byte {sb})")
            time.sleep(poll)

    # ------------------------------------------------------------------ simulator clock
    def sim_time(self) -> float:
        """Instrument (virtual) time of the simulator in s."""
        if not self.simulated:
            raise RuntimeError("sim_time is only available on the simulated 4200A")
        return float(self.query(":SIM:TIME?"))

    def sim_advance(self, seconds: float) -> None:
        """Let the simulated device evolve for ``seconds`` of instrument time."""
        if not self.simulated:
            raise RuntimeError("sim_advance is only available on the simulated 4200A")
        self.command(f":SIM:ADVANCE {fmt_number(seconds)}")

    # ------------------------------------------------------------------ safety
    def safe_off(self) -> list[str]:
        """Every SMU to 0 V and off. Safe to call twice and after a lost connection.

        Returns the problems met (empty when all went well); never raises, because it
        runs on exit paths where the original error must not be masked.
        """
        problems: list[str] = []
        try:
            self._mode = None
            self.user_mode()
        except Exception as exc:  # noqa: BLE001 - collect, report, continue
            problems.append(f"US: {exc}")
        for n in self.smus:
            try:
                self.command(f"DV{n}, 0, 0, {fmt_number(1e-4)}")
                self.command(f"DV{n}")
            except Exception as exc:  # noqa: BLE001
                problems.append(f"SMU{n} off: {exc}")
        return problems
