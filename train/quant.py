"""Keras 3 layers that train in the arithmetic contract's 8-bit fixed point.

Each quantized layer rounds its weights, its bias and its output exactly as ``q8.contract``
does (round half up, saturate), so that its inference equals the integer reference bit for bit;
gradients pass the rounding straight through (the straight-through estimator) and stop where a
value saturates. Why this is exact in float32 is argued in ``docs/fixed-point.md``.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from keras import ops

from q8.contract import Format

__all__ = ["fake_quant", "mac_export", "QuantMean", "PACKAGE"]

PACKAGE = "mnist_q8"


def fake_quant(x, fmt):
    """``x`` rounded to the codes of ``fmt`` and returned as real values (float32).

    Forward: ``clip(floor(x * 2**frac + 0.5), min, max) * 2**-frac``, exactly the contract's
    rounding. Backward: the gradient of ``x * 2**frac`` through the rounding (straight-through),
    zero where the clip saturates.
    """
    scale = 2.0 ** fmt.frac
    xs = x * scale
    codes = ops.clip(ops.floor(xs + 0.5), fmt.min, fmt.max)
    # codes + (xs - xs): the forward value is the code exactly (xs - xs == 0) and the gradient
    # that of xs, wherever xs rounds to a code inside the range; zero where it saturates.
    inside = ops.logical_and(xs >= fmt.min - 0.5, xs < fmt.max + 0.5)
    straight = ops.where(inside, xs - ops.stop_gradient(xs), ops.zeros_like(xs))
    return (ops.stop_gradient(codes) + straight) * (1.0 / scale)


class _QuantMac(keras.layers.Layer):
    """What the MAC layers' quantised Keras layers (``train.layers``: ``QuantConv2D``,
    ``QuantDense``) share: formats, the quantized flag and the output step.

    With ``quantized=False`` the layer is an ordinary float layer (the first training phase);
    with ``quantized=True`` weights, bias and output are rounded to their formats. The formats
    are plain integers set by calibration (``train.calibrate``) between training phases.
    """

    def __init__(self, *, relu, quantized=False, input_frac=None, weight_frac=None,
                 bias_frac=None, output_frac=None, relu_max=None, **kwargs):
        super().__init__(**kwargs)
        self.relu = bool(relu)
        self.relu_max = None if relu_max is None else float(relu_max)
        self.quantized = bool(quantized)
        self.input_frac = input_frac
        self.weight_frac = weight_frac
        self.bias_frac = bias_frac
        self.output_frac = output_frac

    @property
    def formats(self):
        """The layer's formats as ``q8.contract.Format`` objects."""
        return {"input": Format(signed=False, frac=self.input_frac),
                "weight": Format(signed=True, frac=self.weight_frac),
                "bias": Format(signed=True, frac=self.bias_frac),
                "output": Format(signed=not self.relu, frac=self.output_frac)}

    def quantized_params(self):
        """Kernel and bias as the layer uses them (rounded when quantized)."""
        if not self.quantized:
            return self.kernel, self.bias
        f = self.formats
        return fake_quant(self.kernel, f["weight"]), fake_quant(self.bias, f["bias"])

    def _finish(self, acc):
        if self.relu_max is not None:   # ReLU6: rounding min(acc, 6) is the contract's clamp
            acc = ops.minimum(acc, self.relu_max)
        if self.quantized:
            # An unsigned output format saturates negative sums to zero: that is the ReLU.
            return fake_quant(acc, self.formats["output"])
        return ops.relu(acc) if self.relu else acc

    def get_config(self):
        return {**super().get_config(), "relu": self.relu, "quantized": self.quantized,
                "input_frac": self.input_frac, "weight_frac": self.weight_frac,
                "bias_frac": self.bias_frac, "output_frac": self.output_frac,
                "relu_max": self.relu_max}


class QuantMean(keras.layers.Layer):
    """What the average poolings' quantised Keras layers share (``train.layers``: window and
    global): the float mean, rounded half up to the format of its input when ``quantized``
    (``signed``, ``frac``: the MAC layer before's output format, set with it by
    ``train.model.follow_formats``). The mean of codes rounded half up is ``floor((sum + n //
    2) / n)``, the reference's integers, for odd and even ``n``; exact in float32 since the
    codes' sum is (``docs/fixed-point.md``). Subclasses give :meth:`mean`."""

    def __init__(self, *, quantized=False, signed=False, frac=None, **kwargs):
        super().__init__(**kwargs)
        self.quantized, self.signed, self.frac = bool(quantized), bool(signed), frac

    def mean(self, x):
        raise NotImplementedError

    def call(self, x):
        mean = self.mean(x)
        if not self.quantized:
            return mean
        return fake_quant(mean, Format(signed=self.signed, frac=self.frac))

    def get_config(self):
        return {**super().get_config(), "quantized": self.quantized, "signed": self.signed,
                "frac": self.frac}


def mac_export(layer):
    """A calibrated MAC layer's manifest keys that every MAC kind has (``relu`` and the
    formats) and its parameters as codes, rounded by ``Format.quantize``: the same float32
    arithmetic as :func:`fake_quant`."""
    f = layer.formats
    spec = {"relu": layer.relu, "weight": f["weight"].to_json(), "bias": f["bias"].to_json(),
            "output": f["output"].to_json()}
    if layer.relu_max is not None:
        spec["relu_max"] = layer.relu_max
    return spec, {"weight": f["weight"].quantize(np.asarray(layer.kernel.value)),
                  "bias": f["bias"].quantize(np.asarray(layer.bias.value))}
