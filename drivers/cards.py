"""Which cards a 4200A holds, from its ``*OPT?`` reply, and what each card allows.

``*OPT?`` returns up to 8 comma-separated slot entries [M 4-4, 4-5]: ``SMUn``, ``HPSMUn``,
``SMUPAn``, ``HPSMUPAn`` (SMU numbered n, ``HP`` = 4210/4211 high power, ``PA`` = 4200-PA
preamplifier), ``CVUn``, ``VPUn``, ``PMUn``, ``PMURPMn``, ``PMUnRPM1`` / ``PMUnRPM2`` /
``PMUnRPM1-2`` (PMU n with a 4225-RPM on channel 1, 2 or both), ``VSn``, ``VMn``, and an
empty string for an empty slot. Empty or unknown entries are kept as cards of kind
``"empty"``/``"other"`` and never crash discovery.

Interpretation used here (the manual lists the tokens but not their meaning in every
detail): ``PMURPMn`` = PMU n with RPMs on both channels. KXCI has been reported to omit
``PMU1RPM1-1`` while listing ``PMU1RPM1-2`` [3P, reference note §1.9]; the RPM set is taken
from the token's suffix, so ``PMU1RPM1-2`` means RPMs on channels 1 and 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: 4200/4201-SMU and 4210/4211-SMU (HP) output limits [M 5-32, 5-33]
SMU_V_MAX = 210.0
SMU_I_MAX = 0.105
HPSMU_I_MAX = 1.05
#: smallest current compliance when sourcing V; KXCI silently raises smaller values, so the
#: driver rejects them instead [M 5-16, 5-20]
SMU_MIN_COMPLIANCE = 100e-9
SMUPA_MIN_COMPLIANCE = 100e-12

#: ``DV`` voltage range codes [M 5-33]: 0 auto, 1 20 V, 2/3 200 V, 4 200 mV and 5 2 V (preamp)
DV_RANGES = {0: None, 1: 20.0, 2: 200.0, 3: 200.0, 4: 0.2, 5: 2.0}
DV_PREAMP_ONLY = {4, 5}
#: ``DI`` current range codes [M 5-32]; 1, 2, 11, 12, 13 need the preamp, 10 a 4210/4211
DI_RANGES = {0: None, 1: 1e-9, 2: 10e-9, 3: 100e-9, 4: 1e-6, 5: 10e-6, 6: 100e-6, 7: 1e-3,
             8: 10e-3, 9: 100e-3, 10: 1.0, 11: 1e-12, 12: 10e-12, 13: 100e-12}
DI_PREAMP_ONLY = {1, 2, 11, 12, 13}
DI_HP_ONLY = {10}

#: 4225-PMU current measure ranges per source range, without / with a 4225-RPM [M 7-15]
PMU_I_RANGES = {10: (0.2, 10e-3), 40: (0.8, 10e-3, 100e-6)}
RPM_I_RANGES = {10: (0.2, 10e-3, 1e-3, 100e-6, 10e-6, 1e-6, 100e-9),
                40: (0.8, 10e-3, 100e-6)}


@dataclass(frozen=True)
class SMUCard:
    """One SMU: its number, and whether it is high-power (4210/4211) and has a 4200-PA."""

    number: int
    high_power: bool = False
    preamp: bool = False

    @property
    def i_max(self) -> float:
        return HPSMU_I_MAX if self.high_power else SMU_I_MAX

    @property
    def min_compliance(self) -> float:
        return SMUPA_MIN_COMPLIANCE if self.preamp else SMU_MIN_COMPLIANCE

    @property
    def v_range_codes(self) -> set[int]:
        return set(DV_RANGES) - (set() if self.preamp else DV_PREAMP_ONLY)

    @property
    def i_range_codes(self) -> set[int]:
        codes = set(DI_RANGES)
        if not self.preamp:
            codes -= DI_PREAMP_ONLY
        if not self.high_power:
            codes -= DI_HP_ONLY
        return codes


@dataclass(frozen=True)
class PMUCard:
    """One 4225-PMU (card n has global pulse channels 2n-1 and 2n) and its RPMs [M 7-2]."""

    number: int
    rpm_channels: frozenset[int] = field(default_factory=frozenset)

    @property
    def channels(self) -> tuple[int, int]:
        return (2 * self.number - 1, 2 * self.number)


@dataclass
class Mainframe:
    """All cards found in ``*OPT?``; ``slots`` keeps the raw entries in slot order."""

    slots: list[str]
    smus: dict[int, SMUCard] = field(default_factory=dict)
    pmus: dict[int, PMUCard] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)

    @property
    def pmu_channels(self) -> dict[int, PMUCard]:
        """Global pulse channel -> its card."""
        return {ch: card for card in self.pmus.values() for ch in card.channels}


_SMU_RE = re.compile(r"(HP)?SMU(PA)?(\d+)")
_PMU_RE = re.compile(r"PMU(\d+)(?:RPM(\d)(?:-(\d))?)?|PMURPM(\d+)")


#: one slot entry of ``*OPT?`` [M 4-5]: letters, then channel/RPM digits (or empty)
_ENTRY_RE = re.compile(r"[A-Z]+[0-9]*(?:RPM[0-9]?(?:-[0-9])?)?")
#: ``*IDN?``: "KEITHLEY INSTRUMENTS,MODEL nnnn,xxxxxxx,yyyyy" [M 4-4]
_IDN_FIELD_RE = re.compile(r"[\x20-\x7e]+")


def parse_idn(reply: str) -> str:
    """Check an ``*IDN?`` reply has the manual's form [M 4-4]; ValueError if not.

    Four comma-separated printable fields (manufacturer, model, serial, firmware) with a
    Keithley manufacturer: a garbled or foreign reply must not be stored as an identity
    (the serial also decides whether the instrument is the simulator).
    """
    fields = [f.strip() for f in reply.split(",")]
    if len(fields) != 4 or not all(_IDN_FIELD_RE.fullmatch(f) for f in fields) \
            or not fields[0].upper().startswith("KEITHLEY"):
        raise ValueError("expected 'KEITHLEY INSTRUMENTS,<model>,<serial>,<firmware>'")
    return reply.strip()


def parse_options(reply: str) -> Mainframe:
    """Build a :class:`Mainframe` from a ``*OPT?`` reply [M 4-4, 4-5].

    Raises ValueError for a reply that is not up to eight slot entries of the manual's
    form (letters and channel digits, or empty), e.g. a garbled one: it must not be read
    as a mainframe with fewer cards.
    """
    slots = [s.strip().strip('"') for s in reply.split(",")]
    bad = [s for s in slots if s and not _ENTRY_RE.fullmatch(s.upper())]
    if len(slots) > 8 or bad:
        raise ValueError(f"expected up to 8 slot entries such as SMU1 or PMU1, got {bad or slots}")
    frame = Mainframe(slots=slots)
    for entry in slots:
        up = entry.upper()
        if not up:
            continue
        if m := _SMU_RE.fullmatch(up):
            n = int(m.group(3))
            frame.smus[n] = SMUCard(n, high_power=bool(m.group(1)), preamp=bool(m.group(2)))
        elif m := _PMU_RE.fullmatch(up):
            card = _pmu_card(m)
            frame.pmus[card.number] = card
        else:
            frame.other.append(entry)
    return frame


def _pmu_card(m: re.Match) -> PMUCard:
    """A PMU entry: ``PMUn``, ``PMUnRPMa[-b]`` or ``PMURPMn`` (RPMs on both channels)."""
    if m.group(4):
        n, rpms = int(m.group(4)), {1, 2}
    else:
        n, rpms = int(m.group(1)), set()
        if m.group(2):
            lo = int(m.group(2))
            hi = int(m.group(3)) if m.group(3) else lo
            rpms = set(range(lo, hi + 1)) & {1, 2}
    base = 2 * n - 2
    return PMUCard(n, frozenset(base + r for r in rpms))
