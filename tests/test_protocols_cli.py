"""``labapp run`` for every protocol, presets, --set with units, the progress bar."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from analysis.runfile import list_runs, read_run
from labapp.cli import main as cli
from labapp.commands.run import Progress
from labapp.instrument_choice import connect
from protocols import PROTOCOLS, EventKind, RunStarted, build, load_presets
from protocols.preset_library import PRESET_DIR, PresetError

SMALL = {
    "dc-sweep": ["step=0.05", "cycles=2"],
    "pulse-train": ["count=3", "compliance=2mA"],
    "reset-train": ["count=4", "width=5ms"],
    "ltp-ltd": ["count=3"],
    "retention": ["duration=100", "interval=1"],
    "write-verify": ["target_g0=2.5"],
    "endurance": ["cycles=3"],
    "read-noise": ["duration=1", "rate=200"],
}


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_cli_runs_every_protocol(name, tmp_path, capsys):
    path = tmp_path / "cli.h5"
    args = ["run", name, "--sim", "--seed", "2", "-o", str(path), "--quiet",
            "--device-id", "dev-1", "--operator", "op"]
    for item in SMALL[name]:
        args += ["--set", item]
    assert cli(args) == 0
    out = capsys.readouterr().out.strip()
    m = re.fullmatch(rf"{re.escape(str(path))} run (\S+) status completed.*", out)
    assert m, out
    run = read_run(path, m.group(1))
    assert run.protocol == name and run.attrs["device_id"] == "dev-1"
    cls = PROTOCOLS[name]
    for item in SMALL[name]:
        key, _, text = item.partition("=")
        param = next(p for p in cls.params if p.name == key)
        assert run.param(key) == param.parse(text)
    assert all(len(next(iter(cols.values()))) > 0 for s, cols in run.streams.items()
               if s in ("samples",))


def test_cli_preset_with_override(tmp_path, capsys):
    path = tmp_path / "p.h5"
    assert cli(["run", "pulse-train", "--sim", "--preset", "paper000-fig5d-set-4pulses",
                "--set", "v_read=0.15", "-o", str(path), "--quiet"]) == 0
    run = read_run(path)
    assert run.param("count") == 4 and run.param("width") == 0.02
    assert run.param("v_read") == 0.15 and run.attrs["preset"] == "paper000-fig5d-set-4pulses"
    assert run.streams["pulses"]["pulse_index"].size == 4
    capsys.readouterr()
    assert cli(["run", "dc-sweep", "--sim", "--preset", "paper000-fig5d-set-4pulses", "-o",
                str(tmp_path / "x.h5")]) == 1
    assert "is for pulse-train" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_presets_listing_and_paper_values(capsys):
    assert cli(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("forming", "paper000-fig6-reset-train", "paper000-fig7-ltp-ltd",
                 "paper000-fig5a-set-cc1mA"):
        assert name in out
    presets = load_presets()
    fig5 = {n: p.resolved() for n, p in presets.items() if n.startswith("paper000-fig5")}
    # 1 and 5 mA (Fig. 5a); Fig. 5b/5c's "constant compliance" is not given: 2.2 mA chosen
    assert {v["compliance"] for v in fig5.values()} == {1e-3, 2.2e-3, 5e-3}
    assert {v["amplitude"] for n, v in fig5.items() if "fig5b" in n} == {1.5, 1.9, 2.3}
    assert {abs(v["v_read"]) for n, v in fig5.items() if "fig5c" in n} == {0.1, 0.15}
    assert sorted(v["count"] for n, v in fig5.items() if "fig5d" in n) == [2, 4, 6, 8, 10]
    assert all(v["width"] == 0.02 for v in fig5.values())
    assert all(v["v_read"] < 0 for n, v in fig5.items() if "-reset-" in n)
    fig6 = presets["paper000-fig6-reset-train"].resolved()
    assert (fig6["amplitude"], fig6["width"], fig6["count"]) == (-1.5, 5e-3, 500)
    forming = build("dc-sweep", "forming")
    assert forming.values.sweep == "set-only" and forming.values.compliance_set == 1e-4
    assert cli(["presets", "forming"]) == 0
    assert "--set compliance_set=100uA" in capsys.readouterr().out


def test_every_preset_file_is_plain_json_and_valid():
    for f in sorted(PRESET_DIR.glob("*.json")):
        data = json.loads(f.read_text())
        assert set(data) <= {"protocol", "title", "source", "values"}
        build(data["protocol"], f.stem)  # validated by the protocol's declarations


def test_bad_preset_value_is_reported(tmp_path, monkeypatch):
    from protocols import preset_library

    (tmp_path / "bad.json").write_text(json.dumps(
        {"protocol": "pulse-train", "values": {"compliance": "5A"}}))
    monkeypatch.setattr(preset_library, "PRESET_DIR", tmp_path)
    monkeypatch.setattr(preset_library.load_presets, "__defaults__", (tmp_path,))
    with pytest.raises(Exception) as err:
        build("pulse-train", "bad")
    assert "compliance" in str(err.value)
    with pytest.raises(PresetError):
        build("pulse-train", "missing")


def test_progress_bar_with_eta():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = Progress(True, stream)
    bar(EventKind.START, RunStarted(PROTOCOLS["pulse-train"](), "r1", Path("r.h5"), True, 1,
                                    {}))
    bar("progress", 0.25)
    bar("progress", 0.5)
    bar("stop", None)
    text = stream.getvalue()
    assert "25.0 %" in text and "50.0 %" in text and "ETA" in text and text.endswith("\n")
    quiet = io.StringIO()
    Progress(False, quiet)("progress", 0.5)
    assert quiet.getvalue() == ""


def test_python_api_in_a_few_lines(tmp_path):
    # the README example
    from protocols import RunEngine, WriteVerify

    k4200 = connect(sim=True, seed=1)
    result = RunEngine(k4200).run(WriteVerify(target_g0=5.5), tmp_path / "wv.h5")
    assert result.status == "completed" and result.outcome["converged"]
    assert [r.run_id for r in list_runs(tmp_path / "wv.h5")] == [result.run_id]
    g = read_run(tmp_path / "wv.h5").samples["conductance_G0"]
    assert abs(g[-1] - 5.5) <= 0.275 and np.isfinite(g).all()


def test_cli_write_verify_unreachable_exits_nonzero_with_reason(tmp_path, capsys):
    path = tmp_path / "wv.h5"
    assert cli(["run", "write-verify", "--sim", "--set", "target_g0=200", "--set",
                "limit_pulses=3", "-o", str(path), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "status completed (amplitude limit" in out and "200 G0" in out
    assert read_run(path).attrs["outcome"]["converged"] is False
