"""What the 4200A sends back: errors, SMU readings with their status letters, sweep data.

SMU readings carry a status letter that must not be dropped [M 3-1…3-3]: ``N`` normal,
``C`` this channel in compliance (Rev. E lists only these two); the 2017 reference manual
adds ``L`` interval too short, ``V`` A/D overflow, ``X`` oscillation, ``T`` another
channel in compliance, which are parsed as well so that an older firmware cannot break
the parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Readings above this are the instrument's overflow / "not mapped" marker (9.000E+37) [M 5-8].
OVERFLOW_MARKER = 1e37


class InstrumentError(Exception):
    """An error reported by the instrument: KXCI code and text [M 2-12, 4-2]."""

    def __init__(self, code: int, text: str, command: str = "") -> None:
        self.code = code
        self.text = text
        self.command = command
        where = f" after {command!r}" if command else ""
        super().__init__(f"4200A error {code}: {text}{where}")


class CommunicationError(ConnectionError):
    """The instrument did not answer, the connection broke, or a reply was unreadable.

    Always names the command it happened on, so a run's failure reason says what failed.
    """

    def __init__(self, command: str, detail: str) -> None:
        self.command = command
        self.detail = detail
        super().__init__(f"4200A: {detail} (command {command!r})")


class InstrumentTimeout(CommunicationError, TimeoutError):
    """No reply within the I/O timeout."""


@dataclass(frozen=True)
class Reading:
    """One SMU reading with its status letter (``N`` normal, ``C`` compliance, ...)."""

    value: float
    status: str

    @property
    def compliance(self) -> bool:
        """True when *this* channel was in compliance (letter ``C``) [M 3-1]."""
        return self.status == "C"

    @property
    def overflow(self) -> bool:
        """A/D overflow (``V``) or the 9E+37 marker of an unmapped channel [M 5-8]."""
        return self.status == "V" or abs(self.value) > OVERFLOW_MARKER


_READING_RE = re.compile(r"\s*([A-Z])(?:[A-Z][VI])?\s*([-+]?[0-9.]+(?:[Ee][-+]?\d+)?)\s*")


def parse_reading(text: str) -> Reading:
    """Parse ``XYZ+N.NNNNE-NN`` (user mode ``TI``/``TV`` [M 3-2]) or ``X+N.NNNNE-NN`` /
    ``X N.NNE-NN`` (``DO`` list items [M 2-11, 5-38])."""
    m = _READING_RE.fullmatch(text)
    if not m:
        raise ValueError(f"cannot parse 4200A reading {text!r}")
    return Reading(float(m.group(2)), m.group(1))


def parse_reading_list(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Values and status letters of a ``DO`` reply, as numpy arrays [M 5-38].

    Items without a status letter (plain numbers) get status ``N``.
    """
    text = text.strip().rstrip(",")
    if not text:
        return np.empty(0), np.empty(0, dtype="<U1")
    items = text.split(",")
    # Fast path for the usual ``X+N.NNNNE-NN`` items: one vectorised conversion instead of
    # a regular expression per reading (a 4096-point DO reply parses in ~1 ms).
    letters = [it[:1] for it in items]
    if all(c.isalpha() and c.isupper() for c in set(letters)):
        try:
            values = np.array([it[1:] for it in items], dtype=float)
        except ValueError:
            pass  # e.g. ``NAI+...`` items with a channel letter: the general path below
        else:
            return values, np.array(letters, dtype="<U1")
    values = np.empty(len(items))
    status = np.empty(len(items), dtype="<U1")
    for k, item in enumerate(items):
        item = item.strip()
        if item and item[0].isalpha():
            r = parse_reading(item)
            values[k], status[k] = r.value, r.status
        else:
            values[k], status[k] = float(item), "N"
    return values, status


@dataclass
class SweepData:
    """Result of one system-mode test on one SMU.

    Attributes
    ----------
    voltage, current : measured per point (V, A).
    time : timestamps per point in s, relative to the test start (``CHnT``) [M 5-38].
    compliance : True where the point's status letter was ``C``.
    program : the programmed source value per point (the list that was sent), when known.
    """

    voltage: np.ndarray
    current: np.ndarray
    time: np.ndarray
    compliance: np.ndarray
    program: np.ndarray | None = None
