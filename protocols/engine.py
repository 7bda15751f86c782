"""The run engine: runs any protocol the same way for the GUI, the CLI, scripts and tests.

Order of a run: validate parameters against the instrument limits and the safety profile
(nothing is sent before that), open the run file, iterate the protocol's plan, hand every
record to the run file and to the live consumers, and on *every* exit path (normal end,
stop, abort, exception, Ctrl-C, lost connection) put the instrument into its safe state and
record the final status with its reason. A failure of the safe-state call is logged and
stored in the run file, never swallowed.

Consumers receive ``(kind, payload)`` documents: ``("start", info)``, ``("record", Record)``,
``("progress", fraction)``, ``("paused", info)``, ``("resumed", info)`` and
``("stop", RunResult)``: storage and plots are independent consumers of one record stream.
``("live", Record)`` carries points of an instrument test still running (read with ``RD``)
for the live view and progress only: the same points arrive again, with their status
letters, in the ``record`` of that test, which is what the run file stores. A test cut
short by an abort (Ctrl-C) still yields the points measured before it stopped.

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
import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.keithley4200 import Keithley4200A
from drivers.validation import ParameterError
from labcore.run_json import provenance
from labcore.runfile import RunWriter, WriterLock, utc_now
from protocols.base import (
    Aborted,
    Outcome,
    Protocol,
    Record,
    RunContext,
    SafetyProfile,
    Step,
    Waveform,
)
from protocols.versioning import environment, software_version

log = logging.getLogger("labapp.engine")

Consumer = Callable[[str, Any], None]


@dataclass
class RunResult:
    """Outcome of one run."""

    path: Path
    run_id: str
    status: str
    reason: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    safe_state_problems: list[str] = field(default_factory=list)
    #: protocol result (e.g. write-verify: converged, reason, final_g0)
    outcome: dict[str, Any] = field(default_factory=dict)
    traceback: str = ""
    #: pauses of the run: paused_utc, resumed_utc, seconds, at (progress fraction)
    pauses: list[dict[str, Any]] = field(default_factory=list)
    #: the protocol's typed outcome (``outcome`` is its stored form)
    protocol_outcome: Outcome = field(default_factory=Outcome)

    @property
    def converged(self) -> bool | None:
        """The protocol reached its goal (None: it has none), e.g. write-verify."""
        return self.protocol_outcome.converged

    @property
    def ok(self) -> bool:
        """Ended as asked (completed or stopped) with the instrument confirmed safe."""
        return self.status in ("completed", "stopped") and not self.safe_state_problems


class RunEngine:
    """Runs protocols on one instrument; :meth:`stop` and :meth:`abort` are thread-safe."""

    def __init__(
        self,
        instrument: Keithley4200A,
        safety: SafetyProfile | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.instrument = instrument
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
        self._stop.clear()
        self._abort.clear()
        self._pause.clear()
        self._held.clear()
        pauses: list[dict[str, Any]] = []
        done = 0.0
        consumers = list(consumers)
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
        writer = RunWriter(
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
        def live(record: Record, done: float | None = None) -> None:
            self._emit(consumers, "live", record)
            if done is not None:
                self._emit(consumers, "progress", done)

        ctx = RunContext(self.instrument, should_abort=self._abort.is_set, log=log.info,
                         safety=self.safety, live=live)
        status, reason, tb = "completed", "", ""
        self._emit(consumers, "start", {"protocol": protocol, "run_id": writer.run_id,
                                        "path": Path(path),
                                        "simulated": meta["simulated"],
                                        "seed": meta.get("seed"),
                                        "compliances": meta["compliances"]})
        try:
            for item in protocol.plan(ctx):
                if isinstance(item, Record | list):
                    # a list of records is stored as a whole (e.g. the pulses and reads
                    # measured before an abort), then the abort is noticed
                    for record in item if isinstance(item, list) else [item]:
                        writer.append(record.stream, record.data)
                        self._emit(consumers, "record", record)
                elif isinstance(item, Waveform):
                    for name, block in item.data.items():
                        writer.append_waveforms(name, block)
                    self._emit(consumers, "waveform", item)
                elif isinstance(item, Step):
                    if item.done is not None:
                        done = float(item.done)
                        self._emit(consumers, "progress", item.done)
                    if self._pause.is_set() and not self._stop.is_set():
                        pauses.append(self._hold(consumers, writer.run_id, done))
                    if self._stop.is_set():
                        status, reason = "stopped", "stopped by user"
                        break
                if self._abort.is_set():
                    raise Aborted(self._abort_reason)
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
                                "pauses": pauses})
        result = RunResult(Path(path), writer.run_id, status, reason, rows, problems,
                           ctx.outcome.as_dict(), tb, pauses, ctx.outcome)
        self._emit(consumers, "stop", result)
        return result

    def _hold(self, consumers: list[Consumer], run_id: str, done: float) -> dict[str, Any]:
        """Hold at a step until resumed, stopped or aborted; returns the pause record."""
        entry: dict[str, Any] = {"paused_utc": utc_now(), "at": done}
        t0 = time.monotonic()
        self._held.set()
        log.info("run %s paused at %.1f %%", run_id, 100 * done)
        self._emit(consumers, "paused", {"run_id": run_id, "at": done})
        try:
            while self._pause.is_set() and not (self._abort.is_set() or self._stop.is_set()):
                self._wake.wait(0.2)
                self._wake.clear()
        finally:
            self._held.clear()
            self._pause.clear()
        entry["resumed_utc"] = utc_now()
        entry["seconds"] = time.monotonic() - t0
        log.info("run %s resumed after %.1f s", run_id, entry["seconds"])
        self._emit(consumers, "resumed", {"run_id": run_id, **entry})
        return entry

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

    @staticmethod
    def _emit(consumers: list[Consumer], kind: str, payload: Any) -> None:
        for consumer in consumers:
            try:
                consumer(kind, payload)
            except Exception:  # noqa: BLE001 - a broken view must not stop acquisition
                log.exception("consumer %r failed on %s", consumer, kind)


class RunQueue:
    """Protocols run one after the other on one engine, stopping at the first error.

    A run that ends ``failed`` or ``aborted`` (or whose safe state was not confirmed)
    ends the queue when ``stop_on_error`` is set; a *stop* request ends the queue after
    the current run. Results of the runs that ran are returned in order.
    """

    def __init__(self, engine: RunEngine, stop_on_error: bool = True) -> None:
        self.engine = engine
        self.stop_on_error = stop_on_error
        self.items: list[tuple[Protocol, Path]] = []

    def add(self, protocol: Protocol, path: str | Path) -> RunQueue:
        self.items.append((protocol, Path(path)))
        return self

    def validate(self) -> None:
        """Check every queued protocol before the first one starts."""
        for protocol, _ in self.items:
            self.engine.validate(protocol)

    def run(self, consumers: Iterable[Consumer] = ()) -> list[RunResult]:
        self.validate()
        consumers = list(consumers)
        results: list[RunResult] = []
        for protocol, path in self.items:
            result = self.engine.run(protocol, path, consumers)
            results.append(result)
            if self.engine.stop_requested or result.status == "stopped":
                break
            if self.stop_on_error and not result.ok:
                log.error("queue stopped after %s: %s %s", protocol.name, result.status,
                          result.reason)
                break
        return results
