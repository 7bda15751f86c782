"""4225-PMU / 4225-RPM side of the simulated 4200A: the ``:PMU:`` command set [M §7].

State per pulse channel (ranges, load, pulse levels and times, Segment Arb sequences and
sequence list, output, RPM routing, data buffer) and per mainframe (pulse mode, measure
mode, burst count, sample rate, running test). ``:PMU:EXECUTE`` validates like the
instrument (KXCI errors -969 … -947 [M 2-12, 2-13]), then simulates the whole test with
**one** ``device.drive`` call whose steps are the A/D samples (see
:mod:`sim_backend.pmu_schedule`; load-line compensation adds its pre-pulses [M 7-10]).
Sweeps and steps are in :mod:`sim_backend.pmu_sweep`, the run in
:mod:`sim_backend.pmu_run`, the channel state in :mod:`sim_backend.pmu_state`:

* the device sits between PMU channel 1 and ground (through the RPM when there is one and
  it is routed to the PMU); the PMU is a 50 Ω source [M 7-11] with **no current limit**
  (``i_limit = inf``; the ``:PMU:`` set has no limit command [M 7-3, 7-4]); other
  channels see an open circuit;
* the LOAD setting scales the internal source so that the programmed level appears across
  the declared load: ``V_int = V·(R_load + 50)/R_load`` [M 7-11] (4 V into 50 Ω with the
  default 1 MΩ load gives 2 V);
* a current beyond 1.05 × the measure range saturates and sets the overflow bits of the
  status word;
* ``series_ohms`` (engine option) models a physical resistor in series with the device on
  the PMU path; the measured V is at the PMU terminal (device + series element).

The test "runs" for its duration scaled by the engine's ``speed`` (instantly when None),
and ``:PMU:TEST:STATUS?`` reports ``1`` for the first ``busy_polls`` polls after EXECUTE
so that host polling loops are exercised.
"""

from __future__ import annotations

import re
import time

import numpy as np

from sim_backend.kxci_common import (
    KXCIError,
    parse_float,
    parse_int,
    split_args,
)
from sim_backend.kxci_state import InstrumentState
from sim_backend.pmu_run import PMURunner
from sim_backend.pmu_state import (
    MAX_POINTS,
    PAGE_POINTS,
    PMU_I_RANGES,
    RPM_I_RANGES,
    SAMPLE_CLOCK,
    TIMING,
    PMUMainState,
    PulseChannel,
    format_rows,
    pulse_channel,
    pulse_channels,
    require_pmu_mode,
)
from sim_backend.pmu_sweep import PMUSweeps

__all__ = ["PMUCard", "PMUMainState", "PulseChannel", "pulse_channels"]

#: ``:PMU:DATA:GET`` requested-value names -> column [M 7-8]
WAVE_FIELDS = {"V": 0, "I": 1, "T": 2, "S": 3, "VH": 0, "IH": 1, "TH": 2, "SH": 3}
SPOT_FIELDS = {"VH": 0, "IH": 1, "TH": 2, "SH": 3, "VL": 4, "IL": 5, "TL": 6, "SL": 7}


class PMUCard:
    """Handlers of the ``:PMU:`` commands of the mainframe's 4225-PMUs.

    Parameters
    ----------
    st : the instrument's shared state.
    run : plans and simulates ``:PMU:EXECUTE``.
    sweeps : the ``:PMU:SWEEP``/``:PMU:STEP`` set-up and the per-point levels.
    """

    def __init__(self, st: InstrumentState, run: PMURunner, sweeps: PMUSweeps) -> None:
        self.st = st
        self.run = run
        self.sweeps = sweeps

    def handlers(self) -> dict:
        h = {
            ":PMU:INIT": self._pmu_init,
            ":PMU:RPM:CONFIGURE": self.rpm_configure,
            ":PMU:SOURCE:RANGE": self._pmu_source_range,
            ":PMU:MEASURE:RANGE": self._pmu_measure_range,
            ":PMU:MEASURE:MODE": self._pmu_measure_mode,
            ":PMU:MEASURE:PIV": self._pmu_measure_piv,
            ":PMU:TIMES:PIV": self._pmu_times_piv,
            ":PMU:PIV:TIMES": self._pmu_times_piv,  # usage-line spelling [M 7-32]
            ":PMU:TIMES:WAVEFORM": self._pmu_times_waveform,
            ":PMU:PULSE:TRAIN": self._pmu_train,
            ":PMU:PULSE:TIMES": self._pmu_times,
            ":PMU:PULSE:BURST:COUNT": self._pmu_burst,
            ":PMU:LOAD": self._pmu_load,
            ":PMU:LLEC:CONFIGURE": self._pmu_llec,
            ":PMU:SAMPLE:RATE": self._pmu_rate,
            ":PMU:OUTPUT:STATE": self._pmu_output,
            ":PMU:RETAIN:CONFIG": self._pmu_retain,
            ":PMU:EXECUTE:STATE": self._pmu_retain,  # usage-line spelling [M 7-21]
            ":PMU:EXECUTE": self._pmu_execute,
            ":PMU:TEST:STATUS?": self._pmu_status,
            ":PMU:ABORT": self._pmu_abort,
            ":PMU:DATA:COUNT?": self._pmu_count,
            ":PMU:DATA:GET": self._pmu_get,
        }
        h[":PMU:CONNECTION:COMP"] = self._pmu_connection_comp
        h[":PMU:MEASURE:CONNECTION:COMP"] = self._pmu_measure_connection_comp
        return h

    # ------------------------------------------------------------------ helpers
    def _pch(self, text: str) -> PulseChannel:
        return pulse_channel(self.st, text)

    def _pmu_args(self, rest: str, count: int | tuple[int, int]) -> list[str]:
        args = split_args(rest)
        lo, hi = (count, count) if isinstance(count, int) else count
        if not lo <= len(args) <= hi:
            raise KXCIError(-969, f"{len(args)} arguments, expected {lo}..{hi}")
        return args

    def _pmu_mode(self, *modes: int) -> None:
        require_pmu_mode(self.st, *modes)

    def _pmu_idle(self) -> None:
        if self.st.pmu_running():
            raise KXCIError(-980)

    # ------------------------------------------------------------------ set-up commands
    def _pmu_init(self, rest: str) -> None:
        """``:PMU:INIT 0|1``: reset all channels, clear data and sequences [M 7-9]."""
        mode = parse_int(rest, 0, 1, code=-969)
        self._pmu_idle()
        if not self.st.pulse:
            raise KXCIError(-988, "no PMU")
        for ch in self.st.pulse.values():
            ch.reset()
        self.st.pmu = PMUMainState(mode=mode)

    def rpm_configure(self, rest: str) -> None:
        """``:PMU:RPM:CONFIGURE HRID, mode`` (0 PMU, 1 CV 2-wire, 2 SMU, 3 CV 4-wire)
        [M 7-22]. ``PMUn-c`` names the RPM of pulse channel 2n-2+c; ``SMUn`` the RPM wired
        to SMU n, which in the simulator is the RPM of pulse channel n (SMU1 and PMU
        channel 1 share the device); ``CVHn``/``CVLn`` name CVU n, whose RPMs the simulator
        does not wire. A channel without an RPM is left as it is, without an error, as the
        manual says of ``RP`` [M 7-68]; an HRID naming no instrument is -969."""
        args = self._pmu_args(rest, 2)
        mode = parse_int(args[1], 0, 3, code=-969)
        hrid = args[0].upper()
        m = re.fullmatch(r"PMU([1-9])-([12])", hrid)
        if m:
            ch = self.st.pulse.get(2 * int(m.group(1)) - 2 + int(m.group(2)))
            if ch is None:
                raise KXCIError(-969, f"no {args[0]}")
        elif re.fullmatch(r"SMU[1-9]", hrid):
            if int(hrid[3]) not in self.st.smus:
                raise KXCIError(-969, f"no {args[0]}")
            ch = self.st.pulse.get(int(hrid[3]))
        elif re.fullmatch(r"CV[HL][1-9]", hrid):
            if f"CVU{hrid[3]}" not in self.st.options:
                raise KXCIError(-969, f"no CVU{hrid[3]}")
            ch = None
        else:
            raise KXCIError(-969, f"RPM id {args[0]!r}")
        if ch is not None and ch.rpm:
            ch.rpm_mode = mode

    def _pmu_source_range(self, rest: str) -> None:
        """``:PMU:SOURCE:RANGE ch, 10|40`` [M 7-24]."""
        self._pmu_mode(0, 1)
        args = self._pmu_args(rest, 2)
        ch = self._pch(args[0])
        rng = parse_float(args[1], -969)
        if rng not in (10, 40):
            raise KXCIError(-969, f"source range {rng}")
        ch.v_range = int(rng)

    def _pmu_measure_range(self, rest: str) -> None:
        """``:PMU:MEASURE:RANGE ch, type[, amps]`` (0 auto, 1 limited auto, 2 fixed) [M 7-15]."""
        self._pmu_mode(0, 1)
        args = self._pmu_args(rest, (2, 3))
        ch = self._pch(args[0])
        kind = parse_int(args[1], 0, 2, code=-969)
        if self.st.pmu.mode == 1 and kind != 2:
            raise KXCIError(-965, "Segment Arb needs fixed ranges")
        if len(args) == 3:
            amps = parse_float(args[2], -969)
            table = (RPM_I_RANGES if ch.rpm else PMU_I_RANGES)[ch.v_range]
            match = [r for r in table if np.isclose(amps, r, rtol=1e-6)]
            if not match:
                raise KXCIError(-969, f"current range {amps} A")
            ch.i_range = match[0]
        elif kind == 2:
            raise KXCIError(-969, "fixed range needs a value")
        ch.range_type = kind

    def _pmu_measure_mode(self, rest: str) -> None:
        """``:PMU:MEASURE:MODE 0..4`` [M 7-13]."""
        self._pmu_mode(0)
        self.st.pmu.measure_mode = parse_int(rest, 0, 4, code=-969)

    def _pmu_measure_piv(self, rest: str) -> None:
        """``:PMU:MEASURE:PIV ch, acqHigh, acqLow`` [M 7-14]: both 0 is an error (-947
        [M 2-13]) "and the PMU acquires all measurements"."""
        self._pmu_mode(0)
        args = self._pmu_args(rest, 3)
        ch = self._pch(args[0])
        hi, lo = parse_int(args[1], 0, 1, -969), parse_int(args[2], 0, 1, -969)
        if not (hi or lo):
            ch.acquire = (1, 1)
            raise KXCIError(-947)
        ch.acquire = (hi, lo)

    def _fractions(self, rest: str) -> tuple[PulseChannel, float, float]:
        args = self._pmu_args(rest, 3)
        ch = self._pch(args[0])
        a, b = parse_float(args[1], -969), parse_float(args[2], -969)
        if not (0 <= a <= 1 and 0 <= b <= 1):
            raise KXCIError(-969, f"fractions {a}, {b}")
        return ch, a, b

    def _pmu_times_piv(self, rest: str) -> None:
        """``:PMU:TIMES:PIV ch, start, stop``: spot-mean window as fractions of the pulse
        width, counted from the rise's 50 % point [M 7-32, 7-33]."""
        self._pmu_mode(0)
        ch, a, b = self._fractions(rest)
        if a > b:
            raise KXCIError(-969, "start after stop")
        ch.piv = (a, b)

    def _pmu_times_waveform(self, rest: str) -> None:
        """``:PMU:TIMES:WAVEFORM ch, pre, post`` [M 7-34]."""
        self._pmu_mode(0)
        ch, a, b = self._fractions(rest)
        ch.wf_fractions = (a, b)

    def _pmu_train(self, rest: str) -> None:
        """``:PMU:PULSE:TRAIN ch, vbase, vampl`` (span <= source range) [M 7-21]."""
        self._pmu_mode(0)
        args = self._pmu_args(rest, 3)
        ch = self._pch(args[0])
        base, ampl = parse_float(args[1], -969), parse_float(args[2], -969)
        if max(abs(base), abs(ampl)) > ch.v_range or abs(ampl - base) > ch.v_range:
            raise KXCIError(-969, f"levels {base}, {ampl} on the {ch.v_range} V range")
        ch.base, ch.amplitude = base, ampl

    def _pmu_times(self, rest: str) -> None:
        """``:PMU:PULSE:TIMES ch, period, width, rise, fall[, delay]`` [M 7-18, 7-19]; the
        period is shared by all channels (the last one sent wins)."""
        self._pmu_mode(0)
        args = self._pmu_args(rest, (5, 6))
        ch = self._pch(args[0])
        vals = [parse_float(a, -969) for a in args[1:]]
        period, width, rise, fall = vals[:4]
        delay = vals[4] if len(vals) == 5 else 0.0
        lim = TIMING[ch.v_range]
        half = 0.5 * (rise + fall)
        ok = (lim["period"] <= period <= 1.0 and lim["width"] <= width <= period - 10e-9
              and lim["edge"] <= rise <= 33e-3 and lim["edge"] <= fall <= 33e-3
              and width > half and rise <= width
              and (delay == 0 or lim["delay"] <= delay < period - width - half)
              and period - delay - width - half > 40e-9)
        if not ok:
            raise KXCIError(-967, f"times {rest!r}")
        for c in self.st.pulse.values():
            c.period = period
        ch.width, ch.rise, ch.fall, ch.delay = width, rise, fall, delay

    def _pmu_burst(self, rest: str) -> None:
        """``:PMU:PULSE:BURST:COUNT n`` (1..10 000) [M 7-17]."""
        self._pmu_mode(0)
        self.st.pmu.burst = parse_int(rest, 1, 10000, code=-969)

    def _pmu_load(self, rest: str) -> None:
        """``:PMU:LOAD ch, ohms`` (1..1e7) [M 7-11]."""
        self._pmu_mode(0, 1)
        args = self._pmu_args(rest, 2)
        ch = self._pch(args[0])
        ohms = parse_float(args[1], -969)
        if not 1 <= ohms <= 1e7:
            raise KXCIError(-969, f"load {ohms}")
        ch.load = ohms

    def _pmu_llec(self, rest: str) -> None:
        """``:PMU:LLEC:CONFIGURE ch, 0|1`` [M 7-10]: with 1, pre-pulses measure the DUT load
        before the test and the source is set for it (see
        :meth:`sim_backend.pmu_run.PMURunner._llec`). The manual describes it for pulses
        only; in Segment Arb mode it is refused (-965)."""
        self._pmu_mode(0)
        args = self._pmu_args(rest, 2)
        self._pch(args[0]).llec = parse_int(args[1], 0, 1, -969) == 1

    def _pmu_rate(self, rest: str) -> None:
        """``:PMU:SAMPLE:RATE rate`` (1e3..200e6; 200e6/n, next higher) [M 7-23]; adjusted
        per test by the rule of [M 7-24] (:meth:`sim_backend.pmu_run.PMURunner._choose_rate`)."""
        self._pmu_mode(0, 1)
        rate = parse_float(rest, -969)
        if not 1e3 <= rate <= SAMPLE_CLOCK:
            raise KXCIError(-969, f"sample rate {rate}")
        self.st.pmu.sample_rate = SAMPLE_CLOCK / max(1, int(np.floor(SAMPLE_CLOCK / rate + 1e-9)))

    def _pmu_output(self, rest: str) -> None:
        """``:PMU:OUTPUT:STATE ch, 0|1``: on takes effect at EXECUTE, off at once [M 7-16]."""
        args = self._pmu_args(rest, 2)
        ch = self._pch(args[0])
        on = parse_int(args[1], 0, 1, -969) == 1
        ch.output_requested = on
        if not on:
            ch.output_active = False

    def _pmu_retain(self, rest: str) -> None:
        """``:PMU:RETAIN:CONFIG ch, 0|1`` [M 7-21]."""
        args = self._pmu_args(rest, 2)
        self._pch(args[0]).retain = parse_int(args[1], 0, 1, -969) == 1

    # ------------------------------------------------------------------ run
    def _pmu_execute(self, rest: str) -> None:
        """``:PMU:EXECUTE``: final validation, clear buffers, run; returns at once [M 7-9]."""
        if rest:
            raise KXCIError(-969, rest)
        self._pmu_mode(0, 1)
        self._pmu_idle()
        active = [c for c in self.st.pulse.values() if c.output_requested]
        if not active:
            raise KXCIError(-967, "no channel output on")
        for c in self.st.pulse.values():
            c.data, c.rows = None, []
        duration = self.run.run_test(active)
        for c in active:
            c.rows = format_rows(c.data)
            c.output_active = True
        pmu, speed = self.st.pmu, self.st.speed
        pmu.started = time.monotonic()
        pmu.running_until = pmu.started + (duration / speed if speed else 0)
        pmu.busy_polls = self.st.busy_polls

    def _pmu_status(self, rest: str) -> str:
        """``:PMU:TEST:STATUS?`` -> 1 running, 0 idle [M 7-32]."""
        if self.st.pmu.busy_polls > 0:
            self.st.pmu.busy_polls -= 1
            return "1"
        return "1" if self.st.pmu_running() else "0"

    def _pmu_abort(self, rest: str) -> None:
        """``:PMU:ABORT``: stop, outputs off, data kept [M 7-4]."""
        for c in self.st.pulse.values():
            if c.data is not None:  # keep what was acquired before the abort
                n = self._available(c)
                c.data, c.rows = c.data[:n], c.rows[:n]
        self.st.pmu.running_until = 0.0
        self.st.pmu.busy_polls = 0
        for c in self.st.pulse.values():
            c.output_active = c.output_requested = False

    # ------------------------------------------------------------------ data
    def _pmu_count(self, rest: str) -> str:
        """``:PMU:DATA:COUNT? ch`` [M 7-6]."""
        ch = self._pch(self._pmu_args(rest, 1)[0])
        return str(self._available(ch))

    def _available(self, ch: PulseChannel) -> int:
        """Points acquired so far: all after the test, those up to the elapsed instrument
        time while a paced test runs (DATA:COUNT?/GET are usable during a test [M 7-2,
        7-6])."""
        if ch.data is None:
            return 0
        if not self.st.pmu_running():
            return int(ch.data.shape[0])
        elapsed = (time.monotonic() - self.st.pmu.started) * (self.st.speed or 1.0)
        return int(np.searchsorted(ch.data[:, 2], elapsed, side="right"))

    def _pmu_get(self, rest: str) -> str:
        """``:PMU:DATA:GET ch[, start[, n[, value, ...]]]`` [M 7-7, 7-8]: points
        ``;``-separated, values ``,``-separated, all of ``V,I,T,S`` (waveform) or
        ``VH,IH,TH,SH,VL,IL,TL,SL`` (spot mean) or the requested ones in the requested order;
        S as 8 hex digits [M 7-38]. The manual's own waveform example asks for ``VH`` and
        ``IH`` [M 7-38], so on waveform data ``VH,IH,TH,SH`` mean ``V,I,T,S``."""
        args = split_args(rest)
        if not args:
            raise KXCIError(-969, "no channel")
        ch = self._pch(args[0])
        start = parse_int(args[1], 0, MAX_POINTS, -969) if len(args) > 1 else 0
        n = parse_int(args[2], 1, PAGE_POINTS, -969) if len(args) > 2 else PAGE_POINTS
        stop = min(start + n, self._available(ch))
        if len(args) <= 3:
            return ";".join(ch.rows[start:stop])
        spot = ch.data is not None and ch.data.shape[1] == 8
        table = SPOT_FIELDS if spot else WAVE_FIELDS
        cols = []
        for name in (a.upper() for a in args[3:]):
            if name not in table:
                raise KXCIError(-969, f"requested value {name!r} (one of {', '.join(table)})")
            cols.append(table[name])
        if stop <= start:
            return ""
        block = ch.data[start:stop]
        fmt = ",".join("%08X" if k % 4 == 3 else "%.6g" for k in cols)
        values = [block[:, k].astype(np.int64).tolist() if k % 4 == 3 else block[:, k].tolist()
                  for k in cols]
        return ";".join(map(fmt.__mod__, zip(*values, strict=True)))

    # ------------------------------------------------------------------ compensation
    def _comp_channel(self, text: str) -> PulseChannel:
        """The lowest channel of a PMU, as the manual asks [M 7-5, 7-12]."""
        ch = self._pch(text)
        if ch.number % 2 == 0:
            raise KXCIError(-969, f"channel {ch.number}: use the PMU's lowest channel "
                            f"({ch.number - 1})")
        return ch

    def _pmu_measure_connection_comp(self, rest: str) -> None:
        """``:PMU:MEASURE:CONNECTION:COMP ch, 1|3`` [M 7-12]: measure and store the short
        (1) or offset-current (3) compensation of both channels of the PMU. The simulated
        cabling is ideal (0 Ω short, 0 A offset), so the stored values are 0."""
        args = self._pmu_args(rest, 2)
        ch = self._comp_channel(args[0])
        kind = parse_int(args[1], 1, 3, -969)
        if kind == 2:
            raise KXCIError(-969, "compensation type 1 (short) or 3 (offset current)")
        self._pmu_idle()
        for c in (ch, self.st.pulse.get(ch.number + 1)):
            if c is not None:
                c.comp_measured[kind] = 0.0

    def _pmu_connection_comp(self, rest: str) -> None:
        """``:PMU:CONNECTION:COMP ch, 1|3, 0|1`` [M 7-5]: use (1) or not (0) the stored
        compensation of that type for both channels of the PMU; with the ideal simulated
        cabling the compensation values are 0 (see ``:PMU:MEASURE:CONNECTION:COMP``)."""
        args = self._pmu_args(rest, 3)
        ch = self._comp_channel(args[0])
        kind = parse_int(args[1], 1, 3, -969)
        if kind == 2:
            raise KXCIError(-969, "compensation type 1 (short) or 3 (offset current)")
        on = parse_int(args[2], 0, 1, -969) == 1
        for c in (ch, self.st.pulse.get(ch.number + 1)):
            if c is not None:
                c.comp_enabled[kind] = on

    def outputs_safe(self) -> bool:
        """No PMU output on (requested or active), no test running, RPMs routed to the
        PMU."""
        return (not self.st.pmu_running()) and all(
            not (c.output_active or c.output_requested) and (not c.rpm or c.rpm_mode == 0)
            for c in self.st.pulse.values())
