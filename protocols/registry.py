"""Protocols by CLI name."""

from __future__ import annotations

from protocols.base import Protocol
from protocols.dc_sweep import DCSweep

PROTOCOLS: dict[str, type[Protocol]] = {p.name: p for p in (DCSweep,)}


def get_protocol(name: str) -> type[Protocol]:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None
