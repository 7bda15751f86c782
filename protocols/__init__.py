"""Protocol layer: validated experiments, the run engine and the scripting API.

Example::

    from protocols import DCSweep, RunEngine, connect
    k4200 = connect(sim=True, seed=1)
    result = RunEngine(k4200).run(DCSweep(v_set=3, compliance_set=5e-3), "runs/x.h5")
"""

from protocols.base import Protocol, Record, RunContext, SafetyProfile
from protocols.connection import connect
from protocols.dc_sweep import DCSweep
from protocols.engine import RunEngine, RunResult
from protocols.registry import PROTOCOLS, get_protocol

__all__ = ["DCSweep", "PROTOCOLS", "Protocol", "Record", "RunContext", "RunEngine",
           "RunResult", "SafetyProfile", "connect", "get_protocol"]
