# amaranth: UnusedElaboratable=no
"""The folded convolution (``hw.stages.conv.make_stages`` with a schedule: the windows tap by tap,
a dense engine on a few multipliers with its weights in memory, the groups gathered) against
the reference, in Amaranth's simulator: a few small networks, several lane counts and
foldings, extreme codes and back-pressure. Whole test sets run through the compiled RTL."""

import numpy as np
import pytest

from hw.stages.network import DenseSchedule, NetworkError, NetworkPipeline
from hw.stages.window import WindowStage
from q8 import reference
from q8.contract import Format
from sim.pysim import simulate_network
from sim.streams import put_images, stream_get, stream_put
from tests.netgen import network_from_arch, random_network


def test_windows_come_tap_by_tap_in_the_weights_order():
    from amaranth.sim import Simulator
    height, width, channels, kernel = 5, 6, 2, (3, 2)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (2, height, width, channels), np.uint8)
    dut = WindowStage(shape=(height, width, channels), kernel=kernel,
                      fmt=Format(signed=False, frac=8))
    got = []

    async def producer(ctx):
        for image in images:
            flat = image.reshape(-1, channels)
            for n, pixel in enumerate(flat):
                await stream_put(ctx, dut.i, {"data": [int(v) for v in pixel],
                                              "last": n == len(flat) - 1},
                                 rng=rng, gap=0.3)

    async def consumer(ctx):
        taps = 2 * (height - kernel[0] + 1) * (width - kernel[1] + 1) * kernel[0] * kernel[1]
        for _ in range(taps):
            got.append(await stream_get(ctx, dut.o, rng=rng, stall=0.4))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-2)
    kh, kw = kernel
    expected = []
    for image in images:
        for r in range(height - kh + 1):
            for c in range(width - kw + 1):
                window = image[r:r + kh, c:c + kw].reshape(-1, channels)
                expected += [(list(tap), False) for tap in window]
        expected[-1] = (expected[-1][0], True)   # the image's last window's last tap
    assert [(list(t["data"]), bool(t["last"])) for t in got] == \
        [(list(map(int, d)), last) for d, last in expected]


def _expected_windows(images, kernel, in_width, pairs):
    """The taps :class:`WindowStage` sends for ``images`` ``(N, H, W, C)``: per transfer the
    window's units (a pixel, or one code), with ``pairs`` the next window's beside (``None``
    for a row's last window alone), and ``last``."""
    kh, kw = kernel
    out = []
    for image in images:
        height, width, channels = image.shape
        for r in range(height - kh + 1):
            cols = list(range(width - kw + 1))
            for group in ([cols[i:i + 2] for i in range(0, len(cols), 2)] if pairs
                          else [[c] for c in cols]):
                units = [image[r:r + kh, c:c + kw].reshape(-1, in_width).tolist()
                         for c in group]
                for t in range(len(units[0])):
                    out.append([units[0][t], units[1][t] if len(units) > 1 else None, False])
        out[-1][2] = True
    return out


@pytest.mark.parametrize("shape,kernel,in_width,pairs", [
    ((5, 3, 3), (1, 1), 3, True),     # a window of one pixel: its pair's second is the pixel in
    ((3, 4, 1), (1, 1), 1, True),
    ((4, 5, 2), (2, 3), 1, True),     # an odd count of windows a row: the last alone
    ((6, 4, 2), (3, 2), 2, False),
    ((5, 7, 3), (3, 3), 1, False)])
def test_windows_of_three_images_under_gaps_and_back_pressure(shape, kernel, in_width, pairs):
    rng = np.random.default_rng(sum(shape) + 7 * in_width + pairs)
    images = rng.integers(0, 256, (3, *shape), np.uint8)
    dut = WindowStage(shape=shape, kernel=kernel, fmt=Format(signed=False, frac=8),
                      in_width=in_width, pairs=pairs)
    expected = _expected_windows(images, kernel, in_width, pairs)
    got = []

    async def producer(ctx):
        await put_images(ctx, dut.i, images, in_width=in_width, rng=rng, gap=0.3)

    async def consumer(ctx):
        for _ in expected:
            got.append(await stream_get(ctx, dut.o, rng=rng, stall=0.5))

    from amaranth.sim import Simulator
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-2)
    assert len(got) == len(expected)
    for t, (transfer, (first, second, last)) in enumerate(zip(got, expected)):
        data = [int(v) for v in transfer["data"]]
        assert data[:in_width] == first and bool(transfer["last"]) == last, t
        if second is not None:
            assert data[in_width:] == second, t


@pytest.mark.parametrize("lanes,per_pass", [(1, 3), (2, 1), (3, 1), (4, 1)])
def test_folded_conv_matches_the_reference(lanes, per_pass):
    rng = np.random.default_rng(10 + lanes)
    net = random_network(rng, size=10, filters=3, dense=6, classes=4, extreme=lanes == 2)
    images = rng.integers(0, 256, (2, 10, 10), np.uint8)
    pipeline = NetworkPipeline(net, schedules={
        "conv": DenseSchedule(lanes=lanes, groups_per_pass=per_pass)})
    assert [type(s).__name__ for s in pipeline.stages[:5]] == \
        ["SkidBuffer", "WindowStage", "DenseStage", "SerializeStage",
         "SerialPool2DStage"]
    run = simulate_network(pipeline, images, seed=lanes, gap=0.2, stall=0.3)
    ref = reference.run(net, images)
    assert np.array_equal(run.logits, ref.logits)


def test_two_folded_convolutions_with_channels_in():
    rng = np.random.default_rng(21)
    net = network_from_arch(rng, "conv3x3,conv4x2,pool,dense5", size=9)
    images = rng.integers(0, 256, (2, 9, 9), np.uint8)
    pipeline = NetworkPipeline(net, schedules={
        "conv1": DenseSchedule(lanes=2, groups_per_pass=1),
        "conv2": DenseSchedule(lanes=3, groups_per_pass=1)})
    run = simulate_network(pipeline, images, seed=2, stall=0.2)
    assert np.array_equal(run.logits, reference.run(net, images).logits)


def test_folded_schedule_refusals():
    net = random_network(np.random.default_rng(0), size=12, filters=4, dense=8)
    with pytest.raises(NetworkError, match="conv: groups_per_pass must divide the 2 groups"):
        NetworkPipeline(net, schedules={"conv": DenseSchedule(lanes=2, groups_per_pass=3)})
    with pytest.raises(NetworkError, match=r"not dense layers or convolutions: \['pool'\]"):
        NetworkPipeline(net, schedules={"pool": DenseSchedule(lanes=1, groups_per_pass=1)})


@pytest.mark.parametrize("spec,size,schedules", [
    ("conv3x3,pool,dense8,dense4", 12, {"conv": (2, 1, 1)}),
    ("conv4x3,pool,dense8,dense4", 12, {"conv": (2, 2, 1)}),
    ("conv4x3,pool,dense8,dense4", 12, {"conv": (2, 1, 2)}),       # 10 positions a row
    ("conv2x3,conv3x2,dense8,dense4", 11, {"conv1": (1, 2, 2)})])  # 9: one alone
def test_the_plans_cycles_of_a_folded_convolution_are_the_simulated_ones(spec, size,
                                                                         schedules):
    from hw import fit
    from hw.stages.network import default_schedule
    net = network_from_arch(np.random.default_rng(3), spec, size=size)
    folded = {name: DenseSchedule(lanes=lanes, groups_per_pass=per, positions=positions)
              for name, (lanes, per, positions) in schedules.items()}
    plan = fit.plan(net.layers, params=net.params,
                    schedules={**default_schedule(net), **folded})
    images = np.random.default_rng(0).integers(0, 256, (3, size, size), np.uint8)
    run = simulate_network(NetworkPipeline(net, schedules=plan.schedules), images[:1])
    assert run.cycles.tolist() == [plan.latency]
    run = simulate_network(NetworkPipeline(net, schedules=plan.schedules), images,
                           overlap=True)
    assert run.cycles[1:].tolist() == [plan.interval] * 2
    assert np.array_equal(run.logits, reference.run(net, images).logits)


@pytest.mark.parametrize("queue,registered", [(False, False), (True, False), (True, True)])
def test_two_folded_convolutions_in_a_row_exact_with_a_queue(queue, registered):
    # each folded stage's pace is modelled alone: without a queue between them the second's
    # pauses stall the first, so the plan's interval is low (docs/gateware.md); with one it
    # is the simulated; the latency is exact either way
    from hw import fit
    from hw.stages.network import default_schedule
    net = network_from_arch(np.random.default_rng(3), "conv3x3,conv4x2,pool,dense6", size=12)
    folded = {"conv1": DenseSchedule(lanes=3, groups_per_pass=1),
              "conv2": DenseSchedule(lanes=2, groups_per_pass=1, queue=queue,
                                     registered_weights=registered)}
    plan = fit.plan(net.layers, params=net.params,
                    schedules={**default_schedule(net), **folded})
    pipeline = NetworkPipeline(net, schedules=plan.schedules)
    assert ("QueueStage" in [type(s).__name__ for s in pipeline.stages]) == queue
    images = np.random.default_rng(0).integers(0, 256, (3, 12, 12), np.uint8)
    assert simulate_network(pipeline, images[:1]).cycles.tolist() == [plan.latency]
    run = simulate_network(NetworkPipeline(net, schedules=plan.schedules), images,
                           overlap=True)
    assert np.array_equal(run.logits, reference.run(net, images).logits)
    if queue:
        assert run.cycles[1:].tolist() == [plan.interval] * 2
    else:
        assert plan.interval < run.cycles[2] <= 1.05 * plan.interval


@pytest.mark.parametrize("queue,depth", [(True, 64), (16, 16), (5, 8)])
def test_a_queue_under_gaps_and_back_pressure_matches_the_reference(queue, depth):
    # a whole image's queue, and shorter ones, which make each image's `last` by counting
    rng = np.random.default_rng(41)
    net = network_from_arch(rng, "conv3x3,pool,conv4x2,dense5", size=10)
    images = rng.integers(0, 256, (4, 10, 10), np.uint8)
    pipeline = NetworkPipeline(net, schedules={
        "conv1": DenseSchedule(lanes=3, groups_per_pass=1),
        "conv2": DenseSchedule(lanes=2, groups_per_pass=2, positions=2, queue=queue)})
    stage = next(s for s in pipeline.stages if type(s).__name__ == "QueueStage")
    # the pooled image's 4 x 4 x 3 codes, one a transfer: 48, in 64 entries
    assert stage.depth == depth
    run = simulate_network(pipeline, images, seed=5, gap=0.3, stall=0.4)
    assert np.array_equal(run.logits, reference.run(net, images).logits)


def test_the_plan_queues_a_folded_convolution_after_another_where_it_fits():
    from hw import fit
    from q8 import arch
    layers = arch.configs(arch.parse("conv6x5,pool,conv16x5,pool,dense120,dense84,dense10"),
                          input_shape=(28, 28, 1))
    plan = fit.plan(layers, board="icebreaker")
    assert plan.schedules["conv2"].queue and not plan.schedules["conv1"].queue
    queue = next(s for s in plan.stages if s.name == "conv2 queue")
    # 12 x 12 x 6 codes, a bit of `last` each: 1,024 entries
    assert queue.memories == [("queue", 9, 1024, 3)] and queue.brams == 3


def test_the_plan_queues_the_keras_convnet_on_the_up5k_with_what_block_rams_are_left():
    # a whole image's queue (13 x 13 x 32 codes) would take 11 block RAMs; the UP5K has 2
    # left: the shortest queue that keeps the plan's times, its codes without `last` (8 bits,
    # a block RAM's width), and the times those of a whole image's queue
    from hw import fit
    from q8 import weights
    net = weights.load("weights/keras_convnet_q8.npz")
    plan = fit.plan(net.layers, board="icebreaker", params=net.params)
    assert plan.schedules["conv2"].queue == 1024 and plan.fits
    queue = next(s for s in plan.stages if s.name == "conv2 queue")
    assert queue.memories == [("queue", 8, 1024, 2)] and plan.used["block_rams"] == 30
    whole = fit.plan(net.layers, board="icebreaker", params=net.params, schedules={
        **plan.schedules, "conv2": plan.schedules["conv2"].replace(queue=True)})
    # (conv1 on one lane: the compiled RTL's count one at a time, bench/boards.json)
    assert (plan.interval, plan.latency) == (whole.interval, whole.latency) == \
        (11 * 6 * 11 * 288, 233_252)
    with pytest.raises(ValueError, match="conv2: a queue of 512 transfers before it would "
                                         "hold the layer before back"):
        fit.plan(net.layers, board="icebreaker", params=net.params, schedules={
            **plan.schedules, "conv2": plan.schedules["conv2"].replace(queue=512)})


def test_queue_refusals():
    from hw.stages.queue import QueueStage
    net = network_from_arch(np.random.default_rng(0), "conv3x3,pool,dense6", size=8)
    with pytest.raises(NetworkError, match="conv: a queue is for a folded convolution "
                                           "after the first layer"):
        NetworkPipeline(net, schedules={"conv": DenseSchedule(lanes=1, groups_per_pass=1,
                                                              queue=True)})
    with pytest.raises(NetworkError, match="dense1: a queue is for a folded convolution"):
        NetworkPipeline(net, schedules={"dense1": DenseSchedule(lanes=1, groups_per_pass=6,
                                                                queue=True)})
    for bad in (0, -4, 2.0, "image"):
        with pytest.raises(ValueError, match="queue must be True .an image's transfers., "
                                             "False or a number of transfers of at least 1, "
                                             f"not {bad!r}"):
            DenseSchedule(lanes=1, groups_per_pass=1, queue=bad)
    # True is an image, 1 a transfer: not the same schedule
    assert DenseSchedule(lanes=1, groups_per_pass=1, queue=True) != \
        DenseSchedule(lanes=1, groups_per_pass=1, queue=1)
    with pytest.raises(ValueError, match="a queue that counts its images' transfers needs "
                                         "a payload with a `last` bit"):
        QueueStage(8, depth=4, image=16)
    with pytest.raises(ValueError, match="depth must be an integer of at least 1"):
        QueueStage(8, depth=0)


def test_the_plan_folds_a_convolution_that_does_not_fit_in_parallel():
    from hw import fit
    from q8 import arch
    layers = arch.configs(arch.parse("conv8x5,pool,dense16,dense10"), input_shape=(28, 28, 1))
    plan = fit.plan(layers, board="icebreaker")
    assert plan.fits
    assert "conv" in plan.schedules   # folded: a schedule of its own
    conv = next(s for s in plan.stages if s.name == "conv")
    assert conv.store in ("block RAM", "logic") and conv.dsps >= 1 and conv.digits == 0
    # in parallel it would not have fitted
    parallel = fit.plan(layers, board="icebreaker",
                        schedules={k: v for k, v in plan.schedules.items() if k != "conv"})
    assert not parallel.fits


@pytest.mark.parametrize("folds", [
    {"conv1": (2, 1, 2), "conv2": (3, 1, 2)},   # 7x7 then 6x6 positions: odd and even rows
    {"conv1": (1, 3, 2), "conv2": (4, 1, 1)}])
def test_two_positions_per_weight_read_match_the_reference(folds):
    rng = np.random.default_rng(31)
    net = network_from_arch(rng, "conv3x3,conv4x2,pool,dense5", size=9)
    images = rng.integers(0, 256, (2, 9, 9), np.uint8)
    pipeline = NetworkPipeline(net, schedules={
        name: DenseSchedule(lanes=lanes, groups_per_pass=per, positions=positions)
        for name, (lanes, per, positions) in folds.items()})
    assert "PairSerializeStage" in [type(s).__name__ for s in pipeline.stages]
    run = simulate_network(pipeline, images, seed=3, gap=0.2, stall=0.3)
    assert np.array_equal(run.logits, reference.run(net, images).logits)
