"""``labapp nn`` end to end, and the training trends NeuroSim reports (paper 000 Fig. 7c-e).

The trend tests train paper 000's network on the shipped digits set (1 438 / 359 images)
for 15 epochs with several devices and compare the test accuracy (mean of the last five
epochs, one seed). The relations are NeuroSim's published ones (V3.0 manual, Table II and
its accuracy-versus-nonlinearity study): accuracy falls as the weight-update nonlinearity
grows (NL 0 -> 5 -> 10); an ideal device with enough states comes within 2 points of the
float baseline; fewer states cost accuracy; the measured device (NL ~ 5, paper 000 reports
5.08 / 4.85) sits below the ideal device with as many states. The thresholds (95 % float on
the digits test split, 2 points) are the issue's, fixed before any tuning.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("jax")

from analysis.neural import datasets  # noqa: E402
from analysis.neural import device_model as dm  # noqa: E402
from analysis.neural.training import TrainConfig, train  # noqa: E402
from labapp.cli import main  # noqa: E402

EPOCHS = 15
LAST = 5  # epochs averaged: few-state devices jump by a point or two from epoch to epoch

# The trend fixture trains ten networks (~80 s on two idle cores) and is charged to the first
# test that asks for it; on a machine busy with other work it can pass the suite's 300 s hang
# guard without hanging, so this module's guard is longer. Speed is measured in benchmarks/.
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def ltp_file(tmp_path_factory):
    """Paper 000 Fig. 7b on the simulated device: formed first, then the preset's train."""
    from labapp.reproduce import reproduce

    written = reproduce("fig7", tmp_path_factory.mktemp("nn"), nn_epochs=0, log=lambda s: None)
    return written[0]


@pytest.fixture(scope="module")
def accuracy(ltp_file):
    """Test accuracy (mean of the last epochs) per device, trained once per module."""
    data = datasets.load("digits")
    measured = dm.from_run(ltp_file)
    devices = {
        "float": None,
        "ideal-256": dm.ideal(256),
        "ideal-2": dm.ideal(2),
        "nl0-64": dm.ideal(64),  # NL 0 is the linear device
        "nl5-64": dm.with_label(5.0, 64),
        "nl10-64": dm.with_label(10.0, 64),
        "measured": measured,
        "ideal-measured": dm.ideal(measured.p_max),
        # paper 000's device as published: 30 pulses per phase, NL 5.08 / 4.85 (Fig. 7b, S13)
        "paper000": dm.with_label(5.08, 30, label_depression=4.85),
        "ideal-30": dm.ideal(30),
    }
    cfg = TrainConfig(epochs=EPOCHS, confusion_epochs=())
    out, done = {}, {}
    for name, device in devices.items():
        if device not in done:  # equal models (ideal-30 and ideal-measured) train once
            h = train(data, device, cfg)
            done[device] = float(np.mean(h.test_accuracy[-LAST:]))
            print(f"{name}: {done[device]:.4f} ({h.seconds:.1f} s)", flush=True)
        out[name] = done[device]
    out["measured-nl"] = (measured.nl_potentiation, measured.nl_depression)
    return out


@pytest.mark.slow
def test_float_baseline_reaches_95_percent_on_the_digits_test_split(accuracy):
    assert accuracy["float"] >= 0.95


@pytest.mark.slow
def test_ideal_device_with_enough_states_is_within_2_points_of_float(accuracy):
    assert accuracy["ideal-256"] >= accuracy["float"] - 0.02


@pytest.mark.slow
def test_accuracy_falls_as_the_nonlinearity_grows(accuracy):
    assert accuracy["nl0-64"] > accuracy["nl5-64"] > accuracy["nl10-64"]


@pytest.mark.slow
def test_fewer_states_cost_accuracy(accuracy):
    assert accuracy["ideal-2"] < accuracy["ideal-256"]


@pytest.mark.slow
def test_measured_device_is_below_the_ideal_one(accuracy):
    nl_up, nl_down = accuracy["measured-nl"]
    assert nl_up > 2.0 and nl_down > 2.0  # the simulated Fig. 7b device is clearly nonlinear
    assert accuracy["measured"] < accuracy["ideal-measured"]


@pytest.mark.slow
def test_paper000_device_nl_5_is_below_the_ideal_one(accuracy):
    assert accuracy["paper000"] < accuracy["ideal-30"]


def test_labapp_nn_writes_curves_matrices_and_json(ltp_file, tmp_path, capsys):
    out = tmp_path / "nn"
    code = main(["nn", str(ltp_file), "--dataset", "digits", "--epochs", "2", "--device",
                 "measured", "--device", "float", "--confusion-epochs", "1,2,300",
                 "-o", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dataset"] == "digits" and summary["n_test"] == 359
    model = summary["device_model"]
    assert model["p_max"] == 30 and model["sigma_c2c"] > 0
    assert set(summary["runs"]) == {"measured", "float"}
    for r in summary["runs"].values():
        assert r["epoch"] == [1, 2] and len(r["test_accuracy"]) == 2
        assert set(r["confusion"]) == {"1", "2"}  # epoch 300 is never reached
        m = np.asarray(r["confusion"]["2"])
        assert m.shape == (10, 10) and m.sum() == 359
        assert np.trace(m) / m.sum() == pytest.approx(r["test_accuracy"][-1])
    for name in ("fig7c_accuracy.png", "fig7d_loss.png", "fig7e_confusion.png",
                 "nn-summary.json", "nn-history-measured.csv", "nn-history-float.csv"):
        assert (out / name).stat().st_size > 0
    with (out / "nn-history-measured.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["test_accuracy"]) == pytest.approx(
        summary["runs"]["measured"]["test_accuracy"][1])


def test_labapp_nn_refuses_a_run_that_is_not_ltp_ltd(tmp_path, capsys):
    path = tmp_path / "sweep.h5"
    assert main(["run", "dc-sweep", "--sim", "--seed", "0", "-o", str(path), "--quiet"]) == 0
    code = main(["nn", str(path), "--epochs", "1", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "needs an ltp-ltd" in err[0] and "dc-sweep" in err[0]
    assert not (tmp_path / "o").exists()


def test_labapp_nn_mnist_without_files_says_which_files(ltp_file, tmp_path, capsys):
    code = main(["nn", str(ltp_file), "--dataset", "mnist", "--data-dir", str(tmp_path),
                 "--epochs", "1", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "train-images-idx3-ubyte" in err[0] and "not found" in err[0]
