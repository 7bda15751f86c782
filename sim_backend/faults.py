"""Fault injection for reliability tests of the driver and the protocols.

One :class:`FaultPlan` is shared by the engine (KXCI errors) and the front ends (the TCP
server and the in-process adapter: delays, dropped connections, garbled replies).
Messages are counted from 1 in arrival order over the engine's lifetime.

``labapp sim-server --fault SPEC`` (repeatable) accepts:

==================  ===================================================================
``delay=S``         delay every reply by S seconds (or only the ``delay-at`` ones)
``delay-at=K``      apply the delay to message K only (repeatable; needs ``delay=S``,
                    default 2 s)
``drop-after=N``    answer N messages, then close the connection without replying to
                    message N+1 (once; the next connection works again)
``garble-at=K``     corrupt the reply to message K (a NAK byte and half the reply)
``error-at=K[:C]``  message K fails with KXCI error C (default -992) instead of running;
                    readable with ``:ERROR:LAST:GET`` like any instrument error
==================  ===================================================================
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

GARBLE_PREFIX = "\x15"
#: longest reply delay accepted (s); a finite bound keeps ``time.sleep`` valid
MAX_DELAY = 3600.0


@dataclass
class FaultPlan:
    """Which faults to inject; see the module docstring for the meanings."""

    delay: float = 0.0
    delay_at: set[int] = field(default_factory=set)
    drop_after: int | None = None
    garble_at: set[int] = field(default_factory=set)
    error_at: dict[int, int] = field(default_factory=dict)
    dropped: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def active(self) -> bool:
        return bool(self.delay or self.drop_after is not None or self.garble_at
                    or self.error_at)

    def add(self, spec: str) -> FaultPlan:
        """Add one ``name=value`` fault (see the module docstring)."""
        name, sep, value = spec.partition("=")
        name = name.strip().lower()
        if not sep or not value.strip():
            raise ValueError(f"fault {spec!r}: expected name=value")
        setter = _SETTERS.get(name)
        if setter is None:
            raise ValueError(f"fault {spec!r}: unknown fault {name!r} (delay, delay-at, "
                             "drop-after, garble-at, error-at)")
        try:
            setter(self, value)
        except ValueError as exc:
            why = f" ({exc})" if str(exc).startswith("delay must") else ""
            raise ValueError(f"fault {spec!r}: bad value {value!r}{why}") from None
        return self

    def _set_delay(self, value: str) -> None:
        delay = float(value)
        if not (math.isfinite(delay) and 0 <= delay <= MAX_DELAY):
            raise ValueError(f"delay must be a number of seconds in [0, {MAX_DELAY:g}]")
        self.delay = delay

    def _set_delay_at(self, value: str) -> None:
        self.delay_at.add(_positive(value))
        self.delay = self.delay or 2.0

    def _set_drop_after(self, value: str) -> None:
        drop_after = int(value)
        if drop_after < 0:
            raise ValueError
        self.drop_after = drop_after

    def _set_garble_at(self, value: str) -> None:
        self.garble_at.add(_positive(value))

    def _set_error_at(self, value: str) -> None:
        k, _, code = value.partition(":")
        kxci = int(code) if code else -992
        if not -999 <= kxci <= -900:  # the manual's table [M 2-12, 2-13]
            raise ValueError
        self.error_at[_positive(k)] = kxci

    @classmethod
    def parse(cls, specs) -> FaultPlan:
        plan = cls()
        for spec in specs or ():
            plan.add(spec)
        return plan

    # ------------------------------------------------------------------ per message
    def error_for(self, k: int) -> int | None:
        return self.error_at.get(k)

    def delay_for(self, k: int) -> float:
        if not self.delay:
            return 0.0
        return self.delay if (not self.delay_at or k in self.delay_at) else 0.0

    def drop(self, k: int) -> bool:
        """True (once) when message k should find the connection closed."""
        with self._lock:
            if self.drop_after is not None and not self.dropped and k > self.drop_after:
                self.dropped = True
                return True
            return False

    def garble(self, k: int, reply: str) -> str:
        if k in self.garble_at:
            return GARBLE_PREFIX + reply[len(reply) // 2:]
        return reply


def _positive(text: str) -> int:
    k = int(text)
    if k < 1:
        raise ValueError
    return k


#: fault name -> the method that parses and stores its value
_SETTERS = {"delay": FaultPlan._set_delay, "delay-at": FaultPlan._set_delay_at,
            "drop-after": FaultPlan._set_drop_after, "garble-at": FaultPlan._set_garble_at,
            "error-at": FaultPlan._set_error_at}
