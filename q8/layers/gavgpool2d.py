"""Global average pooling (``gavgpool2d``) on the model side: config, manifest entry,
architecture token (``gap``) and the integer reference."""

from dataclasses import dataclass

import numpy as np

from ..contract import Format
from .kind import Global, Kind, global_from_spec

__all__ = ["GlobalAvgPool2DConfig", "global_average", "KIND"]


@dataclass(frozen=True)
class GlobalAvgPool2DConfig(Global):
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



def global_average(layer, x):
    """``x``: ``(N, H, W, C)`` codes; returns ``(N, C)`` in their dtype."""
    n = layer.positions
    sums = x.astype(np.int64).sum(axis=(1, 2))
    return ((sums + n // 2) // n).astype(x.dtype)


def _forward(layer, x, params):
    return global_average(layer, x), None


def _summary(layer):
    return f"mean of {layer.positions} positions a channel, codes keep {layer.format}"


def _parse(m):
    return {"kind": "gavgpool2d"}


def _format(entry):
    return "gap"


KIND = Kind(name="gavgpool2d", config=GlobalAvgPool2DConfig, base="gap", token=r"gap",
            token_help="gap", parse=_parse, format=_format, keys=frozenset(),
            from_spec=global_from_spec(GlobalAvgPool2DConfig, "global average pooling"), to_spec=lambda layer: {}, forward=_forward,
            summary=_summary, logits=True)
