"""CSV export that opens anywhere, its JSON sidecar, ``info --json``, and import back.

Reference for "opens anywhere": RFC 4180 (one header line, comma separated, CRLF) as
read by pandas' default ``read_csv(path)``, which must give numeric columns without any
option (the earlier dialect gave ``' voltage_V'`` names and text columns).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.csv_io import read_csv_run
from analysis.runfile import list_runs, read_run
from labapp.cli import main as cli
from labapp.instrument_choice import connect
from protocols import (
    LTPLTD,
    DCSweep,
    Endurance,
    PulseTrain,
    ReadNoise,
    ResetTrain,
    Retention,
    RunEngine,
    WriteVerify,
)

#: one short run of every protocol (the reset train twice: SMU and PMU capture)
SMALL = [DCSweep(step=0.1, cycles=2), PulseTrain(count=3), ResetTrain(count=3),
         ResetTrain(count=2, width=2e-6, period=1e-5), LTPLTD(count=3),
         Retention(duration=100, interval=10), WriteVerify(target_g0=2.5), Endurance(cycles=2),
         ReadNoise(duration=0.1)]

#: keys the sidecar and ``info --json`` carry for every run
RUN_KEYS = {"run_id", "protocol", "status", "reason", "parameters", "outcome", "simulated",
            "seed", "instrument", "device", "operator", "notes", "streams"}


@pytest.fixture(scope="module")
def every_protocol(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "all.h5"
    engine = RunEngine(connect(sim=True, seed=5),
                       metadata={"device_id": "D9", "sample": "BFO-3", "operator": "ana",
                                 "notes": "export test"})
    for protocol in SMALL:
        result = engine.run(protocol, path)
        assert result.status == "completed", (protocol.name, result.reason)
    return path


def test_every_protocol_exports_csvs_pandas_reads_as_numbers(every_protocol, tmp_path, capsys):
    assert cli(["export", str(every_protocol), "--csv", str(tmp_path)]) == 0
    runs = list_runs(every_protocol)
    assert len(runs) == len(SMALL)
    for info in runs:
        side = json.loads((tmp_path / f"{info.run_id}.json").read_text())
        assert RUN_KEYS <= set(side), info.protocol
        assert side["simulated"] is True and side["seed"] == 5
        assert side["device"] == {"device_id": "D9", "sample": "BFO-3"}
        run = read_run(every_protocol, info.run_id)
        for stream, cols in run.streams.items():
            csv = tmp_path / f"{info.run_id}_{stream}.csv"
            assert csv.exists() == (info.rows[stream] > 0), (info.protocol, stream)
            if not info.rows[stream]:
                continue
            frame = pd.read_csv(csv)  # no options: plain RFC 4180
            assert len(frame) == info.rows[stream], (info.protocol, stream)
            assert all(frame[c].dtype.kind in "fiub" for c in frame), (
                info.protocol, stream, frame.dtypes.to_dict())
            assert side["streams"][stream]["rows"] == info.rows[stream]
            for name in cols:  # every stored column, SI-suffixed where it has a unit
                unit = run.units[stream][name]
                header = name if not unit or name.endswith(f"_{unit}") else f"{name}_{unit}"
                assert header in frame.columns, (stream, header)
                if cols[name].dtype.kind == "f":
                    np.testing.assert_allclose(frame[header], cols[name], rtol=1e-11,
                                               equal_nan=True)
                else:
                    np.testing.assert_array_equal(frame[header], cols[name].astype(int))
        if run.waveforms:  # per-pulse captures as one long table
            frame = pd.read_csv(tmp_path / f"{info.run_id}_waveforms.csv")
            pulses, samples = run.waveforms["current_A"].shape
            assert len(frame) == pulses * samples
            np.testing.assert_allclose(frame["current_A"].to_numpy().reshape(pulses, samples),
                                       run.waveforms["current_A"], rtol=1e-11)
    sweep = next(r for r in runs if r.protocol == "dc-sweep")
    frame = pd.read_csv(tmp_path / f"{sweep.run_id}_samples.csv")
    assert list(frame.columns[:3]) == ["time_s", "cycle", "segment"]
    assert sorted(frame["cycle"].unique()) == [0, 1] and frame["segment"].max() == 4
    pulses = next(r for r in runs if r.protocol == "pulse-train")
    table = pd.read_csv(tmp_path / f"{pulses.run_id}_pulses.csv")  # the pulse table too
    assert {"pulse_index", "width_s", "compliance_A"} <= set(table.columns)


def test_info_json_carries_the_run_keys(every_protocol, capsys):
    assert cli(["info", str(every_protocol), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["file"] == str(every_protocol) and len(data["runs"]) == len(SMALL)
    for entry, info in zip(data["runs"], list_runs(every_protocol), strict=True):
        assert RUN_KEYS <= set(entry)
        assert entry["run_id"] == info.run_id and entry["status"] == "completed"
        assert entry["simulated"] is True and entry["seed"] == 5
        assert entry["instrument"]["idn"].startswith("KEITHLEY INSTRUMENTS,KI4200A,SIM")
        assert {s: v["rows"] for s, v in entry["streams"].items()} == info.rows
        assert entry["streams"]["samples"]["columns"]["current_A"] == "A"
    wv = next(e for e in data["runs"] if e["protocol"] == "write-verify")
    assert wv["outcome"]["converged"] is True
    assert wv["parameters"]["target_g0"] == {"value": 2.5, "unit": "G0"}
    assert wv["parameters"]["v_max"]["unit"] == "V"


def test_info_text_shows_outcomes_readably(every_protocol, capsys):
    assert cli(["info", str(every_protocol)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "outcome:" in ln)
    assert "converged: yes" in line and "{" not in line and "True" not in line


def test_sidecar_imports_back_every_stream(every_protocol, tmp_path, capsys):
    info = next(r for r in list_runs(every_protocol) if r.protocol == "pulse-train")
    assert cli(["export", str(every_protocol), "--run", info.run_id, "--csv",
                str(tmp_path / "x")]) == 0
    back = tmp_path / "back.h5"
    assert cli(["import-csv", str(tmp_path / "x" / f"{info.run_id}.json"), "-o",
                str(back)]) == 0
    orig, new = read_run(every_protocol, info.run_id), read_run(back)
    assert new.protocol == "pulse-train" and new.attrs["device_id"] == "D9"
    assert new.attrs["operator"] == "ana" and new.parameters == orig.parameters
    assert set(new.streams) == set(orig.streams)
    for stream, cols in orig.streams.items():
        for name, col in cols.items():
            np.testing.assert_allclose(new.streams[stream][name].astype(float),
                                       col.astype(float), rtol=1e-11, equal_nan=True)
            assert new.units[stream][name] == orig.units[stream][name]
    # a reset train comes back with its per-pulse captures
    train = next(r for r in list_runs(every_protocol) if r.protocol == "reset-train")
    assert cli(["export", str(every_protocol), "--run", train.run_id, "--csv",
                str(tmp_path / "w")]) == 0
    assert cli(["import-csv", str(tmp_path / "w" / f"{train.run_id}.json"), "-o",
                str(tmp_path / "waves.h5")]) == 0
    orig, new = read_run(every_protocol, train.run_id), read_run(tmp_path / "waves.h5")
    assert set(new.waveforms) == set(orig.waveforms) == {"time_s", "voltage_V", "current_A"}
    for name, block in orig.waveforms.items():
        np.testing.assert_allclose(new.waveforms[name], block, rtol=1e-11)
    # one stream's CSV alone also finds its sidecar
    run = read_csv_run(tmp_path / "x" / f"{info.run_id}_samples.csv")
    assert run.protocol == "pulse-train" and run.param("count") == 3


def test_earlier_export_format_still_reads(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("# protocol: pulse-train\n# run_id: r1\n# status: completed\n"
                   "# param compliance = 0.005 A\n"
                   "time_s, voltage_V, current_A, conductance_G0, pulse_index, compliance\n"
                   "0, 0.1, 1e-05, 1.29, 0, 0\n1, 0.1, 2e-05, 2.58, 1, 1\n")
    run = read_csv_run(old)
    assert run.protocol == "pulse-train" and run.run_id == "r1"
    assert run.parameters["compliance"] == {"value": 0.005, "unit": "A"}
    np.testing.assert_allclose(run.samples["current_A"], [1e-5, 2e-5])
    assert run.samples["compliance"].tolist() == [False, True]
