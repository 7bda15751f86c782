"""Training paper 000's network with float weights or with device conductances.

Device-aware training follows NeuroSim's scheme (its V3.0 manual, section 5; the models
note of the project's references): the periphery computes the desired weight change
digitally (here momentum SGD on the cross-entropy gradient), converts it into a whole
number of programming pulses, and the device moves along its measured curve by that many
pulses from wherever it is (its conductance is mapped back to a pulse position on the
curve of the direction it is driven in; ``RealDevice::Write`` in NeuroSim does the same).

Every kernel weight is a differential pair ``W = s (G+ - G-) / (G_max - G_min)`` (paper 003's
2T2R ``W = G+ - G-``), with ``s`` a per-layer scale of three He standard deviations.
A weight increase is either potentiation of G+ or depression of G-, a decrease either
potentiation of G- or depression of G+; of the two, the device with more room left in that
direction is pulsed, so both measured curves are used and the pair does not stall at one
end. Pulse counts are rounded stochastically (``floor(n + u)``, u uniform), so a change of
a fraction of one pulse is applied with that probability and updates stay unbiased even
when one pulse is coarse; each pulsed device gains cycle-to-cycle noise
``sigma sqrt(n)``. Biases stay in the digital periphery as floats.

The float baseline runs the same optimiser on unconstrained float weights; an ideal device
is linear and noise-free with the same number of steps as the measured one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from analysis.neural import network
from analysis.neural.datasets import Dataset
from analysis.neural.device_model import DeviceModel

#: weight range of a layer, in He standard deviations of its initialisation
SCALE_IN_HE_STD = 3.0


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and bookkeeping settings of one training run."""

    epochs: int = 300
    batch_size: int = 32
    learning_rate: float = 0.05
    momentum: float = 0.9
    seed: int = 0
    confusion_epochs: tuple[int, ...] = (100, 200, 300)

    def __post_init__(self) -> None:
        if int(self.epochs) != self.epochs or self.epochs < 1:
            raise ValueError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ValueError(f"batch size must be an integer >= 1, got {self.batch_size!r}")
        if not (self.learning_rate > 0):
            raise ValueError(f"learning rate must be > 0, got {self.learning_rate!r}")
        if not (0 <= self.momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")

    def confusion_at(self) -> tuple[int, ...]:
        """Epochs that get a confusion matrix: the requested ones that exist, else the last."""
        chosen = tuple(sorted({e for e in self.confusion_epochs if 1 <= e <= self.epochs}))
        return chosen or (self.epochs,)


@dataclass
class History:
    """Per-epoch figures of a training run (Fig. 7c-d) and its confusion matrices (7e)."""

    device: str
    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    confusion: dict[int, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """JSON-ready dictionary (confusion matrices as nested lists, keyed by epoch)."""
        return {"device": self.device, "epoch": self.epoch, "train_loss": self.train_loss,
                "train_accuracy": self.train_accuracy, "test_loss": self.test_loss,
                "test_accuracy": self.test_accuracy,
                "confusion": {str(k): v.tolist() for k, v in self.confusion.items()},
                "seconds": self.seconds}


# -- device physics on normalised conductance y in [0, 1] ------------------------------
# The device's numbers enter as traced values (not constants), so every device model of a
# process shares one compiled training step.
_LINEAR = 1e-6  # |c| below this is a linear device


def _shape(x: jax.Array, c: jax.Array) -> jax.Array:
    safe = jnp.where(jnp.abs(c) < _LINEAR, 1.0, c)
    return jnp.where(jnp.abs(c) < _LINEAR, x, jnp.expm1(-safe * x) / jnp.expm1(-safe))


def _inverse(y: jax.Array, c: jax.Array) -> jax.Array:
    safe = jnp.where(jnp.abs(c) < _LINEAR, 1.0, c)
    return jnp.where(jnp.abs(c) < _LINEAR, y, -jnp.log1p(y * jnp.expm1(-safe)) / safe)


def _potentiate(y: jax.Array, n: jax.Array, c: jax.Array, p_max: jax.Array) -> jax.Array:
    x = _inverse(jnp.clip(y, 0.0, 1.0), c)
    return _shape(jnp.clip(x + n / p_max, 0.0, 1.0), c)


def _depress(y: jax.Array, n: jax.Array, c: jax.Array, p_max: jax.Array) -> jax.Array:
    k = _inverse(jnp.clip(1.0 - y, 0.0, 1.0), c)
    return 1.0 - _shape(jnp.clip(k + n / p_max, 0.0, 1.0), c)


def device_vector(device: DeviceModel) -> jax.Array:
    """The numbers of a device the training step needs: c_p, c_d, P_max, sigma."""
    return jnp.asarray([device.c_potentiation, device.c_depression, device.p_max,
                        device.sigma_c2c], dtype=jnp.float32)


def pulse_update(yp: jax.Array, ym: jax.Array, n: jax.Array, key: jax.Array,
                 device: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Apply signed whole pulse counts ``n`` to the pairs (G+, G-) (see module docstring).

    ``device`` is :func:`device_vector` of the device model.
    """
    cp, cd, pm, sigma = device[0], device[1], device[2], device[3]
    m = jnp.abs(n)
    up, down = n > 0, n < 0
    inc_plus = (1.0 - yp) >= ym   # increase W: potentiate G+ (else depress G-)
    dec_minus = (1.0 - ym) >= yp  # decrease W: potentiate G- (else depress G+)
    new_p = jnp.where(up & inc_plus, _potentiate(yp, m, cp, pm),
                      jnp.where(down & ~dec_minus, _depress(yp, m, cd, pm), yp))
    new_m = jnp.where(up & ~inc_plus, _depress(ym, m, cd, pm),
                      jnp.where(down & dec_minus, _potentiate(ym, m, cp, pm), ym))
    kp, km = jax.random.split(key)
    spread = sigma * jnp.sqrt(m)
    pulsed_p = (up & inc_plus) | (down & ~dec_minus)
    new_p = new_p + jnp.where(pulsed_p, spread * jax.random.normal(kp, yp.shape), 0.0)
    new_m = new_m + jnp.where(~pulsed_p & (m > 0), spread * jax.random.normal(km, ym.shape),
                              0.0)
    return jnp.clip(new_p, 0.0, 1.0), jnp.clip(new_m, 0.0, 1.0)


# -- training ----------------------------------------------------------------------------
def train(data: Dataset, device: DeviceModel | None, config: TrainConfig,
          progress: Callable[[int, History], None] | None = None) -> History:
    """Train the network on ``data``; ``device=None`` trains float weights.

    Returns the per-epoch history with confusion matrices on the test split at
    :meth:`TrainConfig.confusion_at`. ``progress(epoch, history)`` is called after every
    epoch (for a command-line progress line).
    """
    key = jax.random.PRNGKey(config.seed)
    key, k_init = jax.random.split(key)
    params = network.init_params(k_init, data.image_shape, len(data.classes))
    scales = {n: SCALE_IN_HE_STD * network.he_std(params[n]["w"].shape)
              for n in network.WEIGHT_LAYERS}
    pairs = None
    if device is not None:
        pairs = {}
        for n in network.WEIGHT_LAYERS:
            w = jnp.clip(params[n]["w"] / scales[n], -0.95, 0.95)
            pairs[n] = (0.5 + w / 2, 0.5 - w / 2)  # both devices mid-window
    velocity = jax.tree_util.tree_map(jnp.zeros_like, params)
    dev = None if device is None else device_vector(device)
    hyper = jnp.asarray([config.learning_rate, config.momentum], dtype=jnp.float32)

    x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    n = x_tr.shape[0]
    batches = max(1, n // config.batch_size)
    rng = np.random.default_rng(config.seed)
    hist = History("float" if device is None else device.kind)
    confusion_at = set(config.confusion_at())
    t0 = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(n)
        losses, accs = [], []
        for b in range(batches):
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            key, k_step = jax.random.split(key)
            params, pairs, velocity, loss, acc = _step(params, pairs, velocity, k_step,
                                                       x_tr[idx], y_tr[idx], scales, dev,
                                                       hyper)
            losses.append(loss)
            accs.append(acc)
        current = _weights(params, pairs, scales)
        te_loss, te_acc = _batched(current, x_te, y_te)
        hist.epoch.append(epoch)
        hist.train_loss.append(float(np.mean(jax.device_get(losses))))
        hist.train_accuracy.append(float(np.mean(jax.device_get(accs))))
        hist.test_loss.append(te_loss)
        hist.test_accuracy.append(te_acc)
        if epoch in confusion_at:
            pred = np.concatenate([np.asarray(_predict(current, x_te[i:i + 2000]))
                                   for i in range(0, x_te.shape[0], 2000)])
            k = len(data.classes)
            hist.confusion[epoch] = np.bincount(np.asarray(y_te) * k + pred,
                                                minlength=k * k).reshape(k, k)
        hist.seconds = time.perf_counter() - t0
        if progress is not None:
            progress(epoch, hist)
    return hist


_evaluate = jax.jit(network.loss_and_accuracy)
_predict = jax.jit(lambda p, x: jnp.argmax(network.apply(p, x), axis=1))
_grad = jax.value_and_grad(network.loss_and_accuracy, has_aux=True)


def _batched(params, x, y, size: int = 2000) -> tuple[float, float]:
    loss = acc = 0.0
    for i in range(0, x.shape[0], size):
        lo, ac = _evaluate(params, x[i:i + size], y[i:i + size])
        m = min(size, x.shape[0] - i)
        loss += float(lo) * m
        acc += float(ac) * m
    return loss / x.shape[0], acc / x.shape[0]


def _weights(params: dict, pairs: dict | None, scales: dict) -> dict:
    """Parameters with the kernels read from the device pairs (if any)."""
    if pairs is None:
        return params
    out = dict(params)
    for name, (yp, ym) in pairs.items():
        out[name] = {"w": scales[name] * (yp - ym), "b": params[name]["b"]}
    return out


@jax.jit
def _step(params, pairs, velocity, key, xb, yb, scales, device, hyper):
    """One momentum-SGD step; with ``pairs`` the kernels move by whole device pulses."""
    lr, mom = hyper[0], hyper[1]
    (loss, acc), grads = _grad(_weights(params, pairs, scales), xb, yb)
    velocity = jax.tree_util.tree_map(lambda v, g: mom * v + g, velocity, grads)
    new = jax.tree_util.tree_map(lambda p, v: p - lr * v, params, velocity)
    if pairs is None:
        return new, pairs, velocity, loss, acc
    new_pairs = {}
    keys = jax.random.split(key, 2 * len(pairs))
    p_max = device[2]
    for i, (name, (yp, ym)) in enumerate(pairs.items()):
        wanted = -lr * velocity[name]["w"] / scales[name] * p_max  # in pulses
        u = jax.random.uniform(keys[2 * i], wanted.shape)
        pulses = jnp.clip(jnp.sign(wanted) * jnp.floor(jnp.abs(wanted) + u), -p_max, p_max)
        new_pairs[name] = pulse_update(yp, ym, pulses, keys[2 * i + 1], device)
    return new, new_pairs, velocity, loss, acc
