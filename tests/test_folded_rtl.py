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

#: name: (architecture, seed, extreme, {convolution: (lanes, groups per pass[, positions a
#: weight read[, a queue before]])}):
#:
#: - two convolutions folded, the first on 1 lane with its 2 groups in one pass, the second
#:   (over 2 channels) on 3 lanes, a group per pass, every weight and bias at +127 or -128;
#: - a 5x5 kernel on 2 lanes (a ReLU6: its codes at most 6.0's), then a folded convolution
#:   of 3 filters over 4 channels on 2 lanes with both groups in one pass, straight into the
#:   logits;
#: - two positions per weight read (third field 2): 26 positions a row on 3 lanes, then 11
#:   (one alone at each row's end) over 6 channels a code at a time on 2 lanes, extreme
#:   codes; and a dense layer of 40 groups (biases from a memory of codes);
#: - ``same`` padding and strides (``hw.stages.padding``) around both folded engines;
#: - a parallel convolution (every channel of a pixel at once) into a folded one two
#:   positions a read, queued, all its filters in one pass, as the ECP5's plans mix them
#:   (``hw.fit``), extreme codes.
FOLDED = {
    "two-convs-folded-extreme": ("conv2x3,conv4x3,pool,dense16,dense10", 15, True,
                                 {"conv1": (1, 2), "conv2": (3, 1)}),
    "conv5-folded": ("conv4x5r6,pool,conv3x3,dense10", 16, False,
                     {"conv1": (2, 1), "conv2": (2, 2)}),
    "pairs-extreme": ("conv6x3,pool,conv5x3,pool,dense80,dense10", 19, True,
                      {"conv1": (3, 1, 2), "conv2": (2, 1, 2), "dense1": (2, 1)}),
    # same padding (a 5x5 kernel: two codes 0 a side) and a stride of 2 over the 14 wide
    # pooled map (Keras' padding then one code after), two positions a read, queued
    "same-strides-extreme": ("conv3x5same,pool,conv4x3sames2,dense10", 23, True,
                             {"conv1": (2, 1), "conv2": (2, 1, 2, True)}),
    "parallel-then-folded-extreme": ("conv4x3,pool,conv6x3,pool,dense12,dense10", 29, True,
                                     {"conv2": (6, 1, 2, True)}),
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
                 **{name: DenseSchedule(lanes=fold[0], groups_per_pass=fold[1],
                                        positions=fold[2] if len(fold) > 2 else 1,
                                        queue=len(fold) > 3 and fold[3])
                    for name, fold in folds.items()}}
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
    # back to back (the next image's pixels while the last is computed): bit-exact, and the
    # pace within the plan's accuracy for two folded convolutions in a row (docs/gateware.md:
    # each stage's pace is modelled alone, not their waits on each other)
    streamed = model.run(images[:6], back_to_back=True)
    assert np.array_equal(streamed.logits, ref.logits[:6])
    assert planned.interval <= streamed.cycles[-1] <= 1.1 * planned.interval, \
        (streamed.cycles.tolist(), planned.interval)


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


def test_folded_ecp5_netlist_is_bit_exact(images):
    # synthesised for the ECP5 as hw.build does and simulated with the MULT18X18D and DP16KD
    # models: a folded convolution two positions a weight read, its weights registered on
    # the way to the DSPs (the ECP5's schedules), a lane in logic; memories at most 18 bits
    # wide (the model has the DP16KD's 18- and 9-bit modes; sim.rtl refuses the 36-bit one)
    net, _ = _folded("conv3x3,pool,dense8,dense10", 19, True, {}, images)
    schedules = {name: DenseSchedule(lanes=2, groups_per_pass=per, registered_weights=True,
                                     logic_lanes=logic, positions=positions)
                 for name, per, logic, positions in (("conv", 1, 1, 2), ("dense1", 4, 0, 1),
                                                     ("dense2", 5, 0, 1))}
    subset = images[::12]
    model = build_model(NetworkPipeline(net, schedules=schedules),
                        name="test-folded-netlist-ecp5", synthesize=True, board="ulx3s-25f",
                        progress=False)
    run = model.run(subset)
    assert np.array_equal(run.logits, reference.run(net, subset).logits)
    planned = fit.plan(net.layers, params=net.params, board="ulx3s-25f", schedules=schedules)
    assert set(run.cycles.tolist()) == {planned.latency}


def test_the_ecp5_plan_folds_what_does_not_fit_in_parallel():
    from q8 import arch
    layers = arch.configs(arch.parse("conv32x3,pool,conv64x3,pool,drop0.5,dense10"),
                          input_shape=(28, 28, 1))
    plan = fit.plan(layers, board="ulx3s-85f")
    assert plan.fits
    conv2 = plan.schedules["conv2"]
    # conv2's 2,230,272 products an image: two positions a weight read, every DSP used
    assert conv2.positions == 2 and conv2.registered_weights and conv2.lanes == 64
    # conv1 parallel: its 32 channels of a pixel at once, where folded it would hand them on
    # a code a cycle (26 x 26 x 32 codes an image, more cycles than conv2 needs), so conv2
    # bounds the pace: its 11 rows of 6 pairs of positions, 3 x 3 x 32 products each
    assert "conv1" not in plan.schedules
    assert plan.interval == 11 * 6 * 3 * 3 * 32
    # folding both (the one set the search had before) is slower
    from hw.fit.search import Planner, _wide_fitted
    from platforms import get_board
    planner = Planner(layers, get_board("ulx3s-85f"), None)
    both, key = _wide_fitted(planner, tuple(planner.convs))
    assert "conv1" in both and key[0] == 0 and key[2] > plan.interval


#: The folded networks shipped in weights/ (weights/README.md): trained by their own recipes
#: and imported with ``train --from`` (LeNet-5 as usually written: same padding first; the
#: batch-normalised convnet; the all-convolutional network, which fits the ULX3S-85F), each
#: with the board it was imported for.
ZOO = ("weights/lenet5_q8.npz", "weights/keras_convnet_q8.npz", "weights/lenet5_same_q8.npz",
       "weights/bn_convnet_q8.npz", "weights/all_conv_q8.npz")
BOARDS = {"weights/all_conv_q8.npz": "ulx3s-85f"}


@pytest.mark.parametrize("path", ZOO)
def test_shipped_folded_networks_are_bit_exact(path, images):
    # the board's plan (the iCEBreaker's: convolutions folded, weights in SPRAM and block
    # RAM), trained weights: MNIST's images and the extremes, one at a time and back to back
    from q8.weights import load
    net = load(os.path.join(os.path.dirname(os.path.dirname(__file__)), path))
    planned = fit.plan(net.layers, params=net.params, board=BOARDS.get(path, "icebreaker"))
    assert planned.fits and any(layer.kind == "conv2d" and name in planned.schedules
                                for name, layer in ((l.name, l) for l in net.layers))
    subset = np.concatenate([images[:6], images[-2:]])
    ref = reference.run(net, subset)
    name = os.path.basename(path).removesuffix(".npz")
    model = build_model(NetworkPipeline(net, schedules=planned.schedules), name=name,
                        progress=False, build_dir=os.path.join(BUILD_DIR, "folded", name))
    run = model.run(subset)
    assert np.array_equal(run.logits, ref.logits) and np.array_equal(run.classes, ref.classes)
    # every image after the first as long (the schedule does not depend on the pixels; the
    # first, after the reset, may be quicker); the plan's latency and pace are lower bounds
    # here: its stages' model misses a window's input waiting while the window is read out,
    # which holds back the folded convolution before it (docs/gateware.md)
    assert len(set(run.cycles[1:].tolist())) == 1 and min(run.cycles) >= planned.latency
    streamed = model.run(subset[:4], back_to_back=True)
    assert np.array_equal(streamed.logits, ref.logits[:4])
    assert streamed.cycles[-1] >= planned.interval


def test_board_top_streams_a_folded_network_one_request_at_a_time():
    # the compiled board top, weights from the flash model, requests over the UART at bit
    # timing: a folded network takes an image's pixels slower than the UART brings the next
    # one into the board's image buffer, so the host keeps one request on the line
    from q8.weights import load
    from sim.board_host import classify_on_boards, stream_depth
    root = os.path.dirname(os.path.dirname(__file__))
    net = load(os.path.join(root, ZOO[0]))
    assert stream_depth(net) == 1 and stream_depth(load(os.path.join(
        root, "weights", "mnist_q8.npz"))) == 2
    images = mnist.load(download=False).x_test[20:24]
    responses, stats = classify_on_boards(net, images)
    assert [list(r.logits) for r in responses] == reference.run(net, images).logits.tolist()
    assert stats["retries"] == 0
    from hw.board.link import Link
    with pytest.raises(ValueError, match=r"depth must be 1 or 2 \(requests on the line\), "
                                         r"not 3"):
        next(Link(None, classes=10).classify_stream([bytes(784)], depth=3))


def test_a_queue_shorter_than_an_image_keeps_the_plans_pace(images):
    # two folded convolutions in a row, the second the slower (as the keras.io convnet's on
    # the UP5K, which has no block RAMs for a whole image's queue): the plan takes the
    # shortest queue that hw.stages.conv.queue_keeps_pace finds keeps its times, and the
    # compiled RTL's cycles are the plan's, one at a time and back to back
    net = network_from_arch(np.random.default_rng(31), "conv4x3,pool,conv8x3,pool,dense10",
                            extreme=True, calibration=images)

    def schedules(queue):
        return {**default_schedule(net), "conv1": DenseSchedule(lanes=2, groups_per_pass=1),
                "conv2": DenseSchedule(lanes=2, groups_per_pass=1, positions=2, queue=queue)}

    with pytest.raises(ValueError, match="conv2: a queue of 32 transfers before it would hold "
                                         "the layer before back"):
        fit.plan(net.layers, params=net.params, schedules=schedules(32))
    planned = fit.plan(net.layers, params=net.params, schedules=schedules(64))
    whole = fit.plan(net.layers, params=net.params, schedules=schedules(True))
    assert (planned.interval, planned.latency) == (whole.interval, whole.latency)
    row = next(s for s in planned.stages if s.name == "conv2 queue")
    assert row.memories == [("queue", 8, 64, 1)]   # 13 x 13 x 4 codes an image: 676
    model = build_model(NetworkPipeline(net, schedules=schedules(64)), name="short-queue",
                        progress=False, build_dir=os.path.join(BUILD_DIR, "folded", "short"))
    subset = images[::40]
    ref = reference.run(net, subset)
    run = model.run(subset)
    assert np.array_equal(run.logits, ref.logits)
    # one at a time the first image's the plan's latency, the later ones' at least it (the
    # plan's latency is a lower bound for a multi-pass folded convolution after the first
    # layer, with a whole image's queue too)
    assert run.cycles[0] == planned.latency == run.cycles.min()
    streamed = model.run(subset, back_to_back=True)
    assert np.array_equal(streamed.logits, ref.logits)
    assert set(streamed.cycles[1:].tolist()) == {planned.interval}, streamed.cycles.tolist()
