"""The run engine: runs any protocol the same way for the GUI, the CLI, scripts and tests.

Order of a run: validate parameters against the instrument limits and the safety profile
(nothing is sent before that), open the run file, iterate the protocol's plan, hand every
record to the run file and to the live consumers, and on *every* exit path (normal end,
stop, abort, exception, Ctrl-C, lost connection) put the instrument into its safe state and
record the final status with its reason. A failure of the safe-state call is logged and
stored in the run file, never swallowed.

Consumers receive ``(kind, payload)`` documents: ``("start", info)``, ``("record", Record)``,
``("progress", fraction)`` and ``("stop", RunResult)``: storage and plots are independent
consumers of one record stream.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.runfile import RunWriter
from drivers.keithley4200 import Keithley4200A
from protocols.base import Aborted, Protocol, Record, RunContext, SafetyProfile, Step
from protocols.versioning import software_version

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

    # -- control, from any thread ---------------------------------------------------
    def stop(self) -> None:
        """Finish the current step, then end the run with status ``stopped``."""
        self._stop.set()

    def abort(self, reason: str = "aborted by user") -> None:
        """End now with status ``aborted``; data recorded so far is kept."""
        self._abort_reason = reason
        self._abort.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    # -- running ----------------------------------------------------------------------
    def validate(self, protocol: Protocol) -> None:
        """Safety-profile checks (instrument limits are checked by the protocol itself)."""
        protocol.check_safety(self.safety)

    def run(
        self,
        protocol: Protocol,
        path: str | Path,
        consumers: Iterable[Consumer] = (),
        run_id: str | None = None,
    ) -> RunResult:
        """Run ``protocol`` and write it as a new run into ``path``."""
        self.validate(protocol)
        self._stop.clear()
        self._abort.clear()
        consumers = list(consumers)
        meta = {**self.metadata, **software_version()}
        meta["instrument_idn"] = self.instrument.idn
        writer = RunWriter(
            path,
            protocol.name,
            protocol.parameter_units(),
            protocol.streams,
            waveforms=protocol.waveforms(),
            metadata=meta,
            instrument_settings={"idn": self.instrument.idn, "cards": self.instrument.cards},
            safety_profile=self.safety.as_dict(),
            run_id=run_id,
        )
        ctx = RunContext(self.instrument, should_abort=self._abort.is_set, log=log.info)
        status, reason, tb = "completed", "", ""
        self._emit(consumers, "start", {"protocol": protocol, "run_id": writer.run_id,
                                        "path": Path(path)})
        try:
            for item in protocol.plan(ctx):
                if isinstance(item, Record):
                    writer.append(item.stream, item.data)
                    self._emit(consumers, "record", item)
                elif isinstance(item, Step):
                    if item.done is not None:
                        self._emit(consumers, "progress", item.done)
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
            problems = self.instrument.safe_off()
            if problems:
                log.error("safe state not confirmed: %s", "; ".join(problems))
            rows = {s: writer.rows(s) for s in protocol.streams}
            writer.close(status, reason=reason, traceback=tb,
                         extra={"safe_state_problems": problems})
        result = RunResult(Path(path), writer.run_id, status, reason, rows, problems)
        self._emit(consumers, "stop", result)
        return result

    @staticmethod
    def _emit(consumers: list[Consumer], kind: str, payload: Any) -> None:
        for consumer in consumers:
            try:
                consumer(kind, payload)
            except Exception:  # noqa: BLE001 - a broken view must not stop acquisition
                log.exception("consumer %r failed on %s", consumer, kind)
