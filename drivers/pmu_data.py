"""PMU data as returned by ``:PMU:DATA:GET`` [M 7-7, 7-38]: parsing and the status word.

A reply holds points separated by ``;`` and values by ``,``; a waveform point is
``V,I,T,S`` (e.g. ``0.00788628,-21.7246e-9,0,01020021`` [M 7-38]) and a spot-mean point is
``VH,IH,TH,SH,VL,IL,TL,SL``. ``S`` is a 32-bit status word printed in hex; its layout is
that of LPT ``pulse_fetch`` [LPT 6-23, 6-24] (reference note §1.10):

=========  =====================================================================
bits       meaning
=========  =====================================================================
27–24      RPM mode (0 no RPM in the path, 1 RPM)
19–16      measurement type (1 spot mean, 2 waveform)
15–12      compliance / threshold flags (the PMU has no true compliance: these are
           load-line / threshold flags, never an active current limit)
11–10      current overflow
9–8        voltage overflow
7–4        current range code (0 100 nA, 1 1 µA, 2 10 µA, 3 100 µA, 4 1 mA,
           5 10 mA, 6 200 mA, 7 800 mA)
3–2        voltage range (0 10 V, 1 40 V)
1–0        channel within the card (1 or 2)
=========  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: current range code of the status word -> amps [LPT 6-24]
I_RANGE_CODES = (100e-9, 1e-6, 10e-6, 100e-6, 1e-3, 10e-3, 0.2, 0.8)
V_RANGE_CODES = (10, 40)
#: most points per ``:PMU:DATA:GET`` and per channel and test [M 7-2, 7-7]
PAGE_POINTS = 2048
MAX_POINTS = 65536


@dataclass(frozen=True)
class PMUStatus:
    """Decoded status words, one entry per point (all numpy arrays)."""

    channel: np.ndarray
    v_range: np.ndarray
    i_range: np.ndarray
    i_overflow: np.ndarray
    v_overflow: np.ndarray
    flags: np.ndarray
    measure_type: np.ndarray
    rpm: np.ndarray


def decode_status(words: np.ndarray) -> PMUStatus:
    """Split 32-bit status words into their fields [LPT 6-23, 6-24]."""
    w = np.asarray(words, dtype=np.uint32)
    return PMUStatus(
        channel=(w & 0x3).astype(int),
        v_range=np.asarray(V_RANGE_CODES)[np.minimum((w >> 2) & 0x3, 1)],
        i_range=np.asarray(I_RANGE_CODES)[(w >> 4) & 0xF & 0x7],
        i_overflow=((w >> 10) & 0x3) != 0,
        v_overflow=((w >> 8) & 0x3) != 0,
        flags=((w >> 12) & 0xF).astype(int),
        measure_type=((w >> 16) & 0xF).astype(int),
        rpm=((w >> 24) & 0xF).astype(int),
    )


@dataclass
class PMUWaveform:
    """Waveform samples of one channel (``V,I,T,S`` points).

    ``current_bound`` is the largest current the declared series element allows
    (|V_source| / (50 Ω + R_series)); None when no series element was declared. It is a
    *bound from the circuit*, not an instrument compliance: the PMU has none.
    """

    voltage: np.ndarray
    current: np.ndarray
    time: np.ndarray
    status_word: np.ndarray
    current_bound: float | None = None

    @property
    def status(self) -> PMUStatus:
        return decode_status(self.status_word)

    def __len__(self) -> int:
        return int(self.voltage.size)


@dataclass
class PMUSpotMean:
    """Spot-mean records of one channel (``VH,IH,TH,SH,VL,IL,TL,SL`` points)."""

    v_high: np.ndarray
    i_high: np.ndarray
    t_high: np.ndarray
    status_high: np.ndarray
    v_low: np.ndarray
    i_low: np.ndarray
    t_low: np.ndarray
    status_low: np.ndarray

    def __len__(self) -> int:
        return int(self.v_high.size)


def _hex_words(items: list[str]) -> np.ndarray:
    """Hex status words -> uint32; one ``bytes.fromhex`` when all have 8 digits."""
    if all(len(x) == 8 for x in items):
        try:
            return np.frombuffer(bytes.fromhex("".join(items)), dtype=">u4").astype(np.uint32)
        except ValueError:
            pass
    return np.array([int(x, 16) for x in items], dtype=np.uint32)


def parse_points(text: str, fields: int) -> tuple[np.ndarray, ...]:
    """Split a ``DATA:GET`` reply into ``fields`` columns; every 4th column is a hex word.

    Vectorised: one ``split``, one float conversion per column, one ``bytes.fromhex`` for
    the status words.
    """
    text = text.strip().strip(";")
    if not text:
        return tuple(np.empty(0) for _ in range(fields))
    items = text.replace(";", ",").split(",")
    if len(items) % fields:
        raise ValueError(f"PMU data reply has {len(items)} values, not a multiple of {fields}")
    cols = []
    for k in range(fields):
        column = items[k::fields]
        cols.append(_hex_words(column) if k % 4 == 3 else np.array(column, dtype=float))
    return tuple(cols)
