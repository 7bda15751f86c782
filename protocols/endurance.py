"""Endurance: alternating SET and RESET pulses, each followed by a read, N cycles.

One cycle is a SET pulse (+set_amplitude, compliance_set), a read (the low-resistance
state), a RESET pulse (-reset_amplitude, compliance_reset) and a read (the
high-resistance state). Besides the shared ``pulses``/``samples`` streams, a ``cycles``
stream holds one row per cycle with both read conductances, the window analysis needs.
"""

from __future__ import annotations

from collections.abc import Iterator

from drivers.keithley4200 import SMU_V_MAX
from protocols import pulse_base as pb
from protocols import pulsing
from protocols.base import STEP, Record, RunContext, Step, as_columns
from protocols.parameters import Param


class Endurance(pb.PulseProtocol):
    """Alternating SET/RESET pulses with reads."""

    name = "endurance"
    title = "Endurance (alternating SET/RESET)"
    params = (
        Param("cycles", 100, "", 1, 10_000_000, "SET/RESET cycles", kind="int"),
        # Defaults switch the simulated device fully every cycle (median window ~1e3 with
        # seed 1): a 5 ms, 1.5 V RESET only trims a few channels (paper 000's gradual
        # RESET train), which is no endurance cycle.
        pb.amplitude_param("set_amplitude", 2.0, "SET pulse amplitude (applied positive)"),
        pb.amplitude_param("reset_amplitude", 2.5, "RESET pulse magnitude (applied negative)"),
        pb.width_param(20e-3),
        Param("v_read", 0.1, "V", 0.0, SMU_V_MAX, "read voltage (positive)", lo_open=True,
              safety="voltage"),
        pb.read_width_param(5e-3),
        pb.period_param(0.05),
        *pb.SET_RESET_COMPLIANCE,
        pb.READ_COMPLIANCE_PARAM,
        pb.SMU_PARAM,
    )
    streams = {
        **pulsing.PULSE_STREAMS,
        "cycles": {"time_s": "f8", "cycle": "i4", "g_set_G0": ("f8", "G0"),
                   "g_reset_G0": ("f8", "G0")},
    }

    def estimated_duration(self) -> float:
        v = self.values
        return 2 * v.cycles * max(v.period, v.width + v.read_width)

    def plan(self, ctx: RunContext) -> Iterator[Record | Step]:
        v = self.values
        for cycle in range(v.cycles):
            g_set = yield from self.write_read(ctx, 2 * cycle + 1, cycle, pulsing.SET,
                                               v.set_amplitude, v.v_read,
                                               v.compliance_set)
            g_reset = yield from self.write_read(ctx, 2 * cycle + 2, cycle, pulsing.RESET,
                                                 -v.reset_amplitude, v.v_read,
                                                 v.compliance_reset)
            yield Record("cycles", as_columns(time_s=ctx.now(), cycle=cycle, g_set_G0=g_set,
                                              g_reset_G0=g_reset))
            yield Step((cycle + 1) / v.cycles)
        yield STEP
