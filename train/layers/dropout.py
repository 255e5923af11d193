"""Dropout on the training side: kept for training, gone from the integer network."""

from .. import quant  # noqa: F401  (sets KERAS_BACKEND before keras is imported)
import keras

from .kind import TrainingKind

__all__ = ["KIND"]


def _build(entry, name, x, state):
    # named as the Keras examples name them: "dropout", or numbered when there are several
    count = state.setdefault("dropouts", 0) + 1
    state["dropouts"] = count
    return keras.layers.Dropout(entry["rate"], name="dropout" if state["dropout_total"] == 1
                                else f"dropout{count}")(x)


def _matches(layer):
    return isinstance(layer, keras.layers.Dropout) and type(layer).__name__ == "Dropout"


def _map(layer, mapping):
    mapping.entries.append({"kind": "dropout", "rate": float(layer.rate)})
    mapping.notes.append(f"{layer.name}: Dropout({float(layer.rate):g}) kept for training, "
                         f"gone at inference")


KIND = TrainingKind(kind="dropout", build=_build, export=None, layer_types=(),
                    matches=_matches, map=_map)
