"""The host tool's helpers: an image from a file or the test set, and classifying on the
compiled simulation of the board top (the serial link to a real board is :mod:`hw.board.link`)."""

import os
import struct

import numpy as np

__all__ = ["ImageError", "simulate_classify", "self_test_on_board", "self_test_on_port",
           "load_image", "test_images_on"]


def test_images_on(board, net, data=None):
    """``(count, refusal)``: the self-test's images that ``board``'s design of ``net`` holds
    (``hw.board.self_test.board_test_images``, with the network's pace from its fit plan, as
    ``hw.build`` builds it), and why there are none (or ``None``)."""
    from hw.board.self_test import board_test_images
    from hw.board.top import self_test_refusal
    from hw.fit import plan
    interval = plan(net.layers, board=board, params=net.params).interval
    count = board_test_images(board, net, data, interval=interval)
    refusal = self_test_refusal(net, data, interval=interval) or \
        ("its flash has no room for the test images" if not count else None)
    return count, refusal


def self_test_on_board(net, *, count, board, progress=print, data=None):
    """The self-test on the compiled board top of ``board`` (a ``platforms`` board;
    ``sim.board_host.self_test_on_board``) with the test images of ``data`` (a
    ``q8.dataset.Dataset``; ``None``: MNIST's)."""
    from sim.board_host import self_test_on_board as on_board
    return on_board(net, count=count, board=board, progress=progress, data=data)


def self_test_on_port(net, port, *, count, baud, board, timeout=1.0, data=None):
    """The self-test on the board on serial ``port`` (``hw.board.self_test.run_self_test``, the
    images of ``data`` (``None``: MNIST's) as ``hw.build --program`` wrote them for ``board``,
    at its design clock), waiting ``timeout`` seconds for a byte beyond the self-test's own
    time."""
    from hw.board.link import SerialBoard
    from hw.board.self_test import run_self_test, test_image
    link = SerialBoard(port, classes=net.classes, baud=baud, timeout=timeout)
    try:
        return run_self_test(link, net, count=count,
                             tests=test_image(test_images_on(board, net, data)[0], data),
                             clock_hz=board.default_clock_hz)
    finally:
        link.close()


def simulate_classify(net, images, *, board, baud=None, progress=print):
    """Classify ``images`` on the compiled board top of ``board`` (``sim.board_host``: an
    iCE40 board's weights loaded from a simulated flash at power-up, an ECP5 board's in its
    block RAM; the requests over the simulated UART at bit level). Returns the answers (status
    OK) or raises ``hw.board.link.LinkError``."""
    from sim.board_host import classify_on_boards
    progress(f"simulating the {board.name}'s board top: compiling it (cached after the first "
             f"time), powering it up ...")
    responses, stats = classify_on_boards(net, images, board=board, baud=baud)
    progress(f"simulated {stats['cycles']:,} cycles of the {stats['board']}'s top at "
             f"{stats['clock_mhz']:g} MHz ({stats['seconds']:.1f} s)")
    return responses


class ImageError(ValueError):
    """An image file that cannot be classified as it is; the message names the fix."""


#: A PNG file starts with this signature, then its IHDR chunk (length, type, width, height).
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    """Width and height from a PNG's IHDR chunk, read before any decoding (so that a header
    claiming a huge image costs nothing)."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as e:
        raise ImageError(f"cannot read {path}: {e.strerror or e}") from None
    if not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise ImageError(f"{path} is not a PNG image (no PNG signature and header); save the "
                         f"image as a PNG of the network's size")
    return struct.unpack(">II", head[16:24])


def _grey(image, path):
    """One decoded PNG as ``H x W`` uint8 intensities (see :func:`load_image` for the
    rules)."""
    if image.has_transparency_data:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3]
        if alpha.min() == 255:  # transparency declared, but every pixel is opaque
            return np.asarray(image.convert("RGB").convert("L"), dtype=np.uint8)
        visible = rgba[..., :3][alpha > 0]
        if len(visible) and not np.all(visible == visible[0]):
            raise ImageError(f"{path} has transparent pixels and more than one colour, which "
                             f"is ambiguous; save it as a greyscale PNG without transparency "
                             f"(white digit on black, as in MNIST)")
        return alpha.copy()  # one ink colour: the digit is in the alpha channel
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: scale, do not clip
        wide = np.asarray(image).astype(np.int64)
        if wide.min() < 0 or wide.max() > 65535:
            raise ImageError(f"{path} has grey values outside 0..65535; save it as an 8-bit "
                             f"greyscale PNG")
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _hint(shape):
    """What an image for a network of input ``shape`` must be."""
    h, w, c = shape
    if (h, w, c) == (28, 28, 1):
        return "the network takes 28x28 (white digit on black, as in MNIST)"
    return f"the network takes {w}x{h} " + ("greyscale" if c == 1 else "RGB") + " images"


def _test_image(index, data, shape):
    """Test image ``index`` of the data set ``data`` (``q8.dataset``; MNIST when ``None``)."""
    from q8 import dataset
    test = dataset.load(data)
    if test.image_shape != tuple(shape):
        raise ImageError(f"{test.name}'s images are {'x'.join(map(str, test.image_shape))}, "
                         f"but the network takes {'x'.join(map(str, shape))}; give --data "
                         f"the data set it was trained on")
    if not 0 <= index < len(test.x_test):
        raise ImageError(f"--mnist-index must be in [0, {len(test.x_test) - 1}], not {index}")
    image = test.x_test[index]
    return image[..., 0] if shape[2] == 1 else image


def _read_png(png, shape):
    width, height = _png_size(png)
    if (height, width) != tuple(shape[:2]):
        raise ImageError(f"{png} is {width}x{height} pixels; {_hint(shape)}")
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(png, formats=["PNG"]) as opened:
            opened.load()
            return _grey(opened, png) if shape[2] == 1 else _rgb(opened)
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as e:
        if isinstance(e, ImageError):
            raise
        raise ImageError(f"{png} is not a readable PNG image ({e}); save it as a "
                         f"{shape[1]}x{shape[0]} {'greyscale' if shape[2] == 1 else 'RGB'} "
                         f"PNG") from None


def _rgb(image):
    """One decoded PNG as ``H x W x 3`` uint8: transparent pixels composited on black (the
    zero code), as a grey PNG's are read from their alpha."""
    rgba = np.asarray(image.convert("RGBA")).astype(np.int64)
    rgb, alpha = rgba[..., :3], rgba[..., 3:]
    return ((rgb * alpha + 127) // 255).astype(np.uint8)


def _read_raw(raw, shape):
    pixels = int(np.prod(shape))
    dims = f"{shape[0]}x{shape[1]}" + (f"x{shape[2]}" if shape[2] > 1 else "")
    want = tuple(shape) if shape[2] > 1 else tuple(shape[:2])
    if not os.path.isfile(raw):
        raise ImageError(f"{raw}: no such file; --raw takes {pixels} raw bytes or a {dims} "
                         f".npy file")
    if str(raw).endswith(".npy"):
        try:  # memory-mapped: the header's shape is checked before any data is read
            array = np.load(raw, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise ImageError(f"{raw} is not a readable .npy array ({e}); save a {dims} uint8 "
                             f"array with numpy.save") from None
        if array.shape not in (want, tuple(shape)) or \
                not np.issubdtype(array.dtype, np.integer) or array.min() < 0 \
                or array.max() > 255:
            raise ImageError(f"{raw} must hold a {dims} array of integers 0..255, not "
                             f"{array.dtype} {array.shape}")
        return np.array(array, dtype=np.uint8).reshape(want)
    size = os.path.getsize(raw)
    if size != pixels:
        raise ImageError(f"{raw} has {size} bytes; a raw image is {pixels} ({dims}, "
                         f"row-major" + (", a pixel's channels in turn)" if shape[2] > 1
                                          else ")"))
    with open(raw, "rb") as f:
        return np.frombuffer(f.read(), np.uint8).reshape(want)


def load_image(*, png=None, raw=None, mnist_index=None, shape=(28, 28, 1), data=None):
    """One image for a network of input ``shape`` (``(height, width, channels)``) from a PNG,
    a raw file or the test set: ``H x W`` uint8 for one channel, ``H x W x 3`` for RGB.

    Parameters
    ----------
    png : path
        A PNG of the network's size; for MNIST a white digit on black. Its size is read from
        the header before anything is decoded. For a grey network: 8-bit grey is used as it
        is; 16-bit grey is scaled from 0..65535 to 0..255 (rounded); colour becomes its
        luminance. With transparency (an alpha channel or a transparent colour) whose visible
        pixels all have one colour, the alpha channel is the intensity (a digit drawn on a
        transparent canvas); transparency with more than one visible colour is refused. For
        an RGB network: its red, green and blue, transparent pixels composited on black.
    raw : path
        ``H * W * C`` bytes (row-major, a pixel's channels in turn), or a ``.npy`` file
        holding an ``H x W`` (grey) or ``H x W x C`` integer array 0..255.
    mnist_index : int
        The test image of that index: MNIST's, or ``data``'s.
    shape : tuple of int
        The network's ``input_shape``.
    data : path, optional
        A data set (``q8.dataset``) for ``mnist_index``.

    Raises
    ------
    ImageError
        Naming what is wrong with the image and the fix.
    q8.mnist.MnistError, q8.dataset.DatasetError
        When ``mnist_index`` is given and the test set cannot be read.
    """
    shape = tuple(shape)
    if sum(x is not None for x in (png, raw, mnist_index)) != 1:
        raise ImageError("give exactly one of --png, --raw and --mnist-index")
    if mnist_index is not None:
        return _test_image(mnist_index, data, shape)
    if png is not None:
        return _read_png(png, shape)
    return _read_raw(raw, shape)
