"""Runs protocols (one, or a queue) in a worker thread and hands their documents to the GUI.

The engine calls its consumers from the acquisition thread. The consumer here only
appends ``(kind, payload)`` to a deque (thread-safe, never blocks), so a slow or busy
GUI cannot slow acquisition; the window drains the deque from a timer in the GUI
thread. Stop/abort go straight to the thread-safe engine methods. A queue runs its
items one after another in the same thread; a user stop or abort ends the queue,
and a run that did not end as asked (failed, or safe state not confirmed) ends it when
*stop on error* is set.

Why not :class:`protocols.RunQueue`: the window needs a per-item status while the queue
runs, and a user *abort* must end the whole queue even with stop-on-error off (an
abort is "stop everything now", not an error of one item). The validation and the
runs themselves are the engine's.
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

from protocols import PROTOCOLS, Protocol, RunEngine, RunResult, SafetyProfile

log = logging.getLogger("labapp.gui.runs")


@dataclass
class QueueItem:
    """One queued run: protocol name and validated values."""

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
    """Owns the worker thread and the engine of the run in progress."""

    def __init__(self) -> None:
        self.inbox: collections.deque[tuple[str, Any]] = collections.deque()
        self.engine: RunEngine | None = None
        self.thread: threading.Thread | None = None
        self.job: Job | None = None
        self._pending: tuple[str, str] | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, instrument: Any, job: Job,
              engine_factory: Callable[..., RunEngine] = RunEngine) -> None:
        """Validate every item against the safety profile, then run them in a thread.

        Validation first: a queue with one bad item does not start at all, and the
        error names the item, the parameter, the value and the allowed range.
        """
        if self.running:
            raise RuntimeError("a run is in progress")
        if instrument is None:
            raise RuntimeError("not connected: connect to the simulator or an instrument first")
        if not job.items:
            raise ValueError("nothing to run: the queue is empty")
        protocols = []
        checker = engine_factory(instrument, job.safety, dict(job.metadata))
        for n, item in enumerate(job.items, 1):
            try:
                p = item.build()
                checker.validate(p)
            except ValueError as exc:
                raise ValueError(f"queue item {n} ({item.protocol}): {exc}") from exc
            protocols.append(p)
        self.job = job
        self._cancel.clear()
        self._pending: tuple[str, str] | None = None
        self.inbox.clear()

        def work() -> None:
            for item, protocol in zip(job.items, protocols, strict=True):
                if self._cancel.is_set():
                    item.status = "cancelled"
                    continue
                engine = engine_factory(instrument, job.safety, dict(job.metadata))
                with self._lock:
                    self.engine = engine
                item.status = "running"
                self.inbox.append(("item", item))
                try:
                    result = engine.run(protocol, job.path, [self._consume])
                except Exception as exc:  # noqa: BLE001 - validation or file errors
                    log.error("%s did not run: %s", item.protocol, exc)
                    item.status = "failed"
                    self.inbox.append(("error", f"{item.protocol}: {exc}"))
                    if job.stop_on_error:
                        self._cancel.set()
                    continue
                item.status, item.result = result.status, result
                job.results.append(result)
                if result.status in ("stopped", "aborted"):
                    self._cancel.set()
                elif not result.ok and job.stop_on_error:
                    log.error("queue stopped after %s: %s %s", item.protocol, result.status,
                              result.reason)
                    self._cancel.set()
            with self._lock:
                self.engine = None
            self.inbox.append(("queue-done", job))

        self.thread = threading.Thread(target=work, name="labapp-run", daemon=True)
        self.thread.start()

    def _consume(self, kind: str, payload: Any) -> None:
        if kind == "start":
            # a request that arrived while the engine was starting (it clears its flags
            # at the start of a run) is applied again now, so it cannot be lost
            with self._lock:
                pending, engine = self._pending, self.engine
            if pending is not None and engine is not None:
                if pending[0] == "abort":
                    engine.abort(pending[1])
                else:
                    engine.stop()
        self.inbox.append((kind, payload))

    def stop(self) -> None:
        """End the current run at its next step; the rest of the queue is cancelled."""
        self._cancel.set()
        with self._lock:
            if self._pending is None:
                self._pending = ("stop", "")
            if self.engine is not None:
                self.engine.stop()

    def pause(self) -> None:
        """Hold the current run at its next step (see :meth:`RunEngine.pause`)."""
        with self._lock:
            if self.engine is not None:
                self.engine.pause()

    def resume(self) -> None:
        """Continue the paused run (same run, same file)."""
        with self._lock:
            if self.engine is not None:
                self.engine.resume()

    def abort(self, reason: str = "aborted by user") -> None:
        """End the current run now (safe state, status ``aborted``); cancel the queue."""
        self._cancel.set()
        with self._lock:
            self._pending = ("abort", reason)
            if self.engine is not None:
                self.engine.abort(reason)

    def wait(self, timeout: float) -> bool:
        """Join the worker for at most ``timeout`` s; True when it has ended."""
        t = self.thread
        if t is None:
            return True
        t.join(max(0.0, timeout))
        return not t.is_alive()

    def drain(self, limit: int = 100_000) -> list[tuple[str, Any]]:
        """Documents received since the last call (GUI thread)."""
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
