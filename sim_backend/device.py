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


def default_device(seed: int = 0) -> DeviceModel:
    """The device the simulated instrument wires behind SMU1 / PMU channel 1.

    The physically grounded quantized-conductance memristor of
    :mod:`sim_backend.qc_device` (QPC conduction, Markov channel dynamics), calibrated to
    paper 000; ``seed`` draws its device-to-device parameters and all later randomness.
    """
    from sim_backend.qc_device import QCDevice  # imports DriveResult from this module

    return QCDevice(seed=seed)
