# amaranth: UnusedElaboratable=no
"""A convolution's ``same`` padding and strides (``hw.stages.padding``), in both engines: each
stage against the stream it must make, under gaps and back-pressure, in Amaranth's simulator;
networks against the reference, and the fit plan's cycles against the simulated ones."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.stages.padding import PadStage, StrideStage, pad_times, stride_times
from q8.contract import Format
from sim.streams import put_images, stream_get
from tests.netgen import check_against_reference_and_plan, network_from_arch

U8 = Format(signed=False, frac=8)


def _run(dut, images, expected, *, in_width, seed):
    """Stream ``images`` (``(N, H, W, C)``, ``in_width`` codes a transfer) through ``dut``
    under gaps and back-pressure; returns its output transfers (data, last)."""
    rng = np.random.default_rng(seed)
    got = []

    async def producer(ctx):
        await put_images(ctx, dut.i, images, in_width=in_width, rng=rng, gap=0.3)

    async def consumer(ctx):
        for _ in range(expected):
            t = await stream_get(ctx, dut.o, rng=rng, stall=0.4)
            got.append(([int(v) for v in t["data"]], bool(t["last"])))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-2)
    return got


@pytest.mark.parametrize("shape,padding,in_width", [
    ((3, 4, 2), ((1, 2), (2, 1)), 2),
    ((3, 3, 2), ((0, 1), (0, 1)), 1),   # Keras' "same" of an even kernel: after only
    ((2, 5, 1), ((1, 1), (0, 0)), 1)])
def test_padding_adds_codes_0_around_each_image(shape, padding, in_width):
    images = np.random.default_rng(3).integers(1, 256, (3, *shape), np.uint8)
    padded = np.pad(images, ((0, 0), *padding, (0, 0)))
    expected = [(list(u), False) for image in padded for u in image.reshape(-1, in_width)]
    per_image = len(expected) // 3
    for n in range(3):
        expected[(n + 1) * per_image - 1] = (expected[(n + 1) * per_image - 1][0], True)
    dut = PadStage(shape=(*shape[:2], shape[2] // in_width), padding=padding, fmt=U8,
                   in_width=in_width)
    assert _run(dut, images, len(expected), in_width=in_width, seed=sum(shape)) == expected


@pytest.mark.parametrize("shape,strides,units", [
    ((5, 7, 1), (2, 2), 1),    # odd: the grid's last row and column are the map's
    ((6, 4, 3), (2, 3), 3),    # even: the last row and a column beyond the grid dropped
    ((4, 4, 2), (3, 1), 2)])
def test_strides_keep_the_grids_positions(shape, strides, units):
    height, width, _ = shape
    images = np.random.default_rng(4).integers(0, 256, (3, *shape), np.uint8)
    kept = images[:, ::strides[0], ::strides[1]]
    expected = []
    for image in kept:
        transfers = image.reshape(-1, 1)
        expected += [(list(t), n == len(transfers) - 1) for n, t in enumerate(transfers)]
    dut = StrideStage(shape=(height, width, units), strides=strides, fmt=U8, width=1)
    assert _run(dut, images, len(expected), in_width=1, seed=sum(shape)) == expected
    # the plan's model keeps the same transfers
    times = list(range(images[0].size))
    assert len(stride_times(times, shape=(height, width, units), strides=strides)) == \
        kept[0].size


def test_pad_times_wait_for_the_images_first_pixel():
    # 1x2 pixels, a row above and a column to the left: 2x3 padded transfers; the first
    # image's pixels offered at 10 and 11, the second's at 30 and 31: its padding waits
    times = pad_times([10, 11, 30, 31], shape=(1, 2, 1), padding=((1, 0), (1, 0)))
    assert times == [11, 12, 13, 14, 15, 16] + [31, 32, 33, 34, 35, 36]


#: (architecture, input size, folded convolutions' (lanes, groups per pass, positions)):
#: the parallel engine padded, and strided over an odd width; the folded engine with both,
#: a code per transfer, two positions a weight read and a stride over them.
NETWORKS = [
    ("conv2x3same,pool,dense6", 8, {}),
    ("conv2x2,poolsame,dense6", 8, {}),                      # a 7x7 map pooled 2x2 same
    ("conv3x3r6,conv2x2samer6,dense6r6,dense4", 8, {"conv2": (1, 2, 1)}),   # ReLU6s
    # pooled a code at a time, padded: the padding's pauses hold the folded engine before it
    # back, which the plan does not count (docs/gateware.md): its cycles are lower bounds
    ("conv3x2,pool3same,conv2x2,dense5", 8, {"conv1": (2, 1, 1)}),
    ("conv2x3sames2,dense6", 9, {}),
    ("conv2x3same,conv3x2sames2,dense5", 7, {"conv2": (2, 1, 1)}),
    ("conv2x3sames2,pool,conv3x3same,dense5", 11, {"conv1": (1, 2, 1), "conv2": (3, 1, 2)}),
]


@pytest.mark.parametrize("spec,size,folds", NETWORKS)
def test_padded_and_strided_networks_match_the_reference_and_the_plan(spec, size, folds):
    # every image as long as the plan says (the padding before an image waits for it), and
    # back to back its pace
    check_against_reference_and_plan(spec, size, folds, seed=5, extreme=size == 9,
                                     exact="pool3same" not in spec)


def test_the_engines_refuse_what_they_do_not_compute():
    from hw.stages.conv import Conv2DStage
    net = network_from_arch(np.random.default_rng(0), "conv2x3sames2,dense4", size=8)
    conv = net.layers[0]
    with pytest.raises(ValueError, match="conv: the stage computes a valid, stride-1 "
                                         "convolution; make_stages pads and strides"):
        Conv2DStage(config=conv, weight=net.params["conv"]["weight"],
                    bias=net.params["conv"]["bias"])


def test_the_keras_model_of_padding_and_strides_is_the_reference():
    from q8 import reference
    from train.model import from_network, logits_codes
    for spec, size in (("conv3x2r6,poolsame,conv2x3sames2,dense5r6,dense4", 13),
                       ("conv2x4same,pool3same,conv3x2s3,dense6", 14)):
        net = network_from_arch(np.random.default_rng(8), spec, size=size)
        images = np.random.default_rng(9).integers(0, 256, (40, size, size), np.uint8)
        assert np.array_equal(logits_codes(from_network(net), images),
                              reference.run(net, images).logits), spec
