"""RESET pulse train with per-pulse waveform capture (paper 000 Fig. 6).

Default 500 pulses of -1.5 V, 5 ms (the paper gives "P_A = 1.5 V" without a sign; RESET
is at negative bias in this device, so the default is negative and the sign is a
parameter). Every pulse is captured as V(t), I(t) on the SMU: one list test of
``samples`` equal points, each a 0.01 PLC integration or longer, so the capture
has true compliance; ``samples = 0`` takes as many as the width allows. Pulses shorter
than one SMU point need the PMU (which has no true compliance).

Written: ``samples`` (one row per pulse: the mean of the pulse's second half, the
"top portion" of the current plateau, and the peak), and waveforms ``time_s`` (time
since the pulse started), ``voltage_V`` and ``current_A``, one row per pulse.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from analysis.conductance import conductance_g0
from drivers.keithley4200 import SMU_I_MAX, SMU_V_MAX
from drivers.validation import ParameterError
from protocols import pulsing
from protocols.base import (
    STEP,
    Protocol,
    Record,
    RunContext,
    SafetyProfile,
    Step,
    Waveform,
    as_columns,
)
from protocols.parameters import Param
from protocols.pulse_base import SMU_PARAM, period_param, width_param


class ResetTrain(Protocol):
    """Identical (RESET) pulses with V(t), I(t) of every pulse stored."""

    name = "reset-train"
    title = "RESET train with waveform capture"
    params = (
        Param("amplitude", -1.5, "V", -SMU_V_MAX, SMU_V_MAX,
              "pulse amplitude, sign included (RESET is negative on this device)"),
        width_param(5e-3),
        Param("count", 500, "", 1, 1_000_000, "number of pulses", kind="int"),
        period_param(0.02),
        Param("samples", 0, "", 0, 4096,
              "samples per pulse (0: as many as the width allows on the SMU, at most 32)",
              kind="int"),
        Param("compliance", 0.02, "A", 0.0, SMU_I_MAX, "current compliance (SMU)",
              lo_open=True),
        SMU_PARAM,
    )
    streams = {
        "samples": {
            "time_s": "f8", "pulse_index": "i8", "v_program_V": "f8", "voltage_V": "f8",
            "current_A": "f8", "conductance_G0": "f8", "compliance": "?",
            "peak_current_A": ("f8", "A"),
        }
    }

    def n_samples(self) -> int:
        v = self.values
        fit = int(np.floor(v["width"] / pulsing.T_POINT_MIN + 1e-9))
        return v["samples"] or max(1, min(32, fit))

    def check(self) -> None:
        v = self.values
        if v["amplitude"] == 0:
            raise ParameterError("amplitude", 0.0, "a non-zero voltage")
        pulsing.check_point_time("width", v["width"], self.n_samples())
        if v["period"] < v["width"] - 1e-12:
            raise ParameterError("period", v["period"], f">= width = {v['width']:g} s")

    def check_safety(self, safety: SafetyProfile) -> None:
        safety.check_voltage("amplitude", self.values["amplitude"])
        safety.check_compliance("compliance", self.values["compliance"])

    def waveforms(self) -> dict[str, tuple[int, str]]:
        n = self.n_samples()
        return {"time_s": (n, "s"), "voltage_V": (n, "V"), "current_A": (n, "A")}

    def instrument_settings(self) -> dict:
        return {"smu": self.values["smu"], "capture": "SMU list sweep, 0.01 PLC points",
                "samples_per_pulse": self.n_samples()}

    def estimated_duration(self) -> float:
        v = self.values
        return v["count"] * v["period"]

    def plan(self, ctx: RunContext) -> Iterator[Record | Waveform | Step]:
        v = self.values
        n = self.n_samples()
        dt = v["width"] / n
        half = slice(n // 2, None)
        for k in range(v["count"]):
            shot = pulsing.capture(ctx, v["smu"], v["amplitude"], v["width"], v["compliance"], n)
            if shot.current.size < n:
                raise RuntimeError(f"pulse {k + 1}: {shot.current.size} of {n} samples returned")
            t_rel = shot.time - (shot.time[0] - dt)
            yield Waveform({"time_s": t_rel, "voltage_V": shot.voltage,
                                      "current_A": shot.current})
            i_top = float(np.mean(shot.current[half]))
            v_top = float(np.mean(shot.voltage[half]))
            yield Record("samples", as_columns(
                time_s=shot.time[-1], pulse_index=k + 1, v_program_V=v["amplitude"],
                voltage_V=v_top, current_A=i_top, conductance_G0=conductance_g0(v_top, i_top),
                compliance=bool(shot.compliance.any()),
                peak_current_A=shot.current[np.argmax(np.abs(shot.current))],
            ))
            pulsing.wait_rest(ctx, v["period"], v["width"])
            yield Step((k + 1) / v["count"])
        yield STEP
