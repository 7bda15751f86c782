"""``labapp rerun FILE [--run ID] -o NEW.h5``: run a stored run again.

The protocol, every parameter value, the safety profile and the preset name come from
the run file; the instrument is the one given (``--sim``, ``--resource``, or the default
choice). ``--sim`` rebuilds the simulator the run was made on: its stored seed (unless
``--seed`` is given), cards, series resistance and noise, so a run that started on a
fresh simulator re-runs to identical data. The new run records ``rerun_of``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from labapp.commands.run import (
    add_connection_args,
    check_connection_args,
    instrument_choice,
    run_file_path,
)
from labapp.instrument_choice import connect
from labcore.run_json import provenance
from labcore.runfile import RunFileError, read_run
from protocols import RunEngine, SafetyProfile, get_protocol


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rerun", help="run a stored run again (same protocol, parameters, safety, preset)",
        description=__doc__.split("\n\n", 1)[1].replace("``", "'"))
    p.add_argument("file", type=Path, help="run file holding the run")
    p.add_argument("--run", default=None, metavar="ID", help="run id (default: the last run)")
    p.add_argument("-o", "--output", type=run_file_path, required=True, metavar="NEW.h5",
                   help="run file to write the new run to")
    add_connection_args(p)
    p.add_argument("--quiet", action="store_true", help="no start line")
    p.set_defaults(func=main)


def stored_run(path: Path, run_id: str | None) -> dict[str, Any]:
    """What a re-run needs from the file: protocol object, safety, metadata, simulator."""
    run = read_run(path, run_id, data=False)
    try:
        cls = get_protocol(run.protocol)
    except (KeyError, ValueError) as exc:
        raise RunFileError(f"{path}: run {run.run_id} is a {run.protocol!r} run, which "
                           "labapp cannot run") from exc
    # every stored value that is not the parameter's default (a default such as an
    # empty compliance ladder is "unset" and is not a value one may give)
    defaults = {p.name: json.dumps(p.default, default=list) for p in cls.params}
    values = {k: v["value"] for k, v in run.parameters.items()
              if k in defaults and isinstance(v, dict)
              and json.dumps(v["value"], default=list) != defaults[k]}
    protocol = cls(**values)
    s = run.safety
    safety = SafetyProfile(s.get("max_voltage_V", SafetyProfile.max_voltage),
                           s.get("max_compliance_A", SafetyProfile.max_compliance))
    simulated, seed = provenance(run.attrs, run.instrument)
    meta = {k: run.attrs.get(k, "") for k in ("device_id", "sample", "operator", "notes",
                                              "preset")}
    meta["rerun_of"] = {"file": str(path.resolve()), "run_id": run.run_id}
    sim = run.instrument.get("simulator")
    return {"run": run, "protocol": protocol, "safety": safety, "metadata": meta,
            "simulated": simulated, "seed": seed, "simulator": sim if isinstance(sim, dict)
            else None}


def main(args: argparse.Namespace) -> int:
    check_connection_args(args)
    stored = stored_run(args.file, args.run)
    protocol, safety = stored["protocol"], stored["safety"]
    protocol.check_safety(safety)  # before the instrument is touched
    if args.sim and args.seed is None and stored["seed"] is not None:
        args.seed = int(stored["seed"])  # the stored seed: the same simulated device
    choice = instrument_choice(args, "labapp rerun")
    if choice.sim:
        sim = stored["simulator"] or {}
        state = (sim.get("device") or {}).get("state") or {}
        if state.get("time") or state.get("n"):
            print("labapp rerun: the stored run did not start on a fresh simulator (device "
                  "already used); the new data will differ", file=sys.stderr)
        instrument = connect(sim=True, seed=choice.seed, speed=args.sim_speed, simulator=sim)
    else:
        instrument = connect(choice.resource)
    engine = RunEngine(instrument, safety, stored["metadata"])
    if not args.quiet:
        print(f"labapp rerun: {protocol.name} run {stored['run'].run_id} of {args.file} on "
              f"{choice.describe()} -> {args.output}", file=sys.stderr, flush=True)
    with engine.abort_on_signals():
        result = engine.run(protocol, args.output)
    tag = f" [SIMULATED, seed {choice.seed}]" if choice.sim else ""
    print(f"{result.path} run {result.run_id} status {result.status}"
          + (f" ({result.reason})" if result.reason else "") + tag)
    for problem in result.safe_state_problems:
        print(f"labapp rerun: WARNING: safe state not confirmed: {problem}", file=sys.stderr)
    return 0 if result.ok else 1
