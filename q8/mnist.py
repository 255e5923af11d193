"""MNIST in the Keras layout (``mnist.npz``: x_train, y_train, x_test, y_test).

Where it is looked for, in order:

1. the file named by the environment variable ``MNIST_PATH`` (it must exist if set);
2. ``~/.keras/datasets/mnist.npz``, where Keras keeps it;
3. downloaded from Keras' public mirror into that place, checked against its SHA-256.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, under CC BY-SA 3.0.
"""

from dataclasses import dataclass
import hashlib
import os
import sys
import urllib.error
import urllib.request

import numpy as np

__all__ = ["MnistError", "Mnist", "find", "load", "IMAGE_SHAPE", "MNIST_URL",
           "MNIST_SHA256"]

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

_HOW = ("set MNIST_PATH to a Keras-layout mnist.npz (in this project's CI: "
        "MNIST_PATH=../shared/data/mnist.npz), or place it at ~/.keras/datasets/mnist.npz")

#: One MNIST image as a network takes it: (height, width, channels).
IMAGE_SHAPE = (28, 28, 1)

_SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,),
           "x_test": (10000, 28, 28), "y_test": (10000,)}


class MnistError(RuntimeError):
    """The MNIST data could not be found, fetched or read."""


@dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _keras_cache():
    return os.path.join(os.path.expanduser("~"), ".keras", "datasets", "mnist.npz")


def _download(url, path):
    print(f"downloading MNIST from {url} ...", file=sys.stderr)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".part"
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as f:
            digest = hashlib.sha256()
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                f.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        if os.path.exists(partial):
            os.remove(partial)
        raise MnistError(f"MNIST is not on this machine and downloading it from {url} failed "
                         f"({e}); {_HOW}") from None
    if digest.hexdigest() != MNIST_SHA256:
        os.remove(partial)
        raise MnistError(f"the MNIST download from {url} has SHA-256 {digest.hexdigest()}, "
                         f"expected {MNIST_SHA256}; it was deleted. {_HOW}")
    os.replace(partial, path)


def find(*, download=True, url=MNIST_URL):
    """The path of ``mnist.npz``, downloading it if allowed and nowhere else to be found."""
    if "MNIST_PATH" in os.environ:
        path = os.environ["MNIST_PATH"]
        if not os.path.isfile(path):
            raise MnistError(f"MNIST_PATH is set to {path!r}, which is not a file; point it at "
                             f"a Keras-layout mnist.npz or unset it")
        return path
    path = _keras_cache()
    if not os.path.isfile(path):
        if not download:
            raise MnistError(f"MNIST is not on this machine; {_HOW}")
        _download(url, path)
    return path


def load(*, download=True, url=MNIST_URL):
    """Load and check MNIST; raise :class:`MnistError` naming the problem and the fix."""
    path = find(download=download, url=url)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in _SHAPES}
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise MnistError(f"{path} is not a Keras-layout mnist.npz ({e}); {_HOW}") from None
    for key, shape in _SHAPES.items():
        if arrays[key].shape != shape or arrays[key].dtype != np.uint8:
            raise MnistError(f"{path}: {key} has shape {arrays[key].shape} and dtype "
                             f"{arrays[key].dtype}, expected {shape} uint8; {_HOW}")
    return Mnist(**arrays)
