"""Clients written by others, run unchanged against ``labapp sim-server``.

* The KXCI manual's SMU code examples [M 5-44…5-47], with their command strings verbatim.
  The manual writes them in C for GPIB (``send``/``enter``); over pyvisa-py on LAN every
  message is answered [M 2-10], so ``send`` is a query whose reply is ``ACK`` for a
  command and the data for a data command (that reply is what ``enter`` would read), and
  ``while(!srq())`` polls ``SP`` for the data-ready bit [M 4-6]. Only the resource string
  and the loop pacing (``Sleep(100)``) differ.
* pymeasure 0.16's own ``Keithley4200`` with its default options, held to the
  expectations of pymeasure's test against the real instrument
  (``tests/instruments/keithley/test_keithley4200_with_device.py``): status 0 after
  ``clear()``, data ready after a reading, the set voltage read back on an open SMU, ~0 A
  on open terminals, a current source on open terminals reading its voltage compliance.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import pyvisa

READING = r"[+-]\d\.\d{4}E[+-]\d\d"


def _start(*argv: str):
    args = [sys.executable, "-m", "labapp.cli", "sim-server", "--port", "0", "--seed", "1",
            *argv]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.search(r"(TCPIP::\S+::SOCKET)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"sim-server did not start: {line!r} {proc.stderr.read()}")
    return proc, m.group(1)


@pytest.fixture(scope="module")
def server_factory():
    procs = []

    def make(*argv: str) -> str:
        proc, resource = _start(*argv)
        procs.append(proc)
        return resource

    yield make
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def open_lan(resource: str):
    rm = pyvisa.ResourceManager("@py")
    return rm.open_resource(resource, write_termination="\0", read_termination="\0",
                            timeout=10000)


def send(inst, command: str) -> str:
    """The manual's ``send``: on LAN the instrument answers every message [M 2-10]."""
    return inst.query(command).strip()


def wait_data_ready(inst, timeout: float = 20.0) -> None:
    """``while(!srq());`` on LAN: poll ``SP`` until data ready (B0) [M 3-5, 4-6]."""
    deadline = time.monotonic() + timeout
    while not int(send(inst, "SP")) & 1:
        assert time.monotonic() < deadline, "no data ready"
        time.sleep(0.005)


def test_example_1_and_3_var1_var2_sweep_saved_and_read_back(server_factory):
    """Examples 1 and 3 [M 5-44…5-46]: SMU3 sweeps VAR1 0..1 V in 50 mV (21 points,
    int(|1-0|/0.05 + 1.5) [M 5-19]) for each of 4 VAR2 current steps of SMU2, the data is
    saved as PROG1 and read back with ``GT``/``DO 'IC'``: 84 readings (the text says "80
    measurements"; the formula of 5-19 gives 21 x 4)."""
    inst = open_lan(server_factory())  # 4 SMUs, as the example assumes
    for cmd in ("IT1 BC DR1", "DE CH1,'VE','IE',3,3", "CH2,'VB','IB',2,2",
                "CH3,'VC','IC',1,1", "CH4", "VS1;VS2;VM1;VM2", "SS VR1,0,1,0.05,50E-3",
                "IP 10E-6,10E-6,4,3", "SM DM2", "MD ME1"):
        assert send(inst, cmd) == "ACK", cmd
        assert send(inst, ":ERROR:LAST:GET") == "", cmd
    wait_data_ready(inst)
    assert send(inst, "SV 'D PROG1'") == "ACK"
    saved = send(inst, "DO 'IC'")
    send(inst, "BC")
    # Example 3: load the data file and output it
    assert send(inst, "GT 'D PROG1'") == "ACK"
    data = send(inst, "DO 'IC'")
    assert send(inst, ":ERROR:LAST:GET") == ""
    items = data.split(",")
    assert len(items) == 21 * 4 and data == saved
    assert all(re.fullmatch(r"[NC]" + READING, x) for x in items)
    vb = [float(x[1:]) for x in send(inst, "DO 'VB'").split(",")]
    assert len(vb) == 84  # SMU2 (VAR2 current source, open) in its voltage compliance
    vc = [float(x[1:]) for x in send(inst, "DO 'VC'").split(",")]
    assert vc[:21] == pytest.approx([0.05 * k for k in range(21)], abs=1e-3)
    inst.close()


def test_example_2_user_mode_source_measure(server_factory):
    """Example 2 [M 5-45]: user mode, two SMUs sourcing, one current reading of SMU1 in
    the ``XYZ±N.NNNNE±NN`` format [M 3-2]."""
    inst = open_lan(server_factory())
    for cmd in ("US", "IT1 BC DR1", "DV1,1, 1.5, 1E-3", "DV2,1,2,1E-3"):
        assert send(inst, cmd) == "ACK", cmd
    reading = send(inst, "TI1")
    assert re.fullmatch(r"[NC]AI" + READING, reading)
    assert abs(float(reading[3:])) <= 1e-3 * 1.0001  # within its compliance
    assert send(inst, "DV1;DV2") == "ACK"
    assert send(inst, ":ERROR:LAST:GET") == ""
    inst.close()


@pytest.mark.slow
def test_example_4_var1_sweep_with_real_time_retrieval(server_factory):
    """Program 4 [M 5-46, 5-47]: a 1001-point VAR1 sweep read point by point with ``RD``
    while it runs. The listing defines ``CH1`` twice; its comment ("Channel definition for
    SMU2; constant common") and its stated set-up (channels 1 and 2 are SMUs) show the
    second line is meant for ``CH2``, which is what this run sends (as printed, SMU1 would
    lose its VAR1 definition and the loop would never see a point). The server runs the
    test in real time (1001 x 0.1 PLC = 1.7 s), so ``RD 'CH1T'`` answers ``0`` for points
    not measured yet; ``Sleep(100)`` is shortened to 1 ms."""
    inst = open_lan(server_factory("--options", "SMU1,SMU2", "--sim-speed", "1"))
    num_points = 1001
    for cmd in ("IT1 BC DR1", "DE CH1,'V1','I1',1,1", "DE CH2,'V2','I2',3,3",
                "SS VR1,-5,5,0.01,0.001", "SM DM2", "MD ME1"):
        assert send(inst, cmd) == "ACK", cmd
    assert send(inst, f"RD'CH1T',{num_points}") == "0"  # the test has just started
    assert int(send(inst, "SP")) & 16  # busy [M 3-4]
    volts, amps, not_ready = [], [], 0
    cur_point, timeout_count = 1, 0
    while cur_point <= num_points and timeout_count < 10000:
        time.sleep(0.001)
        recv = send(inst, f"RD'CH1T',{cur_point}")
        if recv:
            if recv != "0":
                volts.append(send(inst, f"RD'V1',{cur_point}"))
                amps.append(send(inst, f"RD'I1',{cur_point}"))
                cur_point += 1
            else:
                not_ready += 1
        timeout_count += 1
    assert cur_point == num_points + 1
    assert all(re.fullmatch(READING, x) for x in volts + amps)
    v = [float(x) for x in volts]
    assert v[0] == pytest.approx(-5, abs=1e-3)
    assert all(-5.001 <= x <= 5.001 for x in v)  # the source, lower where in compliance
    assert max(abs(float(x)) for x in amps) <= 1e-3 * 1.0001  # 1 mA compliance
    assert len(send(inst, "DO 'I1'").split(",")) == num_points
    inst.close()


def test_pymeasure_keithley4200_with_default_options(server_factory):
    """pymeasure's own driver against the default server: identification, set-points,
    readings, status, with the expectations of pymeasure's hardware test."""
    from pymeasure.instruments.keithley import Keithley4200
    from pymeasure.instruments.keithley.keithley4200 import StatusCode

    k = Keithley4200(server_factory(), visa_library="@py")
    assert sorted(k.smu.keys()) == [1, 2, 3, 4]  # *OPT? parsed without a crash
    assert "KI4200" in k.id
    k.clear()
    assert k.status == StatusCode.NONE
    for voltage in (1, 20.65, -3.27, 43.1, -99.7, 0):  # pymeasure's hardware-test values
        k.clear()
        k.smu2.voltage_setpoint = (0, voltage, 1e-3)
        assert k.status == StatusCode.NONE
        got = k.smu2.voltage
        assert k.status == StatusCode.DATA_READY
        assert got == pytest.approx(voltage, rel=1e-3, abs=1e-4)
        k.smu2.voltage_setpoint = (0, voltage, 1e-3)
        assert abs(k.smu2.current) == pytest.approx(0, abs=1e-4)  # open terminals
    for current in (1e-3, -0.0256, 1.467e-2, 1.243e-6):
        k.clear()
        k.smu3.current_setpoint = (0, current, 1)
        assert k.smu3.current == pytest.approx(0, abs=1e-6)  # open: no current flows
        k.smu3.current_setpoint = (0, current, 1)
        assert abs(k.smu3.voltage) == pytest.approx(1, rel=1e-3, abs=1e-4)  # V compliance
    k.smu1.voltage_setpoint = (1, 0.1, 1e-3)  # SMU1 is wired to the device
    assert abs(k.smu1.current) <= 1e-3 * 1.0001
    k.smu1.disable()
    k.smu2.disable()
    k.smu3.disable()
    k.adapter.close()
