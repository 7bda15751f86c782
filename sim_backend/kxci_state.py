"""The state every part of the simulated 4200A shares, in one explicit object.

:class:`InstrumentState` holds what the card parts (:mod:`sim_backend.kxci_smu`,
:mod:`sim_backend.kxci_system`, :mod:`sim_backend.kxci_pmu`, ...) read and change: the
device, the SMU and VS/VM channels, system-mode state, the pulse channels, the files, the
last error, the clock pace. Each part receives it at construction and reaches the others'
state only through it; the small helpers several parts need (a channel lookup, whether a
test is running, the paced wait) are its methods.

System-mode state [M 5-5…5-31]: :class:`SystemState` with the VAR1 (:class:`SweepSpec`)
and VAR2 (:class:`StepSpec`) set-ups, and the KXCI start-up channel definitions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim_backend.device import DeviceModel
from sim_backend.kxci_channels import (
    SMUChannel,
    VSVMChannel,
    smu_channels,
    vs_vm_channels,
)
from sim_backend.kxci_common import (
    ERRORS,
    SB_DATA_READY,
    SB_RQS,
    SB_SYNTAX_ERROR,
    KXCIError,
    lookup_channel,
    parse_float,
)
from sim_backend.pmu_state import PMUMainState, PulseChannel, pulse_channels
from sim_backend.smu_noise import SMUNoise

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


class InstrumentState:
    """Everything the card parts of one simulated 4200A share (see the module doc).

    Parameters are the engine's (:class:`sim_backend.kxci.KXCIEngine`).
    """

    def __init__(self, device: DeviceModel, seed: int, options: tuple[str, ...],
                 speed: float | None, series_ohms: float, busy_polls: int,
                 noise: bool) -> None:
        self.device = device
        self.seed = seed
        self.options = tuple(options)
        self.speed = speed
        self.series_ohms = float(series_ohms)
        self.busy_polls = int(busy_polls)
        self.noise = SMUNoise(seed, enabled=noise)
        self.files: dict = {}  # SV / GT [M 5-29]
        self.last_error: tuple[int, str] | None = None
        self.last_truth = None  # the device's last drive result (true V and I)
        self.lock = threading.RLock()
        self.sm = SystemState()
        self.smus: dict[int, SMUChannel] = {}
        self.vsvm: dict[tuple[str, int], VSVMChannel] = {}
        self.mapped_away: dict[int, tuple[str, int]] = {}  # MP [M 5-30]
        self.phantom_vm: dict = {}  # VMn defined without a VMn in the mainframe [M 5-8]
        self.reset_smus()
        self.pulse: dict[int, PulseChannel] = pulse_channels(self.options)
        self.pmu = PMUMainState()

    # ------------------------------------------------------------------ resets
    def reset_smus(self) -> None:
        """SMUs, VS/VM channels and system mode in the KXCI start-up state [M 5-4, 5-5]."""
        self.sm = SystemState()
        self.smus = smu_channels(self.options)
        self.vsvm = vs_vm_channels(self.options)
        self.mapped_away = {}
        self.phantom_vm = {}
        apply_startup_definitions(self.smus)

    def reset_pmus(self, mode: int | None = None) -> None:
        """Pulse channels and PMU settings as at power-on (``mode`` None) or after
        ``:PMU:INIT mode`` [M 7-9]."""
        self.pulse = pulse_channels(self.options)
        self.pmu = PMUMainState(mode=mode)

    # ------------------------------------------------------------------ channels
    def smu(self, text: str) -> SMUChannel:
        """SMU number ``text`` (-979 when absent, -988 when ``MP`` mapped it away)."""
        smu = lookup_channel(self.smus, text, bad=-993, missing=-979)
        if smu.number in self.mapped_away:
            raise KXCIError(-988, f"SMU{smu.number} is mapped as "
                            f"{''.join(map(str, self.mapped_away[smu.number]))}")
        return smu

    def vsvm_channel(self, kind: str, n: int) -> VSVMChannel | None:
        """The ``VSn``/``VMn`` channel when the mainframe has it (card or ``MP`` map)."""
        return self.vsvm.get((kind, n))

    def compliance(self, text: str, smu: SMUChannel) -> float:
        """A current compliance for ``smu``, raised to the card's minimum [M 5-16]."""
        comp = abs(parse_float(text))
        if comp > smu.i_max:
            raise KXCIError(-993, f"compliance {comp} A > {smu.i_max} A")
        return max(comp, smu.min_compliance)  # the instrument raises small values [M 5-16]

    def rpm_mode(self, channel: int) -> int | None:
        """Routing of the RPM on pulse channel ``channel``; None without an RPM."""
        ch = self.pulse.get(channel)
        return ch.rpm_mode if ch is not None and ch.rpm else None

    def smu1_wired(self) -> bool:
        """SMU1 reaches the device unless an RPM on PMU ch1 routes it elsewhere [M 7-22]."""
        return self.rpm_mode(1) in (None, 2)

    # ------------------------------------------------------------------ status, time
    def record_error(self, exc: KXCIError) -> None:
        """Store a rejected command's error [M 4-3] and set B1 with RQS [M 3-3]."""
        self.last_error = (exc.code, ERRORS.get(exc.code, "Error."))
        self.sm.status_byte |= SB_SYNTAX_ERROR | SB_RQS

    def data_ready(self) -> None:
        """Measurements complete: B0, and B6 with ``DR1`` [M 3-3, 3-4]."""
        self.sm.status_byte |= SB_DATA_READY | (SB_RQS if self.sm.srq_on_data else 0)

    def clear_buffer(self) -> None:
        """Empty the system-mode reading buffer (``BC`` [M 5-37])."""
        st = self.sm
        st.columns, st.channel_names, st.row_times = {}, {}, np.empty(0)

    def test_running(self) -> bool:
        """A paced system-mode test or wait has not reached its wall-clock end."""
        return time.monotonic() < self.sm.busy_until

    def pmu_running(self) -> bool:
        """A paced PMU test has not reached its wall-clock end."""
        return time.monotonic() < self.pmu.running_until

    def wait_paced(self, duration: float) -> None:
        """With a pace, mark the instrument busy for ``duration`` instrument seconds."""
        if self.speed:
            self.sm.busy_until = time.monotonic() + duration / self.speed

    def settle(self) -> None:
        """Block until a paced test or wait has run its wall-clock time."""
        remaining = self.sm.busy_until - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)

    def fmt(self, value: float) -> str:
        """A reading with the ``RS`` resolution (5 digits by default: ±N.NNNNE±NN [M 3-1])."""
        return f"{value:+.{self.sm.resolution - 1}E}"


class CardPart:
    """A part of the simulated mainframe (a card or a command family): its commands, which
    read and change the instrument's shared state ``st``."""

    def __init__(self, st: InstrumentState) -> None:
        self.st = st

    def handlers(self) -> dict[str, Callable[[str], str | None]]:
        """Command name -> handler of the command's arguments (the reply, or None)."""
        raise NotImplementedError
