"""RESET pulse train with per-pulse waveform capture (paper 000 Fig. 6).

Default 500 pulses of -1.5 V, 5 ms (the paper gives "P_A = 1.5 V" without a sign; RESET
is at negative bias in this device, so the default is negative and the sign is a
parameter). Every pulse is captured as V(t), I(t), by whichever source the width needs
(``source = auto``):

* **SMU** (widths >= :data:`SMU_MIN_WIDTH`): list tests of equal points, each a 0.01 PLC
  integration or longer, ``samples`` at the amplitude then 0 V up to the period, as many
  periods per test as fit in 4096 points (instrument-timed; see
  :meth:`ResetTrain.smu_train_layout`), with the SMU's true compliance; ``samples = 0``
  takes as many as the width allows (at most 32).
* **PMU** (shorter pulses, or ``source = pmu``): a 4225-PMU pulse train in waveform mode
  [M 7-20], bursts of as many pulses as fit in 65 536 samples; ``samples = 0`` means about
  200 samples per pulse window. **The PMU has no true compliance**: ``compliance`` is then
  not enforced by the instrument (the run's settings snapshot says so and the
  ``compliance`` column is false); limit the current with a series element.

Written: ``samples`` (one row per pulse: the mean current of the second half of the
pulse's flat top, the "top portion" of the plateau, and the peak), and waveforms
``time_s`` (time since the pulse started), ``voltage_V`` and ``current_A``, one row per
pulse.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from analysis.conductance import conductance_g0
from drivers.keithley4200 import MAX_LIST_POINTS, SMU_I_MAX, SMU_V_MAX
from drivers.pmu_config import (
    SAMPLE_CLOCK,
    PulseTiming,
    PulseTrainConfig,
    effective_sample_rate,
    waveform_samples,
)
from drivers.pmu_data import MAX_POINTS as PMU_MAX_POINTS
from drivers.validation import ParameterError
from protocols import pulse_base as pb
from protocols import pulsing
from protocols.base import (
    STEP,
    Channels,
    Protocol,
    Record,
    RunContext,
    Step,
    Waveform,
    as_columns,
)
from protocols.parameters import Param

#: shortest pulse the SMU path captures (16 points of 0.01 PLC); shorter ones use the PMU
SMU_MIN_WIDTH = 16 * pulsing.T_POINT_MIN
#: PMU capture window before / after the pulse, as fractions of its duration [M 7-34]
PMU_PRE, PMU_POST = 0.2, 0.2


class ResetTrain(Protocol):
    """Identical (RESET) pulses with V(t), I(t) of every pulse stored."""

    name = "reset-train"
    title = "RESET train with waveform capture"
    params = (
        Param("amplitude", -1.5, "V", -SMU_V_MAX, SMU_V_MAX,
              "pulse amplitude, sign included (RESET is negative on this device)",
              safety="voltage"),
        pb.width_param(5e-3),
        Param("count", 500, "", 1, 1_000_000, "number of pulses", kind="int"),
        pb.period_param(0.02),
        Param("samples", 0, "", 0, 4096,
              "samples per pulse (0: as many as the width allows on the SMU, at most 32)",
              kind="int"),
        Param("compliance", 0.02, "A", 0.0, SMU_I_MAX,
              "current compliance (SMU only: the PMU has no true compliance)", lo_open=True,
              safety="current"),
        Param("source", "auto", "", doc="auto: SMU when the width allows, else PMU",
              kind="str", choices=("auto", "smu", "pmu")),
        pb.SMU_PARAM,
        Param("pmu_channel", 1, "", 1, 2, "PMU channel wired to the top electrode (PMU)",
              kind="int"),
        Param("i_range", 0.01, "A", 1e-7, 0.8, "PMU current measure range (PMU)"),
    )
    streams = {
        "samples": {
            "time_s": "f8", "pulse_index": "i8", "v_program_V": "f8", "voltage_V": "f8",
            "current_A": "f8", "conductance_G0": "f8", "compliance": "?",
            "peak_current_A": ("f8", "A"),
        }
    }

    def uses_pmu(self) -> bool:
        v = self.values
        return v.source == "pmu" or (v.source == "auto" and v.width < SMU_MIN_WIDTH)

    def pmu_config(self, count: int) -> PulseTrainConfig:
        """The PMU burst of ``count`` pulses (edges 1 % of the width, >= 20 ns)."""
        v = self.values
        edge = max(20e-9, min(33e-3, 0.01 * v.width))
        timing = PulseTiming(period=v.period, width=v.width, rise=edge, fall=edge)
        window = (1 + PMU_PRE + PMU_POST) * timing.duration
        rate = effective_sample_rate(max(1e3, (v.samples or 200) / window))
        return PulseTrainConfig(base=0.0, amplitude=v.amplitude, timing=timing,
                                count=count, i_range=v.i_range, sample_rate=rate,
                                pre=PMU_PRE, post=PMU_POST)

    def check_pmu_sampling(self) -> None:
        """The samples per pulse fit the PMU's 200 MS/s clock over the captured window.

        Checked here, from ``width`` and ``samples``, so the error names a parameter the
        user set rather than the sample rate derived from them.
        """
        v = self.values
        edge = max(20e-9, min(33e-3, 0.01 * v.width))
        window = (1 + PMU_PRE + PMU_POST) * (v.width + edge)  # as pmu_config()
        samples = v.samples or 200
        if samples / window > SAMPLE_CLOCK:
            shortest = samples / SAMPLE_CLOCK / (1 + PMU_PRE + PMU_POST) - 20e-9
            if v.samples:
                raise ParameterError("samples", samples, (
                    f"<= {int(SAMPLE_CLOCK * window)} for width={v.width:g} s "
                    "(the PMU samples at most 200 MS/s)"))
            raise ParameterError("width", v.width, (
                f">= {shortest:.3g} s for {samples} samples per pulse at the PMU's 200 MS/s "
                "(or set samples lower)"))

    def n_samples(self) -> int:
        v = self.values
        if self.uses_pmu():
            cfg = self.pmu_config(1)
            return waveform_samples(cfg.timing, cfg.pre, cfg.post,
                                    effective_sample_rate(cfg.sample_rate))
        fit = int(np.floor(v.width / pulsing.T_POINT_MIN + 1e-9))
        return v.samples or max(1, min(32, fit))

    def pulses_per_test(self) -> int:
        """PMU pulses per burst: <= 10 000 and <= 65 536 samples."""
        return max(1, min(10_000, PMU_MAX_POINTS // self.n_samples(), self.values.count))

    def check(self) -> None:
        v = self.values
        if v.amplitude == 0:
            raise ParameterError("amplitude", 0.0, "a non-zero voltage")
        if v.period < v.width - 1e-12:
            raise ParameterError("period", v.period, f">= width = {v.width:g} s")
        if self.uses_pmu():
            if v.period > 1.0:
                raise ParameterError("period", v.period, "<= 1 s on the PMU [M 7-18]")
            self.check_pmu_sampling()
            self.pmu_config(self.pulses_per_test()).validate()
        else:
            pulsing.check_point_time("width", v.width, self.n_samples())

    def channels(self) -> Channels:
        """The SMU, or the PMU channel when the width needs the PMU."""
        if self.uses_pmu():
            return Channels(pmu_channels=(self.values.pmu_channel,))
        return Channels(smus=(self.values.smu,))

    def waveforms(self) -> dict[str, tuple[int, str]]:
        n = self.n_samples()
        return {"time_s": (n, "s"), "voltage_V": (n, "V"), "current_A": (n, "A")}

    def instrument_settings(self) -> dict:
        v = self.values
        if self.uses_pmu():
            cfg = self.pmu_config(self.pulses_per_test())
            return {"pmu_channel": v.pmu_channel, "capture": "PMU waveform mode",
                    "compliance": "none: the PMU has no true compliance",
                    "sample_rate_Hz": effective_sample_rate(cfg.sample_rate),
                    "samples_per_pulse": self.n_samples(), "i_range_A": v.i_range,
                    "pulses_per_test": self.pulses_per_test()}
        n, rest, per_test = self.smu_train_layout()
        return {"smu": v.smu, "capture": "SMU list sweep, 0.01 PLC points",
                "compliance": "SMU hardware compliance", "samples_per_pulse": n,
                "timing": "instrument (list of pulses and 0 V rests)" if per_test
                else "host-timed rest between pulses",
                "period_s": (n + rest) * v.width / n if per_test else v.period,
                "pulses_per_test": per_test or 1}

    def estimated_duration(self) -> float:
        v = self.values
        return v.count * v.period

    def plan(self, ctx: RunContext) -> Iterator[Record | Waveform | Step]:
        if self.uses_pmu():
            ctx.log("reset-train on the PMU: no true compliance")
            yield from self._plan_pmu(ctx)
        else:
            yield from self._plan_smu(ctx)
        yield STEP

    def _rows(self, first: int, t_end: np.ndarray, t_rel: np.ndarray, volts: np.ndarray,
              amps: np.ndarray, compliance: np.ndarray) -> Iterator[Record | Waveform]:
        """Waveform rows and per-pulse levels of pulses ``first``, ``first + 1``, ..."""
        v = self.values
        yield Waveform({"time_s": t_rel, "voltage_V": volts, "current_A": amps})
        i_top, v_top = top_portion(volts, amps)
        peak = amps[np.arange(amps.shape[0]), np.argmax(np.abs(amps), axis=1)]
        yield Record("samples", as_columns(
            time_s=t_end, pulse_index=first + np.arange(amps.shape[0]),
            v_program_V=v.amplitude, voltage_V=v_top, current_A=i_top,
            conductance_G0=conductance_g0(v_top, i_top), compliance=compliance,
            peak_current_A=peak,
        ))

    def smu_train_layout(self) -> tuple[int, int, int]:
        """(samples per pulse, 0 V rest points per period, pulses per list test).

        The SMU train is instrument-timed: one list test holds several periods, each
        ``samples`` points at the amplitude and ``rest`` points at 0 V, all points
        ``width / samples`` long, so the period is ``(samples + rest) * width / samples``
        (the requested period rounded to whole points). ``pulses`` is 0 when one period
        does not fit in a 4096-point list; then each pulse is its own test and the rest
        is waited on the host.
        """
        v = self.values
        n = self.n_samples()
        q = v.width / n
        rest = max(0, int(round((v.period - v.width) / q)))
        return n, rest, MAX_LIST_POINTS // (n + rest)

    def _plan_smu(self, ctx: RunContext) -> Iterator[Record | Waveform | Step]:
        v = self.values
        n, rest, per_test = self.smu_train_layout()
        q = v.width / n
        one = np.concatenate([np.full(n, v.amplitude), np.zeros(rest)])
        done = 0
        while done < v.count:
            k = min(per_test or 1, v.count - done)
            shot = pulsing.smu_levels(ctx, v.smu, np.tile(one if per_test else one[:n], k),
                                      v.compliance, q, pulsing.PLC_MIN)
            m = n + rest if per_test else n
            if shot.current.size < k * m:
                raise RuntimeError(f"pulses {done + 1}..{done + k}: {shot.current.size} of "
                                   f"{k * m} samples returned")
            cols = [a[: k * m].reshape(k, m)[:, :n] for a in
                    (shot.time, shot.voltage, shot.current, shot.compliance)]
            t, volts, amps, comp = cols
            yield from self._rows(done + 1, t[:, -1], t - (t[:, :1] - q), volts, amps,
                                  comp.any(axis=1))
            if not per_test:
                pulsing.wait_rest(ctx, v.period, v.width)
            done += k
            yield Step(done / v.count)

    def _plan_pmu(self, ctx: RunContext) -> Iterator[Record | Waveform | Step]:
        v = self.values
        n = self.n_samples()
        done = 0
        while done < v.count:
            m = min(self.pulses_per_test(), v.count - done)
            cfg = self.pmu_config(m)
            ctx.check_abort()
            t0 = ctx.now()
            wf = ctx.instrument.pmu_pulse_train(
                v.pmu_channel, cfg, should_stop=ctx.should_abort,
                timeout=pulsing.wait_bound(m * v.period))
            if len(wf) < m * n:
                raise RuntimeError(f"PMU returned {len(wf)} of {m * n} samples")
            shape = (m, n)
            t = wf.time[: m * n].reshape(shape)
            start = np.arange(m)[:, None] * v.period
            t_end = t0 + start[:, 0] + cfg.timing.duration
            yield from self._rows(done + 1, t_end, t - start, wf.voltage[: m * n].reshape(shape),
                                  wf.current[: m * n].reshape(shape), np.zeros(m, bool))
            done += m
            yield Step(done / v.count)


def top_portion(volts: np.ndarray, amps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pulse (row): mean I and V over the second half of the flat top.

    The flat top is where ``|V| >= 0.9 max|V|`` of that pulse (all samples for an SMU
    capture, which holds the level throughout); its first half holds the switching
    transient, so the second half is the "top portion of each current plateau".
    """
    mag = np.abs(volts)
    flat = mag >= 0.9 * mag.max(axis=1, keepdims=True)
    rank = np.cumsum(flat, axis=1)
    keep = flat & (rank > flat.sum(axis=1, keepdims=True) // 2)
    cnt = np.maximum(keep.sum(axis=1), 1)
    return (np.where(keep, amps, 0.0).sum(axis=1) / cnt,
            np.where(keep, volts, 0.0).sum(axis=1) / cnt)
