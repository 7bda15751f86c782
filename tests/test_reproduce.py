"""``labapp reproduce``: a paper figure from simulated runs in one command."""

from __future__ import annotations

import pytest

from analysis.runfile import list_runs
from labapp.cli import main
from labapp.reproduce import RECIPES, reproduce


def test_every_recipe_names_existing_presets_and_figures():
    from analysis.options import FIGURE_NAMES
    from protocols.preset_library import get_preset

    for recipe in RECIPES.values():
        for protocol, preset, _ in recipe.runs:
            if preset:  # "" = the protocol's defaults with the recipe's overrides
                assert get_preset(preset).protocol == protocol
        assert set(recipe.figures) <= set(FIGURE_NAMES)
        assert set(recipe.panels) == set(recipe.figures)  # every file named by its panel
        names = {recipe.file_name(f, i) for f in recipe.figures
                 for i in range(len(recipe.runs) if recipe.figure_runs == "all" else 1)}
        assert len(names) == len(recipe.figures) * (
            len(recipe.runs) if recipe.figure_runs == "all" else 1)
        assert all(n.startswith("paper000-fig") for n in names)


def test_fig6_runs_set_then_reset_train_on_one_device(tmp_path):
    written = reproduce("fig6", tmp_path, seed=2, log=lambda *_: None)
    runs = list_runs(tmp_path / "paper000-fig6.h5")
    assert [r.protocol for r in runs] == ["pulse-train", "reset-train"]
    assert all(r.effective_status == "completed" for r in runs)
    pngs = [p for p in written if p.suffix == ".png"]
    assert sorted(p.name for p in pngs) == ["paper000-fig6abd_pulses.png",
                                           "paper000-fig6e_polar.png",
                                           "paper000-fig6f_timelag.png"]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(p.name for p in pngs)
    assert all(p.stat().st_size > 20_000 for p in pngs)


def test_cli_reproduce_fig7(tmp_path, capsys):
    import json

    assert main(["reproduce", "fig7", "-o", str(tmp_path), "--nn-epochs", "0"]) == 0
    out = capsys.readouterr().out
    assert "paper000-fig7b_ltp-ltd.png" in out
    assert main(["analyze", str(tmp_path / "paper000-fig7.h5"), "--json"]) == 0
    summaries = json.loads(capsys.readouterr().out)  # three runs: each analysed
    assert [s["protocol"] for s in summaries] == ["pulse-train", "pulse-train", "ltp-ltd"]
    nl = summaries[-1]["nonlinearity"]
    # paper 000: nonlinear potentiation and depression, NL 5.08 / 4.85
    assert nl["g_max"] > 2 * nl["g_min"]
    assert 2 <= nl["potentiation"]["label"] <= 9
    assert 2 <= abs(nl["depression"]["label"]) <= 9


def test_cli_reproduce_fig7_renders_7c_to_e_on_the_digits_set(tmp_path, capsys):
    import json

    pytest.importorskip("jax")
    assert main(["reproduce", "fig7", "-o", str(tmp_path), "--nn-epochs", "3"]) == 0
    out = capsys.readouterr().out
    # Fig. 7c-e: a short training with the measured device on the digits set
    for panel in ("fig7c_accuracy", "fig7d_loss", "fig7e_confusion"):
        assert f"paper000-{panel}.png" in out
        assert (tmp_path / f"paper000-{panel}.png").stat().st_size > 0
    nn = json.loads((tmp_path / "paper000-fig7-nn" / "nn-summary.json").read_text())
    assert set(nn["runs"]) == {"measured", "float"}
    assert sorted(nn["runs"]["measured"]["confusion"]) == ["1", "2", "3"]
    assert nn["runs"]["float"]["epoch"] == [1, 2, 3]


def test_unknown_figure_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "fig9"])
    assert exc.value.code == 2


def test_cli_sim_calibrate_writes_report_with_figure_and_table(tmp_path, capsys):
    assert main(["sim", "calibrate", "-o", str(tmp_path), "--devices", "1",
                 "--row", "retention"]) == 0
    report = (tmp_path / "calibration.md").read_text()
    assert "retention" in report and "paper 000" in report
    assert (tmp_path / "retention.png").stat().st_size > 10_000
    assert "retention" in (tmp_path / "calibration.csv").read_text()


def test_cli_sim_calibrate_unknown_row_is_one_line(tmp_path, capsys):
    assert main(["sim", "calibrate", "-o", str(tmp_path), "--row", "nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'nope'" in err and "retention" in err


def test_fig5_renders_panels_a_to_d_from_pristine_devices(tmp_path):
    from analysis.inputs import load_run
    from labapp.reproduce import FIG5_PANELS

    written = reproduce("fig5", tmp_path, seed=3, log=lambda *_: None)
    panels = tmp_path / "paper000-fig5_panels.png"
    assert panels in written and panels.stat().st_size > 40_000
    runs = list_runs(tmp_path / "paper000-fig5-panels.h5")
    presets = [p for _, _, names in FIG5_PANELS for p in names]
    assert len(runs) == len(presets) == 12
    # every preset started from the pristine device: the read before the first pulse is HRS
    for r in runs:
        s = load_run(tmp_path / "paper000-fig5-panels.h5", r.run_id).streams["samples"]
        assert s["conductance_G0"][0] < 0.5
