"""The driver's connection layer and error attribution (pymeasure ``expected_protocol``
dialogues, and the same driver on the simulated 4200A).

Held to: LAN answers every message, ``ACK`` when there is no data [M 2-10, 2-11]; the
status byte's B1 marks a rejected command and a serial poll clears it [M 3-3, 3-4];
``:ERROR:LAST:GET`` returns the last error, ``:ERROR:LAST:CLEAR`` clears it [M 4-2, 4-3];
``TV``/``TI`` channel codes and letters [M 5-34, 5-35, 3-2]; ``RS`` [M 5-43], ``ID``
[M 4-3], ``RG`` [M 5-42].
"""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from drivers.keithley4200 import CommunicationError, InstrumentError, Keithley4200A
from drivers.validation import ParameterError
from sim_backend.adapter import SimAdapter
from sim_backend.faults import FaultPlan
from sim_backend.kxci import KXCIEngine

IDN = "KEITHLEY INSTRUMENTS,KI4200A,1442736,V1.8.1"
INIT = [("*IDN?", IDN), ("*OPT?", "SMU1,SMU2,SMU3,SMU4,SMU5,SMU6,PMU1")]


def test_pymeasure_write_then_ask_stays_in_step_on_lan():
    """``write("BC")`` then ``ask("*IDN?")`` returns the identity: the ``ACK`` of BC is
    consumed by the connection layer (fixes: ask returned ``ACK``)."""
    with expected_protocol(Keithley4200A, INIT + [("BC", "ACK"), ("*IDN?", IDN),
                                                  ("*OPT?", "SMU1,PMU1")]) as k:
        k.write("BC")
        assert k.ask("*IDN?") == IDN
        assert k.values("*OPT?", cast=str) == ["SMU1", "PMU1"]


def test_read_after_a_plain_write_returns_its_ack():
    with expected_protocol(Keithley4200A, INIT + [("BC", "ACK")]) as k:
        k.write("BC")
        assert k.read() == "ACK"


def test_gpib_write_reads_nothing():
    with expected_protocol(Keithley4200A, INIT + [("BC", None), ("*IDN?", IDN)],
                           ack=False) as k:
        k.write("BC")
        assert k.ask("*IDN?") == IDN


def test_declarative_settings_check_the_status_byte():
    with expected_protocol(Keithley4200A, INIT + [
            ("RS 7", "ACK"), ("SP", "0"), ("ID", "KI4200A V1.13.0"),
            ("RG 1, 1e-09", "ACK"), ("SP", "66"),
            (":ERROR:LAST:GET", "KXCI argument error. (-993)"),
            (":ERROR:LAST:CLEAR", "ACK")]) as k:
        k.resolution = 7
        assert k.instrument_id == "KI4200A V1.13.0"
        with pytest.raises(InstrumentError) as err:
            k.smus[1].lowest_range = 1e-9  # below 100 nA without a preamp: rejected
        assert err.value.code == -993 and err.value.command == "RG 1, 1e-09"


def test_tv_channel_codes_for_smu5_and_above_and_the_reply_letter():
    with expected_protocol(Keithley4200A, INIT + [
            ("US", "ACK"), ("TV7", "NGV+2.5000E+00"), ("TI5", "NEI+1.0000E-09"),
            ("TV8", "NBV+1.0000E+00")]) as k:
        assert k.smus[5].measure_voltage().value == 2.5
        assert k.smus[5].measure_current().value == 1e-9
        with pytest.raises(CommunicationError, match="not channel HV"):
            k.smus[6].measure_voltage()


def test_smu9_has_no_tv_code():
    with expected_protocol(Keithley4200A, [("*IDN?", IDN), ("*OPT?", "SMU9")]) as k:
        with pytest.raises(ParameterError):
            k.smus[9].measure_voltage()


def test_a_rejected_set_up_command_is_reported_as_that_command():
    """A rejected ``VL1`` is reported as ``VL1``, not after ``ME1``; a stale error is
    cleared first so it is not blamed on this test."""
    dialogue = INIT[:1] + [("*OPT?", "SMU1")] + [
        (":ERROR:LAST:CLEAR", "ACK"), ("SP", "66"),  # stale B1 from an earlier command
        ("BC", "ACK"), ("SP", "0"), ("DE", "ACK"), ("SP", "0"),
        ("CH1, 'V1', 'I1', 1, 1", "ACK"), ("SP", "0"), ("SS", "ACK"), ("SP", "0"),
        ("VL1, 1, 0.0001, 0.1, 0.2", "ACK"), ("SP", "66"),
        (":ERROR:LAST:GET", "KXCI argument error. (-993)"), (":ERROR:LAST:CLEAR", "ACK")]
    with expected_protocol(Keithley4200A, dialogue) as k:
        with pytest.raises(InstrumentError) as err:
            k.list_sweep(1, [0.1, 0.2], 1e-4)
    assert err.value.command == "VL1, 1, 0.0001, 0.1, 0.2" and err.value.code == -993


def test_on_the_simulator_a_rejected_vl_names_vl_and_an_old_error_is_not_blamed():
    engine = KXCIEngine(seed=1)
    k = Keithley4200A(SimAdapter(engine))
    engine.handle("XYZ")  # another client's mistake, still stored
    data = k.list_sweep(1, [0.0, 0.1], 1e-3)  # runs: the old error is cleared first
    assert data.current.size == 2
    # next sweep: CLEAR, SP, then (BC DE CH2 CH3 CH4 CH1 SS VL), each followed by SP
    n_vl = engine.message_count + 17
    engine.faults = FaultPlan.parse([f"error-at={n_vl}:-993"])
    with pytest.raises(InstrumentError) as err:
        k.list_sweep(1, [0.0, 0.1], 1e-3)
    assert err.value.command.startswith("VL1") and err.value.code == -993
    assert np.all(np.isfinite(data.voltage))
