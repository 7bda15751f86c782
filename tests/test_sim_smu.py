"""The simulated 4200A's SMU side: reply formats, pages and modes, error codes, compliance."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sim_backend.kxci import KXCIEngine

READING = re.compile(r"^[NC][A-H][VI][+-]\d\.\d{4}E[+-]\d\d$")


def run(engine, *messages):
    return [engine.handle(m) for m in messages]


def error(engine) -> str:
    return engine.handle(":ERROR:LAST:GET")


def test_identity_and_ack():
    e = KXCIEngine(seed=3)
    assert e.handle("*IDN?") == "KEITHLEY INSTRUMENTS,KI4200A,SIM0000003,V1.13"
    assert e.handle("*OPT?") == "SMU1,SMU2,SMU3,SMU4,PMU1,,,"
    assert e.handle("BC") == "ACK"
    assert error(e) == "No error. (0)"


@pytest.mark.parametrize("messages,code", [
    (["XYZ"], -992),
    (["DEX"], -992),
    (["DE", "CH7, 'V7', 'I7', 1, 1"], -979),
    (["SS", "VL1, 1, 1E-3, 0, 1"], None),
    (["DE", "VL1, 1, 1E-3, 0, 1"], -989),
    (["US", "CH1, 'V1', 'I1', 1, 1"], -975),
    (["DE", "DV1, 0, 1, 1E-3"], -974),
    (["SS", "DT 7"], -993),
    (["SS", "DT 0.0000000000001"], -993),  # > 12 characters [M 5-6]
    (["DE", "CH1, 'VOLTAGE1', 'I1', 1, 1"], -993),
    (["DE", "CH1, 'V1', 'I1', 3, 1"], -993),
    (["IT5"], -993),
    (["IT4, 1, 1, 20"], -993),
    (["US", "DV1, 4, 0.1, 1E-3"], -993),  # 200 mV range needs a preamp
    (["US", "DV1, 1, 25, 1E-3"], -993),  # beyond the 20 V range
    (["US", "DI1, 7, 2E-3, 1"], -993),  # beyond the 1 mA range
    (["MD", "ME1"], -991),  # nothing defined
    (["RG 1, 1E-12"], -993),
])
def test_error_codes(messages, code):
    e = KXCIEngine()
    replies = run(e, *messages)
    assert replies[-1] == "ACK"
    if code is None:
        assert error(e) == "No error. (0)"
        return
    assert error(e).endswith(f"({code})")
    assert int(e.handle("SP")) & 2  # syntax-error bit, cleared by the poll [M 3-4]
    assert not int(e.handle("SP")) & 2
    e.handle(":ERROR:LAST:CLEAR")
    assert error(e) == "No error. (0)"


def test_configurable_reply_after_an_error():
    e = KXCIEngine(error_reply="ERR")
    assert e.handle("XYZ") == "ERR" and e.handle("BC") == "ACK"


def test_user_mode_reading_format_and_compliance_clamp(ohmic_engine):
    e = ohmic_engine
    run(e, "US", "DV1, 1, 2, 1E-4")
    r = e.handle("TI1")
    assert READING.match(r) and r.startswith("CAI")  # 2 V / 10 kOhm = 200 uA > 100 uA
    assert float(r[3:]) == pytest.approx(1e-4)
    v = e.handle("TV1")
    assert v.startswith("CAV") and float(v[3:]) == pytest.approx(1.0)  # clamped source
    run(e, "DV1, 1, 0.5, 1E-3")
    r = e.handle("TI1")
    assert r.startswith("NAI") and float(r[3:]) == pytest.approx(5e-5)
    assert not e.outputs_safe()
    e.handle("DV1")
    assert e.outputs_safe()


def test_too_small_compliance_is_raised_to_the_minimum(ohmic_engine):
    e = ohmic_engine
    run(e, "US", "DV1, 1, 2, 1E-9")
    assert float(e.handle("TI1")[3:]) == pytest.approx(100e-9)  # [M 5-16]


def test_current_source_regulates_or_hits_voltage_compliance(ohmic_engine):
    e = ohmic_engine
    run(e, "US", "DI1, 6, 5E-5, 2")
    assert e.handle("TI1").startswith("NAI")
    assert float(e.handle("TV1")[3:]) == pytest.approx(0.5)
    run(e, "DI1, 6, 1E-4, 0.5")  # 1 V needed, 0.5 V allowed
    r = e.handle("TV1")
    assert r.startswith("C") and float(r[3:]) == pytest.approx(0.5)


def list_sweep(e, values, comp="1E-4", li="'V1','I1','CH1T'", ec=0):
    run(e, "BC", "DE", "CH1, 'V1', 'I1', 1, 1", "SS",
        f"VL1, 1, {comp}, " + ", ".join(str(v) for v in values), "DT 0.001", "IT1",
        f"EC {ec}", "SM", "DM2", f"LI {li}", "MD", "ME1")


def test_list_sweep_do_lists_rd_and_timestamps(ohmic_engine):
    e = ohmic_engine
    list_sweep(e, [0.1, 0.5, 1.5, 0.5])
    assert int(e.handle("SP")) & 1
    items = e.handle("DO 'I1'").split(",")
    assert len(items) == 4 and all(re.match(r"^[NC][+-]\d\.\d{4}E[+-]\d\d$", x) for x in items)
    assert [x[0] for x in items] == ["N", "N", "C", "N"]
    t = [float(x[1:]) for x in e.handle("DO 'CH1T'").split(",")]
    step = 0.001 + 0.1 / 60
    np.testing.assert_allclose(t, step * np.arange(1, 5), rtol=1e-4)
    assert e.handle("RD 'I1', 2") == items[1]
    assert e.handle("RD 'I1', 9") == "0"  # not measured [M 5-41]
    e.handle("BC")
    assert not int(e.handle("SP")) & 1


def test_current_not_in_li_is_not_measured(ohmic_engine):
    list_sweep(ohmic_engine, [0.1, 0.2], li="'V1'")
    assert ohmic_engine.handle("DO 'I1'") == ""


def test_list_limit_and_exit_on_compliance(ohmic_engine):
    e = ohmic_engine
    run(e, "SS", "VL1, 1, 1E-3, " + ", ".join(["0"] * 4097))
    assert error(e).endswith("(-993)")
    e.handle(":ERROR:LAST:CLEAR")
    list_sweep(e, [0.1, 1.5, 0.1, 0.1], ec=1)
    assert len(e.handle("DO 'V1'").split(",")) == 2  # stopped at the compliance point


def test_vr_linear_sweep_and_me3_append(ohmic_engine):
    e = ohmic_engine
    run(e, "BC", "DE", "CH1, 'V1', 'I1', 1, 1", "SS", "VR1, -0.02, 0.02, 0.01, 1E-3", "SM",
        "LI 'V1','I1'", "MD", "ME1")
    v = [float(x[1:]) for x in e.handle("DO 'V1'").split(",")]
    np.testing.assert_allclose(v, [-0.02, -0.01, 0, 0.01, 0.02], atol=1e-9)
    e.handle("ME3")
    assert len(e.handle("DO 'V1'").split(",")) == 10
    t = [float(x[1:]) for x in e.handle("DO 'CH1T'").split(",")]
    assert np.all(np.diff(t) > 0)


def test_sampling_mode_intervals(ohmic_engine):
    e = ohmic_engine
    run(e, "BC", "DE", "CH1, 'V1', 'I1', 1, 3", "SS", "VC1, 0.2, 1E-3", "SM", "NR 5", "IN 2",
        "WT 1", "DM2", "LI 'I1','CH1T'", "MD", "ME1")
    t = [float(x[1:]) for x in e.handle("DO 'CH1T'").split(",")]
    np.testing.assert_allclose(t, [2, 4, 6, 8, 10])
    i = [float(x[1:]) for x in e.handle("DO 'I1'").split(",")]
    np.testing.assert_allclose(i, 2e-5)
    assert e.device.time == pytest.approx(11.0)


def test_rpm_routes_smu1_to_the_device(make_ohmic_engine):
    e = make_ohmic_engine(("SMU1", "", "", "", "PMU1RPM1", "", "", ""))
    run(e, "US", "DV1, 1, 1, 1E-3")
    assert float(e.handle("TI1")[3:]) == 0.0  # RPM on PMU1-1 is routed to the PMU
    assert not e.outputs_safe()
    e.handle(":PMU:RPM:CONFIGURE PMU1-1, 2")
    assert float(e.handle("TI1")[3:]) == pytest.approx(1e-4)
    run(e, "DV1")
    assert not e.outputs_safe()  # the RPM is not back on the PMU
    e.handle(":PMU:RPM:CONFIGURE PMU1-1, 0")
    assert e.outputs_safe()


def test_sim_advance_biases_the_device_with_the_output_on(ohmic_engine):
    e = ohmic_engine
    run(e, "US", "DV1, 1, 1, 1E-3", ":SIM:ADVANCE 5")
    assert e.device.drives[-1] == 1 and float(e.handle(":SIM:TIME?")) >= 5


def test_space_separated_commands_of_the_manuals_c_examples(ohmic_engine):
    """[M 5-44…5-46]: ``IT1 BC DR1``, ``DE CH1,'VE','IE',1,1``, ``SS VR1,0,1,0.05,50E-3``,
    ``SM LI 'VE','IE'``, ``MD ME1`` each in one message."""
    e = ohmic_engine
    for message in ("IT1 BC DR1", "DE CH1, 'VE', 'IE', 1, 1", "SS VR1,0,1,0.05,50E-3",
                    "SM LI 'VE','IE'", "MD ME1"):
        assert e.handle(message) == "ACK"
        assert error(e) == "No error. (0)", message
    assert len(e.handle("DO 'IE'").split(",")) == 21
    assert int(e.handle("SP")) & 64  # DR1: RQS with data ready
    assert e.handle("SS DT 7 IT1") == "ACK" and error(e).endswith("(-993)")


def test_a_paced_test_is_busy_and_refuses_a_second_start(make_ohmic_engine):
    e = make_ohmic_engine(speed=100.0)  # 5 points x ~1 s at 100x: ~50 ms of wall time
    run(e, "BC", "DE", "CH1, 'V1', 'I1', 1, 1", "SS", "VL1, 1, 1E-3, 0, 0.1, 0.2, 0.3, 0.4",
        "DT 1", "SM", "LI 'V1','I1'", "MD", "ME1")
    assert int(e.handle("SP")) == 16  # busy
    e.handle("ME1")
    assert error(e).endswith("(-980)")
    assert len(e.handle("DO 'V1'").split(",")) == 5  # DO waits for the test to end
    e.handle("ME4")
