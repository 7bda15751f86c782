"""The contract between the simulated instrument and a simulated device: its types.

``DriveResult`` (what one drive returns) and ``DeviceModel`` (what a device offers) live
here, below every device model, so a model imports them without importing the module that
chooses the default device (:mod:`sim_backend.device`, which re-exports both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: a column of the device's true state: the array, or a function that builds it
Truth = NDArray[Any] | Callable[[], NDArray[Any]] | None


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

    The true-state columns may be given as functions that build them: they are built on
    first access and kept. Why: the simulated instrument reads only ``t, v, i,
    compliance``; the truth is for tests and diagnostics, and writing four more columns
    per step would be a large part of a long PMU waveform's cost.
    """

    __slots__ = ("t", "v", "i", "compliance", "_truth")

    def __init__(self, t: NDArray[np.float64], v: NDArray[np.float64],
                 i: NDArray[np.float64], compliance: NDArray[np.bool_], n_channels: Truth,
                 partial: Truth, open_transmission: Truth = None,
                 temperature: Truth = None) -> None:
        self.t, self.v, self.i, self.compliance = t, v, i, compliance
        self._truth: dict[str, Truth] = {
            "n_channels": n_channels, "partial": partial,
            "open_transmission": open_transmission, "temperature": temperature}

    def _column(self, name: str) -> NDArray[Any] | None:
        col = self._truth[name]
        if callable(col):
            col = self._truth[name] = col()
        return col

    @property
    def n_channels(self) -> NDArray[np.int64]:
        col = self._column("n_channels")
        assert col is not None
        return col

    @property
    def partial(self) -> NDArray[np.float64]:
        col = self._column("partial")
        assert col is not None
        return col

    @property
    def open_transmission(self) -> NDArray[np.float64] | None:
        return self._column("open_transmission")

    @property
    def temperature(self) -> NDArray[np.float64] | None:
        return self._column("temperature")

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
