"""Running the gateware in Amaranth's Python simulator: single stages and the whole network.

Both take random gaps in ``valid`` and random back-pressure on ``ready`` (``gap`` and
``stall``, probabilities per cycle) and return what came out; the network also returns the
cycles from each image's first pixel accepted to its result sent.
"""

import os

import numpy as np
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hw.board.defaults import CLOCK_HZ
from .streams import stream_get, stream_put

__all__ = ["SimulationTimeout", "run_simulation", "simulate_stage", "simulate_network",
           "NetworkRun"]


class SimulationTimeout(RuntimeError):
    """The design stopped producing output: a hang, reported instead of waiting forever."""


def _simulator(dut):
    m = Module()
    m.submodules.dut = dut
    cycle = Signal(32)
    m.d.sync += cycle.eq(cycle + 1)
    sim = Simulator(m)
    sim.add_clock(1 / CLOCK_HZ)
    return sim, cycle


def run_simulation(sim, max_cycles, what, *, vcd=None):
    """Run until the testbenches are done; a watchdog raises :class:`SimulationTimeout` if
    they are not done in ``max_cycles``. A waveform goes to ``vcd``, or to the file named by
    the environment variable ``VCD`` (on demand only: they are large)."""
    async def watchdog(ctx):
        await ctx.delay(max_cycles / CLOCK_HZ)
        raise SimulationTimeout(f"the {what} simulation did not finish in {max_cycles} cycles")

    sim.add_testbench(watchdog, background=True)
    vcd = vcd or os.environ.get("VCD")
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


def simulate_stage(dut, transfers, count, *, seed=None, gap=0.0, stall=0.0, max_cycles=None):
    """Send ``transfers`` (payload values for ``dut.i``) and receive ``count`` payloads from
    ``dut.o``. Raises :class:`SimulationTimeout` if they are not all out within
    ``max_cycles`` (default: 50 cycles per transfer in or out, plus 1000)."""
    rng = np.random.default_rng(seed) if (gap or stall) else None
    sim, _ = _simulator(dut)
    received = []

    async def producer(ctx):
        for payload in transfers:
            await stream_put(ctx, dut.i, payload, rng=rng, gap=gap)

    async def consumer(ctx):
        for _ in range(count):
            received.append(await stream_get(ctx, dut.o, rng=rng, stall=stall))

    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    run_simulation(sim, max_cycles or 50 * (len(transfers) + count) + 1000, "stage")
    return received


class NetworkRun:
    """What the simulated network answered: int8 ``logits`` ``(N, classes)``, ``classes``,
    and ``cycles`` per image (first pixel accepted to result sent)."""

    def __init__(self, logits, classes, cycles):
        self.logits, self.classes, self.cycles = logits, classes, cycles


def simulate_network(pipeline, images, *, seed=None, gap=0.0, stall=0.0, overlap=False,
                     cycles_per_image=20000):
    """Stream uint8 ``images`` ``(N, H, W)`` through a :class:`hw.stages.network.NetworkPipeline`.

    With ``overlap`` the images follow each other back to back (the next image's pixels enter
    while the previous one is computed) and ``cycles`` are the intervals between results
    (throughput); otherwise each image enters when the previous result is out, and ``cycles``
    are each image's latency from its first pixel accepted to its result sent.
    """
    rng = np.random.default_rng(seed) if (gap or stall) else None
    sim, cycle = _simulator(pipeline)
    images = np.asarray(images, dtype=np.uint8)
    starts, ends, results = [], [], []

    async def producer(ctx):
        for index, image in enumerate(images):
            while not overlap and len(ends) < index:
                await ctx.tick()
            flat = image.reshape(-1)
            for n, pixel in enumerate(flat):
                await stream_put(ctx, pipeline.i, {"data": [int(pixel)],
                                                   "last": n == len(flat) - 1},
                                 rng=rng, gap=gap)
                if n == 0:
                    starts.append(ctx.get(cycle))

    async def consumer(ctx):
        for _ in images:
            result = await stream_get(ctx, pipeline.o, rng=rng, stall=stall)
            ends.append(ctx.get(cycle))
            results.append((int(result.cls), [int(v) for v in result.logits]))

    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    run_simulation(sim, cycles_per_image * max(len(images), 1) + 2000, "network")
    logits = np.array([r[1] for r in results], dtype=np.int8).reshape(len(images), -1)
    classes = np.array([r[0] for r in results], dtype=np.int64)
    cycles = np.diff([starts[0], *ends]) if overlap else np.array(ends) - np.array(starts)
    return NetworkRun(logits, classes, cycles)
