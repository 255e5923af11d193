# amaranth: UnusedElaboratable=no
"""The gateware is general: networks of other topologies than the shipped one, with random
weights and formats, compiled to native code (``sim.rtl``) and bit-exact with the reference
on every image; and the loader refuses a network the gateware would compute differently.

Each network is compiled once (10 to 20 s of CPU, mostly the C++ compiler's: CI's time), so a
network covers several features at once; simulating a few hundred images takes well under a
second.
"""

import json
import os

import numpy as np
import pytest

from q8 import mnist, reference, weights
from q8.weights import WeightsError
from sim.rtl import BUILD_DIR, rtl_model
from tests.netgen import network_from_arch

#: name: (architecture, seed, extreme). Each covers several features, and the extremes are
#: two of the topologies rather than networks (compilations) of their own:
#:
#: - two convolutions in a row, the second over 2 channels, a 2x2 pool, two dense layers;
#: - a convolution with 3 filters into a 3x3 pool, which drops the leftover 26th and 27th
#:   rows and columns, then a convolution over 3 channels straight into the logits;
#: - a 5x5 kernel without pooling into three dense layers (the later two with all their
#:   groups in one pass), every weight and bias at +127 or -128;
#: - a dense layer directly on the pixels (the widest accumulator: fan-in 784), every weight
#:   and bias at +127 or -128;
#: - ``same`` padding of an even kernel (the odd code 0 after), a stride of 2 over the odd 7
#:   wide pooled map, in the parallel engine;
#: - an all-convolutional network: its logits the means of a 1x1 convolution to the classes
#:   (``gap``), every weight and bias at +127 or -128.
#:
#: With the extremes, a quarter to a half of every layer's codes saturate, at both ends.
TOPOLOGIES = {
    "two-convs": ("conv2x3,conv4x3,pool,dense16,dense10", 11, False),
    "conv-pool3-conv": ("conv3x3,pool3,conv2x3,dense10", 12, False),
    "conv5-three-dense-extreme": ("conv2x5,dense24,dense12,dense10", 13, True),
    "dense-on-pixels-extreme": ("dense32,dense10", 14, True),
    "same-strides": ("conv2x4same,pool,conv3x3sames2,dense10", 15, False),
    "all-convolutional-extreme": ("conv3x3same,pool,conv4x3sames2,conv10x1,gap", 16, True),
}

MNIST_IMAGES = 300
RANDOM_IMAGES = 60


@pytest.fixture(scope="module")
def images():
    """MNIST test images, random bytes, and the all-0 and all-255 images."""
    rng = np.random.default_rng(0)
    test = mnist.load(download=False).x_test[:MNIST_IMAGES]
    noise = rng.integers(0, 256, (RANDOM_IMAGES, 28, 28), np.uint8)
    flat = np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8)])
    return np.concatenate([test, noise, flat])


def _hidden(net):
    """The hidden convolution and dense layers (the pools only pass codes on): all but the
    last, whose signed codes are the logits (or, pooled, make them)."""
    return [l for l in net.layers if l.has_params][:-1]


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_topology_is_bit_exact(name, images):
    spec, seed, extreme = TOPOLOGIES[name]
    # the formats are calibrated on the images' own sums, so that every layer uses its codes
    net = network_from_arch(np.random.default_rng(seed), spec, extreme=extreme,
                            calibration=images)
    ref = reference.run(net, images, intermediates=True)

    # not vacuous: the network computes something that differs from image to image
    assert len(np.unique(ref.classes)) >= 3
    assert len(np.unique(ref.logits)) >= 32
    for layer in _hidden(net):
        codes = ref.layers[layer.name]
        assert codes.max() > 0 and len(np.unique(codes)) >= 32, layer.name
    if extreme:  # both ends saturate: in every hidden layer and in the logits
        for layer in _hidden(net):
            codes = ref.layers[layer.name]
            assert np.any(codes == 0) and np.any(codes == 255), layer.name
        assert np.any(ref.logits == -128) and np.any(ref.logits == 127)

    # a build folder per network: each stays cached, and none evicts the shipped network's
    model = rtl_model(net, progress=False,
                      build_dir=os.path.join(BUILD_DIR, "topologies", name))
    run = model.run(images)
    mismatched = np.flatnonzero(np.any(run.logits != ref.logits, axis=1))
    assert mismatched.size == 0, (
        f"{name} ({spec}): {mismatched.size} of {len(images)} images differ from the "
        f"reference, first image {mismatched[0]}: {run.logits[mismatched[0]].tolist()} != "
        f"{ref.logits[mismatched[0]].tolist()}")
    assert np.array_equal(run.classes, ref.classes)
    # the schedule does not depend on the pixels (from the second image on: a network that
    # answers before it takes an image's last pixels, conv-pool3-conv, still takes them at
    # the next image's start)
    assert len(set(run.cycles[1:].tolist())) == 1 and net.pixels < run.cycles[0] <= run.cycles[1]


def _without_relu(manifest, name):
    """``manifest`` with layer ``name`` linear: no ReLU, a signed output format."""
    for spec in manifest["layers"]:
        if spec["name"] == name:
            spec["relu"] = False
            spec["output"] = {**spec["output"], "signed": True}
    return manifest


def test_a_hidden_layer_without_relu_is_refused(tmp_path):
    net = weights.load()
    params = {f"{n}.{k}": a for n, p in net.params.items() for k, a in p.items()}
    message = (r"layer 'dense1' is a hidden dense layer without ReLU \(signed outputs\): every "
               r"dense layer but the last must end in ReLU, with an unsigned output format")
    manifest = _without_relu(net.manifest(), "dense1")
    with pytest.raises(WeightsError, match=message):
        weights.Network.from_manifest(manifest, params)
    with pytest.raises(WeightsError, match=message):
        weights.build_layers(net.input_shape, net.input, manifest["layers"])
    # from a file: the message names the file too
    path = tmp_path / "linear-dense1.npz"
    raw = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    np.savez(path, manifest=raw, **params)
    with pytest.raises(WeightsError, match=message) as info:
        weights.load(path)
    assert str(path) in str(info.value)
    # a convolution too
    with pytest.raises(WeightsError, match=r"layer 'conv' is a hidden conv2d layer without "
                                           r"ReLU \(signed outputs\)"):
        weights.Network.from_manifest(_without_relu(net.manifest(), "conv"), params)
