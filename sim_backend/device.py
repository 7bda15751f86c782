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

from sim_backend.device_model import DeviceModel, DriveResult
from sim_backend.qc_device import QCDevice

__all__ = ["DeviceModel", "DriveResult", "default_device"]


def default_device(seed: int = 0) -> DeviceModel:
    """The device the simulated instrument wires behind SMU1 / PMU channel 1.

    The physically grounded quantized-conductance memristor of
    :mod:`sim_backend.qc_device` (QPC conduction, Markov channel dynamics), calibrated to
    paper 000; ``seed`` draws its device-to-device parameters and all later randomness.
    """
    return QCDevice(seed=seed)
