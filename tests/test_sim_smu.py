"""The simulated 4200A's SMU side: reply formats, pages and modes, error codes, compliance.

Each assertion names the manual page it holds the simulator to ([M p], KXCI manual Rev. E).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from sim_backend.kxci import KXCIEngine

READING = re.compile(r"^[NC][A-H][VI][+-]\d\.\d{4}E[+-]\d\d$")
#: ``RD`` reply: ``±N.NNNNE±NN`` with no status letter, or ``0`` [M 5-41]
RD_VALUE = re.compile(r"^[+-]\d\.\d{4}E[+-]\d\d$")
#: the KXCI start-up channels SMU2..4 are part of every test until disabled [M 5-5]
OTHERS_OFF = "DE CH2"


def run(engine, *messages):
    return [engine.handle(m) for m in messages]


def error(engine) -> str:
    return engine.handle(":ERROR:LAST:GET")


def test_identity_and_ack():
    e = KXCIEngine(seed=3)
    assert e.handle("*IDN?") == "KEITHLEY INSTRUMENTS,KI4200A,SIM0000003,V1.13"
    assert e.handle("*OPT?") == "SMU1,SMU2,SMU3,SMU4,PMU1"  # no empty entries [M 4-4]
    assert e.handle("ID") == "KI4200A V1.13.0"  # [M 4-3]
    assert e.handle("BC") == "ACK"
    assert error(e) == ""  # nothing stored


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
    (["DE CH1 CH2 CH3 CH4", "MD", "ME1"], -991),  # nothing defined [M 5-5]
    (["DE", "CH1, 'V1', 'I1', 1, 1", "CH3, 'V3', 'I3', 1, 1", "MD", "ME1"], -991),  # 2 VAR1
    (["DE", "VS1, 'VS1', 3"], -988),  # no VS1 in this mainframe
    (["SS", "VR2, 0, 1"], -993),  # log sweep from 0
    (["SS", "VP 1, 1, 33, 1E-3"], -993),  # VAR2 has 1..32 steps [M 5-17]
    (["SM", "DM3"], -993),  # DM3/DM4 are not accepted [M 5-22]
    (["SM", "XN 'NONE', 1, -5, 5"], -993),  # axis name not defined [M 5-25]
    (["EM 0,0"], -986),  # 4145 Emulation command set not simulated
    (["SS", "SV 'D NAME'", "GT 'D OTHER'"], -984),  # no such file [M 5-29]
    (["US", "TV5"], -988),  # VM1 not in this mainframe [M 5-35]
    (["US", "TI10"], -993),  # TI channels 1..9 [M 5-34]
    (["RG 1, 1E-12"], -993),
])
def test_error_codes(messages, code):
    e = KXCIEngine()
    replies = run(e, *messages)
    assert replies[-1] == "ACK"
    if code is None:
        assert error(e) == ""
        return
    assert error(e).endswith(f"({code})")
    assert int(e.handle("SP")) & 2  # syntax-error bit, cleared by the poll [M 3-4]
    assert not int(e.handle("SP")) & 2
    e.handle(":ERROR:LAST:CLEAR")
    assert error(e) == ""


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
    run(e, "BC", OTHERS_OFF, "CH1, 'V1', 'I1', 1, 1", "SS",
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
    assert e.handle("RD 'I1', 2") == items[1][1:]  # no status letter [M 5-41]
    assert RD_VALUE.match(e.handle("RD 'CH1T', 4"))
    assert e.handle("RD 'I1', 9") == "0"  # not measured [M 5-41]
    e.handle("BC")
    assert not int(e.handle("SP")) & 1


def test_every_defined_function_is_measured_without_li(ohmic_engine):
    """Example 3 reads the current of Example 1's sweep, which sends no LI [M 5-45, 5-46]:
    a function not listed with LI is still measured (fixes: DO on a name not in LI read
    back empty)."""
    e = ohmic_engine
    list_sweep(e, [0.1, 0.2], li="'V1'")
    assert len(e.handle("DO 'I1'").split(",")) == 2
    list_sweep(e, [0.1, 0.2], li="'I1'")
    v = [float(x[1:]) for x in e.handle("DO 'V1'").split(",")]
    assert v == pytest.approx([0.1, 0.2])


def test_list_limit_and_exit_on_compliance(ohmic_engine):
    e = ohmic_engine
    run(e, "SS", "VL1, 1, 1E-3, " + ", ".join(["0"] * 4097))
    assert error(e).endswith("(-993)")
    e.handle(":ERROR:LAST:CLEAR")
    list_sweep(e, [0.1, 1.5, 0.1, 0.1], ec=1)
    assert len(e.handle("DO 'V1'").split(",")) == 2  # stopped at the compliance point


def test_vr_linear_sweep_and_me3_append(ohmic_engine):
    e = ohmic_engine
    run(e, "BC", OTHERS_OFF, "CH1, 'V1', 'I1', 1, 1", "SS", "VR1, -0.02, 0.02, 0.01, 1E-3", "SM",
        "LI 'V1','I1'", "MD", "ME1")
    v = [float(x[1:]) for x in e.handle("DO 'V1'").split(",")]
    np.testing.assert_allclose(v, [-0.02, -0.01, 0, 0.01, 0.02], atol=1e-9)
    e.handle("ME3")
    assert len(e.handle("DO 'V1'").split(",")) == 10
    t = [float(x[1:]) for x in e.handle("DO 'CH1T'").split(",")]
    assert np.all(np.diff(t) > 0)


def test_sampling_mode_intervals(ohmic_engine):
    e = ohmic_engine
    run(e, "BC", OTHERS_OFF, "CH1, 'V1', 'I1', 1, 3", "SS", "VC1, 0.2, 1E-3", "SM", "NR 5", "IN 2",
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
    for message in ("IT1 BC DR1", "DE CH1 CH2", "DE CH1, 'VE', 'IE', 1, 1", "SS VR1,0,1,0.05,50E-3",
                    "SM LI 'VE','IE'", "MD ME1"):
        assert e.handle(message) == "ACK"
        assert error(e) == "", message
    assert len(e.handle("DO 'IE'").split(",")) == 21
    assert int(e.handle("SP")) & 64  # DR1: RQS with data ready
    assert e.handle("SS DT 7 IT1") == "ACK" and error(e).endswith("(-993)")


def test_a_paced_test_is_busy_and_refuses_a_second_start(make_ohmic_engine):
    e = make_ohmic_engine(speed=100.0)  # 5 points x ~1 s at 100x: ~50 ms of wall time
    run(e, "BC", OTHERS_OFF, "CH1, 'V1', 'I1', 1, 1", "SS",
        "VL1, 1, 1E-3, 0, 0.1, 0.2, 0.3, 0.4", "DT 1", "SM", "LI 'V1','I1'", "MD", "ME1")
    assert int(e.handle("SP")) == 16  # busy
    e.handle("ME1")
    assert error(e).endswith("(-980)")
    e.handle(":ERROR:LAST:CLEAR")
    assert e.handle("DO 'V1'") == "ACK"  # data before the end of the test [M 3-5]
    assert error(e).endswith("(-980)")
    e.handle("ME4")


def test_real_time_rd_while_the_test_runs(make_ohmic_engine):
    """Program 4's loop [M 5-46, 5-47]: ``RD 'CH1T', n`` is 0 until point n is measured,
    at the simulated pace; then V and I of that point are readable."""
    import time

    e = make_ohmic_engine(speed=20.0)  # 20 points x 0.1 s at 20x: 0.1 s of wall time
    run(e, "BC", OTHERS_OFF, "CH1, 'V1', 'I1', 1, 1", "SS",
        "VL1, 1, 1E-3, " + ", ".join(["0.1"] * 20), "DT 0.0983", "IT1", "MD", "ME1")
    seen = []
    deadline = time.monotonic() + 5
    point = 1
    while point <= 20 and time.monotonic() < deadline:
        t = e.handle(f"RD'CH1T',{point}")
        if t == "0":
            seen.append(point)
            time.sleep(0.002)
            continue
        assert RD_VALUE.match(t) and float(t) == pytest.approx(0.1 * point, rel=1e-3)
        assert float(e.handle(f"RD'I1',{point}")) == pytest.approx(1e-5)
        point += 1
    assert point == 21
    assert len(set(seen)) > 5  # most points were polled before they were measured
    assert int(e.handle("SP")) & 1


def test_every_channel_of_the_test_is_measured(ohmic_engine):
    """SMU1 sweeps the device (VAR1), SMU2 holds a constant voltage on nothing: both
    channels' V, I and timestamps are in the buffer [M 5-7, 5-38]."""
    e = ohmic_engine
    run(e, "BC", "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'VB', 'IB', 1, 3", "SS",
        "VL1, 1, 1E-3, 0.1, 0.2, 0.3", "VC2, 1.5, 1E-3", "MD", "ME1")
    assert [float(x[1:]) for x in e.handle("DO 'VB'").split(",")] == pytest.approx([1.5] * 3)
    assert [float(x[1:]) for x in e.handle("DO 'IB'").split(",")] == [0.0] * 3  # open
    assert e.handle("DO 'VBT'") == e.handle("DO 'CH1T'") == e.handle("DO 'CH2T'")
    assert [float(x[1:]) for x in e.handle("DO 'I1'").split(",")] == pytest.approx(
        [1e-5, 2e-5, 3e-5])


def test_var2_steps_and_current_sweeps(ohmic_engine):
    """Example 1's layout [M 5-44, 5-45]: a VAR1 sweep per VAR2 step; IR current sweep,
    VP voltage steps, points = int(|stop-start|/step + 1.5) per sweep [M 5-19]."""
    e = ohmic_engine
    run(e, "BC", "DE", "CH1, 'V1', 'I1', 2, 1", "CH2, 'V2', 'I2', 1, 2", "SS",
        "IR1, 1E-5, 5E-5, 1E-5, 10", "VP 0.5, 0.5, 3, 1E-3", "MD", "ME1")
    v1 = [float(x[1:]) for x in e.handle("DO 'V1'").split(",")]
    assert v1 == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5] * 3)  # 10 kOhm x I
    v2 = [float(x[1:]) for x in e.handle("DO 'V2'").split(",")]
    assert v2 == pytest.approx([0.5] * 5 + [1.0] * 5 + [1.5] * 5)


def test_log_sweep_points_per_decade(ohmic_engine):
    """VR2/VR3/VR4: 10/25/50 points per decade from start to stop [M 5-19, 5-21]."""
    e = ohmic_engine
    for mode, per_decade in ((2, 10), (3, 25), (4, 50)):
        run(e, "BC", OTHERS_OFF, "CH1, 'V1', 'I1', 1, 1", "SS", f"VR{mode}, 0.01, 1",
            "MD", "ME1")
        v = [float(x[1:]) for x in e.handle("DO 'V1'").split(",")]
        assert len(v) == 2 * per_decade + 1
        assert v[0] == pytest.approx(0.01) and v[-1] == pytest.approx(1.0)
        assert np.diff(np.log10(v)) == pytest.approx(np.full(len(v) - 1, 1 / per_decade),
                                                     abs=2e-4)


def test_var1_prime_ratio_and_offset(ohmic_engine):
    """VAR1' = VAR1 x RT + FS; the manual's RT +3,2 / FS +2,2 example [M 5-11…5-14]."""
    e = ohmic_engine
    run(e, "BC", "DE", "CH1, 'V1', 'I1', 1, 1", "CH2, 'V2', 'I2', 1, 4", "SS",
        "VR1, 1, 5, 1, 0.01", "RT +3,2", "FS +2,2", "MD", "ME1")
    v2 = [float(x[1:]) for x in e.handle("DO 'V2'").split(",")]
    assert v2 == pytest.approx([5, 8, 11, 14, 17])


def test_bc_clears_the_syntax_error_bit_and_rst_sets_standard_pulse_mode(ohmic_engine):
    e = ohmic_engine
    e.handle("XYZ")
    e.handle("BC")
    assert int(e.handle("SP")) == 0
    assert e.handle(":PMU:MEASURE:MODE 2") == "ACK"
    assert error(e).endswith("(-965)")  # before :PMU:INIT [M 7-9]
    e.handle(":ERROR:LAST:CLEAR")
    e.handle("*RST")  # resets the PMU into standard pulse mode [M 4-5]
    assert e.handle(":PMU:MEASURE:MODE 2") == "ACK" and error(e) == ""


def test_user_mode_channel_codes_and_zero_current_source(make_ohmic_engine):
    """TV codes 7-10 are SMU5-8 with letters G-J; TI n is SMU n with letter A+n-1
    [M 5-34, 5-35, 3-2]; a 0 A source answers (fixes: DI1, 0, 0, 10 then TV1 dropped the
    connection)."""
    e = make_ohmic_engine(options=("SMU1", "SMU2", "SMU3", "SMU4", "SMU5", "SMU6", "VM1"))
    run(e, "US", "DV5, 1, 2.5, 1E-3", "DV6, 1, -1, 1E-3")
    assert e.handle("TV7") == "NGV+2.5000E+00"
    assert e.handle("TV8") == "NHV-1.0000E+00"
    assert e.handle("TI5") == "NEI+0.0000E+00"
    assert e.handle("TV5").startswith("NEV")  # VM1
    run(e, "DI1, 0, 0, 10")
    assert e.handle("TV1") == "NAV+0.0000E+00"
    assert int(e.handle("SP")) & 1  # a user-mode reading sets data ready [3P]


def test_me2_repeats_until_me4_and_me4_drops_unmeasured_points(make_ohmic_engine):
    """ME2 runs until ME4; ME4 aborts, keeping only the points measured so far [M 5-28]."""
    import time

    e = make_ohmic_engine()
    run(e, "BC", OTHERS_OFF, "CH1, 'V1', 'I1', 1, 1", "SS", "VL1, 1, 1E-3, 0.1, 0.2",
        "MD", "ME2")
    assert int(e.handle("SP")) & 16  # busy until ME4
    assert e.handle("RD 'V1', 2") != "0"
    e.handle("DO 'V1'")
    assert error(e).endswith("(-980)")
    e.handle("ME4")
    assert len(e.handle("DO 'V1'").split(",")) == 2
    paced = make_ohmic_engine(speed=10.0)  # 100 points x 0.1 s at 10x: 1 s of wall time
    run(paced, "BC", OTHERS_OFF, "CH1, 'V1', 'I1', 1, 1", "SS",
        "VL1, 1, 1E-3, " + ", ".join(["0.1"] * 100), "DT 0.0833", "MD", "ME1")
    time.sleep(0.2)
    paced.handle("ME4")
    n = len(paced.handle("DO 'V1'").split(","))
    assert 1 <= n < 60  # about 20 measured in 0.2 s; the rest dropped


def test_var1_prime_on_a_voltage_source_the_manuals_ch_example(make_ohmic_engine):
    """VAR1 1..3 V in 1 V steps, RT 2, FS 1: VAR1' = 3, 5, 7 V [M 5-8]; here on VS1 [M 5-9]."""
    e = make_ohmic_engine(options=("SMU1", "VS1"))
    run(e, "DE", "CH1, 'V1', 'I1', 1, 1", "VS1, 'VS', 4", "SS", "VR1, 1, 3, 1, 1E-3", "RT 2",
        "FS 1", "MD", "ME1")
    assert error(e) == ""
    assert [float(x[1:]) for x in e.handle("DO 'VS'").split(",")] == [3.0, 5.0, 7.0]
