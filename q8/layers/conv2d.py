"""The 2-D convolution (``conv2d``) on the model side: config, manifest entry, architecture
token (``conv<F>x<K>``) and the integer reference."""

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..contract import MacLayer, check_count, check_shape, requantize
from .kind import Kind, mac_formats, mac_to_spec

__all__ = ["Conv2DConfig", "conv2d_acc", "KIND"]


@dataclass(frozen=True)
class Conv2DConfig(MacLayer):
    """2-D convolution, valid padding, stride 1, then bias and requantisation.

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

    The weight array has shape ``(kh, kw, channels, out_channels)`` (Keras' layout) and the
    bias ``(out_channels,)``.
    """

    in_shape: tuple = None
    kernel: tuple = None
    out_channels: int = None

    kind = "conv2d"
    #: It has a weight and a bias array (``<name>.weight``, ``<name>.bias`` in the file).
    has_params = True

    def __post_init__(self):
        check_shape(f"{self.name}: in_shape", self.in_shape, 3)
        check_shape(f"{self.name}: kernel", self.kernel, 2)
        check_count(f"{self.name}: out_channels", self.out_channels)
        if self.kernel[0] > self.in_shape[0] or self.kernel[1] > self.in_shape[1]:
            raise ValueError(f"{self.name}: kernel {self.kernel} is larger than the input "
                             f"{self.in_shape[:2]}")
        self._check_mac()

    @property
    def fan_in(self):
        return self.kernel[0] * self.kernel[1] * self.in_shape[2]

    @property
    def out_shape(self):
        return (self.in_shape[0] - self.kernel[0] + 1, self.in_shape[1] - self.kernel[1] + 1,
                self.out_channels)

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
    # (N, H', W', C, kh, kw) -> (N, H', W', kh, kw, C) to match the (kh, kw, C, out) weights
    windows = sliding_window_view(x.astype(np.int64), (kh, kw), axis=(1, 2))
    windows = windows.transpose(0, 1, 2, 4, 5, 3).reshape(*windows.shape[:3], -1)
    acc = windows @ weight.astype(np.int64).reshape(-1, layer.out_channels)
    return acc + (bias.astype(np.int64) << layer.bias_shift)


def _forward(layer, x, params):
    acc = conv2d_acc(layer, x, params["weight"], params["bias"])
    return requantize(acc, layer.out_shift, layer.output), acc


def _from_spec(spec, in_shape, in_format):
    if len(in_shape) != 3:
        raise ValueError(f"conv2d needs a (height, width, channels) input, not {in_shape}")
    return Conv2DConfig(name=spec["name"], in_shape=in_shape, kernel=tuple(spec["kernel"]),
                        out_channels=spec["out_channels"], relu=spec["relu"], input=in_format,
                        **mac_formats(spec))


def _to_spec(layer):
    return {**mac_to_spec(layer), "kernel": list(layer.kernel),
            "out_channels": layer.out_channels}


def _parse(m):
    filters, kernel = int(m["filters"]), int(m["kernel"])
    if filters < 1 or kernel < 1:
        raise ValueError(f"{m[0]}: filters and kernel size must be at least 1")
    return {"kind": "conv2d", "kernel": [kernel, kernel], "out_channels": filters,
            "relu": True}


def _format(entry):
    kh, kw = entry["kernel"]
    if kh != kw:
        raise ValueError(f"a {kh}x{kw} kernel has no spec token (only square kernels)")
    return f"conv{entry['out_channels']}x{kh}"


KIND = Kind(name="conv2d", config=Conv2DConfig, base="conv",
            token=r"conv(?P<filters>\d+)x(?P<kernel>\d+)",
            token_help="conv<filters>x<kernel> (conv4x5)", parse=_parse, format=_format,
            keys=frozenset({"kernel", "out_channels", "relu", "weight", "bias", "output"}),
            from_spec=_from_spec, to_spec=_to_spec, forward=_forward)
