"""``python -m train.digits --out digits.npz``: scikit-learn's 8x8 handwritten digits as a data
set for ``--data`` (the Keras layout of ``q8.dataset``): an example that needs no download.

The 1,797 digits ship inside scikit-learn (``pip install scikit-learn``, or this project's
``examples`` extra). Each pixel is 0..16 (a count of set pixels in a 4x4 block of the
original 32x32 bitmap): it becomes the byte ``round(v * 255 / 16)``. The images are shuffled
with ``--seed`` and the last fifth kept for testing (1,438 training and 359 test images).

``--rgb`` makes a three-channel variant: each digit drawn in a colour of its own (a random
hue at full brightness, the background black), the label still the digit, so a network must
read the shape whatever the colour: the test of the RGB path (``docs/datasets.md``).
"""

import argparse
import sys

import numpy as np

__all__ = ["digits_dataset", "main"]

#: The share of the images kept for testing.
TEST_SHARE = 0.2


def _colours(rng, n):
    """``n`` random fully saturated colours, ``(n, 3)`` in 0..1 (a hue each)."""
    hue = rng.random(n) * 6
    sector, f = np.floor(hue).astype(int) % 6, hue - np.floor(hue)
    rising, falling = f, 1 - f
    table = np.stack([np.ones(n), rising, np.zeros(n), falling], axis=1)
    # (r, g, b) per sector: the standard hue wheel
    pick = np.array([[0, 1, 2], [3, 0, 2], [2, 0, 1], [2, 3, 0], [1, 2, 0], [0, 2, 3]])
    return np.take_along_axis(table, pick[sector], axis=1)


def digits_dataset(*, seed=0, rgb=False):
    """``{x_train, y_train, x_test, y_test}`` of scikit-learn's digits (uint8 images
    ``N x 8 x 8``, or ``N x 8 x 8 x 3`` with ``rgb``; int64 labels)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    images, labels = images[order], labels[order]
    if rgb:
        colours = _colours(rng, len(images))
        images = np.round(images[..., None] * colours[:, None, None, :]).astype(np.uint8)
    split = len(images) - round(len(images) * TEST_SHARE)
    return {"x_train": images[:split], "y_train": labels[:split],
            "x_test": images[split:], "y_test": labels[split:]}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m train.digits", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 written, 1 writing failed, 2 usage or "
                                       "scikit-learn missing")
    p.add_argument("--out", default="digits.npz", help="the .npz to write (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="the shuffle's seed (default 0)")
    p.add_argument("--rgb", action="store_true",
                   help="three channels: each digit in a random colour")
    args = p.parse_args(argv)
    if not args.out.endswith(".npz"):
        p.error(f"--out must name a .npz file, not {args.out!r}")
    try:
        arrays = digits_dataset(seed=args.seed, rgb=args.rgb)
    except ImportError:
        p.exit(2, "error: the digits come with scikit-learn: pip install scikit-learn (or "
                  "pip install -e '.[examples]')\n")
    try:
        np.savez_compressed(args.out, **arrays)
    except OSError as e:
        p.exit(1, f"error: cannot write {args.out} ({e})\n")
    shape = "x".join(map(str, arrays["x_train"].shape[1:]))
    print(f"wrote {args.out}: {len(arrays['x_train'])} training and {len(arrays['x_test'])} "
          f"test images of {shape}, 10 classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
