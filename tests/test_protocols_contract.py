"""The typed protocol contract: frozen values from the declarations, the channels a run
touches, typed events, the run queue's stop/abort/error rules and the injected clock.

References: the values are held to the protocols' own ``Param`` declarations (name, unit,
default); the queue's rules to the ones the GUI has always had (a user abort ends the
queue even with stop-on-error off; a run that cannot start is an item that failed); the
clock to the simulator's instrument time (a 600 s retention wait costs no wall time).
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from drivers.clock import InstrumentClock, WallClock, clock_for
from labapp.instrument_choice import connect
from labcore.runfile import read_run
from protocols import (
    PROTOCOLS,
    DCSweep,
    EventKind,
    PulseTrain,
    QueueEntry,
    ResetTrain,
    Retention,
    RunEngine,
    RunQueue,
)
from protocols.base import Outcome


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_values_are_typed_frozen_attributes_of_the_declarations(name):
    cls = PROTOCOLS[name]
    proto = cls()
    for p in cls.params:
        value = getattr(proto.values, p.name)
        assert value == (tuple(p.default) if p.kind == "floats" else p.default)
        assert proto.values.unit(p.name) == p.unit
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(proto.values, cls.params[0].name, cls.params[0].default)
    assert list(proto.values.as_dict()) == [p.name for p in cls.params]


def test_list_values_are_tuples_inside_and_lists_outside():
    proto = DCSweep(compliance_ladder=[1e-3, 4e-3], step=0.1)
    assert proto.values.compliance_ladder == (1e-3, 4e-3)
    assert proto.values.as_dict()["compliance_ladder"] == [1e-3, 4e-3]
    assert proto.parameter_units()["compliance_ladder"] == ([1e-3, 4e-3], "A")
    with pytest.raises(AttributeError):
        proto.values.v_sett  # noqa: B018 - a typo is an error, not a silent default


def test_channels_follow_the_source_the_run_uses():
    assert PulseTrain(smu=3).channels().smus == (3,)
    smu_train = ResetTrain(width=5e-3, smu=2)
    assert smu_train.channels().smus == (2,) and smu_train.channels().pmu_channels == ()
    pmu_train = ResetTrain(width=1e-6, period=1e-5, source="pmu", pmu_channel=2)
    assert pmu_train.channels().smus == () and pmu_train.channels().pmu_channels == (2,)


def test_event_kinds_are_the_documented_strings():
    assert [k.value for k in EventKind] == ["start", "live", "record", "waveform", "progress",
                                            "paused", "resumed", "stop", "item", "error",
                                            "queue-done"]
    assert EventKind.RECORD == "record" and EventKind("queue-done") is EventKind.QUEUE_DONE


def test_queue_abort_ends_the_queue_even_without_stop_on_error(tmp_path):
    k = connect(sim=True, seed=4)
    queue = RunQueue(RunEngine(k), stop_on_error=False)
    queue.add(PulseTrain(count=20), tmp_path / "a.h5").add(PulseTrain(count=2), tmp_path / "b.h5")
    seen: list[tuple[EventKind, object]] = []

    def consumer(kind, payload):
        seen.append((kind, payload))
        if kind is EventKind.RECORD and not queue.cancelled:
            queue.abort("test abort")

    results = queue.run([consumer])
    assert [r.status for r in results] == ["aborted"]
    assert results[0].reason == "test abort"
    assert [e.status for e in queue.items] == ["aborted", "cancelled"]
    assert not (tmp_path / "b.h5").exists()
    items = [p for kind, p in seen if kind is EventKind.ITEM]
    assert all(isinstance(p, QueueEntry) for p in items) and len(items) == 3
    assert [kind for kind, _ in seen].count(EventKind.QUEUE_DONE) == 1
    assert k.adapter.engine.outputs_safe()


def test_queue_records_an_item_that_cannot_start_and_goes_on(tmp_path):
    k = connect(sim=True, seed=4)
    blocked = tmp_path / "a-directory.h5"
    blocked.mkdir()  # not a file a run can be written into
    queue = RunQueue(RunEngine(k), stop_on_error=False, catch_errors=True)
    queue.add(PulseTrain(count=1), blocked).add(PulseTrain(count=1), tmp_path / "b.h5")
    errors = []
    results = queue.run([lambda kind, p: errors.append(p) if kind is EventKind.ERROR else None])
    assert [e.status for e in queue.items] == ["failed", "completed"]
    assert errors == [queue.items[0]] and queue.items[0].error
    assert [r.status for r in results] == ["completed"]
    with pytest.raises(Exception):  # noqa: B017 - without catch_errors the error propagates
        RunQueue(RunEngine(k)).add(PulseTrain(count=1), blocked).run()


def test_the_run_waits_on_the_injected_clock(tmp_path):
    k = connect(sim=True, seed=4)

    class Counting(InstrumentClock):
        slept = 0.0

        def sleep(self, seconds, check=lambda: None):
            Counting.slept += seconds
            super().sleep(seconds, check)

    assert isinstance(clock_for(k), InstrumentClock) and isinstance(k.clock, InstrumentClock)
    t0 = time.monotonic()
    result = RunEngine(k, clock=Counting(k)).run(
        Retention(spacing="linear", interval=200, duration=600), tmp_path / "r.h5")
    assert result.status == "completed"
    assert Counting.slept == pytest.approx(600, abs=1.0)  # three waits of ~200 s
    assert time.monotonic() - t0 < 30  # instrument time, not wall time
    elapsed = read_run(tmp_path / "r.h5").samples["elapsed_s"]
    assert elapsed[-1] == pytest.approx(600, abs=0.5)


def test_wall_clock_checks_for_an_abort_while_it_waits():
    calls = []

    def check():
        calls.append(time.monotonic())
        if len(calls) == 3:
            raise InterruptedError

    t0 = time.monotonic()
    with pytest.raises(InterruptedError):
        WallClock(poll=0.01).sleep(10.0, check)
    assert time.monotonic() - t0 < 5.0 and len(calls) == 3


def test_dict_style_outcome_update_still_works_with_a_deprecation():
    """Protocols written when ``ctx.outcome`` was a dict keep storing the same outcome."""
    out = Outcome()
    with pytest.warns(DeprecationWarning, match="ctx.outcome.update"):
        out.update({"converged": False, "reason": "no convergence", "final_g0": 3.5})
    assert out.missed and out.reason == "no convergence"
    assert out.as_dict() == {"converged": False, "reason": "no convergence", "final_g0": 3.5}
