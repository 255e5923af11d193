"""The training side's layer kinds, one module each (:class:`~train.layers.kind.TrainingKind`):
the quantised Keras layer an architecture entry builds, its export to the weights manifest,
and the importer's mapping from the Keras layers of a user's model. By the kind string of
``q8.layers``; a kind not here cannot be trained, exported or imported."""

from . import avgpool2d, conv2d, dense, dropout, gavgpool2d, gmaxpool2d, maxpool2d
from .kind import Mapping, ModelImportError, SUPPORTED, TrainingKind

__all__ = ["KINDS", "get", "for_keras_layer", "Mapping", "ModelImportError", "SUPPORTED",
           "TrainingKind"]

KINDS = {k.kind: k for k in (conv2d.KIND, maxpool2d.KIND, avgpool2d.KIND, gavgpool2d.KIND,
                             gmaxpool2d.KIND, dense.KIND, dropout.KIND)}


def get(kind):
    """The :class:`TrainingKind` of ``kind``; ``ValueError`` naming the kinds trained."""
    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r}; the kinds trained are "
                         f"{', '.join(sorted(KINDS))}")
    return KINDS[kind]


def for_keras_layer(layer):
    """The kind that maps Keras layer ``layer`` of a user's model, or None."""
    return next((k for k in KINDS.values() if k.matches(layer)), None)
