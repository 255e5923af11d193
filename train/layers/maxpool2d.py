"""MaxPooling2D on the training side: Keras' own layer (max is exact on the codes), its
export and its import."""

from .. import quant  # noqa: F401  (sets KERAS_BACKEND before keras is imported)
import keras

from .kind import TrainingKind

__all__ = ["KIND"]


def _build(entry, name, x, state):
    return keras.layers.MaxPooling2D(tuple(entry["pool"]), name=name)(x)


def _export(layer):
    return {"pool": list(layer.pool_size)}, None


def _matches(layer):
    return isinstance(layer, keras.layers.MaxPooling2D)


def _map(layer, mapping):
    pool = tuple(layer.pool_size)
    strides = tuple(layer.strides) if layer.strides is not None else pool
    if strides != pool:
        mapping.refuse(layer, f"strides {strides} differ from the pool {pool} (supported: "
                              f"equal)")
    if layer.padding != "valid":
        mapping.refuse(layer, f"padding {layer.padding!r} is not supported (valid)")
    if mapping.rank != 3:
        mapping.refuse(layer, "pooling after Flatten")
    mapping.entries.append({"kind": "maxpool2d", "pool": list(pool), "_name": layer.name})
    mapping.last_mac = None


KIND = TrainingKind(kind="maxpool2d", build=_build, export=_export,
                    layer_types=(keras.layers.MaxPooling2D,), matches=_matches, map=_map)
