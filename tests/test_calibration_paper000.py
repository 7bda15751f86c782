"""Paper 000's calibration table on the simulated device: every row on 8 device seeds.

The table (``labapp/calibration_table.json``) holds per row the paper reference,
the presets it runs, the metric (a function of ``labapp/calibration_table.py``) and the band;
the bands were fixed from the paper's figures and text before the physics was tuned and
are the reference this test holds the simulator to. Pass rule (from the table): the
median over >= 8 seeds in band and >= 75 % of the seeds in band.

Rows the simulator does not reproduce yet are marked ``xfail(strict=True)`` with their
measured median: the test fails as soon as such a row starts passing, so the mark cannot
outlive the defect.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from labapp.calibration import run_table, write_report
from labapp.calibration_table import METRICS, TABLE_PATH, Measured, RowResult, load_table

TABLE = load_table()
SEEDS = tuple(range(8))

#: rows outside their band on the current device model, median over seeds 0-7 when marked
#: (on 48 devices, seeds 0-47, these two are the only rows out; several rows pass here at
#: exactly 6 of 8 seeds; docs/simulator-physics.md, "Outcomes")
KNOWN_OUT: dict[str, str] = {
    "fig5b-1.5V": "median 1.17, 0 % of seeds in band (0 % of 48 devices)",
    "fig5b-1.5V-slow": "median 2, 38 % of seeds in band (44 % of 48 devices)",
}


def _row_params():
    for row in TABLE.rows:
        marks = ()
        if row.id in KNOWN_OUT:
            marks = (pytest.mark.xfail(strict=True, reason=KNOWN_OUT[row.id]),)
        yield pytest.param(row.id, id=row.id, marks=marks)


@pytest.fixture(scope="module")
def table_results(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("calibration-runs")
    return {r.row.id: r for r in run_table(SEEDS, workdir=workdir, jobs=1)}, workdir


@pytest.mark.slow
@pytest.mark.parametrize("row_id", list(_row_params()))
def test_row_passes_on_eight_devices(table_results, row_id):
    res = table_results[0][row_id]
    q1, q3 = res.iqr
    assert res.passed(TABLE.rule), (
        f"{row_id}: median {res.median:.4g} (IQR {q1:.3g}-{q3:.3g}), "
        f"{100 * res.fraction_in_band:.0f} % of {len(res.seeds)} seeds in band {res.row.band}; "
        f"values {np.round(res.values, 3).tolist()}")


@pytest.mark.slow
def test_rows_ran_the_presets_as_protocol_runs(table_results):
    from analysis.runfile import list_runs

    _, workdir = table_results
    files = sorted(workdir.glob("seed000-*.h5"))
    assert {f.stem.split("-", 1)[1] for f in files} == set(TABLE.recipes)
    runs = list_runs(workdir / "seed000-fig6.h5")
    assert [r.protocol for r in runs] == ["pulse-train", "reset-train"]
    assert all(r.effective_status == "completed" for r in runs)


def test_table_is_versioned_and_every_recipe_uses_existing_presets():
    from protocols.preset_library import get_preset

    data = json.loads(TABLE_PATH.read_text())
    assert data["version"] >= 1 and data["pass_rule"] == {
        "min_seeds": 8, "median_in_band": True, "min_fraction_in_band": 0.75}
    assert TABLE.rule.min_seeds == 8 and TABLE.rule.min_fraction == 0.75
    for specs in TABLE.recipes.values():
        for protocol, preset, overrides in specs:
            if preset:
                assert get_preset(preset).protocol == protocol
                assert set(overrides) <= {"cycles"}  # overrides only shorten a run
    named = {pre for specs in TABLE.recipes.values() for _, pre, _ in specs}
    assert {"paper000-fig1-cc2mA", "paper000-fig2-ladder", "paper000-fig6-reset-train",
            "paper000-fig7-ltp-ltd", "paper000-figS5-retention"} <= named
    for row in TABLE.rows:
        assert row.metric in METRICS and row.paper.startswith("Fig.")
        assert "000 L" in row.paper  # a line of the paper's text


def test_bands_are_the_ones_fixed_from_the_paper():
    """The bands as first fixed; changing one needs a cited reason (and this test)."""
    bands = {r.id: (r.lo, r.hi) for r in TABLE.rows}
    inf = np.inf
    assert bands == {
        "fig1-vset": (0.7, 1.4), "fig1-vreset": (-2.4, -1.5), "fig1-levels": (6.0, 14.0),
        "fig2-level-5mA": (18.0, 26.0), "fig2-thickness-knob": (1.0, 1.0),
        "fig2-reset-end": (0.3, 6.0), "fig5a-1mA": (0.5, 2.0), "fig5a-5mA": (14.0, 25.0),
        "fig5b-1.5V": (4.0, 8.0), "fig5b-1.5V-slow": (3.0, inf), "fig5b-2.3V": (9.0, 15.0),
        "fig5b-order": (1.0, 1.0), "fig5c-baseline": (1.1, inf),
        "fig5d-2pulses": (14.0, 21.0), "fig5d-4pulses": (14.0, 21.0),
        "fig5d-6pulses": (21.0, 28.0), "fig5d-8pulses": (21.0, 28.0),
        "fig5d-10pulses": (21.0, 28.0), "fig6-decay": (-inf, 0.5),
        "fig6-timelag": (-inf, 5.0), "fig6-variability": (5.0, 10.0),
        "fig7b-nl-ltp": (4.1, 6.1), "fig7b-nl-ltd": (3.9, 5.8), "fig7b-return": (-inf, 25.0),
        "retention": (-inf, 10.0)}


def test_pass_rule_needs_the_median_and_three_quarters_of_the_seeds():
    row = TABLE.row("fig5a-5mA")  # band 14-25 G0
    seeds = tuple(range(8))

    def res(values):
        return RowResult(row, seeds[: len(values)], np.asarray(values, float))

    assert res([20.0] * 6 + [30.0, 10.0]).passed(TABLE.rule)  # 6 of 8 in band
    assert not res([20.0] * 5 + [30.0, 30.0, 10.0]).passed(TABLE.rule)  # 5 of 8
    assert not res([20.0] * 7).passed(TABLE.rule)  # fewer than 8 seeds
    assert not res([20.0] * 5 + [np.nan] * 3).passed(TABLE.rule)  # NaN counts as out of band
    r = res([10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 22.0, 24.0])
    assert r.median == 17.0 and r.iqr == (13.5, 20.5) and r.fraction_in_band == 0.75


class _Run:
    """A stand-in for a loaded run file: the streams a pulse-train run writes."""

    def __init__(self, g_reads, v_read=0.1):
        from analysis.constants import G0

        g = np.asarray(g_reads, float)
        self.streams = {"samples": {"pulse_index": np.arange(g.size),
                                    "voltage_V": np.full(g.size, v_read),
                                    "current_A": g * G0 * v_read}}


def test_read_metrics_on_hand_made_reads():
    slow = _Run([0.01, 1.2, 2.0, 2.9, 3.1, 4.0, 4.1, 5.0])
    jump = _Run([0.01, 6.0, 6.1, 6.0, 6.1, 6.0, 6.1, 6.0])
    assert METRICS["last_read"]([[slow]]).value == pytest.approx(5.0)
    assert METRICS["rising_reads"]([[slow]]).value == 5.0
    assert METRICS["rising_reads"]([[jump]]).value == 1.0
    assert METRICS["increasing_last_reads"]([[slow], [jump]]).value == 1.0
    assert METRICS["increasing_last_reads"]([[jump], [slow]]).value == 0.0
    assert METRICS["first_read_ratio"]([[slow], [jump]]).value == pytest.approx(5.0)


def test_report_has_every_row_its_spread_and_a_figure(tmp_path):
    rows = TABLE.rows[:2]
    results = [RowResult(r, tuple(range(8)), np.linspace(r.lo, r.lo + 0.5, 8) if
                         np.isfinite(r.lo) else np.linspace(0, 1, 8),
                         Measured(1.0, np.linspace(0, 1, 50), np.linspace(0, 3, 50), "V (V)",
                                  "G / G0")) for r in rows]
    path = write_report(results, tmp_path, TABLE)
    text = path.read_text()
    for r in rows:
        assert (tmp_path / f"{r.id}.png").stat().st_size > 10_000
        assert f"| {r.id} | {r.paper} |" in text and r.band in text
    assert "IQR" in text and "in band" in text
    lines = (tmp_path / "calibration.csv").read_text().splitlines()
    assert lines[0].startswith("row,paper,paper_value,metric")
    assert len(lines) == 1 + len(rows)
