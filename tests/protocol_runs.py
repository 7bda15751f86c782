"""One short simulated run of every protocol (shared by the run-file format tests)."""

from __future__ import annotations

from pathlib import Path

from labapp.instrument_choice import connect
from protocols import (
    LTPLTD,
    DCSweep,
    Endurance,
    PulseTrain,
    ReadNoise,
    ResetTrain,
    Retention,
    RunEngine,
    WriteVerify,
)

#: protocol -> a short instance (the reset train captured by the PMU: waveforms)
SMALL = {
    "dc-sweep": lambda: DCSweep(step=0.1, cycles=2),
    "pulse-train": lambda: PulseTrain(count=3),
    "reset-train": lambda: ResetTrain(count=2, width=2e-6, period=1e-5),
    "ltp-ltd": lambda: LTPLTD(count=3),
    "retention": lambda: Retention(duration=100, interval=10),
    "write-verify": lambda: WriteVerify(target_g0=2.5),
    "endurance": lambda: Endurance(cycles=2),
    "read-noise": lambda: ReadNoise(duration=0.1),
}


def write_run(path: Path, protocol: str, seed: int = 5, **metadata) -> str:
    """Run ``protocol`` on a fresh simulator with ``seed`` into ``path``; returns the run id."""
    engine = RunEngine(connect(sim=True, seed=seed), metadata=metadata or None)
    result = engine.run(SMALL[protocol](), path)
    assert result.status == "completed", (protocol, result.reason)
    return result.run_id
