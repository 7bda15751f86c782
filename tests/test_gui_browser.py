"""Data browser: open run files, list runs, analysis views, export (offscreen Qt)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.csv_io import export_run
from analysis.runfile import list_runs
from labapp.gui.analysis_views import VIEWS
from labapp.gui.data_browser import DataBrowser
from labapp.instrument_choice import connect
from protocols import DCSweep, RunEngine, SafetyProfile
from tests.support.synthetic import write_synthetic_run


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    """Two real DC-sweep runs from the simulator (QC steps in the SET branch); read-only."""
    path = tmp_path_factory.mktemp("browser") / "sweeps.h5"
    for seed, protocol in ((1, DCSweep(cycles=1, step=0.01, integration="short")),
                           (2, DCSweep(cycles=3, step=0.005, integration="short"))):
        engine = RunEngine(connect(sim=True, seed=seed), SafetyProfile(4.0, 0.02),
                           {"device_id": "D7", "operator": "ana"})
        assert engine.run(protocol, path).status == "completed"
    return path


def show(browser: DataBrowser, view: str):
    """Choose a view and wait (bounded) for its analysis and drawing."""
    browser.set_view(view)
    return browser.wait_view(timeout=30)


@pytest.fixture
def browser(qtbot):
    b = DataBrowser()
    qtbot.addWidget(b)
    b.resize(1200, 700)
    b.show()
    return b


def test_open_lists_runs_with_status_and_metadata(browser, sweep_file):
    assert browser.open_file(sweep_file)
    assert browser.runs_table.rowCount() == 2
    cells = [browser.runs_table.item(1, c).text() for c in range(browser.runs_table.columnCount())]
    assert cells[1] == "dc-sweep" and cells[2] == "completed" and "D7" in cells
    # the newest run is selected and its stored table is shown
    assert browser.run.run_id == list_runs(sweep_file)[-1].run_id
    assert browser.table_model.rowCount() == browser.run.samples["voltage_V"].size
    assert "max_voltage_V" in browser.meta.toPlainText()
    assert "ana" in browser.meta.toPlainText()


def test_histogram_view_shows_fitted_peaks_at_half_integers(browser, sweep_file):
    browser.open_file(sweep_file)
    res = show(browser, "Histogram + fit")
    assert res is not None, browser.summary.toPlainText()
    assert res.columns["counts"].sum() > 100
    assert "fitted peaks" in res.text
    peaks = [ln for ln in res.text.splitlines() if ln.startswith("peak ")]
    assert peaks, res.text
    # the simulated device's plateaus sit near n/2 G0: fitted centres within 0.15 G0
    centers = np.array([float(ln.split()[1]) for ln in peaks])
    assert np.min(np.abs(centers - np.round(2 * centers) / 2)) < 0.15
    items = browser.plot_widget.getPlotItem().listDataItems()
    assert len(items) >= 2  # bars + fitted model


def test_every_view_draws_or_explains(browser, sweep_file, tmp_path):
    rng = np.random.default_rng(5)
    pulses = tmp_path / "pulses.h5"
    write_synthetic_run(str(pulses), "ltp-ltd", rng)
    write_synthetic_run(str(pulses), "reset-train", rng, n_pulses=60)
    browser.open_file(pulses)
    ids = [r.run_id for r in browser.runs]
    for run_id, wanted in zip(ids, (("LTP/LTD fit", "Time-lag map", "Plateaus"),
                                    ("Polar plot", "Time-lag map", "Histogram + fit")),
                              strict=True):
        browser.select_run(ids.index(run_id))
        for view in wanted:
            show(browser, view)
            assert browser.result is not None, (view, browser.summary.toPlainText())
    browser.select_run(0)
    show(browser, "LTP/LTD fit")
    assert "NL label" in browser.result.text
    # a sweep has no pulses: the polar view says why instead of drawing nonsense
    browser.open_file(sweep_file)
    show(browser, "Polar plot")
    assert browser.result is None and "per-pulse" in browser.summary.toPlainText()
    for view in VIEWS:
        show(browser, view)  # none raises
        assert not browser.busy


def test_export_png_and_csv(browser, sweep_file, tmp_path):
    browser.open_file(sweep_file)
    show(browser, "Histogram + fit")
    png = browser.export_png(tmp_path / "out" / "hist.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    csv = browser.export_csv(tmp_path / "out" / "hist.csv")
    lines = csv.read_text().splitlines()
    assert lines[0] == "g_center_G0,counts,fit_counts"  # the CLI export's plain dialect
    assert len(lines) == 1 + browser.result.columns["counts"].size
    side = json.loads(csv.with_suffix(".json").read_text())
    assert side["protocol"] == "dc-sweep" and side["view"] == "Histogram + fit"
    # the stored stream, as 'labapp export' writes it (same writer, same bytes)
    browser.result = None
    browser.stream_box.setCurrentText("samples")
    mine = browser.export_csv(tmp_path / "gui" / "samples.csv")
    cli_files = export_run(browser.run, tmp_path / "cli")
    assert mine.read_bytes() == next(f for f in cli_files
                                     if f.name.endswith("_samples.csv")).read_bytes()


def test_bad_file_is_a_clear_message(browser, tmp_path):
    bad = tmp_path / "not-a-run.h5"
    bad.write_bytes(b"hello")
    assert not browser.open_file(bad)
    assert "not a readable HDF5 file" in browser.message.text()
    assert not browser.open_file(tmp_path / "missing.h5")
    assert "no such file" in browser.message.text()


def _gui(*argv: str) -> int:
    """``labapp gui ...`` in this process (the test's QApplication runs its event loop)."""
    from labapp.cli import build_parser

    args = build_parser().parse_args(["gui", *argv])
    return args.func(args)


def test_cli_screenshot_of_the_browser_and_of_a_live_run(qapp, tmp_path, sweep_file):
    shot = tmp_path / "browser.png"
    assert _gui("--open", str(sweep_file), "--view", "Plateaus", "--screenshot", str(shot),
                "--after", "0.3") == 0
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
    live, run_file = tmp_path / "live.png", tmp_path / "live.h5"
    assert _gui("--sim-speed", "4", "--run", "--protocol", "dc-sweep", "--set", "cycles=20",
                "--set", "integration=short", "-o", str(run_file), "--screenshot", str(live),
                "--after", "1.5") == 0
    assert live.stat().st_size > 20_000
    info = list_runs(run_file)[-1]  # the window closed mid-run: aborted, and why
    assert info.status == "aborted" and "window closed" in info.attrs["reason"]
    assert info.rows["samples"] > 0


def test_cli_rejects_an_unknown_view(capsys):
    assert _gui("--view", "nope") == 2
    assert "Histogram + fit" in capsys.readouterr().err
