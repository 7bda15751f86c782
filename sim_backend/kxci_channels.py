"""SMU and VS/VM channel state of the simulated 4200A: card limits, range tables, the
``TV``/``TI`` channel codes, and the channels built from the ``*OPT?`` card list [M §5].

The commands that change this state live in :mod:`sim_backend.kxci_smu` (user mode and
modeless SMU commands) and :mod:`sim_backend.kxci_system` (system mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Integration times in power-line cycles for IT1..IT3 [M 5-40]; 1 PLC = 1/60 s.
IT_PLC = {1: 0.1, 2: 1.0, 3: 10.0}
PLC_S = 1.0 / 60.0
MAX_LIST_POINTS = 4096  # [M 5-16]
MAX_VAR1_POINTS = 1024  # [M 5-19]
MAX_BUFFER = 4096  # [M 5-28, 5-37]
SMU_V_MAX = 210.0  # [M 5-15, 5-33]
VS_V_MAX = 200.0  # DS [M 5-33]
SMU_I_MAX = 0.105  # 4200/4201-SMU [M 5-15, 5-33]
HPSMU_I_MAX = 1.05  # 4210/4211-SMU
SMU_I_MIN_COMP = 100e-9  # without preamp; smaller compliance is raised [M 5-16]
SMUPA_I_MIN_COMP = 100e-12
#: the 4200A overflow / "no such voltmeter" value [M 5-8]
NOT_MAPPED_VALUE = 9.0e37
#: full scale per DV / DI range code [M 5-32, 5-33] (0 = auto: the card's limit); values up
#: to 105 % of full scale are accepted, as the SMU's ratings imply (21 V on the 20 V range,
#: 210 V on the 200 V range, 105 mA on 100 mA; reference note §4, SMU manual 5-12, 5-15)
DV_SPAN = {1: 20.0, 2: 200.0, 3: 200.0, 4: 0.2, 5: 2.0}
DI_SPAN = {1: 1e-9, 2: 10e-9, 3: 100e-9, 4: 1e-6, 5: 10e-6, 6: 100e-6, 7: 1e-3, 8: 10e-3,
           9: 100e-3, 10: 1.0, 11: 1e-12, 12: 10e-12, 13: 100e-12}
#: ``TV`` channel codes [M 5-35]: 1-4 SMU1-4, 5-6 VM1-2, 7-10 SMU5-8, 11-16 VM3-8; the
#: reading letter is the code's letter, A = 1 ... P = 16 [M 3-2]
TV_CODES: dict[int, tuple[str, int]] = {
    **{k: ("SMU", k) for k in range(1, 5)}, 5: ("VM", 1), 6: ("VM", 2),
    **{k: ("SMU", k - 2) for k in range(7, 11)}, **{k: ("VM", k - 8) for k in range(11, 17)},
}
#: ``TI`` channel codes [M 5-34]: SMU n, letter A = SMU1 ... H = SMU8 [M 3-3]; SMU9 reads
#: as letter I (the log-file letters run "to letter I" [M 3-7])
TI_MAX_CHANNEL = 9


def reading_letter(code: int) -> str:
    """Instrument letter of a user-mode reading for ``TV``/``TI`` code n: A + n - 1."""
    return chr(ord("A") + code - 1)


@dataclass
class SMUChannel:
    """Card, channel-definition and source state of one SMU."""

    number: int
    preamp: bool = False
    high_power: bool = False
    vname: str = ""
    iname: str = ""
    source_mode: int = 0  # 1 V, 2 I, 3 common [M 5-7]
    function: int = 0  # 1 VAR1, 2 VAR2, 3 const, 4 VAR1'
    list_values: np.ndarray | None = None  # VL / IL [M 5-16]
    list_kind: str = "V"
    list_master: bool = True
    list_compliance: float = SMU_I_MAX
    const_value: float = 0.0  # VC / IC [M 5-15]
    const_kind: str = "V"
    const_compliance: float = SMU_I_MAX
    ratio: float | None = None  # RT / FS for this channel [M 5-11, 5-13]
    offset: float | None = None
    lowest_range: float = 0.0  # RG [M 5-42]
    fixed_i_range: float = 0.0  # RI (0 = autorange) [M 5-42]
    fixed_v_range: float = 0.0  # RV [M 5-43]
    source_range: float = 0.0  # SR: 0 auto, 2 best fixed, else fixed [M 5-31]
    standby: bool = True  # ST [M 5-14]
    # user mode; power-on defaults [M 5-4]
    output_kind: str = "V"  # V (DV) or I (DI)
    output_v: float = 0.0  # DV volts, or DI voltage compliance
    output_i: float = 0.0  # DI amps
    output_comp: float = 105e-6
    output_range: int = 0
    output_on: bool = False

    @property
    def defined(self) -> bool:
        return self.source_mode != 0

    @property
    def i_max(self) -> float:
        return HPSMU_I_MAX if self.high_power else SMU_I_MAX

    @property
    def min_compliance(self) -> float:
        return SMUPA_I_MIN_COMP if self.preamp else SMU_I_MIN_COMP

    @property
    def model(self) -> str:
        """Card model for the noise tables: 4200-SMU / 4210-SMU, ``+PA`` with a preamp."""
        return ("4210-SMU" if self.high_power else "4200-SMU") + ("+PA" if self.preamp else "")

    def undefine(self) -> None:
        """``CHn`` alone: the channel is no longer part of the test [M 5-8]."""
        self.vname = self.iname = ""
        self.source_mode = self.function = 0

    def reset(self) -> None:
        keep = (self.number, self.preamp, self.high_power)
        self.__init__(*keep)  # type: ignore[misc]


@dataclass
class VSVMChannel:
    """A voltage source (``VSn``) or voltmeter (``VMn``) of system mode [M 5-8, 5-9]."""

    kind: str  # "VS" or "VM"
    number: int
    name: str = ""
    function: int = 0  # VS: 1 VAR1, 2 VAR2, 3 const, 4 VAR1'
    const_value: float = 0.0  # SC [M 5-14]
    list_values: np.ndarray | None = None
    list_master: bool = True
    user_value: float = 0.0  # DS [M 5-33]
    user_on: bool = False

    @property
    def defined(self) -> bool:
        return bool(self.name)


def smu_channels(options) -> dict[int, SMUChannel]:
    """SMU cards from ``*OPT?`` entries: ``SMUn``, ``SMUPAn``, ``HPSMUn``, ``HPSMUPAn``."""
    out = {}
    for entry in options:
        m = re.fullmatch(r"(HP)?SMU(PA)?(\d+)", entry)
        if m:
            n = int(m.group(3))
            out[n] = SMUChannel(n, preamp=bool(m.group(2)), high_power=bool(m.group(1)))
    return out


def vs_vm_channels(options) -> dict[tuple[str, int], VSVMChannel]:
    """``VSn`` / ``VMn`` entries of ``*OPT?`` [M 4-5]."""
    out = {}
    for entry in options:
        m = re.fullmatch(r"(VS|VM)(\d+)", entry)
        if m:
            out[(m.group(1), int(m.group(2)))] = VSVMChannel(m.group(1), int(m.group(2)))
    return out
