"""``labapp info FILE [--json]``: list the runs in a run file, their status and metadata.

``--json`` prints ``{"file": ..., "runs": [...]}`` with each run as
:func:`labcore.run_json.describe_run` describes it (the keys of the CSV export's sidecar).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.provenance import label
from labcore.run_json import describe_run, dumps
from labcore.runfile import RunInfo, list_runs, read_run, repair_file
from labcore.runlock import describe_holder, live_writer
from labcore.validate import Problem, errors, validate_file


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
        repair(args.file)
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
        print_run(r, problems)
    for p in problems:
        if not p.where.startswith("/runs/"):
            print(f"  PROBLEM {p}")
    if errors(problems):
        print("the file does not match the schema; 'labapp validate' lists every problem")
    if any(not r.complete and r.effective_status == "incomplete" for r in runs) \
            and not args.repair:
        print("incomplete runs were cut off (writer stopped); 'labapp info --repair' closes "
              "them so analysis reads the data they hold")
    return 0


def repair(path: Path) -> None:
    """``--repair``: close the runs a crash cut off, saying which."""
    repaired, note = repair_file(path)
    if note:
        print(note)
    for rid in repaired:
        print(f"repaired run {rid}: marked incomplete")
    if not repaired:
        print("nothing to repair")


def print_run(r: RunInfo, problems: list[Problem]) -> None:
    """The lines of one run: id, status, times and rows, provenance, metadata, what ended it,
    and the schema problems found under it."""
    rows = ", ".join(f"{k}={v}" for k, v in r.rows.items())
    print(f"  {r.run_id}  {r.protocol:<13} {r.effective_status:<10} {r.start_utc} "
          f"-> {r.end_utc or '?'}  rows: {rows}")
    print("    " + (label(r) or ("measured" if "simulated" in r.attrs
                                else "measured or simulated: not recorded")))
    for line in attribute_lines(r):
        print(f"    {line}")
    for p in problems:
        if p.where.startswith(f"/runs/{r.run_id}") and p.code != "incomplete":
            print(f"    PROBLEM {p}")


def attribute_lines(r: RunInfo) -> list[str]:
    """Metadata, damage, what ended the run and a safe state not confirmed (those it has)."""
    attrs = r.attrs
    meta = {k: attrs.get(k) for k in ("device_id", "sample", "operator") if attrs.get(k)}
    lines = [", ".join(f"{k}={v}" for k, v in meta.items())] if meta else []
    if r.damage:
        lines.append(f"damaged: {r.damage}")
    if attrs.get("reason"):
        lines.append(f"reason: {attrs['reason']}")
    if attrs.get("outcome"):
        lines.append(f"outcome: {outcome_text(attrs['outcome'])}")
    if attrs.get("safe_state_problems"):
        lines.append(f"WARNING safe state not confirmed: {attrs['safe_state_problems']}")
    return lines


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
