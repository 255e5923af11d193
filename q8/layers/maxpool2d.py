"""Max pooling (``maxpool2d``) on the model side: config, manifest entry, architecture token
(``pool`` or ``pool<P>``) and the integer reference."""

from dataclasses import dataclass

from ..contract import Format, check_shape
from .kind import Kind, KeepsFormat

__all__ = ["MaxPool2DConfig", "maxpool2d", "KIND"]


@dataclass(frozen=True)
class MaxPool2DConfig(KeepsFormat):
    """Max pooling with a ``pool x pool`` window and the same stride; leftover rows and columns
    are dropped (Keras' ``padding="valid"``). Codes keep their format: the maximum commutes with
    the monotone requantisation, so no arithmetic is needed."""

    name: str
    in_shape: tuple
    pool: tuple
    format: Format

    kind = "maxpool2d"
    #: No parameters: its output codes are some of its input codes.
    has_params = False

    def __post_init__(self):
        self._check_image()
        check_shape(f"{self.name}: pool", self.pool, 2)
        if self.pool[0] > self.in_shape[0] or self.pool[1] > self.in_shape[1]:
            raise ValueError(f"{self.name}: pool {self.pool} is larger than the input "
                             f"{self.in_shape[:2]}")

    @property
    def out_shape(self):
        return (self.in_shape[0] // self.pool[0], self.in_shape[1] // self.pool[1],
                self.in_shape[2])


def maxpool2d(layer, x):
    """``x``: ``(N, H, W, C)``; returns ``(N, H // ph, W // pw, C)``, extra rows dropped."""
    ph, pw = layer.pool
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
    return MaxPool2DConfig(name=spec["name"], in_shape=in_shape, pool=tuple(spec["pool"]),
                           format=in_format)


def _to_spec(layer):
    return {"pool": list(layer.pool)}


def _summary(layer):
    return f"pool {layer.pool[0]}x{layer.pool[1]}, codes keep {layer.format}"


def _parse(m):
    size = int(m["pool"] or 2)
    if size < 2:
        raise ValueError(f"{m[0]}: a pool is at least 2 x 2")
    return {"kind": "maxpool2d", "pool": [size, size]}


def _format(entry):
    ph, pw = entry["pool"]
    if ph != pw:
        raise ValueError(f"a {ph}x{pw} pool has no spec token (only square pools)")
    return "pool" if ph == 2 else f"pool{ph}"


KIND = Kind(name="maxpool2d", config=MaxPool2DConfig, base="pool", token=r"pool(?P<pool>\d+)?",
            token_help="pool or pool<size>", parse=_parse, format=_format,
            keys=frozenset({"pool"}), from_spec=_from_spec, to_spec=_to_spec,
            forward=_forward, summary=_summary)
