"""Global max pooling (``gmaxpool2d``) on the model side: config, manifest entry,
architecture token (``gmp``) and the integer reference."""

from dataclasses import dataclass

from ..contract import Format
from .kind import Global, Kind, global_from_spec

__all__ = ["GlobalMaxPool2DConfig", "global_max", "KIND"]


@dataclass(frozen=True)
class GlobalMaxPool2DConfig(Global):
    """The maximum of each channel over the ``height x width`` positions, in the input's
    format (the maximum commutes with the monotone requantisation). Its output is flat
    (``channels``); after a last convolution without ReLU its signed codes are the logits."""

    name: str
    in_shape: tuple
    format: Format

    kind = "gmaxpool2d"
    has_params = False


def global_max(layer, x):
    """``x``: ``(N, H, W, C)`` codes; returns ``(N, C)``."""
    return x.max(axis=(1, 2))


KIND = Kind(name="gmaxpool2d", config=GlobalMaxPool2DConfig, base="gmp", token=r"gmp",
            token_help="gmp", parse=lambda m: {"kind": "gmaxpool2d"},
            format=lambda entry: "gmp", keys=frozenset(),
            from_spec=global_from_spec(GlobalMaxPool2DConfig, "global max pooling"),
            to_spec=lambda layer: {}, forward=lambda layer, x, params: (global_max(layer, x),
                                                                        None),
            summary=lambda layer: f"maximum of {layer.positions} positions a channel, codes "
                                  f"keep {layer.format}", logits=True)
