"""Every command of the common and SMU sections of ``docs/kxci-coverage.md`` does what its
row says on the simulated 4200A: a well-formed example (the manual's own example where it
prints one) is sent after its set-up messages; an implemented command must store no error
and answer data or change the instrument state (settings, channels, buffer, files, stored
error); the few with nothing to change in a simulated instrument say why here. Refusals
are checked with the manual's codes [M 2-12, 2-13].
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from sim_backend.kxci import KXCIEngine

DOC = Path(__file__).resolve().parents[1] / "docs" / "kxci-coverage.md"
ROW = re.compile(r"^\| `([^`]+)` \| (\d-\d+) \| (.+?) \| (.+) \|$")
SECTIONS = ("## Common commands", "## SMU:")
OPTIONS = ("SMU1", "SMU2", "SMU3", "SMU4", "VS1", "VM1", "PMU1")

#: command -> (set-up messages, example message, effect) [manual page of the example]
EXAMPLES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "DR": ((), "DR1", "state"),  # [4-1]
    ":ERROR:LAST:CLEAR": (("XYZ",), ":ERROR:LAST:CLEAR", "state"),  # [4-2]
    ":ERROR:LAST:GET": ((), ":ERROR:LAST:GET", "data"),  # [4-3]
    "ID": ((), "ID", "data"),  # [4-3]
    "*IDN?": ((), "*IDN?", "data"),
    "*OPT?": ((), "*OPT?", "data"),
    "*RST": (("SS", "DT 1"), "*RST", "state"),  # [4-5]
    "SP": ((), "SP", "data"),  # [4-6]
    "DE": (("US",), "DE", "state"),
    "SS": ((), "SS", "state"),
    "SM": ((), "SM", "state"),
    "MD": ((), "MD", "state"),
    "CH": (("DE",), "CH3, 'V1', 'I1', 1, 3", "state"),  # [5-8] example 1
    "VM": (("DE",), "VM1, 'VM1'", "state"),  # [5-9]
    "VS": (("DE",), "VS1, 'VS1', 1", "state"),  # [5-10]
    "DT": (("SS",), "DT 1", "state"),  # [5-11]
    "FS": (("SS",), "FS +2,2", "state"),  # [5-12]
    "HT": (("SS",), "HT 1", "state"),  # [5-12]
    "RT": (("SS",), "RT +3,2", "state"),  # [5-14]
    "SC": (("SS",), "SC1, 20", "state"),  # [5-14]
    "ST": (("SS",), "ST 1, 0", "state"),
    "VC": (("SS",), "VC4, 1, 1E-3", "state"),
    "IC": (("SS",), "IC4, 1E-6, 5", "state"),
    "VL": (("SS",), "VL1,1, 0.01, 1, 5, 2", "state"),  # [5-16]
    "IL": (("SS",), "IL2, 1, 5, 1E-6, 2E-6", "state"),
    "VP": (("SS",), "VP 5, 5, 3, 0.01", "state"),  # [5-18]
    "IP": (("SS",), "IP 10E-6,10E-6,4,3", "state"),  # [5-45]
    "VR": (("SS",), "VR1, 1, 5, 1, 0.01", "state"),  # [5-21]
    "IR": (("SS",), "IR1, 1E-6, 5E-6, 1E-6, 10", "state"),
    "DM": (("SM",), "DM2", "state"),
    "IN": (("SM",), "IN 0.1", "state"),  # [5-22]
    "LI": (("SM",), "LI 'V1', 'I1', 'V3'", "state"),
    "NR": (("SM",), "NR 200", "state"),  # [5-24]
    "WT": (("SM",), "WT 0.1", "state"),  # [5-24]
    "XN": (("SM",), "XN 'V1', 1, -5, 5", "state"),  # [5-25]
    "XT": (("SM",), "XT 0, 10", "state"),  # [5-25]
    "YA": (("SM",), "YA 'I1', 1, -5E-9, 5E-9", "state"),  # [5-26]
    "YB": (("SM",), "YB 'I2', 2, 100E-9, 1E-3", "state"),  # [5-27]
    "ME": (("MD",), "ME1", "state"),  # [5-28]
    "GT": (("SV 'P SETUP1'", "SS", "DT 1"), "GT 'P SETUP1'", "state"),  # [5-29]
    "SV": (("SS",), "SV 'P Setup1'", "state"),  # [5-30]
    "MP": (("DE",), "MP 3, VM5", "state"),  # [5-30]
    "SR": (("DE",), "SR 1, 2", "state"),  # [5-31]
    "US": ((), "US", "state"),
    "DI": (("US",), "DI2, 6, 1E-5, 2", "state"),
    "DS": (("US",), "DS1, 20", "state"),  # [5-33]
    "DV": (("US",), "DV1, 1, 10, 10E-3", "state"),  # [5-34]
    "TI": (("US",), "TI1", "data"),
    "TV": (("US",), "TV1", "data"),
    "AC": ((), "AC 1", "none: the simulated SMU has no offsets to calibrate"),  # [5-37]
    "BC": (("MD", "ME1"), "BC", "state"),
    "DO": (("MD", "ME1"), "DO 'V3'", "data"),
    "EC": ((), "EC 1", "state"),  # [5-39]
    "EM": ((), "EM 1,0", "none: the 4200A command set is the one in use"),
    "IT": ((), "IT4,2.5,0.6,1.3", "state"),  # [5-41]
    "RD": (("MD", "ME1"), "RD 'V3', 1", "data"),
    "RG": ((), "RG 2, 1E-6", "state"),
    "RI": ((), "RI 1, 1E-3, 1E-3", "state"),  # [5-43]
    "RS": ((), "RS 7", "state"),  # [5-43]
    "RV": ((), "RV 1, 2, 1", "state"),  # [5-44]
}

#: well-formed commands the real instrument refuses in this configuration
REFUSALS = [
    (("SM",), "DM3", -993),  # the 4200A does not accept DM3/DM4 [5-22]
    (("SS",), "GT 'D NOFILE'", -984),  # no such file [2-12]
    (("US",), "TV6", -988),  # VM2 not installed [5-35]
    ((), "EM 0,0", -986),  # the 4145 Emulation command set is not simulated
    (("US",), "CH1, 'V1', 'I1', 1, 1", -975),  # system-mode command in user mode
    (("DE",), "DV1, 1, 1, 1E-3", -974),
    (("DE",), "DS2, 1", -974),
    (("US",), "DS2, 1", -988),  # no VS2 [5-33]
]


def doc_commands() -> list[str]:
    out, keep = [], False
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            keep = line.startswith(SECTIONS)
            continue
        m = ROW.match(line)
        if keep and m:
            out.append(m.group(1))
    return out


def fingerprint(e: KXCIEngine) -> bytes:
    return pickle.dumps((e.sm, e.smus, e.vsvm, e.files, e.mapped_away, e.phantom_vm,
                         e.last_error))


def test_every_row_of_the_smu_and_common_sections_has_an_example():
    rows = doc_commands()
    assert len(rows) >= 60
    assert set(rows) == set(EXAMPLES), sorted(set(rows) ^ set(EXAMPLES))


@pytest.mark.parametrize("command", list(EXAMPLES))
def test_example_is_not_ignored(command):
    setup, example, effect = EXAMPLES[command]
    e = KXCIEngine(seed=1, options=OPTIONS)
    for message in setup:
        e.handle(message)
    before = fingerprint(e)
    reply = e.handle(example)
    assert e.last_error is None or command == ":ERROR:LAST:CLEAR", (example, e.last_error)
    if effect == "data":
        assert reply != "ACK", example
    elif effect == "state":
        assert fingerprint(e) != before, f"{example!r} changed nothing"
    else:
        assert effect.startswith("none: ") and reply == "ACK"
        assert fingerprint(e) == before


@pytest.mark.parametrize("setup,example,code", REFUSALS, ids=[r[1] for r in REFUSALS])
def test_refused_with_the_manuals_code(setup, example, code):
    e = KXCIEngine(seed=1, options=OPTIONS)
    for message in setup:
        e.handle(message)
    e.handle(example)
    assert e.last_error is not None and e.last_error[0] == code
