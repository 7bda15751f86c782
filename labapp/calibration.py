"""Run the paper-000 calibration table on the simulated 4200A and write its report.

The table (rows, presets, metrics, bands, pass rule) is ``labapp/calibration_table.json``
read by :mod:`labapp.calibration_table`. For every device seed, each recipe a requested row
needs runs once: its protocol runs (``protocols.build`` from the named presets) go
through the run engine, the driver and the in-process simulated 4200A whose device is
drawn from the seed, into an HDF5 run file; the metrics read the run files back. Seeds
run in a small process pool (the work is numpy in one interpreter per seed).

:func:`run_calibration` writes ``calibration.md`` (per row: paper value and reference,
band, median, interquartile range, fraction of seeds in band, verdict), ``calibration.csv``
and one figure per row. ``labapp sim calibrate -o DIR`` calls it.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from analysis.inputs import load_run
from labapp.calibration_table import METRICS, Measured, RowResult, Table, load_table
from labapp.instrument_choice import connect
from labcore.csv_io import write_csv
from protocols import RunEngine, build

__all__ = ["measure_seed", "run_table", "run_calibration", "write_report"]

DEFAULT_DEVICES = 8


def _run_recipe(specs, seed: int, path: Path) -> list:
    """Run one recipe (protocol runs in order) on a fresh simulated device of ``seed``."""
    k4200 = connect(sim=True, seed=seed)
    runs = []
    try:
        engine = RunEngine(k4200, metadata={"device_id": f"sim-seed-{seed}",
                                            "sample": "simulated"})
        for protocol, preset, overrides in specs:
            result = engine.run(build(protocol, preset or None, overrides), path)
            if result.status != "completed":
                raise RuntimeError(f"{protocol} ({preset or 'custom'}) on seed {seed}: "
                                   f"run {result.status}: {result.reason}")
            runs.append(load_run(path, result.run_id))
    finally:
        k4200.adapter.close()
    return runs


def measure_seed(seed: int, row_ids: Sequence[str], workdir: str | Path,
                 table: Table | None = None) -> dict[str, Measured]:
    """Every requested row's metric on the device of ``seed`` (each recipe run once)."""
    table = table or load_table()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows = [table.row(r) for r in row_ids]
    cache: dict[str, list] = {}
    out = {}
    for row in rows:
        for key in row.recipes:
            if key not in cache:
                cache[key] = _run_recipe(table.recipes[key], seed,
                                         workdir / f"seed{seed:03d}-{key}.h5")
        out[row.id] = METRICS[row.metric]([cache[k] for k in row.recipes])
    return out


def _measure_job(args: tuple[int, tuple[str, ...], str]) -> tuple[int, dict[str, Measured]]:
    seed, row_ids, workdir = args
    return seed, measure_seed(seed, row_ids, workdir)


def run_table(seeds: Sequence[int], row_ids: Sequence[str] | None = None,
              workdir: str | Path | None = None, jobs: int | None = None,
              table: Table | None = None) -> list[RowResult]:
    """The rows over the seed ensemble (``jobs`` worker processes; 1 = in this process)."""
    table = table or load_table()
    ids = tuple(row_ids) if row_ids else tuple(r.id for r in table.rows)
    for r in ids:
        table.row(r)  # KeyError with the list of rows for a wrong id
    if not seeds:
        raise ValueError("devices: give at least one device seed")
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="calib-"))
    jobs = min(len(seeds), jobs or min(2, os.cpu_count() or 1))
    work = [(int(s), ids, str(workdir)) for s in seeds]
    if jobs > 1:
        import multiprocessing

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
            done = dict(ex.map(_measure_job, work))
    else:
        done = dict(map(_measure_job, work))
    results = []
    for rid in ids:
        vals = np.array([done[int(s)][rid].value for s in seeds], dtype=float)
        results.append(RowResult(table.row(rid), tuple(int(s) for s in seeds), vals,
                                 done[int(seeds[0])][rid]))
    return results


# --------------------------------------------------------------------------- report
def _fmt(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.3g}"


def _cell(text: str) -> str:
    """Text for a Markdown table cell (a literal | would split the cell)."""
    return text.replace("|", "\\|")


def _recipe_text(table: Table, key: str) -> str:
    parts = []
    for protocol, preset, overrides in table.recipes[key]:
        ov = ", ".join(f"{k}={v}" for k, v in overrides.items())
        name = f"`{preset}`" if preset else f"{protocol}"
        parts.append(f"{name} ({ov})" if ov else name)
    return " then ".join(parts)


def _figure(res: RowResult, table: Table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    row = res.row
    fig, (ax, ens) = plt.subplots(1, 2, figsize=(10.0, 4.2),
                                  gridspec_kw={"width_ratios": (2.2, 1.0)})
    ex = res.example
    if ex is not None and ex.x.size:
        style = "-" if ex.x.size > 200 else "o-"
        ax.plot(ex.x, ex.y, style, ms=3, lw=0.8)
        ax.set(xlabel=ex.xlabel, ylabel=ex.ylabel)
        if ex.xlabel.startswith("t ("):
            ax.set_xscale("log")
    ax.set_title(f"example: seed {res.seeds[0]}", fontsize=9)
    vals = res.values
    x = np.zeros(vals.size) + np.linspace(-0.15, 0.15, vals.size)
    colors = ["tab:green" if row.in_band(v) else "tab:red" for v in vals]
    ens.scatter(x, np.where(np.isfinite(vals), vals, np.nan), c=colors, s=22, zorder=3)
    finite = vals[np.isfinite(vals)]
    span = np.concatenate([finite, [row.lo, row.hi]])
    span = span[np.isfinite(span)]
    lo = float(span.min()) if span.size else 0.0
    hi = float(span.max()) if span.size else 1.0
    pad = 0.15 * (hi - lo or 1.0)
    ens.axhspan(row.lo if np.isfinite(row.lo) else lo - pad,
                row.hi if np.isfinite(row.hi) else hi + pad, color="tab:green", alpha=0.15,
                label="band")
    if np.isfinite(res.median):
        ens.axhline(res.median, color="k", lw=1.2, label=f"median {_fmt(res.median)}")
    ens.set(xlim=(-0.5, 0.5), ylim=(lo - pad, hi + pad), xticks=[],
            ylabel=f"{row.metric} ({row.unit})" if row.unit else row.metric)
    ens.legend(fontsize=7, loc="best")
    verdict = "PASS" if res.passed(table.rule) else "FAIL"
    ens.set_title(f"{len(vals)} devices, {100 * res.fraction_in_band:.0f} % in band: {verdict}",
                  fontsize=9)
    fig.suptitle(textwrap.fill(f"{row.id}: paper 000 {row.paper}: {row.paper_value}; "
                               f"band {row.band}", 120), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(results: Sequence[RowResult], outdir: str | Path,
                 table: Table | None = None, figures: bool = True) -> Path:
    """``calibration.md``, ``calibration.csv`` and one figure per row in ``outdir``."""
    table = table or load_table()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    header = ("row", "paper", "paper_value", "metric", "unit", "band_lo", "band_hi",
              "median", "q1", "q3", "fraction_in_band", "seeds", "passed", "values")
    rows = [(r.row.id, r.row.paper, r.row.paper_value, r.row.metric, r.row.unit,
             r.row.lo, r.row.hi, f"{r.median:.6g}", f"{r.iqr[0]:.6g}", f"{r.iqr[1]:.6g}",
             f"{r.fraction_in_band:.3f}", len(r.seeds), r.passed(table.rule),
             " ".join(f"{v:.6g}" for v in r.values)) for r in results]
    write_csv(outdir / "calibration.csv", {  # the project's one CSV writer, as text
        name: np.array([row[k] for row in rows], dtype=object)
        for k, name in enumerate(header)})
    n_pass = sum(r.passed(table.rule) for r in results)
    seeds = results[0].seeds if results else ()
    lines = [
        "# Simulated QC device against paper 000: calibration table",
        "",
        f"Table `{table.name}` version {table.version} (`labapp/calibration_table.json`). "
        "Every row ran its presets as protocols through the driver and the simulated 4200A on "
        f"{len(seeds)} devices (seeds {', '.join(map(str, seeds))}). Pass rule: the median over "
        f">= {table.rule.min_seeds} seeds in the band and >= "
        f"{100 * table.rule.min_fraction:.0f} % of the seeds in the band.",
        "",
        f"**{n_pass} of {len(results)} rows pass.**",
        "",
        "| row | paper 000 | paper value | presets | band | median | IQR | in band | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        q1, q3 = r.iqr
        presets = "; ".join(_recipe_text(table, k) for k in r.row.recipes)
        lines.append(
            f"| {r.row.id} | {r.row.paper} | {_cell(r.row.paper_value)} | {presets} | "
            f"{_cell(r.row.band)} | "
            f"{_fmt(r.median)} | {_fmt(q1)} - {_fmt(q3)} | {100 * r.fraction_in_band:.0f} % | "
            f"{'pass' if r.passed(table.rule) else '**FAIL**'} |")
    lines += ["", "Per-seed values are in `calibration.csv`; the metrics are the functions of "
              "`labapp/calibration_table.py` named in the table.", ""]
    if figures:
        lines += ["## Figures", ""]
        for r in results:
            name = f"{r.row.id}.png"
            _figure(r, table, outdir / name)
            lines += [f"### {r.row.id}", "", f"Paper 000 {r.row.paper}: {r.row.paper_value}. "
                      f"Band: {r.row.band}.", "", f"![{r.row.id}]({name})", ""]
    path = outdir / "calibration.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_calibration(outdir: str | Path, seed: int = 0, devices: int = DEFAULT_DEVICES,
                    rows: Sequence[str] | None = None, jobs: int | None = None) -> Path:
    """Run the table (or ``rows``) on seeds ``seed .. seed + devices - 1``; write the report.

    Run files go to ``outdir/runs``. Returns the path of ``calibration.md``.
    """
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices!r}")
    outdir = Path(outdir)
    table = load_table()
    results = run_table(range(seed, seed + devices), rows, outdir / "runs", jobs, table)
    return write_report(results, outdir, table)


def main(argv: list[str] | None = None) -> int:
    """``python -m labapp.calibration -o DIR``: the report without the ``labapp`` CLI."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m labapp.calibration",
                                description="Run paper 000's calibration table on the "
                                "simulated 4200A; write the report.")
    p.add_argument("-o", "--outdir", type=Path, required=True, help="report directory")
    p.add_argument("--seed", type=int, default=0, help="first device seed (default 0)")
    p.add_argument("--devices", type=int, default=DEFAULT_DEVICES,
                   help=f"ensemble size (default {DEFAULT_DEVICES})")
    p.add_argument("--row", action="append", help="run only this row (repeatable)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default 2)")
    args = p.parse_args(argv)
    try:
        path = run_calibration(args.outdir, args.seed, args.devices, args.row, args.jobs)
    except (ValueError, KeyError) as exc:
        p.error(str(exc).strip("'\""))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
