"""Conv2D on the training side: its quantised Keras layer, its export and its import."""

from .. import quant
import keras
from keras import ops

from .kind import TrainingKind

__all__ = ["QuantConv2D", "KIND"]


@keras.saving.register_keras_serializable(package=quant.PACKAGE)
class QuantConv2D(quant._QuantMac):
    """Conv2D, valid padding, stride 1, in the contract's fixed point."""

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(kernel_size)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(*self.kernel_size, input_shape[-1], self.filters),
                                      initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, x):
        kernel, bias = self.quantized_params()
        return self._finish(ops.conv(x, kernel, strides=1, padding="valid") + bias)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        return (n, h - self.kernel_size[0] + 1, w - self.kernel_size[1] + 1, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size)}


def _build(entry, name, x, state):
    return QuantConv2D(entry["out_channels"], tuple(entry["kernel"]), relu=entry["relu"],
                       name=name)(x)


def _export(layer):
    spec, params = quant.mac_export(layer)
    return {**spec, "kernel": list(layer.kernel_size), "out_channels": layer.filters}, params


def _matches(layer):
    return isinstance(layer, keras.layers.Conv2D) and type(layer).__name__ == "Conv2D"


def _map(layer, mapping):
    if mapping.rank != 3:
        mapping.refuse(layer, "a convolution after Flatten")
    if layer.padding != "valid":
        mapping.refuse(layer, f"padding {layer.padding!r} is not supported (valid)")
    if tuple(layer.strides) != (1, 1):
        mapping.refuse(layer, f"strides {tuple(layer.strides)} are not supported (1, 1)")
    if tuple(layer.dilation_rate) != (1, 1):
        mapping.refuse(layer, f"dilation {tuple(layer.dilation_rate)} is not supported")
    if getattr(layer, "groups", 1) != 1:
        mapping.refuse(layer, f"groups={layer.groups} is not supported (1)")
    if layer.data_format != "channels_last":
        mapping.refuse(layer, "data_format channels_first is not supported")
    act = mapping.activation(layer)
    if act == "softmax":
        mapping.refuse(layer, "softmax on a convolution is not supported")
    mapping.add_mac(layer, {"kind": "conv2d", "kernel": list(layer.kernel_size),
                            "out_channels": int(layer.filters), "relu": act == "relu"})


KIND = TrainingKind(kind="conv2d", build=_build, export=_export, layer_types=(QuantConv2D,),
                    matches=_matches, map=_map)
