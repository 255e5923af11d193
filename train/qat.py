"""Quantization-aware training: a float phase, calibration, then a fixed-point phase."""

from dataclasses import dataclass, field
import sys
import time

import numpy as np

from . import quant  # noqa: F401  (sets KERAS_BACKEND)
import keras

from q8 import arch as arch_mod, reference
from q8.arch import DEFAULT_ARCH
from .importer import quant_model
from .model import (build_model, calibrate, set_quantized, set_uniform_formats, to_network,
                    logits_codes)

__all__ = ["Recipe", "TrainResult", "train", "fit", "export_checked"]


@dataclass(frozen=True)
class Recipe:
    """How the network is trained. The defaults make the shipped weights."""

    seed: int = 0
    float_epochs: int = 30
    qat_epochs: int = 30
    batch: int = 128
    float_lr: float = 2e-3
    qat_lr: float = 1e-3
    arch: str = DEFAULT_ARCH   # q8.arch spec; the user's network by default
    shift: int = 0             # random training-image shifts of up to this many pixels
    calibration_images: int = 10000
    train_limit: int | None = None  # train on the first N training images only (tests)

    def __post_init__(self):
        for name in ("float_epochs", "qat_epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer, "
                                 f"not {getattr(self, name)!r}")
        try:
            arch_mod.parse(self.arch)
        except arch_mod.ArchError as e:
            raise ValueError(str(e)) from None
        if not isinstance(self.shift, int) or not 0 <= self.shift <= 4:
            raise ValueError(f"shift must be an integer from 0 to 4 pixels, not {self.shift!r}")
        for name in ("batch", "calibration_images"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive integer, "
                                 f"not {getattr(self, name)!r}")
        if self.train_limit is not None and (not isinstance(self.train_limit, int)
                                             or self.train_limit <= 0):
            raise ValueError(f"train_limit must be a positive integer or None, "
                             f"not {self.train_limit!r}")


@dataclass
class TrainResult:
    model: object                  # the quantized Keras model
    network: object                # its export, a q8.weights.Network
    accuracy: dict = field(default_factory=dict)  # on the evaluation images, by method
    seconds: float = 0.0


def nhwc(images):
    """``images`` as ``(N, H, W, C)``: one grey channel added to ``(N, H, W)`` (MNIST's
    layout, ``q8.mnist``); a ``q8.dataset.Dataset``'s are already so."""
    images = np.asarray(images)
    return images[..., None] if images.ndim == 3 else images


def shift_images(x, shift, rng):
    """``x`` ``(N, H, W, C)`` with each image moved by a random whole number of pixels, up to
    ``shift`` in each direction, the uncovered border filled with zeros."""
    n, h, w = x.shape[:3]
    padded = np.pad(x, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
    dy = rng.integers(-shift, shift + 1, n)
    dx = rng.integers(-shift, shift + 1, n)
    rows = np.arange(h)[None, :] + shift - dy[:, None]
    cols = np.arange(w)[None, :] + shift - dx[:, None]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def fit(model, x, y, *, epochs, lr, batch, verbose, shift=0, seed=0):
    """Train ``model`` (Adam, cosine-decayed learning rate). With ``shift``, every epoch sees
    the training images moved by up to ``shift`` pixels in each direction (new random shifts
    each epoch, seeded by ``seed``)."""
    steps = epochs * -(-len(x) // batch)
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(steps, 1))
    # compiling also resets the model's traced functions: its predictions must follow the
    # quantized flag, which the traces read when they are made
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    if not shift:
        if epochs:
            model.fit(x, y, batch_size=batch, epochs=epochs, verbose=verbose, shuffle=True)
        return
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        model.fit(shift_images(x, shift, rng), y, batch_size=batch, epochs=epoch + 1,
                  initial_epoch=epoch, verbose=verbose, shuffle=True)


def _float_accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=1000, verbose=0), -1) == y))


def _reference_accuracy(net, images, labels):
    return float(np.mean(reference.run(net, images).classes == labels))


def train(data, recipe=Recipe(), *, eval_images=None, verbose=1, log=print):
    """Train the user's network with quantization-aware training.

    Parameters
    ----------
    data : q8.dataset.Dataset or q8.mnist.Mnist
    recipe : Recipe
    eval_images : int or None
        Evaluate on the first N test images (all when None).
    verbose : int
        Keras' fit verbosity: 1 a progress bar, 2 a line per epoch, 0 silent.
    log : callable
        Where progress lines go.

    Returns
    -------
    TrainResult
        ``accuracy`` holds ``float``, ``ptq_uniform`` (every tensor at the same fraction
        bits, the best of 0..7, given in ``ptq_uniform_frac``),
        ``ptq_calibrated`` (per-tensor formats on the float weights), ``qat_keras`` and
        ``reference``, and ``agree`` holds the QAT/reference agreement counts.
    """
    start = time.time()
    keras.utils.set_random_seed(recipe.seed)
    x = nhwc(data.x_train[:recipe.train_limit]).astype(np.float32)
    y = data.y_train[:recipe.train_limit].astype(np.int32)
    tx, ty = data.x_test[:eval_images], data.y_test[:eval_images]
    acc = {}

    model = build_model(recipe.arch, input_shape=x.shape[1:])
    log(f"float phase: {recipe.float_epochs} epochs on {len(x)} images")
    fit(model, x, y, epochs=recipe.float_epochs, lr=recipe.float_lr, batch=recipe.batch,
        shift=recipe.shift, seed=recipe.seed, verbose=verbose)
    acc["float"] = _float_accuracy(model, nhwc(tx).astype(np.float32), ty)

    # The one-format baseline: every weight, bias and activation at the same fraction bits,
    # the best of 0..7 (the input stays the raw byte).
    uniform = {}
    for frac in range(8):
        set_uniform_formats(model, frac)
        uniform[frac] = _reference_accuracy(to_network(model), tx, ty)
    acc["ptq_uniform_frac"] = max(uniform, key=uniform.get)
    acc["ptq_uniform"] = uniform[acc["ptq_uniform_frac"]]
    calibrate(model, x[:recipe.calibration_images])
    acc["ptq_calibrated"] = _reference_accuracy(to_network(model), tx, ty)
    log(f"float {acc['float']:.4f}, PTQ one format (frac {acc['ptq_uniform_frac']}) "
        f"{acc['ptq_uniform']:.4f}, "
        f"PTQ calibrated {acc['ptq_calibrated']:.4f}")

    log(f"quantization-aware phase: {recipe.qat_epochs} epochs")
    set_quantized(model, True)
    fit(model, x, y, epochs=recipe.qat_epochs, lr=recipe.qat_lr, batch=recipe.batch,
        shift=recipe.shift, seed=recipe.seed + 1, verbose=verbose)

    seconds = time.time() - start
    provenance = {"recipe": recipe.__dict__, "train_seconds": round(seconds, 1),
                  "keras": keras.__version__, "backend": keras.backend.backend()}
    net = export_checked(model, tx, ty, acc, provenance, log=log)
    return TrainResult(model=model, network=net, accuracy=acc, seconds=seconds)


def export_checked(model, images, labels, accuracy, provenance, *, log=print):
    """Export the quantized ``model`` and compare it with the integer reference on ``images``.

    Adds ``qat_keras`` and ``reference`` to ``accuracy`` (in place) and the accuracies and the
    agreement counts to ``provenance``; returns the ``Network`` whose provenance holds them.
    The caller decides what a disagreement means (``python -m train`` fails on any).
    """
    net = to_network(model, provenance)
    ref = reference.run(net, images)
    keras_logits = logits_codes(model, images)
    accuracy["qat_keras"] = float(np.mean(np.argmax(keras_logits, -1) == labels))
    accuracy["reference"] = float(np.mean(ref.classes == labels))
    agree = {"images": int(len(images)),
             "classes": int(np.sum(np.argmax(keras_logits, -1) == ref.classes)),
             "logits": int(np.sum(np.all(keras_logits == ref.logits, axis=1)))}
    provenance.update(accuracy=accuracy, agree=agree, eval_images=int(len(images)))
    log(f"QAT Keras {accuracy['qat_keras']:.4f}, integer reference "
        f"{accuracy['reference']:.4f}; agreement: classes {agree['classes']}/{agree['images']}, "
        f"logits {agree['logits']}/{agree['images']}")
    return to_network(model, provenance)


def progress_verbosity():
    """Keras' progress bar on a terminal, a line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def train_imported(data, mapped, *, qat_epochs=10, qat_lr=5e-4, batch=128, seed=0,
                   calibration_images=10000, train_limit=None, eval_images=None, verbose=1,
                   log=print, source=None, float_classes=None):
    """Quantise an imported float model (``train.importer.map_model``): calibrate (PTQ), then
    fine-tune it with quantization-aware training from its own weights.

    Parameters
    ----------
    data : q8.dataset.Dataset or q8.mnist.Mnist
    mapped : train.importer.MappedModel
    qat_epochs : int
        0: PTQ only.
    float_classes : numpy.ndarray, optional
        The original model's classes on the evaluation images, for its accuracy.
    source : dict, optional
        Facts about the imported file, kept in the provenance.

    Returns
    -------
    TrainResult
        ``accuracy`` holds ``float`` (the original model), ``ptq_calibrated``, ``qat_keras``
        and ``reference``.
    """
    start = time.time()
    keras.utils.set_random_seed(seed)
    x = nhwc(data.x_train[:train_limit]).astype(np.float32)
    y = data.y_train[:train_limit].astype(np.int32)
    tx, ty = data.x_test[:eval_images], data.y_test[:eval_images]
    acc = {}
    if float_classes is not None:
        acc["float"] = float(np.mean(np.asarray(float_classes)[:len(ty)] == ty))
    model = quant_model(mapped)
    calibrate(model, x[:calibration_images])
    acc["ptq_calibrated"] = _reference_accuracy(to_network(model), tx, ty)
    log(f"PTQ (calibrated per-tensor formats) {acc['ptq_calibrated']:.4f}"
        + (f", float {acc['float']:.4f}" if "float" in acc else ""))
    set_quantized(model, True)
    if qat_epochs:
        log(f"quantization-aware training from the model's weights: {qat_epochs} epochs on "
            f"{len(x)} images")
    fit(model, x, y, epochs=qat_epochs, lr=qat_lr, batch=batch, verbose=verbose)
    seconds = time.time() - start
    provenance = {"imported": {**(source or {}), "arch": mapped.spec,
                               "pixel_divisor": mapped.pixel_divisor, "notes": mapped.notes},
                  "recipe": {"seed": seed, "qat_epochs": qat_epochs, "qat_lr": qat_lr,
                             "batch": batch, "calibration_images": calibration_images,
                             "train_limit": train_limit},
                  "train_seconds": round(seconds, 1), "keras": keras.__version__,
                  "backend": keras.backend.backend()}
    net = export_checked(model, tx, ty, acc, provenance, log=log)
    return TrainResult(model=model, network=net, accuracy=acc, seconds=seconds)
