"""DC double sweep 0 -> +v_set -> 0 -> -v_reset -> 0 with current compliance.

The SET half (0 -> +v_set -> 0) and the RESET half (0 -> -v_reset -> 0) run as separate
instrument tests because one KXCI list sweep carries one compliance [M 5-16]; each half is
further split into consecutive tests of at most 4096 points, so the paper's 1 mV steps over
+-3 V (12 000 points) run without a gap in the record or a jump in the applied voltage
(every chunk starts at the point after the previous chunk's last one).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from analysis.conductance import conductance_g0
from drivers.keithley4200 import MAX_LIST_POINTS, SMU_I_MAX, SMU_V_MAX
from drivers.validation import ParameterError
from protocols.base import STEP, Protocol, Record, RunContext, SafetyProfile, Step, as_columns
from protocols.parameters import Param


def ramp(a: float, b: float, step: float, include_start: bool) -> np.ndarray:
    """Points from a to b (inclusive) spaced by at most ``step``."""
    n = max(1, int(np.ceil(abs(b - a) / step - 1e-9)))
    pts = np.linspace(a, b, n + 1)
    return pts if include_start else pts[1:]


def segments(v_set: float, v_reset: float, step: float) -> list[tuple[int, np.ndarray]]:
    """The four segments (1: 0->+V, 2: +V->0, 3: 0->-V, 4: -V->0), no repeated points."""
    return [
        (1, ramp(0.0, v_set, step, True)),
        (2, ramp(v_set, 0.0, step, False)),
        (3, ramp(0.0, -v_reset, step, False)),
        (4, ramp(-v_reset, 0.0, step, False)),
    ]


def chunks(n: int, size: int = MAX_LIST_POINTS) -> list[slice]:
    """Consecutive slices of at most ``size`` points covering ``range(n)``."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


class DCSweep(Protocol):
    """Bipolar DC I-V loop with separate SET and RESET compliance, N cycles."""

    name = "dc-sweep"
    title = "DC double sweep"
    params = (
        Param("v_set", 3.0, "V", 0.0, SMU_V_MAX, "SET sweep end voltage (top electrode +)",
              lo_open=True),
        Param("v_reset", 3.0, "V", 0.0, SMU_V_MAX,
              "RESET sweep magnitude: the sweep goes to -v_reset", lo_open=True),
        Param("step", 0.01, "V", 0.0, 1.0, "voltage step between points", lo_open=True),
        Param("dwell", 0.0, "s", 0.0, 6.553, "delay at each point before measuring (DT)"),
        Param("compliance_set", 5e-3, "A", 0.0, SMU_I_MAX, "current compliance, SET half",
              lo_open=True),
        Param("compliance_reset", 0.02, "A", 0.0, SMU_I_MAX, "current compliance, RESET half",
              lo_open=True),
        Param("cycles", 1, "", 1, 10000, "number of loops", kind="int"),
        Param("integration", "normal", "", doc="A/D integration: short 0.1 PLC, normal 1 PLC, "
              "long 10 PLC", kind="str", choices=("short", "normal", "long")),
        Param("smu", 1, "", 1, 8, "SMU wired to the top electrode", kind="int"),
    )
    streams = {
        "samples": {
            "time_s": "f8", "v_program_V": "f8", "voltage_V": "f8", "current_A": "f8",
            "conductance_G0": "f8", "cycle": "i4", "segment": "i1", "compliance": "?",
        }
    }

    def check(self) -> None:
        v = self.values
        n = sum(s.size for _, s in segments(v["v_set"], v["v_reset"], v["step"]))
        if n < 4:
            raise ParameterError("step", v["step"], f"< v_set and v_reset ({n} points per loop)")
        if n > 10_000_000:
            raise ParameterError("step", v["step"],
                                 f">= {(2 * v['v_set'] + 2 * v['v_reset']) / 1e7:g} V "
                                 "(at most 1e7 points per loop)")

    def check_safety(self, safety: SafetyProfile) -> None:
        v = self.values
        safety.check_voltage("v_set", v["v_set"])
        safety.check_voltage("v_reset", -v["v_reset"])
        safety.check_compliance("compliance_set", v["compliance_set"])
        safety.check_compliance("compliance_reset", v["compliance_reset"])

    def points_per_cycle(self) -> int:
        v = self.values
        return sum(s.size for _, s in segments(v["v_set"], v["v_reset"], v["step"]))

    def estimated_duration(self) -> float:
        from drivers.keithley4200 import INTEGRATION_PLC

        v = self.values
        per_point = v["dwell"] + INTEGRATION_PLC[v["integration"]] / 60.0
        return self.points_per_cycle() * per_point * v["cycles"]

    def plan(self, ctx: RunContext) -> Iterator[Record | Step]:
        v = self.values
        segs = segments(v["v_set"], v["v_reset"], v["step"])
        total = v["cycles"] * len(segs)
        done = 0
        for cycle in range(v["cycles"]):
            for half, comp in (((1, 2), v["compliance_set"]), ((3, 4), v["compliance_reset"])):
                program = np.concatenate([s for k, s in segs if k in half])
                seg_id = np.concatenate([np.full(s.size, k, np.int8) for k, s in segs if k in half])
                for sl in chunks(program.size):
                    ctx.check_abort()
                    t0 = ctx.now()
                    data = ctx.instrument.list_sweep(
                        v["smu"], program[sl], comp, delay=v["dwell"],
                        integration=v["integration"], should_stop=ctx.should_abort,
                    )
                    n = data.current.size
                    volts = data.voltage
                    g = conductance_g0(volts, data.current)
                    yield Record("samples", as_columns(
                        time_s=t0 + data.time, v_program_V=program[sl][:n], voltage_V=volts,
                        current_A=data.current, conductance_G0=g, cycle=cycle,
                        segment=seg_id[sl][:n], compliance=data.compliance,
                    ))
                done += 2
                yield Step(done / total)
        yield STEP
