"""MaxPooling2D on the training side: Keras' own layer (max is exact on the codes), its
export and its import."""

from .. import quant  # noqa: F401  (sets KERAS_BACKEND before keras is imported)
import keras

from q8.layers.conv2d import same_padding
from .kind import TrainingKind

__all__ = ["KIND"]


def _build(entry, name, x, state):
    # Keras' same padding leaves the padding out of each maximum, as the contract's smallest
    # code does (q8.layers.maxpool2d); explicit padding (a file's) is Keras' same, checked
    padding = "valid" if entry.get("padding", "valid") in ("valid", [[0, 0], [0, 0]]) \
        else "same"
    return keras.layers.MaxPooling2D(tuple(entry["pool"]), strides=entry.get("strides"),
                                     padding=padding, name=name)(x)


def _strides(layer):
    return tuple(layer.strides) if layer.strides is not None else tuple(layer.pool_size)


def _export(layer):
    spec = {"pool": list(layer.pool_size)}
    if _strides(layer) != tuple(layer.pool_size):
        spec["strides"] = list(_strides(layer))
    if layer.padding == "same":
        pads = same_padding(tuple(layer.input.shape[1:3]), tuple(layer.pool_size),
                            _strides(layer))
        if pads != ((0, 0), (0, 0)):
            spec["padding"] = [list(p) for p in pads]
    return spec, None


def _matches(layer):
    return isinstance(layer, keras.layers.MaxPooling2D)


def _map(layer, mapping):
    pool, strides = tuple(layer.pool_size), _strides(layer)
    if layer.padding not in ("valid", "same"):
        mapping.refuse(layer, f"padding {layer.padding!r} is not supported (valid, same)")
    if mapping.rank != 3:
        mapping.refuse(layer, "pooling after Flatten")
    entry = {"kind": "maxpool2d", "pool": list(pool), "_name": layer.name}
    if strides != pool:
        entry["strides"] = list(strides)
    if layer.padding == "same":
        entry["padding"] = "same"
    mapping.entries.append(entry)
    mapping.last_mac = None


KIND = TrainingKind(kind="maxpool2d", build=_build, export=_export,
                    layer_types=(keras.layers.MaxPooling2D,), matches=_matches, map=_map)
