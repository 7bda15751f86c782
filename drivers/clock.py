"""The time an experiment runs in: the simulator's instrument time or the wall clock.

On hardware a wait is a host sleep and time is the host's monotonic clock. The simulated
4200A has its own virtual clock (``:SIM:TIME?``) that moves only when told to
(``:SIM:ADVANCE s``), so a 6x10^3 s retention run takes well under a second and a
seeded run reproduces its data. Which clock applies is decided once, from the
instrument's identity (:func:`clock_for`), and the clock is handed to whoever waits (the
driver's host-timed pulses, the protocols through their run context), so nobody
above asks whether the instrument is simulated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol


def _nothing() -> None:
    return None


class Clock(Protocol):
    """What a wait needs: the time, an uninterruptible wait and an interruptible one."""

    def now(self) -> float:
        """Seconds on this clock (only differences mean anything)."""
        ...

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass in one piece (a pulse width)."""
        ...

    def sleep(self, seconds: float, check: Callable[[], None] = _nothing) -> None:
        """Let ``seconds`` pass, calling ``check`` (which may raise, e.g. on abort) at
        least every few tens of ms of wall time."""
        ...


class WallClock:
    """Hardware: the host's monotonic clock and host sleeps."""

    def __init__(self, poll: float = 0.05) -> None:
        self.poll = poll

    def now(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def sleep(self, seconds: float, check: Callable[[], None] = _nothing) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            check()
            time.sleep(min(self.poll, left))


class InstrumentClock:
    """The simulated 4200A's virtual clock (``:SIM:TIME?``, ``:SIM:ADVANCE``)."""

    def __init__(self, instrument: Any, wall_piece: float = 0.05) -> None:
        self.instrument = instrument
        self.wall_piece = wall_piece
        self._speed: float | None = None
        self._speed_known = False

    def now(self) -> float:
        return self.instrument.sim_time()

    def wait(self, seconds: float) -> None:
        self.instrument.sim_advance(seconds)

    @property
    def speed(self) -> float | None:
        """The simulator's pace (``:SIM:SPEED?``, asked once), None when it cannot say."""
        if not self._speed_known:
            self._speed = self.instrument.sim_speed()
            self._speed_known = True
        return self._speed

    def sleep(self, seconds: float, check: Callable[[], None] = _nothing) -> None:
        """Advance the clock in pieces of about ``wall_piece`` s of wall time.

        The simulated device draws its noise per advance, so the pieces must be the same
        in every run for a seed to reproduce its data: they are sized from the
        simulator's pace (``:SIM:SPEED?``), not from wall-clock measurements. The first
        piece is ``wall_piece`` of instrument time, the rest one piece when unpaced or
        pieces of ``wall_piece`` wall seconds when paced, so an abort is noticed within
        one piece either way. A simulator without the query gets pieces sized from the
        measured pace (abortable, not reproducible).
        """
        if seconds <= 0:
            return
        if self.speed is None:
            self._sleep_measured(float(seconds), check)
            return
        remaining, first = float(seconds), True
        while remaining > 1e-12:
            check()
            piece = self.wall_piece if first else (
                self.wall_piece * self.speed if self.speed > 0 else remaining)
            step = min(piece, remaining)
            self.instrument.sim_advance(step)
            remaining -= step
            first = False

    def _sleep_measured(self, remaining: float, check: Callable[[], None]) -> None:
        piece = min(remaining, self.wall_piece)
        while remaining > 1e-12:
            check()
            step = min(piece, remaining)
            t0 = time.monotonic()
            self.instrument.sim_advance(step)
            wall = time.monotonic() - t0
            remaining -= step
            pace = step / max(wall, 1e-6)  # instrument seconds per wall second
            piece = max(1e-3, pace * self.wall_piece)


def clock_for(instrument: Any) -> Clock:
    """The clock of an identified instrument: virtual on the simulator (a ``SIM`` serial
    number in ``*IDN?``), the wall clock on hardware."""
    return InstrumentClock(instrument) if instrument.simulated else WallClock()
