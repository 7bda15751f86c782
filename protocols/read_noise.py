"""Read noise / random telegraph noise: constant-bias sampling at a read voltage.

The SMU samples the current at ``rate`` for ``duration`` as consecutive list tests of
equal points (at most 4096 each) [M 5-16]; each sample integrates as long as the sample
period allows (0.1, 1 or 10 PLC), which sets the noise bandwidth. At most one sample per
short integration (600 samples/s at 60 Hz) is possible on the SMU.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from drivers.keithley4200 import MAX_LIST_POINTS, SMU_V_MAX
from drivers.validation import ParameterError
from protocols import pulse_base as pb
from protocols import pulsing
from protocols.base import STEP, Channels, Protocol, Record, RunContext, Step, as_columns
from protocols.parameters import Param


class ReadNoise(Protocol):
    """Constant-bias current sampling."""

    name = "read-noise"
    title = "Read noise / RTN"
    params = (
        Param("v_read", 0.1, "V", -SMU_V_MAX, SMU_V_MAX, "bias voltage", safety="voltage"),
        Param("duration", 10.0, "s", 0.0, 1e6, "sampling time", lo_open=True),
        Param("rate", 100.0, "Hz", 0.0, 1.0 / pulsing.T_POINT_MIN, "samples per second",
              lo_open=True),
        pb.READ_COMPLIANCE_PARAM,
        pb.SMU_PARAM,
    )
    streams = {
        "samples": {
            "time_s": "f8", "v_program_V": "f8", "voltage_V": "f8", "current_A": "f8",
            "conductance_G0": "f8", "compliance": "?",
        }
    }

    def n_samples(self) -> int:
        v = self.values
        return max(1, int(round(v.duration * v.rate)))

    def check(self) -> None:
        if self.n_samples() > 50_000_000:
            raise ParameterError("duration", self.values.duration,
                                 "duration * rate <= 5e7 samples")

    def channels(self) -> Channels:
        return Channels(smus=(self.values.smu,))

    def instrument_settings(self) -> dict:
        v = self.values
        return {"smu": v.smu, "integration": pulsing.integration_for(1.0 / v.rate)}

    def estimated_duration(self) -> float:
        return float(self.values.duration)

    def plan(self, ctx: RunContext) -> Iterator[Record | Step]:
        v = self.values
        n = self.n_samples()
        done = 0
        while done < n:
            m = min(MAX_LIST_POINTS, n - done)
            shot = pulsing.smu_levels(ctx, v.smu, np.full(m, v.v_read),
                                      v.read_compliance, 1.0 / v.rate)
            yield Record("samples", as_columns(
                time_s=shot.time, v_program_V=shot.v_program, voltage_V=shot.voltage,
                current_A=shot.current, conductance_G0=shot.conductance_g0,
                compliance=shot.compliance,
            ))
            done += m
            yield Step(done / n)
        yield STEP
