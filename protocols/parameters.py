"""Typed protocol parameters with units, limits and documentation.

A protocol declares its parameters as :class:`Param` objects; the same declarations drive
validation (before anything is sent), the CLI's ``--set name=value`` parsing (SI values,
optionally with a unit suffix such as ``5mA``), the GUI's generated forms and the units
stored in the run file.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from drivers.validation import ParameterError

#: SI prefixes as powers of ten (decimal arithmetic: "100uA" is exactly 1e-4, not 9.99e-5)
_PREFIX = {"p": -12, "n": -9, "u": -6, "µ": -6, "m": -3, "": 0, "k": 3, "M": 6}

#: the quantity each unit measures, so a value in the wrong unit is named as such
QUANTITY = {"V": "voltage", "A": "current", "s": "time", "Hz": "frequency",
            "G0": "conductance in G0", "S": "conductance", "Ω": "resistance",
            "ohm": "resistance", "W": "power"}

_NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)")


class NotANumberError(ParameterError):
    """A value that does not read as a number (with an optional SI prefix and unit)."""

    def __init__(self, param: Param, text: str) -> None:
        bounded = param.lo is not None or param.hi is not None
        super().__init__(param.name, text, param.allowed(), message=(
            f"{param.name}={text!r} is not a number; {param.name} takes {param.takes()}"
            + (f", allowed {param.allowed()}" if bounded else "")))


class WrongUnitError(ParameterError):
    """A number given in another quantity's unit, e.g. ``5mV`` for a current."""

    def __init__(self, param: Param, text: str, unit: str) -> None:
        super().__init__(param.name, text, param.allowed(), message=(
            f"{text} is a{'n' if QUANTITY[unit][0] in 'aeiou' else ''} {QUANTITY[unit]}; "
            f"{param.name} takes {param.takes()}"))


class UnknownParameterError(ParameterError):
    """A parameter name the protocol does not declare; suggests the closest one."""

    def __init__(self, name: str, value: object, known: Sequence[str],
                 protocol: str = "") -> None:
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        of = f" ({protocol})" if protocol else ""
        super().__init__(name, value, f"a parameter of this protocol: {sorted(known)}", message=(
            f"unknown parameter {name!r}: not a parameter of this protocol{of}{hint} "
            f"(parameters: {', '.join(known)})"))
        self.suggestion = close[0] if close else ""


def split_quantity(text: str) -> tuple[float, str] | None:
    """``"5mA"`` -> ``(0.005, "A")``; ``"5m"`` -> ``(0.005, "")``; None if not a number.

    Accepts a plain number (also ``nan``/``inf``, refused later by the range check),
    or a number followed by an SI prefix and/or a unit of :data:`QUANTITY`.
    """
    text = text.strip()
    try:
        return float(text), ""
    except ValueError:
        pass
    m = _NUMBER.fullmatch(text)
    if not m:
        return None
    suffix = m.group(2)
    for unit in sorted(QUANTITY, key=len, reverse=True):
        if suffix.endswith(unit) and suffix[: len(suffix) - len(unit)] in _PREFIX:
            prefix = suffix[: len(suffix) - len(unit)]
            return float(Decimal(m.group(1)).scaleb(_PREFIX[prefix])), unit
    if suffix in _PREFIX:
        return float(Decimal(m.group(1)).scaleb(_PREFIX[suffix])), ""
    return None


def parse_quantity(param: Param, text: str) -> float:
    """One number for ``param`` from text, its unit checked (not its range)."""
    got = split_quantity(str(text))
    if got is None:
        raise NotANumberError(param, str(text).strip())
    value, unit = got
    if unit and unit != param.unit and not {unit, param.unit} <= {"Ω", "ohm"}:
        raise WrongUnitError(param, str(text).strip(), unit)
    return value


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

    def takes(self) -> str:
        """What the parameter takes, in words: "a current in A", "an integer"."""
        if self.kind == "str":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "int":
            return "an integer"
        what = QUANTITY.get(self.unit)
        one = f"a {what} in {self.unit}" if what else (
            f"a number in {self.unit}" if self.unit else "a plain number")
        return f"a comma-separated list of {one[2:]}s" if self.kind == "floats" else one

    def describe(self) -> str:
        """One line for ``--help``: unit, default, range and doc."""
        unit = f" [{self.unit}]" if self.unit else ""
        default = self.default
        if self.kind == "floats":
            default = ", ".join(f"{v:g}" for v in default) or "empty"
        elif self.kind == "float":
            default = f"{default:g}"
        return f"{self.name}{unit}: {self.doc} (default {default}; allowed {self.allowed()})"

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
            return self.validate(text)  # refused, as not a choice
        if self.kind == "floats":
            items = [x for x in re.split(r"[,\s]+", text) if x]
            return self.validate([self._number(x) for x in items])
        return self.validate(self._number(text))

    def _number(self, text: str) -> float:
        return parse_quantity(self, text)

    def validate(self, value: Any) -> Any:
        """Return the checked value or raise :class:`ParameterError`."""
        if self.kind in ("str", "bool"):
            ok = value in self.choices if self.kind == "str" else isinstance(value, bool)
            if not ok:
                close = difflib.get_close_matches(str(value), self.choices, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ParameterError(self.name, value, self.allowed(), message=(
                    f"{self.name}={value!r} is not a choice; allowed {self.allowed()}{hint}"))
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
            if v == 0 and self.safety == "current":
                # a compliance is never "none": 0 once meant the safety profile's maximum
                raise ParameterError(self.name, value, self.allowed() + " (a compliance is "
                                     "always explicit; 0 is not 'none')")
            raise ParameterError(self.name, value, self.allowed())
        if self.hi is not None and v > self.hi:
            raise ParameterError(self.name, value, self.allowed())
        return v


def resolve(params: Sequence[Param], values: Mapping[str, Any],
            protocol: str = "") -> dict[str, Any]:
    """Defaults overlaid with ``values``, each validated; unknown names are an error."""
    known = {p.name: p for p in params}
    unknown = set(values) - set(known)
    if unknown:
        name = sorted(unknown)[0]
        raise UnknownParameterError(name, values[name], list(known), protocol)
    out = {}
    for p in params:
        out[p.name] = p.validate(values[p.name]) if p.name in values else p.default
    return out


#: the Python type of a value of each ``Param.kind`` (a list is stored as a tuple: frozen)
KIND_TYPES: dict[str, Any] = {"float": float, "int": int, "bool": bool, "str": str,
                              "floats": tuple[float, ...]}


class ParamValues:
    """A protocol's parameter values: one frozen, typed attribute per :class:`Param`.

    Built by :func:`values_class` from a protocol's declarations, so a protocol reads
    ``self.values.v_set`` (a float in V) instead of looking a name up in a dict, a typo is
    an ``AttributeError`` at the first run, and the unit of every attribute is known
    (:meth:`unit`). Lists (``kind="floats"``) are tuples here, so the object cannot change
    after the protocol validated it; :meth:`as_dict` gives them back as lists, the form
    the run file, presets and the GUI's forms use.
    """

    params: ClassVar[tuple[Param, ...]] = ()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ParamValues:
        """From validated values by name (as :func:`resolve` returns them)."""
        return cls(**{p.name: _frozen(values[p.name]) for p in cls.params})

    @classmethod
    def unit(cls, name: str) -> str:
        """The unit of parameter ``name`` (``""`` for a plain number or a choice)."""
        return cls._param(name).unit

    @classmethod
    def _param(cls, name: str) -> Param:
        for p in cls.params:
            if p.name == name:
                return p
        raise UnknownParameterError(name, None, [p.name for p in cls.params])

    def items(self) -> Iterator[tuple[Param, Any]]:
        """``(declaration, value)`` in declaration order (lists as lists)."""
        for p in self.params:
            yield p, _thawed(getattr(self, p.name))

    def as_dict(self) -> dict[str, Any]:
        """``{name: value}`` in declaration order; lists as lists."""
        return {p.name: value for p, value in self.items()}

    def with_units(self) -> dict[str, tuple[Any, str]]:
        """``{name: (value, unit)}``, what the run file stores as parameters."""
        return {p.name: (value, p.unit) for p, value in self.items()}


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _thawed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def values_class(name: str, params: Sequence[Param], module: str = __name__,
                 qualname: str | None = None) -> type[ParamValues]:
    """A frozen dataclass with one typed field per declaration (unit in its metadata)."""
    clash = sorted({p.name for p in params} & set(dir(ParamValues)))
    if clash:
        raise ValueError(f"{name}: parameter name(s) {clash} clash with ParamValues methods")
    fields = [(p.name, KIND_TYPES.get(p.kind, Any),
               dataclasses.field(metadata={"unit": p.unit, "param": p})) for p in params]
    cls = dataclasses.make_dataclass(name, fields, bases=(ParamValues,), frozen=True,
                                     namespace={"params": tuple(params)})
    cls.__module__ = module
    cls.__qualname__ = qualname or name
    return cls


def parse_assignments(params: Sequence[Param], items: Sequence[str],
                      protocol: str = "") -> dict[str, Any]:
    """Parse CLI ``name=value`` items against the declarations."""
    known = {p.name: p for p in params}
    example = f"{params[0].name}={params[0].default}" if params else "name=value"
    out: dict[str, Any] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not eq or not name:
            missing = "no '='" if not eq else "no parameter name before '='"
            raise ParameterError("--set", item, "name=value", message=(
                f"--set={item!r} has {missing}: write name=value, e.g. {example}"))
        if name not in known:
            raise UnknownParameterError(name, text, list(known), protocol)
        out[name] = known[name].parse(text)
    return out
