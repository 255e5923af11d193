# amaranth: UnusedElaboratable=no
"""Folded convolutions compiled to native code (``sim.rtl``): bit-exact with the reference on
hundreds of images (MNIST's, random bytes, all 0 and all 255) for several lane counts and
foldings, extreme codes, and the synthesised iCE40 netlist (SB_MAC16s, block RAMs) of a small
folded network; the cycles are the plan's."""

import os

import numpy as np
import pytest

from hw import fit
from hw.stages.network import DenseSchedule, NetworkPipeline, default_schedule
from q8 import mnist, reference
from sim.rtl import BUILD_DIR, build_model
from tests.netgen import network_from_arch

#: name: (architecture, seed, extreme, {convolution: (lanes, groups per pass)}):
#:
#: - two convolutions folded, the first on 1 lane with its 2 groups in one pass, the second
#:   (over 2 channels) on 3 lanes, a group per pass, every weight and bias at +127 or -128;
#: - a 5x5 kernel on 2 lanes, then a folded convolution of 3 filters over 4 channels on 2
#:   lanes with both groups in one pass, straight into the logits.
FOLDED = {
    "two-convs-folded-extreme": ("conv2x3,conv4x3,pool,dense16,dense10", 15, True,
                                 {"conv1": (1, 2), "conv2": (3, 1)}),
    "conv5-folded": ("conv4x5,pool,conv3x3,dense10", 16, False,
                     {"conv1": (2, 1), "conv2": (2, 2)}),
}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    test = mnist.load(download=False).x_test[:300]
    noise = rng.integers(0, 256, (60, 28, 28), np.uint8)
    flat = np.stack([np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8)])
    return np.concatenate([test, noise, flat])


def _folded(spec, seed, extreme, folds, images):
    net = network_from_arch(np.random.default_rng(seed), spec, extreme=extreme,
                            calibration=images)
    schedules = {**default_schedule(net),
                 **{name: DenseSchedule(lanes=lanes, groups_per_pass=per)
                    for name, (lanes, per) in folds.items()}}
    return net, schedules


@pytest.mark.parametrize("name", FOLDED)
def test_folded_topology_is_bit_exact(name, images):
    spec, seed, extreme, folds = FOLDED[name]
    net, schedules = _folded(spec, seed, extreme, folds, images)
    ref = reference.run(net, images)
    assert len(np.unique(ref.classes)) >= 3 and len(np.unique(ref.logits)) >= 32
    if extreme:
        assert np.any(ref.logits == -128) and np.any(ref.logits == 127)
    model = build_model(NetworkPipeline(net, schedules=schedules), name=name, progress=False,
                        build_dir=os.path.join(BUILD_DIR, "folded", name))
    run = model.run(images)
    mismatched = np.flatnonzero(np.any(run.logits != ref.logits, axis=1))
    assert mismatched.size == 0, f"{name}: {mismatched.size} of {len(images)} images differ"
    assert np.array_equal(run.classes, ref.classes)
    # one image at a time, every image the plan's latency
    planned = fit.plan(net.layers, params=net.params, schedules=schedules)
    assert set(run.cycles.tolist()) == {planned.latency}


def test_folded_ice40_netlist_is_bit_exact(images):
    # synth_ice40 as hw.build runs it, simulated with Yosys' iCE40 cell models: the folded
    # engine's SB_MAC16s and its window, weight and input memories in SB_RAM40_4Ks
    net, schedules = _folded("conv2x3,pool,dense8,dense10", 17, True, {"conv": (2, 1)},
                             images)
    subset = images[::6]
    model = build_model(NetworkPipeline(net, schedules=schedules), name="test-folded-netlist",
                        synthesize=True, board="icebreaker", progress=False)
    run = model.run(subset)
    ref = reference.run(net, subset)
    assert np.array_equal(run.logits, ref.logits)
    planned = fit.plan(net.layers, params=net.params, schedules=schedules)
    assert set(run.cycles.tolist()) == {planned.latency}
