"""A data set in the Keras layout (``FILE.npz``: x_train, y_train, x_test, y_test), checked
before any long work; MNIST when none is named.

The images are ``uint8`` pixel bytes, ``N x H x W`` (one grey channel) or ``N x H x W x C``
with ``C`` 1 or 3 (red, green, blue), the labels integers ``0 .. classes - 1``. The file is
checked from its arrays' headers before any array is read, so that a file claiming a huge
array is refused at once rather than after minutes of reading, and its arrays are then held as
``N x H x W x C`` whatever their rank in the file.
"""

from dataclasses import dataclass
import zipfile

import numpy as np

from . import mnist

__all__ = ["DatasetError", "Dataset", "load", "check_network", "KEYS", "MAX_BYTES",
           "MIN_TRAIN_IMAGES", "MAX_CLASSES"]

KEYS = ("x_train", "y_train", "x_test", "y_test")

#: The most bytes a data file's arrays may claim. The tools hold the training images several
#: times over (float copies for Keras, shifted batches), so a larger file would be read only to
#: run out of memory later; CIFAR-10 in this layout is 184 MB.
MAX_BYTES = 512 << 20

#: Calibration chooses every tensor's format from the training images' ranges: fewer than
#: this leaves the formats to a handful of images.
MIN_TRAIN_IMAGES = 100

#: The board's answer carries the class in one byte.
MAX_CLASSES = 256

_LAYOUT = ("arrays x_train, y_train, x_test, y_test: uint8 images N x H x W or N x H x W x C "
           "(C = 1 or 3), integer labels 0..classes-1 (numpy.savez)")


class DatasetError(ValueError):
    """A data file that is not a usable data set: the message names what is wrong."""


@dataclass(frozen=True)
class Dataset:
    """A checked data set.

    Attributes
    ----------
    x_train, x_test : numpy.ndarray
        ``uint8``, ``N x H x W x C``.
    y_train, y_test : numpy.ndarray
        ``int64`` labels.
    name : str
        The file it came from, or ``"MNIST"``.
    classes : int
        One more than the largest label.
    """
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    classes: int

    @property
    def image_shape(self):
        """One image's ``(height, width, channels)``."""
        return tuple(self.x_train.shape[1:])


def _headers(path):
    """``{key: (shape, dtype)}`` of the arrays in the ``.npz`` at ``path``, from their headers."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file; --data takes a .npz with {_LAYOUT}") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetError(f"{path} is not a .npz archive ({e}); --data takes a .npz with "
                           f"{_LAYOUT}") from None
    headers = {}
    with archive:
        names = {n[:-len(".npy")]: n for n in archive.namelist() if n.endswith(".npy")}
        missing = [k for k in KEYS if k not in names]
        if missing:
            raise DatasetError(f"{path} has no array {', '.join(missing)} (it holds "
                               f"{', '.join(sorted(names)) or 'none'}); it needs {_LAYOUT}")
        for key in KEYS:
            with archive.open(names[key]) as f:
                try:
                    version = np.lib.format.read_magic(f)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                            np.lib.format.read_array_header_2_0)
                    shape, fortran, dtype = read(f)
                except ValueError as e:
                    raise DatasetError(f"{path}: {key} is not a numpy array ({e})") from None
            headers[key] = (tuple(shape), np.dtype(dtype))
    return headers


def _check_headers(path, headers):
    """Refuse shapes, dtypes and sizes from the headers alone."""
    total = sum(int(np.prod(shape, dtype=object)) * dtype.itemsize
                for shape, dtype in headers.values())
    if total > MAX_BYTES:
        raise DatasetError(f"{path}: its arrays claim {total:,} bytes, more than the "
                           f"{MAX_BYTES:,} a data set may hold here; use fewer or smaller "
                           f"images")
    for part in ("train", "test"):
        (xs, xt), (ys, yt) = headers[f"x_{part}"], headers[f"y_{part}"]
        if xt != np.uint8:
            raise DatasetError(f"{path}: x_{part} is {xt}, not uint8; store pixel bytes "
                               f"0..255 (e.g. np.round(x * 255).astype(np.uint8))")
        if len(xs) not in (3, 4) or (len(xs) == 4 and xs[3] not in (1, 3)):
            raise DatasetError(f"{path}: x_{part} has shape {xs}; images are N x H x W or "
                               f"N x H x W x C with C = 1 or 3")
        if min(xs[1:3]) < 1:
            raise DatasetError(f"{path}: x_{part} has shape {xs}; an image needs at least "
                               f"one row and column")
        if yt.kind not in "iu" or len(ys) != 1:
            raise DatasetError(f"{path}: y_{part} has shape {ys} and dtype {yt}; labels are "
                               f"one integer an image (N,)")
        if ys[0] != xs[0]:
            raise DatasetError(f"{path}: x_{part} holds {xs[0]} images but y_{part} "
                               f"{ys[0]} labels; they must be as many")
    shapes = [_hwc(headers[k][0]) for k in ("x_train", "x_test")]
    if shapes[0] != shapes[1]:
        raise DatasetError(f"{path}: the training images are {'x'.join(map(str, shapes[0]))} "
                           f"but the test images {'x'.join(map(str, shapes[1]))}")
    if headers["x_train"][0][0] < MIN_TRAIN_IMAGES:
        raise DatasetError(f"{path}: {headers['x_train'][0][0]} training images; calibration "
                           f"needs at least {MIN_TRAIN_IMAGES}")
    if headers["x_test"][0][0] < 1:
        raise DatasetError(f"{path}: no test images (x_test is empty)")


def _hwc(shape):
    return tuple(shape[1:]) + ((1,) if len(shape) == 3 else ())


def _labels(path, arrays):
    """The class count, after checking every label is in 0..MAX_CLASSES-1."""
    low = min(int(arrays[k].min()) for k in ("y_train", "y_test"))
    high = max(int(arrays[k].max()) for k in ("y_train", "y_test"))
    if low < 0 or high >= MAX_CLASSES:
        raise DatasetError(f"{path}: labels range over {low}..{high}; they must be 0..classes-1 "
                           f"with at most {MAX_CLASSES} classes")
    if high < 1:
        raise DatasetError(f"{path}: every label is {high}; a classifier needs at least two "
                           f"classes")
    return high + 1


def load(path=None):
    """The data set in ``path`` (``None``: MNIST, ``q8.mnist.load``), checked.

    Raises
    ------
    DatasetError
        The file is missing, not a ``.npz``, or its arrays are not the layout (the message
        names the array and what is wrong).
    q8.mnist.MnistError
        MNIST (``path`` ``None``) could not be found or read.
    """
    if path is None:
        data = mnist.load()
        return Dataset(x_train=data.x_train[..., None], y_train=data.y_train.astype(np.int64),
                       x_test=data.x_test[..., None], y_test=data.y_test.astype(np.int64),
                       name="MNIST", classes=10)
    _check_headers(path, _headers(path))
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in KEYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path}: its arrays could not be read ({e})") from None
    classes = _labels(path, arrays)
    x = {k: arrays[k] if arrays[k].ndim == 4 else arrays[k][..., None]
         for k in ("x_train", "x_test")}
    return Dataset(x_train=x["x_train"], y_train=arrays["y_train"].astype(np.int64),
                   x_test=x["x_test"], y_test=arrays["y_test"].astype(np.int64),
                   name=str(path), classes=classes)


def check_network(net, data, weights="the weights file"):
    """Raise :class:`DatasetError` unless ``net`` takes ``data``'s images and has a class for
    each of its labels. The tools call this before any long work."""
    shape = "x".join(map(str, net.input_shape))
    if tuple(net.input_shape) != data.image_shape:
        given = "x".join(map(str, data.image_shape))
        raise DatasetError(f"{weights}: the network takes {shape} images, but {data.name}'s "
                           f"are {given}; use weights trained on it (python -m train --data "
                           f"{data.name if data.name != 'MNIST' else 'FILE.npz'})")
    if data.classes > net.classes:
        raise DatasetError(f"{weights}: the network has {net.classes} classes, but "
                           f"{data.name}'s labels go up to {data.classes - 1}")
