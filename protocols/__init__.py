"""Protocol layer: validated experiments, the run engine and the scripting API.

Example::

    from labapp.instrument_choice import connect
    from protocols import RunEngine, WriteVerify
    k4200 = connect(sim=True, seed=1)             # or connect("TCPIP::10.0.0.5::1225::SOCKET")
    result = RunEngine(k4200).run(WriteVerify(target_g0=5.5), "runs/wv.h5")
    print(result.run_id, result.status, result.outcome)

``protocols.connect`` still works, deprecated: choosing hardware or the simulator belongs
to the application (:func:`labapp.instrument_choice.connect`), not to this layer.
"""

import warnings
from typing import Any

from protocols.base import Protocol, Record, RunContext, SafetyProfile, Waveform
from protocols.dc_sweep import DCSweep
from protocols.endurance import Endurance
from protocols.engine import RunEngine
from protocols.events import (
    Consumer,
    EventKind,
    Pause,
    QueueEntry,
    RunResult,
    RunStarted,
)
from protocols.ltp_ltd import LTPLTD
from protocols.preset_library import Preset, build, get_preset, load_presets
from protocols.pulse_train import PulseTrain
from protocols.read_noise import ReadNoise
from protocols.registry import PROTOCOLS, get_protocol
from protocols.reset_train import ResetTrain
from protocols.retention import Retention
from protocols.run_queue import RunQueue
from protocols.write_verify import WriteVerify

__all__ = ["Consumer", "DCSweep", "Endurance", "EventKind", "LTPLTD", "PROTOCOLS", "Pause",
           "Preset", "Protocol", "PulseTrain", "QueueEntry", "ReadNoise", "Record",
           "ResetTrain", "Retention", "RunContext", "RunEngine", "RunQueue",
           "RunResult", "RunStarted", "SafetyProfile", "Waveform", "WriteVerify", "build",
           "get_preset", "get_protocol", "load_presets"]


def __getattr__(name: str) -> Any:
    """``protocols.connect``: the deprecated spelling of ``labapp.instrument_choice.connect``."""
    if name != "connect":
        raise AttributeError(f"module 'protocols' has no attribute {name!r}")
    warnings.warn("protocols.connect is deprecated: use labapp.instrument_choice.connect",
                  DeprecationWarning, stacklevel=2)
    # the one import of the application by this layer, for scripts written before the
    # move; deferred: it loads only when the deprecated spelling is used
    from labapp.instrument_choice import connect

    return connect
