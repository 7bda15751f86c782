"""Potentiation / depression (paper 000 Fig. 7b): ``count`` positive pulses with positive
reads, then ``count`` negative pulses with negative reads, repeated ``cycles`` times.

Defaults are the paper's: 30 x +1.5 V / 5 ms with +0.2 V reads, then 30 x -1.5 V with
-0.2 V reads. ``phase`` is +1 during potentiation and -1 during depression;
``pulse_index`` counts pulses from 1 within each cycle (1..2*count).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from drivers.keithley4200 import SMU_V_MAX
from protocols import pulse_base as pb
from protocols import pulsing
from protocols.base import STEP, Record, RunContext, Step
from protocols.parameters import Param


class LTPLTD(pb.TimedTrainProtocol):
    """Potentiation then depression pulse trains with reads, N cycles."""

    name = "ltp-ltd"
    title = "Potentiation / depression"
    params = (
        pb.amplitude_param(default=1.5, doc="pulse magnitude: +amplitude potentiates, "
                        "-amplitude depresses"),
        pb.width_param(5e-3),
        Param("count", 30, "", 1, 100_000, "pulses per phase", kind="int"),
        Param("v_read", 0.2, "V", 0.0, SMU_V_MAX,
              "read magnitude: +v_read after potentiation, -v_read after depression",
              lo_open=True, safety="voltage"),
        Param("cycles", 1, "", 1, 100_000, "potentiation/depression cycles", kind="int"),
        pb.period_param(0.02),
        pb.read_width_param(5e-3),
        *pb.TIMED_TRAIN_PARAMS,
    )

    def estimated_duration(self) -> float:
        v = self.values
        return 2 * v.count * v.cycles * max(v.period, v.width + v.read_width)

    def plan(self, ctx: RunContext) -> Iterator[Record | Step]:
        v = self.values
        total = 2 * v.count * v.cycles
        done = 0
        for cycle in range(v.cycles):
            if cycle == 0:
                yield from self.initial_read(ctx, v.v_read, cycle)
            phase = np.repeat([pulsing.SET, pulsing.RESET], v.count)
            yield from self.train(ctx, phase * v.amplitude, phase * v.v_read,
                                  np.arange(1, phase.size + 1), cycle, phase, v.compliance,
                                  (done, total))
            done += phase.size
        yield STEP
