"""Paper 000's figures from simulated runs, one command each (``labapp reproduce``).

Each recipe is the sequence of protocol runs (by preset) that the figure needs, followed
by the analysis figures to render. All runs of a recipe go to one simulated instrument
kept alive in this process, so a RESET train meets the device its SET train left behind,
as it would at the probe station. The recipes are the commands of ``docs/analysis.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


RECIPES: dict[str, Recipe] = {
    "fig1": Recipe("Fig. 1e-g: DC switching at 2 mA, G-V of SET and RESET with n/2 levels",
                   (("dc-sweep", "paper000-fig1-cc2mA", {"cycles": 3}),), ("iv", "gv"),
                   {"iv": "fig1e", "gv": "fig1fg"}),
    "fig2": Recipe("Fig. 2: compliance ladder 5/7/10 mA",
                   (("dc-sweep", "paper000-fig2-ladder", {"cycles": 2}),),
                   ("iv", "gv", "compliance"),
                   {"iv": "fig2adg", "gv": "fig2bcefhi", "compliance": "fig2"}),
    "fig5": Recipe("Fig. 5a: SET then RESET pulse trains, increasing amplitude, 5 mA",
                   (("pulse-train", "paper000-fig5a-set-cc5mA", {}),
                    ("pulse-train", "paper000-fig5a-reset-cc5mA", {})),
                   ("pulses",), {"pulses": "fig5a"}, figure_runs="all",
                   run_labels=("set", "reset")),
    "fig6": Recipe("Fig. 6: 500-pulse RESET train after a SET train: I_i/I_1, polar, time lag",
                   (("pulse-train", "paper000-fig5a-set-cc5mA", {}),
                    ("reset-train", "paper000-fig6-reset-train", {})),
                   ("pulses", "polar", "timelag"),
                   {"pulses": "fig6abd", "polar": "fig6e", "timelag": "fig6f"}),
    "fig7": Recipe("Fig. 7b: 30 potentiation + 30 depression pulses with the NeuroSim fit",
                   # a formed filament first (one SET, one RESET pulse at 5 mA / 20 ms),
                   # so that potentiation regrows it gradually, as on a cycled device
                   (("pulse-train", "", {"polarity": "set", "amplitude": 1.7, "count": 1,
                                         "compliance": 5e-3}),
                    ("pulse-train", "", {"polarity": "reset", "amplitude": 1.8, "count": 1,
                                         "v_read": -0.1, "compliance": 5e-3}),
                    ("ltp-ltd", "paper000-fig7-ltp-ltd", {})), ("ltp-ltd",),
                   {"ltp-ltd": "fig7b"}, seed=0),
}


#: epochs of the short Fig. 7c-e training ``reproduce fig7`` adds on the digits set
NN_EPOCHS = 10


def reproduce(figure: str, outdir: str | Path, seed: int | None = None, dpi: int = 150,
              log=print, nn_epochs: int = NN_EPOCHS) -> list[Path]:
    """Run the recipe of ``figure`` on the simulator; returns the run file and figures.

    ``seed`` picks the simulated device (default: the recipe's own, a device that shows the
    behaviour the figure is about; devices differ as real ones do). For ``fig7`` the
    measured device then trains paper 000's network on the digits set for ``nn_epochs``
    epochs (Fig. 7c-e; 0 skips it, as does a missing ``labapp[nn]`` extra, with a note).
    """
    from analysis.figures import save_figures
    from analysis.inputs import load_run
    from analysis.summary import RunAnalysis
    from protocols import RunEngine, build, connect

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
    try:
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
