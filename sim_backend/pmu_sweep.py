"""Pulse sweeps and steps of the simulated 4225-PMU: ``:PMU:SWEEP:*`` and ``:PMU:STEP:*``
[M 7-25…7-31], a part of :class:`sim_backend.kxci.KXCIEngine`.

A sweeping channel varies its pulse amplitude, its base or its DC level from ``start`` to
``stop`` by ``step`` (and back with dual sweep); a stepping channel does the same one
value per full sweep of the sweeping channels. The test runs ``burst`` pulses at every
(step, sweep) point, step outermost. At ``:PMU:EXECUTE`` the manual's rules are checked:
a stepper needs a sweeper on another channel (-953, [M 2-13, 7-25]), all sweeping
channels have the same number of points (-948, [M 2-13, 7-28]), and levels stay inside
the source range with a span of at most the range (-967) [M 7-26, 7-29, 7-31].
Dual sweep goes start → stop → start without repeating ``stop`` (the manual refers to
the pulse-card manual for the details).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim_backend.kxci_common import KXCIError, parse_float, parse_int, split_args
from sim_backend.kxci_state import CardPart
from sim_backend.pmu_state import PulseChannel, pulse_channel, require_pmu_mode


@dataclass(frozen=True)
class SweepSpec:
    """One channel's sweep or step: what varies, its values and the fixed other level."""

    kind: str  # "AMPLITUDE", "BASE" or "DC"
    start: float
    stop: float
    step: float
    fixed: float = 0.0  # the base (AMPLITUDE) or the amplitude (BASE)
    dual: bool = False

    def values(self) -> np.ndarray:
        n = int(np.floor((self.stop - self.start) / self.step + 1e-9)) + 1
        up = self.start + self.step * np.arange(n)
        return np.concatenate([up, up[-2::-1]]) if self.dual else up

    def levels(self, value: float) -> tuple[float, float]:
        """(base, top) of the pulse at one sweep value."""
        if self.kind == "AMPLITUDE":
            return self.fixed, value
        if self.kind == "BASE":
            return value, self.fixed
        return value, value  # DC: a constant level


#: command -> (role, kind, number of arguments after the channel)
SWEEP_COMMANDS = {
    ":PMU:SWEEP:PULSE:AMPLITUDE": ("sweep", "AMPLITUDE", 5),  # [M 7-29]
    ":PMU:SWEEP:PULSE:BASE": ("sweep", "BASE", 5),  # [M 7-31]
    ":PMU:SWEEP:DC": ("sweep", "DC", 4),  # [M 7-28]
    ":PMU:STEP:PULSE:AMPLITUDE": ("step", "AMPLITUDE", 4),  # [M 7-26]
    ":PMU:STEP:PULSE:BASE": ("step", "BASE", 4),  # [M 7-27]
    ":PMU:STEP:DC": ("step", "DC", 3),  # [M 7-25]
}
#: most spot-mean (pulse I-V) records per channel and test (-949) [M 2-13, 7-2]
MAX_PIV_POINTS = 65536


class PMUSweeps(CardPart):
    """``:PMU:SWEEP:*`` / ``:PMU:STEP:*`` handlers and the per-point pulse levels."""

    def handlers(self) -> dict:
        return {name: self._sweep_command(*spec) for name, spec in SWEEP_COMMANDS.items()}

    def _sweep_command(self, role: str, kind: str, n_args: int):
        def handler(rest: str) -> None:
            """``ch, start, stop, step[, fixed level][, dualSweep]`` [M 7-25…7-31]."""
            require_pmu_mode(self.st, 0)
            args = split_args(rest)
            if len(args) != n_args + 1:
                raise KXCIError(-969, f"{len(args)} arguments, expected {n_args + 1}")
            ch = pulse_channel(self.st, args[0])
            start, stop, step = (parse_float(a, -969) for a in args[1:4])
            fixed = parse_float(args[4], -969) if kind != "DC" else 0.0
            dual = False
            if role == "sweep":
                dual = parse_int(args[-1], 0, 1, -969) == 1
            if step == 0 or (stop - start) * step < 0:
                raise KXCIError(-969, f"step {step} from {start} to {stop}")
            spec = SweepSpec(kind, start, stop, step, fixed, dual)
            if spec.values().size > MAX_PIV_POINTS:
                raise KXCIError(-969, f"{spec.values().size} points")
            ch.sweep, ch.step = (spec, None) if role == "sweep" else (None, spec)

        return handler


def pulse_points(active: list[PulseChannel]) -> dict[int, list[tuple[float, float]]]:
    """(base, top) of every (step, sweep) point for each active channel [M 7-25]."""
    sweepers = [c for c in active if c.sweep is not None]
    steppers = [c for c in active if c.step is not None]
    if steppers and not sweepers:
        raise KXCIError(-953)
    n_sweep = {c.sweep.values().size for c in sweepers}
    n_step = {c.step.values().size for c in steppers}
    if len(n_sweep) > 1 or len(n_step) > 1:
        raise KXCIError(-948)
    ns = n_sweep.pop() if n_sweep else 1
    nt = n_step.pop() if n_step else 1
    points = {}
    for c in active:
        pts = _channel_points(c, ns, nt)
        _check_levels(c, pts)
        points[c.number] = pts
    return points


def _channel_points(c: PulseChannel, ns: int, nt: int) -> list[tuple[float, float]]:
    """One channel's levels: its sweep repeated per step, its step held per sweep, or its
    fixed pulse at every point."""
    if c.sweep is not None:
        return [c.sweep.levels(v) for v in np.tile(c.sweep.values(), nt).tolist()]
    if c.step is not None:
        return [c.step.levels(v) for v in np.repeat(c.step.values(), ns).tolist()]
    return [(c.base, c.amplitude)] * (ns * nt)


def _check_levels(c: PulseChannel, pts: list[tuple[float, float]]) -> None:
    """Levels inside the source range with a span of at most the range (-967)."""
    limit = c.v_range * (1 + 1e-9)
    for base, top in pts:
        if max(abs(base), abs(top)) > limit or abs(top - base) > limit:
            raise KXCIError(-967, f"levels {base:g}, {top:g} V on the "
                            f"{c.v_range} V range of channel {c.number}")
