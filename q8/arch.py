"""Architectures: a network's layers and sizes without its weights or formats.

An architecture is what a user chooses before training (``python -m train --arch``), what the
Keras importer reads from a float model, and what the fit check (``python -m hw.fit``) plans
from. It is written as a short spec, comma-separated, in order::

    conv2x3,pool,dense128,drop0.5,dense10

``conv<F>x<K>``
    Conv2D with ``F`` filters of ``K`` x ``K``, valid padding, stride 1, then ReLU.
``pool`` or ``pool<P>``
    MaxPooling2D of 2 x 2 (or ``P`` x ``P``), stride equal to the pool.
``dense<N>``
    Dense with ``N`` units, then ReLU; the last one has no ReLU: its outputs are the logits.
``drop<R>``
    Dropout with rate ``R`` (training only: it is not part of the integer network).

The flatten before the first dense layer is implied. As layer entries (:func:`parse`) an
architecture is the weights manifest's layer list without formats, so that one definition of
every layer kind serves training, import, the fit check and the weights file.
"""

import re

from .contract import Format
from .weights import WeightsError, build_layers

__all__ = ["ArchError", "DEFAULT_ARCH", "parse", "to_spec", "layer_names", "configs", "entries_of",
           "PLACEHOLDER_FORMATS"]

#: The user's network (the Keras MNIST example): the shipped weights' architecture.
DEFAULT_ARCH = "conv2x3,pool,dense128,drop0.5,dense10"

#: Formats that let :func:`configs` chain an architecture into layer configs before any
#: calibration (shapes, fan-ins and accumulator widths do not depend on them much).
PLACEHOLDER_FORMATS = {"weight": Format(signed=True, frac=7), "bias": Format(signed=True, frac=7)}

_TOKEN = re.compile(r"^(?:conv(?P<filters>\d+)x(?P<kernel>\d+)|pool(?P<pool>\d+)?|"
                    r"dense(?P<units>\d+)|drop(?P<rate>0?\.\d+))$")


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
            raise ArchError(f"architecture {spec!r}: cannot read {token!r}; the layers are "
                            f"conv<filters>x<kernel> (conv4x5), pool or pool<size>, "
                            f"dense<units> and drop<rate> (drop0.5)")
        if m["filters"]:
            filters, kernel = int(m["filters"]), int(m["kernel"])
            if filters < 1 or kernel < 1:
                raise ArchError(f"{token}: filters and kernel size must be at least 1")
            entries.append({"kind": "conv2d", "kernel": [kernel, kernel],
                            "out_channels": filters, "relu": True})
        elif token.startswith("pool"):
            size = int(m["pool"] or 2)
            if size < 2:
                raise ArchError(f"{token}: a pool is at least 2 x 2")
            entries.append({"kind": "maxpool2d", "pool": [size, size]})
        elif m["units"]:
            if int(m["units"]) < 1:
                raise ArchError(f"{token}: a dense layer has at least 1 unit")
            entries.append({"kind": "dense", "out_features": int(m["units"]), "relu": True})
        else:
            rate = float(m["rate"])
            if not 0 < rate < 1:
                raise ArchError(f"{token}: a dropout rate is between 0 and 1")
            entries.append({"kind": "dropout", "rate": rate})
    macs = [e for e in entries if e["kind"] != "dropout"]
    if not macs or macs[-1]["kind"] != "dense":
        raise ArchError(f"architecture {spec!r} must end with a dense layer (the logits), "
                        f"e.g. ...,dense10")
    macs[-1]["relu"] = False
    seen_dense = False
    for e in macs:
        if e["kind"] == "dense":
            seen_dense = True
        elif seen_dense:
            raise ArchError(f"architecture {spec!r}: a {e['kind']} layer after a dense layer; "
                            f"convolutions and pools come first")
    return entries


def to_spec(entries):
    """The spec string of layer entries (the inverse of :func:`parse`)."""
    tokens = []
    for e in entries:
        if e["kind"] == "conv2d":
            kh, kw = e["kernel"]
            if kh != kw:
                raise ArchError(f"a {kh}x{kw} kernel has no spec token (only square kernels)")
            tokens.append(f"conv{e['out_channels']}x{kh}")
        elif e["kind"] == "maxpool2d":
            ph, pw = e["pool"]
            if ph != pw:
                raise ArchError(f"a {ph}x{pw} pool has no spec token (only square pools)")
            tokens.append("pool" if ph == 2 else f"pool{ph}")
        elif e["kind"] == "dense":
            tokens.append(f"dense{e['out_features']}")
        else:
            tokens.append(f"drop{e['rate']:g}")
    return ",".join(tokens)


def layer_names(entries):
    """Names for the layer entries, as the weights files use them: ``conv``, ``pool``,
    ``dense1``... (numbered ``conv1``, ``conv2`` when there are several; dense layers always
    numbered); ``None`` for dropouts."""
    counts = {k: sum(e["kind"] == k for e in entries) for k in ("conv2d", "maxpool2d")}
    base = {"conv2d": "conv", "maxpool2d": "pool", "dense": "dense"}
    seen, names = {}, []
    for e in entries:
        kind = e["kind"]
        if kind == "dropout":
            names.append(None)
            continue
        seen[kind] = seen.get(kind, 0) + 1
        numbered = kind == "dense" or counts[kind] > 1
        names.append(f"{base[kind]}{seen[kind]}" if numbered else base[kind])
    return names


def configs(entries, *, input_shape=(28, 28, 1)):
    """Layer configs (``q8.contract``) for an architecture, with placeholder formats: for
    planning before any weights exist. Raises :class:`ArchError` if the shapes do not chain
    (a kernel larger than its input, for example)."""
    specs = []
    for name, e in zip(layer_names(entries), entries):
        if e["kind"] == "dropout":
            continue
        spec = {k: v for k, v in e.items()}
        spec["name"] = name
        if e["kind"] != "maxpool2d":
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
