"""Retention: an optional program pulse, then reads at linear or log-spaced times.

Paper 000 reports retention "exceeding 6x10^3 seconds" (Fig. S5) without the read
condition; the default reads at 0.1 V up to 6e3 s. ``spacing = log`` puts
``points_per_decade`` reads per decade between ``interval`` and ``duration`` (plus one
read right after programming), the natural grid for drift; ``linear`` reads every
``interval``. Between reads the output is off (the device rests at 0 V). On the
simulator the waits run in instrument time, so a 6e3 s run takes well under a second.
``elapsed_s`` is the time since the program pulse (or since the run started).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from drivers.keithley4200 import SMU_V_MAX
from drivers.validation import ParameterError
from protocols import pulse_base as pb
from protocols import pulsing
from protocols.base import STEP, Channels, Protocol, Record, RunContext, Step, as_columns
from protocols.parameters import Param


class Retention(Protocol):
    """Reads of one programmed state over time."""

    name = "retention"
    title = "Retention"
    params = (
        Param("duration", 6e3, "s", 0.0, 1e7, "last read time after programming",
              lo_open=True),
        Param("interval", 10.0, "s", 0.0, 1e7,
              "linear: time between reads; log: time of the first read after t = 0",
              lo_open=True),
        Param("spacing", "log", "", doc="read times: linear or log-spaced", kind="str",
              choices=("linear", "log")),
        Param("points_per_decade", 10, "", 1, 1000, "reads per decade (log spacing)",
              kind="int"),
        Param("v_read", 0.1, "V", -SMU_V_MAX, SMU_V_MAX, "read voltage", safety="voltage"),
        pb.read_width_param(0.02),
        pb.READ_COMPLIANCE_PARAM,
        Param("program_amplitude", 0.0, "V", -SMU_V_MAX, SMU_V_MAX,
              "program pulse before the reads, sign included (0: no program step)",
              safety="voltage"),
        pb.width_param(0.02, "program_width", "program pulse width"),
        pb.compliance_param("program_compliance", 5e-3, "program pulse compliance"),
        pb.SMU_PARAM,
    )
    streams = {
        "samples": {
            "time_s": "f8", "elapsed_s": ("f8", "s"), "pulse_index": "i8",
            "v_program_V": "f8", "voltage_V": "f8", "current_A": "f8",
            "conductance_G0": "f8", "compliance": "?",
        },
        "pulses": pulsing.PULSE_COLUMNS,
    }

    def count_reads(self) -> int:
        """Reads after programming (without the one at 0), from the parameters alone, so
        that a tiny interval is refused before an array of that size is built."""
        v = self.values
        if v.spacing == "linear":
            return int(np.floor(v.duration / v.interval + 1e-9))
        decades = np.log10(v.duration / v.interval)
        return max(int(np.ceil(decades * v.points_per_decade - 1e-9)) + 1, 1)

    def read_times(self) -> np.ndarray:
        """Read times after programming, starting with 0."""
        v = self.values
        n = self.count_reads()
        if v.spacing == "linear":
            t = np.arange(1, n + 1) * v.interval
        else:
            t = np.logspace(np.log10(v.interval), np.log10(v.duration), n)
        return np.concatenate([[0.0], t])

    def check(self) -> None:
        v = self.values
        if v.interval > v.duration:
            raise ParameterError("interval", v.interval, f"<= duration = {v.duration:g} s")
        if self.count_reads() + 1 > 1_000_000:
            raise ParameterError("interval", v.interval, "a value giving <= 1e6 reads")
        pulsing.check_point_time("read_width", v.read_width)
        if v.program_amplitude:
            pulsing.check_point_time("program_width", v.program_width)
        gaps = np.diff(self.read_times())
        if gaps.size and gaps.min() < v.read_width - 1e-12:
            # name what the user most likely set: the interval is the first gap (and
            # every gap when linear), points_per_decade sets the later log-spaced ones
            if v.spacing == "linear" or v.interval < v.read_width:
                raise ParameterError("interval", v.interval,
                                     f">= read_width = {v.read_width:g} s (one read "
                                     "must end before the next starts)")
            raise ParameterError("points_per_decade", v.points_per_decade,
                                 f"fewer: reads {gaps.min():g} s apart are shorter than "
                                 f"read_width = {v.read_width:g} s")

    def channels(self) -> Channels:
        return Channels(smus=(self.values.smu,))

    def instrument_settings(self) -> dict:
        v = self.values
        return {"smu": v.smu, "read_integration": pulsing.integration_for(v.read_width)}

    def estimated_duration(self) -> float:
        return float(self.read_times()[-1])

    def plan(self, ctx: RunContext) -> Iterator[Record | Step]:
        v = self.values
        if v.program_amplitude:
            shot = pulsing.pulse(ctx, v.smu, v.program_amplitude, v.program_width,
                                 v.program_compliance)
            yield pulsing.pulse_record(shot, 1, 0, int(np.sign(v.program_amplitude)),
                                       v.program_width, v.program_compliance)
        t_ref = ctx.now()
        times = self.read_times()
        for k, t in enumerate(times):
            ctx.sleep(t - (ctx.now() - t_ref))
            rd = pulsing.read(ctx, v.smu, v.v_read, v.read_width, v.read_compliance)
            yield Record("samples", as_columns(
                time_s=rd.time, elapsed_s=rd.time - t_ref, pulse_index=k,
                v_program_V=rd.v_program, voltage_V=rd.voltage, current_A=rd.current,
                conductance_G0=rd.conductance_g0, compliance=rd.compliance,
            ))
            yield Step((k + 1) / times.size)
        yield STEP
