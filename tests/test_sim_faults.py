"""Fault injection: KXCI error on the k-th command, garbled replies, reply delays and a
dropped connection, in-process and over the loopback socket; ``sim-server --fault``."""

from __future__ import annotations

import pytest

from drivers.keithley4200 import (
    CommunicationError,
    InstrumentError,
    InstrumentTimeout,
    Keithley4200A,
)
from sim_backend.adapter import SimAdapter
from sim_backend.faults import GARBLE_PREFIX, FaultPlan
from sim_backend.kxci import KXCIEngine


@pytest.mark.parametrize("spec,message", [
    ("delay", "name=value"), ("speed=3", "unknown fault"), ("delay=-1", "bad value"),
    ("garble-at=0", "bad value"), ("error-at=x", "bad value"), ("drop-after=", "name=value"),
])
def test_bad_fault_specs_are_rejected(spec, message):
    with pytest.raises(ValueError, match=message):
        FaultPlan.parse([spec])


def test_fault_plan_parsing():
    plan = FaultPlan.parse(["delay=0.5", "delay-at=7", "drop-after=50", "garble-at=3",
                            "error-at=4:-993", "error-at=9"])
    assert plan.delay_for(7) == 0.5 and plan.delay_for(8) == 0.0
    assert plan.error_for(4) == -993 and plan.error_for(9) == -992
    assert plan.garble(3, "ACK") == GARBLE_PREFIX + "CK" and plan.garble(2, "ACK") == "ACK"
    assert not plan.drop(50) and plan.drop(51) and not plan.drop(52)  # once


def test_error_on_the_kth_command_is_readable_like_an_instrument_error():
    engine = KXCIEngine(faults=FaultPlan.parse(["error-at=3:-993"]))
    k = Keithley4200A(SimAdapter(engine))  # messages 1, 2: *IDN?, *OPT?
    k.clear_buffer()  # message 3 fails
    with pytest.raises(InstrumentError) as err:
        k.check_errors("BC")
    assert err.value.code == -993
    k.clear_buffer()
    k.check_errors()  # cleared, and message 6 runs normally


def test_garbled_reply_is_detected_by_the_driver():
    engine = KXCIEngine(faults=FaultPlan.parse(["garble-at=3", "garble-at=4"]))
    k = Keithley4200A(SimAdapter(engine))
    with pytest.raises(InstrumentError, match="expected ACK"):
        k.clear_buffer()
    with pytest.raises(InstrumentError, match="expected ACK"):
        k.smus[1].measure_current()  # "US" is message 4: garbled ACK


def test_dropped_connection_in_process_raises_connection_error():
    engine = KXCIEngine(faults=FaultPlan.parse(["drop-after=2"]))
    k = Keithley4200A(SimAdapter(engine))
    with pytest.raises(CommunicationError, match="'BC'"):
        k.clear_buffer()
    k.clear_buffer()  # the drop happens once


@pytest.fixture
def server_factory(fault_sim):
    """``server_factory(*specs)`` -> (engine, server): ``fault_sim`` from conftest, seed 2."""
    def make(*faults: str, **kwargs):
        server, engine = fault_sim(faults, seed=2, **kwargs)
        return engine, server

    return make


def test_reply_delay_times_out_then_the_driver_resynchronises(server_factory):
    # BC's ACK comes 0.22 s late against a 150 ms timeout: the first read gives up at
    # ~0.15 s and the resync read (its own 150 ms, until ~0.30 s) sees the late ACK at
    # ~0.22 s, then *IDN?'s answer. (A 0.3 s delay put the late ACK at the resync read's
    # own deadline, so the outcome depended on the machine's load.)
    engine, server = server_factory("delay=0.22", "delay-at=3")
    k = Keithley4200A(server.resource, timeout=150)
    with pytest.raises(InstrumentTimeout, match="'BC'"):
        k.clear_buffer()
    # the late ACK of BC is still on its way: the next exchange must not take it
    assert k.query("*OPT?") == "SMU1,SMU2,SMU3,SMU4,PMU1"
    assert k.status_byte == 0
    k.adapter.close()


def test_safe_off_after_a_dropped_connection_reconnects_and_makes_safe(server_factory):
    engine, server = server_factory()
    k = Keithley4200A(server.resource, timeout=500)
    k.smus[1].source_voltage(1.0, 1e-3)
    k.pmu_init("pulse")
    k.pmus[1].output(True)
    assert not engine.outputs_safe()
    engine.faults.add(f"drop-after={engine.message_count}")
    with pytest.raises(CommunicationError, match="connection closed by the instrument.*TI1"):
        k.smus[1].measure_current()  # a closed connection is named as such, not a timeout
    problems = k.safe_off()
    assert any("after reconnecting" in p for p in problems)
    assert engine.outputs_safe()
    assert k.safe_off() == []  # and again, on the new connection
    k.adapter.close()


def test_safe_off_with_the_server_gone_returns_quickly(server_factory):
    import time

    engine, server = server_factory()
    k = Keithley4200A(server.resource, timeout=300)
    server.shutdown()
    server.server_close()
    engine.faults.add(f"drop-after={engine.message_count}")  # closes the open connection
    t0 = time.monotonic()
    problems = k.safe_off()
    assert problems and "connection lost" in problems[-1]
    assert time.monotonic() - t0 < 3.0


def test_sim_server_command_accepts_faults_and_options():
    from labapp.cli import build_parser

    args = build_parser().parse_args(["sim-server", "--port", "0", "--seed", "4", "--fault",
                                      "delay=2.0", "--fault", "drop-after=50",
                                      "--options", "SMU1,,PMU1RPM1-2"])
    plan = FaultPlan.parse(args.fault)
    assert plan.delay == 2.0 and plan.drop_after == 50
    assert args.options == "SMU1,,PMU1RPM1-2" and args.seed == 4


def test_gpib_framing_in_process_serial_poll_and_srq():
    """The driver's GPIB path (no ACK; serial poll or DR1 + SRQ) against the engine."""
    import numpy as np

    from drivers.pmu_config import PulseTiming, PulseTrainConfig

    for srq in (False, True):
        engine = KXCIEngine(seed=3)
        k = Keithley4200A(SimAdapter(engine, framing="gpib"), ack=False, srq=srq)
        data = k.list_sweep(1, np.linspace(0, 0.5, 11), 1e-3)
        assert data.current.size == 11 and np.all(np.diff(data.time) > 0)
        assert ("DR1" in engine.log) == srq
        wf = k.pmu_pulse_train(1, PulseTrainConfig(amplitude=0.3, timing=PulseTiming()))
        assert len(wf) > 0
        k.smus[1].source_voltage(0.2, 1e-4)
        assert k.smus[1].measure_current().status in ("N", "C")
        assert k.safe_off() == [] and engine.outputs_safe()


def test_gpib_syntax_error_raises_the_srq_and_is_reported():
    engine = KXCIEngine(seed=3)
    adapter = SimAdapter(engine, framing="gpib")
    k = Keithley4200A(adapter, ack=False, srq=True)
    k.command("XYZ")  # no reply on GPIB; the error raises RQS with B1 [M 3-3]
    with pytest.raises(InstrumentError) as err:
        k.wait_for_data(timeout=1.0)
    assert err.value.code == -992
