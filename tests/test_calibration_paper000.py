"""Calibration of the simulated QC device against paper 000, row by row.

Every row of the calibration table runs as a protocol through the driver and the
simulated 4200A (in-process KXCI engine) on a seeded ensemble of devices; a second,
larger ensemble runs the same schedules on the device model directly. Each metric must
land in its accepted range; the ranges and the paper's targets are in
``sim_backend.qc_experiments.CHECKS`` (and in the report written by
``labapp.calibration.run_calibration``):

===============  ==================================  =======================================
row              metric (accepted range)              paper 000
===============  ==================================  =======================================
dc_loop          SET onset 0.9..1.6 V; top level     SET from ~1-1.5 V to >= 20 G0 (24 at
                 (5 mA) 20..45 G0; top rises 5<7<10  5 mA, 28 at 7 mA); RESET from 22-24
                 mA; level kept after SET 18..28 G0; G0, from about -1.5 V to a few G0;
                 RESET onset -1.9..-1.0 V; end       n and n+1/2 plateaus
                 <= 5 G0; >= 1 n+1/2 plateau/branch
pulsed_cc        max(1 mA) <= 4 G0; max(5 mA) 15..45    ~20 G0 vs ~1 G0
                 G0; max(5 mA)/max(1 mA) >= 2
amplitude        1.5 V: 2..14 G0; 2.3 V: 9..16 G0;   ~6 G0 (slow), ~12 G0
                 ratio >= 1.2
count            6-10 pulses 18..32 G0, >= 1 G0      ~18 G0 -> ~25 G0
                 above 2-4 pulses
read_disturb     reads > 1/4 G0 off: >= 5 % at 0.15  visible at 0.15 V, minimal at 0.1 V
                 V, <= 2 % at 0.1 V, ratio >= 3
reset_train      I_{i+1} < 1.02 I_i for >= 70 % of   gradual decay, I_{i+1} < I_i, 5-10 %
                 pulses on levels >= 1/2 G0; >= 80 % scatter
                 of level steps (>= 0.4 G0) fall;
                 I_500/I_1 <= 0.7; 5-95 % range of a
                 level 3..20 % (sigma/mu 1..12 %)
ltp_ltd          |NL| 2..9 for both halves           5.08 / 4.85
retention        max |G/G(0) - 1| <= 10 % (>= 2 G0)  within +-10 % over 6x10^3 s
rtn              >= 10 transitions; relative         two-level RTN at a low state
                 amplitude 1..50 %
===============  ==================================  =======================================
"""

from __future__ import annotations

import numpy as np
import pytest

from labapp.calibration import InstrumentRunner, run_calibration
from sim_backend.qc_experiments import CHECKS, ROWS, DirectRunner, calibrate

INSTRUMENT_SEEDS = (0, 1)
MODEL_SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def instrument_calibration(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("calibration-runs")
    runner = InstrumentRunner(workdir)
    return calibrate(runner, INSTRUMENT_SEEDS, ROWS), workdir


@pytest.fixture(scope="module")
def model_calibration():
    return calibrate(DirectRunner(), MODEL_SEEDS, ROWS)


def _ids(c):
    return f"{c.row}.{c.metric}[{c.lo:g}..{c.hi:g}]"


@pytest.mark.parametrize("check", CHECKS, ids=_ids)
def test_row_through_the_simulated_instrument(instrument_calibration, check):
    cal, _ = instrument_calibration
    value = cal.metrics[check.row][check.metric]
    assert check.ok(value), (
        f"{check.row}.{check.metric} = {value:.4g}, accepted {check.lo:g}..{check.hi:g} "
        f"(paper 000: {check.target})")


@pytest.mark.parametrize("check", CHECKS, ids=_ids)
def test_row_on_the_device_model(model_calibration, check):
    value = model_calibration.metrics[check.row][check.metric]
    assert check.ok(value), (
        f"{check.row}.{check.metric} = {value:.4g}, accepted {check.lo:g}..{check.hi:g} "
        f"(paper 000: {check.target})")


def test_instrument_rows_left_run_files_of_the_real_protocols(instrument_calibration):
    from analysis.inputs import load_run

    _, workdir = instrument_calibration
    files = sorted(workdir.glob("*.h5"))
    names = {f.name.split("-", 1)[1].rsplit(".", 1)[0] for f in files}
    assert {"dc-sweep", "pulse-train", "reset-train", "ltp-ltd", "retention",
            "read-noise"} <= names
    run = load_run(next(f for f in files if f.name.endswith("dc-sweep.h5")))
    assert run.status == "completed"
    assert run.streams["samples"]["voltage_V"].size == 12_001  # 1 mV steps over +-3 V


def test_instrument_and_model_agree_on_the_compliance_knob(instrument_calibration,
                                                           model_calibration):
    cal, _ = instrument_calibration
    for key in ("top_G0_5mA", "top_G0_7mA", "top_G0_10mA"):
        a, b = cal.metrics["dc_loop"][key], model_calibration.metrics["dc_loop"][key]
        assert a == pytest.approx(b, rel=0.15), key


def test_report_has_a_figure_per_row_and_the_target_table(tmp_path):
    path = run_calibration(tmp_path, seed=5, devices=1, rows=("amplitude", "count"))
    text = path.read_text()
    assert path.name == "calibration.md"
    for row in ("amplitude", "count"):
        assert (tmp_path / f"{row}.png").stat().st_size > 10_000
        assert f"![{row}]({row}.png)" in text
    assert "| amplitude | `final_G0_2.3V` | ~12 G0 |" in text
    csv_rows = (tmp_path / "calibration.csv").read_text().splitlines()
    assert csv_rows[0].startswith("row,metric,paper_target")
    assert len(csv_rows) == 1 + sum(c.row in ("amplitude", "count") for c in CHECKS)
    assert any((tmp_path / "runs").glob("*pulse-train.h5"))


def test_unknown_rows_and_empty_ensembles_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="rows"):
        calibrate(DirectRunner(), (0,), ("dc_loop", "nonsense"))
    with pytest.raises(ValueError, match="devices"):
        run_calibration(tmp_path, devices=0)
    assert np.isfinite(CHECKS[0].lo)
