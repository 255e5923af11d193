"""Dense on the training side: its quantised Keras layer, its export and its import."""

from .. import quant
import keras
from keras import ops

from .kind import TrainingKind

__all__ = ["QuantDense", "KIND"]


@keras.saving.register_keras_serializable(package=quant.PACKAGE)
class QuantDense(quant._QuantMac):
    """Dense in the contract's fixed point."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, x):
        kernel, bias = self.quantized_params()
        return self._finish(ops.matmul(x, kernel) + bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _build(entry, name, x, state):
    # the flatten before the first dense layer is implied
    if not state.get("flat"):
        x = keras.layers.Flatten(name="flatten")(x)
        state["flat"] = True
    return QuantDense(entry["out_features"], relu=entry["relu"],
                      relu_max=entry.get("relu_max"), name=name)(x)


def _export(layer):
    spec, params = quant.mac_export(layer)
    return {**spec, "out_features": layer.units}, params


def _matches(layer):
    return isinstance(layer, keras.layers.Dense) and type(layer).__name__ == "Dense"


def _map(layer, mapping):
    if mapping.rank != 1:
        mapping.refuse(layer, "a Dense layer on an image (rank-3) tensor works per pixel in "
                              "Keras; put a Flatten before it")
    act = mapping.activation(layer)
    entry = {"kind": "dense", "out_features": int(layer.units),
             "relu": act in ("relu", "relu6")}
    if act == "relu6":
        entry["relu_max"] = 6.0
    mapping.add_mac(layer, entry)
    if act == "softmax":
        mapping.drop_softmax(layer)


KIND = TrainingKind(kind="dense", build=_build, export=_export, layer_types=(QuantDense,),
                    matches=_matches, map=_map)
