"""Instrument faults are reported as what they are, naming the command that failed.

References: the identity and slot-list formats of ``*IDN?`` and ``*OPT?`` in the KXCI
manual [M 4-4, 4-5]; the documented bound for a lost connection (a run ends < 10 s with
the CLI's default 10 s I/O timeout, docs/reliability.md). The failures these tests were
written against: a garbled ``*IDN?`` was stored as the identity, a garbled ``*OPT?`` came
out as the user error ``smu=1 is out of range``, and a connection dropped during a PMU
test was reported after 20 s as the clean-up command ``:PMU:OUTPUT:STATE 1, 0`` (the
clean-up in a ``finally`` replaced the error that caused it). Real pyvisa-py over a
loopback socket to the simulator with its fault injection.
"""

from __future__ import annotations

import time

import pytest

from drivers.pmu_config import PulseTiming, PulseTrainConfig
from drivers.readings import CommunicationError
from labapp.instrument_choice import connect
from protocols import Protocol, RunEngine
from protocols.base import Record, as_columns

CLI_TIMEOUT_MS = 10000  # protocols.connect's default, what `labapp run --resource` uses
DOCUMENTED_BOUND_S = 10.0


class TwoPMUTrains(Protocol):
    """Test protocol: two PMU pulse trains, each one record."""

    name = "two-pmu-trains"
    streams = {"samples": {"time_s": "f8", "voltage_V": "f8", "current_A": "f8"}}

    def plan(self, ctx):
        config = PulseTrainConfig(amplitude=0.5, timing=PulseTiming(), count=2,
                                  i_range=10e-3, load=1e4)
        for _ in range(2):
            wf = ctx.instrument.pmu_pulse_train(1, config, timeout=5.0,
                                                should_stop=ctx.should_abort)
            yield Record("samples", as_columns(time_s=wf.time, voltage_V=wf.voltage,
                                               current_A=wf.current))


@pytest.mark.parametrize(("at", "command"), [(1, "*IDN?"), (2, "*OPT?")],
                         ids=["idn", "opt"])
def test_garbled_identity_or_option_reply_is_a_communication_error(fault_sim, at, command):
    """A garbled ``*IDN?``/``*OPT?`` reply (a NAK byte and half the reply) fails the
    connect as a communication error naming the command and the reply, never as an
    identity stored with ``simulated: false`` or a parameter error about an SMU."""
    server, _ = fault_sim([f"garble-at={at}"])
    with pytest.raises(CommunicationError) as info:
        connect(server.resource, timeout_ms=2000)
    text = str(info.value)
    assert info.value.command == command and f"'{command}'" in text
    assert "unreadable reply '\\x15" in text  # the reply as received
    assert "out of range" not in text


def reference_log(fault_sim, tmp_path) -> list[str]:
    server, eng = fault_sim([])
    k = connect(server.resource, timeout_ms=CLI_TIMEOUT_MS)
    assert RunEngine(k).run(TwoPMUTrains(), tmp_path / "ref.h5").status == "completed"
    k.adapter.close()
    return list(eng.log)


def run_faulty(fault_sim, tmp_path, specs):
    server, eng = fault_sim(specs)
    k = connect(server.resource, timeout_ms=CLI_TIMEOUT_MS)
    t0 = time.monotonic()
    result = RunEngine(k).run(TwoPMUTrains(), tmp_path / "run.h5")
    return result, time.monotonic() - t0


def second(log: list[str], message: str) -> int:
    """1-based number of the second occurrence of ``message`` (in the second train)."""
    return [i + 1 for i, m in enumerate(log) if m == message][1]


def test_connection_dropped_during_a_pmu_test_is_named_and_prompt(fault_sim, tmp_path):
    """The instrument closes the connection instead of answering a status poll of the
    second train: the run fails within the documented 10 s (CLI default timeout) with a
    reason naming the poll and the closed connection, not the clean-up command."""
    k_msg = second(reference_log(fault_sim, tmp_path), ":PMU:TEST:STATUS?")
    result, elapsed = run_faulty(fault_sim, tmp_path, [f"drop-after={k_msg - 1}"])
    assert result.status == "failed"
    assert elapsed < DOCUMENTED_BOUND_S, f"ended after {elapsed:.1f} s"
    assert "connection closed by the instrument" in result.reason, result.reason
    assert "':PMU:TEST:STATUS?'" in result.reason, result.reason
    assert ":PMU:OUTPUT:STATE" not in result.reason


def test_cleanup_failure_never_masks_the_error_that_caused_it(fault_sim, tmp_path):
    """The data reply of the second train is garbled and the connection then drops on the
    clean-up (output off): the reason is the garbled data read, the clean-up's failure is
    noted with it, and safe-off records that it had to reconnect."""
    log = reference_log(fault_sim, tmp_path)
    k_msg = second(log, ":PMU:DATA:GET 1, 0, 288")
    assert log[k_msg].startswith(":PMU:OUTPUT:STATE 1, 0")  # the clean-up comes next
    result, elapsed = run_faulty(fault_sim, tmp_path, [f"garble-at={k_msg}",
                                                       f"drop-after={k_msg}"])
    assert result.status == "failed"
    assert "':PMU:DATA:GET 1, 0, 288'" in result.reason and "unreadable" in result.reason
    assert ":PMU:OUTPUT:STATE" not in result.reason
    assert "cleanup also failed" in result.traceback
    assert any("reconnect" in p for p in result.safe_state_problems)
    assert elapsed < DOCUMENTED_BOUND_S
