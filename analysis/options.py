"""Analysis options and the figure names: light to import (numpy only).

Kept apart from :mod:`analysis.summary` and :mod:`analysis.figures` (which pull in scipy
and matplotlib) so that the command line can build its parser, with these defaults in
its help, without importing them: ``labapp --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.pulses import TopPortion
from analysis.run_kind import PROTOCOL_KINDS, RunKind, kind_of_protocol

#: default trace-histogram bin width (G0); <= 0.05 G0 separates k and k + 1/2
DEFAULT_BIN_G0 = 0.025

#: names of ``labapp analyze --figure`` (the registry is :data:`analysis.figures.FIGURES`)
FIGURE_NAMES = ("iv", "gv", "histogram", "plateaus", "pulses", "polar", "timelag", "ltp-ltd",
                "retention", "cdf", "endurance", "rtn", "compliance")

#: figures that mean something for a kind of run (paper 000: polar and time-lag plots
#: are of identical pulse trains, Fig. 6e-f; a write-verify run changes amplitude and
#: polarity from pulse to pulse). A kind not listed (CSV, imported) gets every figure
#: its data allows.
KIND_FIGURES: dict[RunKind, tuple[str, ...]] = {
    RunKind.SWEEP: ("iv", "gv", "histogram", "plateaus", "cdf", "endurance", "compliance"),
    RunKind.PULSES: ("histogram", "plateaus", "pulses", "polar", "timelag"),
    RunKind.LTP_LTD: ("histogram", "plateaus", "pulses", "ltp-ltd"),
    RunKind.RETENTION: ("histogram", "plateaus", "retention"),
    RunKind.WRITE_VERIFY: ("histogram", "plateaus", "pulses"),
    RunKind.ENDURANCE: ("histogram", "plateaus", "pulses", "endurance", "cdf"),
    RunKind.READ_NOISE: ("histogram", "plateaus", "rtn"),
}

#: the same per protocol name the run files record (for messages naming a protocol)
PROTOCOL_FIGURES: dict[str, tuple[str, ...]] = {
    name: KIND_FIGURES[kind] for name, kind in PROTOCOL_KINDS.items()}


def figure_supported(protocol: str, figure: str) -> bool:
    """Whether ``figure`` is one the runs of ``protocol`` are drawn as."""
    return figure in KIND_FIGURES.get(kind_of_protocol(protocol), FIGURE_NAMES)


@dataclass
class AnalysisOptions:
    """Every knob of the analysis; stored in the summary so results are reproducible."""

    v_min: float = 0.02
    series_resistance_ohm: float | None = None
    #: with no series_resistance_ohm: estimate R_s from the plateau levels and relabel
    #: when it is identifiable (analysis.series); reported either way
    series_auto: bool = True
    bin_width_g0: float = DEFAULT_BIN_G0
    g_range_max: float = 25.0
    min_length: int = 5
    #: None: merge by the trace's own noise only (unit free); a value (G0) adds the
    #: n/2 rule of analysis.plateaus.detect_plateaus
    merge_g0: float | None = None
    label_tol_g0: float = 0.1
    mixture_mode: str = "free"
    portion: TopPortion = field(default_factory=TopPortion)

    def __post_init__(self) -> None:
        if not (self.v_min >= 0):
            raise ValueError(f"v_min must be >= 0 V, got {self.v_min!r}")
        if not (0 < self.bin_width_g0 <= 1.0):
            raise ValueError(f"bin_width_g0 must be in (0, 1] G0, got {self.bin_width_g0!r}")
        if not (self.g_range_max > 0):
            raise ValueError(f"g_range_max must be > 0 G0, got {self.g_range_max!r}")
        if self.mixture_mode not in ("free", "tied"):
            raise ValueError(f"mixture_mode must be 'free' or 'tied', got {self.mixture_mode!r}")
