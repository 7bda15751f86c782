"""SMU channels in user mode (``US``): direct source and spot measurements [M 5-32…5-35].

Compliance is always part of the source command (``DV``/``DI`` carry it), so an output is
never on without a limit. Readings keep their status letter (:class:`Reading`).
"""

from __future__ import annotations

from pymeasure.instruments import Channel

from drivers.cards import DI_RANGES, DV_RANGES, SMU_V_MAX, SMUCard
from drivers.readings import Reading, parse_reading
from drivers.validation import ParameterError, check_range, fmt_number


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
        return self.parent.query_parsed(f"TI{self.id}", parse_reading)

    def measure_voltage(self) -> Reading:
        """``TVn`` -> voltage with its status letter [M 5-35, 3-2]."""
        self.parent.user_mode()
        return self.parent.query_parsed(f"TV{self.id}", parse_reading)

    def lowest_current_range(self, amps: float) -> None:
        """``RG ch, amps``: lowest autorange current range (modeless) [M 5-42]."""
        lo = 1e-12 if self.card.preamp else 100e-9
        check_range("amps", amps, lo, self.card.i_max * 1.0 / 1.05 if self.card.high_power
                    else 100e-3, "A")
        self.parent.command(f"RG {self.id}, {fmt_number(amps)}")
