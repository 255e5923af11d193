"""Integer networks made in the tests: random weights and formats of any size."""

import numpy as np

from q8.contract import Format
from q8.weights import SCHEMA, VERSION, Network


def random_network(rng, *, size=28, filters=2, dense=128, classes=10, extreme=False):
    """A conv -> pool -> dense -> dense network with random codes and plausible formats.

    With ``extreme``, weights and biases sit at the int8 ends (+127 and -128) to drive
    saturating sums.
    """
    conv_w, d1_w, d2_w = rng.integers(5, 9), rng.integers(6, 10), rng.integers(5, 9)
    conv_out, d1_out, d2_out = rng.integers(3, 7), rng.integers(2, 6), rng.integers(1, 5)

    def fmt(signed, frac):
        return Format(signed=signed, frac=int(frac)).to_json()

    specs = [
        {"name": "conv", "kind": "conv2d", "kernel": [3, 3], "out_channels": filters,
         "relu": True, "weight": fmt(True, conv_w), "bias": fmt(True, conv_w + 4),
         "output": fmt(False, conv_out)},
        {"name": "pool", "kind": "maxpool2d", "pool": [2, 2]},
        {"name": "dense1", "kind": "dense", "out_features": dense, "relu": True,
         "weight": fmt(True, d1_w), "bias": fmt(True, d1_w), "output": fmt(False, d1_out)},
        {"name": "dense2", "kind": "dense", "out_features": classes, "relu": False,
         "weight": fmt(True, d2_w), "bias": fmt(True, d2_w), "output": fmt(True, d2_out)},
    ]
    pooled = ((size - 2) // 2) ** 2 * filters
    shapes = {"conv": ((3, 3, 1, filters), (filters,)), "dense1": ((pooled, dense), (dense,)),
              "dense2": ((dense, classes), (classes,))}
    params = {}
    for name, (ws, bs) in shapes.items():
        if extreme:
            params[f"{name}.weight"] = rng.choice(np.array([-128, 127], np.int8), ws)
            params[f"{name}.bias"] = rng.choice(np.array([-128, 127], np.int8), bs)
        else:
            params[f"{name}.weight"] = rng.integers(-128, 128, ws, dtype=np.int8)
            params[f"{name}.bias"] = rng.integers(-128, 128, bs, dtype=np.int8)
    manifest = {"schema": SCHEMA, "version": VERSION,
                "input": {"shape": [size, size, 1], "format": fmt(False, 8)},
                "layers": specs, "provenance": {"made by": "tests"}}
    return Network.from_manifest(manifest, params)
