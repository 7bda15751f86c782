"""What the run engine and the run queue tell their consumers, typed.

A consumer is called as ``consumer(kind, payload)`` from the acquisition thread. ``kind``
is an :class:`EventKind` and fixes the payload's type:

=====================  =====================================================================
kind                   payload
=====================  =====================================================================
``START``              :class:`RunStarted`: the protocol, run id, file, simulated and seed
``LIVE``               :class:`~protocols.base.Record`: points of an instrument test still
                       running (live view and progress only; the ``RECORD`` of that test
                       carries them again, with status, and is what the file stores)
``RECORD``             :class:`~protocols.base.Record`: rows stored in the run file
``WAVEFORM``           :class:`~protocols.base.Waveform`: per-pulse waveforms stored
``PROGRESS``           ``float``: the fraction of the run done
``PAUSED``             :class:`Pause` (begun)
``RESUMED``            :class:`Pause` (completed)
``STOP``               :class:`RunResult`: the run has ended (every exit path)
``ITEM``               :class:`QueueEntry`: a queue item changed status (queue only)
``ERROR``              :class:`QueueEntry`: a queue item could not run (queue only)
``QUEUE_DONE``         ``list[RunResult]``: the queue has ended (queue only)
=====================  =====================================================================

``EventKind`` is a string enum whose values are the earlier string kinds, so a consumer
written as ``if kind == "record"`` keeps working; new consumers dispatch on the members
(e.g. a ``{EventKind.RECORD: handler}`` table).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from protocols.base import Outcome, Protocol


class EventKind(StrEnum):
    """The kinds of event a consumer receives (see the module docstring)."""

    START = "start"
    LIVE = "live"
    RECORD = "record"
    WAVEFORM = "waveform"
    PROGRESS = "progress"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOP = "stop"
    ITEM = "item"
    ERROR = "error"
    QUEUE_DONE = "queue-done"


#: ``consumer(kind, payload)``; exceptions are logged, never stop the run
Consumer = Callable[[EventKind, Any], None]

log = logging.getLogger("labapp.engine")


def emit(consumers: Iterable[Consumer], kind: EventKind, payload: Any) -> None:
    """Hand one event to every consumer; a failing consumer is logged and skipped."""
    for consumer in consumers:
        try:
            consumer(kind, payload)
        except Exception:  # noqa: BLE001 - a broken view must not stop acquisition
            log.exception("consumer %r failed on %s", consumer, kind)


@dataclass(frozen=True)
class RunStarted:
    """The run file is open and the protocol is about to send its first command."""

    protocol: Protocol
    run_id: str
    path: Path
    simulated: bool
    seed: int | None
    #: every current compliance of the run and where it came from (see
    #: :meth:`~protocols.base.Protocol.compliances`)
    compliances: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Pause:
    """A pause of the run: ``PAUSED`` when it begins (outputs as the protocol left them,
    nothing sent), ``RESUMED`` with the same pause completed (the run file lists it under
    ``pauses``)."""

    run_id: str
    #: progress fraction at the pause
    at: float
    paused_utc: str
    #: empty, and ``seconds`` 0, until the run resumes
    resumed_utc: str = ""
    seconds: float = 0.0


@dataclass
class RunResult:
    """Outcome of one run."""

    path: Path
    run_id: str
    status: str
    reason: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    safe_state_problems: list[str] = field(default_factory=list)
    #: protocol result as stored in the run file (e.g. write-verify: converged, reason,
    #: final_g0); :attr:`protocol_outcome` is the same, typed
    outcome: dict[str, Any] = field(default_factory=dict)
    traceback: str = ""
    #: pauses of the run: paused_utc, resumed_utc, seconds, at (progress fraction)
    pauses: list[dict[str, Any]] = field(default_factory=list)
    protocol_outcome: Outcome = field(default_factory=Outcome)

    @property
    def ok(self) -> bool:
        """Ended as asked (completed or stopped) with the instrument confirmed safe."""
        return self.status in ("completed", "stopped") and not self.safe_state_problems

    @property
    def converged(self) -> bool | None:
        """The protocol reached its goal (None: it has none), e.g. write-verify."""
        return self.protocol_outcome.converged


@dataclass
class QueueEntry:
    """One run of a :class:`~protocols.run_queue.RunQueue` and where it stands."""

    protocol: Protocol
    path: Path
    label: str = ""
    #: queued, running, completed, stopped, aborted, failed or cancelled
    status: str = "queued"
    result: RunResult | None = None
    #: why the run could not start (e.g. the file is held by another writer)
    error: str = ""
