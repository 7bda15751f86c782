"""Argument checks shared by the driver and the protocol layer.

Every check raises :class:`ParameterError` naming the parameter, the value and the allowed
range *before* anything is sent: the instrument never sees an invalid value and nothing is
silently clipped.
"""

from __future__ import annotations

import math


class ParameterError(ValueError):
    """An argument outside what the instrument or the safety profile allows."""

    def __init__(self, name: str, value: object, allowed: str, *,
                 message: str | None = None) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(message or f"{name}={value!r} is out of range: allowed {allowed}")


def check_finite(name: str, value: float) -> float:
    """Reject NaN, inf and non-numbers."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(name, value, "a finite number") from None
    if not math.isfinite(v):
        raise ParameterError(name, value, "a finite number")
    return v


def check_range(name: str, value: float, lo: float, hi: float, unit: str = "",
                *, lo_open: bool = False) -> float:
    """``lo <= value <= hi`` (or ``lo < value`` with ``lo_open``), else ParameterError."""
    allowed = f"{'(' if lo_open else '['}{lo:g}, {hi:g}] {unit}".rstrip()
    try:
        v = check_finite(name, value)
    except ParameterError:
        raise ParameterError(name, value, f"a finite number in {allowed}") from None
    low_ok = v > lo if lo_open else v >= lo
    if not (low_ok and v <= hi):
        raise ParameterError(name, value, allowed)
    return v


def check_int(name: str, value: int, lo: int, hi: int) -> int:
    """Integer in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ParameterError(name, value, f"an integer in [{lo}, {hi}]")
    v = int(value)
    if not lo <= v <= hi:
        raise ParameterError(name, value, f"an integer in [{lo}, {hi}]")
    return v


def fmt_number(value: float) -> str:
    """Format a number for KXCI: at most 12 characters, at most 2 exponent digits [M 5-6]."""
    v = check_finite("value", value)
    for digits in range(7, 0, -1):
        text = f"{v:.{digits}g}"
        if len(text) <= 12:
            return text
    raise ParameterError("value", value, "a number that fits KXCI's 12 characters")


def fmt_numbers(values) -> list[str]:
    """:func:`fmt_number` of many values at once (a 4096-point list in a few ms): one
    ``%.7g`` per value, the rare one longer than 12 characters shortened by
    :func:`fmt_number`, which also rejects NaN and inf."""
    try:
        out = list(map("%.7g".__mod__, [float(v) for v in values]))
    except (TypeError, ValueError):
        return [fmt_number(v) for v in values]  # names the value that is not a number
    for k, text in enumerate(out):
        if len(text) > 12 or not text[-1].isdigit():  # long, or nan / inf
            out[k] = fmt_number(values[k])
    return out
