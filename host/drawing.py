"""A digit drawn on the web page (``python -m host --serve``) as the network takes it: cropped,
scaled and centred as MNIST's digits were, in the 8-bit codes the board receives.

MNIST's digits were fitted into a 20x20 box (aspect ratio kept, anti-aliased) and then shifted
so that their centre of mass lies at the centre of the 28x28 image; a drawing here is treated
the same way, for a network of any input height and width (the box is 20/28 of each side), so
that a digit drawn anywhere on the canvas, at any size, reaches the network as the digits it
was trained on did.
"""

import numpy as np

__all__ = ["DrawingError", "MAX_SIDE", "board_image", "check_codes", "centre"]

#: The largest drawing side accepted, in pixels: the page's canvas is far smaller, and a bound
#: keeps a request's decoding cheap.
MAX_SIDE = 1024

#: The part of each side of the image that MNIST's digits were fitted into (20 of 28 pixels).
BOX = 20 / 28


class DrawingError(ValueError):
    """A drawing or an image of codes that cannot be classified as it is; the message says
    what the page or the client must send instead."""


def _integers(values, count, what):
    """``values`` (a JSON list) as an int array of ``count`` entries in 0..255."""
    if not isinstance(values, list) or len(values) != count:
        got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
        raise DrawingError(f"{what} must be a list of {count} integers 0..255, not {got}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255
               for v in values):
        raise DrawingError(f"{what} must hold integers 0..255 only")
    return np.array(values, dtype=np.uint8)


def check_codes(values, shape):
    """The board's 8-bit codes ``values`` (a flat list, row-major) as an image of ``shape``
    (the network's ``(height, width, channels)``), or :class:`DrawingError`."""
    count = int(np.prod(shape))
    return _integers(values, count, f"pixels (for a {'x'.join(map(str, shape))} input)") \
        .reshape(shape)


def _resize(patch, height, width):
    """``patch`` (float, 0..255) resampled to ``height`` x ``width`` by averaging the area each
    output pixel covers (anti-aliased, as MNIST's digits were)."""
    from PIL import Image
    image = Image.fromarray(patch.astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BOX), dtype=np.float64)


def centre(grey, shape):
    """``grey`` (a 2-D uint8 drawing, white ink on black, any size) cropped to its ink, fitted
    into the middle 20/28 of ``shape``'s height and width with its aspect ratio kept, and
    shifted so that its centre of mass is the image's centre (MNIST's preparation). Returns
    uint8 ``shape`` (grey repeated over the channels); a blank drawing stays blank."""
    height, width, channels = shape
    out = np.zeros((height, width), np.float64)
    rows, cols = np.nonzero(grey)
    if len(rows):
        patch = grey[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.float64)
        scale = min(BOX * height / patch.shape[0], BOX * width / patch.shape[1])
        h = max(1, min(height, round(patch.shape[0] * scale)))
        w = max(1, min(width, round(patch.shape[1] * scale)))
        small = _resize(patch, h, w)
        mass = small.sum()
        if mass > 0:
            cy = (small.sum(axis=1) @ np.arange(h)) / mass
            cx = (small.sum(axis=0) @ np.arange(w)) / mass
            # the offset that puts the centre of mass on the image's centre, kept on the image
            top = min(max(round((height - 1) / 2 - cy), 0), height - h)
            left = min(max(round((width - 1) / 2 - cx), 0), width - w)
            out[top:top + h, left:left + w] = small
    codes = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return np.repeat(codes[:, :, None], channels, axis=2)


def board_image(request, shape):
    """The image the board receives for a request of the page, as uint8 ``shape``.

    Parameters
    ----------
    request : dict
        Either ``{"pixels": [...]}``, the board's codes as they are (row-major, ``shape``'s
        count: a test image, or codes a client made itself), or ``{"drawing": {"width": W,
        "height": H, "pixels": [...]}}``, a drawing's grey levels (``W * H`` integers, white
        ink on black) that :func:`centre` prepares.
    shape : tuple of int
        The network's ``(height, width, channels)``.

    Raises
    ------
    DrawingError
        Naming what is wrong with the request.
    """
    if not isinstance(request, dict) or ("pixels" in request) == ("drawing" in request):
        raise DrawingError('the request must be a JSON object with either "pixels" (the '
                           'board\'s codes) or "drawing" (a drawing to centre)')
    if "pixels" in request:
        return check_codes(request["pixels"], shape)
    drawing = request["drawing"]
    if not isinstance(drawing, dict):
        raise DrawingError('"drawing" must be an object with "width", "height" and "pixels"')
    width, height = drawing.get("width"), drawing.get("height")
    for name, side in (("width", width), ("height", height)):
        if not isinstance(side, int) or isinstance(side, bool) or not 1 <= side <= MAX_SIDE:
            raise DrawingError(f"the drawing's {name} must be an integer from 1 to "
                               f"{MAX_SIDE}, not {side!r}")
    grey = _integers(drawing.get("pixels"), width * height,
                     f"the drawing's pixels (for {width}x{height})")
    return centre(grey.reshape(height, width), shape)
