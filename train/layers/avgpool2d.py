"""AveragePooling2D on the training side: its quantised Keras layer (each window's mean rounded
to its input's format, as ``q8.layers.avgpool2d``), its export and its import."""

from .. import quant
import keras

from .kind import TrainingKind

__all__ = ["QuantAvgPool2D", "KIND"]


@keras.saving.register_keras_serializable(package=quant.PACKAGE)
class QuantAvgPool2D(quant.QuantMean):
    """Keras' average pooling (valid padding), rounded half up to its input's format when
    quantized (:class:`train.quant.QuantMean`)."""

    def __init__(self, *, pool_size, strides=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = tuple(pool_size)
        self.strides = tuple(strides) if strides is not None else self.pool_size
        self._pool = keras.layers.AveragePooling2D(self.pool_size, strides=self.strides)

    def mean(self, x):
        return self._pool(x)

    def compute_output_shape(self, input_shape):
        return self._pool.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides)}


def _build(entry, name, x, state):
    return QuantAvgPool2D(pool_size=entry["pool"], strides=entry.get("strides"), name=name)(x)


def _export(layer):
    spec = {"pool": list(layer.pool_size)}
    if layer.strides != layer.pool_size:
        spec["strides"] = list(layer.strides)
    return spec, None


def _matches(layer):
    return isinstance(layer, keras.layers.AveragePooling2D)


def _map(layer, mapping):
    pool = tuple(layer.pool_size)
    strides = tuple(layer.strides) if layer.strides is not None else pool
    if layer.padding != "valid":
        mapping.refuse(layer, "padding 'same' is not supported (Keras divides each border "
                              "window by its own count of image positions; valid padding is)")
    if layer.data_format != "channels_last":
        mapping.refuse(layer, "data_format channels_first is not supported")
    if mapping.rank != 3:
        mapping.refuse(layer, "pooling after Flatten")
    entry = {"kind": "avgpool2d", "pool": list(pool), "_name": layer.name}
    if strides != pool:
        entry["strides"] = list(strides)
    mapping.entries.append(entry)
    mapping.last_mac = None


KIND = TrainingKind(kind="avgpool2d", build=_build, export=_export,
                    layer_types=(QuantAvgPool2D,), matches=_matches, map=_map)
