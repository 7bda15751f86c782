"""The KXCI manual's ``:PMU:`` example programs, run through pyvisa-py against
``labapp sim-server`` as the manual runs them against a 4200A: every command sent with
``query()`` (so every ``ACK`` is read), NUL terminations, the same polling loop and data
retrieval; only the resource string differs.

References (4200A-KXCI-907-01 Rev. E): pulse I-V drain family [manual 7-35, 7-36], pulse
train with more than 2048 points [7-37, 7-38], Segment Arb [7-57, 7-58]; the command
examples of [7-6, 7-17, 7-20, 7-23, 7-25, 7-30, 7-33, 7-62, 7-66]. The examples' hardware is
a 4225-PMU with two 4225-RPMs, served as ``*OPT?`` slot ``PMU1RPM1-2`` [manual 4-5].
Documented shapes held: ``:PMU:DATA:COUNT?`` an integer; ``:PMU:DATA:GET`` points separated
by ``;``, values by ``,``, 4 values per waveform point and 8 per spot-mean point, status as
8 hex digits [7-7, 7-8, 7-38]; one spot-mean reading per pulse [7-23]; ``requestedValues``
returning only the named values in order [7-8].
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import pyvisa

ROOT = Path(__file__).resolve().parents[1]
RPM_OPTIONS = "SMU1,SMU2,SMU3,SMU4,PMU1RPM1-2"
HEX8 = re.compile(r"^[0-9A-F]{8}$")


class Communications:
    """The part of Tektronix's ``instrcomms.Communications`` the examples use: a pyvisa
    resource opened by ``connect()``, ``query()`` and ``disconnect()``."""

    def __init__(self, resource: str) -> None:
        self._resource = resource
        self._instrument_object = None

    def connect(self) -> None:
        self._instrument_object = pyvisa.ResourceManager("@py").open_resource(self._resource)
        self._instrument_object.timeout = 20000

    def query(self, cmd: str) -> str:
        return self._instrument_object.query(cmd)

    def disconnect(self) -> None:
        self._instrument_object.close()


def start_server(options: str):
    args = [sys.executable, "-m", "labapp.cli", "sim-server", "--port", "0", "--seed", "3",
            "--options", options]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)
    line = proc.stdout.readline()
    m = re.search(r"(TCPIP::\S+::SOCKET)", line)
    assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, m.group(1)


@pytest.fixture(scope="module")
def rpm_server():
    proc, resource = start_server(RPM_OPTIONS)
    yield resource
    proc.kill()
    proc.wait(timeout=10)


def wait_complete(my4200, pause: float = 1.0) -> None:
    """The example programs' loop: poll ``:PMU:TEST:STATUS?`` once a second until 0
    [7-36] (the command transcripts poll faster)."""
    while True:
        status = my4200.query(":PMU:TEST:STATUS?")
        if int(status) == 0:
            break
        time.sleep(pause)


def open_4200(resource: str) -> Communications:
    my4200 = Communications(resource)
    my4200.connect()
    my4200._instrument_object.write_termination = "\0"
    my4200._instrument_object.read_termination = "\0"
    return my4200


def points(reply: str, n_values: int) -> list[list[str]]:
    rows = [p.split(",") for p in reply.split(";")]
    assert all(len(r) == n_values for r in rows), rows[:3]
    for r in rows:
        assert HEX8.match(r[3]) and [float(x) for k, x in enumerate(r) if k % 4 != 3]
    return rows


def test_pulse_iv_drain_family(rpm_server):
    """[7-35, 7-36]: amplitude step 2..4 V by 0.5 V on ch1 (LLEC on), amplitude sweep
    0..5 V by 0.2 V on ch2, spot mean discrete: one reading per pulse, 5 x 26 per channel."""
    my4200 = open_4200(rpm_server)
    replies = [my4200.query(c) for c in (
        ":PMU:INIT 0", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:RPM:CONFIGURE PMU1-2, 0",
        ":PMU:MEASURE:MODE 1", ":PMU:MEASURE:RANGE 1, 2, 0.01", ":PMU:MEASURE:RANGE 2, 2, 0.2",
        ":PMU:LLEC:CONFIGURE 1, 1", ":PMU:STEP:PULSE:AMPLITUDE 1, 2, 4, 0.5, 0",
        ":PMU:SWEEP:PULSE:AMPLITUDE 2, 0, 5, 0.2, 0, 0", ":PMU:OUTPUT:STATE 1, 1",
        ":PMU:OUTPUT:STATE 2, 1", ":PMU:EXECUTE")]
    assert replies == ["ACK"] * len(replies)
    wait_complete(my4200)
    assert my4200.query(":PMU:DATA:COUNT? 1") == "130"
    assert my4200.query(":PMU:DATA:COUNT? 2") == "130"
    ch1 = points(my4200.query(":PMU:DATA:GET 1"), 8)
    ch2 = points(my4200.query(":PMU:DATA:GET 2"), 8)
    assert len(ch1) == len(ch2) == 130
    # ch2 drives no device (open): its high level is the swept amplitude, its current 0;
    # the step is outermost, so the sweep repeats 5 times [7-25]
    vh2 = np.array([float(r[0]) for r in ch2])
    sweep = np.tile(np.arange(26) * 0.2, 5) * (1e6 + 50) / 1e6
    np.testing.assert_allclose(vh2, sweep, atol=1e-6)
    assert all(float(r[1]) == 0 for r in ch2)
    # ch1 steps once per sweep; the base level is 0 V
    vh1 = np.array([float(r[0]) for r in ch1]).reshape(5, 26)
    assert np.all(np.ptp(vh1, axis=1) < 0.5) and np.all(np.diff(vh1.mean(axis=1)) > 0)
    assert all(abs(float(r[4])) < 1e-3 for r in ch1)
    assert my4200.query(":PMU:OUTPUT:STATE 1, 0") == "ACK"
    assert my4200.query(":PMU:OUTPUT:STATE 2, 0") == "ACK"
    my4200.disconnect()


def test_pulse_train_more_than_2048_points(rpm_server):
    """[7-37, 7-38]: waveform discrete, 5 V pulse train, 100 us period, 50 us width; data
    fetched in pages of 2048 and the requested values VH and IH."""
    my4200 = open_4200(rpm_server)
    for c in (":PMU:INIT 0", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:MEASURE:MODE 2",
              ":PMU:PULSE:TRAIN 1, 0.0, 5.0", ":PMU:PULSE:TIMES 1, 100e-6, 50e-6, 5e-6, 5e-6",
              ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"):
        assert my4200.query(c) == "ACK"
    wait_complete(my4200)
    count = my4200.query(":PMU:DATA:COUNT? 1")
    data_points = int(count)
    coords = []
    for start_point in range(0, data_points, 2048):
        response = my4200.query(f":PMU:DATA:GET 1, {start_point}, 2048")
        coords += response.split(";")
    coords2d = [value.split(",") for value in coords]
    assert len(coords) == data_points > 2048
    assert all(len(p) == 4 and HEX8.match(p[3]) for p in coords2d)
    first = coords[0].split(",")
    assert float(first[2]) == 0 and abs(float(first[0])) < 0.1  # the base level at t = 0
    status = int(first[3], 16)
    assert (status >> 16) & 0xF == 2 and status & 3 == 1 and (status >> 24) & 1 == 1
    # one sample per 5 ns over the pulse (55 us) and 20 % post-data; no delay, no pre-data
    # [7-19, 7-34]
    assert data_points == round(55e-6 * 1.2 * 200e6)
    vh = my4200.query(":PMU:DATA:GET 1, 0, 2048, VH").split(";")
    ih = my4200.query(":PMU:DATA:GET 1, 0, 2048, IH").split(";")
    assert len(vh) == len(ih) == 2048 and all("," not in x for x in vh + ih)
    assert [float(x) for x in vh] == [float(p[0]) for p in coords2d[:2048]]
    assert my4200.query(":PMU:OUTPUT:STATE 1, 0") == "ACK"
    my4200.disconnect()


def test_segment_arb_example(rpm_server):
    """[7-57, 7-58]: seven segments, spot means on the 1 V and the 1.5 V plateaus."""
    my4200 = open_4200(rpm_server)
    for c in (":PMU:INIT 1", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:MEASURE:RANGE 1, 2, 0.2",
              ":PMU:SARB:SEQ:STARTV 1, 1, 0, 1, 1, 1.5, 1.5, 0, 0",
              ":PMU:SARB:SEQ:STOPV 1, 1, 1, 1, 1.5, 1.5, 0, 0, 0",
              ":PMU:SARB:SEQ:TIME 1, 1, 50e-9, 100e-9, 20e-9, 150e-9, 50e-9, 500e-9, 130e-9",
              ":PMU:SARB:SEQ:MEAS:TYPE 1, 1, 0, 1, 0, 1, 0, 0, 0",
              ":PMU:SARB:SEQ:MEAS:START 1, 1, 0, 25e-9, 0, 50e-9, 0, 0, 0",
              ":PMU:SARB:SEQ:MEAS:STOP 1, 1, 0, 75e-9, 0, 100e-9, 0, 0, 0",
              ":PMU:SARB:WFM:SEQ:LIST 1, 1, 1", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"):
        assert my4200.query(c) == "ACK", c
    wait_complete(my4200)
    assert my4200.query(":PMU:DATA:COUNT? 1") == "2"
    rows = points(my4200.query(":PMU:DATA:GET 1"), 4)
    v = [float(r[0]) for r in rows]
    t = [float(r[2]) for r in rows]
    assert 0 < v[0] < v[1] <= 1.5 * (1e6 + 50) / 1e6 + 1e-9
    assert t == pytest.approx([50e-9 + 25e-9, 170e-9 + 50e-9], abs=1e-12)  # [7-40]
    assert all((int(r[3], 16) >> 16) & 0xF == 1 for r in rows)  # spot mean
    assert my4200.query(":ERROR:LAST:GET").strip() in ("", "No error. (0)")
    assert my4200.query(":PMU:OUTPUT:STATE 1, 0") == "ACK"
    my4200.disconnect()


COMMAND_EXAMPLES = {
    "7-6": ([":PMU:INIT 0", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:RPM:CONFIGURE PMU1-2, 0",
             ":PMU:MEASURE:MODE 1", ":PMU:CONNECTION:COMP 1, 1, 1",
             ":PMU:SWEEP:PULSE:AMPLITUDE 1, 2, 4, 0.5, 0, 0", ":PMU:MEASURE:RANGE 1, 2, 0.01",
             ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"], 1, 5, 8),
    "7-17": ([":PMU:INIT 0", ":PMU:LOAD 1, 1e6", ":PMU:CONNECTION:COMP  1, 1, 0",
              ":PMU:LLEC:CONFIGURE 1, 0", ":PMU:SOURCE:RANGE 1, 40",
              ":PMU:MEASURE:RANGE 1, 2, 0.01", ":PMU:PULSE:BURST:COUNT 2",
              ":PMU:PULSE:TRAIN 1, 0, 5", ":PMU:PULSE:TIMES 1, 1e-6, 0.5e-6, 1e-7, 1e-7, 0",
              ":PMU:MEASURE:MODE 4", ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"], 1,
             round(0.6e-6 * 1.2 * 200e6), 4),  # waveform average: one pulse's samples
    "7-20": ([":PMU:INIT 0", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:MEASURE:RANGE 1, 2, 10e-6",
              ":PMU:MEASURE:MODE 2", ":PMU:PULSE:TRAIN 1, 0.0, 5.0",
              ":PMU:PULSE:TIMES 1, 100e-6, 50e-6, 5e-6, 5e-6", ":PMU:OUTPUT:STATE 1, 1",
              ":PMU:EXECUTE"], 1, round(55e-6 * 1.2 * 200e6), 4),
    "7-23": ([":PMU:INIT 0", ":PMU:RPM:CONFIGURE PMU1-1, 0", ":PMU:LOAD 1, 1e3",
              ":PMU:MEASURE:MODE 1", ":PMU:SWEEP:PULSE:AMPLITUDE 1, -5, 5, 0.1, 0, 0",
              ":PMU:PULSE:TIMES 1, 10e-6, 5e-6, 5e-6, 1e-7, 0",
              ":PMU:MEASURE:RANGE 1, 2, 10e-3", ":PMU:TIMES:PIV 1, 0.75, 0.9",
              ":PMU:OUTPUT:STATE 1, 1", ":PMU:EXECUTE"], 1, 101, 8),  # one per pulse
    "7-25": ([":PMU:INIT 0", ":PMU:STEP:DC 1, 0, 5, 0.5", ":PMU:SWEEP:DC 2, 0, 5, 0.5, 0",
              ":PMU:OUTPUT:STATE 1, 1", ":PMU:OUTPUT:STATE 2, 1", ":PMU:EXECUTE"], 2, 121, 8),
    "7-27": ([":PMU:INIT 0", ":PMU:STEP:PULSE:BASE 1, 1, 5, 0.5, 1",
              ":PMU:SWEEP:PULSE:BASE 2, 1, 5, 0.5, 1, 0", ":PMU:OUTPUT:STATE 1, 1",
              ":PMU:OUTPUT:STATE 2, 1", ":PMU:EXECUTE"], 1, 81, 8),
}


@pytest.mark.parametrize("page", sorted(COMMAND_EXAMPLES))
def test_command_examples_give_data_of_the_documented_shape(rpm_server, page):
    """Each example is accepted command by command (``ACK``, no stored error) and gives
    ``expected`` points of ``n_values`` values on the channel it names."""
    cmds, ch, expected, n_values = COMMAND_EXAMPLES[page]
    my4200 = open_4200(rpm_server)
    my4200.query(":ERROR:LAST:CLEAR")
    for c in cmds:
        assert my4200.query(c) == "ACK", c
        err = my4200.query(":ERROR:LAST:GET").strip()
        assert err in ("", "No error. (0)"), (c, err)
    wait_complete(my4200, 0.05)
    n = int(my4200.query(f":PMU:DATA:COUNT? {ch}"))
    assert n == expected
    rows = points(my4200.query(f":PMU:DATA:GET {ch}, 0, 2048"), n_values)
    assert len(rows) == min(n, 2048)
    for k in (1, 2):
        my4200.query(f":PMU:OUTPUT:STATE {k}, 0")
    my4200.disconnect()


def test_data_get_requested_values_examples(rpm_server):
    """[7-8] Example 1 (``V, S`` of waveform data) and Example 2 (``VL, VH`` of pulse I-V
    data, in that order)."""
    my4200 = open_4200(rpm_server)
    for c in COMMAND_EXAMPLES["7-20"][0]:
        my4200.query(c)
    wait_complete(my4200, 0.05)
    full = points(my4200.query(":PMU:DATA:GET 1, 0, 2048"), 4)
    vs = [p.split(",") for p in my4200.query(":PMU:DATA:GET 1, 0, 2048, V, S").split(";")]
    assert [[r[0], r[3]] for r in full] == vs
    for c in COMMAND_EXAMPLES["7-23"][0]:
        my4200.query(c)
    wait_complete(my4200, 0.05)
    full = points(my4200.query(":PMU:DATA:GET 1, 0, 2048"), 8)
    vlvh = [p.split(",") for p in my4200.query(":PMU:DATA:GET 1, 0, 2048, VL, VH").split(";")]
    assert [[r[4], r[0]] for r in full] == vlvh
    my4200.query(":PMU:OUTPUT:STATE 1, 0")
    my4200.disconnect()


def test_legacy_pulse_examples(rpm_server):
    """[7-62] ``PN``/``TS``/``PO``/``PE`` and [7-66] ``PS``/``PD``/``PT``/``PV``/``TS``/
    ``PO``/``PG``/``PO``: every command accepted, no stored error."""
    my4200 = open_4200(rpm_server)
    my4200.query(":ERROR:LAST:CLEAR")
    for c in ("PN 1, 0.0, 5.0, 10, 100e-6, 20e-6, 200e-9, 200e-9", "TS 1, 0", "PO 1, 1, 0",
              "PE", "PS 1", "PD 1, 1e6", "PT 1, 100e-6, 50e-6, 1e-6, 1e-6",
              "PV 1, 2, 0, 5, 0.01", "TS 1, 0", "PO 1, 1, 0", "PG 1, 0, 5", "PO 1, 0, 0"):
        assert my4200.query(c) == "ACK", c
        assert my4200.query(":ERROR:LAST:GET").strip() in ("", "No error. (0)"), c
    my4200.disconnect()
