"""Networks in Keras 3 with the contract's quantizers: building one from an architecture,
format calibration, and export to (and from) the integer network."""

import math

import numpy as np

from . import quant  # sets KERAS_BACKEND before keras is imported
import keras

from q8 import arch as arch_mod
from . import layers as kinds
from q8.arch import DEFAULT_ARCH
from q8.contract import FRAC_MAX, FRAC_MIN, Format
from q8.weights import SCHEMA, VERSION, Network

__all__ = ["build_model", "mac_layers", "set_quantized", "calibrate", "set_uniform_formats",
           "to_network", "from_network", "load_keras_model", "logits_codes"]

INPUT_FORMAT = Format(signed=False, frac=8)  # raw pixel bytes: value = byte / 256


def build_model(arch=DEFAULT_ARCH, *, input_shape=(28, 28, 1), names=None):
    """A Keras model of architecture ``arch`` with quantizable layers (float until
    calibrated).

    Parameters
    ----------
    arch : str or list of dict
        An architecture spec (``q8.arch``: ``"conv2x3,pool,dense128,drop0.5,dense10"``, the
        user's network, is the default) or its layer entries.
    input_shape : tuple of int
        ``(height, width, channels)`` of the raw pixel bytes.
    names : list of str, optional
        Layer names, one per entry (``None`` for dropouts); ``q8.arch.layer_names`` when absent.

    The input is raw bytes 0..255 as float32, scaled to the contract's ``byte / 256``; the
    flatten before the first dense layer is implied; the last dense layer's softmax is left to
    the loss (it does not change the argmax).
    """
    entries = arch_mod.parse(arch) if isinstance(arch, str) else list(arch)
    names = list(names) if names is not None else arch_mod.layer_names(entries)
    inputs = keras.Input(tuple(input_shape), name="pixels")
    x = keras.layers.Rescaling(2.0 ** -INPUT_FORMAT.frac, name="input_scale")(inputs)
    state = {"dropout_total": sum(e["kind"] == "dropout" for e in entries)}
    for name, e in zip(names, entries):
        x = kinds.get(e["kind"]).build(e, name, x, state)
    return keras.Model(inputs, x, name="mnist_q8")


def mac_layers(model):
    return [l for l in model.layers if isinstance(l, quant._QuantMac)]


def _kind_of(layer):
    """The training kind whose builder made Keras layer ``layer``, or None (a Flatten, the
    input's scaling, a dropout)."""
    return next((k for k in kinds.KINDS.values()
                 if k.export is not None and isinstance(layer, k.layer_types)), None)


def set_quantized(model, quantized):
    for layer in mac_layers(model):
        layer.quantized = quantized
    follow_formats(model)
    for layer in model.layers:
        if isinstance(layer, quant.QuantMean):
            layer.quantized = quantized


def follow_formats(model):
    """Give each layer that keeps its input's codes and rounds (an average pooling) the
    output format of the MAC layer before it."""
    before = None
    for layer in model.layers:
        if isinstance(layer, quant._QuantMac):
            before = layer
        elif isinstance(layer, quant.QuantMean) and before is not None:
            layer.signed, layer.frac = not before.relu, before.output_frac


def _clamp_frac(f):
    return max(FRAC_MIN, min(FRAC_MAX, f))


def choose_frac(values, *, signed, search=True):
    """The power-of-two format for a tensor, from its values.

    Starts at the largest ``frac`` that represents the largest magnitude without saturating;
    with ``search``, also tries up to three more fraction bits (saturating the rare largest
    values for finer steps) and keeps the one with the least squared error.
    """
    values = np.asarray(values, dtype=np.float32).ravel()
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    top = 127 if signed else 255
    if peak == 0.0:
        return FRAC_MAX
    base = _clamp_frac(math.floor(math.log2(top / peak)))
    if not search:
        return base
    candidates = sorted({_clamp_frac(base + k) for k in range(4)})

    def error(f):
        fmt = Format(signed=signed, frac=f)
        return float(np.sum((fmt.dequantize(fmt.quantize(values)) - values) ** 2))

    return min(candidates, key=error)


def calibrate(model, images):
    """Choose every layer's formats from the float model and calibration ``images``.

    Weights and ReLU outputs by least squared error, logits so that the largest positive one
    does not saturate, each bias at most as fine as its accumulator so that it aligns by a
    left shift.
    """
    layers = mac_layers(model)
    probe = keras.Model(model.inputs, [l.output for l in layers])
    set_quantized(model, False)
    activations = probe.predict(images, batch_size=1000, verbose=0)
    input_frac = INPUT_FORMAT.frac
    for layer, act in zip(layers, activations):
        layer.input_frac = input_frac
        layer.weight_frac = choose_frac(np.asarray(layer.kernel.value), signed=True)
        acc_frac = input_frac + layer.weight_frac
        layer.bias_frac = min(choose_frac(np.asarray(layer.bias.value), signed=True),
                              acc_frac)
        # The class depends on the largest logits only: size the logits' format to the
        # largest positive one and let very negative logits saturate at -128.
        layer.output_frac = choose_frac(act if layer.relu else np.maximum(act, 0),
                                        signed=not layer.relu, search=layer.relu)
        input_frac = layer.output_frac
    follow_formats(model)


def set_uniform_formats(model, frac):
    """Give every weight, bias and activation ``frac`` fraction bits (a baseline)."""
    input_frac = INPUT_FORMAT.frac
    for layer in mac_layers(model):
        layer.input_frac = input_frac
        layer.weight_frac = layer.bias_frac = layer.output_frac = frac
        input_frac = frac
    follow_formats(model)


def to_network(model, provenance=None):
    """Export a calibrated model to the integer ``Network`` that the reference and the
    gateware read. Rounding uses ``Format.quantize``, the same float32 arithmetic as
    ``quant.fake_quant``."""
    specs, params = [], {}
    for layer in model.layers:
        kind = _kind_of(layer)
        if kind is None:
            continue
        spec, codes = kind.export(layer)
        specs.append({"name": layer.name, "kind": kind.kind, **spec})
        for key, value in (codes or {}).items():
            params[f"{layer.name}.{key}"] = value
    manifest = {"schema": SCHEMA, "version": VERSION,
                "input": {"shape": list(model.input_shape[1:]),
                          "format": INPUT_FORMAT.to_json()},
                "layers": specs, "provenance": provenance or {}}
    return Network.from_manifest(manifest, params)


def from_network(net):
    """A quantized Keras model whose weights are the codes of ``net`` (exact: the quantizer
    returns codes that are already on its grid unchanged)."""
    model = build_model(arch_mod.entries_of(net), input_shape=net.input_shape,
                        names=[l.name for l in net.layers])
    for layer, cfg in zip(mac_layers(model), net.mac_layers):
        p = net.params[cfg.name]
        layer.kernel.assign(cfg.weight.dequantize(p["weight"]).astype(np.float32))
        layer.bias.assign(cfg.bias.dequantize(p["bias"]).astype(np.float32))
        layer.input_frac, layer.weight_frac = cfg.input.frac, cfg.weight.frac
        layer.bias_frac, layer.output_frac = cfg.bias.frac, cfg.output.frac
        layer.quantized = True
    set_quantized(model, True)
    return model


def load_keras_model(path):
    return keras.saving.load_model(path, compile=False)


def logits_codes(model, images, batch_size=1000):
    """Run the quantized Keras model on uint8 images; return the int8 logit codes."""
    last = mac_layers(model)[-1]
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == len(model.inputs[0].shape) - 1:  # (N, H, W): one grey channel
        x = x[..., None]
    real = model.predict(x, batch_size=batch_size, verbose=0)
    codes = np.asarray(real, dtype=np.float64) * 2.0 ** last.output_frac
    if not np.array_equal(codes, np.round(codes)):
        raise AssertionError("the Keras model's logits are not on their format's grid")
    return codes.astype(np.int8)
