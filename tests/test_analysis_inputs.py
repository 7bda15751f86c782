"""Inputs: G = I/V with masking and series-R correction, CSV files, run files."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.conductance import conductance_g0, series_apply, series_correct
from analysis.constants import G0
from analysis.csv_io import read_csv_run, write_csv
from analysis.inputs import load_run, main_stream
from analysis.runfile import RunFileError, RunWriter


def test_conductance_masks_small_voltage_and_corrects_series_r():
    v = np.array([0.0, 0.0005, 0.1, -0.2])
    i = np.array([1e-6, 1e-6, 0.1 * G0 * 3, -0.2 * G0 * 2.5])
    g = conductance_g0(v, i, v_min=0.001)
    assert np.isnan(g[:2]).all()
    np.testing.assert_allclose(g[2:], [3.0, 2.5])
    g_meas = series_apply(np.array([1.0, 10.0]), 200.0)
    np.testing.assert_allclose(series_correct(g_meas, 200.0), [1.0, 10.0])
    assert np.isnan(series_correct(np.array([1 / (200 * G0) * 1.01]), 200.0)[0])
    with pytest.raises(ValueError, match="series_resistance_ohm"):
        series_correct(g, -1.0)


def test_export_csv_roundtrip(tmp_path):
    p = write_csv(tmp_path / "a.csv", {"time_s": [0, 1, 2], "voltage_V": [0.1, 0.2, 0.3],
                                       "current_A": [1e-5, 2e-5, 3e-5],
                                       "pulse_index": [1, 2, 3]}, protocol="pulse-train")
    run = load_run(p)
    s = main_stream(run)
    assert run.protocol == "pulse-train"
    np.testing.assert_allclose(s["current_A"], [1e-5, 2e-5, 3e-5])
    assert s["pulse_index"].dtype.kind == "i"


def test_clarius_style_headers_with_units(tmp_path):
    p = tmp_path / "clarius.csv"
    p.write_text("Time (s);AV (V);AI (mA)\n0;0.1;1.0\n1;0.2;2.0\n")
    s = read_csv_run(p).samples
    np.testing.assert_allclose(s["current_A"], [1e-3, 2e-3])
    np.testing.assert_allclose(s["voltage_V"], [0.1, 0.2])


@pytest.mark.parametrize("content, message", [
    ("time,foo\n1,2\n", "need a voltage and a current column"),
    ("voltage_V,current_A\n", "no data rows"),
    ("voltage_V,current_A\n1,abc\n", "non-numeric"),
    ("", "no header"),
])
def test_bad_csv_files_name_file_and_problem(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(RunFileError, match=message) as err:
        load_run(p)
    assert "bad.csv" in str(err.value)


def test_run_file_and_missing_file(tmp_path):
    path = tmp_path / "r.h5"
    with RunWriter(path, "dc-sweep", {"v_set": (1.0, "V")},
                   {"samples": {"time_s": "f8", "voltage_V": "f8", "current_A": "f8"}}) as w:
        w.append("samples", {"time_s": [0.0], "voltage_V": [0.1], "current_A": [1e-5]})
    run = load_run(path)
    assert run.protocol == "dc-sweep" and main_stream(run)["current_A"].size == 1
    with pytest.raises(RunFileError, match="no such file"):
        load_run(tmp_path / "none.h5")
    with pytest.raises(RunFileError, match="one run"):
        load_run(tmp_path / "x.csv", run_id="other")


def test_run_file_export_reads_back(tmp_path):
    from analysis.csv_io import export_csv
    from analysis.runfile import read_run

    path = tmp_path / "r.h5"
    cols = {"time_s": "f8", "voltage_V": "f8", "current_A": "f8", "pulse_index": "i4",
            "compliance": "?"}
    with RunWriter(path, "pulse-train", {"v_pulse": (1.5, "V")}, {"samples": cols}) as w:
        w.append("samples", {"time_s": [0.0, 1.0], "voltage_V": [0.1, 0.1],
                             "current_A": [1e-5, 2e-5], "pulse_index": [1, 2],
                             "compliance": [False, True]})
    out, side = export_csv(path, tmp_path / "r.csv")
    assert side == tmp_path / "r.json"
    back = load_run(out)
    orig = read_run(path)
    assert back.protocol == "pulse-train" and back.run_id == orig.run_id
    assert back.parameters["v_pulse"] == {"value": 1.5, "unit": "V"}
    np.testing.assert_allclose(back.samples["current_A"], [1e-5, 2e-5])
    assert back.samples["compliance"].tolist() == [False, True]


def test_csv_with_blank_cells(tmp_path):
    p = tmp_path / "blank.csv"
    p.write_text("voltage_V,current_A,pulse_index\n0.1,1e-5,\n0.2,,2\n")
    s = load_run(p).samples
    assert np.isnan(s["current_A"][1]) and s["pulse_index"].tolist() == [-1, 2]
