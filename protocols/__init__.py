"""Protocol layer: validated experiments, the run engine and the scripting API.

Example::

    from protocols import RunEngine, WriteVerify, connect
    k4200 = connect(sim=True, seed=1)             # or connect("TCPIP::10.0.0.5::1225::SOCKET")
    result = RunEngine(k4200).run(WriteVerify(target_g0=5.5), "runs/wv.h5")
    print(result.run_id, result.status, result.outcome)
"""

from protocols.base import Protocol, Record, RunContext, SafetyProfile, Waveform
from protocols.connection import connect
from protocols.dc_sweep import DCSweep
from protocols.endurance import Endurance
from protocols.engine import RunEngine, RunQueue, RunResult
from protocols.ltp_ltd import LTPLTD
from protocols.preset_library import Preset, build, get_preset, load_presets
from protocols.pulse_train import PulseTrain
from protocols.read_noise import ReadNoise
from protocols.registry import PROTOCOLS, get_protocol
from protocols.reset_train import ResetTrain
from protocols.retention import Retention
from protocols.write_verify import WriteVerify

__all__ = ["DCSweep", "Endurance", "LTPLTD", "PROTOCOLS", "Preset", "Protocol", "PulseTrain",
           "ReadNoise", "Record", "ResetTrain", "Retention", "RunContext", "RunEngine",
           "RunQueue", "RunResult", "SafetyProfile", "Waveform", "WriteVerify", "build",
           "connect", "get_preset", "get_protocol", "load_presets"]
