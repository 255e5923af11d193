"""Networks of any architecture with seeded random weights, for checking the fit plan
(``hw.fit``) against synthesis and full builds (``bench.fit_calibrate``, ``bench.fit_check``).

Random int8 convolution weights have more canonical signed digits (so more adders) than
trained ones: ``weights="trained"`` draws them from a normal distribution like trained
weights' instead (the digits of the shipped network's are 2.2 per weight, of these about
2.45, of uniform random codes 2.8).
"""

import numpy as np

from q8 import arch
from q8.contract import Format
from q8.layers import get as get_kind
from q8.weights import SCHEMA, VERSION, Network

__all__ = ["network", "CALIBRATION", "FOLDED_CALIBRATION", "CHECK"]


def network(spec, *, seed=0, weights="random", input_shape=(28, 28, 1)):
    """A :class:`q8.weights.Network` of architecture ``spec`` (``q8.arch``) with seeded random
    codes and plausible formats; ``weights`` ``"random"`` (uniform int8) or ``"trained"``
    (convolution weights like trained ones, see the module's docstring)."""
    if weights not in ("random", "trained"):
        raise ValueError(f"weights must be 'random' or 'trained', not {weights!r}")
    rng = np.random.default_rng(seed)
    entries = [e for e in arch.parse(spec) if get_kind(e["kind"]).in_network]
    layers = arch.configs(entries, input_shape=input_shape)
    specs, params, in_frac = [], {}, 8
    for entry, layer in zip(entries, layers):
        spec_ = dict(entry, name=layer.name)
        if layer.has_params:
            weight_frac, out_frac = int(rng.integers(5, 9)), int(rng.integers(2, 6))
            spec_.update(weight=Format(signed=True, frac=weight_frac).to_json(),
                         bias=Format(signed=True, frac=weight_frac + 2).to_json(),
                         output=Format(signed=not entry["relu"], frac=out_frac).to_json())
            in_frac = out_frac
            if weights == "trained" and entry["kind"] == "conv2d":
                codes = np.round(rng.normal(0, 45, layer.weight_shape))
                weight = np.clip(codes, -128, 127).astype(np.int8)
            else:
                weight = rng.integers(-128, 128, layer.weight_shape, dtype=np.int8)
            params[f"{layer.name}.weight"] = weight
            params[f"{layer.name}.bias"] = rng.integers(-128, 128, layer.bias_shape,
                                                        dtype=np.int8)
        specs.append(spec_)
    del in_frac
    manifest = {"schema": SCHEMA, "version": VERSION,
                "input": {"shape": list(input_shape),
                          "format": Format(signed=False, frac=8).to_json()},
                "layers": specs,
                "provenance": {"made by": "bench.fit_networks", "spec": spec, "seed": seed,
                               "weights": weights}}
    return Network.from_manifest(manifest, params)


#: ``(spec, seed, weights)`` of the networks whose synthesis calibrates the logic-cell model
#: (``bench.fit_calibrate``): every stage kind at several sizes.
CALIBRATION = [
    ("conv1x3,pool,dense16,dense10", 1, "random"),
    ("conv2x3,pool,dense64,dense10", 2, "random"),
    ("conv4x3,pool,dense32,dense10", 3, "random"),
    ("conv8x3,pool,dense32,dense10", 4, "trained"),
    ("conv2x5,pool,dense32,dense10", 5, "random"),
    ("conv3x5,pool,dense24,dense10", 6, "trained"),
    ("conv2x7,pool,dense16,dense10", 7, "trained"),
    ("conv2x3,pool,conv3x3,pool,dense32,dense10", 8, "random"),
    ("conv2x3,pool,dense64,dense32,dense10", 9, "random"),
    ("conv2x3,pool,dense32,dense64,dense10", 10, "random"),
    ("conv1x3,pool4,dense32,dense16,dense16,dense10", 11, "random"),
    ("conv3x3,pool,dense8,dense10", 12, "random"),
    ("pool,dense40,dense10", 13, "random"),
    ("conv2x3,dense8,dense20", 14, "random"),
]

#: ``(spec, seed, weights)`` of the networks whose folded convolutions (their weights in
#: memory, ``hw.stages.conv.make_stages`` with a schedule) calibrate the window, serializer,
#: serial pooling and queue stages at several sizes, one and two positions a pass, beside
#: the board without its self-test (these networks are slower than the flash brings test
#: images); planned as ``hw.fit`` plans them for the UP5K. Those of :data:`CALIBRATION` are
#: measured with their convolutions parallel (constant weights), where their plans may fold
#: the larger ones.
FOLDED_CALIBRATION = [
    ("conv6x5,pool,conv16x5,pool,dense120,dense84,dense10", 15, "trained"),
    ("conv32x3,pool,conv64x3,pool,dense10", 16, "trained"),
    ("conv8x3,pool,conv16x3,pool,dense10", 17, "trained"),
    ("conv16x3,pool,conv32x3,pool,dense32,dense10", 18, "trained"),
    ("conv4x5,pool,conv12x5,pool,dense64,dense10", 19, "trained"),
]

#: ``(spec, seed, weights)`` of the networks that ``bench.fit_check`` builds in full to check
#: the estimate (besides the shipped weights): other filters, kernels and dense widths, two
#: convolutions, three dense layers (whose default schedules need more DSPs than there are).
CHECK = [
    ("conv3x3,pool,dense32,dense10", 101, "random"),
    ("conv2x5,pool,dense48,dense10", 101, "trained"),
    ("conv2x3,pool,dense64,dense32,dense10", 101, "random"),
    ("conv1x3,pool,conv2x3,pool,dense32,dense10", 101, "random"),
    ("conv2x3,pool,dense96,dense10", 101, "random"),
]
