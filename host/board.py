"""The host tool's helpers: an image from a file or the test set, and classifying on the
compiled simulation of the board top (the serial link to a real board is :mod:`hw.board.link`)."""

import os
import struct

import numpy as np

__all__ = ["ImageError", "simulate_classify", "self_test_on_board", "self_test_on_port",
           "load_image"]


def self_test_on_board(net, *, count, board, progress=print):
    """The self-test on the compiled board top of ``board`` (a ``platforms`` board;
    ``sim.board_host.self_test_on_board``)."""
    from sim.board_host import self_test_on_board as on_board
    return on_board(net, count=count, board=board, progress=progress)


def self_test_on_port(net, port, *, count, baud, board, timeout=1.0):
    """The self-test on the board on serial ``port`` (``hw.board.self_test.run_self_test``, the
    images as ``hw.build --program`` wrote them for ``board``, at its design clock), waiting
    ``timeout`` seconds for a byte beyond the self-test's own time."""
    from hw.board.link import SerialBoard
    from hw.board.self_test import board_test_images, run_self_test, test_image
    link = SerialBoard(port, classes=net.classes, baud=baud, timeout=timeout)
    try:
        return run_self_test(link, net, count=count,
                             tests=test_image(board_test_images(board, net)),
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
_SIZE_HINT = "the network takes 28x28 (white digit on black, as in MNIST)"


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
                         f"digit as a 28x28 greyscale PNG")
    return struct.unpack(">II", head[16:24])


def _grey(image, path):
    """One decoded PNG as 28x28 uint8 intensities (see :func:`load_image` for the rules)."""
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


def load_image(*, png=None, raw=None, mnist_index=None):
    """One 28x28 uint8 image from a PNG, a raw file or the MNIST test set.

    Parameters
    ----------
    png : path
        A 28x28 PNG, white digit on black as in MNIST. Its size is read from the header before
        anything is decoded. 8-bit grey is used as it is; 16-bit grey is scaled from 0..65535
        to 0..255 (rounded); colour becomes its luminance. With transparency (an alpha channel
        or a transparent colour) whose visible pixels all have one colour, the alpha channel is
        the intensity (a digit drawn on a transparent canvas); transparency with more than one
        visible colour is refused.
    raw : path
        784 bytes (28x28, row-major), or a ``.npy`` file holding a 28x28 integer array 0..255.
    mnist_index : int
        The MNIST test image of that index.

    Raises
    ------
    ImageError
        Naming what is wrong with the image and the fix.
    q8.mnist.MnistError
        When ``mnist_index`` is given and MNIST cannot be found.
    """
    if sum(x is not None for x in (png, raw, mnist_index)) != 1:
        raise ImageError("give exactly one of --png, --raw and --mnist-index")
    if mnist_index is not None:
        from q8 import mnist
        test = mnist.load().x_test
        if not 0 <= mnist_index < len(test):
            raise ImageError(f"--mnist-index must be in [0, {len(test) - 1}], not {mnist_index}")
        return test[mnist_index]
    if png is not None:
        width, height = _png_size(png)
        if (width, height) != (28, 28):
            raise ImageError(f"{png} is {width}x{height} pixels; {_SIZE_HINT}")
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(png, formats=["PNG"]) as opened:
                opened.load()
                return _grey(opened, png)
        except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as e:
            if isinstance(e, ImageError):
                raise
            raise ImageError(f"{png} is not a readable PNG image ({e}); save the digit as a "
                             f"28x28 greyscale PNG") from None
    if not os.path.isfile(raw):
        raise ImageError(f"{raw}: no such file; --raw takes 784 raw bytes or a 28x28 .npy file")
    if str(raw).endswith(".npy"):
        try:  # memory-mapped: the header's shape is checked before any data is read
            array = np.load(raw, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise ImageError(f"{raw} is not a readable .npy array ({e}); save a 28x28 uint8 "
                             f"array with numpy.save") from None
        if array.shape != (28, 28) or not np.issubdtype(array.dtype, np.integer) \
                or array.min() < 0 or array.max() > 255:
            raise ImageError(f"{raw} must hold a 28x28 array of integers 0..255, not "
                             f"{array.dtype} {array.shape}")
        return np.array(array, dtype=np.uint8)
    size = os.path.getsize(raw)
    if size != 784:
        raise ImageError(f"{raw} has {size} bytes; a raw image is 784 (28x28, row-major)")
    with open(raw, "rb") as f:
        return np.frombuffer(f.read(), np.uint8).reshape(28, 28)
