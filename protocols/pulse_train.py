"""Pulse train: ``count`` SET or RESET write pulses, each followed by a read.

Paper 000 Fig. 5 (presets ``paper000-fig5*``): 20 ms pulses, reads of +-0.1 V, compliance
1 or 5 mA, amplitudes 1.5/1.9/2.3 V, 2 to 10 pulses. ``amplitude_step`` > 0 makes the
amplitude grow by that much per pulse (the "increasing pulse amplitude" scheme of
Fig. 5a). The sign of the pulses follows ``polarity``; ``v_read`` is applied as given
(the paper reads at -0.1 V during RESET trains).
"""

from __future__ import annotations

from collections.abc import Iterator

from drivers.keithley4200 import SMU_V_MAX
from protocols import pulse_base as pb
from protocols import pulsing
from protocols.base import STEP, Record, RunContext, SafetyProfile, Step
from protocols.parameters import Param


class PulseTrain(pb.TimedTrainProtocol):
    """SET or RESET pulse train with a read after every pulse."""

    name = "pulse-train"
    title = "Pulse train (SET or RESET) with reads"
    params = (
        Param("polarity", "set", "", doc="set: positive pulses; reset: negative pulses",
              kind="str", choices=("set", "reset")),
        pb.amplitude_param(default=1.5),
        Param("amplitude_step", 0.0, "V", 0.0, SMU_V_MAX,
              "amplitude increment per pulse (0: identical pulses)"),
        pb.width_param(0.02),
        pb.period_param(0.1),
        Param("count", 10, "", 1, 1_000_000, "number of pulses", kind="int"),
        pb.v_read_param(0.1, "read voltage after each pulse (applied as given, sign included)"),
        pb.read_width_param(0.02),
        *pb.TIMED_TRAIN_PARAMS,
    )

    def sign(self) -> int:
        return pulsing.SET if self.values.polarity == "set" else pulsing.RESET

    def amplitudes(self) -> list[float]:
        """Signed amplitude of every pulse."""
        v = self.values
        return [self.sign() * (v.amplitude + k * v.amplitude_step)
                for k in range(v.count)]

    def check_safety(self, safety: SafetyProfile) -> None:
        super().check_safety(safety)
        # the last pulse of a growing ramp is the largest
        safety.check_voltage("amplitude", max(self.amplitudes(), key=abs))

    def estimated_duration(self) -> float:
        v = self.values
        return v.count * max(v.period, v.width + v.read_width)

    def plan(self, ctx: RunContext) -> Iterator[Record | Step]:
        v = self.values
        yield from self.initial_read(ctx, v.v_read)
        amps = self.amplitudes()
        yield from self.train(ctx, amps, [v.v_read] * len(amps), range(1, len(amps) + 1),
                              0, self.sign(), v.compliance)
        yield STEP
