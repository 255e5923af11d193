"""Conv2D on the training side: its quantised Keras layer, its export and its import."""

from .. import quant
import keras
from keras import ops

from q8.layers.conv2d import same_padding

from .kind import TrainingKind

__all__ = ["QuantConv2D", "KIND"]


@keras.saving.register_keras_serializable(package=quant.PACKAGE)
class QuantConv2D(quant._QuantMac):
    """Conv2D in the contract's fixed point: the input padded with zeros (``padding``:
    ``"valid"``, ``"same"`` as Keras pads, or ``[[top, bottom], [left, right]]``), then the
    windows at each ``strides`` step (``q8.layers.conv2d.Conv2DConfig``)."""

    def __init__(self, filters, kernel_size, padding="valid", strides=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(kernel_size)
        self.padding = padding if isinstance(padding, str) else \
            [list(map(int, p)) for p in padding]
        self.strides = tuple(int(s) for s in strides)

    def pads(self, input_shape):
        """The padding as ``((top, bottom), (left, right))`` for ``input_shape``."""
        if self.padding == "same":
            return same_padding(input_shape[1:3], self.kernel_size, self.strides)
        if self.padding == "valid":
            return ((0, 0), (0, 0))
        return tuple(tuple(p) for p in self.padding)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(*self.kernel_size, input_shape[-1], self.filters),
                                      initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")
        self.resolved_padding = self.pads(input_shape)

    def call(self, x):
        kernel, bias = self.quantized_params()
        if self.resolved_padding != ((0, 0), (0, 0)):
            x = ops.pad(x, [[0, 0], *map(list, self.resolved_padding), [0, 0]])
        return self._finish(ops.conv(x, kernel, strides=self.strides, padding="valid") + bias)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        (t, b), (l, r) = self.pads(input_shape)
        return (n, (h + t + b - self.kernel_size[0]) // self.strides[0] + 1,
                (w + l + r - self.kernel_size[1]) // self.strides[1] + 1, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "padding": self.padding,
                "strides": list(self.strides)}


def _build(entry, name, x, state):
    return QuantConv2D(entry["out_channels"], tuple(entry["kernel"]), relu=entry["relu"],
                       padding=entry.get("padding", "valid"),
                       strides=entry.get("strides", (1, 1)),
                       relu_max=entry.get("relu_max"), name=name)(x)


def _export(layer):
    spec, params = quant.mac_export(layer)
    extra = {}   # as q8.layers.conv2d writes them: only where not the defaults
    if layer.resolved_padding != ((0, 0), (0, 0)):
        extra["padding"] = [list(p) for p in layer.resolved_padding]
    if layer.strides != (1, 1):
        extra["strides"] = list(layer.strides)
    return {**spec, "kernel": list(layer.kernel_size), "out_channels": layer.filters,
            **extra}, params


def _matches(layer):
    return isinstance(layer, keras.layers.Conv2D) and type(layer).__name__ == "Conv2D"


def _map(layer, mapping):
    if mapping.rank != 3:
        mapping.refuse(layer, "a convolution after Flatten")
    if layer.padding not in ("valid", "same"):
        mapping.refuse(layer, f"padding {layer.padding!r} is not supported (valid, same)")
    if tuple(layer.dilation_rate) != (1, 1):
        mapping.refuse(layer, f"dilation {tuple(layer.dilation_rate)} is not supported")
    if getattr(layer, "groups", 1) != 1:
        mapping.refuse(layer, f"groups={layer.groups} is not supported (1)")
    if layer.data_format != "channels_last":
        mapping.refuse(layer, "data_format channels_first is not supported")
    act = mapping.activation(layer)
    if act == "softmax":
        mapping.refuse(layer, "softmax on a convolution is not supported")
    entry = {"kind": "conv2d", "kernel": list(layer.kernel_size),
             "out_channels": int(layer.filters), "relu": act in ("relu", "relu6")}
    if act == "relu6":
        entry["relu_max"] = 6.0
    if layer.padding == "same":
        entry["padding"] = "same"
    if tuple(layer.strides) != (1, 1):
        entry["strides"] = [int(s) for s in layer.strides]
    # its shapes, for a last convolution to a 1x1 map, flattened: the importer makes it the
    # dense layer it is (train.importer); keys with "_" are the importer's own
    entry["_shapes"] = (tuple(layer.input.shape[1:]), tuple(layer.output.shape[1:]))
    mapping.add_mac(layer, entry)


KIND = TrainingKind(kind="conv2d", build=_build, export=_export, layer_types=(QuantConv2D,),
                    matches=_matches, map=_map)
