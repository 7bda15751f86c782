"""The two-letter pulse commands of Clarius ≤ 1.12 on the simulated pulse card [M 7-59…7-71]
(a part of :class:`sim_backend.kxci.KXCIEngine`).

They source pulses without measuring [M 7-59]: ``PS`` reset, ``PD`` load, ``PT`` timing,
``PV`` levels, range and current limit, ``PN`` a whole train, ``TS`` trigger source,
``TO`` delay and trigger polarity, ``PO`` output state and complement mode, ``PG`` trigger
mode and start, ``PE`` run a ``PN`` train (blocking), ``PH`` halt a card, ``PA`` abort a
channel, ``VF`` floating relay, ``RP`` RPM switch (the same switch as
``:PMU:RPM:CONFIGURE``). The settings are kept apart from the ``:PMU:`` ones, as the two
sets "cannot be used with the updated commands" [M 7-59].

Simulation: a started burst drives the device on pulse channel 1 (when its RPM, if any,
is routed to the pulse card) with the train, through the 50 Ω source, the load
compensation of ``PD`` (default 50 Ω [M 7-61]) and the ``PV`` current limit as the source
clamp. A channel with the floating relay enabled has no return path, so no current flows.
Refusals: an addressed channel or card that is not in the mainframe is -978 ("VPU not
present in system" [M 2-12]; VPU is the ``*OPT?`` name of a pulse card [M 4-5]); values
outside the manual's ranges are -993; continuous trigger mode (``PG A, 1``) outputs
pulses until halted, which the simulator cannot run in virtual time, so it is refused
with -986 (unsupported command) rather than accepted; with an external trigger source
``PG`` arms the card and, as no trigger ever arrives, nothing is output until ``PH``;
``PE`` waits for the trigger and is therefore refused (-986) with an external source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim_backend.kxci_common import KXCIError, parse_float, parse_int, split_args
from sim_backend.pmu_schedule import pulse_breakpoints, unit_schedule
from sim_backend.pmu_state import R_SOURCE

#: legacy range -> (pulse-card range, current-limit bound) [M 7-67]; 5/20 are the PGU
#: names in the manual, 10/40 the PMU's own ranges [M 7-24]
LEGACY_RANGES = {5: (10, 0.2), 10: (10, 0.2), 20: (40, 0.8), 40: (40, 0.8)}
MAX_TRIGGER_COUNT = 2**32 - 1  # [M 7-62]


@dataclass
class LegacyPulse:
    """One channel's legacy pulse settings (defaults of [M 7-60…7-71])."""

    load: float = 50.0
    period: float = 1e-6
    width: float = 500e-9
    rise: float = 100e-9
    fall: float = 100e-9
    delay: float = 0.0
    high: float = 0.0
    low: float = 0.0
    v_range: int = 5
    i_limit: float = 0.105
    count: int = 1  # PN trigger count
    output: bool = False
    complement: bool = False
    floating: bool = False
    trigger_source: int | None = None  # TS (card level)
    polarity: int = 1  # TO (card level)
    trigger_mode: int = 1  # PG (card level)
    armed: bool = False  # waiting for an external trigger
    pulses_out: int = 0  # pulses output since the last reset (for inspection)


class LegacyPulseCard:
    """Handlers of ``PA PD PE PG PH PN PO PS PT PV RP TO TS VF``.

    Parameters
    ----------
    st : the instrument's shared state (pulse channels, device, pace).
    rpm_configure : the ``:PMU:RPM:CONFIGURE`` handler, which ``RP`` shares [M 7-68].
    """

    def __init__(self, st, rpm_configure: Callable[[str], None]) -> None:
        self.st = st
        self._rpm_configure = rpm_configure

    def handlers(self) -> dict:
        return {"PA": self._lp_pa, "PD": self._lp_pd, "PE": self._lp_pe, "PG": self._lp_pg,
                "PH": self._lp_ph, "PN": self._lp_pn, "PO": self._lp_po, "PS": self._lp_ps,
                "PT": self._lp_pt, "PV": self._lp_pv, "RP": self._lp_rp, "TO": self._lp_to,
                "TS": self._lp_ts, "VF": self._lp_vf}

    # ------------------------------------------------------------------ helpers
    def _lp(self, text: str) -> LegacyPulse:
        """The legacy settings of pulse channel ``text`` (-978 if there is none)."""
        n = parse_int(text, 1, 8)
        ch = self.st.pulse.get(n)
        if ch is None:
            raise KXCIError(-978, f"no pulse channel {n}")
        if ch.legacy is None:
            ch.legacy = LegacyPulse()
        return ch.legacy

    def _lp_card(self, text: str) -> list[LegacyPulse]:
        """Both channels of pulse card ``text`` (1..4)."""
        n = parse_int(text, 1, 4)
        if 2 * n - 1 not in self.st.pulse:
            raise KXCIError(-978, f"no pulse card {n}")
        return [self._lp(str(k)) for k in (2 * n - 1, 2 * n) if k in self.st.pulse]

    def _lp_siblings(self, text: str) -> list[LegacyPulse]:
        n = parse_int(text, 1, 8)
        self._lp(text)
        first = n - (n - 1) % 2
        return [self._lp(str(k)) for k in (first, first + 1) if k in self.st.pulse]

    @staticmethod
    def _lp_args(rest: str, lo: int, hi: int | None = None) -> list[str]:
        args = split_args(rest)
        if not lo <= len(args) <= (hi or lo):
            raise KXCIError(-993, f"{len(args)} arguments")
        return args

    @staticmethod
    def _lp_check_times(p: LegacyPulse, period, width, rise, fall, delay) -> None:
        fast = LEGACY_RANGES[p.v_range][0] == 10
        edge, min_period, min_width = (10e-9, 10e-9, 10e-9) if fast else (50e-9, 500e-9,
                                                                          250e-9)
        half = 0.5 * (rise + fall)
        if not (min_period <= period <= 1 and min_width <= width <= period - 10e-9
                and edge <= rise <= 33e-3 and edge <= fall <= 33e-3 and width > half
                and 0 <= delay < period - width - half):
            raise KXCIError(-993, f"pulse times {period}, {width}, {rise}, {fall}, {delay}")

    # ------------------------------------------------------------------ settings
    def _lp_ps(self, rest: str) -> None:
        """``PS A``: reset both channels of pulse card A [M 7-65] (``PS 2`` resets card 2)."""
        n = parse_int(rest, 1, 4)
        if 2 * n - 1 not in self.st.pulse:
            raise KXCIError(-978, f"no pulse card {n}")
        for k in (2 * n - 1, 2 * n):
            if k in self.st.pulse:
                self.st.pulse[k].legacy = LegacyPulse()

    def _lp_pd(self, rest: str) -> None:
        """``PD A, ohms`` (1 to 10e6) [M 7-61]."""
        a, ohms = self._lp_args(rest, 2)
        p = self._lp(a)
        value = parse_float(ohms)
        if not 1.0 <= value <= 10e6:
            raise KXCIError(-993, f"load {value}")
        p.load = value

    def _lp_pt(self, rest: str) -> None:
        """``PT A, period, width, rise, fall``; the period is the card's [M 7-65, 7-66]."""
        a, *vals = self._lp_args(rest, 5)
        p = self._lp(a)
        period, width, rise, fall = (parse_float(v) for v in vals)
        self._lp_check_times(p, period, width, rise, fall, p.delay if p.delay < period else 0)
        for q in self._lp_siblings(a):
            q.period = period
        p.width, p.rise, p.fall = width, rise, fall

    def _lp_pv(self, rest: str) -> None:
        """``PV A, high, low, range, ilimit`` [M 7-67]."""
        a, *vals = self._lp_args(rest, 5)
        p = self._lp(a)
        high, low, rng, ilim = (parse_float(v) for v in vals)
        if rng not in LEGACY_RANGES:
            raise KXCIError(-993, f"range {rng}")
        bound = LEGACY_RANGES[int(rng)][1]
        if max(abs(high), abs(low)) > rng or not 0 < abs(ilim) <= bound:
            raise KXCIError(-993, f"levels {high}, {low} or limit {ilim} on the {rng:g} V range")
        p.high, p.low, p.v_range, p.i_limit = high, low, int(rng), abs(ilim)

    def _lp_pn(self, rest: str) -> None:
        """``PN A, base, amplitude, count, period, width, rise, fall[, delay]`` [M 7-63]."""
        a, *vals = self._lp_args(rest, 8, 9)
        p = self._lp(a)
        base, ampl = parse_float(vals[0]), parse_float(vals[1])
        count = parse_int(vals[2], 1, MAX_TRIGGER_COUNT)
        period, width, rise, fall = (parse_float(v) for v in vals[3:7])
        delay = parse_float(vals[7]) if len(vals) == 8 else 0.0
        rng = LEGACY_RANGES[p.v_range][0]
        if max(abs(base), abs(ampl)) > rng:
            raise KXCIError(-993, f"levels {base}, {ampl} beyond {rng} V")
        self._lp_check_times(p, period, width, rise, fall, delay)
        for q in self._lp_siblings(a):
            q.period = period
        p.low, p.high, p.count = base, ampl, count
        p.width, p.rise, p.fall, p.delay = width, rise, fall, delay

    def _lp_ts(self, rest: str) -> None:
        """``TS A, source`` (0 software, 1..4 external) for A's card [M 7-70]."""
        a, src = self._lp_args(rest, 2)
        source = parse_int(src, 0, 4)
        for q in self._lp_siblings(a):
            q.trigger_source = source

    def _lp_to(self, rest: str) -> None:
        """``TO A, delay, polarity`` (delay per channel, polarity per card) [M 7-69]."""
        a, d, pol = self._lp_args(rest, 3)
        p = self._lp(a)
        delay = parse_float(d)
        if not 0 <= delay <= p.period - 10e-9:
            raise KXCIError(-993, f"delay {delay}")
        polarity = parse_int(pol, 0, 1)
        p.delay = delay
        for q in self._lp_siblings(a):
            q.polarity = polarity

    def _lp_po(self, rest: str) -> None:
        """``PO A, state, mode`` (mode 0 normal, 1 complement) [M 7-64]."""
        a, state, mode = self._lp_args(rest, 3)
        p = self._lp(a)
        p.output = parse_int(state, 0, 1) == 1
        p.complement = parse_int(mode, 0, 1) == 1
        if not p.output:
            p.armed = False

    def _lp_vf(self, rest: str) -> None:
        """``VF A, 0|1``: floating relay [M 7-71]."""
        a, state = self._lp_args(rest, 2)
        self._lp(a).floating = parse_int(state, 0, 1) == 1

    def _lp_rp(self, rest: str) -> None:
        """``RP HRID, mode``: the RPM switch of ``:PMU:RPM:CONFIGURE`` [M 7-68, 7-22]."""
        args = self._lp_args(rest, 2)
        if not re.fullmatch(r"(PMU[1-9]-[12]|SMU[1-9]|CV[HL][1-9])", args[0].upper()):
            raise KXCIError(-993, f"HRID {args[0]!r}")
        try:
            self._rpm_configure(rest)
        except KXCIError as exc:
            raise KXCIError(-993, exc.detail) from None

    # ------------------------------------------------------------------ output
    def _lp_pg(self, rest: str) -> None:
        """``PG A, mode, count`` [M 7-62]: software trigger starts the output (burst and
        trigger burst: ``count`` pulses); an external source arms the card."""
        a, mode_s, count_s = self._lp_args(rest, 3)
        p = self._lp(a)
        mode = parse_int(mode_s, 0, 2)
        count = parse_int(count_s, 1, MAX_TRIGGER_COUNT)
        for q in self._lp_siblings(a):
            q.trigger_mode = mode
        if mode == 1:
            raise KXCIError(-986, "continuous pulse output is not simulated")
        if not p.output:
            return  # nothing to output: the channel is off [M 7-64]
        if p.trigger_source in (1, 2, 3, 4):
            p.armed = True
            return
        self._lp_burst(int(a), p, count)

    def _lp_pe(self, rest: str) -> None:
        """``PE``: run the ``PN`` trains of every channel that is on (blocking) [M 7-61]."""
        if rest:
            raise KXCIError(-993, rest)
        on = [(n, c.legacy) for n, c in self.st.pulse.items()
              if c.legacy is not None and c.legacy.output]
        if not self.st.pulse:
            raise KXCIError(-978, "no pulse card")
        for n, p in on:
            if p.trigger_source is None:
                raise KXCIError(-967, f"channel {n}: no trigger source (TS) [M 7-61]")
            if p.trigger_source != 0:
                raise KXCIError(-986, "external triggers are not simulated")
        for n, p in on:
            self._lp_burst(n, p, p.count)

    def _lp_ph(self, rest: str) -> None:
        """``PH A``: stop all pulse output of card A [M 7-63]."""
        for p in self._lp_card(rest):
            p.armed = False

    def _lp_pa(self, rest: str) -> None:
        """``PA A``: abort channel A [M 7-60]."""
        p = self._lp(rest)
        p.armed = False

    def _lp_burst(self, n: int, p: LegacyPulse, count: int) -> None:
        """Output ``count`` pulses of channel ``n``; channel 1 drives the device."""
        lo, hi = (p.high, p.low) if p.complement else (p.low, p.high)
        bt, bv = pulse_breakpoints(lo, hi, p.period, p.width, p.rise, p.fall, p.delay)
        gain = (p.load + R_SOURCE) / p.load
        rng = LEGACY_RANGES[p.v_range][0]
        if np.max(np.abs(bv)) * gain > rng * (1 + 1e-9):
            raise KXCIError(-964, f"{np.max(np.abs(bv)) * gain:g} V internal for load "
                            f"{p.load:g} ohm")
        unit = unit_schedule(bt, bv, [], 200e6)
        ch = self.st.pulse[n]
        wired = n == 1 and (not ch.rpm or ch.rpm_mode == 0)
        duration = unit.duration * count
        if wired and not p.floating:
            steps = unit.dt.size * count
            if steps > 4_000_000:
                raise KXCIError(-986, f"simulator: {steps} steps")
            self.st.last_truth = self.st.device.drive(
                np.tile(unit.dt, count), np.tile(unit.level, count) * gain,
                np.full(steps, p.i_limit), r_source=R_SOURCE + self.st.series_ohms)
        else:
            self.st.device.rest(duration)
        p.pulses_out += count
        self.st.wait_paced(duration)

    def outputs_safe(self) -> bool:
        """No legacy pulse output on or armed."""
        return all(c.legacy is None or not (c.legacy.output or c.legacy.armed)
                   for c in self.st.pulse.values())
