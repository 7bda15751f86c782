"""State of the simulated 4225-PMU / 4225-RPM: per channel and per mainframe, limits and
the printed data format [M §7].

The current measure ranges per source range are the 4200A-SCS Reference Manual's
(4200A-901-01 Rev. C p. 6-73, "Measure Current Range (PMU)",
https://manualshive.com/en/manual/keithley/4200a-scs/3969643?page=342; held by
``tests/test_sim_instrument_figures.py``). PMU readings carry no noise and no resolution
step: no per-range noise or resolution figure of the 4225-PMU / 4225-RPM was found in a
source the project can cite, and none is invented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim_backend.kxci_common import KXCIError, lookup_channel

R_SOURCE = 50.0
SAMPLE_CLOCK = 200e6
MAX_POINTS = 65536
PAGE_POINTS = 2048
MAX_STEPS = 4_000_000  # simulator limit on one test's schedule
PMU_I_RANGES = {10: (0.2, 10e-3), 40: (0.8, 10e-3, 100e-6)}
RPM_I_RANGES = {10: (0.2, 10e-3, 1e-3, 100e-6, 10e-6, 1e-6, 100e-9), 40: (0.8, 10e-3, 100e-6)}
I_RANGE_CODES = (100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 0.2, 0.8)
TIMING = {10: {"period": 60e-9, "width": 40e-9, "edge": 20e-9, "delay": 20e-9},
          40: {"period": 500e-9, "width": 250e-9, "edge": 50e-9, "delay": 50e-9}}
#: one ``:PMU:DATA:GET`` point: V,I,T,S (waveform) / VH,IH,TH,SH,VL,IL,TL,SL (spot mean)
POINT_FORMAT = "%.6g,%.6g,%.6g,%08X"
SPOT_FORMAT = POINT_FORMAT + "," + POINT_FORMAT
SARB_FIELDS = ("STARTV", "STOPV", "TIME", "MEAS:TYPE", "MEAS:START", "MEAS:STOP", "TRIG",
               "SSR")


@dataclass
class PulseChannel:
    """State of one PMU pulse channel."""

    number: int
    rpm: bool = False
    rpm_mode: int = 0
    v_range: int = 10
    range_type: int = 2
    i_range: float = 10e-3
    range_used: float = 10e-3  # the range of the last test (autorange picks it)
    load: float = 1e6
    base: float = 0.0
    amplitude: float = 0.0
    period: float = 1e-6
    width: float = 500e-9
    rise: float = 100e-9
    fall: float = 100e-9
    delay: float = 0.0
    piv: tuple[float, float] = (0.75, 0.9)
    acquire: tuple[int, int] = (1, 1)
    wf_fractions: tuple[float, float] = (0.2, 0.2)
    llec: bool = False
    retain: bool = False
    sweep: Any = None  # a pmu_sweep.SweepSpec: this channel sweeps [M 7-28…7-31]
    step: Any = None  # a pmu_sweep.SweepSpec: this channel steps [M 7-25…7-27]
    comp_enabled: dict[int, bool] = field(default_factory=dict)  # type 1/3 -> on [M 7-5]
    comp_measured: dict[int, float] = field(default_factory=dict)  # [M 7-12]
    llec_gain: list[float] = field(default_factory=list)  # per point, last test
    legacy: Any = None  # kxci_pulse_legacy.LegacyPulse once a two-letter command used it
    output_requested: bool = False
    output_active: bool = False
    sequences: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    seq_list: list[tuple[int, int]] = field(default_factory=list)
    data: np.ndarray | None = None  # (n, fields) float; status words in column 3 (and 7)
    rows: list[str] = field(default_factory=list)  # data as printed, one string per point

    def reset(self) -> None:
        keep = (self.number, self.rpm, self.rpm_mode)
        self.__init__(*keep)  # type: ignore[misc]


@dataclass
class PMUMainState:
    mode: int | None = None  # None before :PMU:INIT; 0 pulse, 1 Segment Arb
    measure_mode: int = 1
    burst: int = 1
    sample_rate: float = SAMPLE_CLOCK
    started: float = 0.0  # wall-clock start of the last EXECUTE
    running_until: float = 0.0
    busy_polls: int = 0


def pulse_channels(options) -> dict[int, PulseChannel]:
    """PMU channels from ``*OPT?`` entries (``PMUn``, ``PMURPMn``, ``PMUnRPM1|2|1-2``)."""
    out = {}
    for entry in options:
        m = re.fullmatch(r"PMU(\d+)(?:RPM(\d)(?:-(\d))?)?|PMURPM(\d+)", entry)
        if not m:
            continue
        if m.group(4):
            n, rpms = int(m.group(4)), {1, 2}
        else:
            n = int(m.group(1))
            lo = int(m.group(2)) if m.group(2) else 0
            hi = int(m.group(3)) if m.group(3) else lo
            rpms = set(range(lo, hi + 1)) & {1, 2}
        for local in (1, 2):
            ch = 2 * n - 2 + local
            out[ch] = PulseChannel(ch, rpm=local in rpms)
    return out


def format_rows(data: np.ndarray) -> list[str]:
    """Points as the instrument prints them (formatted once, when the test produces them)."""
    fmt = POINT_FORMAT if data.shape[1] == 4 else SPOT_FORMAT
    cols = [data[:, k].tolist() if k % 4 != 3 else data[:, k].astype(np.int64).tolist()
            for k in range(data.shape[1])]
    return list(map(fmt.__mod__, zip(*cols, strict=True)))


def i_code(amps: float) -> int:
    return int(np.argmin([abs(np.log10(amps / r)) for r in I_RANGE_CODES]))


def pulse_channel(st, text: str) -> PulseChannel:
    """Pulse channel number ``text`` of the instrument state ``st`` (-969 if absent)."""
    return lookup_channel(st.pulse, text, bad=-969, missing=-969)


def require_pmu_mode(st, *modes: int) -> None:
    """-965 unless the PMUs are in one of ``modes`` (0 pulse, 1 Segment Arb) [M 7-9]."""
    if st.pmu.mode not in modes:
        raise KXCIError(-965, f"pulse mode {st.pmu.mode}")
