"""4225-PMU channels over KXCI's ``:PMU:`` command set (Clarius+ >= 1.13) [M §7].

Channel numbers are global pulse channels: PMU1 = 1, 2; PMU2 = 3, 4 [M 7-2]. Each method
sends exactly the manual's syntax and validates first (see :mod:`drivers.pmu_config`).
Numbers are printed by :func:`drivers.validation.fmt_number` (<= 12 characters [M 5-6]).

**No current compliance**: the ``:PMU:`` set has no current-limit command; see
:mod:`drivers.pmu_config` for what to use instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pymeasure.instruments import Channel

from drivers.pmu_config import (
    LOAD_RANGE,
    SARB_MAX_LOOPS,
    SARB_MAX_SEQUENCES,
    SARB_MAX_VALUES_PER_COMMAND,
    PulseTiming,
    SarbSequence,
    check_levels,
    check_measure_range,
    check_source_range,
)
from drivers.pmu_data import (
    MAX_POINTS,
    PAGE_POINTS,
    PMUSpotMean,
    PMUWaveform,
    parse_points,
)
from drivers.validation import (
    ParameterError,
    check_int,
    check_range,
    fmt_number,
    fmt_numbers,
)

#: value names of ``:PMU:DATA:GET``'s requestedValues [M 7-8]
REQUESTED_VALUES = ("V", "I", "T", "S", "VH", "IH", "TH", "SH", "VL", "IL", "TL", "SL")
#: ``:PMU:RPM:CONFIGURE`` modes [M 7-22]
RPM_MODES = {"pmu": 0, "cv2": 1, "smu": 2, "cv4": 3}
#: ``:PMU:MEASURE:RANGE`` types [M 7-15]
RANGE_TYPES = {"auto": 0, "limited_auto": 1, "fixed": 2}


def _nums(values) -> str:
    return ", ".join(fmt_numbers(list(values)))


class PMUChannel(Channel):
    """One PMU pulse channel; remembers its source range and load for validation."""

    def __init__(self, parent, id, card: int = 1, rpm: bool = False) -> None:
        super().__init__(parent, id)
        self.card = card
        self.rpm = rpm
        self.v_range = 10
        self.load_ohms = 1e6
        self.i_range = 10e-3
        self.rpm_mode = "pmu"

    @property
    def hrid(self) -> str:
        """RPM hardware id ``PMUn-c`` (card n, local channel c) [M 7-22]."""
        return f"PMU{self.card}-{(self.id - 1) % 2 + 1}"

    def _cmd(self, text: str) -> None:
        self.parent.command(text)

    # ------------------------------------------------------------------ set-up
    def rpm_configure(self, mode: str = "pmu") -> None:
        """``:PMU:RPM:CONFIGURE PMUn-c, mode``: route the RPM (0 PMU, 1 CV 2-wire, 2 SMU,
        3 CV 4-wire) [M 7-22]."""
        if mode not in RPM_MODES:
            raise ParameterError("mode", mode, f"one of {sorted(RPM_MODES)}")
        if not self.rpm:
            raise ParameterError("channel", self.id, "a PMU channel with a 4225-RPM (*OPT?)")
        self._cmd(f":PMU:RPM:CONFIGURE {self.hrid}, {RPM_MODES[mode]}")
        self.rpm_mode = mode

    def source_range(self, volts: int) -> None:
        """``:PMU:SOURCE:RANGE ch, 10|40`` [M 7-24]."""
        check_source_range(volts)
        self._cmd(f":PMU:SOURCE:RANGE {self.id}, {int(volts)}")
        self.v_range = int(volts)

    def measure_range(self, amps: float | None = None, kind: str = "fixed") -> None:
        """``:PMU:MEASURE:RANGE ch, type[, amps]`` (0 auto, 1 limited auto, 2 fixed) [M 7-15]."""
        if kind not in RANGE_TYPES:
            raise ParameterError("kind", kind, f"one of {sorted(RANGE_TYPES)}")
        if kind == "fixed" or amps is not None:
            if amps is None:
                raise ParameterError("amps", amps, "a current range for kind='fixed'")
            r = check_measure_range(amps, self.v_range, self.rpm)
            self._cmd(f":PMU:MEASURE:RANGE {self.id}, {RANGE_TYPES[kind]}, {fmt_number(r)}")
            self.i_range = r
        else:
            self._cmd(f":PMU:MEASURE:RANGE {self.id}, {RANGE_TYPES[kind]}")

    def measure_piv(self, high: bool = True, low: bool = False) -> None:
        """``:PMU:MEASURE:PIV ch, acqHigh, acqLow`` (spot mean; not both off) [M 7-14]."""
        if not (high or low):
            raise ParameterError("high/low", (high, low), "at least one level acquired")
        self._cmd(f":PMU:MEASURE:PIV {self.id}, {int(high)}, {int(low)}")

    def times_piv(self, start: float = 0.75, stop: float = 0.9) -> None:
        """``:PMU:TIMES:PIV ch, start, stop``: spot-mean window as width fractions [M 7-32]."""
        check_range("start", start, 0.0, 1.0)
        check_range("stop", stop, start, 1.0)
        self._cmd(f":PMU:TIMES:PIV {self.id}, {fmt_number(start)}, {fmt_number(stop)}")

    def times_waveform(self, pre: float = 0.2, post: float = 0.2) -> None:
        """``:PMU:TIMES:WAVEFORM ch, pre, post`` [M 7-34]."""
        check_range("pre", pre, 0.0, 1.0)
        check_range("post", post, 0.0, 1.0)
        self._cmd(f":PMU:TIMES:WAVEFORM {self.id}, {fmt_number(pre)}, {fmt_number(post)}")

    def pulse_train(self, base: float, amplitude: float) -> None:
        """``:PMU:PULSE:TRAIN ch, vbase, vampl`` (span <= source range) [M 7-21]."""
        check_levels("base", base, self.v_range, self.load_ohms)
        check_levels("amplitude", amplitude, self.v_range, self.load_ohms)
        if abs(amplitude - base) > self.v_range:
            raise ParameterError("amplitude", amplitude,
                                 f"within {self.v_range} V of base={base:g} V")
        self._cmd(f":PMU:PULSE:TRAIN {self.id}, {fmt_number(base)}, {fmt_number(amplitude)}")

    def pulse_times(self, timing: PulseTiming) -> None:
        """``:PMU:PULSE:TIMES ch, period, width, rise, fall[, delay]`` [M 7-18]."""
        timing.validate(self.v_range)
        args = [timing.period, timing.width, timing.rise, timing.fall]
        if timing.delay:
            args.append(timing.delay)
        self._cmd(f":PMU:PULSE:TIMES {self.id}, {_nums(args)}")

    def load(self, ohms: float) -> None:
        """``:PMU:LOAD ch, ohms`` (1..1e7, default 1e6) [M 7-11]."""
        check_range("load", ohms, *LOAD_RANGE, "ohm")
        self._cmd(f":PMU:LOAD {self.id}, {fmt_number(ohms)}")
        self.load_ohms = float(ohms)

    def llec(self, on: bool) -> None:
        """``:PMU:LLEC:CONFIGURE ch, 0|1``: load-line effect compensation, pre-pulses that
        measure the DUT load before the test (slower) [M 7-10]; standard pulse mode only."""
        self._cmd(f":PMU:LLEC:CONFIGURE {self.id}, {int(bool(on))}")

    def output(self, on: bool) -> None:
        """``:PMU:OUTPUT:STATE ch, 0|1``: on at EXECUTE, off immediately [M 7-16]."""
        self._cmd(f":PMU:OUTPUT:STATE {self.id}, {int(bool(on))}")

    # ------------------------------------------------------------------ Segment Arb
    def _sarb_values(self, field: str, number: int, values: Sequence, fmt=fmt_number) -> None:
        chunks = [values[k:k + SARB_MAX_VALUES_PER_COMMAND]
                  for k in range(0, len(values), SARB_MAX_VALUES_PER_COMMAND)]
        for k, chunk in enumerate(chunks):
            suffix = ":ADD" if k else ""
            self._cmd(f":PMU:SARB:SEQ:{field}{suffix} {self.id}, {number}, "
                      + ", ".join(fmt(v) for v in chunk))

    def sarb_sequence(self, number: int, seq: SarbSequence) -> None:
        """Define sequence ``number`` (1..512) [M 7-40…7-55]: ``:PMU:SARB:SEQ:STARTV``,
        ``STOPV``, ``TIME`` and, when given, ``MEAS:TYPE``, ``MEAS:START``, ``MEAS:STOP``,
        ``TRIG``, ``SSR``; more than 128 values continue with the ``:ADD`` variants."""
        check_int("sequence", number, 1, SARB_MAX_SEQUENCES)
        seq.validate(self.v_range, rpm_range=self.rpm and self.i_range < 10e-3)
        self._sarb_values("STARTV", number, seq.start_v)
        self._sarb_values("STOPV", number, seq.stop_v)
        self._sarb_values("TIME", number, seq.time)
        if seq.meas_type is not None:
            self._sarb_values("MEAS:TYPE", number, seq.meas_type, fmt=lambda m: str(int(m)))
        if seq.meas_start is not None:
            self._sarb_values("MEAS:START", number, seq.meas_start)
        if seq.meas_stop is not None:
            self._sarb_values("MEAS:STOP", number, seq.meas_stop)
        if seq.trig is not None:
            self._sarb_values("TRIG", number, seq.trig, fmt=lambda m: str(int(m)))
        if seq.ssr is not None:
            self._sarb_values("SSR", number, seq.ssr, fmt=lambda m: str(int(m)))

    def sarb_sequence_list(self, items: Sequence[tuple[int, int]]) -> None:
        """``:PMU:SARB:WFM:SEQ:LIST ch, seq1, loops1, seq2, loops2, ...`` [M 7-56]."""
        if not items:
            raise ParameterError("items", items, "at least one (sequence, loops) pair")
        flat: list[str] = []
        for seq, loops in items:
            check_int("sequence", seq, 1, SARB_MAX_SEQUENCES)
            check_range("loops", loops, 1, SARB_MAX_LOOPS)
            if int(loops) != loops:
                raise ParameterError("loops", loops, "an integer in [1, 1e12]")
            flat += [str(int(seq)), str(int(loops))]
        pairs = [flat[k:k + 2 * (SARB_MAX_VALUES_PER_COMMAND // 2)]
                 for k in range(0, len(flat), SARB_MAX_VALUES_PER_COMMAND)]
        for k, chunk in enumerate(pairs):
            suffix = ":ADD" if k else ""
            self._cmd(f":PMU:SARB:WFM:SEQ:LIST{suffix} {self.id}, " + ", ".join(chunk))

    # ------------------------------------------------------------------ data
    def data_count(self) -> int:
        """``:PMU:DATA:COUNT? ch`` -> points in the buffer (usable while running) [M 7-6]."""
        return self.parent.query_parsed(f":PMU:DATA:COUNT? {self.id}", lambda r: int(float(r)))

    def data_page(self, start: int, count: int = PAGE_POINTS,
                  values: Sequence[str] = ()) -> str:
        """One raw ``:PMU:DATA:GET ch, start, count[, value, ...]`` reply (count 1..2048)
        [M 7-7]; ``values`` asks for some values only, in that order: ``V I T S``
        (waveform) or ``VH IH TH SH VL IL TL SL`` (spot mean) [M 7-8]."""
        check_int("start", start, 0, MAX_POINTS - 1)
        check_int("count", count, 1, PAGE_POINTS)
        names = [str(v).upper() for v in values]
        bad = [v for v in names if v not in REQUESTED_VALUES]
        if bad:
            raise ParameterError("values", values, f"names from {', '.join(REQUESTED_VALUES)}")
        extra = "".join(f", {v}" for v in names)
        return self.parent.query(f":PMU:DATA:GET {self.id}, {start}, {count}{extra}")

    def _fetch(self, fields: int) -> tuple[np.ndarray, ...]:
        total = self.data_count()
        if total > MAX_POINTS:
            raise ValueError(f"PMU reported {total} points > {MAX_POINTS}")
        pages = []
        for start in range(0, total, PAGE_POINTS):
            check_int("start", start, 0, MAX_POINTS - 1)
            cmd = f":PMU:DATA:GET {self.id}, {start}, {min(PAGE_POINTS, total - start)}"
            pages.append(self.parent.query_parsed(cmd, lambda r: parse_points(r, fields)))
        if not pages:
            return parse_points("", fields)
        return tuple(np.concatenate(cols) for cols in zip(*pages, strict=True))

    def fetch_waveform(self, current_bound: float | None = None) -> PMUWaveform:
        """All ``V,I,T,S`` points of this channel, paged by 2048 [M 7-7]."""
        v, i, t, s = self._fetch(4)
        return PMUWaveform(v, i, t, s, current_bound=current_bound)

    def fetch_spot_mean(self) -> PMUSpotMean:
        """All ``VH,IH,TH,SH,VL,IL,TL,SL`` records of this channel [M 7-7]."""
        return PMUSpotMean(*self._fetch(8))
