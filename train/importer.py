"""Your own trained float Keras model, mapped onto the arithmetic contract.

:func:`read_model` loads a ``.keras`` file or a Keras 2 or 3 ``.h5`` file; :func:`map_model`
reads its chain of layers into an architecture (``q8.arch`` layer entries) and float weights,
folding what the contract has no layer for: the input scaling (pixels / 255, or a
``Rescaling`` layer) into the first layer, so that the board still takes raw bytes, and each
``BatchNormalization`` into the convolution or dense layer before it. :func:`from_keras` is the
one-call API: a Keras model and calibration images in, the calibrated (PTQ) integer
``q8.weights.Network`` out. ``python -m train --from MODEL`` adds quantization-aware training
from the model's weights (``train.qat``) and the checks against the reference.

Supported, in a chain (one input, one output, no branches): ``InputLayer``, ``Rescaling``
(before the first convolution or dense layer), ``Conv2D`` (valid padding, stride 1, no
dilation, one group, ReLU or no activation), ``MaxPooling2D`` (stride = pool, valid padding),
``Flatten``, ``Dense`` (ReLU, none, or softmax on the last), ``BatchNormalization`` (right
after a ``Conv2D`` or ``Dense`` without activation), ``Activation("relu")`` / ``ReLU()``
(plain: no slope, cap or threshold), ``Dropout``, and a final ``Softmax`` or
``Activation("softmax")``. Every other layer or option is refused before any work with a
:class:`ModelImportError` naming the layer.
"""

from dataclasses import dataclass, field
import os

import numpy as np

from . import quant  # noqa: F401  (sets KERAS_BACKEND before keras is imported)
import keras

from q8 import arch as arch_mod
from q8.layers.kind import same_padding
from . import layers as kinds
from .layers import SUPPORTED, Mapping, ModelImportError
from .model import INPUT_FORMAT, build_model, calibrate, mac_layers, to_network

__all__ = ["ModelImportError", "MappedModel", "read_model", "map_model", "architecture_of",
           "quant_model", "from_keras", "SUPPORTED"]

@dataclass
class MappedModel:
    """A float Keras model read onto the contract.

    Attributes
    ----------
    input_shape : tuple of int
        ``(height, width, 1)``.
    entries : list of dict
        The architecture (``q8.arch`` layer entries, dropouts included).
    params : list of (kernel, bias)
        Float32 weights of each convolution and dense layer, in order, with the input scaling
        and any batch normalisation folded in: they compute on ``byte / 256``.
    input_scale : float
        What the model multiplies a raw byte by before its first layer (``1 / 255`` for the
        Keras examples' ``pixels / 255``), folded into the first layer.
    pixel_divisor : float
        What the model takes: ``byte / pixel_divisor`` (see :func:`map_model`).
    notes : list of str
        What was folded or dropped, for the user.
    """

    input_shape: tuple
    entries: list
    params: list
    input_scale: float
    pixel_divisor: float
    notes: list = field(default_factory=list)

    @property
    def spec(self):
        return arch_mod.to_spec_safe(self.entries)


def read_model(path):
    """Load a trained Keras model from ``path`` (``.keras``, or ``.h5`` from Keras 2 or 3)
    without its training configuration."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ModelImportError(f"{path}: no such model file")
    if not path.endswith((".keras", ".h5")):
        raise ModelImportError(f"{path}: a Keras model is a .keras or .h5 file "
                               f"(model.save('model.keras'))")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises many kinds for an unreadable or foreign file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelImportError(f"{path}: Keras cannot load this model ({first[:300]}); save it "
                               f"with model.save('model.keras') from Keras 3, or as .h5 from "
                               f"Keras 2") from None


def _chain(model):
    """The model's layers in order, checking that they form one chain."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelImportError(f"the model has {len(model.inputs)} inputs and "
                               f"{len(model.outputs)} outputs; only a chain of layers with one "
                               f"input and one output is supported")
    layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    if not isinstance(model, keras.Sequential):
        tensor = model.inputs[0]
        for layer in layers:
            nodes = layer._inbound_nodes
            if len(nodes) != 1 or len(nodes[0].input_tensors) != 1 \
                    or nodes[0].input_tensors[0] is not tensor:
                raise ModelImportError(f"layer {layer.name!r} ({type(layer).__name__}) is not "
                                       f"fed by the layer before it alone: branches, merges "
                                       f"and shared layers are not supported; only a chain")
            tensor = layer.output
        if tensor is not model.outputs[0]:
            raise ModelImportError("the model's output is not its last layer's: only a chain "
                                   "of layers is supported")
    for layer in layers:
        if isinstance(layer, keras.Model):
            raise ModelImportError(f"layer {layer.name!r} is a nested model; flatten it into "
                                   f"one chain of layers")
    return layers


def map_model(model, *, pixel_divisor=None):
    """Read a float Keras model onto the contract.

    Parameters
    ----------
    model : keras.Model
        A chain of supported layers (see the module's docstring).
    pixel_divisor : float, optional
        What the model was trained to take: ``byte / pixel_divisor``. ``None``: 255 (the Keras
        examples' ``pixels / 255``) for a model without a ``Rescaling`` layer, 1 (raw bytes)
        for one with it.

    Returns
    -------
    MappedModel

    Raises
    ------
    ModelImportError
        Naming the first layer or option that cannot be mapped, before any work.
    """
    shape, rank = _input_shape(model)
    layers = _chain(model)
    if pixel_divisor is None:
        has_rescaling = any(isinstance(l, keras.layers.Rescaling) for l in layers)
        pixel_divisor = 1.0 if has_rescaling else 255.0
    if not (isinstance(pixel_divisor, (int, float)) and np.isfinite(pixel_divisor)
            and pixel_divisor > 0):
        raise ModelImportError(f"the pixel divisor must be a positive number, "
                               f"not {pixel_divisor!r}")
    mapping = Mapping(rank=rank, notes=[f"input: the model takes byte / {pixel_divisor:g}"])
    scaling = [1.0 / pixel_divisor, 0.0]   # x_model = byte * scale + offset
    for layer in layers:
        if mapping.softmax_seen:
            Mapping.refuse(layer, "comes after the softmax; the softmax must be the last layer")
        kind = kinds.for_keras_layer(layer)
        if kind is not None:
            kind.map(layer, mapping)
            continue
        fold = next((f for t, f in _FOLDS if isinstance(layer, t)), None)
        if fold is None:
            Mapping.refuse(layer, "this layer is not supported")
        fold(layer, mapping, scaling)
    _flattened_conv_as_dense(mapping)
    _check_ends(mapping)
    params = _fold_input_scaling(mapping.params, *scaling)
    entries = [{k: v for k, v in e.items() if not k.startswith("_")} for e in mapping.entries]
    try:
        arch_mod.configs(entries, input_shape=shape)
    except arch_mod.ArchError as e:
        raise ModelImportError(str(e)) from None
    return MappedModel(input_shape=shape, entries=entries,
                       params=[(k.astype(np.float32), b.astype(np.float32)) for k, b in params],
                       input_scale=scaling[0], pixel_divisor=float(pixel_divisor),
                       notes=mapping.notes)


def _input_shape(model):
    """``((height, width, channels), rank)`` of the model's input: the image the board takes, and
    the rank of the tensor the model's first layer sees (1: MNIST flattened)."""
    try:
        given = tuple(model.inputs[0].shape[1:])
    except (AttributeError, ValueError, IndexError):
        raise ModelImportError("the model has no defined input: build it (give it a "
                               "keras.Input) before saving or importing it") from None
    shape, rank = given, 3
    if len(shape) == 2:
        shape = (*shape, 1)
    elif shape == (784,):  # MNIST flattened row by row: the board's pixel order
        shape, rank = (28, 28, 1), 1
    if len(shape) != 3 or shape[2] not in (1, 3) or \
            not all(isinstance(s, int) and s > 0 for s in shape):
        raise ModelImportError(f"the model's input is {given}; supported: one grey channel "
                               f"(height, width, 1) or (height, width), three RGB channels "
                               f"(height, width, 3), or MNIST's (784,)")
    return shape, rank


# --- the layers that fold into others (no kind of their own) --------------------------------
# each ``(layer, mapping, scaling)``; ``scaling`` is ``[scale, offset]`` of the input

def _fold_rescaling(layer, mapping, scaling):
    if mapping.params:
        Mapping.refuse(layer, "rescaling is supported before the first Conv2D or Dense only")
    s = np.asarray(layer.scale, dtype=np.float64)
    o = np.asarray(layer.offset, dtype=np.float64)
    if s.size != 1 or o.size != 1 or float(s) <= 0:
        Mapping.refuse(layer, "only one positive scale and one offset are supported")
    # x * s + o applied to (byte * scale + offset)
    scaling[:] = [scaling[0] * float(s), scaling[1] * float(s) + float(o)]
    mapping.notes.append(f"{layer.name}: Rescaling x {float(s):g} + {float(o):g} folded into "
                         f"the first layer")
    mapping.last_mac = None


def _fold_flatten(layer, mapping, scaling):
    if mapping.entries and mapping.entries[-1]["kind"] == "conv2d":
        mapping.entries[-1]["_flattened"] = True
    mapping.rank = 1


def _flattened_conv_as_dense(mapping):
    """A last convolution whose map is 1x1, flattened (logits from a convolution without a
    Dense), is the dense layer over its input that it computes: each output the sum of the
    one window's products, the weights of the input positions it covers (the padding's
    contribute nothing: code 0), zero for those a stride leaves out. The same products and
    sum, so the same integers; the gateware's dense engine computes them."""
    macs = [i for i, e in enumerate(mapping.entries) if e["kind"] in ("conv2d", "dense")]
    if not macs:
        return
    index = macs[-1]
    entry = mapping.entries[index]
    (height, width, channels), out = entry.get("_shapes", ((0, 0, 0), (0, 0, 0)))
    if entry["kind"] != "conv2d" or not entry.get("_flattened") or out[:2] != (1, 1):
        return
    kernel, bias = mapping.params[macs.index(index)]
    kh, kw = entry["kernel"]
    (top, _), (left, _) = same_padding((height, width), (kh, kw), entry.get("strides", [1, 1])) \
        if entry.get("padding") == "same" else ((0, 0), (0, 0))
    weight = np.zeros((height, width, channels, kernel.shape[-1]))
    for r in range(height):
        for c in range(width):
            if 0 <= r + top < kh and 0 <= c + left < kw:
                weight[r, c] = kernel[r + top, c + left]
    mapping.params[macs.index(index)] = [weight.reshape(-1, kernel.shape[-1]), bias]
    dense = {"kind": "dense", "out_features": int(kernel.shape[-1]), "relu": entry["relu"],
             "_name": entry["_name"]}
    if "relu_max" in entry:
        dense["relu_max"] = entry["relu_max"]
    mapping.entries[index] = dense
    mapping.notes.append(f"{entry['_name']}: a {kh}x{kw} convolution to a 1x1 map, flattened: "
                         f"mapped as the dense layer it computes")


def _fold_batch_norm(layer, mapping, scaling):
    mac = mapping.after_mac(layer)
    if mac["relu"]:
        Mapping.refuse(layer, f"follows {mac['_name']!r}, which ends in ReLU: a batch "
                              f"normalisation is folded into the layer before it only when "
                              f"the ReLU comes after the normalisation")
    axis = layer.axis if isinstance(layer.axis, int) else tuple(layer.axis)
    rank = mapping.rank
    if axis not in (-1, rank, (-1,), (rank,)):
        Mapping.refuse(layer, f"axis {layer.axis} is not supported (the channel axis, -1)")
    gamma = np.asarray(layer.gamma, np.float64) if layer.scale else 1.0
    beta = np.asarray(layer.beta, np.float64) if layer.center else 0.0
    mean = np.asarray(layer.moving_mean, np.float64)
    var = np.asarray(layer.moving_variance, np.float64)
    k = gamma / np.sqrt(var + layer.epsilon)
    kernel, bias = mapping.params[-1]
    mapping.params[-1] = [kernel * k, (bias - mean) * k + beta]
    mapping.notes.append(f"{layer.name}: BatchNormalization folded into {mac['_name']}")


def _fold_activation(layer, mapping, scaling):
    top = None
    if isinstance(layer, keras.layers.ReLU):
        if float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
            Mapping.refuse(layer, "only a ReLU without negative_slope or threshold (max_value "
                                  "allowed: ReLU6) is supported")
        act = "relu"
        top = None if layer.max_value is None else float(layer.max_value)
    else:
        act = mapping.activation(layer)
    if act == "linear":
        return
    if act == "softmax":
        mapping.drop_softmax(layer)
        return
    if act == "relu6":
        act, top = "relu", 6.0
    mac = mapping.after_mac(layer)
    if mac["relu"]:
        Mapping.refuse(layer, "a second ReLU")
    mac["relu"] = True
    if top is not None:
        mac["relu_max"] = top


def _fold_softmax(layer, mapping, scaling):
    mapping.drop_softmax(layer)


_FOLDS = ((keras.layers.Rescaling, _fold_rescaling), (keras.layers.Flatten, _fold_flatten),
          (keras.layers.BatchNormalization, _fold_batch_norm),
          ((keras.layers.ReLU, keras.layers.Activation), _fold_activation),
          (keras.layers.Softmax, _fold_softmax))


def _check_ends(mapping):
    """Refuse a chain whose MAC layers the contract cannot take: the logits from a Dense
    layer last, ReLU on every hidden one (unsigned codes), none on the last (signed logits)."""
    entries = mapping.entries
    macs = [e for e in entries if e["kind"] in ("conv2d", "dense")]
    after = entries[entries.index(macs[-1]) + 1:] if macs else []
    if not macs or not (macs[-1]["kind"] == "dense" and not after or
                        macs[-1]["kind"] == "conv2d" and
                        [e["kind"] for e in after] in (["gavgpool2d"], ["gmaxpool2d"])):
        raise ModelImportError("the model must end with a Dense layer (the logits, softmax "
                               "allowed), or with a Conv2D to the classes and a "
                               "GlobalAveragePooling2D or GlobalMaxPooling2D (or a Flatten "
                               "of its 1x1 map)")
    for e in macs[:-1]:
        if not e["relu"]:
            raise ModelImportError(
                f"layer {e['_name']!r} is a hidden {e['kind']} layer without ReLU: its outputs "
                f"would be signed, and every hidden activation here is unsigned (8-bit codes "
                f"after a ReLU, docs/fixed-point.md). Add activation='relu' (or a ReLU layer) "
                f"and retrain, or merge it with the next layer")
    if macs[-1]["relu"]:
        raise ModelImportError(f"the last layer {macs[-1]['_name']!r} ends in ReLU; the logits "
                               f"are signed: remove the ReLU from the last Dense (or Conv2D) "
                               f"layer")


def _fold_input_scaling(params, scale, offset):
    """Fold the input scaling into the first layer: the board's input is byte * step (the
    contract's input format, byte / 256), so
    x_model = byte * scale + offset = (byte * step) * (scale / step) + offset."""
    step = 2.0 ** -INPUT_FORMAT.frac
    kernel, bias = params[0]
    fan_axes = tuple(range(kernel.ndim - 1))
    return [[kernel * (scale / step), bias + offset * kernel.sum(axis=fan_axes)], *params[1:]]


def architecture_of(path):
    """``(input_shape, entries)`` of the Keras model in ``path``: what ``python -m hw.fit
    --from`` plans from (entry point ``mnist_q8.architectures``)."""
    mapped = map_model(read_model(path))
    return mapped.input_shape, mapped.entries


def quant_model(mapped):
    """A quantizable Keras model (``train.model.build_model``) holding ``mapped``'s folded
    float weights, not yet calibrated."""
    model = build_model(mapped.entries, input_shape=mapped.input_shape)
    for layer, (kernel, bias) in zip(mac_layers(model), mapped.params):
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
    return model


def from_keras(model, images, *, pixel_divisor=None, provenance=None):
    """A trained float Keras model and calibration images to the integer network (PTQ).

    Parameters
    ----------
    model : keras.Model
        The float model, or a path to a ``.keras`` / ``.h5`` file.
    images : numpy.ndarray
        Calibration images, uint8 ``(N, H, W)`` raw bytes (a few thousand training images).
    pixel_divisor : float, optional
        See :func:`map_model`.

    Returns
    -------
    q8.weights.Network
        Calibrated per-tensor formats, weights rounded to them: the post-training quantised
        network, bit-exact with the gateware. ``python -m train --from`` then fine-tunes it.
    """
    if isinstance(model, (str, os.PathLike)):
        model = read_model(model)
    qmodel = quant_model(map_model(model, pixel_divisor=pixel_divisor))
    calibrate(qmodel, np.asarray(images, dtype=np.float32)[..., None])
    return to_network(qmodel, provenance)


def float_predictions(model, images, *, pixel_divisor):
    """The original model's classes on uint8 ``images`` fed as it was trained."""
    x = np.asarray(images, dtype=np.float32) / np.float32(pixel_divisor)
    shape = tuple(model.inputs[0].shape[1:])
    x = x.reshape((len(x), *shape))
    return np.argmax(model.predict(x, batch_size=1000, verbose=0), -1)

