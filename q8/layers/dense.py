"""The fully connected layer (``dense``) on the model side: config, manifest entry,
architecture token (``dense<N>``) and the integer reference."""

from dataclasses import dataclass

import numpy as np

from ..contract import MacLayer, check_count
from .kind import Kind, mac_formats, mac_to_spec, relu_max_token, with_relu_max

__all__ = ["DenseConfig", "dense_acc", "KIND"]


@dataclass(frozen=True)
class DenseConfig(MacLayer):
    """Fully connected layer over the flattened input, then bias and requantisation.

    The input is flattened in row-major ``(row, column, channel)`` order, as Keras' ``Flatten``
    does. The weight array has shape ``(in_features, out_features)``, the bias
    ``(out_features,)``.
    """

    in_features: int = None
    out_features: int = None

    kind = "dense"
    #: It has a weight and a bias array.
    has_params = True

    def __post_init__(self):
        check_count(f"{self.name}: in_features", self.in_features)
        check_count(f"{self.name}: out_features", self.out_features)
        self._check_mac()

    @property
    def fan_in(self):
        return self.in_features

    @property
    def in_shape(self):
        return (self.in_features,)

    @property
    def out_shape(self):
        return (self.out_features,)

    @property
    def weight_shape(self):
        return (self.in_features, self.out_features)

    @property
    def bias_shape(self):
        return (self.out_features,)


def dense_acc(layer, x, weight, bias):
    """The accumulators of a dense layer: ``x`` ``(N, ...)`` flattened row-major to int64
    ``(N, out_features)``, bias aligned and added."""
    acc = x.reshape(len(x), -1).astype(np.int64) @ weight.astype(np.int64)
    return acc + (bias.astype(np.int64) << layer.bias_shift)


def _forward(layer, x, params):
    acc = dense_acc(layer, x, params["weight"], params["bias"])
    return layer.requantize(acc), acc


def _from_spec(spec, in_shape, in_format):
    return DenseConfig(name=spec["name"], in_features=int(np.prod(in_shape)),
                       out_features=spec["out_features"], relu=spec["relu"], input=in_format,
                       **mac_formats(spec))


def _to_spec(layer):
    return {**mac_to_spec(layer), "out_features": layer.out_features}


def _parse(m):
    if int(m["units"]) < 1:
        raise ValueError(f"{m[0]}: a dense layer has at least 1 unit")
    return with_relu_max({"kind": "dense", "out_features": int(m["units"]), "relu": True},
                         m["dense_relu_max"], m[0])


def _format(entry):
    return f"dense{entry['out_features']}" + relu_max_token(entry)


KIND = Kind(name="dense", config=DenseConfig, base="dense", numbered=True, flat=True,
            logits=True, token=r"dense(?P<units>\d+)(?:r(?P<dense_relu_max>\d+))?",
            token_help="dense<units>[r<relu max>]",
            parse=_parse, format=_format,
            keys=frozenset({"out_features", "relu", "weight", "bias", "output"}),
            optional_keys=frozenset({"relu_max"}),
            from_spec=_from_spec, to_spec=_to_spec, forward=_forward)
