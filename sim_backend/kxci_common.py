"""Shared pieces of the simulated 4200A: the KXCI error exception, argument parsing, formats.

Error codes and texts are the manual's [M 2-12, 2-13], in :mod:`sim_backend.kxci_errors`.
"""

from __future__ import annotations

import re

import numpy as np

from sim_backend.kxci_errors import ERROR_TEXT, KXCIErrorCode

#: KXCI error codes and messages [M 2-12, 2-13]; the table lives in
#: :mod:`sim_backend.kxci_errors` (one enum for every card)
ERRORS: dict[int, str] = ERROR_TEXT

# Status byte bits [M 3-3]
SB_DATA_READY = 1
SB_SYNTAX_ERROR = 2
SB_BUSY = 16
SB_RQS = 64


class KXCIError(Exception):
    """A command the instrument rejects; carries the KXCI error code."""

    def __init__(self, code: int | KXCIErrorCode, detail: str = "") -> None:
        code = int(code)
        self.code = code
        self.detail = detail
        super().__init__(f"{ERRORS.get(code, 'Error.')} ({code}) {detail}".strip())


def fmt_value(value: float) -> str:
    """A reading as the instrument prints it: sign, 5 significant digits, 2-digit exponent.

    ``+1.2345E-03`` is 11 characters, inside KXCI's 12-character limit [M 5-6].
    """
    return f"{value:+.4E}"


def split_args(text: str) -> list[str]:
    """Comma-separated arguments, whitespace stripped [M 5-6]."""
    return [a.strip() for a in text.split(",")] if text.strip() else []


def parse_float(text: str, code: int = -993) -> float:
    """A KXCI number: <= 12 characters [M 5-6], finite."""
    text = text.strip()
    if len(text) > 12:
        raise KXCIError(code, f"number longer than 12 characters: {text!r}")
    try:
        value = float(text)
    except ValueError as exc:
        raise KXCIError(code, f"not a number: {text!r}") from exc
    if not np.isfinite(value):
        raise KXCIError(code, f"not a number: {text!r}")
    return value


def parse_floats(texts: list[str], code: int = -993) -> np.ndarray:
    """Many KXCI numbers at once (a 4096-point list), with :func:`parse_float`'s rules."""
    try:
        if max(map(len, texts), default=0) <= 12:
            values = np.array(texts, dtype=float)
            if np.all(np.isfinite(values)):
                return values
    except ValueError:
        pass
    return np.array([parse_float(t, code) for t in texts])  # names the bad one


def parse_int(text: str, lo: int, hi: int, code: int = -993) -> int:
    """An integer argument in [lo, hi] (``1``, ``1.0`` and ``1E3`` accepted)."""
    value = parse_float(text, code)
    if value != int(value) or not lo <= value <= hi:
        raise KXCIError(code, f"{text!r} not an integer in [{lo}, {hi}]")
    return int(value)


def lookup_channel(table: dict, text: str, bad: int, missing: int):
    """The channel numbered ``text`` in ``table``; error ``bad`` for a non-number,
    ``missing`` for a channel the mainframe does not have."""
    try:
        n = int(text)
    except ValueError as exc:
        raise KXCIError(bad, f"channel {text!r}") from exc
    if n not in table:
        raise KXCIError(missing, f"no channel {n}")
    return table[n]


def parse_name(text: str) -> str:
    """A quoted function name of at most 6 characters: ``'V1'`` [M 5-7]."""
    m = re.fullmatch(r"'([^']{0,6})'", text.strip())
    if not m:
        raise KXCIError(-993, f"name {text!r}")
    return m.group(1)
