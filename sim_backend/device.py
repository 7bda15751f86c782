"""The contract between the simulated instrument and a simulated two-terminal device.

The KXCI engine (``sim_backend.kxci``) turns every test it runs into a *drive*: a
piecewise-constant programmed source voltage with a current limit per step. The device
model evolves its internal state through that schedule in the instrument's virtual time
and returns what the instrument would measure at the end of each step, together with the
true state, so that analysis code can be validated against ground truth.

Compliance is the instrument's job, but it is coupled to the device state at every step
(the clamp reduces the voltage, which slows growth), so the model receives the limit and
applies the source clamp itself: ``|i| <= i_limit`` always, and ``compliance`` tells where
the clamp was active. That is how the "thickness knob" of compliance emerges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from analysis.constants import G0


@dataclass(frozen=True)
class DriveResult:
    """What the source measures at the end of each step, and the device's true state.

    Attributes
    ----------
    t : end-of-step virtual timestamps in s (the device clock, monotonic).
    v : voltage across the device terminals in V (below the programmed value in compliance).
    i : current through the device in A (sign follows the voltage).
    compliance : True where the source clamp limited the current.
    n_channels : true number of fully open conduction channels.
    partial : true transmission (0..1) of the partially open channel.
    open_transmission : optional, true summed transmission of the open channels (``n`` less
        the per-channel deficits; random once transport is diffusive). ``None`` if unknown.
    temperature : optional, filament temperature in K at the end of each step.
    """

    t: NDArray[np.float64]
    v: NDArray[np.float64]
    i: NDArray[np.float64]
    compliance: NDArray[np.bool_]
    n_channels: NDArray[np.int64]
    partial: NDArray[np.float64]
    open_transmission: NDArray[np.float64] | None = None
    temperature: NDArray[np.float64] | None = None

    @property
    def g_true_g0(self) -> NDArray[np.float64]:
        """True quantized conductance n + T_partial in G0 units (no series resistance)."""
        return self.n_channels + self.partial


class DeviceModel(Protocol):
    """A device wired between an instrument channel and ground."""

    #: the device's virtual clock in s
    time: float

    def drive(
        self,
        dt: ArrayLike,
        v_source: ArrayLike,
        i_limit: ArrayLike,
        r_source: float = 0.0,
    ) -> DriveResult:
        """Apply ``v_source[k]`` for ``dt[k]`` seconds, clamped at ``|i| <= i_limit[k]``.

        ``r_source`` is the source's output resistance (0 for an SMU, 50 Ohm for the PMU).
        Use ``np.inf`` for an unlimited step. The clock advances by ``sum(dt)``.
        """

    def rest(self, duration: float) -> None:
        """Let the device evolve at zero bias for ``duration`` seconds."""


class SimpleStepDevice:
    """A first stepwise quantized-conductance device (thin-path stand-in).

    Conductance is ``(n + T) G0`` in series with ``r_series``. Above a SET threshold each
    step may open a channel (alternately a half channel first, giving n + 1/2 plateaus);
    below a negative RESET threshold channels close. Growth stops while the source is in
    compliance. Deterministic for a given seed. The physics issue replaces this model with
    a Markov channel model; the contract above stays.
    """

    def __init__(
        self,
        seed: int = 0,
        n_max: int = 25,
        v_set: float = 1.1,
        v_reset: float = -1.5,
        rate: float = 60.0,
        r_series: float = 50.0,
        g_hrs: float = 0.02,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.n_max = n_max
        self.v_set = v_set
        self.v_reset = v_reset
        self.rate = rate
        self.r_series = r_series
        self.g_hrs = g_hrs
        self.half_steps = 0  # state in half-G0 units: n = half_steps // 2, T = 0.5 * (odd)
        self.time = 0.0

    def _g(self, half_steps: int) -> float:
        g_qc = 0.5 * half_steps * G0 if half_steps else self.g_hrs * G0
        return 1.0 / (1.0 / g_qc + self.r_series)

    def drive(
        self,
        dt: ArrayLike,
        v_source: ArrayLike,
        i_limit: ArrayLike,
        r_source: float = 0.0,
    ) -> DriveResult:
        v_src = np.asarray(v_source, dtype=float)
        dts = np.broadcast_to(np.asarray(dt, dtype=float), v_src.shape)
        ilim = np.broadcast_to(np.asarray(i_limit, dtype=float), v_src.shape)
        n = v_src.size
        out_v = np.empty(n)
        out_i = np.empty(n)
        comp = np.zeros(n, dtype=bool)
        half = np.empty(n, dtype=np.int64)
        # Jump probabilities are drawn for all steps at once; the state update is a scan
        # over the (few) steps above threshold only.
        u = self.rng.random(n)
        over = np.abs(v_src) - np.where(v_src >= 0, self.v_set, -self.v_reset)
        p = 1.0 - np.exp(-self.rate * dts * np.clip(over, 0.0, None))
        state = self.half_steps
        for k in range(n):
            g = self._g(state)
            g_tot = 1.0 / (1.0 / g + r_source)
            i = g_tot * v_src[k]
            clamped = abs(i) > ilim[k]
            if clamped:
                i = np.sign(i) * ilim[k]
            elif p[k] > 0.0 and u[k] < p[k]:
                if v_src[k] > 0 and state < 2 * self.n_max:
                    state += 1
                elif v_src[k] < 0 and state > 0:
                    state -= 1
                g = self._g(state)
                g_tot = 1.0 / (1.0 / g + r_source)
                i = g_tot * v_src[k]
                if abs(i) > ilim[k]:
                    i = np.sign(i) * ilim[k]
                    clamped = True
            out_i[k] = i
            out_v[k] = i / g
            comp[k] = clamped
            half[k] = state
        self.half_steps = state
        t = self.time + np.cumsum(dts)
        self.time = float(t[-1]) if n else self.time
        return DriveResult(
            t=t,
            v=out_v,
            i=out_i,
            compliance=comp,
            n_channels=half // 2,
            partial=0.5 * (half % 2),
        )

    def rest(self, duration: float) -> None:
        if duration < 0:
            raise ValueError(f"duration must be >= 0 s, got {duration!r}")
        self.time += duration


def default_device(seed: int = 0) -> DeviceModel:
    """The device the simulated instrument wires behind SMU1 / PMU channel 1.

    The physically grounded quantized-conductance memristor of
    :mod:`sim_backend.qc_device` (QPC conduction, Markov channel dynamics), calibrated to
    paper 000; ``seed`` draws its device-to-device parameters and all later randomness.
    """
    from sim_backend.qc_device import QCDevice  # imports DriveResult from this module

    return QCDevice(seed=seed)
