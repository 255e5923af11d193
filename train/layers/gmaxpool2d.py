"""GlobalMaxPooling2D on the training side: Keras' own layer (max is exact on the codes), its
export and its import."""

from .. import quant  # noqa: F401  (sets KERAS_BACKEND before keras is imported)
import keras

from .kind import TrainingKind, map_global

__all__ = ["KIND"]


def _build(entry, name, x, state):
    state["flat"] = True   # its output is flat: no Flatten before a dense layer
    return keras.layers.GlobalMaxPooling2D(name=name)(x)


KIND = TrainingKind(kind="gmaxpool2d", build=_build, export=lambda layer: ({}, None),
                    layer_types=(keras.layers.GlobalMaxPooling2D,),
                    matches=lambda layer: isinstance(layer, keras.layers.GlobalMaxPooling2D),
                    map=lambda layer, mapping: map_global(layer, mapping, "gmaxpool2d"))
