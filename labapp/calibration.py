"""Calibration of the simulated quantized-conductance device against paper 000.

Every row of the calibration table runs as a real protocol (``protocols``) through the
driver (``drivers.Keithley4200A``) and the simulated 4200A (``sim_backend.kxci``, in process)
with the device model behind SMU1, on an ensemble of devices (one seed each). The measured
arrays come back from the run files and go through the same metric functions and targets
as the model-level runner (:mod:`sim_backend.qc_experiments`).

:func:`run_calibration` writes the report: one figure per row with the paper's target
beside the measurement, and the table of targets versus measured values (Markdown and
CSV). ``labapp sim calibrate -o DIR`` calls it.
"""

from __future__ import annotations

import csv
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from sim_backend.qc_experiments import (
    ROWS,
    SETTINGS,
    Calibration,
    Experiment,
    Settings,
    calibrate,
    conductance,
    dc_loop_metrics,
    log_read_times,
    ltp_ltd_metrics,
    read_disturb_metrics,
    read_series_metrics,
    reset_train_metrics,
    retention_metrics,
    rtn_metrics,
)

__all__ = ["InstrumentRunner", "run_calibration", "write_report"]


class InstrumentRunner:
    """Runs the calibration rows as protocols on the simulated instrument.

    Each call connects a fresh simulated 4200A whose device is drawn from ``seed`` (the
    same device the model-level runner builds), runs one or more protocols with the run
    engine into HDF5 run files under ``workdir``, and reads the measurement back.
    """

    def __init__(self, workdir: Path | None = None, settings: Settings = SETTINGS) -> None:
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="calib-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.s = settings
        self._n = 0

    @contextmanager
    def _instrument(self, seed: int) -> Iterator:
        from protocols import RunEngine, connect

        k4200 = connect(sim=True, seed=seed)
        try:
            yield RunEngine(k4200)
        finally:
            k4200.adapter.close()

    def _run(self, engine, protocol):
        from analysis.inputs import load_run

        self._n += 1
        result = engine.run(protocol, self.workdir / f"{self._n:04d}-{protocol.name}.h5")
        if result.status != "completed":
            raise RuntimeError(f"{protocol.name}: run {result.status}: {result.reason}")
        return load_run(result.path)

    def _train(self, engine, amplitudes, compliance: float, v_read: float | None = 0.1,
               width: float | None = None):
        """Pulse train(s) for a list of amplitudes (consecutive equal signs in one run)."""
        from protocols import PulseTrain

        s = self.s
        runs = []
        amps = list(amplitudes)
        while amps:
            sign = 1.0 if amps[0] > 0 else -1.0
            n = 1
            while n < len(amps) and np.sign(amps[n]) == sign and amps[n] == amps[0]:
                n += 1
            read = 0.1 if v_read is None else v_read
            runs.append(self._run(engine, PulseTrain(
                polarity="set" if sign > 0 else "reset", amplitude=abs(amps[0]), count=n,
                width=s.pulse_width if width is None else width, period=s.pulse_period,
                read_width=s.read_width, v_read=sign * abs(read), compliance=compliance)))
            amps = amps[n:]
        return runs

    @staticmethod
    def _reads(run) -> np.ndarray:
        """Read conductance after each pulse (the initial read, pulse index 0, left out)."""
        st = run.streams["samples"]
        after = np.asarray(st["pulse_index"]) > 0
        return conductance(np.asarray(st["voltage_V"])[after], np.asarray(st["current_A"])[after])

    # ------------------------------------------------------------------ rows
    def dc_loop(self, seed: int, compliance: float) -> Experiment:
        from protocols import DCSweep

        s = self.s
        with self._instrument(seed) as eng:
            run = self._run(eng, DCSweep(v_set=3.0, v_reset=3.0, step=s.dc_step,
                                         compliance_set=compliance,
                                         compliance_reset=compliance, integration="short"))
        st = run.streams["samples"]
        e = dc_loop_metrics(np.asarray(st["segment"]), np.asarray(st["voltage_V"]),
                            np.asarray(st["current_A"]))
        e.metrics["compliance_mA"] = compliance * 1e3
        return e

    def _staircase_run(self, eng, polarity: str, compliance: float):
        from protocols import PulseTrain

        s = self.s
        start, step, count = s.staircase
        sign = 1.0 if polarity == "set" else -1.0
        return self._run(eng, PulseTrain(
            polarity=polarity, amplitude=start, amplitude_step=step, count=int(count),
            width=s.pulse_width, period=s.pulse_period, read_width=s.read_width,
            v_read=0.1 * sign, compliance=compliance))

    def pulsed_cc(self, seed: int, compliance: float) -> Experiment:
        with self._instrument(seed) as eng:
            g = self._reads(self._staircase_run(eng, "set", compliance))
            self._staircase_run(eng, "reset", compliance)
        return read_series_metrics("pulsed_cc", g, compliance_mA=compliance * 1e3)

    def amplitude(self, seed: int, amplitude: float) -> Experiment:
        s = self.s
        with self._instrument(seed) as eng:
            (run,) = self._train(eng, [amplitude] * s.amplitude_count, s.amplitude_compliance)
        return read_series_metrics("amplitude", self._reads(run), amplitude_V=amplitude)

    def count(self, seed: int, count: int) -> Experiment:
        s = self.s
        with self._instrument(seed) as eng:
            (run,) = self._train(eng, [s.count_amplitude] * count, s.count_compliance)
        return read_series_metrics("count", self._reads(run), count=float(count))

    def read_disturb(self, seed: int, read_v: float) -> Experiment:
        from protocols import Retention

        s = self.s
        with self._instrument(seed) as eng:
            self._train(eng, [1.6] * 3, s.program_compliance)
            run = self._run(eng, Retention(
                duration=s.disturb_interval * (s.disturb_reads - 1) + 1e-9,
                interval=s.disturb_interval, spacing="linear", v_read=read_v,
                read_width=s.disturb_read_width, program_amplitude=0.0))
        st = run.streams["samples"]
        g = conductance(np.asarray(st["voltage_V"]), np.asarray(st["current_A"]))
        return read_disturb_metrics(g, read_v)

    def reset_train(self, seed: int) -> Experiment:
        from protocols import ResetTrain

        s = self.s
        amp, n = s.reset_set
        with self._instrument(seed) as eng:
            self._train(eng, [amp] * n, s.program_compliance)
            run = self._run(eng, ResetTrain(
                amplitude=s.reset_amplitude, width=s.reset_width, count=s.reset_count,
                period=s.reset_period, samples=s.reset_samples,
                compliance=s.reset_compliance))
        wf = run.waveforms
        return reset_train_metrics(np.asarray(wf["current_A"]), np.asarray(wf["voltage_V"]))

    def ltp_ltd(self, seed: int) -> Experiment:
        from protocols import LTPLTD

        s = self.s
        with self._instrument(seed) as eng:
            self._train(eng, list(s.ltp_prepare), s.program_compliance)
            run = self._run(eng, LTPLTD(
                amplitude=s.ltp_amplitude, width=s.ltp_width, count=s.ltp_count,
                v_read=s.ltp_read, period=s.ltp_period, read_width=s.ltp_read_width,
                compliance=s.program_compliance))
        st = run.streams["samples"]
        g = conductance(np.asarray(st["voltage_V"]), np.asarray(st["current_A"]))
        return ltp_ltd_metrics(g, s.ltp_count)

    def retention(self, seed: int, program: tuple[float, ...]) -> Experiment:
        from protocols import Retention

        s = self.s
        with self._instrument(seed) as eng:
            self._train(eng, list(program), s.program_compliance)
            run = self._run(eng, Retention(
                duration=float(log_read_times(s)[-1]), interval=s.retention_first,
                spacing="log", points_per_decade=10, v_read=0.1,
                read_width=s.retention_read_width, program_amplitude=0.0))
        st = run.streams["samples"]
        g = conductance(np.asarray(st["voltage_V"]), np.asarray(st["current_A"]))
        return retention_metrics(np.asarray(st["elapsed_s"]), g)

    def rtn(self, seed: int) -> Experiment:
        from protocols import ReadNoise

        s = self.s
        with self._instrument(seed) as eng:
            self._train(eng, [s.rtn_prepare[0]], 1e-3)
            self._train(eng, [s.rtn_prepare[1]], 1e-3)
            run = self._run(eng, ReadNoise(v_read=0.1, duration=s.rtn_duration,
                                           rate=s.rtn_rate))
        st = run.streams["samples"]
        return rtn_metrics(np.asarray(st["time_s"]),
                           conductance(np.asarray(st["voltage_V"]), np.asarray(st["current_A"])))


# --------------------------------------------------------------------------- report
_TARGETS = {
    "dc_loop": "0->3->0->-3->0 V at CC 5/7/10 mA: stepwise SET from ~1-1.5 V to >= 20 G0; "
               "RESET steps from about -1.5 to -2.5 V down to a few G0; n and n+1/2 plateaus; "
               "higher CC -> higher top level",
    "pulsed_cc": "pulsed SET, CC 1 mA vs 5 mA (20 ms pulses, +-0.1 V reads): ~1 G0 vs up to "
                 "~20 G0",
    "amplitude": "pulse amplitude 1.5 / 1.9 / 2.3 V: slow rise to ~6 G0 at 1.5 V, ~12 G0 at "
                 "2.3 V",
    "count": "2-4 pulses: up to ~18 G0; 6-10 pulses: ~25 G0",
    "read_disturb": "read at 0.15 V: elevated baseline, filament modified; 0.1 V: minimal",
    "reset_train": "500 x -1.5 V / 5 ms: I_i/I_1 decays gradually through plateaus; "
                   "I_{i+1} < I_i for most pulses; 5-10 % scatter around levels",
    "ltp_ltd": "30 + 30 pulses +-1.5 V / 5 ms, reads +-0.2 V: nonlinear, asymmetric; "
               "NL 5.08 (pot.), 4.85 (dep.)",
    "retention": "0.1 V reads over 6x10^3 s: states >= 2 G0 within +-10 %",
    "rtn": "constant bias at a low state: two-level RTN visible",
}


def _figure(row: str, cal: Calibration, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex = cal.examples[row]
    checks = [(c, v, ok) for c, v, ok in cal.results() if c.row == row]
    fig, (ax, note) = plt.subplots(
        2, 1, figsize=(8.0, 5.2 + 0.16 * len(checks)),
        gridspec_kw={"height_ratios": (4.0, 0.9 + 0.22 * len(checks))})
    note.axis("off")
    if row == "dc_loop":
        for e, cc in zip(ex, SETTINGS.dc_compliances, strict=False):
            ax.plot(e.traces["v"], e.traces["g"], lw=0.8, label=f"CC {cc * 1e3:g} mA")
        ax.set(xlabel="V (V)", ylabel="G / G0", ylim=(0, None))
    elif row == "count":
        longest = max(ex, key=lambda e: e.metrics["count"])
        ax.plot(longest.traces["pulse"], longest.traces["g"], "-", color="0.7",
                label="read after each pulse")
        ax.plot([e.metrics["count"] for e in ex], [e.metrics["final_G0"] for e in ex], "o",
                ms=7, label="after a train of N pulses")
        ax.set(xlabel="number of pulses N", ylabel="read G / G0")
    elif row in ("pulsed_cc", "amplitude"):
        for e in ex:
            key = {"pulsed_cc": "compliance_mA", "amplitude": "amplitude_V"}[row]
            unit = {"pulsed_cc": " mA", "amplitude": " V"}[row]
            ax.plot(e.traces["pulse"], e.traces["g"], "o-", ms=3,
                    label=f"{e.metrics[key]:g}{unit}")
        ax.set(xlabel="pulse", ylabel="read G / G0")
    elif row == "read_disturb":
        for e in ex:
            ax.plot(e.traces["read"], e.traces["g"], lw=0.8,
                    label=f"read {e.metrics['read_V']:g} V")
        ax.set(xlabel="read", ylabel="G / G0")
    elif row == "reset_train":
        e = ex[0]
        ax.plot(e.traces["pulse"], e.traces["ratio"], ".", ms=3, label="I_i / I_1")
        ax.set(xlabel="pulse", ylabel="I_i / I_1", yscale="log")
        inset = ax.inset_axes((0.6, 0.55, 0.37, 0.4))
        i = np.abs(e.traces["i"]) * 1e3
        inset.plot(i[:-1], i[1:], ".", ms=2)
        lim = (0, float(np.nanmax(i)) * 1.05)
        inset.plot(lim, lim, "k-", lw=0.6)
        inset.set(xlabel="I_i (mA)", ylabel="I_i+1 (mA)", xlim=lim, ylim=lim)
        inset.tick_params(labelsize=6)
    elif row == "ltp_ltd":
        e = ex[0]
        ax.plot(e.traces["pulse"], e.traces["g"], "o-", ms=3)
        ax.set(xlabel="pulse (0: before the train)", ylabel="read G / G0")
    elif row == "retention":
        for e in ex:
            ax.plot(e.traces["t"], e.traces["g"], "o-", ms=3,
                    label=f"{e.metrics['initial_G0']:.1f} G0")
        ax.set(xlabel="t (s)", ylabel="G / G0 at 0.1 V", xscale="log")
    elif row == "rtn":
        e = ex[0]
        ax.plot(e.traces["t"], e.traces["g"], lw=0.5)
        ax.set(xlabel="t (s)", ylabel="G / G0 at 0.1 V", xlim=(0, 1.0))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower left" if row == "reset_train" else "best")
    measured = "\n".join(f"{'ok ' if ok else 'OUT'} {c.metric} = {v:.3g}   "
                         f"(accepted {c.lo:g} .. {c.hi:g}; paper: {c.target})"
                         for c, v, ok in checks)
    n = len(cal.seeds)
    ax.set_title(f"{row}: simulated device ({n} device{'s' if n > 1 else ''}; shown: seed "
                 f"{cal.seeds[0]})", fontsize=10)
    target = textwrap.fill(f"paper 000: {_TARGETS[row]}", 110)
    note.text(0.0, 1.0, f"{target}\n\nensemble:\n{measured}", fontsize=7, va="top",
              family="monospace", transform=note.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(cal: Calibration, outdir: Path, how: str) -> Path:
    """Figures, ``calibration.csv`` and ``calibration.md`` in ``outdir``; returns the .md."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    results = cal.results()
    with open(outdir / "calibration.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "metric", "paper_target", "accept_lo", "accept_hi", "measured",
                    "ok"])
        for c, v, ok in results:
            w.writerow([c.row, c.metric, c.target, c.lo, c.hi, f"{v:.6g}", ok])
    lines = [
        "# Simulated QC device versus paper 000",
        "",
        f"{how}. Ensemble of {len(cal.seeds)} devices (seeds {', '.join(map(str, cal.seeds))}); "
        "values are ensemble medians (retention: the worst state). Accepted ranges are the "
        "ones the calibration tests assert. Protocol settings the paper leaves open are in "
        "`sim_backend/qc_experiments.py` (`Settings`) and `docs/simulator-physics.md`.",
        "",
        f"**{sum(ok for *_, ok in results)} of {len(results)} checks in range.**",
        "",
        "| row | metric | paper 000 | accepted | measured | |",
        "|---|---|---|---|---|---|",
    ]
    for c, v, ok in results:
        lines.append(f"| {c.row} | `{c.metric}` | {c.target} | {c.lo:g} .. {c.hi:g} | "
                     f"{v:.3g} | {'ok' if ok else '**out**'} |")
    lines += ["", "## All measured values", ""]
    for row, mets in cal.metrics.items():
        vals = ", ".join(f"{k} = {v:.3g}" for k, v in mets.items())
        lines.append(f"- **{row}**: {vals}")
    lines += ["", "## Figures", ""]
    for row in cal.examples:
        name = f"{row}.png"
        _figure(row, cal, outdir / name)
        lines += [f"### {row}", "", f"Paper 000: {_TARGETS[row]}", "", f"![{row}]({name})", ""]
    path = outdir / "calibration.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_calibration(outdir: Path, seed: int = 0, devices: int = 4,
                    rows: tuple[str, ...] = ROWS) -> Path:
    """Run every calibration row through the simulated instrument; write the report.

    Parameters
    ----------
    outdir : report directory (created); run files go to ``outdir/runs``.
    seed : first device seed; the ensemble is ``seed .. seed + devices - 1``.
    devices : ensemble size (>= 1).
    rows : rows to run (default all).

    Returns
    -------
    Path of ``calibration.md``.
    """
    if devices < 1:
        raise ValueError(f"devices must be >= 1, got {devices!r}")
    outdir = Path(outdir)
    runner = InstrumentRunner(outdir / "runs")
    cal = calibrate(runner, tuple(range(seed, seed + devices)), rows)
    return write_report(cal, outdir, "Every row ran as a protocol through the driver and the "
                        "simulated 4200A (in-process KXCI engine)")



def main(argv: list[str] | None = None) -> int:
    """``python -m labapp.calibration -o DIR``: the report without the ``labapp`` CLI."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m labapp.calibration",
                                description="Calibrate the simulated QC device against "
                                "paper 000 through the simulated 4200A; write the report.")
    p.add_argument("-o", "--outdir", type=Path, required=True, help="report directory")
    p.add_argument("--seed", type=int, default=0, help="first device seed (default 0)")
    p.add_argument("--devices", type=int, default=4, help="ensemble size (default 4)")
    p.add_argument("--row", action="append", choices=ROWS, help="run only this row "
                   "(repeatable; default all)")
    args = p.parse_args(argv)
    try:
        path = run_calibration(args.outdir, args.seed, args.devices,
                               tuple(args.row) if args.row else ROWS)
    except ValueError as exc:
        p.error(str(exc))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
