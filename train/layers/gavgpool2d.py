"""GlobalAveragePooling2D on the training side: its quantised Keras layer (the mean rounded
to its input's format, as ``q8.layers.gavgpool2d``), its export and its import."""

from .. import quant
import keras
from keras import ops

from q8.contract import Format
from .kind import TrainingKind

__all__ = ["QuantGlobalAvgPool2D", "KIND"]


@keras.saving.register_keras_serializable(package=quant.PACKAGE)
class QuantGlobalAvgPool2D(keras.layers.Layer):
    """The mean of each channel; quantized, rounded half up to the format of its input
    (``signed``, ``frac``: the layer before's output format, set with it by
    ``train.model``). The mean of codes rounded half up is ``floor((sum + n // 2) / n)``,
    the reference's integers, for odd and even ``n``; exact in float32 since the codes' sum
    is (``docs/fixed-point.md``)."""

    def __init__(self, *, quantized=False, signed=False, frac=None, **kwargs):
        super().__init__(**kwargs)
        self.quantized, self.signed, self.frac = bool(quantized), bool(signed), frac

    def call(self, x):
        mean = ops.mean(x, axis=(1, 2))
        if not self.quantized:
            return mean
        return quant.fake_quant(mean, Format(signed=self.signed, frac=self.frac))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3])

    def get_config(self):
        return {**super().get_config(), "quantized": self.quantized, "signed": self.signed,
                "frac": self.frac}


def _build(entry, name, x, state):
    state["flat"] = True   # its output is flat: no Flatten before a dense layer
    return QuantGlobalAvgPool2D(name=name)(x)


def _export(layer):
    return {}, None


def _matches(layer):
    return isinstance(layer, keras.layers.GlobalAveragePooling2D)


def _map(layer, mapping):
    if mapping.rank != 3:
        mapping.refuse(layer, "pooling after Flatten")
    if layer.data_format != "channels_last":
        mapping.refuse(layer, "data_format channels_first is not supported")
    if getattr(layer, "keepdims", False):
        mapping.refuse(layer, "keepdims=True is not supported (a flat output)")
    mapping.entries.append({"kind": "gavgpool2d", "_name": layer.name})
    mapping.rank = 1
    mapping.last_mac = None


KIND = TrainingKind(kind="gavgpool2d", build=_build, export=_export,
                    layer_types=(QuantGlobalAvgPool2D,), matches=_matches, map=_map)
