"""Paper 000's convolutional network (Methods, "CNN Simulation"), in JAX.

(1) 16 filters 3x3 -> (2) 2x2 max-pool -> (3) 32 filters 3x3 -> (4) 2x2 max-pool ->
(5) flatten -> (6) dense layer to the 10 classes. Convolutions are unpadded ("valid"),
which gives the paper's sizes for a 28x28 image: 26 -> 13 -> 11 -> 5, so 5x5x32 = 800
features; a 32x32 CIFAR-10 image gives 15x15 and 6x6. ReLU follows each convolution
(the paper names no activation; ReLU is the common choice for this layer stack).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: layers whose kernels are synaptic weights (biases stay in the digital periphery)
WEIGHT_LAYERS = ("conv1", "conv2", "dense")
FILTERS = (16, 32)
KERNEL = 3
N_CLASSES = 10


def feature_size(height: int, width: int) -> tuple[int, int]:
    """Spatial size after the two conv + pool stages (28x28 -> 5x5)."""
    for _ in FILTERS:
        height, width = (height - KERNEL + 1) // 2, (width - KERNEL + 1) // 2
    return height, width


def init_params(key: jax.Array, image_shape: tuple[int, int, int],
                n_classes: int = N_CLASSES) -> dict[str, dict[str, jax.Array]]:
    """He-normal kernels and zero biases for images of ``image_shape`` (H, W, C)."""
    h, w, c = image_shape
    fh, fw = feature_size(h, w)
    if fh < 1 or fw < 1:
        raise ValueError(f"images of {h}x{w} are too small for the network (need >= 10x10)")
    shapes = {
        "conv1": (KERNEL, KERNEL, c, FILTERS[0]),
        "conv2": (KERNEL, KERNEL, FILTERS[0], FILTERS[1]),
        "dense": (fh * fw * FILTERS[1], n_classes),
    }
    keys = jax.random.split(key, len(shapes))
    params = {}
    for k, (name, shp) in zip(keys, shapes.items(), strict=True):
        fan_in = int(np.prod(shp[:-1]))
        params[name] = {"w": jax.random.normal(k, shp) * np.sqrt(2.0 / fan_in),
                        "b": jnp.zeros(shp[-1])}
    return params


def he_std(shape: tuple[int, ...]) -> float:
    """Standard deviation of the He-normal initialisation of a kernel of ``shape``."""
    return float(np.sqrt(2.0 / np.prod(shape[:-1])))


def _conv(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jax.nn.relu(y + b)


def _pool(x: jax.Array) -> jax.Array:
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                 "VALID")


def apply(params: dict, x: jax.Array) -> jax.Array:
    """Class logits for a batch of images (N, H, W, C)."""
    h = _pool(_conv(x, params["conv1"]["w"], params["conv1"]["b"]))
    h = _pool(_conv(h, params["conv2"]["w"], params["conv2"]["b"]))
    h = h.reshape(h.shape[0], -1)
    return h @ params["dense"]["w"] + params["dense"]["b"]


def loss_and_accuracy(params: dict, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean softmax cross-entropy and accuracy of a batch."""
    logits = apply(params, x)
    logp = jax.nn.log_softmax(logits)
    loss = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
    return loss, jnp.mean(jnp.argmax(logits, axis=1) == y)
