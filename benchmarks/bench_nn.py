"""Device-aware CNN training speed (``python -m benchmarks nn``; needs ``labapp[nn]``).

Prints seconds per epoch of paper 000's network (batch 32) with float weights and with
device pairs (pulse updates along NeuroSim curves) on the shipped digits set (1 438
training images) and on 60 000 MNIST-shaped random images (the size of MNIST's training
set; random pixels and labels are fine for timing). The first epoch of each run carries
the one-off compilation and is reported apart.
"""

from __future__ import annotations

import time

import numpy as np

from analysis.neural import datasets
from analysis.neural import device_model as dm
from analysis.neural.training import TrainConfig, train


def _epoch_seconds(data, device, epochs: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    times = []

    def progress(epoch, h):
        times.append(time.perf_counter())

    train(data, device, TrainConfig(epochs=epochs, confusion_epochs=()), progress)
    first = times[0] - t0
    steady = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else first
    return first, steady


def main() -> None:
    digits = datasets.load("digits")
    device = dm.with_label(5.0, 30, sigma_c2c=0.05)
    print(f"digits ({digits.x_train.shape[0]} training images, batch 32):")
    for name, dev in (("float", None), ("device NL 5", device)):
        first, steady = _epoch_seconds(digits, dev, 3)
        print(f"  {name:12s} first epoch {first:6.2f} s, then {steady:6.2f} s/epoch")
    rng = np.random.default_rng(0)
    n = 60_000
    big = datasets.Dataset(
        "mnist-shaped", rng.random((n, 28, 28, 1), dtype=np.float32),
        rng.integers(0, 10, n).astype(np.int32),
        rng.random((10_000, 28, 28, 1), dtype=np.float32),
        rng.integers(0, 10, 10_000).astype(np.int32), tuple(str(k) for k in range(10)))
    print(f"MNIST-shaped random images ({n} training, 10000 test, batch 32):")
    for name, dev in (("float", None), ("device NL 5", device)):
        first, _ = _epoch_seconds(big, dev, 1)
        print(f"  {name:12s} {first:6.1f} s/epoch (one epoch, compilation included)")
