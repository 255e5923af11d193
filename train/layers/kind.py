"""What every layer kind of the training side publishes (:class:`TrainingKind`), and the
importer's state that a kind's mapping from Keras layers writes to (:class:`Mapping`)."""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .. import quant  # noqa: F401  (sets KERAS_BACKEND before keras is imported)
import keras

__all__ = ["TrainingKind", "Mapping", "ModelImportError", "SUPPORTED", "map_global"]

#: What the importer maps, for its messages.
SUPPORTED = ("InputLayer, Rescaling, Conv2D (valid or same padding, any stride), "
             "MaxPooling2D (any pool and stride, valid or same padding), AveragePooling2D "
             "(valid padding), Flatten, Dense, GlobalAveragePooling2D, GlobalMaxPooling2D, "
             "BatchNormalization (after Conv2D or Dense), "
             "ReLU (max_value allowed: ReLU6) / Activation('relu'), Dropout, and a final "
             "softmax")


class ModelImportError(ValueError):
    """A Keras model (or file) that cannot be mapped onto the contract, and why."""


@dataclass(frozen=True)
class TrainingKind:
    """One layer kind on the training side.

    Members
    -------
    kind : str
        The kind string of ``q8.layers``.
    build : callable
        ``build(entry, name, x, state) -> x``: the Keras layer(s) of architecture entry
        ``entry`` named ``name`` applied to tensor ``x``; ``state`` is a dict the builder
        shares between layers (``"flat"``: a Flatten is in already).
    export : callable or None
        ``export(layer) -> (spec, params)`` for a Keras layer that ``build`` made: its
        manifest entry's keys besides ``name`` and ``kind``, and its quantised parameters
        (``{"weight", "bias"}`` codes) or None.
    layer_types : tuple of type
        The Keras classes that ``build`` makes for the layer, which ``export`` reads.
    matches : callable
        ``matches(keras_layer) -> bool``: a layer of a user's model that :attr:`map` reads.
    map : callable
        ``map(keras_layer, mapping)``: append its architecture entry (and float weights) to
        the importer's :class:`Mapping`, or refuse it with :meth:`Mapping.refuse`.
    """

    kind: str
    build: Callable
    export: Callable | None
    layer_types: tuple
    matches: Callable
    map: Callable


@dataclass
class Mapping:
    """What the importer has read of a model so far.

    Members
    -------
    rank : int
        Of the tensor flowing, without the batch axis: 3 (an image) or 1 (after Flatten).
    entries : list of dict
        ``q8.arch`` entries; a MAC layer's carries ``_name``, its Keras name, until the end.
    params : list of [kernel, bias]
        Float64 weights of each convolution and dense layer.
    last_mac : int or None
        Index in :attr:`entries` of the last MAC layer while a BatchNormalization or a ReLU
        may still fold into it.
    softmax_seen : bool
    notes : list of str
    """

    rank: int = 3
    entries: list = field(default_factory=list)
    params: list = field(default_factory=list)
    last_mac: int = None
    softmax_seen: bool = False
    notes: list = field(default_factory=list)

    @staticmethod
    def refuse(layer, what):
        raise ModelImportError(f"layer {layer.name!r} ({type(layer).__name__}): {what}. "
                               f"Supported: {SUPPORTED}")

    def activation(self, layer):
        """'relu', 'linear' or 'softmax' for a layer's activation function, else refuse."""
        name = keras.activations.serialize(layer.activation)
        if isinstance(name, dict):
            name = name.get("config", {}).get("name", name.get("class_name"))
        if name not in ("relu", "relu6", "linear", "softmax"):
            self.refuse(layer, f"activation {name!r} is not supported (relu, relu6, none, or "
                               f"softmax on the last layer)")
        return name

    def add_mac(self, layer, entry):
        """Append MAC layer ``layer``'s ``entry`` and its float weights."""
        kernel = np.asarray(layer.kernel, dtype=np.float64)
        bias = np.asarray(layer.bias, dtype=np.float64) if layer.use_bias else \
            np.zeros(kernel.shape[-1])
        self.entries.append({**entry, "_name": layer.name})
        self.params.append([kernel, bias])
        self.last_mac = len(self.entries) - 1

    def after_mac(self, layer):
        """The MAC entry that ``layer`` (a BatchNormalization, a ReLU) folds into; refuse
        unless it comes right after one."""
        if self.last_mac is None or self.entries[-1] is not self.entries[self.last_mac]:
            self.refuse(layer, "must come right after a Conv2D or Dense layer")
        return self.entries[self.last_mac]

    def drop_softmax(self, layer):
        self.softmax_seen = True
        self.notes.append(f"{layer.name}: softmax dropped (it does not change the argmax)")


def map_global(layer, mapping, kind):
    """The importer's mapping of a global pooling (``kind``): refused after Flatten, with
    channels first or ``keepdims``; its output is flat."""
    if mapping.rank != 3:
        mapping.refuse(layer, "pooling after Flatten")
    if layer.data_format != "channels_last":
        mapping.refuse(layer, "data_format channels_first is not supported")
    if getattr(layer, "keepdims", False):
        mapping.refuse(layer, "keepdims=True is not supported (a flat output)")
    mapping.entries.append({"kind": kind, "_name": layer.name})
    mapping.rank = 1
    mapping.last_mac = None
