"""The contract between the simulated instrument and a simulated device: its types.

``DriveResult`` (what one drive returns) and ``DeviceModel`` (what a device offers) live
here, below every device model, so a model imports them without importing the module that
chooses the default device (:mod:`sim_backend.device`, which re-exports both).
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
