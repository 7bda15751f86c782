"""``docs/kxci-coverage.md`` against the manual's command index and the simulator.

1. The document lists exactly the commands of the KXCI manual's index (4200A-KXCI-907-01
   Rev. E: the table of contents of sections 4 to 7 [manual pp. 6-10 of the PDF], the page
   commands of the summary [5-4] and ``US`` [5-31]) with the manual's page.
2. No well-formed command is accepted and ignored: a well-formed example of each command
   (``EXAMPLES``) is sent to the simulator; a row marked ``refused -NNN`` must store that
   KXCI error; a row marked ``implemented`` must store no error and have an observable
   effect — a data reply, or a change of the instrument state (pages, channels, pulse
   channels, PMU, Segment Arb sequences, data buffers), of the device clock, of the stored
   error, or of the user-module results. The few commands the manual defines as
   console-only or as having nothing to act on (``NOOP``) must answer ``ACK`` and change
   nothing. Every command of the PMU, Segment Arb, legacy pulse, CVU and KULT sections has an
   example; rows of the other sections without one are checked to be recognised (their
   behaviour is held by ``tests/test_sim_smu.py``).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from sim_backend.kxci import KXCIEngine  # noqa: F401 - the engine under test

DOC = Path(__file__).resolve().parents[1] / "docs" / "kxci-coverage.md"
ROW = re.compile(r"^\| `([^`]+)` \| (\d-\d+) \| (.+?) \| (.+) \|$")
RPM = ("SMU1", "SMU2", "SMU3", "SMU4", "PMU1RPM1-2")

#: the manual's command index: command -> page
INDEX = {
    "DR": "4-1", ":ERROR:LAST:CLEAR": "4-2", ":ERROR:LAST:GET": "4-3", "ID": "4-3",
    "*IDN?": "4-4", "*OPT?": "4-4", "*RST": "4-5", "SP": "4-6", "AB": "4-7", "EX": "4-7",
    "GD": "4-9", "GN": "4-10", "GP": "4-11", "GR": "4-12", "UL": "4-13",
    "instrumentinfo": "4-14", "remotemoduleinfo": "4-15", "systeminfo": "4-16",
    "DE": "5-4", "SS": "5-4", "SM": "5-4", "MD": "5-4",
    "CH": "5-7", "VM": "5-8", "VS": "5-9", "DT": "5-10", "FS": "5-11", "HT": "5-12",
    "RT": "5-13", "SC": "5-14", "ST": "5-14", "VC": "5-15", "IC": "5-15", "VL": "5-16",
    "IL": "5-16", "VP": "5-17", "IP": "5-17", "VR": "5-19", "IR": "5-19", "DM": "5-22",
    "IN": "5-22", "LI": "5-23", "NR": "5-23", "WT": "5-24", "XN": "5-25", "XT": "5-25",
    "YA": "5-26", "YB": "5-27", "ME": "5-28", "GT": "5-29", "SV": "5-29", "MP": "5-30",
    "SR": "5-31", "US": "5-31", "DI": "5-32", "DS": "5-33", "DV": "5-33", "TI": "5-34",
    "TV": "5-35", "AC": "5-37", "BC": "5-37", "DO": "5-38", "EC": "5-39", "EM": "5-39",
    "IT": "5-40", "RD": "5-41", "RG": "5-42", "RI": "5-42", "RS": "5-43", "RV": "5-43",
    ":CVU:CABLE:COMP:LOAD": "6-4", ":CVU:CABLE:COMP:MEASCUSTOM": "6-5",
    ":CVU:CABLE:COMP:OPEN": "6-5", ":CVU:CABLE:COMP:SHORT": "6-6", ":CVU:MEASZ?": "6-7",
    ":CVU:BIAS:DCV:SAMPLE": "6-7", ":CVU:DATA:FREQ?": "6-8", ":CVU:DATA:STATUS?": "6-8",
    ":CVU:DATA:TSTAMP?": "6-8", ":CVU:DATA:VOLT?": "6-8", ":CVU:DATA:Z?": "6-9",
    ":CVU:DELAY:STEP": "6-9", ":CVU:DELAY:SWEEP": "6-9", ":CVU:FSTEPSIZE": "6-10",
    ":CVU:SAMPLE:HOLDT": "6-10", ":CVU:SAMPLE:INTERVAL": "6-10", ":CVU:SOAK:DCV": "6-11",
    ":CVU:STANDBY": "6-11", ":CVU:STEP:FREQ": "6-11", ":CVU:SWEEP:ACV": "6-12",
    ":CVU:SWEEP:DCV": "6-12", ":CVU:SWEEP:FREQ": "6-13", ":CVU:SWEEP:LISTDCV": "6-14",
    ":CVU:TEST:ABORT": "6-14", ":CVU:TEST:RUN": "6-15", ":CVU:ACV": "6-15",
    ":CVU:ACZ:RANGE": "6-16", ":CVU:CHANNEL": "6-16", ":CVU:CONFIG:ACVHI": "6-16",
    ":CVU:CONFIG:DCVHI": "6-17", ":CVU:CORRECT": "6-17", ":CVU:DCV": "6-19",
    ":CVU:DCV:OFFSET": "6-19", ":CVU:FREQ": "6-20", ":CVU:LENGTH": "6-20",
    ":CVU:MODE": "6-21", ":CVU:MODEL": "6-21", ":CVU:OUTPUT": "6-21", ":CVU:RESET": "6-22",
    ":CVU:SPEED": "6-22", ":CVU:TEST:COMPLETE?": "6-25",
    ":PMU:ABORT": "7-4", ":PMU:CONNECTION:COMP": "7-5", ":PMU:DATA:COUNT?": "7-6",
    ":PMU:DATA:GET": "7-7", ":PMU:EXECUTE": "7-9", ":PMU:INIT": "7-9",
    ":PMU:LLEC:CONFIGURE": "7-10", ":PMU:LOAD": "7-11", ":PMU:MEASURE:CONNECTION:COMP": "7-12",
    ":PMU:MEASURE:MODE": "7-13", ":PMU:MEASURE:PIV": "7-14", ":PMU:MEASURE:RANGE": "7-15",
    ":PMU:OUTPUT:STATE": "7-16", ":PMU:PULSE:BURST:COUNT": "7-17", ":PMU:PULSE:TIMES": "7-18",
    ":PMU:PULSE:TRAIN": "7-21", ":PMU:RETAIN:CONFIG": "7-21", ":PMU:RPM:CONFIGURE": "7-22",
    ":PMU:SAMPLE:RATE": "7-23", ":PMU:SOURCE:RANGE": "7-24", ":PMU:STEP:DC": "7-25",
    ":PMU:STEP:PULSE:AMPLITUDE": "7-26", ":PMU:STEP:PULSE:BASE": "7-27",
    ":PMU:SWEEP:DC": "7-28", ":PMU:SWEEP:PULSE:AMPLITUDE": "7-29",
    ":PMU:SWEEP:PULSE:BASE": "7-31", ":PMU:TEST:STATUS?": "7-32", ":PMU:TIMES:PIV": "7-32",
    ":PMU:TIMES:WAVEFORM": "7-34",
    ":PMU:SARB:SEQ:MEAS:START": "7-40", ":PMU:SARB:SEQ:MEAS:START:ADD": "7-41",
    ":PMU:SARB:SEQ:MEAS:STOP": "7-42", ":PMU:SARB:SEQ:MEAS:STOP:ADD": "7-43",
    ":PMU:SARB:SEQ:MEAS:TYPE": "7-44", ":PMU:SARB:SEQ:MEAS:TYPE:ADD": "7-45",
    ":PMU:SARB:SEQ:SSR": "7-46", ":PMU:SARB:SEQ:SSR:ADD": "7-47",
    ":PMU:SARB:SEQ:STARTV": "7-48", ":PMU:SARB:SEQ:STARTV:ADD": "7-49",
    ":PMU:SARB:SEQ:STOPV": "7-50", ":PMU:SARB:SEQ:STOPV:ADD": "7-51",
    ":PMU:SARB:SEQ:TIME": "7-52", ":PMU:SARB:SEQ:TIME:ADD": "7-53",
    ":PMU:SARB:SEQ:TRIG": "7-54", ":PMU:SARB:SEQ:TRIG:ADD": "7-55",
    ":PMU:SARB:WFM:SEQ:LIST": "7-56", ":PMU:SARB:WFM:SEQ:LIST:ADD": "7-56",
    "PA": "7-60", "PD": "7-61", "PE": "7-61", "PG": "7-62", "PH": "7-63", "PN": "7-63",
    "PO": "7-64", "PS": "7-65", "PT": "7-65", "PV": "7-67", "RP": "7-68", "TO": "7-69",
    "TS": "7-70", "VF": "7-71",
}

P0 = [":PMU:INIT 0"]
S0 = [":PMU:INIT 1"]
SEQ = [":PMU:SARB:SEQ:STARTV 1, 1, 0, 1, 1", ":PMU:SARB:SEQ:STOPV 1, 1, 1, 1, 0",
       ":PMU:SARB:SEQ:TIME 1, 1, 1e-6, 2e-6, 1e-6"]
SARB_VALUES = {"MEAS:START": "0, 1e-7, 0", "MEAS:STOP": "1e-6, 1e-6, 1e-6",
               "MEAS:TYPE": "0, 1, 0", "SSR": "1, 1, 1", "STARTV": "0, 1, 1",
               "STOPV": "1, 1, 0", "TIME": "1e-6, 2e-6, 1e-6", "TRIG": "1, 0, 1"}
TRAIN = [":PMU:PULSE:TRAIN 1, 0, 0.5", ":PMU:OUTPUT:STATE 1, 1"]
EXSYS = ["UL", "EX SystemUtil systeminfo(,100,)"]
ARMED = ["TS 1, 1", "PO 1, 1, 0", "PG 1, 0, 3"]

#: command -> (set-up messages, the well-formed command)
EXAMPLES: dict[str, tuple[list[str], str]] = {
    "UL": ([], "UL"), "EX": (["UL"], "EX SystemUtil systeminfo(,100,)"),
    "GN": (EXSYS, "GN len"), "GP": (EXSYS, "GP 1"), "GD": (["UL"], "GD SystemUtil systeminfo"),
    "GR": (EXSYS, "GR"), "AB": (["UL"], "AB"),
    "instrumentinfo": (["UL"], "EX SystemUtil instrumentinfo(,4000,)"),
    "remotemoduleinfo": (["UL"], "EX SystemUtil remotemoduleinfo(,4000,)"),
    "systeminfo": (["UL"], "EX SystemUtil systeminfo(,100,)"),
    ":PMU:ABORT": (P0 + TRAIN, ":PMU:ABORT"),
    ":PMU:CONNECTION:COMP": (P0, ":PMU:CONNECTION:COMP 1, 1, 1"),
    ":PMU:DATA:COUNT?": (P0, ":PMU:DATA:COUNT? 1"),
    ":PMU:DATA:GET": (P0 + TRAIN + [":PMU:EXECUTE"], ":PMU:DATA:GET 1, 0, 10, VH, IL"),
    ":PMU:EXECUTE": (P0 + TRAIN, ":PMU:EXECUTE"),
    ":PMU:INIT": ([], ":PMU:INIT 1"),
    ":PMU:LLEC:CONFIGURE": (P0, ":PMU:LLEC:CONFIGURE 1, 1"),
    ":PMU:LOAD": (P0, ":PMU:LOAD 1, 1e3"),
    ":PMU:MEASURE:CONNECTION:COMP": (P0, ":PMU:MEASURE:CONNECTION:COMP 1, 3"),
    ":PMU:MEASURE:MODE": (P0, ":PMU:MEASURE:MODE 2"),
    ":PMU:MEASURE:PIV": (P0, ":PMU:MEASURE:PIV 1, 1, 0"),
    ":PMU:MEASURE:RANGE": (P0, ":PMU:MEASURE:RANGE 1, 2, 1e-6"),
    ":PMU:OUTPUT:STATE": (P0, ":PMU:OUTPUT:STATE 1, 1"),
    ":PMU:PULSE:BURST:COUNT": (P0, ":PMU:PULSE:BURST:COUNT 5"),
    ":PMU:PULSE:TIMES": (P0, ":PMU:PULSE:TIMES 1, 2e-6, 1e-6, 1e-7, 1e-7"),
    ":PMU:PULSE:TRAIN": (P0, ":PMU:PULSE:TRAIN 1, 0, 1"),
    ":PMU:RETAIN:CONFIG": (P0, ":PMU:RETAIN:CONFIG 1, 1"),
    ":PMU:RPM:CONFIGURE": (P0, ":PMU:RPM:CONFIGURE PMU1-1, 2"),
    ":PMU:SAMPLE:RATE": (P0, ":PMU:SAMPLE:RATE 1e6"),
    ":PMU:SOURCE:RANGE": (P0, ":PMU:SOURCE:RANGE 1, 40"),
    ":PMU:STEP:DC": (P0, ":PMU:STEP:DC 1, 0, 1, 0.5"),
    ":PMU:STEP:PULSE:AMPLITUDE": (P0, ":PMU:STEP:PULSE:AMPLITUDE 1, 1, 2, 0.5, 0"),
    ":PMU:STEP:PULSE:BASE": (P0, ":PMU:STEP:PULSE:BASE 1, 0, 1, 0.5, 1"),
    ":PMU:SWEEP:DC": (P0, ":PMU:SWEEP:DC 1, 0, 1, 0.5, 0"),
    ":PMU:SWEEP:PULSE:AMPLITUDE": (P0, ":PMU:SWEEP:PULSE:AMPLITUDE 1, 0, 1, 0.5, 0, 0"),
    ":PMU:SWEEP:PULSE:BASE": (P0, ":PMU:SWEEP:PULSE:BASE 1, 0, 1, 0.5, 1, 0"),
    ":PMU:TEST:STATUS?": (P0, ":PMU:TEST:STATUS?"),
    ":PMU:TIMES:PIV": (P0, ":PMU:TIMES:PIV 1, 0.5, 0.6"),
    ":PMU:TIMES:WAVEFORM": (P0, ":PMU:TIMES:WAVEFORM 1, 0.1, 0.3"),
    ":PMU:SARB:WFM:SEQ:LIST": (S0 + SEQ, ":PMU:SARB:WFM:SEQ:LIST 1, 1, 2"),
    ":PMU:SARB:WFM:SEQ:LIST:ADD": (S0 + SEQ + [":PMU:SARB:WFM:SEQ:LIST 1, 1, 2"],
                                   ":PMU:SARB:WFM:SEQ:LIST:ADD 1, 1, 3"),
    "PA": (ARMED, "PA 1"), "PD": ([], "PD 1, 1e3"),
    "PE": (["PN 1, 0, 1, 2, 1e-6, 5e-7, 1e-7, 1e-7", "TS 1, 0", "PO 1, 1, 0"], "PE"),
    "PG": (["PV 1, 1, 0, 5, 0.01", "TS 1, 0", "PO 1, 1, 0"], "PG 1, 0, 2"),
    "PH": (ARMED, "PH 1"), "PN": ([], "PN 1, 0, 1, 2, 1e-6, 5e-7, 1e-7, 1e-7"),
    "PO": ([], "PO 1, 1, 0"), "PS": (["PD 1, 1e3"], "PS 1"),
    "PT": ([], "PT 1, 2e-6, 1e-6, 1e-7, 1e-7"), "PV": ([], "PV 1, 1, 0, 5, 0.01"),
    "RP": ([], "RP PMU1-1, 2"), "TO": ([], "TO 1, 1e-7, 0"), "TS": ([], "TS 1, 0"),
    "VF": ([], "VF 1, 1"),
}
for _field, _values in SARB_VALUES.items():
    _cmd = f":PMU:SARB:SEQ:{_field}"
    EXAMPLES[_cmd] = (S0, f"{_cmd} 1, 1, {_values}")
    EXAMPLES[_cmd + ":ADD"] = (S0 + [f"{_cmd} 1, 1, {_values}"], f"{_cmd}:ADD 1, 1, {_values}")
for _cmd in [c for c in INDEX if c.startswith(":CVU:")]:
    EXAMPLES[_cmd] = ([], _cmd + ("" if _cmd.endswith("?") else " 1"))

#: defined by the manual as console-only or as having nothing to act on: ``ACK``, no change
NOOP = {"GD": "description printed to the KXCI console [4-9]",
        "GR": "return value printed to the console; the bus reply is ACK [4-12]",
        "AB": "no module runs after EX returns: nothing to abort [4-7]"}
OWN_SECTIONS = (":PMU:", ":CVU:", "P", "RP", "TO", "TS", "VF", "AB", "EX", "GD", "GN", "GP",
                "GR", "UL", "instrumentinfo", "remotemoduleinfo", "systeminfo")


def doc_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        m = ROW.match(line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} listed twice"
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def fingerprint(e: KXCIEngine) -> bytes:
    return pickle.dumps((e.sm, e.smus, e.pulse, e.pmu, e.device.time, e.last_error,
                         getattr(e, "_kult_last", None)))


def error_code(e: KXCIEngine) -> int:
    return e.last_error[0] if e.last_error else 0


def test_document_lists_the_manual_index():
    rows = doc_rows()
    assert {c: p for c, (p, _) in rows.items()} == INDEX


def test_every_command_of_the_own_sections_has_an_example():
    own = [c for c in INDEX if c.startswith(OWN_SECTIONS)]
    assert not [c for c in own if c not in EXAMPLES]


@pytest.mark.parametrize("command", sorted(INDEX))
def test_no_well_formed_command_is_accepted_and_ignored(command, make_ohmic_engine):
    _, status = doc_rows()[command]
    e = make_ohmic_engine(options=RPM)
    if command not in EXAMPLES:
        name = command if command in e._handlers else None
        assert name is not None, f"{command} is not recognised"
        return
    setup, message = EXAMPLES[command]
    for m in setup:
        e.handle(m)
    assert error_code(e) == 0, (command, setup, e.last_error)
    before = fingerprint(e)
    reply = e.handle(message)
    refused = re.match(r"refused -(\d+)", status)
    if refused:
        assert error_code(e) == -int(refused.group(1)), (message, e.last_error)
        return
    assert status.startswith("implemented"), status
    assert error_code(e) == 0, (message, e.last_error)
    if command in NOOP:
        assert reply == "ACK" and fingerprint(e) == before
    else:
        assert reply != "ACK" or fingerprint(e) != before, f"{message} had no effect"


@pytest.mark.parametrize("command", sorted(c for c in INDEX if c.startswith(":CVU:")))
def test_cvu_commands_with_a_cvu_slot_are_unsupported(command, make_ohmic_engine):
    e = make_ohmic_engine(options=("SMU1", "CVU1"))
    e.handle(EXAMPLES[command][1])
    assert error_code(e) == -986


@pytest.mark.parametrize("message,code", [
    ("EX SystemUtil systeminfo(,100,)", -992),  # before UL [4-13]
    ("UL;EX nolib nomodule(1, 2)", -993),  # no such user module
    ("UL;EX SystemUtil systeminfo(1)", -993),  # wrong number of parameters [4-12]
    ("UL;GD SystemUtil nomodule", -993),
    ("UL;GP 1", -993),  # no module has run
    ("UL;DE;EX SystemUtil systeminfo(,100,)", -992),  # DE leaves the user-library mode
])
def test_kult_refusals(message, code, make_ohmic_engine):
    e = make_ohmic_engine(options=RPM)
    e.handle(message)
    assert error_code(e) == code


def test_system_util_results_follow_the_slot_list(make_ohmic_engine):
    """``instrumentinfo`` lists one ``slotno:…,name:…,model:…`` record per card [4-14];
    ``remotemoduleinfo`` the RPMs [4-15]; results come back with ``GP``/``GN`` [4-10]."""
    e = make_ohmic_engine(options=RPM)
    assert e.handle("UL") == "ACK"
    assert e.handle("EX SystemUtil instrumentinfo(,4000,)") == "RETURN VALUE = 0"
    info = e.handle("GP 1")
    assert info.startswith("PARAM VALUE = slotno:1,name:SMU1,model:KI4200,")
    assert info.count("slotno:") == 5 and "name:PMU1,model:KIPMU4225" in info
    assert e.handle("GN len") == f"PARAM VALUE = {len(info) - len('PARAM VALUE = ')}"
    e.handle("EX SystemUtil remotemoduleinfo(,4000,)")
    assert e.handle("GP 1").count("model:KIRPM4225") == 2
