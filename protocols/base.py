"""The contract of a protocol: typed parameters in, a stream of records out.

A protocol is a small class with a ``name``, its :class:`~protocols.parameters.Param`
declarations, the streams it writes, and :meth:`Protocol.plan`: a generator that talks to
the instrument through the :class:`RunContext` and yields :class:`Record` objects (data
rows; a list of records is stored as one unit, e.g. what a test measured before an abort)
and :data:`STEP` markers (a point where *stop* may end the run cleanly). The run
engine owns everything else: validation order, the run file, stop/abort, safe state.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from drivers.clock import Clock, clock_for
from drivers.keithley4200 import SMU_I_MAX, SMU_V_MAX, Keithley4200A
from drivers.validation import ParameterError, check_range
from protocols.parameters import Param, ParamValues, resolve, values_class


@dataclass(frozen=True)
class SafetyProfile:
    """Per-device limits the user sets; every protocol is checked against them."""

    max_voltage: float = 5.0
    max_compliance: float = 0.02

    def __post_init__(self) -> None:
        # A NaN limit would make every comparison false and silently disable the check.
        check_range("max_voltage", self.max_voltage, 0.0, SMU_V_MAX, "V", lo_open=True)
        check_range("max_compliance", self.max_compliance, 0.0, SMU_I_MAX, "A", lo_open=True)

    def check_voltage(self, name: str, value: float) -> None:
        if abs(value) > self.max_voltage:
            raise ParameterError(name, value, f"|V| <= {self.max_voltage:g} V (safety profile)")

    def check_compliance(self, name: str, value: float) -> None:
        if value > self.max_compliance:
            raise ParameterError(
                name, value, f"<= {self.max_compliance:g} A (safety profile)")

    def as_dict(self) -> dict[str, float]:
        return {"max_voltage_V": self.max_voltage, "max_compliance_A": self.max_compliance}


@dataclass(frozen=True)
class Channels:
    """The instrument channels a run touches, which the engine checks against the
    instrument's fitted cards before anything is sent."""

    #: SMU numbers (1-based, as ``SMU1``) the run sources or measures on
    smus: tuple[int, ...] = ()
    #: 4225-PMU channels the run pulses on
    pmu_channels: tuple[int, ...] = ()


@dataclass
class Outcome:
    """What a protocol concluded about its run, beyond the status (e.g. write-verify).

    ``converged`` is None for a protocol without a goal; False makes ``reason`` the
    run's reason (the run still completes: the data are valid, the goal was missed).
    ``details`` are stored with it in the run file (``outcome``), e.g. the final
    conductance.
    """

    converged: bool | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def missed(self) -> bool:
        """The protocol had a goal and did not reach it."""
        return self.converged is False

    def update(self, values: Mapping[str, Any]) -> None:
        """Deprecated dict-style update, kept for protocols written when ``ctx.outcome``
        was a dict: ``converged`` and ``reason`` go to their fields, the rest to details."""
        warnings.warn("ctx.outcome.update({...}) is deprecated: set ctx.outcome.converged, "
                      ".reason and .details instead", DeprecationWarning, stacklevel=2)
        for key, value in values.items():
            if key == "converged":
                self.converged = None if value is None else bool(value)
            elif key == "reason":
                self.reason = str(value)
            else:
                self.details[key] = value

    def as_dict(self) -> dict[str, Any]:
        """The run file's ``outcome``: ``converged``, ``reason``, then the details."""
        out: dict[str, Any] = {}
        if self.converged is not None:
            out["converged"] = self.converged
        if self.reason:
            out["reason"] = self.reason
        out.update(self.details)
        return out


@dataclass
class Record:
    """Rows for one stream of the run file (equal-length columns)."""

    stream: str
    data: Mapping[str, Any]


@dataclass
class Waveform:
    """Captured waveforms of one or more pulses: ``{name: samples or (pulse, sample)}``."""

    data: Mapping[str, Any]


class Step:
    """Marker yielded between steps: *stop* ends the run here."""

    def __init__(self, done: float | None = None) -> None:
        self.done = done  # fraction of the run completed, for progress/ETA


STEP = Step()


class Aborted(Exception):
    """Raised inside a plan when the user aborts."""


@dataclass
class RunContext:
    """What a plan may use: the instrument, an interruptible clock, the abort flag."""

    instrument: Keithley4200A
    should_abort: Callable[[], bool] = lambda: False
    log: Callable[[str], None] = lambda msg: None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the device's safety profile (e.g. the limit a "none" compliance falls back to)
    safety: SafetyProfile = field(default_factory=SafetyProfile)
    #: protocol result stored with the run (e.g. write-verify: converged, reason)
    outcome: Outcome = field(default_factory=Outcome)
    #: show points of a running instrument test (not stored: the test's data are yielded
    #: as a Record when it ends) and, optionally, the run's progress fraction
    live: Callable[[Record, float | None], None] = lambda record, done=None: None
    #: the time the run waits in (:mod:`drivers.clock`), injected by the engine; by
    #: default the instrument's kind of clock, fresh for this run
    clock: Clock | None = None

    def now(self) -> float:
        """Seconds on the run's clock (instrument time on the simulator, wall time on
        hardware)."""
        return self.clock.now()  # type: ignore[union-attr]  # set in __post_init__

    def sleep(self, seconds: float) -> None:
        """Wait on the run's clock; interruptible by abort, bounded by ``seconds``."""
        if seconds > 0:
            self.clock.sleep(seconds, self.check_abort)  # type: ignore[union-attr]

    def __post_init__(self) -> None:
        if self.clock is None:
            self.clock = clock_for(self.instrument)

    def check_abort(self) -> None:
        if self.should_abort():
            raise Aborted("aborted by user")


class Protocol:
    """Base class of every protocol (see module docstring)."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    #: streams and their columns: {stream: {column: dtype}}
    streams: ClassVar[dict[str, dict[str, str]]] = {}
    #: the typed, frozen values class built from ``params`` (one per protocol class)
    Values: ClassVar[type[ParamValues]] = values_class("Values", ())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.Values = values_class("Values", cls.params, cls.__module__,
                                  f"{cls.__qualname__}.Values")

    def __init__(self, **values: Any) -> None:
        #: the parameters, validated: attributes named as the declarations
        self.values: Any = self.Values.from_mapping(resolve(self.params, values, self.name))
        #: names the caller set (preset or user); the rest are defaults
        self.given = frozenset(values)
        self.check()

    def check(self) -> None:
        """Cross-parameter checks (override); single-parameter limits are declarative."""

    def check_safety(self, safety: SafetyProfile) -> None:
        """Check every parameter marked ``safety="voltage"``/``"current"`` against the
        device's safety profile (override to add derived values, e.g. the last amplitude
        of a ramp)."""
        check = {"voltage": safety.check_voltage, "current": safety.check_compliance}
        for p, value in self.values.items():
            if p.safety:
                for one in np.atleast_1d(value):
                    check[p.safety](p.name, float(one))

    def compliances(self) -> dict[str, dict[str, Any]]:
        """Every current compliance this run applies and where its value came from.

        ``{name: {"value_A": v, "source": "set" | "default"}}`` for each parameter marked
        ``safety="current"`` (an empty ladder is left out). The CLI prints it in the start
        line and the engine stores it in the run file (``compliances``), so a half that
        runs at a default the user never typed (e.g. a RESET half) is never silent.
        """
        out: dict[str, dict[str, Any]] = {}
        for p, value in self.values.items():
            if p.safety != "current":
                continue
            if isinstance(value, list | tuple) and not value:
                continue
            out[p.name] = {"value_A": value,
                           "source": "set" if p.name in self.given else "default"}
        return out

    def compliance_line(self) -> str:
        """One line for humans, e.g. ``compliance_set 5 mA (set), compliance_reset 20 mA
        (default)``."""
        def amps(v: Any) -> str:
            if isinstance(v, list | tuple):
                return "/".join(amps(x) for x in v)
            return f"{float(v) * 1e3:g} mA"

        return ", ".join(f"{name} {amps(c['value_A'])} ({c['source']})"
                         for name, c in self.compliances().items())

    def channels(self) -> Channels:
        """The channels this run touches (override: the engine checks them against the
        instrument's cards before the run)."""
        return Channels()

    def waveforms(self) -> dict[str, tuple[int, str]]:
        """Per-pulse waveform datasets this run stores (override)."""
        return {}

    def estimated_duration(self) -> float | None:
        """Expected instrument time in s, for progress and ETA."""
        return None

    def parameter_units(self) -> dict[str, tuple[Any, str]]:
        return self.values.with_units()

    def instrument_settings(self) -> dict[str, Any]:
        """Instrument-side settings this run uses, stored in the settings snapshot."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.values.as_dict().items())
        return f"{type(self).__name__}({args})"

    def plan(self, ctx: RunContext) -> Iterator[Record | Step]:
        raise NotImplementedError


def as_columns(**cols: Any) -> dict[str, np.ndarray]:
    """Columns as 1-D numpy arrays (scalars broadcast to the longest column)."""
    arrays = {k: np.atleast_1d(np.asarray(v)) for k, v in cols.items()}
    n = max(a.shape[0] for a in arrays.values())
    return {k: (np.broadcast_to(a, (n,)) if a.shape[0] == 1 else a) for k, a in arrays.items()}
