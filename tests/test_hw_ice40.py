# amaranth: UnusedElaboratable=no
"""The iCE40 helpers' simulation fallbacks: the latency and arithmetic the primitives have."""

import numpy as np
from amaranth.sim import Simulator

from hw.vendor.ice40 import MultiplierPair, SPRAMWeightStore


def test_multiplier_pair_fallback():
    dut = MultiplierPair()
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 2)).tolist() + [[255, 255], [255, 0]]
    b = rng.integers(-128, 128, (20, 2)).tolist() + [[-128, 127], [127, -128]]
    got = []

    async def tb(ctx):
        for step in range(len(a) + MultiplierPair.LATENCY):
            if step < len(a):
                ctx.set(dut.a, a[step])
                ctx.set(dut.b, b[step])
            await ctx.tick()
            got.append([ctx.get(dut.p[k]) for k in range(2)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    # the products of step s come out after the tick of step s + LATENCY - 1
    expected = (np.array(a) * np.array(b)).tolist()
    assert got[MultiplierPair.LATENCY - 1:][:len(a)] == expected


def test_spram_store_fallback_writes_then_reads():
    dut = SPRAMWeightStore(readers=[(100, 8)])
    words = [int(w) for w in np.random.default_rng(1).integers(0, 2 ** 63, 100)]
    words[7] = 2 ** 64 - 1
    got = []

    async def tb(ctx):
        ctx.set(dut.write.en, 0b1111)
        for addr, word in enumerate(words):
            ctx.set(dut.write.addr, addr)
            ctx.set(dut.write.data, word)
            await ctx.tick()
        ctx.set(dut.write.en, 0)
        for addr in range(len(words)):
            ctx.set(dut.read_0.addr, addr)
            await ctx.tick()
            got.append(ctx.get(dut.read_0.data))  # one cycle after its address

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got == words


def test_spram_store_depth_message():
    import pytest
    with pytest.raises(ValueError, match=r"depth must be an integer in \[1, 16384\], not 20000"):
        SPRAMWeightStore(readers=[(20000, 8)])
    with pytest.raises(ValueError, match=r"lanes \[4, 3, 2\] need 5 SPRAMs"):
        SPRAMWeightStore(readers=[(10, 4), (10, 3), (10, 2)])


def test_spram_store_writes_lanes():
    dut = SPRAMWeightStore(readers=[(4, 8)])
    got = []

    async def tb(ctx):
        for lane in range(4):  # word 2, a 16-bit lane at a time, others left alone
            ctx.set(dut.write.addr, 2)
            ctx.set(dut.write.data, (0x1111 * (lane + 1)) * 0x0001000100010001)
            ctx.set(dut.write.en, 1 << lane)
            await ctx.tick()
        ctx.set(dut.write.en, 0)
        ctx.set(dut.read_0.addr, 2)
        await ctx.tick()
        got.append(ctx.get(dut.read_0.data))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got == [0x4444333322221111]


def test_spram_write_port_is_one_lane_per_spram():
    from amaranth.lib.wiring import In
    from hw.lib.ports import WritePort
    port = SPRAMWeightStore.write_port(depth=100)
    assert port.members == WritePort(depth=100, width=64, lanes=4).members
    member = SPRAMWeightStore(readers=[(100, 4), (60, 4)]).signature.members["write"]
    assert member.flow == In and member.signature.flip().members == port.members


def test_spram_readers_read_their_own_columns_at_once():
    # three layers' words, laid out by ``words`` as the flash image holds them, written and
    # then read by all three readers in the same cycles, each at its own address
    rng = np.random.default_rng(2)
    stores = [([int(w) for w in rng.integers(0, 2 ** 32, 9)], 4),
              ([int(w) for w in rng.integers(0, 2 ** 8, 5)], 1),
              ([int(w) for w in rng.integers(0, 2 ** 16, 12)], 2)]
    image = SPRAMWeightStore.words(stores)
    assert len(image) == 12
    # reader 1 (one lane) owns SPRAM 2's low byte; SPRAM 2's high byte stays zero
    assert all((word >> 40) & 0xff == 0 for word in image)
    dut = SPRAMWeightStore(readers=[(len(w), lanes) for w, lanes in stores])
    got = []

    async def tb(ctx):
        ctx.set(dut.write.en, 0b1111)
        for addr, word in enumerate(image):
            ctx.set(dut.write.addr, addr)
            ctx.set(dut.write.data, word)
            await ctx.tick()
        ctx.set(dut.write.en, 0)
        for step in range(12):
            addrs = [(step * 5 + k) % len(w) for k, (w, _) in enumerate(stores)]
            for k, a in enumerate(addrs):
                ctx.set(getattr(dut, f"read_{k}").addr, a)
            await ctx.tick()
            got.append([(a, ctx.get(getattr(dut, f"read_{k}").data))
                        for k, a in enumerate(addrs)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    for row in got:
        assert [data for _, data in row] == [stores[k][0][a] for k, (a, _) in enumerate(row)]
