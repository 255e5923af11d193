"""Average pooling (``avgpool2d``) on the model side: config, manifest entry, architecture
token (``avgpool``, ``avgpool<P>``, ``...s<S>``) and the integer reference."""

from dataclasses import dataclass

import numpy as np

from ..contract import Format
from .kind import (Kind, KeepsFormat, Pooled, pool_entry, pool_spec, pool_summary, pool_to_spec,
                   pool_token)

__all__ = ["AvgPool2DConfig", "average_pool", "rounded_mean", "KIND"]


def rounded_mean(sums, n):
    """``floor((sum + n // 2) / n)``: the mean of ``n`` codes rounded half up (the contract's
    rounding; ``docs/fixed-point.md``), for int64 ``sums`` of either sign."""
    return (sums + n // 2) // n


@dataclass(frozen=True)
class AvgPool2DConfig(Pooled, KeepsFormat):
    """Average pooling with a ``pool`` window at every ``strides`` step (the pool's by
    default), valid padding: each window's mean in the input's format, ``floor((sum + n //
    2) / n)`` for its ``n = ph * pw`` codes (:func:`rounded_mean`), so that the codes keep
    their format and scale. Keras' ``padding="same"`` divides a border window by the number
    of its positions inside the image, a divisor per position: not built, refused."""

    name: str
    in_shape: tuple
    pool: tuple
    format: Format
    strides: tuple = None
    padding: tuple = ((0, 0), (0, 0))

    kind = "avgpool2d"
    #: No parameters: a sum and a division by a constant.
    has_params = False

    def __post_init__(self):
        if self.padding != ((0, 0), (0, 0)):
            raise ValueError(f"{self.name}: average pooling takes valid padding only (Keras' "
                             f"same padding divides each border window by its own count)")
        self._check_pool()


def average_pool(layer, x):
    """``x``: ``(N, H, W, C)`` codes; returns ``(N, H', W', C)`` in their dtype."""
    sums = layer.windows(x.astype(np.int64), 0).sum(axis=(-2, -1))
    return rounded_mean(sums, layer.window_size).astype(x.dtype)


def _forward(layer, x, params):
    return average_pool(layer, x), None


def _from_spec(spec, in_shape, in_format):
    return AvgPool2DConfig(name=spec["name"], in_shape=in_shape, format=in_format,
                           **pool_spec(spec, in_shape, "average pooling"))


def _summary(layer):
    return pool_summary(layer, "mean (rounded half up) of")


def _parse(m):
    return pool_entry("avgpool2d", m["avgpool"], None, m["avgpool_stride"], m[0])


KIND = Kind(name="avgpool2d", config=AvgPool2DConfig, base="avgpool",
            token=r"avgpool(?P<avgpool>\d+)?(?:s(?P<avgpool_stride>\d+))?",
            token_help="avgpool or avgpool<size>, [s<stride>]", parse=_parse,
            format=lambda entry: pool_token(entry, "avgpool"),
            keys=frozenset({"pool"}), optional_keys=frozenset({"strides"}),
            from_spec=_from_spec, to_spec=pool_to_spec, forward=_forward, summary=_summary)
