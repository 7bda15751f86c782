"""A simulated Keithley 4200A-SCS speaking KXCI (the instrument's remote command set).

One :class:`KXCIEngine` is a mainframe composed of per-card parts that share one explicit
state object (:class:`~sim_backend.kxci_state.InstrumentState`: pages, modes, channel
definitions, sources, buffers, status byte, PMU settings, Segment Arb sequences, PMU data,
last error) and a device model wired between SMU1 / PMU channel 1 and ground. Each part
owns its commands: :mod:`sim_backend.kxci_common` (identity, ``*RST``, errors, the
simulator clock), :mod:`sim_backend.kxci_smu` (user mode, modeless SMU commands),
:mod:`sim_backend.kxci_system` and :mod:`sim_backend.kxci_system_test` (system mode),
:mod:`sim_backend.kxci_pmu` with :mod:`sim_backend.pmu_sweep` and
:mod:`sim_backend.pmu_run` (the ``:PMU:`` set), :mod:`sim_backend.kxci_pulse_legacy`,
:mod:`sim_backend.kxci_cvu` and :mod:`sim_backend.kxci_kult`; the engine merges their
command tables and parses messages. The same engine sits behind the in-process pymeasure
adapter (``sim_backend.adapter``) and the loopback TCP server (``sim_backend.server``), so
a test that passes on either has exercised the exact command strings the driver sends to
a real instrument.

Syntax and reply formats follow the KXCI manual (4200A-KXCI-907-01 Rev. E); page numbers
are cited per command as ``[M p]``; fault injection is in :mod:`sim_backend.faults`.
Replies on LAN: ``ACK`` for commands that return nothing, the data otherwise [M 2-10,
2-11]. A rejected command sets the manual's error code (readable with ``:ERROR:LAST:GET``
as ``<text> (<code>)``, cleared by ``:ERROR:LAST:CLEAR`` [M 4-2, 4-3]) and status bit B1;
what the real instrument sends back on LAN after an error is not documented, so the reply
is configurable (``error_reply``, default ``ACK``).

Virtual time: the device evolves in instrument time, which runs as fast as possible
(``speed=None``) or paced against the wall clock (``speed=X``, 1 = real time). Two
simulator-only commands expose the clock to the host so that protocols can wait in
instrument time: ``:SIM:TIME?`` and ``:SIM:ADVANCE seconds`` (and ``:SIM:SPEED?``, the
pace: 0 = as fast as possible, so a host can split long waits the same way every run,
keeping seeded runs reproducible). The driver sends them only
to an instrument whose ``*IDN?`` serial starts with ``SIM``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sim_backend.device import DeviceModel, default_device
from sim_backend.faults import FaultPlan
from sim_backend.kxci_channels import (
    IT_PLC,
    MAX_BUFFER,
    MAX_LIST_POINTS,
    PLC_S,
    SMU_I_MAX,
    SMU_I_MIN_COMP,
    SMU_V_MAX,
    SMUChannel,
)
from sim_backend.kxci_common import ERRORS, CommonCommands, KXCIError, fmt_value
from sim_backend.kxci_cvu import CVUCard
from sim_backend.kxci_kult import KULTLibrary
from sim_backend.kxci_pmu import PMUCard
from sim_backend.kxci_pulse_legacy import LegacyPulseCard
from sim_backend.kxci_smu import SMUCard
from sim_backend.kxci_state import InstrumentState, SystemState
from sim_backend.kxci_system import SystemPages
from sim_backend.kxci_system_test import SystemTest
from sim_backend.message_log import DEFAULT_LOG_SIZE, MessageLog
from sim_backend.pmu_run import PMURunner
from sim_backend.pmu_sarb import SegmentArbCommands
from sim_backend.pmu_sweep import PMUSweeps

__all__ = ["KXCIEngine", "KXCIError", "ERRORS", "SMUChannel", "fmt_value", "IT_PLC", "PLC_S",
           "MAX_LIST_POINTS", "MAX_BUFFER", "SMU_V_MAX", "SMU_I_MAX", "SMU_I_MIN_COMP",
           "DEFAULT_OPTIONS"]

#: the card list of a 4200A with four SMUs and a 4225-PMU, as ``*OPT?`` answers it [M 4-4,
#: 4-5]: one entry per installed card. Empty slots are not listed: pymeasure's
#: ``Keithley4200`` builds a channel from every entry and its test against the real
#: instrument passes [3P pymeasure tests/instruments/keithley/test_keithley4200_with_device.py],
#: so the real reply has no empty entries.
DEFAULT_OPTIONS = ("SMU1", "SMU2", "SMU3", "SMU4", "PMU1")


def _shared(name: str, doc: str) -> property:
    """An engine attribute that is the shared state's ``name`` (read and write)."""
    return property(lambda self: getattr(self.st, name),
                    lambda self, value: setattr(self.st, name, value), doc=doc)


class KXCIEngine:
    """Parser of the simulated 4200A, composed of its card parts.

    Parameters
    ----------
    device : the device behind SMU1 / PMU ch1 (default :func:`sim_backend.device.default_device`).
    seed : seed for the default device.
    options : slot entries answered to ``*OPT?`` [M 4-4], e.g. ``("SMU1", "SMUPA2", "",
        "PMU1RPM1-2", ...)``; empty strings are empty slots.
    speed : None = as fast as possible; X > 0 paces instrument time at X times real time.
    faults : a :class:`~sim_backend.faults.FaultPlan` (error-at is applied here; delays,
        drops and garbling by the front ends).
    error_reply : LAN reply to a message whose command failed (default ``"ACK"``).
    series_ohms : a physical resistor in series with the device on the PMU path.
    busy_polls : ``:PMU:TEST:STATUS?`` answers 1 this many times after each EXECUTE.
    log_size : how many of the last messages :attr:`log` keeps (it counts them all).
    noise : SMU readings with range, resolution and seeded noise (:mod:`sim_backend.smu_noise`);
        False gives exact readings.
    """

    IDN = "KEITHLEY INSTRUMENTS,KI4200A,SIM{seed:07d},V1.13"

    device = _shared("device", "The device model behind SMU1 / PMU channel 1.")
    seed = _shared("seed", "The simulator's seed.")
    options = _shared("options", "The ``*OPT?`` card list.")
    speed = _shared("speed", "Pace: None as fast as possible, X times real time.")
    series_ohms = _shared("series_ohms", "Series resistor on the PMU path.")
    busy_polls = _shared("busy_polls", "Busy answers to ``:PMU:TEST:STATUS?``.")
    noise = _shared("noise", "SMU reading noise (:class:`sim_backend.smu_noise.SMUNoise`).")
    files = _shared("files", "Files saved with ``SV`` [M 5-29].")
    sm = _shared("sm", "System/user-mode state.")
    smus = _shared("smus", "SMU channels by number.")
    vsvm = _shared("vsvm", "VS/VM channels by (kind, number).")
    mapped_away = _shared("mapped_away", "SMUs mapped to another function by ``MP``.")
    phantom_vm = _shared("phantom_vm", "VMs defined without a VM in the mainframe.")
    pulse = _shared("pulse", "PMU pulse channels by number.")
    pmu = _shared("pmu", "Mainframe-wide PMU state.")
    last_error = _shared("last_error", "The stored KXCI error (code, text) or None.")
    last_truth = _shared("last_truth", "The device's last drive result (true V and I).")
    lock = _shared("lock", "The lock every message is processed under.")

    def __init__(
        self,
        device: DeviceModel | None = None,
        seed: int = 0,
        options: tuple[str, ...] = DEFAULT_OPTIONS,
        speed: float | None = None,
        faults: FaultPlan | None = None,
        error_reply: str = "ACK",
        series_ohms: float = 0.0,
        busy_polls: int = 1,
        log_size: int = DEFAULT_LOG_SIZE,
        noise: bool = True,
    ) -> None:
        self.st = InstrumentState(device if device is not None else default_device(seed),
                                  seed, options, speed, series_ohms, busy_polls, noise)
        self.faults = faults if faults is not None else FaultPlan()
        self.error_reply = error_reply
        self.log = MessageLog(log_size)  # the last messages received, for tests
        self.message_count = 0
        self.smu_card = SMUCard(self.st)
        self.pmu_card = PMUCard(self.st, PMURunner(self.st), PMUSweeps(self.st))
        self.legacy_pulse = LegacyPulseCard(self.st, self.pmu_card.rpm_configure)
        parts = (CommonCommands(self.st, self.IDN.format(seed=seed)), self.smu_card,
                 SystemPages(self.st), SystemTest(self.st), self.pmu_card,
                 self.pmu_card.sweeps, SegmentArbCommands(self.st), self.legacy_pulse,
                 CVUCard(self.st.options), KULTLibrary(self.st, self.IDN.rsplit(",", 1)[1]))
        self._handlers: dict[str, Callable[[str], str | None]] = {}
        for part in parts:
            self._handlers.update(part.handlers())
        self._by_length = sorted(self._handlers, key=len, reverse=True)
        self._name_lengths = sorted({len(n) for n in self._handlers}, reverse=True)

    def describe(self) -> dict:
        """What makes this simulator's data: seed, cards, series resistance, noise, pace,
        and the device with its full parameter set and its state now (stored in the run
        file's instrument snapshot; ``labapp rerun --sim`` rebuilds the same simulator)."""
        dev = self.device
        params = getattr(dev, "params", None)
        state = {k: getattr(dev, k) for k in ("time", "n", "half", "n_body", "n_firm", "n_peak",
                                                "vacancies", "soft_stage", "strip_stage")
                 if isinstance(getattr(dev, k, None), int | float | bool)}
        return {
            "seed": self.seed, "options": list(self.options), "series_ohms": self.series_ohms,
            "noise": bool(self.noise.enabled), "speed": self.speed,
            "messages_before": self.message_count,
            "device": {"model": type(dev).__name__,
                       "params": dataclasses.asdict(params)
                       if dataclasses.is_dataclass(params) else None,
                       "state": state},
        }

    @property
    def state(self) -> SystemState:
        """SMU/system-mode state (page, mode, buffer, status byte, ...)."""
        return self.st.sm

    # ------------------------------------------------------------------ plumbing
    def handle(self, message: str) -> str:
        """Process one message (terminator stripped) and return the LAN reply."""
        return self.process(message)[1]

    def process(self, message: str) -> tuple[int, str]:
        """Process one message; return (its 1-based index, the LAN reply).

        Several commands may share a message, separated by ``;`` [M 5-8]; the reply is the
        data of the last query in it, or ``ACK`` when none of them returns data.
        """
        with self.st.lock:
            self.message_count += 1
            k = self.message_count
            self.log.append(message)
            reply: str | None = None
            failed = False
            injected = self.faults.error_for(k)
            if injected is not None:
                self.st.record_error(KXCIError(injected, "injected fault"))
                return k, self.error_reply
            for part in message.split(";"):
                part = part.strip()
                if not part:
                    continue
                try:
                    out = self._dispatch(part)
                except KXCIError as exc:
                    self.st.record_error(exc)
                    failed = True
                    out = None
                if out is not None:
                    reply = out
            if reply is None:
                reply = self.error_reply if failed else "ACK"
            return k, reply

    def refuse(self, code: int, detail: str = "") -> None:
        """Record KXCI error ``code`` for a message the front end refuses before parsing
        (an over-long message, a simulator defect)."""
        with self.st.lock:
            self.st.record_error(KXCIError(code, detail))

    def _dispatch(self, part: str) -> str | None:
        upper = part.upper()
        for length in self._name_lengths:  # longest-prefix match over the command table
            name = upper[:length]
            if name in self._handlers:
                rest = part[length:]
                if name[-1].isalpha() and rest[:1].isalpha():
                    continue  # e.g. "DEX" is not "DE" + "X"
                rest = rest.strip()
                try:
                    return self._handlers[name](rest)
                except KXCIError as exc:
                    if exc.code != -993 or not rest:
                        raise
                    return self._dispatch_chained(name, rest, exc)
        raise KXCIError(-992, part)

    def _dispatch_chained(self, name: str, rest: str, first_error: KXCIError) -> str | None:
        """Several commands in one message separated by spaces, as in the manual's C
        examples (``IT1 BC DR1``, ``SS VR1,0,1,0.05,50E-3``, ``MD ME1`` [M 5-44…5-46]):
        the command takes the arguments before a space, the rest is the next command."""
        cuts = [0] + [k for k, ch in enumerate(rest) if ch == " "]
        for k in cuts:
            head, tail = rest[:k].strip(), rest[k:].strip()
            if not tail:
                break
            if not (tail[0].isalpha() or tail[0] in "*:") or not any(
                    tail.upper().startswith(n) for n in self._by_length):
                continue  # only where a command name follows
            try:
                out = self._handlers[name](head)
            except KXCIError:
                continue
            more = self._dispatch(tail)
            return more if more is not None else out
        raise first_error

    # ------------------------------------------------------------------ status, inspection
    def serial_poll(self) -> int:
        """The status byte; a poll clears B0, B1 and RQS [M 3-3, 3-4]."""
        return self.smu_card.serial_poll()

    def service_requested(self) -> bool:
        """RQS (B6) pending and the test finished: what raises SRQ on GPIB [M 3-5]."""
        return self.smu_card.service_requested()

    def smu_outputs_safe(self) -> bool:
        """Every SMU output off or at 0 V."""
        return all((not s.output_on) or (s.output_v == 0.0 and s.output_i == 0.0)
                   for s in self.smus.values()) and all(
            not c.user_on or c.user_value == 0.0 for c in self.vsvm.values())

    def pmu_outputs_safe(self) -> bool:
        """No PMU output on (requested or active), no test running, RPMs routed to the PMU,
        no legacy pulse output on or armed."""
        return self.pmu_card.outputs_safe() and self.legacy_pulse.outputs_safe()

    def outputs_safe(self) -> bool:
        """The safe state: every SMU off or at 0 V, no PMU output on and no PMU test
        running, every RPM routed back to its PMU."""
        return self.smu_outputs_safe() and self.pmu_outputs_safe()
