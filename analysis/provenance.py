"""Was a run measured or simulated? One short label for every human-facing output.

The answer itself comes from :func:`labcore.run_json.provenance` (run metadata first,
then the instrument snapshot and the simulator's ``SIM<seed>`` serial), so ``info``,
``info --json``, the CSV sidecar, figure titles and batch tables cannot disagree.
"""

from __future__ import annotations

from typing import Any

from labcore.run_json import provenance


def _prov(run: Any) -> tuple[bool | None, Any]:
    return provenance(getattr(run, "attrs", {}) or {}, getattr(run, "instrument", {}) or {})


def is_simulated(run: Any) -> bool | None:
    """True/False when the run says, None when it does not (e.g. a foreign CSV)."""
    return _prov(run)[0]


def sim_seed(run: Any) -> int | None:
    """The simulator seed of the run, if known."""
    seed = _prov(run)[1]
    try:
        return None if seed is None else int(seed)
    except (TypeError, ValueError):
        return None


def label(run: Any) -> str:
    """``"SIMULATED (seed 42)"``, ``"SIMULATED"`` or ``""`` for measured/unknown runs."""
    if not is_simulated(run):
        return ""
    seed = sim_seed(run)
    return "SIMULATED" + (f" (seed {seed})" if seed is not None else "")
