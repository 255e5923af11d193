"""What every layer kind of the model side publishes (:class:`Kind`), and the manifest helpers
that the kinds with weights share."""

from dataclasses import dataclass
from typing import Callable

from ..contract import Format

__all__ = ["Kind", "KeepsFormat", "Padded", "Pooled", "mac_to_spec", "mac_formats",
           "with_relu_max", "relu_max_token", "pool_spec", "pool_to_spec", "pool_token",
           "pool_entry", "pool_summary", "same_padding", "Global", "global_from_spec"]


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


def same_padding(size, kernel, strides):
    """Keras' (and TensorFlow's) ``padding="same"`` for an input of ``size`` ``(height,
    width)``: ``((top, bottom), (left, right))``, each axis padded to ``ceil(n / stride)``
    outputs, the odd code of an odd total at the end."""
    pads = []
    for n, k, s in zip(size, kernel, strides):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


class Global(KeepsFormat):
    """What the global poolings share: an image ``in_shape`` in, a flat ``channels`` out."""

    def __post_init__(self):
        self._check_image()

    @property
    def positions(self):
        """``n``: the positions each channel's result is over."""
        return self.in_shape[0] * self.in_shape[1]

    @property
    def out_shape(self):
        return (self.in_shape[2],)


def global_from_spec(config, noun):
    """The ``from_spec`` of a global pooling kind of config class ``config``."""
    def from_spec(spec, in_shape, in_format):
        if len(in_shape) != 3:
            raise ValueError(f"{noun} needs a (height, width, channels) input, not "
                             f"{in_shape}")
        return config(name=spec["name"], in_shape=in_shape, format=in_format)
    return from_spec


def pool_summary(layer, what):
    """A window pooling's line for ``sim.describe``."""
    stride = "" if layer.strides == layer.pool else \
        f", stride {layer.strides[0]}x{layer.strides[1]}"
    return f"{what} {layer.pool[0]}x{layer.pool[1]}{stride}, codes keep {layer.format}"


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


class Pooled(Padded):
    """What the window poolings share (max and average pooling): ``pool`` ``(ph, pw)``
    windows at every ``strides`` step of the padded input, as many as fit, as Keras. A
    config's ``strides`` of ``None`` is the pool's (Keras' default), set by
    :meth:`_check_pool`."""

    @property
    def out_shape(self):
        h, w, c = self.padded_shape
        (ph, pw), (sh, sw) = self.pool, self.strides
        return ((h - ph) // sh + 1, (w - pw) // sw + 1, c)

    @property
    def window_size(self):
        """``n``: the codes of a channel in a window."""
        return self.pool[0] * self.pool[1]

    def _check_pool(self):
        from ..contract import check_shape
        self._check_image()
        check_shape(f"{self.name}: pool", self.pool, 2)
        if self.strides is None:
            object.__setattr__(self, "strides", tuple(self.pool))
        check_shape(f"{self.name}: strides", self.strides, 2)
        h, w, _ = self.padded_shape
        if self.pool[0] > h or self.pool[1] > w:
            raise ValueError(f"{self.name}: pool {self.pool} is larger than the input "
                             f"{(h, w)}")

    def windows(self, x, fill):
        """``x`` ``(N, H, W, C)`` padded with ``fill``: its windows ``(N, H', W', C, ph,
        pw)``."""
        from numpy.lib.stride_tricks import sliding_window_view
        import numpy as np
        x = np.pad(x, ((0, 0), *self.padding, (0, 0)), constant_values=fill)
        (sh, sw) = self.strides
        return sliding_window_view(x, tuple(self.pool), axis=(1, 2))[:, ::sh, ::sw]


def pool_spec(spec, in_shape, noun):
    """The ``pool``, ``strides`` and ``padding`` of a pooling's manifest entry (or
    architecture entry: ``padding: "same"`` there, resolved for ``in_shape``) as config
    fields."""
    if len(in_shape) != 3:
        raise ValueError(f"{noun} needs a (height, width, channels) input, "
                         f"not {in_shape}")
    pool = tuple(spec["pool"])
    fields = {"pool": pool}
    if "strides" in spec:
        if not isinstance(spec["strides"], list):
            raise ValueError(f"strides must be [rows, columns], not {spec['strides']!r}")
        fields["strides"] = tuple(spec["strides"])
    if "padding" in spec:
        padding = spec["padding"]
        if padding == "same":   # an architecture's
            padding = same_padding(in_shape[:2], pool, fields.get("strides", pool))
        elif not (isinstance(padding, list) and all(isinstance(p, list) for p in padding)):
            raise ValueError(f"padding must be \"same\" or [[top, bottom], [left, right]], "
                             f"not {padding!r}")
        fields["padding"] = tuple(tuple(p) for p in padding)
    return fields


def pool_to_spec(layer):
    """A pooling's manifest keys: strides and padding only where not the defaults (the files
    of valid pools with the pool's stride stay as they were)."""
    return {"pool": list(layer.pool),
            **({"strides": list(layer.strides)} if layer.strides != layer.pool else {}),
            **({"padding": [list(p) for p in layer.padding]} if layer.padded else {})}


def pool_token(entry, base):
    """The architecture token of a pooling's entry: ``<base>[<P>][same][s<S>]``."""
    ph, pw = entry["pool"]
    if ph != pw:
        raise ValueError(f"a {ph}x{pw} pool has no spec token (only square pools)")
    padding = entry.get("padding")
    if padding not in (None, "same") and padding != [[0, 0], [0, 0]]:
        raise ValueError(f"padding {padding} has no spec token (valid, or same)")
    strides = entry.get("strides", [ph, pw])
    if strides[0] != strides[1]:
        raise ValueError(f"strides {strides} have no spec token (only equal strides)")
    return (base + ("" if ph == 2 else str(ph)) + ("same" if padding == "same" else "")
            + (f"s{strides[0]}" if strides[0] != ph else ""))


def pool_entry(kind, size, same, stride, token):
    """The architecture entry of a pooling token's parts (``size``, ``stride`` text or
    None)."""
    size = int(size or 2)
    if size < 2:
        raise ValueError(f"{token}: a pool is at least 2 x 2")
    entry = {"kind": kind, "pool": [size, size]}
    if same:
        entry["padding"] = "same"
    if stride is not None and int(stride) != size:
        if int(stride) < 1:
            raise ValueError(f"{token}: a stride is at least 1")
        entry["strides"] = [int(stride)] * 2
    return entry


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
