"""The run queue: protocols run one after the other on one engine (scripts, CLI and GUI).

Every item is validated (safety profile, fitted cards) before the first one starts, so a
queue with one bad item does not start at all. Then the items run in order, each a run of
the engine into its file. The queue ends early:

* after a run the user *stopped* or *aborted* (:meth:`RunQueue.stop`, :meth:`RunQueue.abort`
  or the engine's own): a stop or an abort means "end the queue", whatever
  ``stop_on_error`` says;
* after a run that ended ``failed`` (or whose safe state was not confirmed), when
  ``stop_on_error`` is set;
* after an item that could not start (e.g. its file is held by another writer): by default
  the exception propagates; with ``catch_errors`` (the GUI) the item is marked ``failed``
  with the error and the queue goes on as after a failed run.

Items not run are marked ``cancelled``. Consumers receive the engine's events of every run
and the queue's own (:mod:`protocols.events`): ``ITEM`` when an item changes status,
``ERROR`` when one could not start, ``QUEUE_DONE`` at the end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from drivers.validation import ParameterError
from protocols.base import Protocol
from protocols.engine import RunEngine
from protocols.events import Consumer, EventKind, QueueEntry, RunResult, emit

log = logging.getLogger("labapp.engine")


class RunQueue:
    """Protocols run one after the other on one engine (see module docstring)."""

    def __init__(self, engine: RunEngine, stop_on_error: bool = True, *,
                 catch_errors: bool = False) -> None:
        self.engine = engine
        self.stop_on_error = stop_on_error
        self.catch_errors = catch_errors
        self.items: list[QueueEntry] = []
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        #: a stop/abort asked for while no run was in progress: ("stop"|"abort", reason)
        self._pending: tuple[str, str] | None = None

    def add(self, protocol: Protocol, path: str | Path, label: str = "") -> RunQueue:
        self.items.append(QueueEntry(protocol, Path(path), label or protocol.name))
        return self

    def validate(self) -> None:
        """Check every queued protocol before the first one starts; the error names the
        item (``queue item 2 (pulse-train): amplitude=...``)."""
        for n, entry in enumerate(self.items, 1):
            try:
                self.engine.validate(entry.protocol)
            except ParameterError as exc:
                raise ParameterError(exc.name, exc.value, exc.allowed, message=(
                    f"queue item {n} ({entry.protocol.name}): {exc}")) from exc

    # -- control, from any thread ---------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def stop(self) -> None:
        """End the current run at its next step; the rest of the queue is cancelled."""
        self._request("stop", "")

    def abort(self, reason: str = "aborted by user") -> None:
        """End the current run now (safe state, status ``aborted``); cancel the rest."""
        self._request("abort", reason)

    def _request(self, what: str, reason: str) -> None:
        self._cancel.set()
        with self._lock:
            if self._pending is None or what == "abort":
                self._pending = (what, reason)
        self._apply_pending()

    def _apply_pending(self) -> None:
        with self._lock:
            pending = self._pending
        if pending is None:
            return
        if pending[0] == "abort":
            self.engine.abort(pending[1])
        else:
            self.engine.stop()

    # -- running ----------------------------------------------------------------------
    def run(self, consumers: Iterable[Consumer] = ()) -> list[RunResult]:
        """Validate every item, then run them in order; the results of the runs that ran."""
        self.validate()
        consumers = [self._on_start, *consumers]
        results: list[RunResult] = []
        for entry in self.items:
            if self._cancel.is_set():
                entry.status = "cancelled"
                emit(consumers, EventKind.ITEM, entry)
                continue
            result = self._run_one(entry, consumers)
            if result is not None:
                results.append(result)
        emit(consumers, EventKind.QUEUE_DONE, results)
        return results

    def _run_one(self, entry: QueueEntry, consumers: list[Consumer]) -> RunResult | None:
        entry.status, entry.result, entry.error = "running", None, ""
        emit(consumers, EventKind.ITEM, entry)
        try:
            result = self.engine.run(entry.protocol, entry.path, consumers)
        except Exception as exc:
            if not self.catch_errors:
                raise
            log.error("%s did not run: %s", entry.protocol.name, exc)
            entry.status, entry.error = "failed", str(exc)
            emit(consumers, EventKind.ITEM, entry)
            emit(consumers, EventKind.ERROR, entry)
            if self.stop_on_error:
                self._cancel.set()
            return None
        entry.status, entry.result = result.status, result
        emit(consumers, EventKind.ITEM, entry)
        if self.engine.stop_requested or result.status in ("stopped", "aborted"):
            self._cancel.set()
        elif self.stop_on_error and not result.ok:
            log.error("queue stopped after %s: %s %s", entry.protocol.name, result.status,
                      result.reason)
            self._cancel.set()
        return result

    def _on_start(self, kind: EventKind, _payload: Any) -> None:
        # the engine clears its stop/abort flags when a run starts: a request that
        # arrived while it was starting is applied again now, so it cannot be lost
        if kind is EventKind.START:
            self._apply_pending()
