"""The weights file: one versioned ``.npz`` with int8 arrays and a JSON manifest.

Layout (``docs/weights-format.md`` has the full description):

``manifest``
    UTF-8 JSON as a uint8 array: ``schema``, ``version``, the input shape and format, the
    layers in order (kind, sizes, formats) and the training provenance.
``<layer>.weight``, ``<layer>.bias``
    int8 arrays for every convolution and dense layer, in Keras' layouts.

Loading checks everything a consumer relies on and raises :class:`WeightsError` naming the
file, the problem and the fix.
"""

from dataclasses import dataclass, field
import json
import os
import zipfile

import numpy as np

from .layers import UnknownKindError, network_kind
from .contract import Format

__all__ = ["SCHEMA", "VERSION", "WeightsError", "Network", "build_layers", "check_param", "load",
           "save", "DEFAULT_WEIGHTS"]

SCHEMA = "mnist-q8-fpga/weights"
VERSION = 1

#: The trained weights shipped with the project.
DEFAULT_WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "weights", "mnist_q8.npz")

_FIX = "re-export it with `python -m train` or use the shipped weights/mnist_q8.npz"


class WeightsError(ValueError):
    """A weights file or manifest that does not describe a network this project can run."""


def check_param(layer, part, array):
    """``array`` must be the ``part`` (``"weight"`` or ``"bias"``) of MAC layer ``layer`` (a
    config): an int8 array of the shape the config implies. The one check of a layer's
    parameters, for the weights file and the gateware's stages alike."""
    shape = getattr(layer, f"{part}_shape")
    if not isinstance(array, np.ndarray) or array.dtype != np.int8:
        raise WeightsError(f"{layer.name}.{part} must be an int8 array, not "
                           f"{getattr(array, 'dtype', type(array).__name__)}")
    if array.shape != shape:
        raise WeightsError(f"{layer.name}.{part} has shape {array.shape}, but the manifest "
                           f"implies {shape}")


def _layer_from_spec(spec, in_shape, in_format):
    """One layer config from its manifest entry and the shape and format that flow into it."""
    if not isinstance(spec, dict):
        raise WeightsError(f"a layer must be a JSON object, not {spec!r}")
    name = spec.get("name")
    try:
        kind = network_kind(spec.get("kind"))
    except UnknownKindError as e:
        raise WeightsError(f"layer {name!r}: {e}") from None
    known = kind.keys | {"name", "kind"}
    if not known <= set(spec) <= known | kind.optional_keys:
        extra = f" (and may have {sorted(kind.optional_keys)})" if kind.optional_keys else ""
        raise WeightsError(f"layer {name!r} ({kind.name}) must have exactly the keys "
                           f"{sorted(known)}{extra}, not {sorted(spec)}")
    try:
        return kind.from_spec(spec, in_shape, in_format)
    except (TypeError, ValueError) as e:
        raise WeightsError(f"layer {name!r}: {e}") from None


def build_layers(input_shape, input_format, specs):
    """Chain manifest layer entries into configs, each taking its input from the one before."""
    if not isinstance(specs, list) or not specs:
        raise WeightsError(f"layers must be a non-empty list, not {specs!r}")
    layers, shape, fmt = [], tuple(input_shape), input_format
    for spec in specs:
        layer = _layer_from_spec(spec, shape, fmt)
        if layer.name in {l.name for l in layers}:
            raise WeightsError(f"layer name {layer.name!r} is used twice")
        layers.append(layer)
        shape, fmt = layer.out_shape, layer.output
    last = layers[-1]
    weighted = [l for l in layers if l.has_params]
    if not (network_kind(last.kind).logits and last.output.signed and weighted and all(
            network_kind(l.kind).logits for l in layers[layers.index(weighted[-1]) + 1:])):
        raise WeightsError("the last layer must be a dense layer without ReLU, or a global "
                           "pooling (average or max) right after a convolution without "
                           "ReLU: its signed outputs are the logits")
    for layer in layers[:-1]:
        if layer is weighted[-1]:   # the logits' own layer, before their pooling
            continue
        # The gateware multiplies unsigned activations by signed weights and pools unsigned
        # codes: a hidden layer with signed outputs would be computed differently there than
        # in the reference, so it is refused here rather than built wrong.
        if layer.has_params and layer.output.signed:
            raise WeightsError(f"layer {layer.name!r} is a hidden {layer.kind} layer without "
                               f"ReLU (signed outputs): every {layer.kind} layer but the last "
                               f"must end in ReLU, with an unsigned output format")
    return tuple(layers)


def _spec_of(layer):
    return {"name": layer.name, "kind": layer.kind,
            **network_kind(layer.kind).to_spec(layer)}


def _parse_manifest(manifest):
    """The input shape, input format and layer configs that a parsed manifest describes."""
    if not isinstance(manifest, dict):
        raise WeightsError(f"the manifest must be a JSON object, not {manifest!r}")
    if manifest.get("schema") != SCHEMA:
        raise WeightsError(f"the manifest's schema is {manifest.get('schema')!r}, "
                           f"expected {SCHEMA!r}: this is not a weights file of this project")
    if manifest.get("version") != VERSION:
        raise WeightsError(f"weights format version {manifest.get('version')!r} is not "
                           f"supported; this version reads version {VERSION}")
    try:
        inp = manifest["input"]
        shape = tuple(inp["shape"])
        fmt = Format.from_json(inp["format"])
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"the manifest's input entry is malformed: {e}") from None
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise WeightsError(f"the input shape must be (height, width, channels), not {shape}")
    if fmt != Format(signed=False, frac=8):
        raise WeightsError(f"the input format must be u8 Q0.8 (raw pixel bytes), not {fmt}")
    return shape, fmt, build_layers(shape, fmt, manifest.get("layers"))


@dataclass(frozen=True)
class Network:
    """A quantized network: input format, layer configs and their integer parameters.

    Parameters
    ----------
    input_shape : tuple of int
        ``(height, width, channels)``.
    input : Format
        The input pixels' format (the contract fixes ``u8 Q0.8``: value = byte / 256).
    layers : tuple of layer configs
    params : dict
        ``{layer name: {"weight": int8 array, "bias": int8 array}}`` for every MAC layer.
    provenance : dict
        Free-form facts about how the weights were made (seed, epochs, accuracy).
    """

    input_shape: tuple
    input: Format
    layers: tuple
    params: dict
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        for layer in self.mac_layers:
            p = self.params.get(layer.name)
            if not isinstance(p, dict) or set(p) != {"weight", "bias"}:
                raise WeightsError(f"{layer.name}.weight and {layer.name}.bias are required")
            for part in ("weight", "bias"):
                check_param(layer, part, p[part])
        extra = set(self.params) - {l.name for l in self.mac_layers}
        if extra:
            raise WeightsError(f"parameters for unknown layers: {sorted(extra)}")

    @property
    def mac_layers(self):
        """The layers with weights and biases."""
        return tuple(l for l in self.layers if l.has_params)

    @property
    def dense_layers(self):
        """The dense layers, in order."""
        return tuple(l for l in self.layers if l.kind == "dense")

    @property
    def first_dense(self):
        """The first dense layer (the largest in the networks of this project: the one whose
        weights the board keeps in SPRAM), or ``None``."""
        return next(iter(self.dense_layers), None)

    @property
    def pixels(self):
        """Pixels (bytes) per input image."""
        return int(np.prod(self.input_shape))

    @property
    def classes(self):
        """Logits per image: the last layer's outputs."""
        return self.layers[-1].out_shape[-1]

    def manifest(self):
        return {"schema": SCHEMA, "version": VERSION,
                "input": {"shape": list(self.input_shape), "format": self.input.to_json()},
                "layers": [_spec_of(l) for l in self.layers],
                "provenance": self.provenance}

    @classmethod
    def from_manifest(cls, manifest, params):
        """Build from a parsed manifest and ``{"<layer>.weight": array, ...}``."""
        shape, fmt, layers = _parse_manifest(manifest)
        nested = {}
        for key, value in params.items():
            name, _, part = key.rpartition(".")
            if part not in ("weight", "bias"):
                raise WeightsError(f"unexpected array {key!r}")
            nested.setdefault(name, {})[part] = value
        return cls(input_shape=shape, input=fmt, layers=layers, params=nested,
                   provenance=manifest.get("provenance", {}))


def save(net, path):
    """Write ``net`` as a weights file."""
    arrays = {f"{name}.{part}": a for name, p in net.params.items() for part, a in p.items()}
    manifest = json.dumps(net.manifest(), indent=1, sort_keys=True).encode()
    with open(path, "wb") as f:
        np.savez_compressed(f, manifest=np.frombuffer(manifest, dtype=np.uint8), **arrays)


#: The largest manifest accepted (a manifest is a few kilobytes).
MANIFEST_MAX_BYTES = 1 << 20


def _read_header(fp):
    """``(shape, dtype)`` from the ``.npy`` header at ``fp``, reading nothing past it."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not read here "
                         f"(1.0 and 2.0 are)")
    return shape, dtype


def _headers(path):
    """``{array name: (shape, dtype)}`` of an ``.npz``, from its zip entries' ``.npy`` headers
    alone: no array data is read, so a huge array costs nothing before it is refused."""
    headers = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            name = info.filename.removesuffix(".npy")
            if name == info.filename or name in headers:
                raise WeightsError(f"unexpected zip entry {info.filename!r}: a weights file "
                                   f"holds one .npy entry per array")
            with z.open(info) as fp:
                headers[name] = _read_header(fp)
    return headers


def _check_headers(headers, layers):
    """Refuse unknown arrays, and arrays whose shape or dtype the manifest does not imply."""
    expected = {}
    for layer in layers:
        if layer.has_params:
            expected[f"{layer.name}.weight"] = layer.weight_shape
            expected[f"{layer.name}.bias"] = layer.bias_shape
    for name, (shape, dtype) in headers.items():
        if name == "manifest":
            continue
        if name not in expected:
            raise WeightsError(f"unexpected array {name!r}: the manifest's layers have the "
                               f"arrays {', '.join(sorted(expected))}")
        if dtype != np.int8:
            raise WeightsError(f"{name} must be an int8 array, not {dtype}")
        if tuple(shape) != expected[name]:
            raise WeightsError(f"{name} has shape {tuple(shape)}, but the manifest implies "
                               f"{expected[name]}")
    return expected


def _load(path):
    if not os.path.exists(path):
        raise WeightsError("no such weights file")
    try:
        headers = _headers(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError,
            RuntimeError) as e:
        if isinstance(e, WeightsError):
            raise
        raise WeightsError(f"not a readable .npz weights file ({e})") from None
    if "manifest" not in headers:
        raise WeightsError("the file has no 'manifest' entry")
    shape, dtype = headers["manifest"]
    if dtype != np.uint8 or len(shape) != 1 or shape[0] > MANIFEST_MAX_BYTES:
        raise WeightsError(f"the manifest must be a 1-D uint8 array of at most "
                           f"{MANIFEST_MAX_BYTES} bytes, not {dtype} {shape}")
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = z["manifest"]
            manifest = json.loads(raw.tobytes().decode())
            layers = _parse_manifest(manifest)[2]
            names = _check_headers(headers, layers)
            arrays = {k: z[k] for k in names if k in headers}
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"the manifest is not valid JSON ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise WeightsError(f"not a readable .npz weights file ({e})") from None
    except ValueError as e:
        if isinstance(e, WeightsError):
            raise
        raise WeightsError(f"not a readable .npz weights file ({e})") from None
    return Network.from_manifest(manifest, arrays)


def load(path=DEFAULT_WEIGHTS):
    """Read and validate a weights file; raise :class:`WeightsError` on any problem.

    The names, shapes and dtypes of its arrays are checked against the manifest from the
    ``.npy`` headers before any array is read: a file with a stray or oversized array is
    refused at once.
    """
    path = os.fspath(path)
    try:
        return _load(path)
    except WeightsError as e:
        raise WeightsError(f"{path}: {e}; {_FIX}") from None
