"""Exact KXCI dialogues of every command family (pymeasure ``expected_protocol``).

Each dialogue is what the driver must send, in the manual's syntax [M §4, §5, §7], and
what the instrument answers. The manual's own examples (PMU pulse train [M 7-20] and
Segment Arb [M 7-57, 7-58]) are written verbatim; their numerals are normalised with the
driver's 12-character number format (``100e-6`` -> ``0.0001``), which changes the
spelling of a number but never its value, its position or the command.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from drivers.keithley4200 import CommunicationError, InstrumentError, Keithley4200A
from drivers.pmu_config import PulseTiming, PulseTrainConfig, SarbSequence
from drivers.pmu_data import decode_status
from drivers.validation import fmt_number

IDN = "KEITHLEY INSTRUMENTS,KI4200A,1442736,V1.8.1"
SIM_IDN = "KEITHLEY INSTRUMENTS,KI4200A,SIM0000001,V1.13"


def init(opt: str = "SMU1,SMU2,,,PMU1,,,", idn: str = IDN) -> list[tuple[str, str]]:
    return [("*IDN?", idn), ("*OPT?", opt)]


def acked(*commands: str) -> list[tuple[str, str]]:
    return [(c, "ACK") for c in commands]


#: a test starts by clearing stale errors and the status byte [M 4-3, 3-4]
CLEAR_STALE = [(":ERROR:LAST:CLEAR", "ACK"), ("SP", "0")]


def checked(*commands: str) -> list[tuple[str, str]]:
    """Set-up commands of a test, each followed by a status-byte read (``SP``) so that a
    rejection is reported as that command [M 3-4, 4-3]."""
    return [m for c in commands for m in ((c, "ACK"), ("SP", "0"))]


def manual(line: str) -> str:
    """A manual line with its numerals in the driver's number format (value unchanged)."""
    head, _, rest = line.partition(" ")
    if not rest:
        return head
    out = []
    for token in (t.strip() for t in rest.split(",")):
        try:
            out.append(fmt_number(float(token)) if not token.isdigit() else token)
        except ValueError:
            out.append(token)
    return f"{head} {', '.join(out)}"


# ---------------------------------------------------------------------- identity, cards
def test_cards_from_opt_including_empty_slots_rpms_and_preamps():
    with expected_protocol(Keithley4200A,
                           init("SMU1,SMUPA2,HPSMU3,,PMU1RPM1-2,PMU2,,")) as k:
        assert sorted(k.smus) == [1, 2, 3]
        assert k.smus[2].card.preamp and k.smus[3].card.high_power
        assert not k.smus[1].card.preamp and k.smus[1].card.i_max == 0.105
        assert k.smus[3].card.i_max == 1.05
        assert sorted(k.pmus) == [1, 2, 3, 4]
        assert k.pmus[1].rpm and k.pmus[2].rpm and not k.pmus[3].rpm
        assert k.pmus[3].hrid == "PMU2-1"
        assert k.cards[3] == "" and not k.simulated


def test_empty_and_unknown_slots_do_not_crash():
    with expected_protocol(Keithley4200A, init(",,CVU1,,,,,")) as k:
        assert k.smus == {} and k.pmus == {}
        assert k.mainframe.other == ["CVU1"]


def test_simulated_flag_from_idn_serial():
    with expected_protocol(Keithley4200A, init(idn=SIM_IDN) + [(":SIM:TIME?", "1.5")]) as k:
        assert k.simulated and k.sim_time() == 1.5


# ---------------------------------------------------------------------- errors
def test_error_retrieval_becomes_exception_with_code_and_text():
    with expected_protocol(Keithley4200A, init() + [
        (":ERROR:LAST:GET", "KXCI command error. (-992)"),
        (":ERROR:LAST:CLEAR", "ACK"),
        (":ERROR:LAST:GET", ""),
    ]) as k:
        with pytest.raises(InstrumentError) as err:
            k.check_errors("XX")
        assert err.value.code == -992 and err.value.text == "KXCI command error."
        assert k.last_error() is None


def test_missing_ack_is_an_error():
    with expected_protocol(Keithley4200A, init() + [("BC", "NAK")]) as k:
        with pytest.raises(InstrumentError, match="expected ACK"):
            k.clear_buffer()


# ---------------------------------------------------------------------- user mode
def test_user_mode_source_and_reads_keep_status_letters():
    with expected_protocol(Keithley4200A, init() + acked("US", "DV1, 1, 0.2, 0.0001") + [
        ("TI1", "NAI+1.2345E-06"), ("TV1", "CAV+1.9000E-01"),
    ] + acked("DI2, 7, 0.001, 2", "DV1", "DI2")) as k:
        k.smus[1].source_voltage(0.2, 1e-4, range_code=1)
        r = k.smus[1].measure_current()
        assert r.value == pytest.approx(1.2345e-6) and r.status == "N" and not r.compliance
        v = k.smus[1].measure_voltage()
        assert v.compliance and v.value == pytest.approx(0.19)
        k.smus[2].source_current(1e-3, 2.0, range_code=7)
        k.smus[1].output_off()
        k.command("DI2")


def test_smu_pulse_user_mode_uses_instrument_time_on_the_simulator():
    with expected_protocol(Keithley4200A, init(idn=SIM_IDN) + acked(
        "US", "DV1, 0, 1.5, 0.001", ":SIM:ADVANCE 0.005") + [("TI1", "CAI+1.0000E-03")]
            + acked("DV1, 0, 0, 0.001")) as k:
        r = k.smu_pulse(1, 1.5, 5e-3, 1e-3)
        assert r.compliance and r.value == pytest.approx(1e-3)


def test_modeless_integration_range_and_exit_on_compliance():
    with expected_protocol(Keithley4200A, init() + acked(
            "IT1", "IT3", "IT4, 1, 1, 0.01", "RG 1, 1e-07", "EC 1", "EC 0", "BC")) as k:
        k.integration("short")
        k.integration("long")
        k.integration(0.01)
        k.smus[1].lowest_current_range(100e-9)  # validated method
        k.exit_on_compliance(True)
        k.exit_on_compliance(False)
        k.clear_buffer()


# ---------------------------------------------------------------------- system mode
SWEEP_RESULT = ("N+1.0000E-01,N+2.0000E-01,C+2.9000E-01", "N+1.0000E-06,N+2.0000E-06,C+1.0000E-04",
                "N+1.0000E-02,N+2.0000E-02,N+3.0000E-02")


def sweep_tail(smu=1) -> list[tuple[str, str]]:
    return checked("SM", "DM2", f"LI 'V{smu}', 'I{smu}', 'CH{smu}T'", "MD") + acked("ME1") + [
        (":ERROR:LAST:GET", ""), ("SP", "16"), ("SP", "1"),
        (f"DO 'V{smu}'", SWEEP_RESULT[0]), (f"DO 'I{smu}'", SWEEP_RESULT[1]),
        (f"DO 'CH{smu}T'", SWEEP_RESULT[2]),
    ]


def test_list_sweep_dialogue_with_ground_and_timestamps():
    dialogue = init() + CLEAR_STALE + checked(
        "BC", "DE", "CH2, 'V2', 'I2', 3, 3", "CH1, 'V1', 'I1', 1, 1", "SS",
        "VL1, 1, 0.0001, 0.1, 0.2, 0.3", "HT 0.5", "DT 0.001", "IT2", "EC 0") + sweep_tail()
    with expected_protocol(Keithley4200A, dialogue) as k:
        data = k.list_sweep(1, [0.1, 0.2, 0.3], 1e-4, delay=1e-3, hold=0.5, ground=[2])
    np.testing.assert_allclose(data.voltage, [0.1, 0.2, 0.29])
    np.testing.assert_allclose(data.time, [0.01, 0.02, 0.03])
    assert list(data.compliance) == [False, False, True]
    np.testing.assert_allclose(data.program, [0.1, 0.2, 0.3])


def test_list_sweep_disables_the_other_smus_first():
    with expected_protocol(Keithley4200A, init("SMU1,SMU2,SMU3,,,,,") + CLEAR_STALE + checked(
            "BC", "DE", "CH2", "CH3", "CH1, 'V1', 'I1', 1, 1", "SS",
            "VL1, 1, 0.001, 0, 1, 0", "DT 0", "IT2", "EC 1") + sweep_tail()) as k:
        k.list_sweep(1, [0, 1, 0], 1e-3, exit_on_compliance=True)


def test_smu_pulse_train_is_a_list_sweep_held_width_per_level():
    with expected_protocol(Keithley4200A, init("SMU1,,,,,,,") + CLEAR_STALE + checked(
            "BC", "DE", "CH1, 'V1', 'I1', 1, 1", "SS", "VL1, 1, 0.0005, 1.5, 0, 0.1",
            "DT 0.002", "IT1", "EC 0") + sweep_tail()) as k:
        data = k.smu_pulse_train(1, np.array([1.5, 0.0, 0.1]), 2e-3, 5e-4)
    assert data.compliance[-1] and list(data.program) == [1.5, 0.0, 0.1]


def test_linear_sweep_vr():
    with expected_protocol(Keithley4200A, init("SMU1,,,,,,,") + CLEAR_STALE + checked(
            "BC", "DE", "CH1, 'V1', 'I1', 1, 1", "SS", "VR1, 0, 1, 0.5, 0.01", "DT 0",
            "IT4, 1, 1, 0.5", "EC 0") + sweep_tail()) as k:
        data = k.linear_sweep(1, 0.0, 1.0, 0.5, 1e-2, integration=0.5)
    np.testing.assert_allclose(data.program, [0.0, 0.5, 1.0])


def test_sampling_mode_nr_in_wt_with_constant_source():
    with expected_protocol(Keithley4200A, init("SMU1,,,,,,,") + CLEAR_STALE + checked(
            "BC", "DE", "CH1, 'V1', 'I1', 1, 3", "SS", "VC1, 0.1, 0.0001", "IT2", "SM",
            "NR 3", "IN 0.5", "WT 1") + sweep_tail()) as k:
        data = k.sample(1, 0.1, 1e-4, 3, 0.5, wait=1.0)
    assert data.current.size == 3


def test_read_buffer_with_timestamps_and_status():
    with expected_protocol(Keithley4200A, init() + [
            ("DO 'CH1T'", "N+1.0000E-03,N+2.0000E-03")]) as k:
        values, status = k.read_buffer("CH1T")
    np.testing.assert_allclose(values, [1e-3, 2e-3])
    assert list(status) == ["N", "N"]


class _SteppedTime:
    """A monotonic clock that reads the given times in turn, and sleeps that take no time:
    how many status polls fit in a timeout then depends on the driver, not on the load."""

    def __init__(self, readings):
        self.readings = iter(readings)

    def monotonic(self):
        return next(self.readings)

    def sleep(self, seconds):
        return None


def test_wait_for_data_times_out_and_can_be_stopped(monkeypatch):
    with expected_protocol(Keithley4200A, init() + [("SP", "16")] * 1) as k:
        with pytest.raises(InterruptedError):
            k.wait_for_data(timeout=5, should_stop=lambda: True)
    # deadline and first-poll time at 0; still busy at 0.1 ms (< 0.5 ms), past it at 1 ms:
    # exactly two polls, then the timeout.
    monkeypatch.setattr("drivers.kxci_link.time", _SteppedTime([0.0, 0.0, 0.0001, 0.001]))
    with expected_protocol(Keithley4200A, init() + [("SP", "16")] * 2) as k:
        with pytest.raises(TimeoutError):
            k.wait_for_data(timeout=0.0005, poll=0.001)


def test_status_byte_syntax_error_raises_instrument_error():
    with expected_protocol(Keithley4200A, init() + [
            ("SP", "2"), (":ERROR:LAST:GET", "Invalid command argument. (-993)"),
            (":ERROR:LAST:CLEAR", "ACK")]) as k:
        with pytest.raises(InstrumentError) as err:
            k.wait_for_data(timeout=1)
        assert err.value.code == -993


# ---------------------------------------------------------------------- GPIB
def test_gpib_has_no_ack_and_polls_the_serial_byte():
    dialogue = init("SMU1,,,,,,,") + [(c, None) for c in (
        ":ERROR:LAST:CLEAR", "BC", "DE", "CH1, 'V1', 'I1', 1, 1", "SS",
        "VL1, 1, 0.0001, 0.1, 0.2, 0.3", "DT 0", "IT2", "EC 0", "SM", "DM2",
        "LI 'V1', 'I1', 'CH1T'", "MD", "ME1")] + [
        (":ERROR:LAST:GET", ""), ("DO 'V1'", SWEEP_RESULT[0]),
        ("DO 'I1'", SWEEP_RESULT[1]), ("DO 'CH1T'", SWEEP_RESULT[2])]
    with expected_protocol(Keithley4200A, dialogue, ack=False,
                           connection_methods={"read_stb": 1}) as k:
        data = k.list_sweep(1, [0.1, 0.2, 0.3], 1e-4)
        assert k.adapter.connection.read_stb.called
    assert data.current.size == 3


def test_gpib_srq_sends_dr1_and_waits_for_service_request():
    dialogue = init("SMU1,,,,,,,") + [(c, None) for c in (
        ":ERROR:LAST:CLEAR", "BC", "DR1", "DE", "CH1, 'V1', 'I1', 1, 1", "SS",
        "VL1, 1, 0.0001, 0.1, 0.2, 0.3", "DT 0", "IT2", "EC 0", "SM", "DM2",
        "LI 'V1', 'I1', 'CH1T'", "MD", "ME1")] + [
        (":ERROR:LAST:GET", ""), (":ERROR:LAST:GET", ""),
        ("DO 'V1'", SWEEP_RESULT[0]), ("DO 'I1'", SWEEP_RESULT[1]),
        ("DO 'CH1T'", SWEEP_RESULT[2])]
    with expected_protocol(Keithley4200A, dialogue, ack=False, srq=True,
                           connection_methods={"wait_for_srq": None}) as k:
        k.list_sweep(1, [0.1, 0.2, 0.3], 1e-4)
        assert k.adapter.connection.wait_for_srq.called


# ---------------------------------------------------------------------- PMU
MANUAL_PULSE_TRAIN = """:PMU:INIT 0
:PMU:RPM:CONFIGURE PMU1-1, 0
:PMU:MEASURE:RANGE 1, 2, 10e-6
:PMU:MEASURE:MODE 2
:PMU:PULSE:TRAIN 1, 0.0, 5.0
:PMU:PULSE:TIMES 1, 100e-6, 50e-6, 5e-6, 5e-6
:PMU:PULSE:BURST:COUNT 1
:PMU:OUTPUT:STATE 1, 1
:PMU:EXECUTE""".splitlines()


def test_manual_pmu_pulse_train_example():
    """[M 7-20]: waveform capture of one 5 V, 50 us pulse through an RPM, 10 uA range."""
    points = "0.00788628,-21.7246e-9,0,01020021;4.99,4.2e-06,5e-09,01020021"
    dialogue = init("SMU1,,,,PMU1RPM1-2,,,") + acked(*(manual(x) for x in MANUAL_PULSE_TRAIN))
    dialogue += [(":ERROR:LAST:GET", ""), (":PMU:TEST:STATUS?", "1"),
                 (":PMU:TEST:STATUS?", "0"), (":PMU:DATA:COUNT? 1", "2"),
                 (":PMU:DATA:GET 1, 0, 2", points), (":PMU:OUTPUT:STATE 1, 0", "ACK")]
    cfg = PulseTrainConfig(base=0.0, amplitude=5.0, i_range=10e-6,
                           timing=PulseTiming(100e-6, 50e-6, 5e-6, 5e-6), count=1)
    with expected_protocol(Keithley4200A, dialogue) as k:
        wf = k.pmu_pulse_train(1, cfg)
    np.testing.assert_allclose(wf.voltage, [0.00788628, 4.99])
    np.testing.assert_allclose(wf.current, [-21.7246e-9, 4.2e-6])
    st = wf.status
    assert list(st.channel) == [1, 1] and list(st.measure_type) == [2, 2]
    assert st.i_range[0] == pytest.approx(10e-6) and st.v_range[0] == 10 and st.rpm[0] == 1
    assert not st.i_overflow.any() and wf.current_bound is None


def test_pulse_train_with_load_range_rate_and_declared_series_element():
    dialogue = init() + acked(
        ":PMU:INIT 0", ":PMU:SOURCE:RANGE 1, 40", ":PMU:LOAD 1, 1000",
        ":PMU:MEASURE:RANGE 1, 2, 0.01", ":PMU:MEASURE:MODE 4", ":PMU:TIMES:WAVEFORM 1, 0.1, 0.3",
        ":PMU:SAMPLE:RATE 1e+07", ":PMU:PULSE:TRAIN 1, -1, 8", ":PMU:PULSE:TIMES 1, 1e-05, "
        "5e-06, 1e-07, 1e-07, 1e-07", ":PMU:PULSE:BURST:COUNT 20", ":PMU:OUTPUT:STATE 1, 1",
        ":PMU:EXECUTE") + [
        (":ERROR:LAST:GET", ""), (":PMU:TEST:STATUS?", "0"),
        (":PMU:DATA:COUNT? 1", "1"), (":PMU:DATA:GET 1, 0, 1", "8,0.0079,0,00000C54"),
        (":PMU:OUTPUT:STATE 1, 0", "ACK")]
    cfg = PulseTrainConfig(base=-1, amplitude=8, v_range=40, load=1e3, i_range=10e-3,
                           timing=PulseTiming(10e-6, 5e-6, 1e-7, 1e-7, 1e-7), count=20,
                           sample_rate=1e7, pre=0.1, post=0.3, average=True,
                           series_resistance=950.0)
    with expected_protocol(Keithley4200A, dialogue) as k:
        wf = k.pmu_pulse_train(1, cfg)
    assert wf.current_bound == pytest.approx(8 * 1050 / 1000 / 1000)
    assert wf.status.i_overflow[0] and wf.status.v_range[0] == 40


def test_pmu_execute_error_is_raised_and_output_switched_off():
    dialogue = init() + acked(*(manual(x) for x in MANUAL_PULSE_TRAIN if "RPM" not in x
                                and "MEASURE:RANGE" not in x))
    dialogue.insert(3, (":PMU:MEASURE:RANGE 1, 2, 0.01", "ACK"))
    dialogue += [(":ERROR:LAST:GET", "Invalid pulse configuration. (-967)"),
                 (":ERROR:LAST:CLEAR", "ACK"), (":PMU:OUTPUT:STATE 1, 0", "ACK")]
    cfg = PulseTrainConfig(amplitude=5.0, timing=PulseTiming(100e-6, 50e-6, 5e-6, 5e-6))
    with expected_protocol(Keithley4200A, dialogue) as k:
        with pytest.raises(InstrumentError) as err:
            k.pmu_pulse_train(1, cfg)
    assert err.value.code == -967


MANUAL_SARB = """:PMU:INIT 1
:PMU:RPM:CONFIGURE PMU1-1, 0
:PMU:MEASURE:RANGE 1, 2, 0.2
:PMU:SARB:SEQ:STARTV 1, 1, 0, 1, 1, 1.5, 1.5, 0, 0
:PMU:SARB:SEQ:STOPV 1, 1, 1, 1, 1.5, 1.5, 0, 0, 0
:PMU:SARB:SEQ:TIME 1, 1, 50e-9, 100e-9, 20e-9, 150e-9, 50e-9, 500e-9, 130e-9
:PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 1, 0, 1, 0, 0, 0
:PMU:SARB:SEQ:MEAS:START 1, 1, 0, 25e-9, 0, 50e-9, 0, 0, 0
:PMU:SARB:SEQ:MEAS:STOP 1, 1, 0, 75e-9, 0, 100e-9, 0, 0, 0
:PMU:SARB:WFM:SEQ:LIST 1, 1, 1
:PMU:OUTPUT:STATE 1, 1
:PMU:EXECUTE""".splitlines()

MANUAL_SARB_SEQUENCE = SarbSequence(
    start_v=(0, 1, 1, 1.5, 1.5, 0, 0), stop_v=(1, 1, 1.5, 1.5, 0, 0, 0),
    time=(50e-9, 100e-9, 20e-9, 150e-9, 50e-9, 500e-9, 130e-9),
    meas_type=(0, 1, 0, 1, 0, 0, 0), meas_start=(0, 25e-9, 0, 50e-9, 0, 0, 0),
    meas_stop=(0, 75e-9, 0, 100e-9, 0, 0, 0))


def test_manual_segment_arb_example():
    """[M 7-57, 7-58]: one 7-segment sequence with two spot-mean windows, 0.2 A range."""
    dialogue = init("SMU1,,,,PMU1RPM1-2,,,") + acked(*(manual(x) for x in MANUAL_SARB))
    dialogue += [(":ERROR:LAST:GET", ""), (":PMU:TEST:STATUS?", "0"),
                 (":PMU:DATA:COUNT? 1", "2"),
                 (":PMU:DATA:GET 1, 0, 2", "1,1.5e-06,7.5e-08,01010061;"
                                           "1.5,2.2e-06,2.2e-07,01010061"),
                 (":PMU:OUTPUT:STATE 1, 0", "ACK")]
    with expected_protocol(Keithley4200A, dialogue) as k:
        wf = k.pmu_segment_arb(1, {1: MANUAL_SARB_SEQUENCE}, [(1, 1)])
    np.testing.assert_allclose(wf.voltage, [1, 1.5])
    assert list(wf.status.measure_type) == [1, 1]
    assert wf.status.i_range[0] == pytest.approx(0.2)


def test_sarb_values_beyond_128_continue_with_add():
    n = 200
    v = tuple([0.0] * n)
    seq = SarbSequence(v, v, tuple([20e-9] * n))
    times = [fmt_number(20e-9)] * n
    zeros = ["0"] * n
    with expected_protocol(Keithley4200A, init() + acked(
            ":PMU:SARB:SEQ:STARTV 1, 3, " + ", ".join(zeros[:128]),
            ":PMU:SARB:SEQ:STARTV:ADD 1, 3, " + ", ".join(zeros[128:]),
            ":PMU:SARB:SEQ:STOPV 1, 3, " + ", ".join(zeros[:128]),
            ":PMU:SARB:SEQ:STOPV:ADD 1, 3, " + ", ".join(zeros[128:]),
            ":PMU:SARB:SEQ:TIME 1, 3, " + ", ".join(times[:128]),
            ":PMU:SARB:SEQ:TIME:ADD 1, 3, " + ", ".join(times[128:]),
            ":PMU:SARB:WFM:SEQ:LIST 1, 3, 1000")) as k:
        k.pmus[1].sarb_sequence(3, seq)
        k.pmus[1].sarb_sequence_list([(3, 1000)])


def test_pmu_single_commands():
    with expected_protocol(Keithley4200A, init("SMU1,,,,PMU1RPM1,,,") + acked(
            ":PMU:INIT 0", ":PMU:RPM:CONFIGURE PMU1-1, 2", ":PMU:MEASURE:RANGE 1, 0",
            ":PMU:MEASURE:PIV 1, 1, 1", ":PMU:TIMES:PIV 1, 0.75, 0.9",
            ":PMU:MEASURE:MODE 1", ":PMU:SAMPLE:RATE 3e+07", ":PMU:ABORT")
            + [(":PMU:TEST:STATUS?", "0")]) as k:
        k.pmu_init("pulse")
        k.pmus[1].rpm_configure("smu")
        k.pmus[1].measure_range(kind="auto")
        k.pmus[1].measure_piv(True, True)
        k.pmus[1].times_piv(0.75, 0.9)
        k.pmu_measure_mode("spot_mean")
        assert k.pmu_sample_rate(30e6) == pytest.approx(200e6 / 6)
        k.pmu_abort()
        assert not k.pmu_running()


def test_data_get_is_paged_by_2048_points():
    total = 5000
    row = "0.5,1e-06,{t},00020051"

    def page(start, n):
        return ";".join(row.format(t=(start + j) * 5e-9) for j in range(n))

    dialogue = init() + [(":PMU:DATA:COUNT? 2", str(total)),
                         (":PMU:DATA:GET 2, 0, 2048", page(0, 2048)),
                         (":PMU:DATA:GET 2, 2048, 2048", page(2048, 2048)),
                         (":PMU:DATA:GET 2, 4096, 904", page(4096, 904))]
    with expected_protocol(Keithley4200A, dialogue) as k:
        wf = k.pmus[2].fetch_waveform()
    assert len(wf) == total
    np.testing.assert_allclose(wf.time, np.arange(total) * 5e-9)


def test_spot_mean_fetch_has_eight_fields():
    with expected_protocol(Keithley4200A, init() + [
            (":PMU:DATA:COUNT? 1", "2"),
            (":PMU:DATA:GET 1, 0, 2", "1,1e-3,1e-6,00010051,0,0,5e-6,00010051;"
                                      "1,2e-3,2e-6,00010051,0,1e-9,6e-6,00010051")]) as k:
        sm = k.pmus[1].fetch_spot_mean()
    np.testing.assert_allclose(sm.i_high, [1e-3, 2e-3])
    np.testing.assert_allclose(sm.t_low, [5e-6, 6e-6])


def test_status_word_decoding():
    st = decode_status(np.array([0x01020021, 0x00010C76, 0x00000F56], dtype=np.uint32))
    assert list(st.rpm) == [1, 0, 0]
    assert list(st.measure_type) == [2, 1, 0]
    np.testing.assert_allclose(st.i_range, [10e-6, 0.8, 10e-3])
    assert list(st.v_range) == [10, 40, 40]
    assert list(st.channel) == [1, 2, 2]
    assert list(st.i_overflow) == [False, True, True]
    assert list(st.v_overflow) == [False, False, True]


# ---------------------------------------------------------------------- safe_off
NO_ERROR = (":ERROR:LAST:GET", "")
SAFE_OFF_RPM = (acked(":ERROR:LAST:CLEAR", ":PMU:ABORT", ":PMU:OUTPUT:STATE 1, 0",
                      ":PMU:OUTPUT:STATE 2, 0", ":PMU:RPM:CONFIGURE PMU1-1, 0",
                      ":PMU:RPM:CONFIGURE PMU1-2, 0") + [NO_ERROR]
                + acked("US", "DV1, 0, 0, 0.0001", "DV1") + [NO_ERROR]
                + acked("DV2, 0, 0, 0.0001", "DV2") + [NO_ERROR])


def test_safe_off_pmu_rpm_and_smus_twice():
    with expected_protocol(Keithley4200A, init("SMU1,SMU2,,,PMU1RPM1-2,,,") + SAFE_OFF_RPM
                           + SAFE_OFF_RPM) as k:
        assert k.safe_off() == []
        assert k.safe_off() == []


def test_safe_off_reports_commands_the_instrument_rejected():
    """On LAN a rejected command still answers ACK: only the error query reveals it."""
    with expected_protocol(Keithley4200A, init("SMU1,,,,,,,") + acked(
            ":ERROR:LAST:CLEAR", "US", "DV1, 0, 0, 0.0001", "DV1") + [
            (":ERROR:LAST:GET", "Invalid command argument. (-993)"),
            (":ERROR:LAST:CLEAR", "ACK")]) as k:
        problems = k.safe_off()
    assert len(problems) == 1 and "SMU1 off" in problems[0] and "-993" in problems[0]


def test_safe_off_never_raises_and_reports_a_missing_ack():
    with expected_protocol(Keithley4200A, init("SMU1,,,,,,,") + acked(
            ":ERROR:LAST:CLEAR", "US") + [("DV1, 0, 0, 0.0001", "NAK"), ("DV1", "ACK"),
                                          NO_ERROR]) as k:
        problems = k.safe_off()
    assert len(problems) == 1 and "SMU1 off" in problems[0]


def test_query_answered_ack_is_the_instruments_rejection():
    with expected_protocol(Keithley4200A, init(idn=SIM_IDN) + [
            (":SIM:TIME?", "ACK"), (":ERROR:LAST:GET", "Invalid command argument. (-993)"),
            (":ERROR:LAST:CLEAR", "ACK")]) as k:
        with pytest.raises(InstrumentError) as err:
            k.sim_time()
    assert err.value.code == -993 and err.value.command == ":SIM:TIME?"


def test_unreadable_reply_names_the_command():
    with expected_protocol(Keithley4200A, init() + [("DO 'I1'", "N+1.0E-3,\x15garbage")]) as k:
        with pytest.raises(CommunicationError, match="DO 'I1'"):
            k.read_buffer("I1")


def test_spot_mean_pulse_train_pulse_iv_settings():
    """Pulse I-V style spot means [M 7-30]: load 1e3, mode 1, PIV window 0.75..0.9."""
    dialogue = init() + acked(
        ":PMU:INIT 0", ":PMU:LOAD 1, 1000", ":PMU:MEASURE:RANGE 1, 2, 0.01",
        ":PMU:MEASURE:MODE 1", ":PMU:MEASURE:PIV 1, 1, 1", ":PMU:TIMES:PIV 1, 0.75, 0.9",
        ":PMU:PULSE:TRAIN 1, 0, 2", ":PMU:PULSE:TIMES 1, 1e-05, 5e-06, 1e-07, 1e-07",
        ":PMU:PULSE:BURST:COUNT 2", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE") + [
        (":ERROR:LAST:GET", ""), (":PMU:TEST:STATUS?", "0"),
        (":PMU:DATA:COUNT? 1", "2"),
        (":PMU:DATA:GET 1, 0, 2", "2,0.002,4e-06,00010051,0,0,8e-06,00010051;"
                                  "2,0.0021,1.4e-05,00010051,0,0,1.8e-05,00010051"),
        (":PMU:OUTPUT:STATE 1, 0", "ACK")]
    cfg = PulseTrainConfig(base=0, amplitude=2, load=1e3, count=2,
                           timing=PulseTiming(10e-6, 5e-6, 1e-7, 1e-7))
    with expected_protocol(Keithley4200A, dialogue) as k:
        sm = k.pmu_pulse_spot_means(1, cfg, acquire_low=True)
    np.testing.assert_allclose(sm.i_high, [2e-3, 2.1e-3])
    np.testing.assert_allclose(sm.t_low, [8e-6, 1.8e-5])


def test_rd_single_readings():
    with expected_protocol(Keithley4200A, init() + [
            ("RD 'I1', 3", "C+1.0000E-04"), ("RD 'CH1T', 4", "0")]) as k:
        r = k.read_point("I1", 3)
        assert r.compliance and r.value == pytest.approx(1e-4)
        assert k.read_point("CH1T", 4) is None
