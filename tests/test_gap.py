# amaranth: UnusedElaboratable=no
"""Global average pooling (``gavgpool2d``): the contract's rounding by hand, the stage (and
its global maximum, ``gmaxpool2d``) under gaps and back-pressure, networks that end in it (an
all-convolutional network's logits) or pass through it, against the reference, the Keras QAT
model and the fit plan's cycles."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.stages.gavgpool import GlobalPoolStage
from q8 import arch, reference
from q8.contract import Format
from q8.layers import GlobalAvgPool2DConfig, GlobalMaxPool2DConfig
from sim.streams import put_images, stream_get
from tests.netgen import check_against_reference_and_plan, network_from_arch


def test_the_mean_is_rounded_half_up_by_hand():
    # n = 3 positions (odd) and 2 (even), signed codes: the floor of (sum + n // 2) / n
    odd = GlobalAvgPool2DConfig(name="gap", in_shape=(1, 3, 4), format=Format(True, 2))
    x = np.array([[[[1, -1, 2, -128], [1, -2, 2, -128], [0, -2, 3, -127]]]], np.int8)
    # sums 2, -5, 7, -383: (2 + 1) // 3 = 1, (-5 + 1) // 3 = -2, 8 // 3 = 2, -382 // 3 = -128
    assert reference.global_average(odd, x).tolist() == [[1, -2, 2, -128]]
    even = GlobalAvgPool2DConfig(name="gap", in_shape=(2, 1, 2), format=Format(False, 4))
    x = np.array([[[[255, 1]], [[254, 2]]]], np.uint8)
    # sums 509 and 3: (509 + 1) // 2 = 255, (3 + 1) // 2 = 2 (a half rounds up)
    assert reference.global_average(even, x).tolist() == [[255, 2]]


@pytest.mark.parametrize("shape,signed,in_width,op", [
    ((3, 3, 4), True, 4, "mean"), ((2, 5, 3), False, 1, "mean"), ((1, 1, 2), True, 1, "mean"),
    ((3, 3, 4), True, 4, "max"), ((2, 5, 3), False, 1, "max")])
def test_the_stage_sends_each_channels_mean_or_maximum(shape, signed, in_width, op):
    fmt = Format(signed=signed, frac=3)
    config, result = {"mean": (GlobalAvgPool2DConfig, reference.global_average),
                      "max": (GlobalMaxPool2DConfig, reference.global_max)}[op]
    layer = config(name="g", in_shape=shape, format=fmt)
    rng = np.random.default_rng(sum(shape))
    images = rng.integers(fmt.min, fmt.max + 1, (3, *shape)).astype(
        np.int8 if signed else np.uint8)
    images[0] = fmt.min   # the extremes: the offset division at both ends, a maximum's start
    images[1] = fmt.max
    expected = result(layer, images)
    dut = GlobalPoolStage(shape=shape, fmt=fmt, in_width=in_width, op=op)
    got = []

    async def producer(ctx):
        await put_images(ctx, dut.i, images, in_width=in_width, rng=rng, gap=0.3)

    async def consumer(ctx):
        for _ in range(expected.size):
            t = await stream_get(ctx, dut.o, rng=rng, stall=0.4)
            got.append((int(t["data"][0]), bool(t["last"])))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-2)
    channels = shape[2]
    assert got == [(int(v), c == channels - 1) for image in expected
                   for c, v in enumerate(image)]


#: an all-convolutional network (same padding, a stride, a 1x1 convolution to the classes,
#: its logits the means), one with a folded engine before the mean, and a mean in the middle
NETWORKS = [
    ("conv3x3same,pool,conv4x1,gap", 8, {}),
    ("conv3x3s2,conv4x2,gap", 9, {"conv2": (2, 1, 1)}),
    ("conv3x3,gap,dense5", 8, {}),
]


@pytest.mark.parametrize("spec,size,folds", NETWORKS)
def test_networks_with_a_mean_match_the_reference_and_the_plan(spec, size, folds):
    check_against_reference_and_plan(spec, size, folds, seed=6, extreme=size == 9)


def test_the_keras_model_of_a_mean_is_the_reference():
    from train.model import from_network, logits_codes
    for spec, size in (("conv3x3same,pool,conv4x3sames2,conv6x1,gap", 13),
                       ("conv4x3s2,conv3x2,gap", 10), ("conv3x3,gap,dense5", 9)):
        net = network_from_arch(np.random.default_rng(4), spec, size=size)
        images = np.random.default_rng(5).integers(0, 256, (40, size, size), np.uint8)
        assert np.array_equal(logits_codes(from_network(net), images),
                              reference.run(net, images).logits), spec


@pytest.mark.parametrize("spec,message", [
    ("conv3x3,pool", "must end with a dense layer .* or with a convolution to the classes "
                     "and a global pooling"),
    ("conv3x3,pool,gap,pool,dense4", "max pooling needs a \\(height, width, channels\\) "
                                     "input, not \\(3,\\)"),
    ("conv3x3,gap,gap", "global average pooling needs a \\(height, width, channels\\)"),
    ("conv3x3,conv4x1,dense4,gap", "a gavgpool2d layer after a dense layer"),
])
def test_architectures_with_a_mean_where_it_cannot_be_are_refused(spec, message):
    with pytest.raises(arch.ArchError, match=message):
        arch.configs(arch.parse(spec), input_shape=(8, 8, 1))
