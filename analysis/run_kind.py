"""What kind of run a run is, as analysis needs to know it: :class:`RunKind`.

Analysis chooses its results by kind (a sweep gets switching voltages, a retention run a
drift fit, a read-noise run RTN levels), never by comparing protocol names in each
analysis. A run file records the name of the protocol that wrote it; :data:`PROTOCOL_KINDS`
is the one table from those names to kinds (analysis does not import ``protocols``; a
test holds the table to the protocols that exist). A run without a protocol name (a CSV
from another tool) is classified from its columns by
:attr:`analysis.summary.RunAnalysis.kind`.
"""

from __future__ import annotations

from enum import Enum


class RunKind(Enum):
    """The kinds of run analysis tells apart."""

    #: I-V sweeps in segments and cycles: switching voltages, G vs V
    SWEEP = "sweep"
    #: a train of pulses, a read after each: per-pulse levels
    PULSES = "pulses"
    #: potentiation then depression pulses: the nonlinearity fit
    LTP_LTD = "ltp-ltd"
    #: pulses until a read lands within a tolerance of a target
    WRITE_VERIFY = "write-verify"
    #: SET/RESET cycles with a read of each state: LRS/HRS per cycle
    ENDURANCE = "endurance"
    #: reads in time after programming: the drift fit (a time trace, not pulses)
    RETENTION = "retention"
    #: reads in time of one state: random telegraph noise (a time trace, not pulses)
    READ_NOISE = "read-noise"
    #: anything else (a protocol analysis does not know, or columns that say nothing)
    OTHER = "other"


#: the protocol names run files record -> the kind of run each protocol writes
PROTOCOL_KINDS: dict[str, RunKind] = {
    "dc-sweep": RunKind.SWEEP,
    "pulse-train": RunKind.PULSES,
    "reset-train": RunKind.PULSES,
    "ltp-ltd": RunKind.LTP_LTD,
    "write-verify": RunKind.WRITE_VERIFY,
    "endurance": RunKind.ENDURANCE,
    "retention": RunKind.RETENTION,
    "read-noise": RunKind.READ_NOISE,
}

#: kinds whose rows are reads in time (their ``pulse_index`` counts reads, not pulses)
TIME_TRACE_KINDS = frozenset({RunKind.RETENTION, RunKind.READ_NOISE})


def kind_of_protocol(protocol: str) -> RunKind | None:
    """The kind of run a named protocol writes; None for "" (no name recorded) and
    :attr:`RunKind.OTHER` for a name analysis does not know."""
    if not protocol:
        return None
    return PROTOCOL_KINDS.get(protocol, RunKind.OTHER)
