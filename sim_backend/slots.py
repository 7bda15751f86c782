"""The mainframe's slot list as ``*OPT?`` reports it [M 4-4, 4-5], checked before use.

Each of up to eight comma-separated entries is ``xxxn`` with ``n`` the instrument number
(1 to 9) and ``xxx`` one of ``SMU``, ``HPSMU``, ``SMUPA``, ``HPSMUPA`` (SMUs without / with
a preamplifier), ``CVU``, ``VPU`` (pulse generator, source only), ``PMU``, ``PMURPM``,
``VS``, ``VM``; or ``PMUnRPM1``, ``PMUnRPM2``, ``PMUnRPM1-2`` (PMU with RPMs on channel 1,
2 or both); or empty (no channel in the slot).
"""

from __future__ import annotations

import re

MAX_SLOTS = 8
SLOT_ENTRY = re.compile(
    r"(?:HPSMUPA|HPSMU|SMUPA|SMU|CVU|VPU|PMURPM|PMU|VS|VM)[1-9]|PMU[1-9]RPM(?:1-2|1|2)|")


def parse_slots(text: str) -> tuple[str, ...]:
    """The entries of a ``*OPT?``-style slot list; ValueError naming the bad entry."""
    entries = tuple(e.strip() for e in text.split(","))
    if len(entries) > MAX_SLOTS:
        raise ValueError(f"{len(entries)} slot entries, at most {MAX_SLOTS} [manual 4-4]")
    for e in entries:
        if not SLOT_ENTRY.fullmatch(e):
            raise ValueError(f"slot entry {e!r} is not one of SMUn, HPSMUn, SMUPAn, "
                             "HPSMUPAn, CVUn, VPUn, PMUn, PMURPMn, PMUnRPM1|2|1-2, VSn, VMn "
                             "or empty (n = 1..9) [manual 4-5]")
    if not any(entries):
        raise ValueError("no instrument in any slot")
    seen = [_instrument(e) for e in entries if e]
    dup = sorted({e for e in seen if seen.count(e) > 1})
    if dup:
        raise ValueError(f"instrument {dup[0]} listed twice")
    return entries


def _instrument(entry: str) -> str:
    """The instrument an entry names (``SMUPA2`` -> ``SMU2``, ``PMU1RPM1-2`` -> ``PMU1``)."""
    m = re.fullmatch(r"(?:HPSMUPA|HPSMU|SMUPA|SMU)(\d)", entry)
    if m:
        return f"SMU{m.group(1)}"
    m = re.fullmatch(r"PMURPM(\d)|PMU(\d)(?:RPM.*)?", entry)
    if m:
        return f"PMU{m.group(1) or m.group(2)}"
    return entry
