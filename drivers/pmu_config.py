"""4225-PMU pulse settings and the rules they must satisfy, checked before sending.

Every rule here is from the KXCI manual's ``:PMU:`` section [M 7-2…7-58] (reference note
§1.10); a violation raises :class:`~drivers.validation.ParameterError` naming the
parameter, the value and the allowed range, so the instrument never sees it.

Pulse geometry (Keithley's convention): ``width`` is the full width at half maximum; the
rise starts ``delay`` after the period start, the top lasts ``width - (rise+fall)/2`` and
the fall ends ``delay + width + (rise+fall)/2`` after the period start.

The PMU has **no current compliance** [M §7: no such command; LPT 6-14, 6-15, 6-29]: LPT
"current limits" are voltage clamps computed from an *assumed* load, and thresholds are
checked only after a burst. The only way to bound the current of a PMU pulse is a physical
series element; declare it with ``series_resistance`` so the bound it implies
(|V_source| / (50 Ω + R)) is recorded with the data — see :func:`current_bound`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drivers.cards import PMU_I_RANGES, RPM_I_RANGES
from drivers.pmu_data import MAX_POINTS
from drivers.validation import ParameterError, check_int, check_range

PMU_R_SOURCE = 50.0  # ohm [M 7-11]
SOURCE_RANGES = (10, 40)
#: ``:PMU:PULSE:TIMES`` limits per source range [M 7-18, 7-19]
TIMING_LIMITS = {
    10: {"period": (60e-9, 1.0), "width": 40e-9, "edge": (20e-9, 33e-3), "delay": 20e-9},
    40: {"period": (500e-9, 1.0), "width": 250e-9, "edge": (50e-9, 33e-3), "delay": 50e-9},
}
MIN_OFF_TIME = 40e-9  # [M 7-19]
#: Segment Arb segment duration limits and resolution [M 7-52]
SARB_MIN_SEGMENT = {10: 20e-9, 40: 50e-9}
SARB_MAX_SEGMENT = 1.0
SARB_RESOLUTION = 10e-9
SARB_MAX_VALUES_PER_COMMAND = 128
SARB_MAX_SEQUENCES = 512
SARB_MAX_LOOPS = 1e12
MAX_BURST = 10000  # [M 7-17]
SAMPLE_CLOCK = 200e6  # S/s; rates are 200e6/n [M 7-23; LPT 6-44]
MIN_SAMPLE_RATE = 1e3
LOAD_RANGE = (1.0, 1e7)  # [M 7-11]
#: measure modes of ``:PMU:MEASURE:MODE`` [M 7-13]
MEASURE_MODES = {"none": 0, "spot_mean": 1, "waveform": 2, "spot_mean_average": 3,
                 "waveform_average": 4}


def effective_sample_rate(rate: float) -> float:
    """The rate the PMU uses for a request: 200 MS/s / n, the next higher one [M 7-23]."""
    check_range("sample_rate", rate, MIN_SAMPLE_RATE, SAMPLE_CLOCK, "S/s")
    n = max(1, int(np.floor(SAMPLE_CLOCK / rate + 1e-9)))
    return SAMPLE_CLOCK / n


def check_source_range(v_range: int) -> int:
    if v_range not in SOURCE_RANGES:
        raise ParameterError("v_range", v_range, "10 or 40 (V)")
    return int(v_range)


def source_level_at_load(level: float, load: float) -> float:
    """Internal source voltage the PMU needs so that ``level`` appears across ``load``.

    The PMU compensates its 50 Ω source resistance for the declared DUT load [M 7-11]:
    4 V programmed into a 50 Ω DUT with the default 1 MΩ load gives about 2 V.
    """
    return level * (load + PMU_R_SOURCE) / load


def check_levels(name: str, levels, v_range: int, load: float) -> None:
    """Levels within the source range, including the load compensation (-964) [M 7-11, 7-21]."""
    arr = np.atleast_1d(np.asarray(levels, dtype=float))
    if not np.all(np.isfinite(arr)):
        raise ParameterError(name, levels, "finite voltages")
    worst = float(np.max(np.abs(source_level_at_load(arr, load))))
    if worst > v_range * (1 + 1e-12):
        limit = v_range * load / (load + PMU_R_SOURCE)
        raise ParameterError(name, float(arr[np.argmax(np.abs(arr))]),
                             f"[-{limit:.6g}, {limit:.6g}] V on the {v_range} V range with "
                             f"load {load:g} ohm")


@dataclass(frozen=True)
class PulseTiming:
    """``:PMU:PULSE:TIMES ch, period, width, rise, fall, delay`` [M 7-18]."""

    period: float = 1e-6
    width: float = 500e-9
    rise: float = 100e-9
    fall: float = 100e-9
    delay: float = 0.0

    @property
    def duration(self) -> float:
        """Rise start to fall end: width + (rise + fall)/2."""
        return self.width + 0.5 * (self.rise + self.fall)

    def validate(self, v_range: int = 10) -> PulseTiming:
        """Raise ParameterError unless the manual's timing rules hold [M 7-18, 7-19]."""
        lim = TIMING_LIMITS[check_source_range(v_range)]
        check_range("period", self.period, *lim["period"], "s")
        check_range("width", self.width, lim["width"], self.period - 10e-9, "s")
        check_range("rise", self.rise, *lim["edge"], "s")
        check_range("fall", self.fall, *lim["edge"], "s")
        half_edges = 0.5 * (self.rise + self.fall)
        if not self.width > half_edges:
            raise ParameterError("width", self.width, f"> (rise+fall)/2 = {half_edges:g} s")
        if self.rise > self.width:
            raise ParameterError("rise", self.rise, f"<= width = {self.width:g} s")
        if self.delay != 0.0:
            check_range("delay", self.delay, lim["delay"],
                        self.period - self.width - half_edges, "s")
        off = self.period - self.delay - self.duration
        if not off > MIN_OFF_TIME:
            raise ParameterError("period", self.period,
                                 f"> delay + width + (rise+fall)/2 + 40 ns = "
                                 f"{self.delay + self.duration + MIN_OFF_TIME:g} s")
        return self


def waveform_window(timing: PulseTiming, pre: float, post: float) -> tuple[float, float]:
    """Capture window of one pulse in a waveform test, relative to the period start.

    From ``pre`` × pulse duration before the rise to ``post`` × duration after the fall,
    clipped to the period (``:PMU:TIMES:WAVEFORM`` fractions [M 7-34]).
    """
    d = timing.duration
    return max(0.0, timing.delay - pre * d), min(timing.period, timing.delay + d + post * d)


def waveform_samples(timing: PulseTiming, pre: float, post: float, rate: float) -> int:
    """Samples one pulse's waveform capture produces at ``rate``."""
    t0, t1 = waveform_window(timing, pre, post)
    return int(np.floor((t1 - t0) * rate + 1e-6))


@dataclass(frozen=True)
class PulseTrainConfig:
    """One channel's standard-mode pulse train with waveform capture.

    Parameters
    ----------
    base, amplitude : base and pulse-top voltage (``:PMU:PULSE:TRAIN ch, vbase, vampl``).
    timing : :class:`PulseTiming`.
    count : pulses in the burst, 1..10 000 (``:PMU:PULSE:BURST:COUNT``).
    v_range : source range 10 or 40 V (``:PMU:SOURCE:RANGE``).
    i_range : fixed current measure range in A (``:PMU:MEASURE:RANGE ch, 2, amps``).
    load : declared DUT load in ohm, 1..1e7 (``:PMU:LOAD``); the PMU scales its source so
        that the programmed levels appear across this load.
    sample_rate : requested rate, 1 kS/s..200 MS/s (rounded up to 200 MS/s / n).
    pre, post : waveform capture fractions (``:PMU:TIMES:WAVEFORM``).
    average : capture the burst average (measure mode 4) instead of every pulse (mode 2).
    series_resistance : a physical resistor in series with the DUT, declared by the user;
        the driver cannot check it, it only records the current bound it implies.
    """

    base: float = 0.0
    amplitude: float = 1.0
    timing: PulseTiming = field(default_factory=PulseTiming)
    count: int = 1
    v_range: int = 10
    i_range: float = 10e-3
    load: float = 1e6
    sample_rate: float = SAMPLE_CLOCK
    pre: float = 0.2
    post: float = 0.2
    average: bool = False
    series_resistance: float | None = None

    def validate(self, rpm: bool = False, waveform: bool = True) -> PulseTrainConfig:
        """Raise ParameterError for any rule; ``waveform`` adds the 65 536-sample check of
        a waveform capture (spot means store one record per pulse)."""
        check_source_range(self.v_range)
        self.timing.validate(self.v_range)
        check_int("count", self.count, 1, MAX_BURST)
        check_range("load", self.load, *LOAD_RANGE, "ohm")
        check_measure_range(self.i_range, self.v_range, rpm)
        check_levels("base", self.base, self.v_range, self.load)
        check_levels("amplitude", self.amplitude, self.v_range, self.load)
        if abs(self.amplitude - self.base) > self.v_range:
            raise ParameterError("amplitude", self.amplitude,
                                 f"within {self.v_range} V of base={self.base:g} V")
        check_range("pre", self.pre, 0.0, 1.0)
        check_range("post", self.post, 0.0, 1.0)
        if self.series_resistance is not None:
            check_range("series_resistance", self.series_resistance, 0.0, 1e9, "ohm")
        rate = effective_sample_rate(self.sample_rate)
        if not waveform:
            return self
        per_pulse = waveform_samples(self.timing, self.pre, self.post, rate)
        total = per_pulse if self.average else per_pulse * self.count
        if total > MAX_POINTS:
            max_rate = MAX_POINTS / (total / rate)
            raise ParameterError("sample_rate", self.sample_rate,
                                 f"<= {max_rate:.6g} S/s for this train ({total} samples > "
                                 f"{MAX_POINTS} per channel)")
        return self

    def current_bound(self) -> float | None:
        """Largest |I| the declared series element permits, or None if none declared."""
        return current_bound(max(abs(self.base), abs(self.amplitude)), self.load,
                             self.series_resistance)


def current_bound(level: float, load: float, series_resistance: float | None) -> float | None:
    """|V_source| / (50 Ω + R_series): the circuit's bound on a PMU pulse's current."""
    if series_resistance is None:
        return None
    return abs(source_level_at_load(level, load)) / (PMU_R_SOURCE + series_resistance)


def check_measure_range(amps: float, v_range: int, rpm: bool) -> float:
    """A current measure range valid for the source range and RPM presence [M 7-15]."""
    table = (RPM_I_RANGES if rpm else PMU_I_RANGES)[check_source_range(v_range)]
    for r in table:
        if np.isclose(amps, r, rtol=1e-9):
            return r
    raise ParameterError("i_range", amps, f"one of {', '.join(f'{r:g}' for r in table)} A "
                         f"({v_range} V range, {'with' if rpm else 'no'} RPM)")


@dataclass(frozen=True)
class SarbSequence:
    """One Segment Arb sequence: per-segment start/stop voltage, duration and measurement.

    ``meas_type`` per segment: 0 none, 1 spot-mean discrete, 2 waveform discrete,
    3 spot-mean average, 4 waveform average [M 7-44]; ``meas_start``/``meas_stop`` are
    times within the segment [M 7-40, 7-42]. ``ssr`` False opens the high-endurance output
    relay for that segment [M 7-46].
    """

    start_v: tuple[float, ...]
    stop_v: tuple[float, ...]
    time: tuple[float, ...]
    meas_type: tuple[int, ...] | None = None
    meas_start: tuple[float, ...] | None = None
    meas_stop: tuple[float, ...] | None = None
    trig: tuple[int, ...] | None = None
    ssr: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def trapezoid(cls, level: float, width: float, rise: float = 20e-9, fall: float = 20e-9,
                  base: float = 0.0, measure: str | None = None,
                  window: tuple[float, float] = (0.25, 0.75)) -> SarbSequence:
        """One pulse as a 3-segment sequence: rise from ``base``, ``width`` at ``level``,
        fall back (``width`` here is the top's duration).

        ``measure`` None, ``"spot"`` (spot mean, type 1) or ``"waveform"`` (type 2) on the
        top, over ``window`` (fractions of the top) — e.g. a write pulse without measurement
        followed by a read pulse with a spot mean, listed as ``[(1, 1), (2, 1)]``.
        """
        kinds = {None: 0, "spot": 1, "waveform": 2}
        if measure not in kinds:
            raise ParameterError("measure", measure, "None, 'spot' or 'waveform'")
        check_range("window start", window[0], 0.0, 1.0)
        check_range("window stop", window[1], window[0], 1.0)
        m = kinds[measure]
        a, b = (round(f * width / SARB_RESOLUTION) * SARB_RESOLUTION for f in window)
        return cls(start_v=(base, level, level), stop_v=(level, level, base),
                   time=(rise, width, fall), meas_type=(0, m, 0),
                   meas_start=(0.0, a if m else 0.0, 0.0), meas_stop=(0.0, b if m else 0.0, 0.0))

    def validate(self, v_range: int = 10, rpm_range: bool = False) -> SarbSequence:
        """Raise ParameterError for any rule of [M 7-39…7-58]."""
        n = len(self.time)
        if n < 3:
            raise ParameterError("segments", n, ">= 3 per sequence (KXCI -958)")
        for name in ("start_v", "stop_v", "meas_type", "meas_start", "meas_stop", "trig", "ssr"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ParameterError(f"len({name})", len(value), f"{n} (one per segment)")
        for name in ("start_v", "stop_v"):
            for v in getattr(self, name):
                check_range(name, v, -v_range, v_range, "V")
        self._check_times(v_range)
        self._check_seamless()
        self._check_measure()
        for name in ("trig", "ssr"):
            for k, x in enumerate(getattr(self, name) or ()):
                check_int(f"{name}[{k}]", x, 0, 1)
        if rpm_range and self.ssr is not None and 0 in self.ssr:
            raise ParameterError("ssr", self.ssr, "all 1 with an RPM current range (-955)")
        return self

    def _check_seamless(self) -> None:
        """Each segment starts where the last one stopped."""
        stops, starts = np.asarray(self.stop_v[:-1]), np.asarray(self.start_v[1:])
        gap = np.flatnonzero(~np.isclose(stops, starts, atol=1e-9))
        if gap.size:
            k = int(gap[0]) + 1
            raise ParameterError(f"start_v[{k}]", self.start_v[k],
                                 f"== stop_v[{k - 1}] = {self.stop_v[k - 1]:g} V (seamless)")

    def _check_times(self, v_range: int) -> None:
        """Segment times within the range's limits, in 10 ns steps."""
        lo = SARB_MIN_SEGMENT[check_source_range(v_range)]
        for t in self.time:
            check_range("time", t, lo, SARB_MAX_SEGMENT, "s")
            if abs(t / SARB_RESOLUTION - round(t / SARB_RESOLUTION)) > 1e-6:
                raise ParameterError("time", t, "a multiple of 10 ns")

    def _check_measure(self) -> None:
        """Measure types 0..4 and windows inside their segments."""
        n = len(self.time)
        for k, m in enumerate(self.meas_type or (0,) * n):
            check_int(f"meas_type[{k}]", m, 0, 4)
        starts_m = self.meas_start or (0.0,) * n
        stops_m = self.meas_stop or tuple(self.time)
        for k in range(n):
            check_range(f"meas_stop[{k}]", stops_m[k], 0.0, self.time[k], "s")
            check_range(f"meas_start[{k}]", starts_m[k], 0.0, stops_m[k], "s")

    def measured_points(self, rate: float) -> int:
        """Points one pass of this sequence stores: waveform samples + spot means."""
        types = self.meas_type or (0,) * len(self)
        starts = self.meas_start or (0.0,) * len(self)
        stops = self.meas_stop or tuple(self.time)
        total = 0
        for m, a, b in zip(types, starts, stops, strict=True):
            if m in (1, 3):
                total += 1
            elif m in (2, 4):
                total += int(np.floor((b - a) * rate + 1e-6))
        return total
