"""Paper 000's figures from simulated runs, one command each (``labapp reproduce``).

Each recipe is the sequence of protocol runs (by preset) that the figure needs, followed
by the analysis figures to render. All runs of a recipe go to one simulated instrument
kept alive in this process, so a RESET train meets the device its SET train left behind,
as it would at the probe station. The recipes are the commands of ``docs/analysis.md``.

Fig. 5 has four panels (a: compliance, b: amplitude, c: read voltage, d: pulse count);
every curve of a panel is one ``paper000-fig5*`` preset run on a fresh device of the
chosen seed (the pristine state), as the calibration table runs them
(``labapp/calibration_table.json``), and the panels are drawn together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.conductance import conductance_g0
from analysis.inputs import load_run
from labapp.calibration_table import load_table
from labapp.instrument_choice import connect
from protocols import RunEngine, build
from protocols.preset_library import get_preset


@dataclass(frozen=True)
class Recipe:
    """Runs (protocol, preset, overrides) then figures (names, which runs).

    ``panels`` names each figure after the paper's panel it reproduces (files are
    ``paper000-<panel>_<figure>.png``); with ``figure_runs="all"`` the run's
    ``run_labels`` entry is appended to the panel (``fig5a-set``).
    """

    title: str
    runs: tuple[tuple[str, str, dict[str, Any]], ...]
    figures: tuple[str, ...]
    panels: dict[str, str]
    figure_runs: str = "last"  # "last" or "all"
    run_labels: tuple[str, ...] = ()
    seed: int = 1  # default device: devices differ (lognormal spread), like real ones
    notes: tuple[str, ...] = field(default=())

    def file_name(self, figure: str, run_index: int) -> str:
        """``paper000-fig6e_polar.png``: the paper's panel, then the figure name."""
        panel = self.panels[figure]
        if self.figure_runs == "all" and self.run_labels:
            panel = f"{panel}-{self.run_labels[run_index]}"
        return f"paper000-{panel}_{figure}.png"


#: the calibration table's recipes (Fig. 6 and 7b run exactly what the table runs)
_TABLE = load_table()

RECIPES: dict[str, Recipe] = {
    "fig1": Recipe("Fig. 1e-g: DC switching at 2 mA, G-V of SET and RESET with n/2 levels",
                   (("dc-sweep", "paper000-fig1-cc2mA", {"cycles": 3}),), ("iv", "gv"),
                   {"iv": "fig1e", "gv": "fig1fg"}),
    "fig2": Recipe("Fig. 2: compliance ladder 5/7/10 mA",
                   (("dc-sweep", "paper000-fig2-ladder", {"cycles": 2}),),
                   ("iv", "gv", "compliance"),
                   {"iv": "fig2adg", "gv": "fig2bcefhi", "compliance": "fig2"}),
    "fig5": Recipe("Fig. 5a-d: pulsed SET vs compliance, amplitude, read voltage and pulse "
                   "count, each preset on a fresh (pristine) device",
                   (("pulse-train", "paper000-fig5a-set-cc5mA", {}),
                    ("pulse-train", "paper000-fig5a-reset-cc5mA", {})),
                   ("pulses",), {"pulses": "fig5a"}, figure_runs="all",
                   run_labels=("set", "reset")),
    "fig6": Recipe("Fig. 6: 500-pulse RESET train after a SET train: I_i/I_1, polar, time lag",
                   _TABLE.recipes["fig6"], ("pulses", "polar", "timelag"),
                   {"pulses": "fig6abd", "polar": "fig6e", "timelag": "fig6f"}),
    "fig7": Recipe("Fig. 7b: 30 potentiation + 30 depression pulses with the NeuroSim fit",
                   # a filament formed wide (2 x 2.3 V SET at 5 mA) and cut back by one
                   # -2.2 V pulse, so that potentiation regrows it inside its body
                   _TABLE.recipes["fig7b"], ("ltp-ltd",), {"ltp-ltd": "fig7b"}, seed=0),
}


#: epochs of the short Fig. 7c-e training ``reproduce fig7`` adds on the digits set
NN_EPOCHS = 10


#: Fig. 5 panels: (panel, title, presets); each preset runs on a fresh device of the seed
FIG5_PANELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("a", "compliance (increasing amplitude)",
     ("paper000-fig5a-set-cc1mA", "paper000-fig5a-set-cc5mA")),
    ("b", "pulse amplitude", ("paper000-fig5b-set-1.5V", "paper000-fig5b-set-1.9V",
                              "paper000-fig5b-set-2.3V")),
    ("c", "read voltage", ("paper000-fig5c-set-read0.1V", "paper000-fig5c-set-read0.15V")),
    ("d", "number of pulses", tuple(f"paper000-fig5d-set-{n}pulses" for n in (2, 4, 6, 8, 10))),
)


def _fig5_panels(out: Path, seed: int, dpi: int, log) -> list[Path]:
    """Run every Fig. 5 preset on a fresh device of ``seed``; one file, one 2x2 figure."""
    # deferred: matplotlib loads only when a figure is drawn (start-up time of the CLI)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = out / "paper000-fig5-panels.h5"
    if path.exists():
        path.unlink()
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, (panel, title, presets) in zip(axes.ravel(), FIG5_PANELS, strict=True):
        for k, name in enumerate(presets):
            instrument = connect(sim=True, seed=seed)  # a fresh device: the pristine state
            try:
                engine = RunEngine(instrument, metadata={
                    "device_id": f"sim-seed-{seed}", "sample": "simulated",
                    "notes": f"Fig. 5{panel}: {name} on a pristine device"})
                result = engine.run(build("pulse-train", name), path)
            finally:
                instrument.adapter.close()
            log(f"{path} run {result.run_id} pulse-train ({name}) status {result.status}")
            if not result.ok:
                raise RuntimeError(f"{name} ended {result.status}: {result.reason}")
            s = load_run(path, result.run_id).streams["samples"]
            v, i = np.asarray(s["voltage_V"]), np.asarray(s["current_A"])
            g = conductance_g0(v, i, 1e-3)
            label = get_preset(name).title
            # the same seed is the same device and noise: trains of one panel share their
            # first pulses, so the ones listed first are drawn on top (each train's end
            # stays visible instead of hiding under the longer trains)
            ax.plot(np.asarray(s["pulse_index"]), g, "o-", ms=3, label=label,
                    zorder=2 + len(presets) - k)
        ax.set(title=f"Fig. 5{panel}: {title}", xlabel="pulse (0: read before the train)",
               ylabel="read G / G0")
        ax.legend(fontsize=7)
    fig.suptitle(f"paper 000 Fig. 5 on the simulated device (seed {seed})", fontsize=10)
    fig.tight_layout()
    png = out / "paper000-fig5_panels.png"
    fig.savefig(png, dpi=dpi)
    plt.close(fig)
    return [path, png]


def reproduce(figure: str, outdir: str | Path, seed: int | None = None, dpi: int = 150,
              log=print, nn_epochs: int = NN_EPOCHS) -> list[Path]:
    """Run the recipe of ``figure`` on the simulator; returns the run file and figures.

    ``seed`` picks the simulated device (default: the recipe's own, a device that shows the
    behaviour the figure is about; devices differ as real ones do). For ``fig7`` the
    measured device then trains paper 000's network on the digits set for ``nn_epochs``
    epochs (Fig. 7c-e; 0 skips it, as does a missing ``labapp[nn]`` extra, with a note).
    """
    # deferred: matplotlib and the analysis stack load only when a figure is reproduced
    # (start-up time of the CLI)
    from analysis.figures import save_figures
    from analysis.summary import RunAnalysis

    if figure not in RECIPES:
        raise KeyError(f"figure {figure!r} unknown; choose from {', '.join(RECIPES)}")
    recipe = RECIPES[figure]
    seed = recipe.seed if seed is None else seed
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"paper000-{figure}.h5"
    if path.exists():
        path.unlink()  # a fresh file: the figure shows exactly this recipe's runs
    instrument = connect(sim=True, seed=seed)
    engine = RunEngine(instrument, metadata={"device_id": f"sim-seed-{seed}",
                                             "sample": "simulated", "notes": recipe.title})
    run_ids = []
    for protocol, preset, overrides in recipe.runs:
        result = engine.run(build(protocol, preset or None, overrides), path)
        log(f"{path} run {result.run_id} {protocol} ({preset or 'custom'}) status "
            f"{result.status}")
        if not result.ok:
            raise RuntimeError(f"{protocol} ({preset}) ended {result.status}: {result.reason}")
        run_ids.append(result.run_id)
    written = [path]
    chosen = run_ids if recipe.figure_runs == "all" else run_ids[-1:]
    for index, rid in enumerate(chosen):
        pngs = save_figures(RunAnalysis(load_run(path, rid)), list(recipe.figures), out,
                            dpi=dpi)
        for name, png in zip(recipe.figures, pngs, strict=True):
            written.append(png.replace(out / recipe.file_name(name, index)))
    if figure == "fig5":
        written += _fig5_panels(out, seed, dpi, log)
    if figure == "fig7" and nn_epochs > 0:
        written += neural_panels(path, run_ids[-1], out, nn_epochs, dpi, log)
    return written


def neural_panels(path: Path, run_id: str, out: Path, epochs: int, dpi: int,
                  log) -> list[Path]:
    """Fig. 7c-e: a short training on the digits set with the device of ``run_id``.

    The measured device and the float baseline, confusion matrices at a third, two thirds
    and all of the epochs (the paper's 100/200/300 of 300). The full MNIST/CIFAR-10 runs
    are ``labapp nn`` commands (docs/nn.md).
    """
    try:  # deferred: JAX loads only when the network trains (start-up time; an optional extra)
        from analysis.neural.experiment import run_experiment
        from analysis.neural.training import TrainConfig
    except ImportError as exc:
        log(f"Fig. 7c-e skipped: they need pip install 'labapp[nn]' ({exc.name} is missing)")
        return []
    marks = tuple(sorted({max(1, round(epochs * k / 3)) for k in (1, 2, 3)}))
    summary = run_experiment(path, out / "paper000-fig7-nn", run_id=run_id,
                             dataset="digits", devices=("measured", "float"),
                             config=TrainConfig(epochs=epochs, confusion_epochs=marks),
                             dpi=dpi, log=log)
    written = []
    for f in map(Path, summary["files"]):
        if f.suffix == ".png":  # fig7c_accuracy.png -> paper000-fig7c_accuracy.png
            written.append(f.replace(out / f"paper000-{f.name}"))
        else:
            written.append(f)
    return written
