"""Max pooling (``maxpool2d``) on the model side: config, manifest entry, architecture token
(``pool``, ``pool<P>``, ``...same``, ``...s<S>``) and the integer reference."""

from dataclasses import dataclass

from ..contract import Format
from .kind import (Kind, KeepsFormat, Pooled, pool_entry, pool_spec, pool_summary, pool_to_spec,
                   pool_token, same_padding)

__all__ = ["MaxPool2DConfig", "maxpool2d", "KIND"]


@dataclass(frozen=True)
class MaxPool2DConfig(Pooled, KeepsFormat):
    """Max pooling with a ``pool`` window at every ``strides`` step (the pool's by default,
    Keras' too); windows that do not fit are not computed: leftover rows and columns are
    dropped (Keras' ``padding="valid"``). Codes keep their format: the maximum commutes with
    the monotone requantisation, so no arithmetic is needed."""

    name: str
    in_shape: tuple
    pool: tuple
    format: Format
    #: ``((top, bottom), (left, right))`` rows and columns added before pooling (Keras'
    #: ``padding="same"``: :func:`~q8.layers.conv2d.same_padding`); they hold the format's
    #: smallest code, which no window's maximum is below, so a window's maximum is that of
    #: its codes from the image, as in Keras, which leaves the padding out.
    padding: tuple = ((0, 0), (0, 0))
    #: ``(rows, columns)`` between windows; None: the pool's.
    strides: tuple = None

    kind = "maxpool2d"
    #: No parameters: its output codes are some of its input codes.
    has_params = False

    def __post_init__(self):
        self._check_pool()
        if self.padding not in ((((0, 0), (0, 0))),
                                same_padding(self.in_shape[:2], self.pool, self.strides)):
            raise ValueError(f"{self.name}: padding {self.padding} is neither none nor "
                             f"Keras' same for this input")


def maxpool2d(layer, x):
    """``x``: ``(N, H, W, C)``; returns ``(N, H', W', C)``, the maximum of each window."""
    return layer.windows(x, layer.format.min).max(axis=(-2, -1))


def _forward(layer, x, params):
    return maxpool2d(layer, x), None


def _from_spec(spec, in_shape, in_format):
    return MaxPool2DConfig(name=spec["name"], in_shape=in_shape, format=in_format,
                           **pool_spec(spec, in_shape, "max pooling"))


def _parse(m):
    return pool_entry("maxpool2d", m["pool"], m["pool_same"], m["pool_stride"], m[0])


KIND = Kind(name="maxpool2d", config=MaxPool2DConfig, base="pool",
            token=r"pool(?P<pool>\d+)?(?P<pool_same>same)?(?:s(?P<pool_stride>\d+))?",
            token_help="pool or pool<size>, [same][s<stride>]", parse=_parse,
            format=lambda entry: pool_token(entry, "pool"),
            keys=frozenset({"pool"}), optional_keys=frozenset({"padding", "strides"}),
            from_spec=_from_spec, to_spec=pool_to_spec,
            forward=_forward, summary=lambda layer: pool_summary(layer, "max pool"))
