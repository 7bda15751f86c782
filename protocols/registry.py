"""Protocols by CLI name (the GUI builds its forms from these classes' ``params``)."""

from __future__ import annotations

from protocols.base import Protocol
from protocols.dc_sweep import DCSweep
from protocols.endurance import Endurance
from protocols.ltp_ltd import LTPLTD
from protocols.pulse_train import PulseTrain
from protocols.read_noise import ReadNoise
from protocols.reset_train import ResetTrain
from protocols.retention import Retention
from protocols.write_verify import WriteVerify

PROTOCOLS: dict[str, type[Protocol]] = {
    p.name: p
    for p in (DCSweep, PulseTrain, ResetTrain, LTPLTD, Retention, WriteVerify, Endurance,
              ReadNoise)
}


def get_protocol(name: str) -> type[Protocol]:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None
