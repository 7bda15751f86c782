"""A simulated Keithley 4200A-SCS speaking KXCI (the instrument's remote command set).

One :class:`KXCIEngine` holds the instrument state (pages, modes, channel definitions,
sources, buffers, status byte, PMU settings, Segment Arb sequences, PMU data, last error)
and a device model wired between SMU1 / PMU channel 1 and ground. The same engine sits
behind the in-process pymeasure adapter (``sim_backend.adapter``) and the loopback TCP
server (``sim_backend.server``), so a test that passes on either has exercised the exact
command strings the driver sends to a real instrument.

Syntax and reply formats follow the KXCI manual (4200A-KXCI-907-01 Rev. E); page numbers
are cited per command as ``[M p]``. The SMU commands live in :mod:`sim_backend.kxci_smu`,
the ``:PMU:`` commands in :mod:`sim_backend.kxci_pmu`, fault injection in
:mod:`sim_backend.faults`. Replies on LAN: ``ACK`` for commands that return nothing, the
data otherwise [M 2-10, 2-11]. A rejected command sets the manual's error code (readable
with ``:ERROR:LAST:GET`` as ``<text> (<code>)``, cleared by ``:ERROR:LAST:CLEAR``
[M 4-2, 4-3]) and status bit B1; what the real instrument sends back on LAN after an error
is not documented, so the reply is configurable (``error_reply``, default ``ACK``).

Virtual time: the device evolves in instrument time, which runs as fast as possible
(``speed=None``) or paced against the wall clock (``speed=X``, 1 = real time). Two
simulator-only commands expose the clock to the host so that protocols can wait in
instrument time: ``:SIM:TIME?`` and ``:SIM:ADVANCE seconds`` (and ``:SIM:SPEED?``, the
pace: 0 = as fast as possible, so a host can split long waits the same way every run,
keeping seeded runs reproducible). The driver sends them only
to an instrument whose ``*IDN?`` serial starts with ``SIM``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from sim_backend.device import DeviceModel, default_device
from sim_backend.faults import FaultPlan
from sim_backend.kxci_common import (
    ERRORS,
    SB_RQS,
    SB_SYNTAX_ERROR,
    KXCIError,
    fmt_value,
    parse_float,
)
from sim_backend.kxci_cvu import CVUCommands
from sim_backend.kxci_errors import NO_ERROR_REPLY
from sim_backend.kxci_kult import KULTCommands
from sim_backend.kxci_pmu import PMUCommands, PMUMainState, pulse_channels
from sim_backend.kxci_smu import (
    IT_PLC,
    MAX_BUFFER,
    MAX_LIST_POINTS,
    PLC_S,
    SMU_I_MAX,
    SMU_I_MIN_COMP,
    SMU_V_MAX,
    SMUChannel,
    SMUCommands,
    smu_channels,
    vs_vm_channels,
)
from sim_backend.kxci_system import SystemCommands, SystemState, apply_startup_definitions
from sim_backend.message_log import DEFAULT_LOG_SIZE, MessageLog
from sim_backend.smu_noise import SMUNoise

__all__ = ["KXCIEngine", "KXCIError", "ERRORS", "SMUChannel", "fmt_value", "IT_PLC", "PLC_S",
           "MAX_LIST_POINTS", "MAX_BUFFER", "SMU_V_MAX", "SMU_I_MAX", "SMU_I_MIN_COMP",
           "DEFAULT_OPTIONS"]

#: the card list of a 4200A with four SMUs and a 4225-PMU, as ``*OPT?`` answers it [M 4-4,
#: 4-5]: one entry per installed card. Empty slots are not listed: pymeasure's
#: ``Keithley4200`` builds a channel from every entry and its test against the real
#: instrument passes [3P pymeasure tests/instruments/keithley/test_keithley4200_with_device.py],
#: so the real reply has no empty entries.
DEFAULT_OPTIONS = ("SMU1", "SMU2", "SMU3", "SMU4", "PMU1")
#: ``ID`` reply: ``KI4200A Vx.x.x`` [M 4-3]
ID_REPLY = "KI4200A V1.13.0"


class KXCIEngine(SMUCommands, SystemCommands, PMUCommands, CVUCommands, KULTCommands):
    """Parser and state machine of the simulated 4200A.

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
        self.device = device if device is not None else default_device(seed)
        self.seed = seed
        self.options = tuple(options)
        self.speed = speed
        self.faults = faults if faults is not None else FaultPlan()
        self.error_reply = error_reply
        self.series_ohms = float(series_ohms)
        self.busy_polls = int(busy_polls)
        self.noise = SMUNoise(seed, enabled=noise)
        self.files: dict = {}  # SV / GT [M 5-29]
        self._reset_smus()
        self.pulse = pulse_channels(self.options)
        self.pmu = PMUMainState()
        self.last_error: tuple[int, str] | None = None
        self.last_truth = None
        self._test_t0 = 0.0
        self.lock = threading.RLock()
        self.log = MessageLog(log_size)  # the last messages received, for tests
        self.message_count = 0
        self._handlers: dict[str, Callable[[str], str | None]] = {
            "*IDN?": self._idn,
            "*OPT?": self._opt,
            "*RST": self._rst,
            "ID": self._id,
            ":ERROR:LAST:GET": self._err_get,
            ":ERROR:LAST:CLEAR": self._err_clear,
            ":SIM:TIME?": self._sim_time,
            ":SIM:SPEED?": lambda _: repr(float(self.speed or 0.0)),
            ":SIM:ADVANCE": self._sim_advance,
            **self._smu_handlers(),
            **self._system_handlers(),
            **self._pmu_handlers(),
            **self._cvu_handlers(),
            **self._kult_handlers(),
        }
        self._by_length = sorted(self._handlers, key=len, reverse=True)
        self._name_lengths = sorted({len(n) for n in self._handlers}, reverse=True)

    def describe(self) -> dict:
        """What makes this simulator's data: seed, cards, series resistance, noise, pace,
        and the device with its full parameter set and its state now (stored in the run
        file's instrument snapshot; ``labapp rerun --sim`` rebuilds the same simulator)."""
        import dataclasses

        dev = self.device
        params = getattr(dev, "params", None)
        state = {k: getattr(dev, k) for k in ("time", "n", "half", "n_body")
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

    # ------------------------------------------------------------------ compatibility
    @property
    def state(self) -> SystemState:
        """SMU/system-mode state (page, mode, buffer, status byte, ...)."""
        return self.sm

    # ------------------------------------------------------------------ plumbing
    def handle(self, message: str) -> str:
        """Process one message (terminator stripped) and return the LAN reply."""
        return self.process(message)[1]

    def process(self, message: str) -> tuple[int, str]:
        """Process one message; return (its 1-based index, the LAN reply).

        Several commands may share a message, separated by ``;`` [M 5-8]; the reply is the
        data of the last query in it, or ``ACK`` when none of them returns data.
        """
        with self.lock:
            self.message_count += 1
            k = self.message_count
            self.log.append(message)
            reply: str | None = None
            failed = False
            injected = self.faults.error_for(k)
            parts = [p.strip() for p in message.split(";")]
            if injected is not None:
                self._set_error(KXCIError(injected, "injected fault"))
                return k, self.error_reply
            for part in parts:
                if not part:
                    continue
                try:
                    out = self._dispatch(part)
                except KXCIError as exc:
                    self._set_error(exc)
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
        with self.lock:
            self._set_error(KXCIError(code, detail))

    def _set_error(self, exc: KXCIError) -> None:
        self.last_error = (exc.code, ERRORS.get(exc.code, "Error."))
        self.sm.status_byte |= SB_SYNTAX_ERROR | SB_RQS  # RQS is set with B1 [M 3-3]

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

    def _wait_paced(self, duration: float) -> None:
        if self.speed:
            self.sm.busy_until = time.monotonic() + duration / self.speed

    def _settle(self) -> None:
        """Block until a paced test or wait has run its wall-clock time."""
        remaining = self.sm.busy_until - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)

    # ------------------------------------------------------------------ identity, errors
    def _idn(self, rest: str) -> str:
        """``*IDN?`` -> ``KEITHLEY INSTRUMENTS,KI4200A,serial,firmware`` [M 4-4]."""
        self._no_args(rest)
        return self.IDN.format(seed=self.seed)

    def _id(self, rest: str) -> str:
        """``ID`` -> ``KI4200A Vx.x.x`` in 4200A mode [M 4-3]."""
        self._no_args(rest)
        return ID_REPLY

    def _opt(self, rest: str) -> str:
        """``*OPT?``: the installed cards, comma-separated, empty slots left out [M 4-4]."""
        self._no_args(rest)
        return ",".join(o for o in self.options if o)

    @staticmethod
    def _no_args(rest: str) -> None:
        if rest:
            raise KXCIError(-993, rest)

    def _reset_smus(self) -> None:
        """SMUs, VS/VM channels and system mode in the KXCI start-up state [M 5-4, 5-5]."""
        self.sm = SystemState()
        self.smus = smu_channels(self.options)
        self.vsvm = vs_vm_channels(self.options)
        self.mapped_away: dict[int, tuple[str, int]] = {}  # MP [M 5-30]
        self.phantom_vm: dict = {}  # VMn defined without a VMn in the mainframe [M 5-8]
        apply_startup_definitions(self.smus)

    def _rst(self, rest: str) -> None:
        """``*RST`` [M 4-5]: SMUs back to their start-up state, PMUs reset into standard
        pulse mode (``:PMU:INIT 0`` [M 7-9]) with their data and Segment Arb sequences
        deleted, a running test cancelled. Files, status byte and the last error are
        kept (the manual lists neither); the device keeps its state."""
        self._no_args(rest)
        status, srq = self.sm.status_byte, self.sm.srq_on_data
        self._reset_smus()
        self.sm.status_byte, self.sm.srq_on_data = status, srq
        self.pulse = pulse_channels(self.options)
        self.pmu = PMUMainState()
        self.pmu.mode = 0

    def _err_get(self, rest: str) -> str:
        """``:ERROR:LAST:GET`` -> ``<message> (<code>)``; non-destructive; ``""`` when no
        error is stored [M 4-3; :mod:`sim_backend.kxci_errors`]."""
        self._no_args(rest)
        if self.last_error is None:
            return NO_ERROR_REPLY
        code, msg = self.last_error
        return f"{msg} ({code})"

    def _err_clear(self, rest: str) -> None:
        """``:ERROR:LAST:CLEAR`` [M 4-3]."""
        if rest:
            raise KXCIError(-993, rest)
        self.last_error = None

    # ------------------------------------------------------------------ simulator clock
    def _sim_time(self, _: str) -> str:
        return repr(float(self.device.time))

    def _sim_advance(self, arg: str) -> None:
        seconds = parse_float(arg)
        if seconds < 0:
            raise KXCIError(-993, f"advance {arg!r}")
        self._settle()
        smu1 = self.smus.get(1)
        if (smu1 is not None and smu1.output_on and seconds > 0 and self._smu1_wired()
                and (smu1.output_v != 0.0 if smu1.output_kind == "V" else smu1.output_i != 0)):
            # the output stays on while the host waits: the device is biased, not resting
            if smu1.output_kind == "V":
                self.last_truth = self.device.drive([seconds], [smu1.output_v],
                                                    [smu1.output_comp])
            else:
                v = float(np.copysign(smu1.output_v, smu1.output_i))
                self.last_truth = self.device.drive([seconds], [v], [abs(smu1.output_i)])
        else:
            self.device.rest(seconds)
        self._wait_paced(seconds)
        self._settle()

    # ------------------------------------------------------------------ inspection
    def smu_outputs_safe(self) -> bool:
        """Every SMU output off or at 0 V."""
        return all((not s.output_on) or (s.output_v == 0.0 and s.output_i == 0.0)
                   for s in self.smus.values()) and all(
            not c.user_on or c.user_value == 0.0 for c in self.vsvm.values())

    def outputs_safe(self) -> bool:
        """The safe state: every SMU off or at 0 V, no PMU output on and no PMU test
        running, every RPM routed back to its PMU."""
        return self.smu_outputs_safe() and self.pmu_outputs_safe()
