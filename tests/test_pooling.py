# amaranth: UnusedElaboratable=no
"""Poolings beyond max pooling with the pool's stride: average pooling (``avgpool2d``), a
stride other than the pool (overlapping or spaced windows), global max pooling
(``gmaxpool2d``; its stage is tested with the global mean's, ``tests/test_gap.py``). The
contract by hand, the exact division, networks through both engines in Amaranth's simulator
against the reference and the plan's cycles, and the Keras QAT model equal to the
reference."""

import numpy as np
import pytest
from amaranth.hdl import Const, Module, Signal
from amaranth.sim import Simulator

from hw.lib.arith import divide_rounded, reciprocal
from q8 import arch, reference
from q8.contract import Format
from q8.layers import AvgPool2DConfig, GlobalMaxPool2DConfig, MaxPool2DConfig
from tests.netgen import check_against_reference_and_plan, network_from_arch

U0 = Format(signed=False, frac=0)


def test_average_pooling_rounds_each_window_mean_half_up_by_hand():
    # 3x3 windows (n = 9, odd), stride 3: sums 4 and 13: (4 + 4) // 9 = 0, (13 + 4) // 9 = 1
    layer = AvgPool2DConfig(name="avg", in_shape=(3, 6, 1), pool=(3, 3), format=U0)
    x = np.zeros((1, 3, 6, 1), np.uint8)
    x[0, :, :3, 0] = [[1, 0, 0], [0, 3, 0], [0, 0, 0]]           # sum 4: 0.44 -> 0
    x[0, :, 3:, 0] = [[1, 1, 1], [1, 1, 1], [1, 1, 6]]           # sum 14: 1.56 -> 2
    assert reference.average_pool(layer, x)[0, :, :, 0].tolist() == [[0, 2]]
    # 2x2 (n = 4, even): a half rounds up, 255s stay 255
    layer = AvgPool2DConfig(name="avg", in_shape=(2, 4, 1), pool=(2, 2), format=U0)
    x = np.array([[[1, 1, 255, 255], [0, 0, 255, 255]]], np.uint8)[..., None]
    assert reference.average_pool(layer, x)[0, :, :, 0].tolist() == [[1, 255]]


def test_overlapping_and_spaced_windows_by_hand():
    x = np.arange(25, dtype=np.uint8).reshape(1, 5, 5, 1)
    overlap = MaxPool2DConfig(name="pool", in_shape=(5, 5, 1), pool=(3, 3), format=U0,
                              strides=(2, 2))
    assert overlap.out_shape == (2, 2, 1)   # (5 - 3) // 2 + 1, as Keras
    assert reference.maxpool2d(overlap, x)[0, :, :, 0].tolist() == [[12, 14], [22, 24]]
    spaced = AvgPool2DConfig(name="avg", in_shape=(5, 5, 1), pool=(2, 2), format=U0,
                             strides=(3, 3))
    # windows at (0, 0) and (0, 3), (3, 0), (3, 3): sums 12, 24, 72, 84
    assert reference.average_pool(spaced, x)[0, :, :, 0].tolist() == [[3, 6], [18, 21]]


def test_global_max_of_signed_codes_by_hand():
    layer = GlobalMaxPool2DConfig(name="gmp", in_shape=(1, 3, 2), format=Format(True, 3))
    x = np.array([[[[-5, -128], [-7, -100], [-6, -127]]]], np.int8)
    assert reference.global_max(layer, x).tolist() == [[-5, -100]]


def test_average_pooling_with_padding_is_refused():
    with pytest.raises(ValueError, match="average pooling takes valid padding only"):
        AvgPool2DConfig(name="avg", in_shape=(5, 5, 1), pool=(2, 2), format=U0,
                        padding=((0, 1), (0, 1)))
    with pytest.raises(arch.ArchError, match="cannot read 'avgpoolsame'"):
        arch.parse("conv2x3,avgpoolsame,dense10")


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 9, 16, 25, 49])
def test_the_rounded_division_is_exact_for_every_sum(n):
    # the reciprocal's bound, then the gateware's shifted adds, simulated, for every sum
    limit = 255 * n
    multiplier, shift = reciprocal(n, limit + n // 2)
    assert all((x * multiplier) >> shift == x // n for x in range(limit + n // 2 + 1))
    value = Signal(range(limit + 1))
    out = Signal(8)
    m = Module()
    m.d.comb += out.eq(divide_rounded(value, n=n, limit=limit)[:8])
    sums = np.random.default_rng(n).integers(0, limit + 1, 300).tolist() + [0, limit]

    async def bench(ctx):
        for s in sums:
            ctx.set(value, s)
            assert ctx.get(out) == (s + n // 2) // n, s

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


#: every pooling form in both engines: after a parallel convolution (a pixel's channels a
#: transfer) and after a folded one (a code a transfer), with the pool's stride (the
#: streaming stages) and others (windows, their reduction, the stride's grid), means whose
#: division is a shift (2x2) and a multiply (3x3), padded, and global maxima as the logits.
#: The plan's cycles are exact for the streaming stages and a lower bound for the windows
#: (their pauses stall the stages before them, which its per-stage model does not count)
NETWORKS = [
    ("conv3x3,avgpool,dense5", 10, {}),
    ("conv3x3,avgpool3,dense5", 11, {}),
    ("conv3x3,pool3s2,dense5", 11, {}),
    ("conv3x3,avgpool3s1,pool2s1,dense4", 9, {}),
    ("conv3x3,conv4x2,avgpool,dense5", 9, {"conv2": (2, 1, 1)}),
    ("conv3x3,conv4x2,avgpool3s2,dense5", 10, {"conv2": (2, 1, 1)}),
    ("conv3x3,conv4x2,poolsames3,dense5", 10, {"conv2": (4, 1, 1)}),
    ("conv3x3same,poolsames1,conv4x1,gmp", 7, {}),
    ("conv3x3s2,conv4x2,gmp", 9, {"conv2": (2, 1, 1)}),
]


@pytest.mark.parametrize("spec,size,folds", NETWORKS)
def test_networks_with_these_poolings_match_the_reference_and_the_plan(spec, size, folds):
    windows = any(e.get("strides", e.get("pool")) != e.get("pool")
                  for e in arch.parse(spec))
    check_against_reference_and_plan(spec, size, folds, seed=8, extreme=size == 9,
                                     exact=not windows)


def test_the_keras_model_of_these_poolings_is_the_reference():
    from train.model import from_network, logits_codes
    for spec, size, _ in NETWORKS:
        net = network_from_arch(np.random.default_rng(3), spec, size=size)
        images = np.random.default_rng(4).integers(0, 256, (30, size, size), np.uint8)
        assert np.array_equal(logits_codes(from_network(net), images),
                              reference.run(net, images).logits), spec
