"""Common ground of the write-pulse protocols: shared parameters and the pulse-then-read step.

Pulse train, potentiation/depression, write-verify and endurance all apply an SMU write
pulse, then read at a low voltage, and record both (``pulses`` and ``samples`` streams,
see :mod:`protocols.pulsing`). Declaring the shared parameters once keeps their names,
units and limits identical across protocols, which scripts and the GUI rely on.
"""

from __future__ import annotations

from collections.abc import Generator

from drivers.keithley4200 import SMU_I_MAX, SMU_V_MAX
from drivers.validation import ParameterError
from protocols import pulsing
from protocols.base import Protocol, Record, RunContext
from protocols.parameters import Param


def width_param(default: float = 5e-3, name: str = "width",
                doc: str = "write pulse width") -> Param:
    return Param(name, default, "s", 0.0, 6.5, doc, lo_open=True)


def read_width_param(default: float = 0.02) -> Param:
    return Param("read_width", default, "s", 0.0, 6.5, "duration of each read", lo_open=True)


def period_param(default: float = 0.05) -> Param:
    return Param("period", default, "s", 0.0, 3600.0,
                 "pulse start to next pulse start (includes the read)", lo_open=True)


def v_read_param(default: float = 0.1, doc: str = "read voltage") -> Param:
    return Param("v_read", default, "V", -SMU_V_MAX, SMU_V_MAX, doc, safety="voltage")


def compliance_param(name: str = "compliance", default: float = 5e-3,
                     doc: str = "current compliance of the write pulses (SMU, true "
                     "compliance)") -> Param:
    return Param(name, default, "A", 0.0, SMU_I_MAX, doc, lo_open=True, safety="current")


def amplitude_param(name: str = "amplitude", default: float = 1.5,
                    doc: str = "pulse amplitude (magnitude; the sign follows the polarity)"
                    ) -> Param:
    return Param(name, default, "V", 0.0, SMU_V_MAX, doc, lo_open=True, safety="voltage")


SMU_PARAM = Param("smu", 1, "", 1, 8, "SMU wired to the top electrode", kind="int")
READ_COMPLIANCE_PARAM = compliance_param("read_compliance", 1e-3,
                                         "current compliance of the reads")
#: compliance of SET and RESET write pulses (endurance, write-verify)
SET_RESET_COMPLIANCE = (
    compliance_param("compliance_set", 5e-3, "SET pulse compliance"),
    compliance_param("compliance_reset", 0.02, "RESET pulse compliance"),
)


class PulseProtocol(Protocol):
    """Base of the write/read pulse protocols (see module docstring)."""

    streams = pulsing.PULSE_STREAMS

    def check_timing(self) -> None:
        """Width and read width fit the SMU; the period holds a pulse and its read."""
        v = self.values
        pulsing.check_point_time("width", v["width"])
        pulsing.check_point_time("read_width", v["read_width"])
        if "period" in v and v["period"] < v["width"] + v["read_width"] - 1e-12:
            raise ParameterError("period", v["period"],
                                 f">= width + read_width = {v['width'] + v['read_width']:g} s")

    def check(self) -> None:
        self.check_timing()

    def instrument_settings(self) -> dict:
        v = self.values
        return {"smu": v["smu"], "pulse_source": "SMU list sweep (true compliance)",
                "read_integration": pulsing.integration_for(v["read_width"])}

    def write_read(self, ctx: RunContext, index: int, cycle: int, phase: int,
                   amplitude: float, v_read: float, compliance: float,
                   ) -> Generator[Record, None, float]:
        """Pulse, read, wait out the period; yields both rows, returns the read G in G0."""
        v = self.values
        shot = pulsing.pulse(ctx, v["smu"], amplitude, v["width"], compliance)
        yield pulsing.pulse_record(shot, index, cycle, phase, v["width"], compliance)
        rd = pulsing.read(ctx, v["smu"], v_read, v["read_width"], v["read_compliance"])
        yield pulsing.read_record(rd, index, cycle, phase)
        pulsing.wait_rest(ctx, v.get("period", 0.0), v["width"] + v["read_width"])
        return float(rd.conductance_g0[-1]) if rd.current.size else float("nan")

    def initial_read(self, ctx: RunContext, v_read: float, cycle: int = 0
                     ) -> Generator[Record, None, float]:
        """A read before the first pulse (``pulse_index`` 0, ``phase`` 0)."""
        v = self.values
        rd = pulsing.read(ctx, v["smu"], v_read, v["read_width"], v["read_compliance"])
        yield pulsing.read_record(rd, 0, cycle, pulsing.NONE)
        return float(rd.conductance_g0[-1]) if rd.current.size else float("nan")
