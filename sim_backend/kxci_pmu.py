"""4225-PMU / 4225-RPM side of the simulated 4200A: the ``:PMU:`` command set [M §7].

State per pulse channel (ranges, load, pulse levels and times, Segment Arb sequences and
sequence list, output, RPM routing, data buffer) and per mainframe (pulse mode, measure
mode, burst count, sample rate, running test). ``:PMU:EXECUTE`` validates like the
instrument (KXCI errors -969 … -954), then simulates the whole test with **one**
``device.drive`` call whose steps are the A/D samples (see :mod:`sim_backend.pmu_schedule`):

* the device sits between PMU channel 1 and ground (through the RPM when there is one and
  it is routed to the PMU); the PMU is a 50 Ω source with **no current limit**
  (``i_limit = inf``) [M 7-11, 7-24]; other channels see an open circuit;
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
    lookup_channel,
    parse_float,
    parse_int,
    split_args,
)
from sim_backend.pmu_run import PMURun
from sim_backend.pmu_state import (
    MAX_POINTS,
    PAGE_POINTS,
    PMU_I_RANGES,
    RPM_I_RANGES,
    SAMPLE_CLOCK,
    SARB_FIELDS,
    TIMING,
    PMUMainState,
    PulseChannel,
    format_rows,
    pulse_channels,
)

__all__ = ["PMUCommands", "PMUMainState", "PulseChannel", "pulse_channels"]


class PMUCommands(PMURun):
    """Handlers of the ``:PMU:`` commands; mixed into :class:`sim_backend.kxci.KXCIEngine`."""

    def _pmu_handlers(self) -> dict:
        h = {
            ":PMU:INIT": self._pmu_init,
            ":PMU:RPM:CONFIGURE": self._pmu_rpm,
            ":PMU:SOURCE:RANGE": self._pmu_source_range,
            ":PMU:MEASURE:RANGE": self._pmu_measure_range,
            ":PMU:MEASURE:MODE": self._pmu_measure_mode,
            ":PMU:MEASURE:PIV": self._pmu_measure_piv,
            ":PMU:TIMES:PIV": self._pmu_times_piv,
            ":PMU:PIV:TIMES": self._pmu_times_piv,  # usage-line spelling [M 7-23]
            ":PMU:TIMES:WAVEFORM": self._pmu_times_waveform,
            ":PMU:PULSE:TRAIN": self._pmu_train,
            ":PMU:PULSE:TIMES": self._pmu_times,
            ":PMU:PULSE:BURST:COUNT": self._pmu_burst,
            ":PMU:LOAD": self._pmu_load,
            ":PMU:LLEC:CONFIGURE": self._pmu_llec,
            ":PMU:SAMPLE:RATE": self._pmu_rate,
            ":PMU:OUTPUT:STATE": self._pmu_output,
            ":PMU:RETAIN:CONFIG": self._pmu_retain,
            ":PMU:EXECUTE:STATE": self._pmu_retain,  # usage-line spelling [M 7-32]
            ":PMU:EXECUTE": self._pmu_execute,
            ":PMU:TEST:STATUS?": self._pmu_status,
            ":PMU:ABORT": self._pmu_abort,
            ":PMU:DATA:COUNT?": self._pmu_count,
            ":PMU:DATA:GET": self._pmu_get,
            ":PMU:SARB:WFM:SEQ:LIST:ADD": self._sarb_list(add=True),
            ":PMU:SARB:WFM:SEQ:LIST": self._sarb_list(add=False),
        }
        for name in SARB_FIELDS:
            h[f":PMU:SARB:SEQ:{name}:ADD"] = self._sarb_field(name, add=True)
            h[f":PMU:SARB:SEQ:{name}"] = self._sarb_field(name, add=False)
        for name in (":PMU:SWEEP:", ":PMU:STEP:", ":PMU:CONNECTION:COMP",
                     ":PMU:MEASURE:CONNECTION:COMP"):
            h[name] = self._pmu_unsupported
        return h

    # ------------------------------------------------------------------ helpers
    def _pch(self, text: str) -> PulseChannel:
        return lookup_channel(self.pulse, text, bad=-969, missing=-969)

    def _pmu_args(self, rest: str, count: int | tuple[int, int]) -> list[str]:
        args = split_args(rest)
        lo, hi = (count, count) if isinstance(count, int) else count
        if not lo <= len(args) <= hi:
            raise KXCIError(-969, f"{len(args)} arguments, expected {lo}..{hi}")
        return args

    def _pmu_mode(self, *modes: int) -> None:
        if self.pmu.mode not in modes:
            raise KXCIError(-965, f"pulse mode {self.pmu.mode}")

    def _pmu_idle(self) -> None:
        if self._pmu_running():
            raise KXCIError(-980)

    def _rpm_mode(self, channel: int) -> int | None:
        ch = self.pulse.get(channel)
        return ch.rpm_mode if ch is not None and ch.rpm else None

    def _pmu_running(self) -> bool:
        return time.monotonic() < self.pmu.running_until

    def _pmu_unsupported(self, rest: str) -> None:
        raise KXCIError(-986, "not simulated")

    # ------------------------------------------------------------------ set-up commands
    def _pmu_init(self, rest: str) -> None:
        """``:PMU:INIT 0|1``: reset all channels, clear data and sequences [M 7-4]."""
        mode = parse_int(rest, 0, 1, code=-969)
        self._pmu_idle()
        if not self.pulse:
            raise KXCIError(-988, "no PMU")
        for ch in self.pulse.values():
            ch.reset()
        self.pmu = PMUMainState(mode=mode)

    def _pmu_rpm(self, rest: str) -> None:
        """``:PMU:RPM:CONFIGURE PMUn-c, mode`` (0 PMU, 1 CV 2-wire, 2 SMU, 3 CV 4-wire)
        [M 7-8]. SMU/CV ids are accepted and ignored (no RPM switching to simulate)."""
        args = self._pmu_args(rest, 2)
        mode = parse_int(args[1], 0, 3, code=-969)
        m = re.fullmatch(r"PMU(\d+)-([12])", args[0].upper())
        if not m:
            if re.fullmatch(r"(SMU|CVH|CVL)\d+", args[0].upper()):
                return
            raise KXCIError(-969, f"RPM id {args[0]!r}")
        ch = self.pulse.get(2 * int(m.group(1)) - 2 + int(m.group(2)))
        if ch is None:
            raise KXCIError(-969, f"no {args[0]}")
        if not ch.rpm:
            raise KXCIError(-988, f"no RPM on {args[0]}")
        ch.rpm_mode = mode

    def _pmu_source_range(self, rest: str) -> None:
        """``:PMU:SOURCE:RANGE ch, 10|40`` [M 7-14]."""
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
        if self.pmu.mode == 1 and kind != 2:
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
        self.pmu.measure_mode = parse_int(rest, 0, 4, code=-969)

    def _pmu_measure_piv(self, rest: str) -> None:
        """``:PMU:MEASURE:PIV ch, acqHigh, acqLow`` (not both 0) [M 7-16]."""
        self._pmu_mode(0)
        args = self._pmu_args(rest, 3)
        ch = self._pch(args[0])
        hi, lo = parse_int(args[1], 0, 1, -969), parse_int(args[2], 0, 1, -969)
        if not (hi or lo):
            raise KXCIError(-969, "acquire neither high nor low")
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
        width, counted from the rise's 50 % point [M 7-23]."""
        self._pmu_mode(0)
        ch, a, b = self._fractions(rest)
        if a > b:
            raise KXCIError(-969, "start after stop")
        ch.piv = (a, b)

    def _pmu_times_waveform(self, rest: str) -> None:
        """``:PMU:TIMES:WAVEFORM ch, pre, post`` [M 7-22]."""
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
        for c in self.pulse.values():
            c.period = period
        ch.width, ch.rise, ch.fall, ch.delay = width, rise, fall, delay

    def _pmu_burst(self, rest: str) -> None:
        """``:PMU:PULSE:BURST:COUNT n`` (1..10 000) [M 7-17]."""
        self._pmu_mode(0)
        self.pmu.burst = parse_int(rest, 1, 10000, code=-969)

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
        """``:PMU:LLEC:CONFIGURE ch, 0|1`` (stored; compensation is not modelled) [M 7-12]."""
        self._pmu_mode(0, 1)
        args = self._pmu_args(rest, 2)
        self._pch(args[0]).llec = parse_int(args[1], 0, 1, -969) == 1

    def _pmu_rate(self, rest: str) -> None:
        """``:PMU:SAMPLE:RATE rate`` (1e3..200e6; 200e6/n, next higher) [M 7-23]."""
        self._pmu_mode(0, 1)
        rate = parse_float(rest, -969)
        if not 1e3 <= rate <= SAMPLE_CLOCK:
            raise KXCIError(-969, f"sample rate {rate}")
        self.pmu.sample_rate = SAMPLE_CLOCK / max(1, int(np.floor(SAMPLE_CLOCK / rate + 1e-9)))

    def _pmu_output(self, rest: str) -> None:
        """``:PMU:OUTPUT:STATE ch, 0|1``: on takes effect at EXECUTE, off at once [M 7-24]."""
        args = self._pmu_args(rest, 2)
        ch = self._pch(args[0])
        on = parse_int(args[1], 0, 1, -969) == 1
        ch.output_requested = on
        if not on:
            ch.output_active = False

    def _pmu_retain(self, rest: str) -> None:
        """``:PMU:RETAIN:CONFIG ch, 0|1`` [M 7-32]."""
        args = self._pmu_args(rest, 2)
        self._pch(args[0]).retain = parse_int(args[1], 0, 1, -969) == 1

    # ------------------------------------------------------------------ Segment Arb
    def _sarb_field(self, name: str, add: bool):
        def handler(rest: str) -> None:
            """``:PMU:SARB:SEQ:<field>[:ADD] ch, seq, v1, ...`` (<= 128 values) [M 7-40…7-52]."""
            self._pmu_mode(1)
            args = split_args(rest)
            if len(args) < 3:
                raise KXCIError(-969, f"{name} needs channel, sequence and values")
            if len(args) - 2 > 128:
                raise KXCIError(-969, f"{len(args) - 2} values > 128 per command")
            ch = self._pch(args[0])
            seq = parse_int(args[1], 1, 512, code=-960)
            values = [parse_float(a, -962) for a in args[2:]]
            if name in ("STARTV", "STOPV") and max(abs(v) for v in values) > ch.v_range:
                raise KXCIError(-962, f"{name} beyond +-{ch.v_range} V")
            if name == "TIME":
                lo = 20e-9 if ch.v_range == 10 else 50e-9
                for t in values:
                    if not lo * (1 - 1e-9) <= t <= 1.0 or abs(t / 10e-9 - round(t / 10e-9)) > 1e-6:
                        raise KXCIError(-962, f"segment time {t}")
            if name in ("MEAS:TYPE",) and any(v not in (0, 1, 2, 3, 4) for v in values):
                raise KXCIError(-962, "measure type")
            if name in ("TRIG", "SSR") and any(v not in (0, 1) for v in values):
                raise KXCIError(-962, name)
            if name == "SSR" and 0 in values and ch.rpm and ch.i_range < 10e-3:
                raise KXCIError(-955)
            fields = ch.sequences.setdefault(seq, {})
            if add:
                fields.setdefault(name, []).extend(values)
            else:
                fields[name] = values
            if sum(len(f.get("TIME", [])) for f in ch.sequences.values()) > 2048:
                raise KXCIError(-954)

        return handler

    def _sarb_list(self, add: bool):
        def handler(rest: str) -> None:
            """``:PMU:SARB:WFM:SEQ:LIST[:ADD] ch, seq1, loops1, ...`` [M 7-53]."""
            self._pmu_mode(1)
            args = split_args(rest)
            if len(args) < 3 or len(args) % 2 == 0:
                raise KXCIError(-969, "sequence list needs channel and (seq, loops) pairs")
            ch = self._pch(args[0])
            pairs = []
            for s, loops in zip(args[1::2], args[2::2], strict=True):
                seq = parse_int(s, 1, 512, code=-961)
                if seq not in ch.sequences:
                    raise KXCIError(-961, f"sequence {seq}")
                n = parse_float(loops, -969)
                if n != int(n) or not 1 <= n <= 1e12:
                    raise KXCIError(-969, f"loops {loops}")
                pairs.append((seq, int(n)))
            ch.seq_list = (ch.seq_list if add else []) + pairs

        return handler

    # ------------------------------------------------------------------ run
    def _pmu_execute(self, rest: str) -> None:
        """``:PMU:EXECUTE``: final validation, clear buffers, run; returns at once [M 7-25]."""
        if rest:
            raise KXCIError(-969, rest)
        self._pmu_mode(0, 1)
        self._pmu_idle()
        active = [c for c in self.pulse.values() if c.output_requested]
        if not active:
            raise KXCIError(-967, "no channel output on")
        for c in self.pulse.values():
            c.data, c.rows = None, []
        plans = {c.number: (self._plan_sarb(c) if self.pmu.mode == 1 else self._plan_pulse(c))
                 for c in active}
        duration = max(p[1] for p in plans.values())
        for c in active:
            units, dur, kinds = plans[c.number]
            wired = c.number == 1 and (not c.rpm or c.rpm_mode == 0)
            c.data = self._simulate(c, units, wired, kinds)
            c.rows = format_rows(c.data)
            c.output_active = True
        self.device_time_after_pmu = self.device.time
        self.pmu.started = time.monotonic()
        self.pmu.running_until = self.pmu.started + (duration / self.speed if self.speed else 0)
        self.pmu.busy_polls = self.busy_polls

    def _pmu_status(self, rest: str) -> str:
        """``:PMU:TEST:STATUS?`` -> 1 running, 0 idle [M 7-26]."""
        if self.pmu.busy_polls > 0:
            self.pmu.busy_polls -= 1
            return "1"
        return "1" if self._pmu_running() else "0"

    def _pmu_abort(self, rest: str) -> None:
        """``:PMU:ABORT``: stop, outputs off, data kept [M 7-27]."""
        for c in self.pulse.values():
            if c.data is not None:  # keep what was acquired before the abort
                n = self._available(c)
                c.data, c.rows = c.data[:n], c.rows[:n]
        self.pmu.running_until = 0.0
        self.pmu.busy_polls = 0
        for c in self.pulse.values():
            c.output_active = c.output_requested = False

    # ------------------------------------------------------------------ data
    def _pmu_count(self, rest: str) -> str:
        """``:PMU:DATA:COUNT? ch`` [M 7-7]."""
        ch = self._pch(self._pmu_args(rest, 1)[0])
        return str(self._available(ch))

    def _available(self, ch: PulseChannel) -> int:
        """Points acquired so far: all after the test, those up to the elapsed instrument
        time while a paced test runs (DATA:COUNT?/GET are usable during a test [M 7-7])."""
        if ch.data is None:
            return 0
        if not self._pmu_running():
            return int(ch.data.shape[0])
        elapsed = (time.monotonic() - self.pmu.started) * (self.speed or 1.0)
        return int(np.searchsorted(ch.data[:, 2], elapsed, side="right"))

    def _pmu_get(self, rest: str) -> str:
        """``:PMU:DATA:GET ch[, start[, n]]``: points ``;``-separated, values ``,``-separated;
        ``V,I,T,S`` or ``VH,IH,TH,SH,VL,IL,TL,SL``; S as 8 hex digits [M 7-7, 7-38]."""
        args = self._pmu_args(rest, (1, 3))
        ch = self._pch(args[0])
        start = parse_int(args[1], 0, MAX_POINTS, -969) if len(args) > 1 else 0
        n = parse_int(args[2], 1, PAGE_POINTS, -969) if len(args) > 2 else PAGE_POINTS
        return ";".join(ch.rows[start:min(start + n, self._available(ch))])

    def pmu_outputs_safe(self) -> bool:
        """No PMU output on (requested or active), no test running, RPMs routed to the PMU."""
        return (not self._pmu_running()) and all(
            not (c.output_active or c.output_requested) and (not c.rpm or c.rpm_mode == 0)
            for c in self.pulse.values())
