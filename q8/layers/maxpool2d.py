"""Max pooling (``maxpool2d``) on the model side: config, manifest entry, architecture token
(``pool`` or ``pool<P>``) and the integer reference."""

from dataclasses import dataclass

import numpy as np

from ..contract import Format, check_shape
from .conv2d import same_padding
from .kind import Kind, KeepsFormat, Padded

__all__ = ["MaxPool2DConfig", "maxpool2d", "KIND"]


@dataclass(frozen=True)
class MaxPool2DConfig(Padded, KeepsFormat):
    """Max pooling with a ``pool x pool`` window and the same stride; leftover rows and columns
    are dropped (Keras' ``padding="valid"``). Codes keep their format: the maximum commutes with
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

    kind = "maxpool2d"
    #: No parameters: its output codes are some of its input codes.
    has_params = False

    def __post_init__(self):
        self._check_image()
        check_shape(f"{self.name}: pool", self.pool, 2)
        if self.padding not in ((((0, 0), (0, 0))),
                                same_padding(self.in_shape[:2], self.pool, self.pool)):
            raise ValueError(f"{self.name}: padding {self.padding} is neither none nor "
                             f"Keras' same for this input")
        if self.pool[0] > self.in_shape[0] or self.pool[1] > self.in_shape[1]:
            raise ValueError(f"{self.name}: pool {self.pool} is larger than the input "
                             f"{self.in_shape[:2]}")

    @property
    def out_shape(self):
        h, w, c = self.padded_shape
        return (h // self.pool[0], w // self.pool[1], c)


def maxpool2d(layer, x):
    """``x``: ``(N, H, W, C)``; returns ``(N, H // ph, W // pw, C)``, extra rows dropped."""
    ph, pw = layer.pool
    x = np.pad(x, ((0, 0), *layer.padding, (0, 0)), constant_values=layer.format.min)
    n, h, w, c = x.shape
    oh, ow = h // ph, w // pw
    x = x[:, :oh * ph, :ow * pw].reshape(n, oh, ph, ow, pw, c)
    return x.max(axis=(2, 4))


def _forward(layer, x, params):
    return maxpool2d(layer, x), None


def _from_spec(spec, in_shape, in_format):
    if len(in_shape) != 3:
        raise ValueError(f"max pooling needs a (height, width, channels) input, not "
                         f"{in_shape}")
    pool = tuple(spec["pool"])
    extra = {}
    if "padding" in spec:
        padding = spec["padding"]
        if padding == "same":   # an architecture's
            padding = same_padding(in_shape[:2], pool, pool)
        elif not (isinstance(padding, list) and all(isinstance(p, list) for p in padding)):
            raise ValueError(f"padding must be \"same\" or [[top, bottom], [left, right]], "
                             f"not {padding!r}")
        extra["padding"] = tuple(tuple(p) for p in padding)
    return MaxPool2DConfig(name=spec["name"], in_shape=in_shape, pool=pool, format=in_format,
                           **extra)


def _to_spec(layer):
    # padding only where there is some: the files of valid pools stay as they were
    return {"pool": list(layer.pool),
            **({"padding": [list(p) for p in layer.padding]} if layer.padded else {})}


def _summary(layer):
    return f"pool {layer.pool[0]}x{layer.pool[1]}, codes keep {layer.format}"


def _parse(m):
    size = int(m["pool"] or 2)
    if size < 2:
        raise ValueError(f"{m[0]}: a pool is at least 2 x 2")
    entry = {"kind": "maxpool2d", "pool": [size, size]}
    if m["pool_same"]:
        entry["padding"] = "same"
    return entry


def _format(entry):
    ph, pw = entry["pool"]
    if ph != pw:
        raise ValueError(f"a {ph}x{pw} pool has no spec token (only square pools)")
    padding = entry.get("padding")
    if padding not in (None, "same") and padding != [[0, 0], [0, 0]]:
        raise ValueError(f"padding {padding} has no spec token (valid, or same)")
    return ("pool" if ph == 2 else f"pool{ph}") + ("same" if padding == "same" else "")


KIND = Kind(name="maxpool2d", config=MaxPool2DConfig, base="pool",
            token=r"pool(?P<pool>\d+)?(?P<pool_same>same)?",
            token_help="pool or pool<size>, [same]", parse=_parse, format=_format,
            keys=frozenset({"pool"}), optional_keys=frozenset({"padding"}),
            from_spec=_from_spec, to_spec=_to_spec,
            forward=_forward, summary=_summary)
