"""Write-verify: program the conductance to a target in G0 units, closed loop.

After an initial read, each iteration compares the read conductance G with the target:
within tolerance ends the run (converged); below the target applies a SET pulse
(positive), above it a RESET pulse (negative). Pulses of one polarity grow by ``v_step``
from ``v_start`` up to ``v_max`` (incremental step pulse programming); a change of
polarity starts that polarity's ramp again at ``v_start`` and counts as a reversal.

It fails, with the reason stored as the run's outcome, after ``max_reversals`` polarity
reversals (the target sits between two reachable levels), after ``limit_pulses``
pulses in a row at ``v_max`` that bring G no closer to the target (not reachable with
the allowed amplitude and compliance), or after ``max_pulses`` pulses. The tolerance is
relative (fraction of the target, default 5 % as in the literature's write-verify) or
absolute (in G0).
Every pulse and read is recorded (``pulses``, ``samples``).
"""

from __future__ import annotations

from collections.abc import Iterator

from drivers.keithley4200 import SMU_V_MAX
from drivers.validation import ParameterError
from protocols import pulse_base as pb
from protocols import pulsing
from protocols.base import STEP, Outcome, Record, RunContext, Step
from protocols.parameters import Param


class WriteVerify(pb.PulseProtocol):
    """Closed-loop programming to ``target_g0``."""

    name = "write-verify"
    title = "Write-verify to a target conductance"
    params = (
        Param("target_g0", 5.5, "G0", 0.0, 1000.0, "target conductance in units of G0",
              lo_open=True),
        Param("tolerance", 0.05, "", 0.0, 1000.0,
              "allowed |G - target|: fraction of the target (relative) or G0 (absolute)",
              lo_open=True),
        Param("tolerance_mode", "relative", "", doc="how tolerance is read", kind="str",
              choices=("relative", "absolute")),
        Param("v_start", 0.8, "V", 0.0, SMU_V_MAX, "first pulse amplitude of a ramp",
              lo_open=True),
        Param("v_step", 0.05, "V", 0.0, SMU_V_MAX, "amplitude increment per pulse"),
        Param("v_max", 2.5, "V", 0.0, SMU_V_MAX, "largest pulse amplitude", lo_open=True,
              safety="voltage"),
        pb.width_param(5e-3),
        Param("max_pulses", 300, "", 1, 1_000_000, "give up after this many pulses",
              kind="int"),
        Param("max_reversals", 16, "", 0, 100_000,
              "give up after this many SET/RESET polarity reversals", kind="int"),
        Param("limit_pulses", 25, "", 1, 100_000,
              "give up after this many pulses at v_max in a row that bring G no closer "
              "to the target", kind="int"),
        Param("v_read", 0.1, "V", 0.0, SMU_V_MAX, "read voltage", lo_open=True,
              safety="voltage"),
        pb.read_width_param(5e-3),
        pb.period_param(0.01),
        pb.compliance_param("compliance_set", 2e-3, "SET pulse compliance"),
        pb.compliance_param("compliance_reset", 0.02, "RESET pulse compliance"),
        pb.READ_COMPLIANCE_PARAM,
        pb.SMU_PARAM,
    )

    def check(self) -> None:
        super().check()
        v = self.values
        if v.v_start > v.v_max:
            raise ParameterError("v_start", v.v_start, f"<= v_max = {v.v_max:g} V")

    def tolerance_g0(self) -> float:
        v = self.values
        if v.tolerance_mode == "relative":
            return v.tolerance * v.target_g0
        return v.tolerance

    def estimated_duration(self) -> float:
        v = self.values
        return v.max_pulses * max(v.period, v.width + v.read_width)

    def plan(self, ctx: RunContext) -> Iterator[Record | Step]:
        v = self.values
        target, tol = v.target_g0, self.tolerance_g0()
        g = yield from self.initial_read(ctx, v.v_read)
        amp = {pulsing.SET: v.v_start, pulsing.RESET: v.v_start}
        last, reversals, pulses, at_limit, best = 0, 0, 0, 0, float("inf")
        reason = ""
        while True:
            if abs(g - target) <= tol:
                break
            direction = pulsing.SET if g < target else pulsing.RESET
            if last and direction != last:
                reversals += 1
                amp[direction] = v.v_start
                at_limit, best = 0, float("inf")
                if reversals > v.max_reversals:
                    reason = (f"{reversals} polarity reversals (max_reversals="
                              f"{v.max_reversals}) without reaching {target:g} G0")
                    break
            if pulses >= v.max_pulses:
                reason = f"max_pulses={v.max_pulses} reached"
                break
            a = min(amp[direction], v.v_max)
            err = abs(g - target)
            if a >= v.v_max - 1e-12:
                at_limit = at_limit + 1 if err >= best - 1e-9 else 1
                best = min(best, err)
                if at_limit > v.limit_pulses:
                    kind = "SET" if direction > 0 else "RESET"
                    reason = (f"amplitude limit: {v.limit_pulses} {kind} pulses at "
                              f"v_max={v.v_max:g} V did not reach {target:g} G0")
                    break
            comp = v.compliance_set if direction > 0 else v.compliance_reset
            pulses += 1
            g = yield from self.write_read(ctx, pulses, 0, direction, direction * a,
                                           v.v_read, comp)
            amp[direction] = a + v.v_step
            last = direction
            yield Step(min(0.99, pulses / v.max_pulses))
        converged = not reason
        ctx.outcome = Outcome(converged, reason or "within tolerance", {
            "target_g0": target, "tolerance_g0": tol, "final_g0": g, "pulses": pulses,
            "reversals": reversals,
        })
        if not converged:
            ctx.log(f"write-verify did not converge: {reason} (G = {g:.3g} G0)")
        yield STEP
