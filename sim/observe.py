"""What the integer reference produces on a set of images: every layer's output codes counted,
and the accumulators' ranges. Read by ``sim.describe`` (text) and ``sim.plots`` (pictures)."""

from dataclasses import dataclass

import numpy as np

from q8 import reference

__all__ = ["Observed", "code_counts", "code_range", "observe", "saturated"]


def code_counts(codes, fmt):
    """How often each code of ``fmt`` occurs in ``codes``.

    Parameters
    ----------
    codes : array-like of int
        Codes of ``fmt``, any shape.
    fmt : q8.contract.Format

    Returns
    -------
    numpy.ndarray
        int64 ``(fmt.max - fmt.min + 1,)``: index ``i`` counts the code ``fmt.min + i``.
    """
    codes = np.asarray(codes, np.int64).ravel()
    return np.bincount(codes - fmt.min, minlength=fmt.max - fmt.min + 1)


def saturated(counts, fmt):
    """How many of the codes counted in ``counts`` (:func:`code_counts`) are at a saturation
    limit: ``fmt.max``, and ``fmt.min`` when ``fmt`` is signed (an unsigned format's 0 is the
    ReLU, not a saturation)."""
    return int(counts[-1]) + (int(counts[0]) if fmt.signed else 0)


def code_range(counts, fmt):
    """The lowest and highest code counted in ``counts`` (:func:`code_counts`), or ``None``."""
    present = np.flatnonzero(counts)
    if not len(present):
        return None
    return fmt.min + int(present[0]), fmt.min + int(present[-1])


@dataclass(frozen=True)
class Observed:
    """What the integer reference produced on a set of images (:func:`observe`).

    Members
    -------
    images : int
        How many images.
    codes : dict
        Layer name -> :func:`code_counts` of the layer's output codes over all images.
    accumulators : dict
        Convolution or dense layer name -> the (lowest, highest) accumulator seen.
    """

    images: int
    codes: dict
    accumulators: dict


def observe(net, images, chunk=10000):
    """Run the integer reference over ``images`` (in chunks of ``chunk``, to bound memory) and
    count every layer's output codes and accumulator range: the facts behind
    ``sim.describe``'s ranges and ``sim.plots.plot_ranges``' histograms."""
    codes, accs = {}, {}
    for start in range(0, len(images), chunk):
        r = reference.run(net, images[start:start + chunk], intermediates=True,
                          accumulators=True)
        for layer in net.layers:
            counts = code_counts(r.layers[layer.name], layer.output)
            codes[layer.name] = codes.get(layer.name, 0) + counts
            if layer.name in r.accumulators:
                a = r.accumulators[layer.name]
                old = accs.get(layer.name, (int(a.min()), int(a.max())))
                accs[layer.name] = (min(int(a.min()), old[0]), max(int(a.max()), old[1]))
    return Observed(images=len(images), codes=codes, accumulators=accs)
