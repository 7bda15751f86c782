"""The simulated PMU against the manual's rules that a resistor makes checkable: sample
rate adjustment [manual 7-24], sweeps and steps [7-25…7-31], requested values [7-8],
measure/PIV codes [7-14, 2-13], load-line compensation [7-10], the output relay of Segment
Arb [7-46], averaged Segment Arb measurements [7-44] and the legacy pulse commands
[7-59…7-71]. The device is a 10 kOhm resistor (``OhmicDevice``), so every expected value
follows from Ohm's law and the 50 Ohm source [7-11]."""

from __future__ import annotations

import numpy as np
import pytest

R = 1e4
GAIN = (1e6 + 50) / 1e6  # default 1 MOhm LOAD setting [7-11]
DIVIDER = R / (R + 50)  # the 50 Ohm source into the 10 kOhm device
#: values are printed with 6 significant digits [7-38]: relative rounding <= 5e-6
PRINTED = 5e-6


def send(engine, *messages) -> int:
    """Send messages; return the stored KXCI error code (0 = none)."""
    engine.handle(":ERROR:LAST:CLEAR")
    for m in messages:
        engine.handle(m)
    err = engine.handle(":ERROR:LAST:GET").strip()
    return int(err.rsplit("(", 1)[1].rstrip(")")) if err.endswith(")") else 0


def table(engine, ch=1, fields=None):
    n = int(engine.handle(f":PMU:DATA:COUNT? {ch}"))
    extra = f", {fields}" if fields else ""
    rows = []
    for s in range(0, n, 2048):
        page = engine.handle(f":PMU:DATA:GET {ch}, {s}, {min(2048, n - s)}{extra}")
        rows += [p.split(",") for p in page.split(";") if p]
    return rows


def floats(rows, k):
    return np.array([float(r[k]) for r in rows])


TRAIN = [":PMU:INIT 0", ":PMU:MEASURE:MODE 2", ":PMU:PULSE:TRAIN 1, 0, 1",
         ":PMU:PULSE:TIMES 1, 20e-6, 10e-6, 1e-6, 1e-6, 1e-6", ":PMU:OUTPUT:STATE 1, 1"]


def test_sample_rate_too_slow_is_raised_to_sample_the_interval(ohmic_engine):
    """``:PMU:SAMPLE:RATE 1e3`` with 10 us pulses [7-24]: raised to the slowest grid rate
    that samples the measure interval (it used to drop the connection)."""
    e = ohmic_engine
    assert send(e, *TRAIN, ":PMU:SAMPLE:RATE 1e3", ":PMU:EXECUTE") == 0
    rows = table(e)
    # the slowest 200 MS/s / n rate with a sample in the 14.2 us window: one sample
    # (20 % pre-data clipped at t = 0, 20 % post-data [7-34])
    assert len(rows) == 1 and float(rows[0][2]) == 0


def test_sample_rate_lowered_to_keep_65536_points(ohmic_engine):
    """2000 pulses of 14.2 us windows at 200 MS/s would be 5.7 M points; the rate is
    lowered to the fastest 200 MS/s / n that keeps 65 536 [7-24, 7-23]."""
    e = ohmic_engine
    assert send(e, *TRAIN, ":PMU:PULSE:BURST:COUNT 2000", ":PMU:EXECUTE") == 0
    t = floats(table(e)[:50], 2)
    n = int(e.handle(":PMU:DATA:COUNT? 1"))
    dt = np.diff(t).min()
    rate = 1 / dt
    assert n <= 65536 and rate == pytest.approx(200e6 / round(200e6 / rate), rel=PRINTED)
    # the next faster grid rate would have exceeded 65 536 points
    faster = 200e6 / (round(200e6 / rate) - 1)
    assert 2000 * int(np.floor(14.2e-6 * rate + 1e-6)) == n
    assert 2000 * int(np.floor(14.2e-6 * faster + 1e-6)) > 65536


def test_amplitude_sweep_and_step_on_a_resistor(ohmic_engine):
    """Step outermost, sweep inner, ``burst`` pulses per point [7-25, 7-29]; spot means of
    a resistor follow V = V_set * gain * divider, I = V / R."""
    e = ohmic_engine
    code = send(e, ":PMU:INIT 0", ":PMU:PULSE:BURST:COUNT 2",
                ":PMU:SWEEP:PULSE:AMPLITUDE 1, 0.5, 1.5, 0.5, 0, 1",
                ":PMU:STEP:PULSE:AMPLITUDE 2, 1, 2, 1, 0",
                ":PMU:OUTPUT:STATE 1, 1", ":PMU:OUTPUT:STATE 2, 1", ":PMU:EXECUTE")
    assert code == 0
    sweep = np.array([0.5, 1.0, 1.5, 1.0, 0.5])  # dual sweep: back without repeating stop
    rows = table(e, 1)
    assert len(rows) == 2 * 5 * 2  # steps x sweep x burst
    vh = floats(rows, 0)
    np.testing.assert_allclose(vh, np.repeat(np.tile(sweep, 2), 2) * GAIN * DIVIDER, rtol=PRINTED)
    np.testing.assert_allclose(floats(rows, 1), vh / R, rtol=PRINTED)
    step = floats(table(e, 2), 0)  # channel 2: open circuit, the full internal level
    np.testing.assert_allclose(step, np.repeat([1.0, 2.0], 10) * GAIN, rtol=PRINTED)


def test_base_and_dc_sweeps(ohmic_engine):
    e = ohmic_engine
    assert send(e, ":PMU:INIT 0", ":PMU:SWEEP:PULSE:BASE 1, -1, 0, 0.5, 1, 0",
                ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE") == 0
    rows = table(e)
    np.testing.assert_allclose(floats(rows, 4), np.array([-1, -0.5, 0]) * GAIN * DIVIDER,
                               rtol=PRINTED, atol=1e-12)  # low level = swept base
    np.testing.assert_allclose(floats(rows, 0), GAIN * DIVIDER, rtol=PRINTED)
    assert send(e, ":PMU:INIT 0", ":PMU:SWEEP:DC 1, 0.2, 0.6, 0.2, 0",
                ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE") == 0
    rows = table(e)
    levels = np.array([0.2, 0.4, 0.6]) * GAIN * DIVIDER
    np.testing.assert_allclose(floats(rows, 0), levels, rtol=PRINTED)  # DC: high = low
    np.testing.assert_allclose(floats(rows, 4), levels, rtol=PRINTED)


def test_requested_values_spot_mean_in_the_requested_order(ohmic_engine):
    e = ohmic_engine
    send(e, ":PMU:INIT 0", ":PMU:PULSE:TRAIN 1, 0, 1", ":PMU:PULSE:BURST:COUNT 3",
         ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE")
    full = table(e)
    assert [r for r in table(e, 1, "IL, VH, SH")] == [[r[5], r[0], r[3]] for r in full]
    assert e.handle(":PMU:DATA:GET 1, 3, 5, VH") == ""  # no data from that index [7-7]


def test_piv_both_disabled_is_947_and_acquires_all(ohmic_engine):
    """[7-14]: "an error is generated and the PMU acquires all measurements"."""
    e = ohmic_engine
    assert send(e, ":PMU:INIT 0", ":PMU:MEASURE:PIV 1, 1, 0") == 0
    assert send(e, ":PMU:MEASURE:PIV 1, 0, 0") == -947
    send(e, ":PMU:PULSE:TRAIN 1, 0.5, 1", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE")
    row = table(e)[0]
    assert float(row[4]) == pytest.approx(0.5 * GAIN * DIVIDER, rel=PRINTED)  # low acquired


def test_load_line_compensation_puts_the_programmed_level_on_the_device(ohmic_engine):
    """[7-10, 7-11]: without LLEC the 1 MOhm LOAD setting leaves the 50 Ohm divider; with
    it the pre-pulses measure the 10 kOhm load and the device sees the programmed 1 V."""
    e = ohmic_engine
    base = [":PMU:INIT 0", ":PMU:PULSE:TRAIN 1, 0, 1", ":PMU:OUTPUT:STATE 1, 1"]
    send(e, *base, ":PMU:EXECUTE")
    assert float(table(e)[0][0]) == pytest.approx(GAIN * DIVIDER, rel=PRINTED)
    drives = len(e.device.drives)
    assert send(e, *base, ":PMU:LLEC:CONFIGURE 1, 1", ":PMU:EXECUTE") == 0
    assert float(table(e)[0][0]) == pytest.approx(1.0, rel=PRINTED)
    assert len(e.device.drives) > drives + 1  # the pre-pulses reached the device


def test_segment_arb_open_relay_and_averages(ohmic_engine):
    """SSR 0 isolates the output (no current) [7-46]; MEAS:TYPE 3 averages a looped
    segment's spot means into one record, 4 its waveforms into one waveform [7-44]."""
    e = ohmic_engine
    seq = [":PMU:INIT 1", ":PMU:MEASURE:RANGE 1, 2, 0.01",
           ":PMU:SARB:SEQ:STARTV 1, 1, 0, 1, 1, 0", ":PMU:SARB:SEQ:STOPV 1, 1, 1, 1, 0, 0",
           ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 30e-6, 30e-6, 30e-6"]
    assert send(e, *seq, ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 3, 0, 0",
                ":PMU:SARB:WFM:SEQ:LIST 1, 1, 4", ":PMU:OUTPUT:STATE 1, 1",
                ":PMU:EXECUTE") == 0
    rows = table(e)
    assert len(rows) == 1 and float(rows[0][1]) == pytest.approx(GAIN / (R + 50), rel=PRINTED)
    assert send(e, *seq, ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 4, 0, 0",
                ":PMU:SARB:WFM:SEQ:LIST 1, 1, 4", ":PMU:OUTPUT:STATE 1, 1",
                ":PMU:EXECUTE") == 0
    assert len(table(e)) == round(30e-6 * 200e6)  # one averaged waveform
    assert send(e, *seq, ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 1, 0, 0",
                ":PMU:SARB:SEQ:SSR 1, 1, 1, 0, 1, 1", ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1",
                ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE") == 0
    row = table(e)[0]
    assert float(row[1]) == 0 and float(row[0]) == pytest.approx(GAIN, rel=PRINTED)
    # a relay transition needs a 25 us segment [7-46]
    assert send(e, *seq[:4], ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 1e-6, 1e-6, 30e-6",
                ":PMU:SARB:SEQ:SSR 1, 1, 1, 0, 1, 1", ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1",
                ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE") == -962


def test_two_channels_advance_the_device_clock_once(ohmic_engine):
    e = ohmic_engine
    t0 = e.device.time
    send(e, ":PMU:INIT 0", ":PMU:PULSE:TRAIN 1, 0, 1", ":PMU:PULSE:TRAIN 2, 0, 1",
         ":PMU:PULSE:BURST:COUNT 5", ":PMU:OUTPUT:STATE 1, 1", ":PMU:OUTPUT:STATE 2, 1",
         ":PMU:EXECUTE")
    assert e.device.time - t0 == pytest.approx(5e-6, rel=1e-9)  # 5 periods of 1 us


def test_connection_compensation_is_measured_then_enabled(ohmic_engine):
    e = ohmic_engine
    assert send(e, ":PMU:INIT 0", ":PMU:MEASURE:CONNECTION:COMP 1, 1",
                ":PMU:CONNECTION:COMP 1, 1, 1") == 0
    assert e.pulse[2].comp_measured == {1: 0.0} and e.pulse[2].comp_enabled == {1: True}


def test_legacy_burst_drives_the_device_with_the_current_limit(make_ohmic_engine):
    """``PT``/``PV``/``TS``/``PO``/``PG`` [7-62, 7-66]: 5 pulses, 50 us each at 2 V into
    the 10 kOhm device, the ``PD`` load compensating the 50 Ohm source; the ``PV`` current
    limit is the source clamp."""
    e = make_ohmic_engine()
    t0 = e.device.time
    assert send(e, "PS 1", "PD 1, 1e4", "PT 1, 100e-6, 50e-6, 1e-6, 1e-6",
                "PV 1, 2, 0, 5, 0.01", "TS 1, 0", "PO 1, 1, 0", "PG 1, 0, 5") == 0
    assert e.device.time - t0 == pytest.approx(5 * 100e-6)
    assert e.pulse[1].legacy.pulses_out == 5
    v = np.asarray(e.last_truth.v)
    assert v.max() == pytest.approx(2.0, rel=1e-9)  # PD 1e4 matches the device
    assert not e.outputs_safe()
    send(e, "PO 1, 0, 0")
    assert e.outputs_safe()
    # a 0.1 mA limit clamps the 0.2 mA the pulse would draw
    send(e, "PV 1, 2, 0, 5, 1e-4", "PO 1, 1, 0", "PG 1, 0, 1")
    assert np.abs(e.last_truth.i).max() == pytest.approx(1e-4)
    # an external trigger source arms the card; no trigger comes, nothing is output
    before = e.device.time
    send(e, "TS 1, 1", "PG 1, 2, 3")
    assert e.device.time == before and e.pulse[1].legacy.armed
    send(e, "PH 1")
    assert not e.pulse[1].legacy.armed


@pytest.mark.parametrize("messages,code", [
    (["PS 3"], -978),  # no third pulse card [2-12 "VPU not present"]
    (["PD 7, 50"], -978),
    (["PD 1, 0.5"], -993),  # 1 ohm .. 10 Mohm [7-61]
    (["PV 1, 6, 0, 5, 0.01"], -993),  # beyond the 5 V range [7-67]
    (["PV 1, 2, 0, 5, 0.5"], -993),  # limit beyond 0.2 A [7-67]
    (["PT 1, 1e-6, 2e-6, 1e-7, 1e-7"], -993),  # width beyond the period [7-65]
    (["PG 1, 1, 1"], -986),  # continuous output: not simulated, refused
    (["PO 1, 1, 0", "PE"], -967),  # PE needs a trigger source [7-61]
    (["RP XYZ1, 0"], -993),
])
def test_legacy_refusals(ohmic_engine, messages, code):
    assert send(ohmic_engine, *messages) == code


def test_legacy_commands_without_a_pulse_card(make_ohmic_engine):
    e = make_ohmic_engine(options=("SMU1", "SMU2"))
    for m in ("PS 1", "PD 1, 50", "PT 1, 1e-6, 5e-7, 1e-7, 1e-7", "PV 1, 1, 0, 5, 0.01",
              "PN 1, 0, 1, 1, 1e-6, 5e-7, 1e-7, 1e-7", "TS 1, 0", "TO 1, 0, 1", "PO 1, 1, 0",
              "PG 1, 0, 1", "PH 1", "PA 1", "VF 1, 1", "PE"):
        assert send(e, m) == -978, m


def test_spot_mean_high_and_low_count_as_one_record(ohmic_engine):
    """40 000 pulses with high and low acquired: 40 000 records of 8 values [7-8, 7-17],
    within the 65 536-point limit (the two levels are one record)."""
    e = ohmic_engine
    assert send(e, ":PMU:INIT 0", ":PMU:PULSE:BURST:COUNT 10000",
                ":PMU:SWEEP:PULSE:AMPLITUDE 1, 0.1, 0.4, 0.1, 0, 0",
                ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE") == 0
    assert e.handle(":PMU:DATA:COUNT? 1") == "40000"
    assert len(e.handle(":PMU:DATA:GET 1, 39999, 1").split(",")) == 8


def test_driver_asks_for_requested_values_and_llec(make_ohmic_engine):
    """``PMUChannel.data_page(values=...)`` and ``PMUChannel.llec`` send the manual's
    commands [7-8, 7-10]; a bad value name is refused before anything is sent."""
    from drivers.keithley4200 import Keithley4200A
    from drivers.validation import ParameterError
    from sim_backend.adapter import SimAdapter

    e = make_ohmic_engine()
    k = Keithley4200A(SimAdapter(e))
    k.pmu_init("pulse")
    ch = k.pmus[1]
    ch.llec(True)
    ch.pulse_train(0, 1)
    ch.output(True)
    k.pmu_execute()
    k.pmu_wait(timeout=5)
    page = ch.data_page(0, 1, values=("VH", "IH"))
    vh, ih = (float(x) for x in page.split(","))
    assert vh == pytest.approx(1.0, rel=PRINTED) and ih == pytest.approx(1.0 / R, rel=PRINTED)
    sent = len(e.log)
    with pytest.raises(ParameterError, match="values"):
        ch.data_page(0, 1, values=("VH", "X"))
    assert len(e.log) == sent
    ch.output(False)
    assert e.outputs_safe()
