"""RunAnalysis summaries and figures on synthetic run files of every kind."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from analysis.csv_io import write_csv
from analysis.figures_pulses import figure_ltp_ltd, figure_polar, figure_pulses, figure_timelag
from analysis.figures_states import (
    NotApplicable,
    figure_cdf,
    figure_endurance,
    figure_histogram,
    figure_plateaus,
    figure_retention,
    figure_rtn,
)
from analysis.inputs import load_run
from analysis.summary import AnalysisOptions, RunAnalysis, summarize
from tests.support.synthetic import write_synthetic_run

KINDS = ("dc-sweep", "reset-train", "ltp-ltd", "retention", "read-noise")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    rng = np.random.default_rng(11)
    out = {}
    for kind in KINDS:
        path = root / f"{kind}.h5"
        write_synthetic_run(str(path), kind, rng)
        out[kind] = path
    return out


def test_sweep_summary_has_labelled_plateaus_jumps_and_switching(runs):
    s = summarize(load_run(runs["dc-sweep"]))
    json.dumps(s)  # machine-readable
    assert s["plateau_axis"] == "V"
    quantized = [p for p in s["plateaus"] if p["on_half_integer"]]
    assert len(quantized) >= 10
    for p in quantized:
        assert abs(p["level_g0"] - p["label_g0"]) <= 0.1
        assert p["start_index"] <= p["end_index"]
    assert {"center_g0", "width_g0", "weight"} <= set(s["histogram_peaks"][0])
    assert any(abs(p["center_g0"] - 4.0) < 0.05 for p in s["histogram_peaks"])
    assert s["jump_report"][0].split(" at ")[1].split(";")[0].endswith(" V")
    sw = s["switching"]
    assert len(sw["v_set_jump_V"]) == 2 and sw["compliance_A"] == 5e-3
    assert 0.8 <= sw["median"]["v_set_jump"] <= 1.3
    assert "pulses" not in s and "nonlinearity" not in s


def test_reset_train_summary_has_pulses_from_waveforms(runs):
    s = summarize(load_run(runs["reset-train"]))
    p = s["pulses"]
    assert p["source"] == "waveforms" and p["window"]["skip_fraction"] == 0.2
    assert p["i_over_i1"][0] == 1.0
    assert len(p["current_A"]) == 100
    assert 0.0 <= p["below_unity_fraction"] <= 1.0
    assert s["plateau_axis"] == "pulse"
    assert all(pl["on_half_integer"] for pl in s["plateaus"])


def test_ltp_ltd_summary_has_nonlinearity(runs):
    s = summarize(load_run(runs["ltp-ltd"]))
    nl = s["nonlinearity"]
    assert nl["A"] == pytest.approx(5.08, rel=0.15)
    assert nl["depression"]["A"] == pytest.approx(4.85, rel=0.15)
    assert nl["p_max"] == 30
    assert {"A", "B", "g_min", "g_max", "p_max"} <= set(nl)


def test_retention_and_rtn_summaries(runs):
    r = summarize(load_run(runs["retention"]))["retention"]
    assert 0.005 < r["nu"] < 0.015
    rtn = summarize(load_run(runs["read-noise"]))["rtn"]
    assert rtn["levels"] == pytest.approx([2.0, 2.5], abs=0.02)


def test_csv_without_protocol_gets_sweep_analysis(runs, tmp_path):
    run = load_run(runs["dc-sweep"])
    s = run.samples
    p = write_csv(tmp_path / "sweep.csv", {k: s[k] for k in ("time_s", "voltage_V",
                                                             "current_A", "segment", "cycle")})
    out = summarize(load_run(p))
    assert out["protocol"] == "" and "switching" in out
    assert len(out["plateaus"]) == len(summarize(run)["plateaus"])


def test_options_are_validated_and_recorded(runs):
    with pytest.raises(ValueError, match="bin_width_g0"):
        AnalysisOptions(bin_width_g0=0)
    s = summarize(load_run(runs["dc-sweep"]), AnalysisOptions(series_resistance_ohm=50.0))
    assert s["options"]["series_resistance_ohm"] == 50.0


FIGS = {
    "dc-sweep": [figure_histogram, figure_plateaus, figure_cdf, figure_endurance],
    "reset-train": [figure_pulses, figure_polar, figure_timelag, figure_histogram],
    "ltp-ltd": [figure_ltp_ltd, figure_pulses],
    "retention": [figure_retention],
    "read-noise": [figure_rtn],
}


@pytest.mark.parametrize("kind", KINDS)
def test_figures_render_with_units_on_every_axis(runs, kind):
    an = RunAnalysis(load_run(runs[kind]))
    for fn in FIGS[kind]:
        fig = fn(an)
        for ax in fig.axes:
            if ax.name == "polar" or not ax.get_visible() or not ax.has_data():
                continue
            for label in (ax.get_xlabel(), ax.get_ylabel()):
                if label:
                    assert "(" in label and ")" in label, (fn.__name__, label)
        plt.close(fig)


def test_figure_that_does_not_apply_says_why(runs):
    an = RunAnalysis(load_run(runs["dc-sweep"]))
    with pytest.raises(NotApplicable, match="per-pulse data"):
        figure_polar(an)
    with pytest.raises(NotApplicable, match="retention"):
        figure_retention(an)


def test_cli_figure_names_match_the_registry():
    from analysis.figures import FIGURES
    from analysis.options import FIGURE_NAMES

    assert tuple(FIGURES) == FIGURE_NAMES
