"""Image data sets for the network of paper 000 Fig. 7, from local files only.

- ``digits``: scikit-learn's 8x8 handwritten digits (1 797 images, shipped in its wheel).
  Each image is scaled to 20x20 and centred in a 28x28 frame, as MNIST's digits are, so
  paper 000's network (built for 28x28) runs on it unchanged. A fixed, stratified 80/20
  split gives 1 438 training and 359 test images.
- ``mnist``: the four standard IDX files (LeCun, Cortes and Burges), gzipped or not, in one
  folder: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``. IDX: a big-endian header
  (magic 0x00000803 for images, 0x00000801 for labels, then the dimensions), then bytes.
- ``cifar10``: the CIFAR-10 batches (Krizhevsky 2009) in the folder or in its
  ``cifar-10-batches-bin`` / ``cifar-10-batches-py``: the "binary version"
  (``data_batch_1.bin`` ... ``data_batch_5.bin``, ``test_batch.bin``: records of one label
  byte and 3072 pixel bytes) or the "python version" (``data_batch_1`` ... ``test_batch``:
  pickles of a dict with ``data``, N x 3072 uint8, and ``labels``). Pixels are R, G, B
  planes of 32x32, row-major. Python-version pickles are read by an unpickler that only
  builds dicts, lists, strings, numbers and numpy arrays (never other classes or calls), so
  a crafted file cannot run code.

Nothing is downloaded: a missing file is one error naming the file and where to put it.
Images come back as float32 arrays (N, H, W, C) in [0, 1] and labels as int32 (N,).
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DATASETS = ("digits", "mnist", "cifar10")
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")


class DatasetError(ValueError):
    """A data set that cannot be loaded (missing or malformed file); one line of text."""


@dataclass(frozen=True)
class Dataset:
    """Training and test images with their labels and class names."""

    name: str
    x_train: NDArray[np.float32]
    y_train: NDArray[np.int32]
    x_test: NDArray[np.float32]
    y_test: NDArray[np.int32]
    classes: tuple[str, ...]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one image."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        """The first ``n_train`` / ``n_test`` images (the loaders shuffle nothing)."""
        return Dataset(self.name, self.x_train[:n_train], self.y_train[:n_train],
                       self.x_test[:n_test], self.y_test[:n_test], self.classes)


def load(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load a data set by name (``digits`` needs no folder)."""
    if name == "digits":
        return load_digits()
    if name not in DATASETS:
        raise DatasetError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    if data_dir is None:
        raise DatasetError(f"{name} needs --data-dir: the folder holding its files "
                           f"({_expected(name)})")
    folder = Path(data_dir)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder (expected {_expected(name)})")
    return load_mnist(folder) if name == "mnist" else load_cifar10(folder)


def _expected(name: str) -> str:
    if name == "mnist":
        return ", ".join(MNIST_FILES.values()) + " (optionally .gz)"
    return ", ".join(CIFAR_TRAIN + (CIFAR_TEST,)) + " (CIFAR-10, .bin or python version)"


def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's digits in a 28x28 frame, split 80/20 stratified with ``seed``."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError as exc:  # pragma: no cover - the nn extra installs it
        raise DatasetError("the digits set needs scikit-learn: pip install 'labapp[nn]'") from exc
    bunch = sk_digits()
    images = bunch.images.astype(np.float32) / 16.0
    x = to_mnist_frame(images)[..., None]
    y = bunch.target.astype(np.int32)
    rng = np.random.default_rng(seed)
    test = np.zeros(y.size, dtype=bool)
    for k in range(10):
        idx = np.flatnonzero(y == k)
        test[rng.choice(idx, size=int(round(0.2 * idx.size)), replace=False)] = True
    order_tr = rng.permutation(np.flatnonzero(~test))
    order_te = np.flatnonzero(test)
    return Dataset("digits", x[order_tr], y[order_tr], x[order_te], y[order_te],
                   tuple(str(k) for k in range(10)))


def to_mnist_frame(images: NDArray) -> NDArray[np.float32]:
    """Scale (N, h, w) images to 20x20 (bilinear) and centre them in 28x28, as MNIST."""
    n, h, w = images.shape
    out = np.zeros((n, 28, 28), dtype=np.float32)
    # bilinear interpolation on pixel centres
    ys = (np.arange(20) + 0.5) * h / 20 - 0.5
    xs = (np.arange(20) + 0.5) * w / 20 - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
    y1 = np.clip(y0 + 1, 0, h - 1)
    x1 = np.clip(x0 + 1, 0, w - 1)
    wy = np.clip(ys - y0, 0, 1)[:, None]
    wx = np.clip(xs - x0, 0, 1)[None, :]
    a = images[:, y0][:, :, x0]
    b = images[:, y0][:, :, x1]
    c = images[:, y1][:, :, x0]
    d = images[:, y1][:, :, x1]
    out[:, 4:24, 4:24] = (a * (1 - wy) * (1 - wx) + b * (1 - wy) * wx
                          + c * wy * (1 - wx) + d * wy * wx)
    return out


def _open_maybe_gz(folder: Path, stem: str) -> bytes:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        p = folder / name
        if p.is_file():
            data = p.read_bytes()
            return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    raise DatasetError(f"{folder / stem}: not found; put the MNIST file {stem} (or {stem}.gz) "
                       f"in {folder}")


def read_idx(data: bytes, what: str) -> NDArray[np.uint8]:
    """Parse one IDX file (unsigned-byte data, any number of dimensions)."""
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise DatasetError(f"{what}: not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{what}: IDX header cut short")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    count = int(np.prod(dims))
    if len(data) - header != count:
        raise DatasetError(f"{what}: IDX body has {len(data) - header} bytes, header says "
                           f"{count}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_mnist(folder: Path) -> Dataset:
    """The MNIST IDX files of ``folder`` (60 000 + 10 000 images of 28x28)."""
    arrays = {k: read_idx(_open_maybe_gz(folder, v), str(folder / v))
              for k, v in MNIST_FILES.items()}
    for part in ("train", "test"):
        xi, yi = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if xi.ndim != 3 or yi.ndim != 1 or xi.shape[0] != yi.shape[0]:
            raise DatasetError(f"{folder}: MNIST {part} images {xi.shape} and labels "
                               f"{yi.shape} do not match")
    return Dataset("mnist",
                   (arrays["train_images"][..., None] / np.float32(255)).astype(np.float32),
                   arrays["train_labels"].astype(np.int32),
                   (arrays["test_images"][..., None] / np.float32(255)).astype(np.float32),
                   arrays["test_labels"].astype(np.int32), tuple(str(k) for k in range(10)))


class _ArraysOnly(pickle.Unpickler):
    """Unpickler for CIFAR-10 batches: numpy arrays and plain containers, nothing else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle's hook
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to build {module}.{name}")
        return super().find_class(module, name)


def _cifar_file(folder: Path, name: str) -> Path | None:
    for base in (folder, folder / "cifar-10-batches-bin", folder / "cifar-10-batches-py"):
        for candidate in (base / f"{name}.bin", base / name):
            if candidate.is_file():
                return candidate
    return None


def _cifar_batch(folder: Path, name: str) -> tuple[NDArray, NDArray]:
    p = _cifar_file(folder, name)
    if p is None:
        raise DatasetError(f"{folder / name}: not found; put the CIFAR-10 batch {name}.bin "
                           f"(binary version) or {name} (python version) in {folder}")
    try:
        if p.suffix == ".bin":
            raw = np.fromfile(p, dtype=np.uint8)
            if raw.size % 3073:
                raise ValueError(f"{raw.size} bytes is not a whole number of 3073-byte records")
            records = raw.reshape(-1, 3073)
            data, labels = records[:, 1:], records[:, 0].astype(np.int32)
        else:
            with p.open("rb") as fh:
                d = _ArraysOnly(fh, encoding="bytes").load()
            data = np.asarray(d[b"data"], dtype=np.uint8)
            labels = np.asarray(d[b"labels"], dtype=np.int32)
    except Exception as exc:  # noqa: BLE001 - one line naming the file
        raise DatasetError(f"{p}: not a CIFAR-10 batch ({exc})") from exc
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.size:
        raise DatasetError(f"{p}: data {data.shape} / labels {labels.shape} are not "
                           "N x 3072 / N")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return (images / np.float32(255)).astype(np.float32), labels


def load_cifar10(folder: Path) -> Dataset:
    """CIFAR-10's five training batches and its test batch (50 000 + 10 000 images)."""
    parts = [_cifar_batch(folder, n) for n in CIFAR_TRAIN]
    x_te, y_te = _cifar_batch(folder, CIFAR_TEST)
    return Dataset("cifar10", np.concatenate([p[0] for p in parts]),
                   np.concatenate([p[1] for p in parts]), x_te, y_te, CIFAR_CLASSES)
