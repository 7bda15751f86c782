"""Keithley 4200A-SCS driver over KXCI, on pymeasure.

Transports [M 2-5, 2-10, 2-11, 3-4, 4-1]:

* **LAN** (``TCPIP::host::1225::SOCKET``): every command ends with NUL and *every*
  command gets a reply, ``ACK`` when it returns no data. Completion is detected by
  polling the status byte with ``SP`` [M 4-6].
* **GPIB** (``GPIB0::17::INSTR``): no reply to commands that return nothing; completion by
  serial poll (``read_stb``) or, with ``srq=True``, ``DR1`` and a service request.

:attr:`Keithley4200A.ack` holds which framing applies (chosen from the resource string,
or given). Cards come from ``*OPT?`` (:mod:`drivers.cards`): SMU channels are
:class:`~drivers.smu.SMU` children, PMU channels :class:`~drivers.pmu.PMUChannel`
children. Instrument errors become :class:`InstrumentError` with the KXCI code and text.

Pulses with a real current compliance: the 4225-PMU has none (see
:mod:`drivers.pmu_config`). For compliance-limited pulses use :meth:`smu_pulse_train`
(a list sweep whose points are held ``width`` seconds each, with the SMU's hardware
compliance, ms widths) or :meth:`smu_pulse` (user mode, host timed), or declare a series
element on a PMU pulse (:class:`~drivers.pmu_config.PulseTrainConfig`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from pymeasure.instruments import Instrument

from drivers.cards import SMU_I_MAX, SMU_V_MAX, parse_options
from drivers.pmu import PMUChannel
from drivers.pmu_config import (
    MEASURE_MODES,
    SAMPLE_CLOCK,
    PulseTrainConfig,
    SarbSequence,
    check_measure_range,
    check_source_range,
    effective_sample_rate,
)
from drivers.pmu_data import MAX_POINTS, PMUWaveform
from drivers.readings import (
    CommunicationError,
    InstrumentError,
    InstrumentTimeout,
    Reading,
    SweepData,
    parse_reading,
    parse_reading_list,
)
from drivers.smu import SMU
from drivers.validation import ParameterError, check_int, check_range, fmt_number

__all__ = ["Keithley4200A", "InstrumentError", "CommunicationError", "InstrumentTimeout",
           "Reading", "SweepData", "parse_reading",
           "parse_reading_list", "SMU", "PMUChannel", "SMU_V_MAX", "SMU_I_MAX",
           "MAX_LIST_POINTS", "INTEGRATION_PLC"]

MAX_LIST_POINTS = 4096  # VL [M 5-16]
MAX_VAR1_POINTS = 1024  # VR [M 5-19]
MAX_SAMPLES = 4096  # NR [M 5-23]
#: integration modes IT1..IT3 in PLC [M 5-40]
INTEGRATION_PLC = {"short": 0.1, "normal": 1.0, "long": 10.0}
_IT_CODE = {"short": 1, "normal": 2, "long": 3}
#: status byte bits [M 3-3]
SB_DATA_READY, SB_SYNTAX_ERROR, SB_BUSY, SB_RQS = 1, 2, 16, 64

ShouldStop = Callable[[], bool] | None
#: I/O timeout while making safe: a lost connection costs this once, then a reconnect
SAFE_OFF_TIMEOUT_MS = 2000


class Keithley4200A(Instrument):
    """Keithley 4200A-SCS mainframe; SMU and PMU channels built from ``*OPT?``.

    Parameters
    ----------
    adapter : pyvisa resource string (``TCPIP::host::1225::SOCKET``, ``GPIB0::17::INSTR``)
        or a pymeasure adapter (e.g. :class:`sim_backend.adapter.SimAdapter`).
    ack : True on LAN (every command replies ``ACK``); False on GPIB. Default: False for
        ``GPIB`` resource strings, True otherwise.
    srq : GPIB only: wait for data with ``DR1`` + service request instead of serial polls.
    timeout : I/O timeout in ms.
    """

    def __init__(self, adapter, name: str = "Keithley 4200A-SCS", ack: bool | None = None,
                 timeout: int = 10000, srq: bool = False, **kwargs) -> None:
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
        self.srq = srq
        self._timeout_ms = timeout
        self._mode: str | None = None
        self._pmu_mode: int | None = None
        self._desync = False
        self.idn = ""
        self.idn = self.query("*IDN?")
        self.mainframe = parse_options(self.query("*OPT?"))
        self.cards = list(self.mainframe.slots)
        self.smus: dict[int, SMU] = {}
        for n, card in sorted(self.mainframe.smus.items()):
            self.smus[n] = self.add_child(SMU, n, collection="smu_channels",
                                          prefix=f"smu{n}_", card=card)
        self.pmus: dict[int, PMUChannel] = {}
        for ch, card in sorted(self.mainframe.pmu_channels.items()):
            self.pmus[ch] = self.add_child(PMUChannel, ch, collection="pmu_channels",
                                           prefix=f"pmu{ch}_", card=card.number,
                                           rpm=ch in card.rpm_channels)
        parts = self.idn.split(",")
        self.simulated = len(parts) >= 3 and parts[2].strip().startswith("SIM")

    # ------------------------------------------------------------------ messaging
    def command(self, cmd: str) -> None:
        """Send a command that returns no data; on LAN the reply must be ``ACK`` [M 2-10].

        I/O failures raise :class:`CommunicationError` / :class:`InstrumentTimeout` naming
        ``cmd``; a reply other than ``ACK`` raises :class:`InstrumentError`.
        """
        self._resync_if_needed(cmd)
        try:
            self.write(cmd)
            reply = self.read().strip() if self.ack else "ACK"
        except Exception as exc:  # noqa: BLE001 - re-raised with the command named
            raise self._io_error(cmd, exc) from exc
        if reply != "ACK":
            raise InstrumentError(0, f"expected ACK, got {reply!r}", cmd)

    def query(self, cmd: str) -> str:
        """Send a query and return its data reply.

        On LAN a query answered with ``ACK`` was rejected by the instrument (a KXCI error
        replaces the data): the pending error is read and raised as :class:`InstrumentError`
        with its code and ``cmd``.
        """
        self._resync_if_needed(cmd)
        try:
            reply = self.ask(cmd).strip()
        except Exception as exc:  # noqa: BLE001 - re-raised with the command named
            raise self._io_error(cmd, exc) from exc
        if self.ack and reply == "ACK":
            if cmd != ":ERROR:LAST:GET":
                self.check_errors(cmd)
            raise CommunicationError(cmd, "query answered ACK instead of data")
        return reply

    def query_parsed(self, cmd: str, parse):
        """``parse(query(cmd))``; an unreadable reply raises :class:`CommunicationError`
        naming the command and the start of the reply."""
        reply = self.query(cmd)
        try:
            return parse(reply)
        except (ValueError, IndexError, TypeError) as exc:
            raise CommunicationError(cmd, f"unreadable reply {reply[:60]!r} ({exc})") from exc

    def _io_error(self, cmd: str, exc: Exception) -> CommunicationError:
        """Name the command; a timeout leaves a late reply on the way (resync next time)."""
        if isinstance(exc, CommunicationError):
            return exc
        text = str(exc)
        if isinstance(exc, TimeoutError) or "TMO" in text or "imeout" in text:
            self._desync = True
            return InstrumentTimeout(cmd, f"no reply within the I/O timeout, timed out ({text})")
        return CommunicationError(cmd, f"connection failed ({type(exc).__name__}: {text})")

    def _resync_if_needed(self, cmd: str) -> None:
        """After a timeout a late reply may still arrive: send ``*IDN?`` and discard
        replies up to its answer, so that the next reply belongs to the next command (the
        instrument answers in order)."""
        if not self._desync:
            return
        self._desync = False
        try:
            self.write("*IDN?")
            for _ in range(16):
                if self.read().strip() == self.idn:
                    return
        except Exception as exc:  # noqa: BLE001
            self._desync = True
            raise self._io_error(cmd, exc) from exc
        self._desync = True
        raise CommunicationError(cmd, "replies out of step and could not be resynchronised")

    def last_error(self) -> tuple[int, str] | None:
        """``:ERROR:LAST:GET`` -> (code, text) or None when there is no error [M 4-2]."""
        reply = self.query(":ERROR:LAST:GET")
        m = re.search(r"^(.*)\((-?\d+)\)\s*$", reply)
        if not m or int(m.group(2)) == 0:
            return None
        return int(m.group(2)), m.group(1).strip()

    def clear_errors(self) -> None:
        """``:ERROR:LAST:CLEAR`` [M 4-3]."""
        self.command(":ERROR:LAST:CLEAR")

    def check_errors(self, command: str = "") -> None:
        """Raise :class:`InstrumentError` for a pending KXCI error, and clear it."""
        err = self.last_error()
        if err is not None:
            self.clear_errors()
            raise InstrumentError(err[0], err[1], command)

    def user_mode(self) -> None:
        """Enter user mode (``US``) unless already there [M 5-4]."""
        if self._mode != "user":
            self.command("US")
            self._mode = "user"

    def page(self, name: str) -> None:
        """Go to a system-mode page: ``DE``, ``SS``, ``SM`` or ``MD`` [M 5-1…5-4]."""
        if name not in ("DE", "SS", "SM", "MD"):
            raise ParameterError("page", name, "one of DE, SS, SM, MD")
        self.command(name)
        self._mode = "system"

    # ------------------------------------------------------------------ status byte
    @property
    def status_byte(self) -> int:
        """Status byte: ``SP`` on LAN [M 4-6], a serial poll (``read_stb``) on GPIB [M 3-4]."""
        if self.ack:
            return self.query_parsed("SP", int)
        try:
            return int(self.adapter.connection.read_stb())
        except Exception as exc:  # noqa: BLE001
            raise self._io_error("serial poll", exc) from exc

    def data_ready_srq(self, on: bool = True) -> None:
        """``DR1``/``DR0``: service request on data ready (GPIB only) [M 3-5, 4-1]."""
        self.command(f"DR{int(bool(on))}")

    def wait_for_data(self, timeout: float = 600.0, poll: float = 0.002,
                      should_stop: ShouldStop = None) -> None:
        """Wait until the data-ready bit is set and busy is clear [M 3-3, 4-6].

        LAN polls ``SP``; GPIB polls the serial-poll byte, or waits for SRQ when the driver
        was built with ``srq=True`` (then ``DR1`` must have been sent before the test).
        ``should_stop`` (a callable) makes the wait interruptible; the wait is bounded by
        ``timeout`` (TimeoutError). The poll interval grows from ``poll`` to 0.1 s.
        """
        deadline = time.monotonic() + timeout
        if not self.ack and self.srq:
            while True:
                chunk = min(0.5, max(0.0, deadline - time.monotonic()))
                try:
                    self.adapter.connection.wait_for_srq(int(chunk * 1000) or 1)
                    return
                except Exception as exc:  # pyvisa raises VisaIOError on SRQ timeout
                    if should_stop is not None and should_stop():
                        raise InterruptedError("wait for 4200A data interrupted") from exc
                    if time.monotonic() >= deadline:
                        raise TimeoutError(f"4200A: no SRQ after {timeout:g} s") from exc
        while True:
            sb = self.status_byte
            if sb & SB_DATA_READY and not sb & SB_BUSY:
                return
            if sb & SB_SYNTAX_ERROR:
                self.check_errors("SP")
            if should_stop is not None and should_stop():
                raise InterruptedError("wait for 4200A data interrupted")
            if time.monotonic() > deadline:
                raise TimeoutError(f"4200A: no data after {timeout:g} s (status byte {sb})")
            time.sleep(poll)
            poll = min(0.1, poll * 1.5)

    # ------------------------------------------------------------------ modeless settings
    def integration(self, mode: str | float = "normal", delay_factor: float = 1.0,
                    filter_factor: float = 1.0) -> None:
        """``IT1``/``IT2``/``IT3`` ("short"/"normal"/"long" = 0.1/1/10 PLC) or, for a
        number of PLC, the custom ``IT4, delayF, filterF, ADplc`` (A/D 0.01..10 PLC,
        factors 0..100) [M 5-40]."""
        if isinstance(mode, str):
            if mode not in _IT_CODE:
                raise ParameterError("integration", mode,
                                     f"one of {sorted(_IT_CODE)} or a PLC number 0.01..10")
            self.command(f"IT{_IT_CODE[mode]}")
            return
        plc = check_range("integration", mode, 0.01, 10.0, "PLC")
        check_range("delay_factor", delay_factor, 0.0, 100.0)
        check_range("filter_factor", filter_factor, 0.0, 100.0)
        self.command(f"IT4, {fmt_number(delay_factor)}, {fmt_number(filter_factor)}, "
                     f"{fmt_number(plc)}")

    def exit_on_compliance(self, on: bool) -> None:
        """``EC 0|1``: end the test when an SMU reaches compliance [M 5-39]."""
        self.command(f"EC {int(bool(on))}")

    def clear_buffer(self) -> None:
        """``BC``: clear the reading buffer and the data-ready bit [M 5-37]."""
        self.command("BC")

    def read_buffer(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``DO 'name'`` -> (values, status letters); ``nameT`` gives timestamps [M 5-38]."""
        _check_name(name.removesuffix("T") if name.endswith("T") else name)
        return self.query_parsed(f"DO '{name}'", parse_reading_list)

    # ------------------------------------------------------------------ system mode
    def define_channel(self, smu: int, vname: str, iname: str, source: str = "V",
                       function: str = "VAR1") -> None:
        """``CHA, 'Vname', 'Iname', D, E`` on the DE page [M 5-7].

        ``source`` V, I or COMMON (D = 1, 2, 3); ``function`` VAR1, VAR2, CONST, VAR1'
        (E = 1..4); a common channel is always constant.
        """
        self._smu(smu)
        _check_name(vname)
        _check_name(iname)
        d = {"V": 1, "I": 2, "COMMON": 3}.get(source)
        e = {"VAR1": 1, "VAR2": 2, "CONST": 3, "VAR1'": 4}.get(function)
        if d is None:
            raise ParameterError("source", source, "one of V, I, COMMON")
        if e is None or (d == 3 and e != 3):
            raise ParameterError("function", function,
                                 "CONST for a common channel" if d == 3 else
                                 "one of VAR1, VAR2, CONST, VAR1'")
        self.command(f"CH{smu}, '{vname}', '{iname}', {d}, {e}")

    def disable_channel(self, smu: int) -> None:
        """``CHA`` alone: channel off [M 5-7, 5-8]."""
        self._smu(smu)
        self.command(f"CH{smu}")

    def _begin_test(self) -> None:
        """``BC`` (and ``DR1`` when waiting for SRQ on GPIB) before a system-mode test."""
        self.clear_buffer()
        if self.srq and not self.ack:
            self.data_ready_srq(True)

    def _define_sweep_channels(self, smu: int, function: str, ground: Sequence[int]) -> None:
        """DE page: this SMU as ``function``, ``ground`` SMUs common, the rest disabled
        (the manual recommends disabling the 4145-like defaults first [M 5-5, 5-8])."""
        self.page("DE")
        for n in self.smus:
            if n != smu and n not in ground:
                self.disable_channel(n)
        for n in ground:
            self.define_channel(n, f"V{n}", f"I{n}", "COMMON", "CONST")
        self.define_channel(smu, f"V{smu}", f"I{smu}", "V", function)

    def _smu(self, smu: int) -> SMU:
        if smu not in self.smus:
            raise ParameterError("smu", smu, f"one of {sorted(self.smus)} (from *OPT?)")
        return self.smus[smu]

    def _check_timing(self, delay: float, hold: float) -> None:
        check_range("delay", delay, 0.0, 6.553, "s")  # DT [M 5-10]
        check_range("hold", hold, 0.0, 655.3, "s")  # HT [M 5-12]

    def _check_integration(self, integration: str | float) -> None:
        if isinstance(integration, str):
            if integration not in _IT_CODE:
                raise ParameterError("integration", integration,
                                     f"one of {sorted(_IT_CODE)} or a PLC number 0.01..10")
        else:
            check_range("integration", integration, 0.01, 10.0, "PLC")

    def _run_and_fetch(self, smu: int, timeout: float, should_stop: ShouldStop,
                       program: np.ndarray | None) -> SweepData:
        vname, iname = f"V{smu}", f"I{smu}"
        self.page("SM")
        self.command("DM2")
        self.command(f"LI '{vname}', '{iname}', 'CH{smu}T'")
        self.page("MD")
        self.command("ME1")
        self.check_errors("ME1")
        self.wait_for_data(timeout, should_stop=should_stop)
        volts, vstat = self.query_parsed(f"DO '{vname}'", parse_reading_list)
        amps, istat = self.query_parsed(f"DO '{iname}'", parse_reading_list)
        times, _ = self.query_parsed(f"DO 'CH{smu}T'", parse_reading_list)
        comp = (vstat == "C") | (istat == "C")
        return SweepData(voltage=volts, current=amps, time=times, compliance=comp,
                         program=program)

    def list_sweep(
        self,
        smu: int,
        voltages: np.ndarray,
        compliance: float,
        *,
        delay: float = 0.0,
        hold: float = 0.0,
        integration: str | float = "normal",
        exit_on_compliance: bool = False,
        ground: Sequence[int] = (),
        timeout: float = 600.0,
        should_stop: ShouldStop = None,
    ) -> SweepData:
        """Run one VAR1 list sweep on ``smu`` and fetch V, I, timestamps and compliance.

        Sequence [M 5-7, 5-16, 5-22, 5-23, 5-28, 5-38; reference note §1.8]: ``BC``,
        ``DE``, ``CHn`` (others off, ``ground`` SMUs common), ``CHn, 'Vn', 'In', 1, 1``,
        ``SS``, ``VLn, 1, comp, v...`` (<= 4096 points; e.g. the bipolar
        0 -> +V -> 0 -> -V -> 0 loop), ``HT``, ``DT``, ``ITk``, ``EC``, ``SM``, ``DM2``,
        ``LI``, ``MD``, ``ME1``, wait, ``DO``.
        """
        s = self._smu(smu)
        v = np.asarray(voltages, dtype=float)
        if not 1 <= v.size <= MAX_LIST_POINTS:
            raise ParameterError("points", int(v.size), f"[1, {MAX_LIST_POINTS}]")
        if not np.all(np.isfinite(v)) or np.any(np.abs(v) > SMU_V_MAX):
            bad = v[~np.isfinite(v) | (np.abs(v) > SMU_V_MAX)][0]
            raise ParameterError("voltage", float(bad), f"[-{SMU_V_MAX:g}, {SMU_V_MAX:g}] V")
        s.check_compliance(compliance)
        self._check_timing(delay, hold)
        self._check_integration(integration)
        source = (f"VL{smu}, 1, {fmt_number(abs(compliance))}, "
                  + ", ".join(fmt_number(x) for x in v))
        return self._var1_test(smu, source, v, hold, delay, integration, exit_on_compliance,
                               ground, timeout, should_stop)

    def _var1_test(self, smu: int, source: str, program: np.ndarray, hold: float,
                   delay: float, integration: str | float, exit_on_compliance: bool,
                   ground: Sequence[int], timeout: float, should_stop: ShouldStop) -> SweepData:
        """Shared body of the VAR1 sweeps once their arguments are checked."""
        for n in ground:
            self._smu(n)
        self._begin_test()
        self._define_sweep_channels(smu, "VAR1", ground)
        self.page("SS")
        self.command(source)
        if hold:
            self.command(f"HT {fmt_number(hold)}")
        self.command(f"DT {fmt_number(delay)}")
        self.integration(integration)
        self.exit_on_compliance(exit_on_compliance)
        return self._run_and_fetch(smu, timeout, should_stop, program)

    def linear_sweep(
        self,
        smu: int,
        start: float,
        stop: float,
        step: float,
        compliance: float,
        *,
        delay: float = 0.0,
        hold: float = 0.0,
        integration: str | float = "normal",
        exit_on_compliance: bool = False,
        ground: Sequence[int] = (),
        timeout: float = 600.0,
        should_stop: ShouldStop = None,
    ) -> SweepData:
        """Linear VAR1 sweep ``VR1, start, stop, step, compliance`` [M 5-19…5-21].

        Points n = int(|(stop - start)/step| + 1.5) <= 1024; ``step`` must have the sign of
        ``stop - start``.
        """
        s = self._smu(smu)
        for name, x in (("start", start), ("stop", stop)):
            check_range(name, x, -SMU_V_MAX, SMU_V_MAX, "V")
        check_range("step", abs(step), 1e-3, 2 * SMU_V_MAX, "V")
        if stop != start and np.sign(step) != np.sign(stop - start):
            raise ParameterError("step", step, f"a step with the sign of stop-start "
                                 f"({stop - start:+g} V)")
        n = int(abs((stop - start) / step) + 1.5)
        if n > MAX_VAR1_POINTS:
            raise ParameterError("step", step, f"|step| >= {abs(stop - start) / 1023:g} V "
                                 f"({n} points > {MAX_VAR1_POINTS})")
        s.check_compliance(compliance)
        self._check_timing(delay, hold)
        self._check_integration(integration)
        source = (f"VR1, {fmt_number(start)}, {fmt_number(stop)}, {fmt_number(step)}, "
                  f"{fmt_number(abs(compliance))}")
        return self._var1_test(smu, source, start + step * np.arange(n), hold, delay,
                               integration, exit_on_compliance, ground, timeout, should_stop)

    def sample(
        self,
        smu: int,
        volts: float,
        compliance: float,
        count: int,
        interval: float,
        *,
        wait: float = 0.0,
        integration: str | float = "normal",
        ground: Sequence[int] = (),
        timeout: float | None = None,
        should_stop: ShouldStop = None,
    ) -> SweepData:
        """Sampling mode (time-domain reads at a constant bias), e.g. retention.

        ``CHn, 'Vn', 'In', 1, 3``, ``VCn, volts, comp`` [M 5-15], ``NR count`` (1..4096),
        ``IN interval`` (0.01..10 s), ``WT wait`` (0..100 s) [M 5-22…5-24], ``DM2``, ``LI``,
        ``ME1``. The default timeout is the nominal test duration plus 60 s.
        """
        s = self._smu(smu)
        check_range("volts", volts, -SMU_V_MAX, SMU_V_MAX, "V")
        s.check_compliance(compliance)
        check_int("count", count, 1, MAX_SAMPLES)
        check_range("interval", interval, 0.01, 10.0, "s")
        check_range("wait", wait, 0.0, 100.0, "s")
        self._check_integration(integration)
        if timeout is None:
            timeout = wait + count * interval + 60.0
        self._begin_test()
        self._define_sweep_channels(smu, "CONST", ground)
        self.page("SS")
        self.command(f"VC{smu}, {fmt_number(volts)}, {fmt_number(abs(compliance))}")
        self.integration(integration)
        self.page("SM")
        self.command(f"NR {count}")
        self.command(f"IN {fmt_number(interval)}")
        self.command(f"WT {fmt_number(wait)}")
        return self._run_and_fetch(smu, timeout, should_stop, np.full(count, float(volts)))

    # ------------------------------------------------------------------ SMU pulses
    def smu_pulse_train(
        self,
        smu: int,
        levels: np.ndarray,
        width: float,
        compliance: float,
        *,
        integration: str | float = "short",
        exit_on_compliance: bool = False,
        ground: Sequence[int] = (),
        timeout: float = 600.0,
        should_stop: ShouldStop = None,
    ) -> SweepData:
        """Compliance-limited pulses from an SMU: a VL list held ``width`` s per level.

        Each entry of ``levels`` (e.g. ``[w, 0, r, 0, w, 0, r, 0, ...]`` for write / read
        pairs with rests, <= 4096 entries) is one list-sweep point: the SMU steps to it,
        waits ``DT = width`` and then integrates for the ``integration`` time before the
        next point [M 5-10, 5-16, 5-40]. So every level is held ``width + t_int`` and the
        reading is taken at its end; ``data.time`` gives the true point times. The SMU's
        hardware compliance is active throughout (one compliance for the whole list
        [M 5-16]) and ``data.compliance`` flags the clamped points. Widths of 1 ms..6.5 s;
        use ``integration=0.01`` (PLC, ``IT4``) for the shortest reads.

        Returns the same :class:`SweepData` as :meth:`list_sweep`, with ``program`` =
        ``levels``.
        """
        check_range("width", width, 1e-3, 6.553, "s")
        return self.list_sweep(smu, levels, compliance, delay=width, integration=integration,
                               exit_on_compliance=exit_on_compliance, ground=ground,
                               timeout=timeout, should_stop=should_stop)

    def smu_pulse(self, smu: int, volts: float, width: float, compliance: float, *,
                  base: float = 0.0, read_current: bool = True) -> Reading | None:
        """One host-timed user-mode pulse: ``DV`` to ``volts``, wait ``width``, ``TI``,
        back to ``base`` (``DV``) [M 5-33, 5-34].

        The compliance is the SMU's hardware limit (status letter ``C`` in the reading).
        On the simulator the wait is instrument time (``:SIM:ADVANCE``); on hardware it is
        a host sleep, so widths below ~10 ms are not accurate — use :meth:`smu_pulse_train`.
        """
        s = self._smu(smu)
        check_range("width", width, 0.0, 3600.0, "s")
        check_range("base", base, -SMU_V_MAX, SMU_V_MAX, "V")
        s.source_voltage(volts, compliance)
        self.wait(width)
        reading = s.measure_current() if read_current else None
        s.source_voltage(base, compliance)
        return reading

    def wait(self, seconds: float) -> None:
        """Wait in instrument time: ``:SIM:ADVANCE`` on the simulator, a sleep otherwise."""
        if self.simulated:
            self.sim_advance(seconds)
        elif seconds > 0:
            time.sleep(seconds)

    # ------------------------------------------------------------------ PMU
    def _pmu(self, channel: int) -> PMUChannel:
        if channel not in self.pmus:
            raise ParameterError("channel", channel,
                                 f"one of {sorted(self.pmus)} (PMU channels from *OPT?)")
        return self.pmus[channel]

    def pmu_init(self, mode: str = "pulse") -> None:
        """``:PMU:INIT 0`` (standard pulse) or ``1`` (Segment Arb); resets both channels of
        every PMU, clears data and all sequences [M 7-4]."""
        codes = {"pulse": 0, "sarb": 1}
        if mode not in codes:
            raise ParameterError("mode", mode, "'pulse' or 'sarb'")
        if not self.pmus:
            raise ParameterError("pmu", None, "a 4225-PMU in *OPT?")
        self.command(f":PMU:INIT {codes[mode]}")
        self._pmu_mode = codes[mode]
        for ch in self.pmus.values():
            ch.v_range, ch.load_ohms, ch.i_range = 10, 1e6, 10e-3

    def pmu_measure_mode(self, mode: str) -> None:
        """``:PMU:MEASURE:MODE n`` (0 none, 1 spot mean, 2 waveform, 3 spot-mean average,
        4 waveform average) [M 7-13]."""
        if mode not in MEASURE_MODES:
            raise ParameterError("mode", mode, f"one of {sorted(MEASURE_MODES)}")
        self.command(f":PMU:MEASURE:MODE {MEASURE_MODES[mode]}")

    def pmu_burst_count(self, count: int) -> None:
        """``:PMU:PULSE:BURST:COUNT n`` (1..10 000, all channels) [M 7-17]."""
        check_int("count", count, 1, 10000)
        self.command(f":PMU:PULSE:BURST:COUNT {count}")

    def pmu_sample_rate(self, rate: float) -> float:
        """``:PMU:SAMPLE:RATE rate`` (1e3..200e6 S/s); returns the rate used (200e6/n)
        [M 7-23]."""
        used = effective_sample_rate(rate)
        self.command(f":PMU:SAMPLE:RATE {fmt_number(rate)}")
        return used

    def pmu_execute(self) -> None:
        """``:PMU:EXECUTE``: validate and start; returns immediately [M 7-25]."""
        self.command(":PMU:EXECUTE")
        self.check_errors(":PMU:EXECUTE")

    def pmu_running(self) -> bool:
        """``:PMU:TEST:STATUS?`` -> True while any PMU test runs [M 7-26]."""
        return self.query_parsed(":PMU:TEST:STATUS?", lambda r: int(float(r))) != 0

    def pmu_wait(self, timeout: float = 60.0, poll: float = 0.001,
                 should_stop: ShouldStop = None) -> None:
        """Poll ``:PMU:TEST:STATUS?`` until 0; bounded and interruptible (then aborts)."""
        deadline = time.monotonic() + timeout
        while self.pmu_running():
            if should_stop is not None and should_stop():
                self.pmu_abort()
                raise InterruptedError("PMU test interrupted")
            if time.monotonic() > deadline:
                self.pmu_abort()
                raise TimeoutError(f"PMU test still running after {timeout:g} s")
            time.sleep(poll)
            poll = min(0.05, poll * 1.5)

    def pmu_abort(self) -> None:
        """``:PMU:ABORT``: stop the test and turn outputs off; data is kept [M 7-27]."""
        self.command(":PMU:ABORT")

    def pmu_pulse_train(self, channel: int, config: PulseTrainConfig, *,
                        timeout: float = 60.0, should_stop: ShouldStop = None) -> PMUWaveform:
        """A standard-mode pulse train with waveform capture on one PMU channel.

        The manual's sequence [M 7-20, reference note §1.10], with the settings that differ
        from the ``:PMU:INIT 0`` defaults added::

            :PMU:INIT 0
            :PMU:RPM:CONFIGURE PMU1-1, 0          (only with an RPM)
            :PMU:SOURCE:RANGE 1, 40               (only if not 10 V)
            :PMU:LOAD 1, ohms                     (only if not 1e6)
            :PMU:MEASURE:RANGE 1, 2, amps
            :PMU:MEASURE:MODE 2                   (4 with average=True)
            :PMU:TIMES:WAVEFORM 1, pre, post      (only if not 0.2, 0.2)
            :PMU:SAMPLE:RATE rate                 (only if not 200e6)
            :PMU:PULSE:TRAIN 1, base, amplitude
            :PMU:PULSE:TIMES 1, period, width, rise, fall[, delay]
            :PMU:PULSE:BURST:COUNT n
            :PMU:OUTPUT:STATE 1, 1
            :PMU:EXECUTE                          (then :ERROR:LAST:GET)
            :PMU:TEST:STATUS?                     (until 0)
            :PMU:DATA:COUNT? 1 / :PMU:DATA:GET 1, start, 2048 ...
            :PMU:OUTPUT:STATE 1, 0

        Everything is validated before the first command (timing rules, ranges, load,
        <= 65 536 samples). The output is switched off on every exit path. The result
        carries the declared series element's current bound — not a compliance.
        """
        ch = self._pmu(channel)
        config.validate(rpm=ch.rpm)
        self.pmu_init("pulse")
        try:
            if ch.rpm:
                ch.rpm_configure("pmu")
            if config.v_range != 10:
                ch.source_range(config.v_range)
            if config.load != 1e6:
                ch.load(config.load)
            ch.measure_range(config.i_range)
            self.pmu_measure_mode("waveform_average" if config.average else "waveform")
            if (config.pre, config.post) != (0.2, 0.2):
                ch.times_waveform(config.pre, config.post)
            if config.sample_rate != SAMPLE_CLOCK:
                self.pmu_sample_rate(config.sample_rate)
            ch.pulse_train(config.base, config.amplitude)
            ch.pulse_times(config.timing)
            self.pmu_burst_count(config.count)
            ch.output(True)
            self.pmu_execute()
            self.pmu_wait(timeout, should_stop=should_stop)
            data = ch.fetch_waveform(current_bound=config.current_bound())
        finally:
            ch.output(False)
        return data

    def pmu_segment_arb(
        self,
        channel: int,
        sequences: Mapping[int, SarbSequence],
        sequence_list: Sequence[tuple[int, int]],
        *,
        i_range: float = 0.2,
        v_range: int = 10,
        sample_rate: float = SAMPLE_CLOCK,
        timeout: float = 60.0,
        should_stop: ShouldStop = None,
    ) -> PMUWaveform:
        """A Segment Arb waveform (e.g. write pulse + read pulse, looped) on one channel.

        The manual's sequence [M 7-39…7-58, example 7-57]: ``:PMU:INIT 1``, RPM to PMU,
        ``:PMU:MEASURE:RANGE ch, 2, amps`` (fixed ranges only in Segment Arb),
        ``:PMU:SARB:SEQ:STARTV/STOPV/TIME/MEAS:TYPE/MEAS:START/MEAS:STOP`` per sequence,
        ``:PMU:SARB:WFM:SEQ:LIST ch, seq, loops, ...``, output on, ``:PMU:EXECUTE``, poll,
        fetch, output off. Checked before sending: >= 3 seamless segments per sequence,
        segment times, levels, sequences exist, the list is seamless, <= 65 536 points.

        Points come back in time order: waveform samples of the measured windows and one
        spot-mean point per spot-mean segment (status-word measurement type 1).
        """
        ch = self._pmu(channel)
        check_source_range(v_range)
        check_measure_range(i_range, v_range, ch.rpm)
        rate = effective_sample_rate(sample_rate)
        for number, seq in sequences.items():
            check_int("sequence", number, 1, 512)
            seq.validate(v_range, rpm_range=ch.rpm and i_range < 10e-3)
        _check_sequence_list(sequences, sequence_list)
        points = sum(int(loops) * sequences[s].measured_points(rate) for s, loops in sequence_list)
        if points > MAX_POINTS:
            raise ParameterError("sequence_list", list(sequence_list),
                                 f"<= {MAX_POINTS} measured points per channel "
                                 f"(this list measures {points}; KXCI -963)")
        self.pmu_init("sarb")
        try:
            if ch.rpm:
                ch.rpm_configure("pmu")
            if v_range != 10:
                ch.source_range(v_range)
            ch.measure_range(i_range)
            if sample_rate != SAMPLE_CLOCK:
                self.pmu_sample_rate(sample_rate)
            for number, seq in sequences.items():
                ch.sarb_sequence(number, seq)
            ch.sarb_sequence_list(sequence_list)
            ch.output(True)
            self.pmu_execute()
            self.pmu_wait(timeout, should_stop=should_stop)
            data = ch.fetch_waveform()
        finally:
            ch.output(False)
        return data

    # ------------------------------------------------------------------ simulator clock
    def sim_time(self) -> float:
        """Instrument (virtual) time of the simulator in s."""
        if not self.simulated:
            raise RuntimeError("sim_time is only available on the simulated 4200A")
        return self.query_parsed(":SIM:TIME?", float)

    def sim_advance(self, seconds: float) -> None:
        """Let the simulated device evolve for ``seconds`` of instrument time."""
        if not self.simulated:
            raise RuntimeError("sim_advance is only available on the simulated 4200A")
        self.command(f":SIM:ADVANCE {fmt_number(seconds)}")

    # ------------------------------------------------------------------ safety
    def _reconnect(self) -> bool:
        """Reopen a VISA connection after it was lost (LAN); False when not possible."""
        adapter = self.adapter
        name = getattr(adapter, "resource_name", None)
        manager = getattr(adapter, "manager", None)
        if name is None or manager is None:
            return False
        try:
            try:
                adapter.connection.close()
            except Exception:  # noqa: BLE001 - the old connection is already broken
                pass
            term = "\0" if self.ack else "\n"
            adapter.connection = manager.open_resource(
                name, write_termination=term, read_termination=term,
                timeout=min(self._timeout_ms, SAFE_OFF_TIMEOUT_MS))
            self._desync = False
            return True
        except Exception:  # noqa: BLE001
            return False

    def safe_off(self) -> list[str]:
        """PMU aborted and outputs off, RPMs routed to the PMU, every SMU 0 V and off.

        Sequence: ``:ERROR:LAST:CLEAR``; ``:PMU:ABORT``, ``:PMU:OUTPUT:STATE ch, 0`` per PMU
        channel, ``:PMU:RPM:CONFIGURE PMUn-c, 0`` per RPM [M 7-2, 7-8, 7-24, 7-27]; ``US``;
        ``DVn, 0, 0, 1E-4`` and ``DVn`` per SMU [M 5-33]. After the PMU group and after each
        SMU, ``:ERROR:LAST:GET`` [M 4-2]: on LAN a rejected command still answers ``ACK``,
        so only the error query tells that an output may still be on.

        Safe to call twice. Caps the I/O timeout at 2 s; after a lost connection it reopens
        the VISA resource once and carries on; if that fails it returns instead of waiting
        out a timeout per command.

        Returns the problems met (empty = the instrument confirmed every step); never
        raises, because it runs on exit paths where the original error must not be masked.
        """
        groups: list[tuple[str, list[str]]] = [("clear errors", [":ERROR:LAST:CLEAR"])]
        if self.pmus:
            cmds = [":PMU:ABORT"] + [f":PMU:OUTPUT:STATE {c}, 0" for c in self.pmus]
            cmds += [f":PMU:RPM:CONFIGURE {p.hrid}, 0" for p in self.pmus.values() if p.rpm]
            groups.append(("PMU off", cmds))
        for k, n in enumerate(self.smus):
            groups.append((f"SMU{n} off", (["US"] if k == 0 else [])
                           + [f"DV{n}, 0, 0, {fmt_number(1e-4)}", f"DV{n}"]))
        problems: list[str] = []
        conn = getattr(self.adapter, "connection", None)
        old_timeout = getattr(conn, "timeout", None)
        if isinstance(old_timeout, int | float) and old_timeout > SAFE_OFF_TIMEOUT_MS:
            try:  # a lost connection should cost seconds, not a long I/O timeout per step
                conn.timeout = SAFE_OFF_TIMEOUT_MS
            except Exception:  # noqa: BLE001
                old_timeout = None
        else:
            old_timeout = None
        try:
            self._safe_off_groups(groups, problems)
        finally:
            conn = getattr(self.adapter, "connection", None)
            if old_timeout is not None and conn is not None:
                try:
                    conn.timeout = old_timeout
                except Exception:  # noqa: BLE001
                    problems.append("could not restore the I/O timeout")
        self._mode = None
        for p in self.pmus.values():
            if p.rpm:
                p.rpm_mode = "pmu"
        return problems

    def _safe_off_groups(self, groups: list[tuple[str, list[str]]],
                         problems: list[str]) -> None:
        reconnected = False
        for label, cmds in groups:
            for cmd in cmds:
                try:
                    self.command(cmd)
                except InstrumentError as exc:
                    problems.append(f"{label}: {exc}")
                except Exception as exc:  # noqa: BLE001 - collect, report, continue
                    problems.append(f"{label}: {exc}")
                    if reconnected or not self._reconnect():
                        problems.append("connection lost: remaining safe-off steps not sent")
                        return
                    reconnected = True
                    try:
                        self.command(cmd)
                        problems.append(f"{label}: {cmd!r} sent after reconnecting")
                    except Exception as exc2:  # noqa: BLE001
                        problems.append(f"{label}: {exc2}")
                        problems.append("connection lost: remaining safe-off steps not sent")
                        return
            if label == "clear errors":
                continue
            try:
                err = self.last_error()
                if err is not None:
                    problems.append(f"{label}: rejected by the instrument: {err[1]} ({err[0]})")
                    self.clear_errors()
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{label}: could not read the error status: {exc}")


def _check_name(name: str) -> None:
    """KXCI function names: 1..6 characters, no quotes or separators [M 5-7]."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,6}", name):
        raise ParameterError("name", name, "1..6 letters, digits or _")


def _check_sequence_list(sequences: Mapping[int, SarbSequence],
                         items: Sequence[tuple[int, int]]) -> None:
    """Every listed sequence exists; the concatenated waveform is seamless [M 7-53]."""
    if not items:
        raise ParameterError("sequence_list", items, "at least one (sequence, loops) pair")
    prev_stop = None
    for k, (seq, loops) in enumerate(items):
        if seq not in sequences:
            raise ParameterError(f"sequence_list[{k}]", seq,
                                 f"a defined sequence {sorted(sequences)} (KXCI -961)")
        check_range("loops", loops, 1, 1e12)
        s = sequences[seq]
        if prev_stop is not None and not np.isclose(prev_stop, s.start_v[0], atol=1e-9):
            raise ParameterError(f"sequence_list[{k}]", seq,
                                 f"a sequence starting at {prev_stop:g} V (seamless; "
                                 f"it starts at {s.start_v[0]:g} V)")
        if loops > 1 and not np.isclose(s.stop_v[-1], s.start_v[0], atol=1e-9):
            raise ParameterError(f"loops[{k}]", loops,
                                 "1 unless the sequence ends where it starts (seamless loop)")
        prev_stop = s.stop_v[-1]
