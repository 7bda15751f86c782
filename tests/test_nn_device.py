"""The device model and pulse physics behind ``labapp nn`` (paper 000 Fig. 7c-e).

References held to: NeuroSim V3.0's published nonlinearity pairs (label 2.40 <-> A/P_max =
0.4992, 4.88 <-> 0.2003, its manual's Table II); the NeuroSim update equations as
implemented and tested in :mod:`analysis.nonlinearity` (the device curves here must be the
same curves); the published file formats of MNIST (IDX, LeCun et al.) and CIFAR-10 (python
batches, Krizhevsky 2009) for the loaders.
"""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from analysis.neural import datasets  # noqa: E402
from analysis.neural import device_model as dm  # noqa: E402
from analysis.neural.training import device_vector, pulse_update  # noqa: E402
from analysis.nonlinearity import fit_update, g_ltd, g_ltp, nl_label  # noqa: E402


@pytest.mark.parametrize(("label", "a_over_pmax"), [(2.40, 0.4992), (4.88, 0.2003)])
def test_label_to_shape_matches_neurosim_published_pairs(label, a_over_pmax):
    c = dm.c_for_label(label)
    assert 1.0 / c == pytest.approx(a_over_pmax, rel=0.01)  # NeuroSim table, 2 decimals


def test_label_zero_is_linear_and_labels_out_of_reach_are_refused():
    assert dm.c_for_label(0.0) == 0.0
    with pytest.raises(ValueError, match="beyond a step-like device"):
        dm.c_for_label(12.0)


def _pulse(device, yp, ym, n):
    yp, ym = pulse_update(jax.numpy.asarray(yp, dtype=float), jax.numpy.asarray(ym, float),
                          jax.numpy.asarray(n, float), jax.random.PRNGKey(0),
                          device_vector(device))
    return np.asarray(yp), np.asarray(ym)


def test_potentiation_follows_the_fitted_neurosim_curve():
    device = dm.with_label(4.88, 40)
    a = device.p_max / device.c_potentiation
    expected = g_ltp(np.arange(41), a, 0.0, 1.0, 40)  # analysis.nonlinearity's eq. 2
    y = np.zeros(1)
    ym = np.zeros(1)
    got = [0.0]
    for _ in range(40):  # one pulse at a time: the device must walk the curve
        y, ym = _pulse(device, y, ym, [1])
        got.append(float(y[0]))
    assert np.allclose(got, expected, atol=2e-5)


def test_depression_follows_the_fitted_neurosim_curve_from_the_top():
    device = dm.with_label(2.40, 30)
    a = device.p_max / device.c_depression
    # pulse position P = P_max - k for k depression pulses (analysis.nonlinearity's eq. 3)
    expected = g_ltd(30 - np.arange(31), a, 0.0, 1.0, 30)
    yp = np.ones(1)
    ym = np.ones(1)
    got = [1.0]
    for _ in range(30):  # decreasing W with G- at its top (no room) depresses G+
        yp, ym = _pulse(device, yp, ym, [-1])
        got.append(float(yp[0]))
        assert ym[0] == 1.0
    assert np.allclose(got, expected, atol=2e-5)


def test_ideal_device_moves_one_step_per_pulse_and_saturates():
    device = dm.ideal(20)
    yp, ym = _pulse(device, [0.5, 0.5, 0.95], [0.5, 0.5, 0.0], [3, 0, 5])
    # 3 pulses potentiate G+ (both devices have equal room): +3/20; 0 pulses: unchanged;
    # G+ near its top and G- at 0: G+ potentiated to its end
    assert yp == pytest.approx([0.65, 0.5, 1.0])
    assert ym == pytest.approx([0.5, 0.5, 0.0])


def test_a_weight_increase_pulses_the_device_with_more_room():
    device = dm.ideal(10)
    # G+ at 0.9 has 0.1 of room upwards, G- at 0.6 has 0.6 downwards: depress G-
    yp, ym = _pulse(device, [0.9], [0.6], [2])
    assert yp == pytest.approx([0.9])
    assert ym == pytest.approx([0.4])


def test_device_model_recovers_a_known_curve_and_its_spread():
    rng = np.random.default_rng(3)
    a_up, a_down, pmax, gmin, gmax = 6.0, 8.0, 30, 2.0, 12.0
    up = g_ltp(np.arange(31), a_up, gmin, gmax, pmax)
    down = g_ltd(30 - np.arange(31), a_down, gmin, gmax, pmax)
    sigma = 0.02 * (gmax - gmin)
    up_meas = up + np.cumsum(rng.normal(0, sigma, 31))
    down_meas = down + np.cumsum(rng.normal(0, sigma, 31))
    fits = {"potentiation": fit_update(up_meas, "potentiation"),
            "depression": fit_update(down_meas, "depression")}
    model = dm.from_fits(fits, up_meas, down_meas, "synthetic")
    assert model.p_max == 30
    assert model.nl_potentiation == pytest.approx(nl_label(a_up / pmax), abs=0.8)
    assert model.nl_depression == pytest.approx(nl_label(a_down / pmax), abs=0.8)
    # increments scatter by sigma per pulse (a random walk of the pulses' spread)
    assert model.sigma_c2c == pytest.approx(0.02, rel=0.35)
    assert model.distinct_states > 10


def test_device_model_needs_both_halves():
    up = g_ltp(np.arange(31), 6.0, 2.0, 12.0, 30)
    with pytest.raises(ValueError, match="no depression half"):
        dm.from_fits({"potentiation": fit_update(up, "potentiation")}, up, up, "x")


# -- data sets ---------------------------------------------------------------------------
def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_mnist_idx_files_load_gzipped_or_plain(tmp_path):
    rng = np.random.default_rng(0)
    tr = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    te = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(tr)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx(np.arange(5, dtype=np.uint8)))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx(te))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx(np.array([9, 8, 7], dtype=np.uint8))))
    d = datasets.load("mnist", tmp_path)
    assert d.x_train.shape == (5, 28, 28, 1) and d.x_test.shape == (3, 28, 28, 1)
    assert np.allclose(d.x_train[..., 0] * 255, tr)
    assert d.y_test.tolist() == [9, 8, 7]


def test_mnist_missing_or_malformed_files_name_the_file(tmp_path):
    with pytest.raises(datasets.DatasetError, match="train-images-idx3-ubyte.*not found"):
        datasets.load("mnist", tmp_path)
    with pytest.raises(datasets.DatasetError, match="needs --data-dir"):
        datasets.load("mnist", None)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 5)
    with pytest.raises(datasets.DatasetError, match="IDX header cut short"):
        datasets.load("mnist", tmp_path)


def test_cifar10_python_batches_load_as_rgb_images(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    first = None
    for name in [*datasets.CIFAR_TRAIN, datasets.CIFAR_TEST]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        first = data if first is None else first
        with (folder / name).open("wb") as fh:
            pickle.dump({b"data": data, b"labels": [0, 1, 2, 3]}, fh)
    d = datasets.load("cifar10", tmp_path)
    assert d.x_train.shape == (20, 32, 32, 3) and d.x_test.shape == (4, 32, 32, 3)
    # the row is 1024 red, then 1024 green, then 1024 blue values, row-major
    assert d.x_train[0, 0, 1, 0] * 255 == pytest.approx(first[0, 1])
    assert d.x_train[0, 0, 0, 2] * 255 == pytest.approx(first[0, 2048])
    assert d.classes[9] == "truck"


def test_cifar10_binary_version_loads_the_same_layout(tmp_path):
    rng = np.random.default_rng(2)
    first = None
    for name in [*datasets.CIFAR_TRAIN, datasets.CIFAR_TEST]:
        records = rng.integers(0, 256, (3, 3073), dtype=np.uint8)
        records[:, 0] = [7, 8, 9]
        first = records if first is None else first
        records.tofile(tmp_path / f"{name}.bin")
    d = datasets.load("cifar10", tmp_path)
    assert d.x_train.shape == (15, 32, 32, 3) and d.y_train[:3].tolist() == [7, 8, 9]
    assert d.x_train[0, 0, 0, 1] * 255 == pytest.approx(first[0, 1 + 1024])  # green plane


def test_a_crafted_cifar_pickle_cannot_run_code(tmp_path):
    marker = tmp_path / "EXECUTED"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in [*datasets.CIFAR_TRAIN, datasets.CIFAR_TEST]:
        with (tmp_path / name).open("wb") as fh:
            pickle.dump({b"data": Evil(), b"labels": [0]}, fh)
    with pytest.raises(datasets.DatasetError, match="not a CIFAR-10 batch .refusing to build"):
        datasets.load("cifar10", tmp_path)
    assert not marker.exists()


def test_digits_are_framed_like_mnist_and_split_by_class():
    d = datasets.load("digits")
    assert d.x_train.shape[1:] == (28, 28, 1)
    assert d.x_train.shape[0] + d.x_test.shape[0] == 1797
    assert d.x_train[:, :4].max() == 0 and d.x_train[:, 24:].max() == 0  # 4-pixel border
    counts = np.bincount(d.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 20 % of each class (~180 each)
