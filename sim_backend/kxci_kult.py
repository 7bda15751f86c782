"""Calling KULT user libraries remotely on the simulated 4200A [M 4-6…4-16] (a part of
:class:`sim_backend.kxci.KXCIEngine`).

``UL`` switches to the user-library mode (left with ``DE`` or ``US`` [M 4-13]); there
``EX Library Module(p1,p2,...)`` runs a module, ``GN``/``GP`` return parameters of the last
module run, ``GD`` and ``GR`` print to the KXCI console only (the bus reply is ``ACK``
[M 4-12]), ``AB`` aborts a running module. Outside the user-library mode these commands are
KXCI command errors (-992).

The simulated mainframe has one user library, ``SystemUtil`` [M 4-13…4-16], with
``instrumentinfo``, ``remotemoduleinfo`` and ``systeminfo`` (``char *result, int maxlen,
int *len``), whose result strings follow the manual's examples for the slot list. Any other
library or module does not exist and is refused with -993, "KXCI argument error."
[M 2-12], as is a call with the wrong number of parameters, whose detail is the manual's
``EX ERROR: invalid number of UTM parameters...`` text [M 4-12]. The reply formats of a
successful ``EX`` (``RETURN VALUE = n``) and of ``GN``/``GP`` (``PARAM VALUE = v``) are the
ones third-party clients parse from real instruments (reference note §1.9); the manual does
not print them.
"""

from __future__ import annotations

import re

from sim_backend.kxci_common import KXCIError

#: SystemUtil modules: name -> parameter names [M 4-14…4-16]
SYSTEM_UTIL = {"instrumentinfo": ("result", "maxlen", "len"),
               "remotemoduleinfo": ("result", "maxlen", "len"),
               "systeminfo": ("result", "maxlen", "len")}
MODELS = {"SMU": "KI4200", "HPSMU": "KI4210", "SMUPA": "KI4200", "HPSMUPA": "KI4210",
          "CVU": "KICVU4210", "VPU": "KIVPU4220", "PMU": "KIPMU4225"}
CAL = "caldate:Jan 01, 2026,caldue:Jan 01, 2027"


class KULTLibrary:
    """``UL``, ``EX``, ``GD``, ``GN``, ``GP``, ``GR``, ``AB``.

    Parameters
    ----------
    st : the instrument's shared state (page, card list, pulse channels, seed).
    firmware : the firmware version the ``*IDN?`` reply ends with.
    """

    def __init__(self, st, firmware: str) -> None:
        self.st = st
        self.firmware = firmware
        self._kult_last: dict[str, str] | None = None  # parameters of the last module run
        self._kult_order: list[str] = []

    def handlers(self) -> dict:
        return {"UL": self._ul, "EX": self._ex, "GD": self._gd, "GN": self._gn,
                "GP": self._gp, "GR": self._gr, "AB": self._ab}

    def _usrlib(self) -> None:
        if self.st.sm.page != "UL":
            raise KXCIError(-992, "not in user-library mode (send UL first) [M 4-13]")

    def _ul(self, rest: str) -> None:
        if rest:
            raise KXCIError(-993, rest)
        self.st.sm.page = "UL"

    def _module(self, library: str, module: str):
        if library != "SystemUtil" or module not in SYSTEM_UTIL:
            raise KXCIError(-993, f"EX ERROR: no user module {library} {module}")
        return SYSTEM_UTIL[module]

    def _ex(self, rest: str) -> str:
        """``EX Library Module(p1,p2,...)`` [M 4-7, 4-8]."""
        self._usrlib()
        m = re.fullmatch(r"(\w+)\s+(\w+)\s*\((.*)\)", rest.strip(), flags=re.S)
        if not m:
            raise KXCIError(-993, f"EX {rest!r}: expected 'EX Library Module(params)'")
        library, module, params = m.group(1), m.group(2), m.group(3)
        names = self._module(library, module)
        values = [p.strip() for p in params.split(",")] if params.strip() else []
        if len(values) != len(names):
            raise KXCIError(-993, "EX ERROR: invalid number of UTM parameters:number of "
                            f"parameters in a call {len(values)} number of parameters "
                            f"required: {len(names)}")
        maxlen = int(values[1]) if values[1] else 0
        result = {"instrumentinfo": self._kult_instrumentinfo,
                  "remotemoduleinfo": self._kult_remotemoduleinfo,
                  "systeminfo": self._kult_systeminfo}[module]()
        if maxlen < len(result) + 1:
            raise KXCIError(-993, f"EX ERROR: maxlen {maxlen} < {len(result) + 1} bytes")
        self._kult_last = {"result": result, "maxlen": str(maxlen), "len": str(len(result))}
        self._kult_order = list(names)
        return "RETURN VALUE = 0"

    def _kult_param(self, name: str) -> str:
        last = self._kult_last
        if last is None:
            raise KXCIError(-993, "no user module has run")
        if name not in last:
            raise KXCIError(-993, f"no parameter {name!r}")
        return f"PARAM VALUE = {last[name]}"

    def _gn(self, rest: str) -> str:
        """``GN ParameterName [NumValues]`` [M 4-10]."""
        self._usrlib()
        parts = rest.split()
        if not 1 <= len(parts) <= 2:
            raise KXCIError(-993, rest)
        return self._kult_param(parts[0])

    def _gp(self, rest: str) -> str:
        """``GP ParameterPosition [NumValues]`` [M 4-11]."""
        self._usrlib()
        parts = rest.split()
        if not 1 <= len(parts) <= 2 or not parts[0].isdigit():
            raise KXCIError(-993, rest)
        order = self._kult_order
        k = int(parts[0])
        if not 1 <= k <= len(order):
            raise KXCIError(-993, f"no parameter {k}")
        return self._kult_param(order[k - 1])

    def _gd(self, rest: str) -> None:
        """``GD Library Module``: the description goes to the KXCI console [M 4-9]."""
        self._usrlib()
        parts = rest.split()
        if len(parts) != 2:
            raise KXCIError(-993, rest)
        self._module(*parts)

    def _gr(self, rest: str) -> None:
        """``GR``: the return value goes to the console; the bus reply is ACK [M 4-12]."""
        self._usrlib()

    def _ab(self, rest: str) -> None:
        """``AB`` [M 4-7]: modules run to completion inside ``EX`` here, so there is
        never one to abort."""
        self._usrlib()

    # ------------------------------------------------------------------ SystemUtil
    def _slots(self):
        for slot, entry in enumerate(self.st.options, start=1):
            m = re.fullmatch(r"([A-Z]+?)(\d)(?:RPM.*)?", entry)
            if m:
                yield slot, entry, m.group(1), m.group(2)

    def _kult_instrumentinfo(self) -> str:
        """One line per card [M 4-14]."""
        out = []
        for slot, _entry, kind, n in self._slots():
            base = "PMU" if kind.startswith("PMU") else kind
            name = f"{'SMU' if 'SMU' in base else base}{n}"
            out.append(f"slotno:{slot},name:{name},model:{MODELS.get(base, 'KI4200')},"
                       f"serialno:SIM{slot:04d},hwver:1.0,fwver:1.00,{CAL}")
        return ",".join(out)

    def _kult_remotemoduleinfo(self) -> str:
        """Preamplifiers and RPMs [M 4-15]."""
        out = []
        pmu_slot = {}
        for slot, _entry, kind, n in self._slots():
            if kind.startswith("PMU"):
                pmu_slot[int(n)] = slot
            if kind.endswith("PA"):
                out.append(f"slotno:{slot},name:PA{n},model:KI4200,serialno:SIMPA{slot:02d},"
                           f"hwver:1.0,fwver:1.00,{CAL}")
        for ch in sorted(self.st.pulse):
            if self.st.pulse[ch].rpm:
                card, local = (ch + 1) // 2, (ch - 1) % 2 + 1
                out.append(f"slotno:{pmu_slot.get(card, 0)},name:RPM{card}-{local},"
                           "model:KIRPM4225,"
                           f"serialno:SIMRPM{ch},hwver:1.0,fwver:1.00,{CAL}")
        return ",".join(out)

    def _kult_systeminfo(self) -> str:
        """Serial number and software version [M 4-16]."""
        return f"serialno:SIM{self.st.seed:07d},version:{self.firmware}"
