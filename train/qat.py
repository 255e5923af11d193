"""Quantization-aware training: a float phase, calibration, then a fixed-point phase."""

from dataclasses import dataclass, field
import sys
import time

import numpy as np

from . import quant  # noqa: F401  (sets KERAS_BACKEND)
import keras

from q8 import reference
from .model import (build_model, calibrate, set_quantized, set_uniform_formats, to_network,
                    logits_codes)

__all__ = ["Recipe", "TrainResult", "train"]


@dataclass(frozen=True)
class Recipe:
    """How the network is trained. The defaults make the shipped weights."""

    seed: int = 0
    float_epochs: int = 30
    qat_epochs: int = 30
    batch: int = 128
    float_lr: float = 2e-3
    qat_lr: float = 1e-3
    filters: int = 2
    dense: int = 128
    calibration_images: int = 10000
    train_limit: int | None = None  # train on the first N training images only (tests)

    def __post_init__(self):
        for name in ("float_epochs", "qat_epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a non-negative integer, "
                                 f"not {getattr(self, name)!r}")
        for name in ("batch", "filters", "dense", "calibration_images"):
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


def _fit(model, x, y, *, epochs, lr, batch, verbose):
    steps = epochs * -(-len(x) // batch)
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(steps, 1))
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    if epochs:
        model.fit(x, y, batch_size=batch, epochs=epochs, verbose=verbose, shuffle=True)


def _float_accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=1000, verbose=0), -1) == y))


def _reference_accuracy(net, images, labels):
    return float(np.mean(reference.run(net, images).classes == labels))


def train(data, recipe=Recipe(), *, eval_images=None, verbose=1, log=print):
    """Train the user's network with quantization-aware training.

    Parameters
    ----------
    data : q8.mnist.Mnist
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
    x = data.x_train[:recipe.train_limit].astype(np.float32)[..., None]
    y = data.y_train[:recipe.train_limit].astype(np.int32)
    tx, ty = data.x_test[:eval_images], data.y_test[:eval_images]
    acc = {}

    model = build_model(filters=recipe.filters, dense=recipe.dense)
    log(f"float phase: {recipe.float_epochs} epochs on {len(x)} images")
    _fit(model, x, y, epochs=recipe.float_epochs, lr=recipe.float_lr, batch=recipe.batch,
         verbose=verbose)
    acc["float"] = _float_accuracy(model, tx.astype(np.float32)[..., None], ty)

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
    _fit(model, x, y, epochs=recipe.qat_epochs, lr=recipe.qat_lr, batch=recipe.batch,
         verbose=verbose)

    seconds = time.time() - start
    provenance = {"recipe": recipe.__dict__, "train_seconds": round(seconds, 1),
                  "keras": keras.__version__, "backend": keras.backend.backend()}
    net = to_network(model, provenance)
    ref = reference.run(net, tx)
    keras_logits = logits_codes(model, tx)
    acc["qat_keras"] = float(np.mean(np.argmax(keras_logits, -1) == ty))
    acc["reference"] = float(np.mean(ref.classes == ty))
    agree = {"images": int(len(tx)),
             "classes": int(np.sum(np.argmax(keras_logits, -1) == ref.classes)),
             "logits": int(np.sum(np.all(keras_logits == ref.logits, axis=1)))}
    provenance.update(accuracy=acc, agree=agree, eval_images=int(len(tx)))
    log(f"QAT Keras {acc['qat_keras']:.4f}, integer reference {acc['reference']:.4f}; "
        f"agreement: classes {agree['classes']}/{agree['images']}, "
        f"logits {agree['logits']}/{agree['images']}")
    return TrainResult(model=model, network=to_network(model, provenance), accuracy=acc,
                       seconds=seconds)


def progress_verbosity():
    """Keras' progress bar on a terminal, a line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2
