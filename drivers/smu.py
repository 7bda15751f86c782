"""SMU channels in user mode (``US``): direct source and spot measurements [M 5-32…5-35].

Compliance is always part of the source command (``DV``/``DI`` carry it), so an output is
never on without a limit. Readings keep their status letter (:class:`Reading`).

Channel codes [M 5-34, 5-35]: ``TIn`` measures the current of SMU n (1..9); ``TV`` has its
own numbering: 1-4 = SMU1-4, 5-6 = VM1-2, 7-10 = SMU5-8, 11-16 = VM3-8 (SMU9 has no ``TV``
code). The reply's channel letter is the code's letter, A = 1 ... P = 16 [M 3-2]; the
driver checks it, so a reply meant for another channel is never taken for this one.
"""

from __future__ import annotations

from pymeasure.instruments import Channel
from pymeasure.instruments.validators import strict_range

from drivers.cards import DI_RANGES, DV_RANGES, SMU_V_MAX, SMUCard
from drivers.readings import CommunicationError, Reading, parse_reading
from drivers.validation import ParameterError, check_range, fmt_number

#: ``TV`` channel code of SMU n [M 5-35]
TV_CODE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 7, 6: 8, 7: 9, 8: 10}


def reading_letter(code: int) -> str:
    """Channel letter of a user-mode reply for ``TV``/``TI`` code n: A + n - 1 [M 3-2]."""
    return chr(ord("A") + code - 1)


class SMU(Channel):
    """One SMU, addressed by its number (``SMU1`` -> 1); ``card`` holds its limits."""

    def __init__(self, parent, id, card: SMUCard | None = None) -> None:
        super().__init__(parent, id)
        self.card = card if card is not None else SMUCard(int(id))

    # ------------------------------------------------------------------ checks
    def check_compliance(self, amps: float, name: str = "compliance") -> float:
        """Current compliance within this card's limits (min raised silently by KXCI, so
        the driver rejects a too-small value instead [M 5-16, 5-33])."""
        return check_range(name, abs(amps), self.card.min_compliance, self.card.i_max, "A")

    def _check_code(self, name: str, code: int, allowed: set[int]) -> int:
        if isinstance(code, bool) or code not in allowed:
            raise ParameterError(name, code, f"one of {sorted(allowed)} on {self.card}")
        return int(code)

    # ------------------------------------------------------------------ sourcing
    def source_voltage(self, volts: float, compliance: float, range_code: int = 0) -> None:
        """``DVn, range, volts, Icomp`` in user mode [M 5-33]."""
        check_range("voltage", volts, -SMU_V_MAX, SMU_V_MAX, "V")
        comp = self.check_compliance(compliance)
        self._check_code("range_code", range_code, self.card.v_range_codes)
        span = DV_RANGES[range_code]
        if span is not None and abs(volts) > 1.05 * span:
            raise ParameterError("voltage", volts, f"[-{1.05 * span:g}, {1.05 * span:g}] V on "
                                 f"range code {range_code} (105 % of {span:g} V)")
        self.parent.user_mode()
        self.parent.command(f"DV{self.id}, {range_code}, {fmt_number(volts)}, "
                            f"{fmt_number(comp)}")

    def source_current(self, amps: float, voltage_compliance: float,
                       range_code: int = 0) -> None:
        """``DIn, range, amps, Vcomp`` in user mode [M 5-32]."""
        check_range("current", amps, -self.card.i_max, self.card.i_max, "A")
        vcomp = check_range("voltage_compliance", abs(voltage_compliance), 0.0, SMU_V_MAX, "V",
                            lo_open=True)
        self._check_code("range_code", range_code, self.card.i_range_codes)
        span = DI_RANGES[range_code]
        if span is not None and abs(amps) > span * 1.05:
            raise ParameterError("current", amps, f"[-{1.05 * span:g}, {1.05 * span:g}] A on "
                                 f"range code {range_code} (105 % of {span:g} A)")
        self.parent.user_mode()
        self.parent.command(f"DI{self.id}, {range_code}, {fmt_number(amps)}, "
                            f"{fmt_number(vcomp)}")

    def output_off(self) -> None:
        """``DVn`` with no arguments: output off [M 5-33]."""
        self.parent.user_mode()
        self.parent.command(f"DV{self.id}")

    # ------------------------------------------------------------------ measuring
    def measure_current(self) -> Reading:
        """``TIn`` -> current with its status letter [M 5-34, 3-2]."""
        self.parent.user_mode()
        return self._reading(f"TI{self.id}", reading_letter(int(self.id)) + "I")

    def measure_voltage(self) -> Reading:
        """``TVc`` with the manual's code c of this SMU -> voltage with its status letter
        [M 5-35, 3-2]."""
        code = TV_CODE.get(int(self.id))
        if code is None:
            raise ParameterError("smu", self.id, "SMU1..SMU8 (the manual gives SMU9 no TV "
                                 "channel code)")
        self.parent.user_mode()
        return self._reading(f"TV{code}", reading_letter(code) + "V")

    def _reading(self, cmd: str, channel: str) -> Reading:
        reply = self.parent.query(cmd)
        if reply[1:3] != channel:
            raise CommunicationError(cmd, f"reply {reply[:20]!r} is not channel {channel}")
        try:
            return parse_reading(reply)
        except ValueError as exc:
            raise CommunicationError(cmd, f"unreadable reply {reply[:60]!r}") from exc

    #: ``RG n, amps``: lowest autorange current range [M 5-42]; a plain setting whose
    #: rejection (B1) is raised naming ``RG`` (``check_set_errors``)
    lowest_range = Channel.setting(
        "RG {ch}, %g", """Set the lowest autorange current range in A (float) [M 5-42].""",
        validator=strict_range, values=[1e-12, 1.0], check_set_errors=True)

    def lowest_current_range(self, amps: float) -> None:
        """``RG ch, amps``: lowest autorange current range (modeless) [M 5-42]."""
        lo = 1e-12 if self.card.preamp else 100e-9
        check_range("amps", amps, lo, self.card.i_max * 1.0 / 1.05 if self.card.high_power
                    else 100e-3, "A")
        self.parent.command(f"RG {self.id}, {fmt_number(amps)}")
