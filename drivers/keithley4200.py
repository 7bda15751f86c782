"""Keithley 4200A-SCS driver over KXCI, on pymeasure.

The mainframe is composed of parts: the connection layer it is built on
(:class:`drivers.kxci_link.KXCIInstrument`: LAN / GPIB framing, ``ACK`` handling, errors
attributed to their command, the status byte), the SMU channels
(:class:`~drivers.smu.SMU` children, user mode), the system-mode tests
(:class:`drivers.system_mode.SystemModeTests`, attribute :attr:`Keithley4200A.system`),
the PMU channels (:class:`~drivers.pmu.PMUChannel` children) and PMU tests
(:class:`drivers.pmu_tests.PMUTests`, attribute :attr:`Keithley4200A.pmu_tests`), and the
safe state (:mod:`drivers.safe_off`). The tests' public methods are available on the
instrument itself (``inst.list_sweep(...)``, ``inst.pmu_pulse_train(...)``), delegated to
their part. Cards come from ``*OPT?`` (:mod:`drivers.cards`). Instrument errors become
:class:`InstrumentError` with the KXCI code and text.

Pulses with a real current compliance: the 4225-PMU has none (see
:mod:`drivers.pmu_config`). For compliance-limited pulses use :meth:`smu_pulse_train`
(a list sweep whose points are held ``width`` seconds each, with the SMU's hardware
compliance, ms widths) or :meth:`smu_pulse` (user mode, host timed), or declare a series
element on a PMU pulse (:class:`~drivers.pmu_config.PulseTrainConfig`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from pymeasure.instruments import Instrument
from pymeasure.instruments.validators import strict_discrete_set

from drivers.cards import SMU_I_MAX, SMU_V_MAX, parse_idn, parse_options
from drivers.clock import Clock, clock_for
from drivers.kxci_link import KXCIInstrument
from drivers.pmu import PMUChannel
from drivers.pmu_tests import PMUTests
from drivers.readings import (
    CommunicationError,
    InstrumentError,
    InstrumentTimeout,
    Reading,
    SweepData,
    parse_reading,
    parse_reading_list,
)
from drivers.safe_off import safe_off
from drivers.smu import SMU
from drivers.system_mode import (
    INTEGRATION_PLC,
    MAX_LIST_POINTS,
    SweepOptions,
    SystemModeTests,
)
from drivers.validation import ParameterError, fmt_number

__all__ = ["Keithley4200A", "InstrumentError", "CommunicationError", "InstrumentTimeout",
           "Reading", "SweepData", "SweepOptions", "parse_reading", "parse_reading_list",
           "SMU", "PMUChannel", "SMU_V_MAX", "SMU_I_MAX", "MAX_LIST_POINTS",
           "INTEGRATION_PLC"]


def _delegate(part: str, method: Callable) -> Callable:
    """An instrument method that calls the same method of its part ``part`` (same name,
    signature and docstring)."""
    name = method.__name__

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        return getattr(getattr(self, part), name)(*args, **kwargs)

    return call


class Keithley4200A(KXCIInstrument):
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
        super().__init__(adapter, name, ack=ack, timeout=timeout, srq=srq, **kwargs)
        self._mode: str | None = None  # "user" / "system" once a page command was sent
        self.idn = self.query_parsed("*IDN?", parse_idn)
        self.mainframe = self.query_parsed("*OPT?", parse_options)
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
        #: the time waits run in: the simulator's virtual clock or the wall clock
        self.clock: Clock = clock_for(self)
        self.system = SystemModeTests(self)
        self.pmu_tests = PMUTests(self)

    def identity(self) -> dict[str, str]:
        """The ``*IDN?`` reply's fields (manual 4-4: ``KEITHLEY INSTRUMENTS,KI4200A,1442736,
        V1.8.1``): manufacturer, model, serial number and firmware version."""
        parts = [p.strip() for p in self.idn.split(",")]
        keys = ("manufacturer", "model", "serial", "firmware")
        return {k: parts[i] if i < len(parts) else "" for i, k in enumerate(keys)}

    # ------------------------------------------------------------------ plain settings
    resolution = Instrument.setting(
        "RS %d", """Set the resolution of every SMU reading, 3..7 digits (int) [M 5-43].""",
        validator=strict_discrete_set, values=[3, 4, 5, 6, 7], check_set_errors=True)

    instrument_id = Instrument.measurement(
        "ID", """Get the instrument ID, ``KI4200A Vx.x.x`` (str) [M 4-3].""",
        cast=str, maxsplit=0)

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

    # ------------------------------------------------------------------ simulator clock
    def sim_time(self) -> float:
        """Instrument (virtual) time of the simulator in s."""
        if not self.simulated:
            raise RuntimeError("sim_time is only available on the simulated 4200A")
        return self.query_parsed(":SIM:TIME?", float)

    def sim_speed(self) -> float | None:
        """The simulator's pace (instrument s per wall s; 0 = unpaced), None when the
        simulator predates the query."""
        if not self.simulated:
            raise RuntimeError("sim_speed is only available on the simulated 4200A")
        try:
            return self.query_parsed(":SIM:SPEED?", float)
        except InstrumentError:
            return None

    def sim_advance(self, seconds: float) -> None:
        """Let the simulated device evolve for ``seconds`` of instrument time."""
        if not self.simulated:
            raise RuntimeError("sim_advance is only available on the simulated 4200A")
        self.command(f":SIM:ADVANCE {fmt_number(seconds)}")

    # ------------------------------------------------------------------ safety
    def safe_off(self) -> list[str]:
        """PMU aborted and outputs off, RPMs routed to the PMU, every SMU 0 V and off
        (:func:`drivers.safe_off.safe_off`); returns the problems met, never raises."""
        problems = safe_off(self, self.smus, self.pmus)
        self._mode = None
        for p in self.pmus.values():
            if p.rpm:
                p.rpm_mode = "pmu"
        return problems

    def shutdown(self) -> None:
        """pymeasure's shutdown: :meth:`safe_off`, then mark the instrument shut down."""
        self.safe_off()
        super().shutdown()

    # ------------------------------------------------------------------ SMU tests
    integration = _delegate("system", SystemModeTests.integration)
    exit_on_compliance = _delegate("system", SystemModeTests.exit_on_compliance)
    clear_buffer = _delegate("system", SystemModeTests.clear_buffer)
    read_buffer = _delegate("system", SystemModeTests.read_buffer)
    read_point = _delegate("system", SystemModeTests.read_point)
    define_channel = _delegate("system", SystemModeTests.define_channel)
    disable_channel = _delegate("system", SystemModeTests.disable_channel)
    abort_test = _delegate("system", SystemModeTests.abort_test)
    list_sweep = _delegate("system", SystemModeTests.list_sweep)
    linear_sweep = _delegate("system", SystemModeTests.linear_sweep)
    sample = _delegate("system", SystemModeTests.sample)
    smu_pulse_train = _delegate("system", SystemModeTests.smu_pulse_train)
    smu_pulse = _delegate("system", SystemModeTests.smu_pulse)
    wait = _delegate("system", SystemModeTests.wait)

    # ------------------------------------------------------------------ PMU tests
    pmu_init = _delegate("pmu_tests", PMUTests.pmu_init)
    pmu_measure_mode = _delegate("pmu_tests", PMUTests.pmu_measure_mode)
    pmu_burst_count = _delegate("pmu_tests", PMUTests.pmu_burst_count)
    pmu_sample_rate = _delegate("pmu_tests", PMUTests.pmu_sample_rate)
    pmu_execute = _delegate("pmu_tests", PMUTests.pmu_execute)
    pmu_running = _delegate("pmu_tests", PMUTests.pmu_running)
    pmu_wait = _delegate("pmu_tests", PMUTests.pmu_wait)
    pmu_abort = _delegate("pmu_tests", PMUTests.pmu_abort)
    pmu_pulse_train = _delegate("pmu_tests", PMUTests.pmu_pulse_train)
    pmu_pulse_spot_means = _delegate("pmu_tests", PMUTests.pmu_pulse_spot_means)
    pmu_segment_arb = _delegate("pmu_tests", PMUTests.pmu_segment_arb)
