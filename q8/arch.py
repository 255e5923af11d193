"""Architectures: a network's layers and sizes without its weights or formats.

An architecture is what a user chooses before training (``python -m train --arch``), what the
Keras importer reads from a float model, and what the fit check (``python -m hw.fit``) plans
from. It is written as a short spec, comma-separated, in order::

    conv2x3,pool,dense128,drop0.5,dense10

``conv<F>x<K>``
    Conv2D with ``F`` filters of ``K`` x ``K``, valid padding, stride 1, then ReLU;
    ``conv<F>x<K>same`` Keras' same padding, ``...s<S>`` a stride of ``S``.
``pool`` or ``pool<P>``
    MaxPooling2D of 2 x 2 (or ``P`` x ``P``), stride equal to the pool; ``...same`` Keras'
    same padding, ``...s<S>`` a stride of ``S`` (``pool3s2``).
``avgpool`` or ``avgpool<P>``
    AveragePooling2D of 2 x 2 (or ``P`` x ``P``), valid padding; ``...s<S>`` a stride.
``dense<N>``
    Dense with ``N`` units, then ReLU; the last one has no ReLU: its outputs are the logits.
``drop<R>``
    Dropout with rate ``R`` (training only: it is not part of the integer network).
``gap``, ``gmp``
    GlobalAveragePooling2D, GlobalMaxPooling2D; after a last convolution (no ReLU) their
    outputs are the logits.

Each token is its kind's (``q8.layers``): this module only chains them. The flatten before
the first dense layer is implied. As layer entries (:func:`parse`) an
architecture is the weights manifest's layer list without formats, so that one definition of
every layer kind serves training, import, the fit check and the weights file.
"""

import re

from .contract import Format
from .layers import KINDS, UnknownKindError, get as get_kind
from .weights import WeightsError, build_layers

__all__ = ["ArchError", "DEFAULT_ARCH", "parse", "to_spec", "layer_names", "configs", "entries_of",
           "PLACEHOLDER_FORMATS"]

#: The user's network (the Keras MNIST example): the shipped weights' architecture.
DEFAULT_ARCH = "conv2x3,pool,dense128,drop0.5,dense10"

#: Formats that let :func:`configs` chain an architecture into layer configs before any
#: calibration (shapes, fan-ins and accumulator widths do not depend on them much).
PLACEHOLDER_FORMATS = {"weight": Format(signed=True, frac=7), "bias": Format(signed=True, frac=7)}

# One alternative per kind, in the registry's order; each kind's groups are its own.
_TOKEN = re.compile("^(?:" + "|".join(f"(?P<_{k.name}>{k.token})" for k in KINDS.values())
                    + ")$")


class ArchError(ValueError):
    """An architecture spec that does not parse or does not describe a network here."""


def parse(spec):
    """The layer entries of an architecture spec (see the module's docstring).

    Returns
    -------
    list of dict
        ``{"kind": "conv2d", "kernel": [k, k], "out_channels": f, "relu": True}``,
        ``{"kind": "maxpool2d", "pool": [p, p]}``, ``{"kind": "dense", "out_features": n,
        "relu": bool}`` or ``{"kind": "dropout", "rate": r}``, in order.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ArchError(f"an architecture is a comma-separated list such as {DEFAULT_ARCH!r}, "
                        f"not {spec!r}")
    entries = []
    for token in (t.strip() for t in spec.split(",")):
        m = _TOKEN.match(token)
        if not m:
            helps = [k.token_help for k in KINDS.values()]
            raise ArchError(f"architecture {spec!r}: cannot read {token!r}; the layers are "
                            f"{', '.join(helps[:-1])} and {helps[-1]}")
        kind = KINDS[next(n[1:] for n, v in m.groupdict().items() if n.startswith("_") and v)]
        try:
            entries.append(kind.parse(m))
        except ValueError as e:
            raise ArchError(str(e)) from None
    macs = [e for e in entries if KINDS[e["kind"]].in_network]
    weighted = [e for e in macs if KINDS[e["kind"]].has_params]
    if not macs or not KINDS[macs[-1]["kind"]].logits or not weighted or not all(
            KINDS[e["kind"]].logits for e in macs[macs.index(weighted[-1]) + 1:]):
        raise ArchError(f"architecture {spec!r} must end with a dense layer (the logits), "
                        f"e.g. ...,dense10, or with a convolution to the classes and a "
                        f"global pooling, e.g. ...,conv10x1,gap (or gmp)")
    weighted[-1]["relu"] = False
    seen_dense = False
    for e in macs:
        if KINDS[e["kind"]].flat:
            seen_dense = True
        elif seen_dense:
            raise ArchError(f"architecture {spec!r}: a {e['kind']} layer after a dense layer; "
                            f"convolutions and pools come first")
    return entries


def _kind_of(entry):
    """The registered kind of an architecture entry; :class:`ArchError` for any other."""
    try:
        return get_kind(entry.get("kind") if isinstance(entry, dict) else None)
    except UnknownKindError as e:
        raise ArchError(f"layer entry {entry!r}: {e}") from None


def to_spec(entries):
    """The spec string of layer entries (the inverse of :func:`parse`)."""
    tokens = []
    for e in entries:
        try:
            tokens.append(_kind_of(e).format(e))
        except ArchError:
            raise
        except ValueError as err:
            raise ArchError(str(err)) from None
    return ",".join(tokens)


def layer_names(entries):
    """Names for the layer entries, as the weights files use them: ``conv``, ``pool``,
    ``dense1``... (numbered ``conv1``, ``conv2`` when there are several; dense layers always
    numbered); ``None`` for dropouts (and any kind not in the integer network)."""
    kinds = [_kind_of(e) for e in entries]
    counts = {k.name: kinds.count(k) for k in kinds}
    seen, names = {}, []
    for kind in kinds:
        if not kind.in_network:
            names.append(None)
            continue
        seen[kind.name] = seen.get(kind.name, 0) + 1
        numbered = kind.numbered or counts[kind.name] > 1
        names.append(f"{kind.base}{seen[kind.name]}" if numbered else kind.base)
    return names


def configs(entries, *, input_shape=(28, 28, 1)):
    """Layer configs (``q8.contract``) for an architecture, with placeholder formats: for
    planning before any weights exist. Raises :class:`ArchError` if the shapes do not chain
    (a kernel larger than its input, for example)."""
    specs = []
    for name, e in zip(layer_names(entries), entries):
        kind = _kind_of(e)
        if not kind.in_network:
            continue
        spec = {k: v for k, v in e.items()}
        spec["name"] = name
        if kind.has_params:
            spec["weight"] = PLACEHOLDER_FORMATS["weight"].to_json()
            spec["bias"] = PLACEHOLDER_FORMATS["bias"].to_json()
            spec["output"] = Format(signed=not e["relu"], frac=4).to_json()
        specs.append(spec)
    try:
        return build_layers(tuple(input_shape), Format(signed=False, frac=8), specs)
    except (WeightsError, ValueError) as err:
        raise ArchError(f"architecture {to_spec_safe(entries)}: {err}") from None


def entries_of(net):
    """The architecture's layer entries of an integer network (``q8.weights.Network``): its
    manifest's layers without names and formats."""
    return [{k: v for k, v in spec.items() if k not in ("name", "weight", "bias", "output")}
            for spec in net.manifest()["layers"]]


def to_spec_safe(entries):
    try:
        return to_spec(entries)
    except ArchError:
        return repr(entries)
