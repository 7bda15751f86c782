"""The simulated 4225-PMU/RPM: command state, error codes, sampled waveforms, the 50 Ohm
source with the LOAD setting, range overflow, spot means, Segment Arb, data pages."""

from __future__ import annotations

import re

import numpy as np
import pytest

MANUAL_TRAIN = [":PMU:INIT 0", ":PMU:MEASURE:RANGE 1, 2, 10e-3", ":PMU:MEASURE:MODE 2",
                ":PMU:PULSE:TRAIN 1, 0.0, 5.0", ":PMU:PULSE:TIMES 1, 100e-6, 50e-6, 5e-6, 5e-6",
                ":PMU:PULSE:BURST:COUNT 1", ":PMU:OUTPUT:STATE 1, 1"]
SARB_EXAMPLE = [
    ":PMU:INIT 1", ":PMU:MEASURE:RANGE 1, 2, 0.2",
    ":PMU:SARB:SEQ:STARTV 1, 1, 0, 1, 1, 1.5, 1.5, 0, 0",
    ":PMU:SARB:SEQ:STOPV 1, 1, 1, 1, 1.5, 1.5, 0, 0, 0",
    ":PMU:SARB:SEQ:TIME 1, 1, 50e-9, 100e-9, 20e-9, 150e-9, 50e-9, 500e-9, 130e-9",
    ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 1, 0, 1, 0, 0, 0",
    ":PMU:SARB:SEQ:MEAS:START 1, 1, 0, 25e-9, 0, 50e-9, 0, 0, 0",
    ":PMU:SARB:SEQ:MEAS:STOP 1, 1, 0, 75e-9, 0, 100e-9, 0, 0, 0",
    ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1", ":PMU:OUTPUT:STATE 1, 1"]
POINT = re.compile(r"^[-+0-9.e]+,[-+0-9.e]+,[-+0-9.e]+,[0-9A-F]{8}$")


def no_error(reply: str) -> bool:
    """``:ERROR:LAST:GET`` reports no stored error (an empty reply or a code of 0)."""
    return reply.strip() in ("", "No error. (0)") or reply.strip().endswith("(0)")


def run(engine, *messages):
    replies = [engine.handle(m) for m in messages]
    err = engine.handle(":ERROR:LAST:GET")
    return replies, err


def fetch(engine, ch=1, fields=4):
    n = int(engine.handle(f":PMU:DATA:COUNT? {ch}"))
    pages = [engine.handle(f":PMU:DATA:GET {ch}, {s}, {min(2048, n - s)}")
             for s in range(0, n, 2048)]
    rows = [p.split(",") for page in pages for p in page.split(";") if p]
    table = np.array(rows)
    assert table.shape == (n, fields)
    values = table.astype(object)
    out = []
    for k in range(fields):
        out.append(np.array([int(x, 16) for x in table[:, k]]) if k % 4 == 3
                   else values[:, k].astype(float))
    return out


def test_manual_pulse_train_waveform_on_a_resistor(ohmic_engine):
    e = ohmic_engine
    _, err = run(e, *MANUAL_TRAIN, ":PMU:EXECUTE")
    assert no_error(err), err
    assert e.device.drives == [e.device.drives[0]]  # one drive call per EXECUTE
    assert e.handle(":PMU:TEST:STATUS?") == "1"  # busy for the first poll
    assert e.handle(":PMU:TEST:STATUS?") == "0"
    page = e.handle(":PMU:DATA:GET 1, 0, 3").split(";")
    assert len(page) == 3 and all(POINT.match(p) for p in page)
    v, i, t, s = fetch(e)
    assert v.size == 13200  # 55 us pulse + 20 % post at 200 MS/s, clipped at t = 0
    np.testing.assert_allclose(np.diff(t), 5e-9, rtol=1e-3)
    # 10 kOhm DUT behind the 50 Ohm source; the 1 MOhm load setting scales the source
    v_top = 5.0 * (1e6 + 50) / 1e6 * 1e4 / (1e4 + 50)
    assert v.max() == pytest.approx(v_top, rel=1e-5)
    np.testing.assert_allclose(i[v > 1], v[v > 1] / 1e4, rtol=1e-5)
    assert v[0] == pytest.approx(0, abs=1e-12) and v[-1] == pytest.approx(0, abs=1e-12)
    assert np.all(s == 0x00020051)  # waveform, 10 mA range, 10 V range, channel 1
    assert not e.outputs_safe()
    e.handle(":PMU:OUTPUT:STATE 1, 0")
    assert e.outputs_safe()


def test_load_setting_scales_the_applied_amplitude(make_ohmic_engine):
    """[M 7-11]: 4 V into a 50 Ohm DUT with the default 1 MOhm load -> about 2 V;
    with LOAD 50 the PMU compensates and 4 V appear."""
    for load, expected in ((1e6, 4 * (1e6 + 50) / 1e6 / 2), (50, 4.0)):
        e = make_ohmic_engine(ohms=50.0)
        cmds = [c.replace("0.0, 5.0", "0, 4").replace("10e-3", "0.2") for c in MANUAL_TRAIN]
        cmds.insert(1, f":PMU:LOAD 1, {load:g}")
        _, err = run(e, *cmds, ":PMU:EXECUTE")
        assert no_error(err), err
        v, i, _, _ = fetch(e)
        assert v.max() == pytest.approx(expected, rel=1e-6)


def test_current_beyond_the_range_saturates_and_sets_overflow_bits(make_ohmic_engine):
    e = make_ohmic_engine(ohms=100.0)
    _, err = run(e, *MANUAL_TRAIN, ":PMU:EXECUTE")
    v, i, _, s = fetch(e)
    assert np.abs(i).max() == pytest.approx(1.05 * 10e-3)  # 5 V / 150 Ohm = 33 mA
    over = (s >> 10) & 3
    assert over[np.argmax(v)] == 3 and over[0] == 0


def test_series_element_bounds_the_pmu_current(make_ohmic_engine):
    e = make_ohmic_engine(ohms=100.0, series_ohms=900.0)
    run(e, *[c.replace("10e-3", "0.2") for c in MANUAL_TRAIN], ":PMU:EXECUTE")
    v, i, _, _ = fetch(e)
    v_int = 5.0 * (1e6 + 50) / 1e6
    assert i.max() == pytest.approx(v_int / (50 + 900 + 100), rel=1e-6)
    assert v.max() == pytest.approx(i.max() * 1000, rel=1e-6)  # V at the PMU terminal


def test_spot_mean_burst_records(ohmic_engine):
    e = ohmic_engine
    cmds = [c.replace(":PMU:MEASURE:MODE 2", ":PMU:MEASURE:MODE 1")
            .replace("COUNT 1", "COUNT 5") for c in MANUAL_TRAIN]
    _, err = run(e, *cmds, ":PMU:MEASURE:PIV 1, 1, 1", ":PMU:TIMES:PIV 1, 0.2, 0.8",
                 ":PMU:EXECUTE")
    assert no_error(err), err
    vh, ih, th, sh, vl, il, tl, sl = fetch(e, fields=8)
    assert vh.size == 5
    np.testing.assert_allclose(vh, 5.0 * 1.00005 * 1e4 / 1.005e4, rtol=1e-5)
    np.testing.assert_allclose(vl, 0, atol=1e-12)
    np.testing.assert_allclose(np.diff(th), 100e-6, rtol=1e-9)
    assert np.all(tl > th) and np.all((sh >> 16) & 0xF == 1)


def test_waveform_average_and_auto_lowered_rate(ohmic_engine):
    e = ohmic_engine
    cmds = [c.replace("COUNT 1", "COUNT 20") for c in MANUAL_TRAIN]
    run(e, *cmds, ":PMU:EXECUTE")
    n = int(e.handle(":PMU:DATA:COUNT? 1"))
    assert n <= 65536 and n > 30000  # 20 x 13 200 samples: the rate was lowered [M 7-24]
    cmds = [c.replace(":PMU:MEASURE:MODE 2", ":PMU:MEASURE:MODE 4") for c in cmds]
    run(e, *cmds, ":PMU:EXECUTE")
    assert int(e.handle(":PMU:DATA:COUNT? 1")) == 13200


def test_manual_segment_arb_example_spot_means(ohmic_engine):
    e = ohmic_engine
    _, err = run(e, *SARB_EXAMPLE, ":PMU:EXECUTE")
    assert no_error(err), err
    v, i, t, s = fetch(e)
    scale = (1e6 + 50) / 1e6 * 1e4 / (1e4 + 50)
    np.testing.assert_allclose(v, [1.0 * scale, 1.5 * scale], rtol=1e-5)
    np.testing.assert_allclose(t, [75e-9, 220e-9], rtol=1e-9)
    assert np.all((s >> 16) & 0xF == 1) and np.all((s >> 4) & 0xF == 6)


def test_segment_arb_write_read_loop_with_waveform_segments(ohmic_engine):
    e = ohmic_engine
    write = [":PMU:SARB:SEQ:STARTV 1, 1, 0, 2, 2", ":PMU:SARB:SEQ:STOPV 1, 1, 2, 2, 0",
             ":PMU:SARB:SEQ:TIME 1, 1, 100e-9, 1e-6, 100e-9",
             ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 2, 0"]
    read = [":PMU:SARB:SEQ:STARTV 1, 2, 0, 0.2, 0.2", ":PMU:SARB:SEQ:STOPV 1, 2, 0.2, 0.2, 0",
            ":PMU:SARB:SEQ:TIME 1, 2, 100e-9, 2e-6, 100e-9",
            ":PMU:SARB:SEQ:MEAS:TYPE 1, 2, 0, 1, 0",
            ":PMU:SARB:SEQ:MEAS:START 1, 2, 0, 0.5e-6, 0",
            ":PMU:SARB:SEQ:MEAS:STOP 1, 2, 0, 1.5e-6, 0"]
    _, err = run(e, ":PMU:INIT 1", ":PMU:MEASURE:RANGE 1, 2, 0.01", *write, *read,
                 ":PMU:SARB:WFM:SEQ:LIST 1, 2, 1, 1, 3", ":PMU:SARB:WFM:SEQ:LIST:ADD 1, 2, 2",
                 ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE")
    assert no_error(err), err
    v, i, t, s = fetch(e)
    kind = (s >> 16) & 0xF
    assert np.count_nonzero(kind == 1) == 3  # three reads
    assert np.count_nonzero(kind == 2) == 3 * 200  # three 1 us write tops at 200 MS/s
    assert np.all(np.diff(t) > 0)
    np.testing.assert_allclose(v[kind == 1], 0.2 * 1.00005 * 1e4 / 1.005e4, rtol=1e-5)


@pytest.mark.parametrize("messages,code", [
    ([":PMU:PULSE:TRAIN 1, 0, 1"], -965),  # before :PMU:INIT
    ([":PMU:INIT 0", ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 1e-6, 1e-6"], -965),
    ([":PMU:INIT 1", ":PMU:MEASURE:RANGE 1, 0"], -965),  # Segment Arb needs fixed ranges
    ([":PMU:INIT 1", ":PMU:PULSE:BURST:COUNT 2"], -965),
    ([":PMU:INIT 2"], -969),
    ([":PMU:INIT 0", ":PMU:LOAD 9, 50"], -969),
    ([":PMU:INIT 0", ":PMU:LOAD 1, 0.5"], -969),
    ([":PMU:INIT 0", ":PMU:MEASURE:RANGE 1, 2, 1e-6"], -969),  # RPM range without RPM
    ([":PMU:INIT 0", ":PMU:PULSE:TRAIN 1, 0, 11"], -969),
    ([":PMU:INIT 0", ":PMU:PULSE:BURST:COUNT 10001"], -969),
    ([":PMU:INIT 0", ":PMU:SAMPLE:RATE 300e6"], -969),
    ([":PMU:INIT 0", ":PMU:DATA:GET 1, 0, 4096"], -969),
    ([":PMU:INIT 0", ":PMU:PULSE:TIMES 1, 1e-6, 100e-9, 150e-9, 150e-9"], -967),
    ([":PMU:INIT 0", ":PMU:PULSE:TIMES 1, 1e-6, 900e-9, 100e-9, 100e-9"], -967),
    ([":PMU:INIT 0", ":PMU:EXECUTE"], -967),  # no output on
    ([":PMU:INIT 0", ":PMU:LOAD 1, 50", ":PMU:PULSE:TRAIN 1, 0, 6",
      ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"], -964),
    ([":PMU:INIT 1", ":PMU:SARB:SEQ:TIME 1, 1, 10e-9"], -962),
    ([":PMU:INIT 1", ":PMU:SARB:SEQ:TIME 1, 1, 25e-9"], -962),
    ([":PMU:INIT 1", ":PMU:SARB:SEQ:STARTV 1, 1, 11"], -962),
    ([":PMU:INIT 1", ":PMU:SARB:WFM:SEQ:LIST 1, 5, 1"], -961),
    ([":PMU:INIT 1", ":PMU:SARB:SEQ:TIME 1, 600, 1e-6"], -960),
    ([":PMU:INIT 1", ":PMU:SARB:SEQ:STARTV 1, 1, 0, 0", ":PMU:SARB:SEQ:STOPV 1, 1, 0, 0",
      ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 1e-6", ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1",
      ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"], -958),
    ([":PMU:INIT 1", ":PMU:SARB:SEQ:STARTV 1, 1, 0, 1, 0.5", ":PMU:SARB:SEQ:STOPV 1, 1, 1, 1, 0",
      ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 1e-6, 1e-6", ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1",
      ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"], -956),
    ([":PMU:INIT 1", ":PMU:SARB:SEQ:STARTV 1, 1, 0, 0, 0", ":PMU:SARB:SEQ:STOPV 1, 1, 0, 0, 0",
      ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 1e-6, 1e-6", ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 1, 0",
      ":PMU:SARB:WFM:SEQ:LIST 1, 1, 70000", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"],
     -963),  # 70 000 spot means: no sample rate helps [M 7-2]
    ([":PMU:INIT 1", ":PMU:SARB:SEQ:STARTV 1, 1, 0, 0, 0", ":PMU:SARB:SEQ:STOPV 1, 1, 0, 0, 0",
      ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 1e-6, 1e-6", ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 2, 0",
      ":PMU:SARB:WFM:SEQ:LIST 1, 1, 70000", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"],
     -951),  # >= 1 sample per 1 us window x 70 000 loops > 65 536 [M 7-24]
    ([":PMU:INIT 0", ":PMU:MEASURE:MODE 2", ":PMU:PULSE:BURST:COUNT 10000",
      ":PMU:SWEEP:PULSE:AMPLITUDE 1, 0, 0.6, 0.1, 0, 0", ":PMU:OUTPUT:STATE 1, 1",
      ":PMU:EXECUTE"], -952),  # 70 000 pulses, each needs a sample [M 7-24]
    ([":PMU:INIT 0", ":PMU:PULSE:BURST:COUNT 10000",
      ":PMU:SWEEP:PULSE:AMPLITUDE 1, 0, 1, 0.1, 0, 0", ":PMU:OUTPUT:STATE 1, 1",
      ":PMU:EXECUTE"], -949),  # 110 000 spot means
    ([":PMU:INIT 0", ":PMU:MEASURE:PIV 1, 0, 0"], -947),  # [M 7-14, 2-13]
    ([":PMU:INIT 0", ":PMU:STEP:PULSE:AMPLITUDE 1, 1, 2, 0.5, 0", ":PMU:OUTPUT:STATE 1, 1",
      ":PMU:EXECUTE"], -953),  # stepper without sweeper [M 7-26, 2-13]
    ([":PMU:INIT 0", ":PMU:SWEEP:PULSE:AMPLITUDE 1, 0, 1, 0.5, 0, 0",
      ":PMU:SWEEP:PULSE:AMPLITUDE 2, 0, 1, 0.25, 0, 0", ":PMU:OUTPUT:STATE 1, 1",
      ":PMU:OUTPUT:STATE 2, 1", ":PMU:EXECUTE"], -948),  # 3 vs 5 points [M 7-29]
    ([":PMU:INIT 0", ":PMU:SWEEP:PULSE:AMPLITUDE 1, 0, 1, 0, 0, 0"], -969),  # step 0
    ([":PMU:INIT 0", ":PMU:SWEEP:DC 1, 0, 12, 1, 0", ":PMU:OUTPUT:STATE 1, 1",
      ":PMU:EXECUTE"], -967),  # beyond the 10 V range [M 7-28]
    ([":PMU:INIT 1", ":PMU:SWEEP:DC 1, 0, 1, 0.5, 0"], -965),
    ([":PMU:INIT 1", ":PMU:LLEC:CONFIGURE 1, 1"], -965),
    ([":PMU:INIT 0", ":PMU:CONNECTION:COMP 2, 1, 1"], -969),  # lowest channel [M 7-5]
    ([":PMU:INIT 0", ":PMU:MEASURE:CONNECTION:COMP 1, 2"], -969),  # type 1 or 3 [M 7-12]
    ([":PMU:INIT 0", ":PMU:DATA:GET 1, 0, 10, V, X"], -969),  # requested values [M 7-8]
    ([":PMU:INIT 1", ":PMU:MEASURE:RANGE 3, 2, 1e-6", ":PMU:SARB:SEQ:SSR 3, 1, 1, 0, 1"], -955),
    ([":PMU:RPM:CONFIGURE PMU3-1, 0"], -969),  # no PMU3 in this mainframe
    ([":PMU:RPM:CONFIGURE SMU7, 2"], -969),
    ([":PMU:RPM:CONFIGURE CVH1, 1"], -969),
])
def test_pmu_error_codes(ohmic_engine, messages, code):
    replies, err = run(ohmic_engine, *messages)
    assert replies[-1] == "ACK"
    assert err.endswith(f"({code})"), err


def test_abort_turns_outputs_off_and_keeps_data(ohmic_engine):
    e = ohmic_engine
    run(e, *MANUAL_TRAIN, ":PMU:EXECUTE")
    n = e.handle(":PMU:DATA:COUNT? 1")
    e.handle(":PMU:ABORT")
    assert e.outputs_safe() and e.handle(":PMU:DATA:COUNT? 1") == n
    assert e.handle(":PMU:TEST:STATUS?") == "0"


def test_init_clears_data_and_sequences(ohmic_engine):
    e = ohmic_engine
    run(e, *SARB_EXAMPLE, ":PMU:EXECUTE")
    assert e.handle(":PMU:DATA:COUNT? 1") == "2"
    _, err = run(e, ":PMU:INIT 1", ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1")
    assert e.handle(":PMU:DATA:COUNT? 1") == "0" and err.endswith("(-961)")


def test_rpm_routing_disconnects_the_device_from_the_pmu(make_ohmic_engine):
    e = make_ohmic_engine(("SMU1", "", "", "", "PMU1RPM1-2", "", "", ""))
    cmds = [c.replace("10e-3", "0.2") for c in MANUAL_TRAIN]
    run(e, ":PMU:RPM:CONFIGURE PMU1-1, 2", *cmds, ":PMU:EXECUTE")
    v, i, _, s = fetch(e)
    assert np.all(i == 0) and v.max() == pytest.approx(5 * 1.00005)  # open: no DUT
    assert not e.outputs_safe()
    run(e, ":PMU:OUTPUT:STATE 1, 0", ":PMU:RPM:CONFIGURE PMU1-1, 0")
    assert e.outputs_safe()


def test_paced_test_reports_running_until_its_duration(make_ohmic_engine):
    import time

    e = make_ohmic_engine(speed=0.5, busy_polls=0)  # 100 us at half speed = 0.2 ms
    cmds = [c.replace("COUNT 1", "COUNT 1000") for c in MANUAL_TRAIN]
    cmds = [c.replace(":PMU:MEASURE:MODE 2", ":PMU:MEASURE:MODE 0") for c in cmds]
    run(e, *cmds, ":PMU:EXECUTE")
    assert e.handle(":PMU:TEST:STATUS?") == "1"  # 0.1 s / 0.5 = 0.2 s
    time.sleep(0.25)
    assert e.handle(":PMU:TEST:STATUS?") == "0"


def test_autorange_picks_the_smallest_range_holding_the_current(ohmic_engine):
    e = ohmic_engine  # 10 kOhm: 5 V -> 0.5 mA needs the 10 mA range on a PMU without RPM
    cmds = [c.replace(":PMU:MEASURE:RANGE 1, 2, 10e-3", ":PMU:MEASURE:RANGE 1, 0")
            for c in MANUAL_TRAIN]
    run(e, *cmds, ":PMU:EXECUTE")
    _, i, _, s = fetch(e)
    assert np.all((s >> 4) & 0xF == 5) and not np.any((s >> 10) & 3)
    # limited autorange starting at 0.2 A stays at 0.2 A
    cmds = [c.replace(":PMU:MEASURE:RANGE 1, 2, 10e-3", ":PMU:MEASURE:RANGE 1, 1, 0.2")
            for c in MANUAL_TRAIN]
    run(e, *cmds, ":PMU:EXECUTE")
    assert np.all((fetch(e)[3] >> 4) & 0xF == 6)


def test_data_grows_while_a_paced_test_runs_and_abort_keeps_it(make_ohmic_engine):
    import time

    e = make_ohmic_engine(speed=1e-3, busy_polls=0)  # 100 us per pulse -> 0.1 s per pulse
    cmds = [c.replace("COUNT 1", "COUNT 4") for c in MANUAL_TRAIN]
    run(e, *cmds, ":PMU:SAMPLE:RATE 10e6", ":PMU:EXECUTE")
    first = int(e.handle(":PMU:DATA:COUNT? 1"))
    time.sleep(0.15)
    second = int(e.handle(":PMU:DATA:COUNT? 1"))
    assert first < second < 4 * 660 and e.handle(":PMU:TEST:STATUS?") == "1"
    e.handle(":PMU:ABORT")
    kept = int(e.handle(":PMU:DATA:COUNT? 1"))
    assert second <= kept < 4 * 660 and e.outputs_safe()
