"""The layer kinds of the model side, one module per kind, and their registry.

Each module (``conv2d``, ``maxpool2d``, ``avgpool2d``, ``gavgpool2d``, ``gmaxpool2d``,
``dense``, ``dropout``) publishes a
:class:`~q8.layers.kind.Kind`: its config class, manifest entry, architecture token, layer-name
base, whether it has parameters and its integer reference operation. Everything in ``q8``
(the weights file, architectures, the reference) reads a kind from here, and an unknown kind is
an error everywhere. Adding a kind: ``docs/adding-a-layer.md``.
"""

from . import avgpool2d, conv2d, dense, dropout, gavgpool2d, gmaxpool2d, maxpool2d
from .avgpool2d import AvgPool2DConfig
from .conv2d import Conv2DConfig
from .dense import DenseConfig
from .gavgpool2d import GlobalAvgPool2DConfig
from .gmaxpool2d import GlobalMaxPool2DConfig
from .kind import Kind
from .maxpool2d import MaxPool2DConfig

__all__ = ["Kind", "KINDS", "UnknownKindError", "get", "network_kind", "network_kinds",
           "Conv2DConfig", "MaxPool2DConfig", "AvgPool2DConfig", "GlobalAvgPool2DConfig",
           "GlobalMaxPool2DConfig", "DenseConfig", "LayerConfig"]

#: Every registered kind by its kind string, in the order error messages list them.
KINDS = {k.name: k for k in (conv2d.KIND, maxpool2d.KIND, avgpool2d.KIND, gavgpool2d.KIND,
                              gmaxpool2d.KIND, dense.KIND, dropout.KIND)}

#: The type of a layer config of the integer network.
LayerConfig = (Conv2DConfig | MaxPool2DConfig | AvgPool2DConfig | GlobalAvgPool2DConfig
               | GlobalMaxPool2DConfig | DenseConfig)


class UnknownKindError(ValueError):
    """A layer kind that is not registered (or not part of the integer network)."""


def network_kinds():
    """The kind strings of the integer network's layers, sorted (architecture-only kinds
    such as dropout are not among them)."""
    return sorted(name for name, k in KINDS.items() if k.in_network)


def get(kind):
    """The :class:`Kind` registered as ``kind``, architecture-only kinds included; raises
    :class:`UnknownKindError` naming the kinds for any other."""
    found = KINDS.get(kind) if isinstance(kind, str) else None
    if found is None:
        raise UnknownKindError(f"unknown kind {kind!r}; the kinds are "
                               f"{', '.join(sorted(KINDS))}")
    return found


def network_kind(kind):
    """The :class:`Kind` of a layer of the integer network (a weights manifest, a config, the
    reference); raises :class:`UnknownKindError` for an unknown or architecture-only kind."""
    found = KINDS.get(kind) if isinstance(kind, str) else None
    if found is None or not found.in_network:
        why = (f" ({kind} is training only: it is not part of the integer network)"
               if found is not None else "")
        raise UnknownKindError(f"unknown kind {kind!r}; the kinds are "
                               f"{', '.join(network_kinds())}{why}")
    return found
