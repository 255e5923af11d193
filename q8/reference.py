"""The bit-exact integer reference: the contract of ``docs/fixed-point.md`` in numpy.

Integers only on the inference path (int64 accumulators, which hold every accumulator width the
contract derives), vectorised over a batch of images.
"""

from dataclasses import dataclass

import numpy as np

from .layers import network_kind
# each kind's operation is in its module of q8.layers; these names are the reference's too
from .layers.conv2d import conv2d_acc
from .layers.dense import dense_acc
from .layers.avgpool2d import average_pool
from .layers.gavgpool2d import global_average
from .layers.gmaxpool2d import global_max
from .layers.maxpool2d import maxpool2d

__all__ = ["Result", "conv2d_acc", "dense_acc", "maxpool2d", "average_pool", "global_average",
           "global_max", "argmax", "run", "check_images"]


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
    forwards = [network_kind(layer.kind).forward for layer in net.layers]
    outputs = {"input": [], **{l.name: [] for l in net.layers}}
    accs = {l.name: [] for l in net.mac_layers}
    for start in range(0, len(images), batch):
        x = images[start:start + batch]
        outputs["input"].append(x)
        for layer, forward in zip(net.layers, forwards):
            x, acc = forward(layer, x, net.params.get(layer.name))
            if accumulators and acc is not None:
                accs[layer.name].append(acc)
            outputs[layer.name].append(x)
    logits = np.concatenate(outputs[net.layers[-1].name]) if len(images) else \
        np.zeros((0, net.classes), np.int8)
    layers = {k: np.concatenate(v) for k, v in outputs.items() if v} if intermediates else None
    accs = {k: np.concatenate(v) for k, v in accs.items() if v} if accumulators else None
    return Result(classes=argmax(logits), logits=logits, layers=layers, accumulators=accs)
