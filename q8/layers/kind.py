"""What every layer kind of the model side publishes (:class:`Kind`), and the manifest helpers
that the kinds with weights share."""

from dataclasses import dataclass
from typing import Callable

from ..contract import Format

__all__ = ["Kind", "KeepsFormat", "Padded", "mac_to_spec", "mac_formats", "with_relu_max",
           "relu_max_token"]


@dataclass(frozen=True)
class Kind:
    """One layer kind: everything the model side knows about it, in one place.

    Parameters
    ----------
    name : str
        The kind string of the weights manifest and of architecture entries (``"conv2d"``).
        Shipped weights files hold it: it never changes.
    config : type or None
        Its frozen layer config (``q8.contract`` style: ``name``, ``in_shape``, ``out_shape``,
        ``input``, ``output``, ``kind``, ``has_params``); ``None`` for a kind that exists in
        architectures only (dropout), which is not part of the integer network.
    base : str or None
        The base of its layer names (``conv`` gives ``conv``, ``conv1``, ``conv2``...).
    numbered : bool
        Its layer names are numbered even when there is one (dense: ``dense1``).
    flat : bool
        It takes a flattened input (dense); the image kinds (convolutions, pools) come first.
    logits : bool
        It can be the last layer, whose signed outputs are the logits.
    token : str
        Its architecture token's regular expression (named groups unique to the kind).
    token_help : str
        The token as the user writes it, for error messages (``conv<filters>x<kernel>``).
    parse : callable
        ``parse(match) -> entry``: the architecture entry of a matched token; raises
        ``ValueError`` for values out of range.
    format : callable
        ``format(entry) -> str``: the token of an entry (the inverse of ``parse``).
    keys : frozenset
        The keys of its manifest entry besides ``name`` and ``kind``.
    optional_keys : frozenset
        Keys its manifest entry may have beside :attr:`keys` (absent: their defaults).
    from_spec : callable or None
        ``from_spec(spec, in_shape, in_format) -> config``: the config of a manifest entry,
        given the shape and format that flow into it; raises ``TypeError``/``ValueError``.
    to_spec : callable or None
        ``to_spec(config) -> dict``: its manifest entry's keys besides ``name`` and ``kind``.
    forward : callable or None
        ``forward(config, x, params) -> (codes, accumulators or None)``: the bit-exact
        integer reference on a batch; ``params`` is ``{"weight": ..., "bias": ...}`` or
        ``None``.
    summary : callable or None
        ``summary(config) -> str``: one line on a layer of a kind without parameters, for
        ``python -m sim.describe`` (the layers with parameters share their description:
        formats, shifts, accumulator).
    """

    name: str
    config: type | None
    base: str | None
    token: str
    token_help: str
    parse: Callable
    format: Callable
    keys: frozenset = frozenset()
    optional_keys: frozenset = frozenset()
    from_spec: Callable | None = None
    to_spec: Callable | None = None
    forward: Callable | None = None
    summary: Callable | None = None
    numbered: bool = False
    flat: bool = False
    logits: bool = False

    @property
    def in_network(self):
        """Whether it is a layer of the integer network (not an architecture-only kind)."""
        return self.config is not None

    @property
    def has_params(self):
        """Whether its layers have a weight and a bias array."""
        return self.in_network and self.config.has_params


def mac_to_spec(layer):
    """The manifest keys that a convolution and a dense layer share (``relu_max`` only where
    set: the files without it stay as they were)."""
    spec = {"relu": layer.relu, "weight": layer.weight.to_json(),
            "bias": layer.bias.to_json(), "output": layer.output.to_json()}
    if layer.relu_max is not None:
        spec["relu_max"] = layer.relu_max
    return spec


def mac_formats(spec):
    """The weight, bias and output formats of a MAC layer's manifest entry, and its
    ``relu_max`` if it has one."""
    found = {k: Format.from_json(spec[k]) for k in ("weight", "bias", "output")}
    if spec.get("relu_max") is not None:
        found["relu_max"] = spec["relu_max"]
    return found


class KeepsFormat:
    """What the kinds whose codes keep their format (the poolings) share: one ``format``,
    the input's and the output's, and their checks of it and of the image ``in_shape``."""

    @property
    def input(self):
        return self.format

    @property
    def output(self):
        return self.format

    def _check_image(self):
        from ..contract import check_shape
        check_shape(f"{self.name}: in_shape", self.in_shape, 3)
        if not isinstance(self.format, Format):
            raise TypeError(f"{self.name}: format must be a Format, not {self.format!r}")


class Padded:
    """What the kinds with a ``padding`` ``((top, bottom), (left, right))`` share."""

    @property
    def padded(self):
        """Whether the input is padded."""
        return self.padding != ((0, 0), (0, 0))

    @property
    def padded_shape(self):
        """The input's ``(height, width, channels)`` with its padding."""
        (t, b), (l, r) = self.padding
        return (self.in_shape[0] + t + b, self.in_shape[1] + l + r, self.in_shape[2])


def with_relu_max(entry, text, token):
    """``entry`` with the ``relu_max`` of an architecture token's ``r<max>`` (``text``), if
    any (ReLU6: ``r6``)."""
    if text:
        if int(text) < 1:
            raise ValueError(f"{token}: a ReLU's max_value is at least 1")
        entry["relu_max"] = float(text)
    return entry


def relu_max_token(entry):
    """The ``r<max>`` of an entry's ``relu_max`` (none without); an entry whose max is not a
    whole number has no token."""
    value = entry.get("relu_max")
    if value is None:
        return ""
    if float(value) != int(value):
        raise ValueError(f"relu_max {value} has no spec token (whole numbers only)")
    return f"r{int(value)}"
