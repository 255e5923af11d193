"""Global average pooling (``gavgpool2d``) on the model side: config, manifest entry,
architecture token (``gap``) and the integer reference."""

from dataclasses import dataclass

import numpy as np

from ..contract import Format
from .kind import Kind, KeepsFormat

__all__ = ["GlobalAvgPool2DConfig", "global_average", "KIND"]


@dataclass(frozen=True)
class GlobalAvgPool2DConfig(KeepsFormat):
    """The mean of each channel over the ``height x width`` positions, in the input's format:
    ``floor((sum + n // 2) / n)`` for ``n = height * width`` (the sum's exact quotient,
    rounded half up, as the contract's requantisation rounds), so that the codes keep their
    format and their scale. Its output is flat (``channels``); after a last convolution
    without ReLU its signed codes are the logits (an all-convolutional network's end).
    """

    name: str
    in_shape: tuple
    format: Format

    kind = "gavgpool2d"
    #: No parameters: a sum and a division by a constant.
    has_params = False

    def __post_init__(self):
        self._check_image()

    @property
    def positions(self):
        """``n``: the positions each mean is over."""
        return self.in_shape[0] * self.in_shape[1]

    @property
    def out_shape(self):
        return (self.in_shape[2],)


def global_average(layer, x):
    """``x``: ``(N, H, W, C)`` codes; returns ``(N, C)`` in their dtype."""
    n = layer.positions
    sums = x.astype(np.int64).sum(axis=(1, 2))
    return ((sums + n // 2) // n).astype(x.dtype)


def _forward(layer, x, params):
    return global_average(layer, x), None


def _from_spec(spec, in_shape, in_format):
    if len(in_shape) != 3:
        raise ValueError(f"global average pooling needs a (height, width, channels) input, "
                         f"not {in_shape}")
    return GlobalAvgPool2DConfig(name=spec["name"], in_shape=in_shape, format=in_format)


def _summary(layer):
    return f"mean of {layer.positions} positions a channel, codes keep {layer.format}"


def _parse(m):
    return {"kind": "gavgpool2d"}


def _format(entry):
    return "gap"


KIND = Kind(name="gavgpool2d", config=GlobalAvgPool2DConfig, base="gap", token=r"gap",
            token_help="gap", parse=_parse, format=_format, keys=frozenset(),
            from_spec=_from_spec, to_spec=lambda layer: {}, forward=_forward,
            summary=_summary, logits=True)
