"""``labapp info FILE [--json]``: list the runs in a run file, their status and metadata.

``--json`` prints ``{"file": ..., "runs": [...]}`` with each run as
:func:`analysis.run_json.describe_run` describes it (the keys of the CSV export's sidecar).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.provenance import label
from analysis.run_json import describe_run, dumps
from analysis.runfile import list_runs, read_run, repair_file
from analysis.runlock import describe_holder, live_writer
from analysis.validate import errors, validate_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="list runs, status and metadata of a run file",
                       description="List the runs in a run file. A run being written now "
                       "shows as 'running' with its writer; a run whose writer died shows as "
                       "'incomplete', and --repair closes such runs so analysis can use the "
                       "data they hold (it refuses a file a live writer holds). A run whose "
                       "structures are damaged shows as 'damaged'; the others still list.")
    p.add_argument("file", type=Path, help="run file (.h5)")
    p.add_argument("--json", action="store_true",
                   help="machine-readable: every run with parameters (and units), outcome, "
                   "simulated, seed, instrument and streams with row counts")
    p.add_argument("--repair", action="store_true",
                   help="mark runs cut off by a crash as closed with status 'incomplete'")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.repair:
        repaired, note = repair_file(args.file)
        if note:
            print(note)
        for rid in repaired:
            print(f"repaired run {rid}: marked incomplete")
        if not repaired:
            print("nothing to repair")
    runs = list_runs(args.file)
    problems = validate_file(args.file)  # the checks of 'labapp validate'
    if args.json:
        described = [describe_run(read_run(args.file, r.run_id, data=False), r.rows)
                     for r in runs]
        print(dumps({"file": str(args.file), "runs": described,
                     "problems": [p.as_dict() for p in problems]}))
        return 0
    holder = live_writer(args.file)
    print(f"{args.file}: {len(runs)} run(s)")
    if holder:
        print(f"  being written now by {describe_holder(holder)}")
    for r in runs:
        rows = ", ".join(f"{k}={v}" for k, v in r.rows.items())
        print(f"  {r.run_id}  {r.protocol:<13} {r.effective_status:<10} {r.start_utc} "
              f"-> {r.end_utc or '?'}  rows: {rows}")
        print("    " + (label(r) or ("measured" if "simulated" in r.attrs
                                    else "measured or simulated: not recorded")))
        meta = {k: r.attrs.get(k) for k in ("device_id", "sample", "operator") if r.attrs.get(k)}
        if meta:
            print("    " + ", ".join(f"{k}={v}" for k, v in meta.items()))
        if r.damage:
            print(f"    damaged: {r.damage}")
        if r.attrs.get("reason"):
            print(f"    reason: {r.attrs['reason']}")
        if r.attrs.get("outcome"):
            print(f"    outcome: {outcome_text(r.attrs['outcome'])}")
        if r.attrs.get("safe_state_problems"):
            print(f"    WARNING safe state not confirmed: {r.attrs['safe_state_problems']}")
        for p in problems:
            if p.where.startswith(f"/runs/{r.run_id}") and p.code != "incomplete":
                print(f"    PROBLEM {p}")
    others = [p for p in problems if not p.where.startswith("/runs/")]
    for p in others:
        print(f"  PROBLEM {p}")
    if errors(problems):
        print("the file does not match the schema; 'labapp validate' lists every problem")
    if any(not r.complete and r.effective_status == "incomplete" for r in runs) \
            and not args.repair:
        print("incomplete runs were cut off (writer stopped); 'labapp info --repair' closes "
              "them so analysis reads the data they hold")
    return 0


def outcome_text(outcome) -> str:
    """``converged: yes, pulses: 23, final_g0: 5.49`` rather than a Python dict."""
    if not isinstance(outcome, dict):
        return str(outcome)

    def fmt(v) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)
    return ", ".join(f"{k}: {fmt(v)}" for k, v in outcome.items())
