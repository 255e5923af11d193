"""The host tool's helpers: an image from a file or the test set, and classifying on the
simulated board top (the serial link to a real board is :mod:`board.link`)."""

import time

import numpy as np

from board.link import checked
from board.protocol import FRAME_BYTES, Command, Status, classify_request, decode_response

__all__ = ["simulate_classify", "load_image"]


def simulate_classify(net, images, *, progress=print):
    """Classify ``images`` on the simulated board top (loading its weights from a simulated
    flash first, as the board does at power-up). Returns the responses."""
    from board.flash_image import make_image
    from board.top import BoardTop
    from sim.board import SimulatedBoard

    top = BoardTop(net, timeout_cycles=20_000)
    board = SimulatedBoard(top, make_image(top.flash_words))

    async def script(link):
        start = time.time()
        progress("simulating the board: loading the weights from flash (about a minute) ...")
        while True:
            await link.send(bytes([Command.STATUS]))
            status = decode_response(await link.receive(FRAME_BYTES, 40_000)).status
            if status != Status.NOT_READY:
                break
            await link.wait(50_000)
        progress(f"weights loaded ({time.time() - start:.0f} s); classifying ...")
        out = []
        for image in images:
            await link.send(classify_request(image.reshape(-1)))
            out.append(decode_response(await link.receive(FRAME_BYTES, 40_000)))
        return out

    return [checked(r) for r in board.run(script)]


def load_image(*, png=None, raw=None, mnist_index=None):
    """One 28x28 uint8 image from a PNG, a raw file (784 bytes, or a .npy array) or the MNIST
    test set; raises ``ValueError`` naming what is wrong with it."""
    if sum(x is not None for x in (png, raw, mnist_index)) != 1:
        raise ValueError("give exactly one of --png, --raw and --mnist-index")
    if mnist_index is not None:
        from q8 import mnist
        test = mnist.load().x_test
        if not 0 <= mnist_index < len(test):
            raise ValueError(f"--mnist-index must be in [0, {len(test) - 1}], not {mnist_index}")
        return test[mnist_index]
    if png is not None:
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(png) as opened:
                image = opened.convert("L")
        except (OSError, UnidentifiedImageError) as e:
            raise ValueError(f"{png} is not a readable image: {e}") from None
        if image.size != (28, 28):
            raise ValueError(f"{png} is {image.size[0]}x{image.size[1]} pixels; the network "
                             f"takes 28x28 (white digit on black, as in MNIST)")
        return np.asarray(image, dtype=np.uint8)
    if str(raw).endswith(".npy"):
        array = np.load(raw, allow_pickle=False)
        if array.shape != (28, 28) or not np.issubdtype(array.dtype, np.integer) \
                or array.min() < 0 or array.max() > 255:
            raise ValueError(f"{raw} must hold a 28x28 array of integers 0..255, not "
                             f"{array.dtype} {array.shape}")
        return array.astype(np.uint8)
    with open(raw, "rb") as f:
        data = f.read()
    if len(data) != 784:
        raise ValueError(f"{raw} has {len(data)} bytes; a raw image is 784 (28x28, row-major)")
    return np.frombuffer(data, np.uint8).reshape(28, 28)
