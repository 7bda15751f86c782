"""Bad arguments raise ParameterError (parameter, value, allowed range) before anything is
sent: every dialogue below holds only the connection's ``*IDN?``/``*OPT?``, so a single
command sent to the instrument would fail the test."""

from __future__ import annotations

import numpy as np
import pytest
from pymeasure.test import expected_protocol

from drivers.keithley4200 import Keithley4200A
from drivers.pmu_config import PulseTiming, PulseTrainConfig, SarbSequence
from drivers.validation import ParameterError, fmt_number

INIT = [("*IDN?", "KEITHLEY INSTRUMENTS,KI4200A,1442736,V1.8.1"),
        ("*OPT?", "SMU1,SMUPA2,HPSMU3,,PMU1RPM1,PMU2,,")]
SEQ = SarbSequence((0, 1, 1), (1, 1, 0), (20e-9, 100e-9, 20e-9))


def _ok_train(**kw):
    base = dict(amplitude=2.0, timing=PulseTiming(10e-6, 5e-6, 100e-9, 100e-9))
    base.update(kw)
    return PulseTrainConfig(**base)


CASES = [
    # SMU user mode: per-card limits
    ("source_voltage", lambda k: k.smus[1].source_voltage(211, 1e-3), "voltage", "210"),
    ("compliance_hi", lambda k: k.smus[1].source_voltage(1, 0.2), "compliance", "0.105"),
    ("compliance_lo", lambda k: k.smus[1].source_voltage(1, 1e-9), "compliance", "1e-07"),
    ("hp_compliance", lambda k: k.smus[3].source_voltage(1, 1.1), "compliance", "1.05"),
    ("range_no_pa", lambda k: k.smus[1].source_voltage(0.1, 1e-3, 4), "range_code", "[0, 1, 2, 3]"),
    ("range_span", lambda k: k.smus[2].source_voltage(1.0, 1e-3, 4), "voltage", "0.21"),
    ("range_20", lambda k: k.smus[1].source_voltage(21.5, 1e-3, 1), "voltage", "21"),
    ("di_range", lambda k: k.smus[1].source_current(1e-3, 1, 10), "range_code", "9"),
    ("di_current", lambda k: k.smus[1].source_current(0.5, 1), "current", "0.105"),
    ("nan", lambda k: k.smus[1].source_voltage(float("nan"), 1e-3), "voltage", "finite"),
    ("rg", lambda k: k.smus[1].lowest_current_range(1e-12), "amps", "1e-07"),
    # system mode
    ("points", lambda k: k.list_sweep(1, np.zeros(4097), 1e-3), "points", "4096"),
    ("empty", lambda k: k.list_sweep(1, [], 1e-3), "points", "[1, 4096]"),
    ("list_v", lambda k: k.list_sweep(1, [0, 300], 1e-3), "voltage", "210"),
    ("smu", lambda k: k.list_sweep(5, [0, 1], 1e-3), "smu", "[1, 2, 3]"),
    ("delay", lambda k: k.list_sweep(1, [0, 1], 1e-3, delay=7), "delay", "6.553"),
    ("hold", lambda k: k.list_sweep(1, [0, 1], 1e-3, hold=700), "hold", "655.3"),
    ("integ", lambda k: k.list_sweep(1, [0, 1], 1e-3, integration="fast"), "integration", "short"),
    ("integ_plc", lambda k: k.list_sweep(1, [0, 1], 1e-3, integration=20.0), "integration", "10"),
    ("var1", lambda k: k.linear_sweep(1, 0, 10, 0.001, 1e-3), "step", "1024"),
    ("step_sign", lambda k: k.linear_sweep(1, 0, 1, -0.1, 1e-3), "step", "sign"),
    ("nr", lambda k: k.sample(1, 0.1, 1e-3, 5000, 1.0), "count", "4096"),
    ("interval", lambda k: k.sample(1, 0.1, 1e-3, 10, 0.001), "interval", "0.01"),
    ("pulse_width", lambda k: k.smu_pulse_train(1, [1, 0], 1e-4, 1e-3), "width", "0.001"),
    ("name", lambda k: k.define_channel(1, "VOLTAGE1", "I1"), "name", "1..6"),
    ("common", lambda k: k.define_channel(1, "V1", "I1", "COMMON", "VAR1"), "function", "CONST"),
    # PMU
    ("pmu_ch", lambda k: k.pmu_pulse_train(9, _ok_train()), "channel", "[1, 2, 3, 4]"),
    ("width_edges", lambda k: k.pmu_pulse_train(1, _ok_train(
        timing=PulseTiming(10e-6, 100e-9, 150e-9, 150e-9))), "width", "(rise+fall)/2"),
    ("rise", lambda k: k.pmu_pulse_train(1, _ok_train(
        timing=PulseTiming(10e-6, 200e-9, 250e-9, 20e-9))), "rise", "width"),
    ("period", lambda k: k.pmu_pulse_train(1, _ok_train(
        timing=PulseTiming(2.0, 1e-3, 1e-6, 1e-6))), "period", "1"),
    ("min_width_40", lambda k: k.pmu_pulse_train(1, _ok_train(
        v_range=40, timing=PulseTiming(10e-6, 100e-9, 50e-9, 50e-9))), "width", "2.5e-07"),
    ("delay", lambda k: k.pmu_pulse_train(1, _ok_train(
        timing=PulseTiming(10e-6, 5e-6, 100e-9, 100e-9, 10e-9))), "delay", "2e-08"),
    ("offtime", lambda k: k.pmu_pulse_train(1, _ok_train(
        timing=PulseTiming(1e-6, 900e-9, 100e-9, 100e-9))), "period", "40 ns"),
    ("level", lambda k: k.pmu_pulse_train(1, _ok_train(amplitude=12.0)), "amplitude", "10"),
    ("load", lambda k: k.pmu_pulse_train(1, _ok_train(amplitude=6.0, load=50.0)),
     "amplitude", "load 50"),
    ("i_range", lambda k: k.pmu_pulse_train(2, _ok_train(i_range=1e-6)), "i_range", "no RPM"),
    ("burst", lambda k: k.pmu_pulse_train(1, _ok_train(count=20000)), "count", "10000"),
    ("samples", lambda k: k.pmu_pulse_train(1, _ok_train(
        count=100, timing=PulseTiming(100e-6, 50e-6, 5e-6, 5e-6))), "sample_rate", "65536"),
    ("rate", lambda k: k.pmu_sample_rate(300e6), "sample_rate", "2e+08"),
    ("segments", lambda k: k.pmu_segment_arb(1, {1: SarbSequence((0, 0), (0, 0), (1e-6, 1e-6))},
                                             [(1, 1)]), "segments", "-958"),
    ("seamless", lambda k: k.pmu_segment_arb(1, {1: SarbSequence(
        (0, 1, 0.5), (1, 1, 0), (20e-9, 20e-9, 20e-9))}, [(1, 1)]), "start_v[2]", "seamless"),
    ("seg_time", lambda k: k.pmu_segment_arb(1, {1: SarbSequence(
        (0, 1, 1), (1, 1, 0), (10e-9, 20e-9, 20e-9))}, [(1, 1)]), "time", "2e-08"),
    ("resolution", lambda k: k.pmu_segment_arb(1, {1: SarbSequence(
        (0, 1, 1), (1, 1, 0), (25e-9, 20e-9, 20e-9))}, [(1, 1)]), "time", "10 ns"),
    ("unknown_seq", lambda k: k.pmu_segment_arb(1, {1: SEQ}, [(2, 1)]), "sequence_list[0]", "-961"),
    ("loop_seam", lambda k: k.pmu_segment_arb(1, {1: SarbSequence(
        (0, 1, 1), (1, 1, 0.5), (20e-9, 20e-9, 20e-9))}, [(1, 3)]), "loops[0]", "seamless"),
    ("sarb_points", lambda k: k.pmu_segment_arb(1, {1: SarbSequence(
        (0, 0, 0), (0, 0, 0), (1e-3, 1e-6, 1e-6), meas_type=(2, 0, 0))}, [(1, 1)]),
     "sequence_list", "65536"),
    ("meas_window", lambda k: k.pmu_segment_arb(1, {1: SarbSequence(
        (0, 0, 0), (0, 0, 0), (1e-6, 1e-6, 1e-6), meas_type=(1, 0, 0), meas_start=(0, 0, 0),
        meas_stop=(2e-6, 0, 0))}, [(1, 1)]), "meas_stop[0]", "1e-06"),
    ("sarb_range", lambda k: k.pmu_segment_arb(2, {1: SEQ}, [(1, 1)], i_range=1e-6),
     "i_range", "no RPM"),
    ("rpm_missing", lambda k: k.pmus[3].rpm_configure("smu"), "channel", "RPM"),
    ("loops", lambda k: k.pmus[1].sarb_sequence_list([(1, 0)]), "loops", "1e+12"),
    ("page", lambda k: k.pmus[1].data_page(0, 4096), "count", "2048"),
]


@pytest.mark.parametrize("label,call,name,allowed", CASES, ids=[c[0] for c in CASES])
def test_bad_argument_raises_before_sending(label, call, name, allowed):
    with expected_protocol(Keithley4200A, INIT) as k:
        with pytest.raises(ParameterError) as err:
            call(k)
    assert err.value.name == name
    assert allowed in err.value.allowed, err.value.allowed
    assert f"{name}=" in str(err.value) and err.value.allowed in str(err.value)


def test_rpm_ranges_are_accepted_on_rpm_channels_only():
    cfg = _ok_train(i_range=1e-6)
    assert cfg.validate(rpm=True) is cfg
    with pytest.raises(ParameterError):
        cfg.validate(rpm=False)


def test_number_format_fits_twelve_characters():
    for x in (-1e-3, 1.23456789e-12, -209.999999, 6.553, 1e-14, 123456789.123):
        text = fmt_number(x)
        assert len(text) <= 12 and float(text) == pytest.approx(x, rel=1e-6)
    with pytest.raises(ParameterError):
        fmt_number(float("inf"))
