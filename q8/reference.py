"""The bit-exact integer reference: the contract of ``docs/fixed-point.md`` in numpy.

Integers only on the inference path (int64 accumulators, which hold every accumulator width the
contract derives), vectorised over a batch of images.
"""

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .contract import Conv2DConfig, MaxPool2DConfig, requantize

__all__ = ["Result", "conv2d_acc", "dense_acc", "maxpool2d", "argmax", "run", "check_images"]


def conv2d_acc(layer, x, weight, bias):
    """The accumulators of a convolution: ``x`` codes ``(N, H, W, C)`` to int64
    ``(N, H', W', out_channels)``, bias aligned and added."""
    kh, kw = layer.kernel
    # (N, H', W', C, kh, kw) -> (N, H', W', kh, kw, C) to match the (kh, kw, C, out) weights
    windows = sliding_window_view(x.astype(np.int64), (kh, kw), axis=(1, 2))
    windows = windows.transpose(0, 1, 2, 4, 5, 3).reshape(*windows.shape[:3], -1)
    acc = windows @ weight.astype(np.int64).reshape(-1, layer.out_channels)
    return acc + (bias.astype(np.int64) << layer.bias_shift)


def dense_acc(layer, x, weight, bias):
    """The accumulators of a dense layer: ``x`` ``(N, ...)`` flattened row-major to int64
    ``(N, out_features)``, bias aligned and added."""
    acc = x.reshape(len(x), -1).astype(np.int64) @ weight.astype(np.int64)
    return acc + (bias.astype(np.int64) << layer.bias_shift)


def maxpool2d(layer, x):
    """``x``: ``(N, H, W, C)``; returns ``(N, H // ph, W // pw, C)``, extra rows dropped."""
    ph, pw = layer.pool
    n, h, w, c = x.shape
    oh, ow = h // ph, w // pw
    x = x[:, :oh * ph, :ow * pw].reshape(n, oh, ph, ow, pw, c)
    return x.max(axis=(2, 4))


def argmax(logits):
    """The class of each row: the index of the largest logit, the lowest index on a tie."""
    return np.argmax(logits, axis=-1)  # numpy returns the first maximum


@dataclass(frozen=True)
class Result:
    """Classes ``(N,)``, logits ``(N, classes)`` int8, and, when asked, every layer's output
    codes by layer name (``"input"`` for the pixels)."""

    classes: np.ndarray
    logits: np.ndarray
    layers: dict | None = None
    accumulators: dict | None = None


def check_images(images, shape=(28, 28, 1)):
    """Validate and normalise a batch of images to ``(N, H, W, C)`` uint8.

    ``shape`` is one image's ``(height, width, channels)``, the network's ``input_shape``.
    Accepted: ``(N, H, W, C)`` or one image ``(H, W, C)``; with one channel also
    ``(N, H, W)`` or ``(H, W)``. Anything else raises ``ValueError`` naming both shapes, so
    that a batch is never silently regrouped into images of another shape.
    """
    images = np.asarray(images)
    given, shape = images.shape, tuple(shape)
    if images.shape == shape or (shape[-1] == 1 and images.shape == shape[:-1]):
        images = images[None]
    if shape[-1] == 1 and images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != shape:
        h, w, c = shape
        accepted = f"(N, {h}, {w}, {c})" + (f" or (N, {h}, {w})" if c == 1 else "")
        raise ValueError(f"images must have shape {accepted} for a network whose input is "
                         f"{h}x{w}x{c}, not {given}")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.integer) or images.min(initial=0) < 0 \
                or images.max(initial=0) > 255:
            raise ValueError(f"images must be uint8 pixel bytes (0..255), not {images.dtype} "
                             f"with values in [{images.min()}, {images.max()}]")
        images = images.astype(np.uint8)
    return images


def run(net, images, *, intermediates=False, accumulators=False, batch=2500):
    """Classify ``images`` (uint8, ``(N, H, W, C)``, or ``(N, H, W)`` with one channel) with
    the integer network ``net``; images of another shape than ``net.input_shape`` raise
    ``ValueError``.

    Parameters
    ----------
    net : q8.weights.Network
    images : array-like
    intermediates : bool
        Also return every layer's output codes, for layer-by-layer comparison.
    accumulators : bool
        Also return every convolution's and dense layer's int64 accumulators (before the
        output requantisation).
    batch : int
        Images per vectorised step (bounds memory).
    """
    images = check_images(images, net.input_shape)
    outputs = {"input": [], **{l.name: [] for l in net.layers}}
    accs = {l.name: [] for l in net.mac_layers}
    for start in range(0, len(images), batch):
        x = images[start:start + batch]
        outputs["input"].append(x)
        for layer in net.layers:
            p = net.params.get(layer.name)
            if isinstance(layer, MaxPool2DConfig):
                x = maxpool2d(layer, x)
            else:
                mac = conv2d_acc if isinstance(layer, Conv2DConfig) else dense_acc
                acc = mac(layer, x, p["weight"], p["bias"])
                if accumulators:
                    accs[layer.name].append(acc)
                x = requantize(acc, layer.out_shift, layer.output)
            outputs[layer.name].append(x)
    logits = np.concatenate(outputs[net.layers[-1].name]) if len(images) else \
        np.zeros((0, net.classes), np.int8)
    layers = {k: np.concatenate(v) for k, v in outputs.items() if v} if intermediates else None
    accs = {k: np.concatenate(v) for k, v in accs.items() if v} if accumulators else None
    return Result(classes=argmax(logits), logits=logits, layers=layers, accumulators=accs)
