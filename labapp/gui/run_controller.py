"""Runs protocols (one, or a queue) in a worker thread and hands their events to the GUI.

The queue is the protocol layer's :class:`protocols.RunQueue` (validation of every item
first, then the runs in order; a user stop or abort ends the queue, a failed run ends it
when *stop on error* is set). The engine and the queue call their consumers from the
acquisition thread. The consumer here only appends ``(kind, payload)`` to a deque
(thread-safe, never blocks), so a slow or busy GUI cannot slow acquisition; the window
drains the deque from a timer in the GUI thread. Stop/abort go straight to the
thread-safe queue methods.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols import (
    PROTOCOLS,
    EventKind,
    Protocol,
    QueueEntry,
    RunEngine,
    RunQueue,
    RunResult,
    SafetyProfile,
)

log = logging.getLogger("labapp.gui.runs")


@dataclass
class QueueItem:
    """One queued run as the form left it: protocol name and validated values."""

    protocol: str
    values: dict[str, Any]
    label: str = ""
    status: str = "queued"
    result: RunResult | None = None

    def build(self) -> Protocol:
        return PROTOCOLS[self.protocol](**self.values)

    def describe(self) -> str:
        text = self.label or self.protocol
        return f"{text}  —  {self.status}"


@dataclass
class Job:
    """What the worker thread runs: items, where, with which limits and metadata."""

    items: list[QueueItem]
    path: Path
    safety: SafetyProfile
    metadata: dict[str, Any]
    stop_on_error: bool = True
    results: list[RunResult] = field(default_factory=list)


class RunController:
    """Owns the worker thread and the queue (and engine) of the runs in progress."""

    def __init__(self) -> None:
        self.inbox: collections.deque[tuple[EventKind, Any]] = collections.deque()
        self.engine: RunEngine | None = None
        self.queue: RunQueue | None = None
        self.thread: threading.Thread | None = None
        self.job: Job | None = None
        #: the form's item behind each queue entry (statuses are shown on the items)
        self._items: dict[int, QueueItem] = {}

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, instrument: Any, job: Job,
              engine_factory: Callable[..., RunEngine] = RunEngine) -> None:
        """Build and validate every item against the safety profile, then run them in a
        thread.

        Validation first: a queue with one bad item does not start at all, and the
        error names the item, the parameter, the value and the allowed range.
        """
        if self.running:
            raise RuntimeError("a run is in progress")
        if instrument is None:
            raise RuntimeError("not connected: connect to the simulator or an instrument first")
        if not job.items:
            raise ValueError("nothing to run: the queue is empty")
        engine = engine_factory(instrument, job.safety, dict(job.metadata))
        queue = RunQueue(engine, job.stop_on_error, catch_errors=True)
        for n, item in enumerate(job.items, 1):
            try:
                queue.add(item.build(), job.path, item.label)
            except ValueError as exc:
                raise ValueError(f"queue item {n} ({item.protocol}): {exc}") from exc
        queue.validate()
        self._items = {id(entry): item for entry, item in zip(queue.items, job.items,
                                                               strict=True)}
        self.job, self.queue, self.engine = job, queue, engine
        self.inbox.clear()

        def work() -> None:
            try:
                job.results = queue.run([self._consume])
            finally:
                self.engine = None

        self.thread = threading.Thread(target=work, name="labapp-run", daemon=True)
        self.thread.start()

    def _consume(self, kind: EventKind, payload: Any) -> None:
        if kind is EventKind.ITEM and isinstance(payload, QueueEntry):
            item = self._items.get(id(payload))
            if item is not None:
                item.status, item.result = payload.status, payload.result
        self.inbox.append((kind, payload))

    def stop(self) -> None:
        """End the current run at its next step; the rest of the queue is cancelled."""
        if self.queue is not None:
            self.queue.stop()

    def pause(self) -> None:
        """Hold the current run at its next step (see :meth:`RunEngine.pause`)."""
        engine = self.engine
        if engine is not None:
            engine.pause()

    def resume(self) -> None:
        """Continue the paused run (same run, same file)."""
        engine = self.engine
        if engine is not None:
            engine.resume()

    def abort(self, reason: str = "aborted by user") -> None:
        """End the current run now (safe state, status ``aborted``); cancel the queue."""
        if self.queue is not None:
            self.queue.abort(reason)

    def wait(self, timeout: float) -> bool:
        """Join the worker for at most ``timeout`` s; True when it has ended."""
        t = self.thread
        if t is None:
            return True
        t.join(max(0.0, timeout))
        return not t.is_alive()

    def drain(self, limit: int = 100_000) -> list[tuple[EventKind, Any]]:
        """Events received since the last call (GUI thread)."""
        out = []
        inbox = self.inbox
        while inbox and len(out) < limit:
            out.append(inbox.popleft())
        return out


class EtaEstimator:
    """Remaining time from progress fractions, falling back to the protocol's estimate."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.estimate: float | None = None
        self.fraction = 0.0

    def reset(self, estimate: float | None = None) -> None:
        self.t0 = time.monotonic()
        self.estimate = estimate
        self.fraction = 0.0

    def update(self, fraction: float) -> None:
        self.fraction = min(max(float(fraction), 0.0), 1.0)

    def remaining(self) -> float | None:
        elapsed = time.monotonic() - self.t0
        if self.fraction > 0:
            return elapsed * (1.0 - self.fraction) / self.fraction
        if self.estimate is not None:
            return max(self.estimate - elapsed, 0.0)
        return None
