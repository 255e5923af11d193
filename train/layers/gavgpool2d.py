"""GlobalAveragePooling2D on the training side: its quantised Keras layer (the mean rounded
to its input's format, as ``q8.layers.gavgpool2d``), its export and its import."""

from .. import quant
import keras
from keras import ops

from .kind import TrainingKind, map_global

__all__ = ["QuantGlobalAvgPool2D", "KIND"]


@keras.saving.register_keras_serializable(package=quant.PACKAGE)
class QuantGlobalAvgPool2D(quant.QuantMean):
    """The mean of each channel, rounded half up to its input's format when quantized
    (:class:`train.quant.QuantMean`)."""

    def mean(self, x):
        return ops.mean(x, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3])


def _build(entry, name, x, state):
    state["flat"] = True   # its output is flat: no Flatten before a dense layer
    return QuantGlobalAvgPool2D(name=name)(x)


def _export(layer):
    return {}, None


def _matches(layer):
    return isinstance(layer, keras.layers.GlobalAveragePooling2D)


KIND = TrainingKind(kind="gavgpool2d", build=_build, export=_export,
                    layer_types=(QuantGlobalAvgPool2D,), matches=_matches,
                    map=lambda layer, mapping: map_global(layer, mapping, "gavgpool2d"))
