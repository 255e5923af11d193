"""The 2-D convolution (``conv2d``) on the model side: config, manifest entry, architecture
token (``conv<F>x<K>``) and the integer reference."""

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..contract import MacLayer, check_count, check_shape
from .kind import Kind, Padded, same_padding, mac_formats, mac_to_spec, relu_max_token, with_relu_max

__all__ = ["Conv2DConfig", "conv2d_acc", "same_padding", "KIND"]


@dataclass(frozen=True)
class Conv2DConfig(Padded, MacLayer):
    """2-D convolution, then bias and requantisation.

    The input is padded with code 0 (``padding``), then each ``kh x kw`` window at every
    ``strides`` step is multiplied. Code 0 is the real value 0 in every format of the
    contract (no zero point), signed or not, so padding with it is Keras' zero padding.

    Parameters
    ----------
    name : str
    in_shape : tuple of int
        ``(height, width, channels)`` of the input.
    kernel : tuple of int
        ``(kh, kw)``.
    out_channels : int
    input, weight, bias, output : Format
    relu : bool
    padding : ((int, int), (int, int))
        Codes 0 added ``((top, bottom), (left, right))``; ``((0, 0), (0, 0))`` (valid) by
        default, :func:`same_padding` for Keras' ``"same"``.
    strides : (int, int)
        ``(1, 1)`` by default; outputs at rows ``0, sh, 2 sh, ...`` of the padded input's
        windows (as Keras: the windows that fit).

    The weight array has shape ``(kh, kw, channels, out_channels)`` (Keras' layout) and the
    bias ``(out_channels,)``.
    """

    in_shape: tuple = None
    kernel: tuple = None
    out_channels: int = None
    padding: tuple = ((0, 0), (0, 0))
    strides: tuple = (1, 1)

    kind = "conv2d"
    #: It has a weight and a bias array (``<name>.weight``, ``<name>.bias`` in the file).
    has_params = True

    def __post_init__(self):
        check_shape(f"{self.name}: in_shape", self.in_shape, 3)
        check_shape(f"{self.name}: kernel", self.kernel, 2)
        check_count(f"{self.name}: out_channels", self.out_channels)
        check_shape(f"{self.name}: strides", self.strides, 2)
        if not (isinstance(self.padding, tuple) and len(self.padding) == 2 and all(
                isinstance(p, tuple) and len(p) == 2 and all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in p)
                for p in self.padding)):
            raise ValueError(f"{self.name}: padding must be ((top, bottom), (left, right)) "
                             f"of integers >= 0, not {self.padding!r}")
        padded = self.padded_shape
        if self.kernel[0] > padded[0] or self.kernel[1] > padded[1]:
            raise ValueError(f"{self.name}: kernel {self.kernel} is larger than the input "
                             f"{self.in_shape[:2]}" + (" padded" if self.padded else ""))
        for axis in range(2):
            if max(self.padding[axis]) >= self.kernel[axis]:
                raise ValueError(f"{self.name}: padding {self.padding[axis]} of a kernel of "
                                 f"{self.kernel[axis]} would make windows of padding alone "
                                 f"(at most {self.kernel[axis] - 1} a side)")
        self._check_mac()

    @property
    def fan_in(self):
        return self.kernel[0] * self.kernel[1] * self.in_shape[2]

    @property
    def out_shape(self):
        h, w, _ = self.padded_shape
        (kh, kw), (sh, sw) = self.kernel, self.strides
        return ((h - kh) // sh + 1, (w - kw) // sw + 1, self.out_channels)

    @property
    def weight_shape(self):
        return (*self.kernel, self.in_shape[2], self.out_channels)

    @property
    def bias_shape(self):
        return (self.out_channels,)


def conv2d_acc(layer, x, weight, bias):
    """The accumulators of a convolution: ``x`` codes ``(N, H, W, C)`` to int64
    ``(N, H', W', out_channels)``, bias aligned and added."""
    kh, kw = layer.kernel
    sh, sw = layer.strides
    x = np.pad(x.astype(np.int64), ((0, 0), *layer.padding, (0, 0)))
    # (N, H', W', C, kh, kw) -> (N, H', W', kh, kw, C) to match the (kh, kw, C, out) weights
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    windows = windows.transpose(0, 1, 2, 4, 5, 3).reshape(*windows.shape[:3], -1)
    acc = windows @ weight.astype(np.int64).reshape(-1, layer.out_channels)
    return acc + (bias.astype(np.int64) << layer.bias_shift)


def _forward(layer, x, params):
    acc = conv2d_acc(layer, x, params["weight"], params["bias"])
    return layer.requantize(acc), acc


def _from_spec(spec, in_shape, in_format):
    if len(in_shape) != 3:
        raise ValueError(f"conv2d needs a (height, width, channels) input, not {in_shape}")
    extra = {}
    if "padding" in spec:
        padding = spec["padding"]
        if padding == "same":   # an architecture's: the input's size decides
            padding = same_padding(in_shape[:2], spec["kernel"], spec.get("strides", (1, 1)))
        elif not (isinstance(padding, list) and all(isinstance(p, list) for p in padding)):
            raise ValueError(f"padding must be \"same\" or [[top, bottom], [left, right]], "
                             f"not {padding!r}")
        extra["padding"] = tuple(tuple(p) for p in padding)
    if "strides" in spec:
        if not isinstance(spec["strides"], list):
            raise ValueError(f"strides must be [rows, columns], not {spec['strides']!r}")
        extra["strides"] = tuple(spec["strides"])
    return Conv2DConfig(name=spec["name"], in_shape=in_shape, kernel=tuple(spec["kernel"]),
                        out_channels=spec["out_channels"], relu=spec["relu"], input=in_format,
                        **mac_formats(spec), **extra)


def _to_spec(layer):
    # padding and strides only where not the defaults: files of valid, stride-1
    # convolutions stay as they were, readable by every version that reads version 1
    extra = {}
    if layer.padded:
        extra["padding"] = [list(p) for p in layer.padding]
    if layer.strides != (1, 1):
        extra["strides"] = list(layer.strides)
    return {**mac_to_spec(layer), "kernel": list(layer.kernel),
            "out_channels": layer.out_channels, **extra}


def _parse(m):
    filters, kernel = int(m["filters"]), int(m["kernel"])
    if filters < 1 or kernel < 1:
        raise ValueError(f"{m[0]}: filters and kernel size must be at least 1")
    entry = {"kind": "conv2d", "kernel": [kernel, kernel], "out_channels": filters,
             "relu": True}
    if m["conv_same"]:
        entry["padding"] = "same"
    if m["conv_stride"]:
        stride = int(m["conv_stride"])
        if stride < 1:
            raise ValueError(f"{m[0]}: the stride must be at least 1")
        entry["strides"] = [stride, stride]
    return with_relu_max(entry, m["conv_relu_max"], m[0])


def _format(entry):
    kh, kw = entry["kernel"]
    if kh != kw:
        raise ValueError(f"a {kh}x{kw} kernel has no spec token (only square kernels)")
    token = f"conv{entry['out_channels']}x{kh}"
    padding = entry.get("padding")
    if padding not in (None, "same") and padding != [[0, 0], [0, 0]]:
        raise ValueError(f"padding {padding} has no spec token (valid, or same)")
    token += "same" if padding == "same" else ""
    strides = entry.get("strides", [1, 1])
    if strides[0] != strides[1]:
        raise ValueError(f"strides {strides} have no spec token (only equal strides)")
    return token + (f"s{strides[0]}" if strides[0] != 1 else "") + relu_max_token(entry)


KIND = Kind(name="conv2d", config=Conv2DConfig, base="conv",
            token=r"conv(?P<filters>\d+)x(?P<kernel>\d+)(?P<conv_same>same)?"
                  r"(?:s(?P<conv_stride>\d+))?(?:r(?P<conv_relu_max>\d+))?",
            token_help="conv<filters>x<kernel>[same][s<stride>][r<relu max>] (conv4x5, "
                       "conv8x3sames2r6)",
            parse=_parse, format=_format,
            keys=frozenset({"kernel", "out_channels", "relu", "weight", "bias", "output"}),
            optional_keys=frozenset({"padding", "strides", "relu_max"}),
            from_spec=_from_spec, to_spec=_to_spec, forward=_forward)
