"""The run engine: runs any protocol the same way for the GUI, the CLI, scripts and tests.

Order of a run: validate parameters against the instrument limits and the safety profile
(nothing is sent before that), open the run file, iterate the protocol's plan, hand every
record to the run file and to the live consumers, and on *every* exit path (normal end,
stop, abort, exception, Ctrl-C, lost connection) put the instrument into its safe state and
record the final status with its reason. A failure of the safe-state call is logged and
stored in the run file, never swallowed.

Consumers receive typed ``(kind, payload)`` events (:mod:`protocols.events`): ``START``
with :class:`~protocols.events.RunStarted`, ``RECORD`` with a Record, ``PROGRESS`` with a
fraction, ``PAUSED``/``RESUMED`` and ``STOP`` with the :class:`RunResult`: storage and
plots are independent consumers of one record stream. ``LIVE`` carries points of an
instrument test still running (read with ``RD``) for the live view and progress only: the
same points arrive again, with their status letters, in the ``RECORD`` of that test,
which is what the run file stores. A test cut short by an abort (Ctrl-C) still yields the
points measured before it stopped.

Pause/resume (as in bluesky's RunEngine): :meth:`RunEngine.pause` takes effect at the
protocol's next step, the point where *stop* would end the run. While paused nothing is
sent to the instrument, so its outputs stay in the state the protocol left at that step
(0 V between the tests of every protocol here); :meth:`RunEngine.resume` continues the
same run into the same file, and the run file lists each pause (``pauses``: UTC start
and end, seconds, progress). Stop and abort work while paused. On the simulator the
instrument clock does not run while paused, so a resumed run equals an unpaused one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.clock import Clock
from drivers.keithley4200 import Keithley4200A
from drivers.validation import ParameterError
from labcore.run_json import provenance
from labcore.runfile import RunWriter, WriterLock, utc_now
from protocols.base import (
    Aborted,
    Protocol,
    Record,
    RunContext,
    SafetyProfile,
    Step,
    Waveform,
)
from protocols.events import (
    Consumer,
    EventKind,
    Pause,
    RunResult,
    RunStarted,
    emit,
)
from protocols.versioning import environment, software_version

log = logging.getLogger("labapp.engine")

__all__ = ["Consumer", "EventKind", "RunEngine", "RunResult"]


@dataclass
class _Run:
    """What one run accumulates while its plan is iterated."""

    consumers: list[Consumer]
    writer: RunWriter
    pauses: list[dict[str, Any]] = field(default_factory=list)
    done: float = 0.0


class RunEngine:
    """Runs protocols on one instrument; :meth:`stop` and :meth:`abort` are thread-safe."""

    def __init__(
        self,
        instrument: Keithley4200A,
        safety: SafetyProfile | None = None,
        metadata: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.instrument = instrument
        #: the time runs wait in; None: the instrument's kind (:func:`drivers.clock.clock_for`),
        #: fresh for each run
        self.clock = clock
        self.safety = safety or SafetyProfile()
        self.metadata = dict(metadata or {})
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._abort_reason = "aborted by user"
        self._pause = threading.Event()  # requested
        self._held = threading.Event()  # holding at a step now
        self._wake = threading.Event()

    # -- control, from any thread ---------------------------------------------------
    def stop(self) -> None:
        """Finish the current step, then end the run with status ``stopped``."""
        self._stop.set()
        self._wake.set()

    def abort(self, reason: str = "aborted by user") -> None:
        """End now with status ``aborted``; data recorded so far is kept."""
        self._abort_reason = reason
        self._abort.set()
        self._wake.set()

    def pause(self) -> None:
        """Hold at the next step (outputs as the protocol left them) until :meth:`resume`."""
        self._pause.set()

    def resume(self) -> None:
        """Continue a paused run (or cancel a pause not yet reached)."""
        self._pause.clear()
        self._wake.set()

    def toggle_pause(self) -> None:
        """Pause when running, resume when paused (one key for both)."""
        if self._pause.is_set():
            self.resume()
        else:
            self.pause()

    @property
    def paused(self) -> bool:
        """True while the run holds at a step."""
        return self._held.is_set()

    @property
    def pause_requested(self) -> bool:
        return self._pause.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    # -- running ----------------------------------------------------------------------
    def validate(self, protocol: Protocol) -> None:
        """Safety profile and this instrument's fitted cards, before anything is sent.

        Single-parameter instrument limits were checked when the protocol was built.
        """
        protocol.check_safety(self.safety)
        for smu in protocol.channels().smus:
            if smu not in self.instrument.smus:
                raise ParameterError("smu", smu,
                                     f"one of {sorted(self.instrument.smus)} (cards from *OPT?)")

    @contextlib.contextmanager
    def abort_on_signals(self) -> Iterator[None]:
        """While inside, SIGINT (Ctrl-C) and SIGTERM abort the run safely.

        Only the main thread may install handlers; elsewhere this does nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, _frame):
            self.abort(f"interrupted by signal {signal.Signals(signum).name}")

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    @contextlib.contextmanager
    def pause_on_signals(self, toggle: tuple[signal.Signals, ...] = ()) -> Iterator[None]:
        """While inside, SIGUSR1 pauses and SIGUSR2 resumes the run; each signal in
        ``toggle`` (e.g. SIGTSTP, Ctrl-Z on a terminal) pauses or resumes.

        Only the main thread may install handlers; elsewhere this does nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        actions = {signal.SIGUSR1: self.pause, signal.SIGUSR2: self.resume,
                   **dict.fromkeys(toggle, self.toggle_pause)}
        old = {s: signal.signal(s, lambda _n, _f, act=act: act()) for s, act in actions.items()}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def run(
        self,
        protocol: Protocol,
        path: str | Path,
        consumers: Iterable[Consumer] = (),
        run_id: str | None = None,
        lock: WriterLock | None = None,
    ) -> RunResult:
        """Run ``protocol`` and write it as a new run into ``path``.

        ``lock``: the file's writer lock when the caller claimed it before connecting
        (:func:`labcore.runfile.claim`); otherwise the run claims the file itself and a
        file another writer holds is refused before the protocol sends anything.
        """
        self.validate(protocol)
        for flag in (self._stop, self._abort, self._pause, self._held):
            flag.clear()
        meta = self._metadata(protocol)
        writer = self._open(protocol, path, meta, run_id, lock)
        run = _Run(list(consumers), writer)

        def live(record: Record, done: float | None = None) -> None:
            emit(run.consumers, EventKind.LIVE, record)
            if done is not None:
                emit(run.consumers, EventKind.PROGRESS, done)

        ctx = RunContext(self.instrument, should_abort=self._abort.is_set, log=log.info,
                         safety=self.safety, live=live, clock=self.clock)
        emit(run.consumers, EventKind.START, RunStarted(
            protocol, writer.run_id, Path(path), meta["simulated"], meta.get("seed"),
            meta["compliances"]))
        status, reason, tb = "completed", "", ""
        try:
            status, reason = self._iterate(protocol.plan(ctx), run)
        except (Aborted, InterruptedError):
            status, reason = "aborted", self._abort_reason
        except KeyboardInterrupt:
            status, reason = "aborted", "interrupted (Ctrl-C)"
        except Exception as exc:  # noqa: BLE001 - recorded with its traceback
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
            tb = traceback.format_exc()
            log.error("run failed: %s", reason)
        finally:
            problems = self._safe_off()
            if status == "completed" and ctx.outcome.missed:
                reason = ctx.outcome.reason
            rows = {s: writer.rows(s) for s in protocol.streams}
            writer.close(status, reason=reason, traceback=tb,
                         extra={"safe_state_problems": problems,
                                "outcome": ctx.outcome.as_dict(),
                                "pauses": run.pauses})
        result = RunResult(Path(path), writer.run_id, status, reason, rows, problems,
                           ctx.outcome.as_dict(), tb, run.pauses, ctx.outcome)
        emit(run.consumers, EventKind.STOP, result)
        return result

    def _open(self, protocol: Protocol, path: str | Path, meta: dict[str, Any],
              run_id: str | None, lock: WriterLock | None) -> RunWriter:
        """The run file's new run, with everything known before the first command."""
        return RunWriter(
            path,
            protocol.name,
            protocol.parameter_units(),
            protocol.streams,
            waveforms=protocol.waveforms(),
            metadata=meta,
            instrument_settings={**self.instrument_snapshot(),
                                 **protocol.instrument_settings()},
            safety_profile=self.safety.as_dict(),
            run_id=run_id,
            lock=lock,
            command=f"labapp run {protocol.name}",
        )

    def _metadata(self, protocol: Protocol) -> dict[str, Any]:
        """The run file's metadata: the caller's, versions, instrument, provenance."""
        meta = {**self.metadata, **software_version(), **environment()}
        meta["instrument_idn"] = self.instrument.idn
        # simulated data must never pass for real: a top-level flag and the seed (the
        # simulator's serial number is SIM<seed>, also over a loopback socket)
        simulated, seed = provenance({}, {"idn": self.instrument.idn,
                                          "simulated": self.instrument.simulated})
        meta["simulated"] = bool(simulated)
        if simulated and seed is not None:
            meta["seed"] = int(seed)
        meta["compliances"] = protocol.compliances()
        return meta

    def _iterate(self, plan: Iterator[Any], run: _Run) -> tuple[str, str]:
        """Hand the plan's records to the file and the consumers; hold, stop or abort at
        its steps. Returns ``(status, reason)`` of a run that was not interrupted."""
        for item in plan:
            if isinstance(item, Record | list):
                # a list of records is stored as a whole (e.g. the pulses and reads
                # measured before an abort), then the abort is noticed
                for record in item if isinstance(item, list) else [item]:
                    run.writer.append(record.stream, record.data)
                    emit(run.consumers, EventKind.RECORD, record)
            elif isinstance(item, Waveform):
                for name, block in item.data.items():
                    run.writer.append_waveforms(name, block)
                emit(run.consumers, EventKind.WAVEFORM, item)
            elif isinstance(item, Step) and self._at_step(item, run):
                return "stopped", "stopped by user"
            if self._abort.is_set():
                raise Aborted(self._abort_reason)
        return "completed", ""

    def _at_step(self, step: Step, run: _Run) -> bool:
        """Progress, and a pause if one was asked for; True when the run should stop."""
        if step.done is not None:
            run.done = float(step.done)
            emit(run.consumers, EventKind.PROGRESS, step.done)
        if self._pause.is_set() and not self._stop.is_set():
            run.pauses.append(self._hold(run.consumers, run.writer.run_id, run.done))
        return self._stop.is_set()

    def _hold(self, consumers: list[Consumer], run_id: str, done: float) -> dict[str, Any]:
        """Hold at a step until resumed, stopped or aborted; returns the pause record."""
        pause = Pause(run_id, done, utc_now())
        t0 = time.monotonic()
        self._held.set()
        log.info("run %s paused at %.1f %%", run_id, 100 * done)
        emit(consumers, EventKind.PAUSED, pause)
        try:
            while self._pause.is_set() and not (self._abort.is_set() or self._stop.is_set()):
                self._wake.wait(0.2)
                self._wake.clear()
        finally:
            self._held.clear()
            self._pause.clear()
        pause = dataclasses.replace(pause, resumed_utc=utc_now(),
                                    seconds=time.monotonic() - t0)
        log.info("run %s resumed after %.1f s", run_id, pause.seconds)
        emit(consumers, EventKind.RESUMED, pause)
        return {"paused_utc": pause.paused_utc, "at": pause.at,
                "resumed_utc": pause.resumed_utc, "seconds": pause.seconds}

    def instrument_snapshot(self) -> dict[str, Any]:
        """What the instrument reported about itself, for the run file's ``instrument``.

        Read back over KXCI: ``*IDN?`` (model, serial, firmware) and ``*OPT?`` (the card in
        each slot), manual 4-4; KXCI has no query for SMU ranges or integration time, so
        those are stored as the protocol set them (its ``instrument_settings``). For the
        in-process simulator also its seed, cards, device model and full parameter set.
        """
        k = self.instrument
        snap: dict[str, Any] = {"idn": k.idn, **k.identity(), "cards": k.cards,
                                "simulated": k.simulated, "ack": k.ack}
        describe = getattr(getattr(k, "adapter", None), "describe", None)
        if callable(describe):
            snap["simulator"] = describe()
        return snap

    def _safe_off(self) -> list[str]:
        """Put the instrument safe; problems are logged and returned, never raised."""
        try:
            problems = list(self.instrument.safe_off())
        except BaseException as exc:  # noqa: BLE001 - the exit path must finish
            problems = [f"safe_off raised {type(exc).__name__}: {exc}"]
        if problems:
            log.error("safe state not confirmed: %s", "; ".join(problems))
        return problems
