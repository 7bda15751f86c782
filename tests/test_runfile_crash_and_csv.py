"""Run files: readable while written (SWMR), survive SIGKILL of the writer, CSV out and in."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from analysis.constants import G0
from analysis.csv_io import read_csv_run
from analysis.runfile import RunWriter, list_runs, read_run
from labapp.cli import main as cli
from labapp.commands.import_csv import import_csv
from labapp.instrument_choice import connect
from protocols import PulseTrain, RunEngine


def test_writer_flushes_without_further_appends(tmp_path):
    path = tmp_path / "w.h5"
    w = RunWriter(path, "x", {}, {"samples": {"time_s": "f8", "current_A": "f8"}},
                  flush_interval=0.2)
    w.append("samples", {"time_s": np.arange(10.0), "current_A": np.ones(10)})
    assert w.rows("samples") == 10
    time.sleep(0.8)  # no more rows: the background flusher still writes the pending ones
    assert list_runs(path)[0].rows["samples"] == 10
    w.close()
    assert read_run(path).status == "completed"


def test_sigkill_mid_run_swmr_info_and_repair(tmp_path, capsys):
    path = tmp_path / "killed.h5"
    # 30 000 samples at 100/s paced at 20x: several 4096-point tests of ~2 s each
    proc = subprocess.Popen(
        [sys.executable, "-m", "labapp.cli", "run", "read-noise", "--sim", "--sim-speed", "20",
         "--set", "duration=300", "--set", "rate=100", "-o", str(path), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        rows = 0
        while rows == 0:  # read by another process while the writer runs (SWMR)
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.1)
            if path.exists():
                try:
                    runs = list_runs(path)
                except Exception:  # noqa: BLE001 - the file is being created
                    continue
                if runs:
                    assert runs[0].status == "running" and not runs[0].complete
                    rows = runs[0].rows["samples"]
        live = read_run(path)
        assert live.status == "incomplete"
        assert live.samples["time_s"].size == rows
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    run = read_run(path)  # opens after the kill, with everything up to the last flush
    assert run.status == "incomplete" and run.attrs["complete"] is False
    s = run.samples
    assert s["time_s"].size >= rows and s["time_s"].size % 4096 == 0
    assert np.all(np.diff(s["time_s"]) > 0)
    np.testing.assert_allclose(s["v_program_V"], 0.1)
    assert cli(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "incomplete" in out and "--repair" in out
    assert cli(["info", str(path), "--repair"]) == 0
    out = capsys.readouterr().out
    assert "repaired run" in out
    info = list_runs(path)[0]
    assert info.complete and info.status == "incomplete"
    assert read_run(path).samples["time_s"].size == s["time_s"].size


@pytest.fixture
def pulse_file(tmp_path):
    path = tmp_path / "p.h5"
    k = connect(sim=True, seed=4)
    e = RunEngine(k, metadata={"device_id": "D7", "sample": "S1", "operator": "ana"})
    r1 = e.run(PulseTrain(count=4), path)
    r2 = e.run(PulseTrain(count=2, polarity="reset", v_read=-0.1), path)
    return path, r1.run_id, r2.run_id


def test_export_one_csv_per_run_and_stream(pulse_file, tmp_path, capsys):
    path, r1, r2 = pulse_file
    assert cli(["export", str(path), "--csv", str(tmp_path / "out")]) == 0
    files = sorted((tmp_path / "out").glob("*.csv"))
    assert [f.name for f in files] == sorted(f"{r}_{s}.csv" for r in (r1, r2)
                                             for s in ("pulses", "samples"))
    assert sorted(f.name for f in (tmp_path / "out").glob("*.json")) == sorted(
        [f"{r1}.json", f"{r2}.json"])
    samples = tmp_path / "out" / f"{r1}_samples.csv"
    raw = samples.read_bytes()
    text = raw.decode().split("\r\n")  # RFC 4180 line ends
    assert text[0] == ("time_s,cycle,pulse_index,phase,v_program_V,voltage_V,current_A,"
                       "conductance_G0,compliance")
    assert not any(line.startswith("#") for line in text) and ", " not in raw.decode()
    side = json.loads((tmp_path / "out" / f"{r1}.json").read_text())
    assert side["protocol"] == "pulse-train" and side["run_id"] == r1
    assert side["parameters"]["compliance"] == {"value": 0.005, "unit": "A"}
    assert side["device"] == {"device_id": "D7", "sample": "S1"} and side["operator"] == "ana"
    assert side["streams"]["samples"]["file"] == samples.name
    table = read_csv_run(samples).samples  # the analysis reads it back
    run = read_run(path, r1)
    np.testing.assert_allclose(table["time_s"], run.samples["time_s"], rtol=1e-9)
    np.testing.assert_allclose(table["current_A"], run.samples["current_A"], rtol=1e-9)
    np.testing.assert_array_equal(table["pulse_index"], run.samples["pulse_index"])
    assert read_csv_run(samples).protocol == "pulse-train"  # metadata from the sidecar
    # a single run to a named file
    assert cli(["export", str(path), "--run", r2, "--csv", str(tmp_path / "one.csv")]) == 0
    assert (tmp_path / "one.csv").exists() and (tmp_path / "one.json").exists()
    assert str(tmp_path / "one.csv") in capsys.readouterr().out


def test_export_then_import_round_trip(pulse_file, tmp_path):
    path, r1, _ = pulse_file
    cli(["export", str(path), "--run", r1, "--csv", str(tmp_path / "r.csv")])
    rid = import_csv(tmp_path / "r.csv", tmp_path / "back.h5")
    back, orig = read_run(tmp_path / "back.h5", rid), read_run(path, r1)
    assert back.protocol == "pulse-train" and back.status == "completed"
    for col in ("time_s", "voltage_V", "current_A", "conductance_G0", "pulse_index"):
        np.testing.assert_allclose(back.samples[col], orig.samples[col], rtol=1e-9)
    assert back.units["samples"]["current_A"] == "A"
    assert back.param("compliance") == pytest.approx(0.005)
    assert back.attrs["source_file"].endswith("r.csv")


def test_import_clarius_column_names(tmp_path, capsys):
    csv = tmp_path / "clarius.csv"
    v = np.linspace(0.01, 1.0, 50)
    i = v * 3 * G0
    lines = ["Time,AV,AI"] + [f"{0.01 * n:.4f},{a:.6g},{b:.6g}" for n, (a, b) in
                             enumerate(zip(v, i, strict=True))]
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "legacy.h5"
    assert cli(["import-csv", str(csv), "-o", str(out), "--device-id", "old-7",
                "--protocol", "dc-sweep"]) == 0
    assert str(out) in capsys.readouterr().out
    run = read_run(out)
    assert run.protocol == "dc-sweep" and run.attrs["device_id"] == "old-7"
    np.testing.assert_allclose(run.samples["conductance_G0"], 3.0, rtol=1e-5)
    np.testing.assert_allclose(run.samples["time_s"], 0.01 * np.arange(50), atol=1e-9)


def test_import_bad_csv_is_one_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert cli(["import-csv", str(bad), "-o", str(tmp_path / "x.h5")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bad.csv" in err and "current" in err


def test_writer_refuses_foreign_file_and_duplicate_run_cleanly(tmp_path):
    import h5py

    from analysis.runfile import RunFileError

    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    with pytest.raises(RunFileError, match="not a labapp run file"):
        RunWriter(foreign, "x", {}, {"s": {"time_s": "f8"}})
    path = tmp_path / "dup.h5"
    RunWriter(path, "x", {}, {"s": {"time_s": "f8"}}, run_id="r1").close()
    with pytest.raises(RunFileError, match="already exists"):
        RunWriter(path, "x", {}, {"s": {"time_s": "f8"}}, run_id="r1")
    w = RunWriter(path, "x", {}, {"s": {"time_s": "f8"}}, run_id="r2")  # file still usable
    w.close("stopped", reason="test")
    assert [r.run_id for r in list_runs(path)] == ["r1", "r2"]
