"""Typed protocol parameters with units, limits and documentation.

A protocol declares its parameters as :class:`Param` objects; the same declarations drive
validation (before anything is sent), the CLI's ``--set name=value`` parsing (SI values,
optionally with a unit suffix such as ``5mA``), the GUI's generated forms and the units
stored in the run file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from drivers.validation import ParameterError

#: SI prefixes as powers of ten (decimal arithmetic: "100uA" is exactly 1e-4, not 9.99e-5)
_PREFIX = {"p": -12, "n": -9, "u": -6, "µ": -6, "m": -3, "": 0, "k": 3, "M": 6}


@dataclass(frozen=True)
class Param:
    """One protocol parameter.

    ``kind`` is ``float``, ``int``, ``bool``, ``str`` (with ``choices``) or ``floats``
    (a comma-separated list, e.g. a compliance ladder). ``safety`` marks a value the
    device's safety profile limits: ``"voltage"`` (|value| <= max voltage) or
    ``"current"`` (value <= max compliance); the engine checks those before a run.
    """

    name: str
    default: Any
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    doc: str = ""
    kind: str = "float"
    choices: tuple[str, ...] = ()
    lo_open: bool = False
    safety: str = ""

    def allowed(self) -> str:
        if self.kind == "str":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "bool":
            return "true or false"
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        bracket = "(" if self.lo_open else "["
        what = "integer in " if self.kind == "int" else ""
        return f"{what}{bracket}{lo}, {hi}] {self.unit}".rstrip()

    def parse(self, text: str) -> Any:
        """Parse a CLI/GUI string, accepting an SI prefix + this parameter's unit."""
        text = text.strip()
        if self.kind == "str":
            return self.validate(text)
        if self.kind == "bool":
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ParameterError(self.name, text, self.allowed())
        if self.kind == "floats":
            items = [x for x in re.split(r"[,\s]+", text) if x]
            return self.validate([self._number(x) for x in items])
        return self.validate(self._number(text))

    def _number(self, text: str) -> float:
        unit = re.escape(self.unit) if self.unit else ""
        m = re.fullmatch(rf"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([pnuµmkM]?)(?:{unit})?",
                         text) if unit else None
        if m:
            return float(Decimal(m.group(1)).scaleb(_PREFIX[m.group(2)]))
        try:
            return float(text)
        except ValueError:
            raise ParameterError(self.name, text, self.allowed()) from None

    def validate(self, value: Any) -> Any:
        """Return the checked value or raise :class:`ParameterError`."""
        if self.kind == "str":
            if value not in self.choices:
                raise ParameterError(self.name, value, self.allowed())
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ParameterError(self.name, value, self.allowed())
            return value
        if self.kind == "floats":
            if isinstance(value, int | float):
                value = [value]
            if not isinstance(value, Sequence) or len(value) == 0:
                raise ParameterError(self.name, value, "a non-empty list of " + self.allowed())
            return [self._check_number(v) for v in value]
        v = self._check_number(value)
        if self.kind == "int":
            if v != int(v):
                raise ParameterError(self.name, value, self.allowed())
            return int(v)
        return v

    def _check_number(self, value: Any) -> float:
        if isinstance(value, bool):
            raise ParameterError(self.name, value, self.allowed())
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ParameterError(self.name, value, self.allowed()) from None
        if not math.isfinite(v):
            raise ParameterError(self.name, value, self.allowed())
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            raise ParameterError(self.name, value, self.allowed())
        if self.hi is not None and v > self.hi:
            raise ParameterError(self.name, value, self.allowed())
        return v


def resolve(params: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``values``, each validated; unknown names are an error."""
    known = {p.name: p for p in params}
    unknown = set(values) - set(known)
    if unknown:
        name = sorted(unknown)[0]
        raise ParameterError(name, values[name], f"a parameter of this protocol: {sorted(known)}")
    out = {}
    for p in params:
        out[p.name] = p.validate(values[p.name]) if p.name in values else p.default
    return out


def parse_assignments(params: Sequence[Param], items: Sequence[str]) -> dict[str, Any]:
    """Parse CLI ``name=value`` items against the declarations."""
    known = {p.name: p for p in params}
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ParameterError("--set", item, "name=value")
        name, _, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if name not in known:
            raise ParameterError(name, text, f"a parameter of this protocol: {sorted(known)}")
        out[name] = known[name].parse(text)
    return out
