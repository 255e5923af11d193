# amaranth: UnusedElaboratable=no
"""The board top's components on their own: the timers, the request receiver, the worker and
the self-test sequencer, the test images' flash reader (``hw.board.top.BoardTop`` only
connects them)."""

from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.board.countdown import countdown
from hw.board.protocol import (Response, Status, decode_response, frame_bytes,
                               status_request)
from hw.board.receiver import RequestReceiver
from hw.board.sequencer import SelfTestSequencer
from hw.board.worker import Worker
from hw.board.loader import LoadStatus, TestImageReader
from hw.board.spi import SPIFlashReader
from sim.streams import stream_get


def _run(dut, tb):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


def test_countdown_expires_its_cycles_and_one_after_the_restart():
    m = Module()
    expired, restart = countdown(m, cycles=5, name="t")
    seen = []

    async def tb(ctx):
        ctx.set(restart, 1)
        await ctx.tick()
        ctx.set(restart, 0)
        for _ in range(8):
            seen.append(ctx.get(expired))
            await ctx.tick()

    _run(m, tb)
    # reloaded to 5 at the restart's tick: 5, 4, 3, 2, 1, 0, then -1 (the sign bit)
    assert seen == [0, 0, 0, 0, 0, 0, 1, 1]


def test_receiver_hands_a_status_request_over_with_the_standing_status():
    dut = RequestReceiver(timeout_cycles=50)
    handed = []

    async def tick(ctx):
        if ctx.get(dut.hand_over.post):
            request = ctx.get(dut.hand_over.request)
            handed.append((request.seq, request.answer, request.classify, request.self_test,
                           request.status))
        await ctx.tick()

    async def tb(ctx):
        ctx.set(dut.hand_over.idle, 1)
        ctx.set(dut.hand_over.ready, 1)
        ctx.set(dut.hand_over.standing, Status.NOT_READY)
        for byte in status_request(seq=7):
            ctx.set(dut.i.payload, byte)
            ctx.set(dut.i.valid, 1)
            await tick(ctx)
            ctx.set(dut.i.valid, 0)
            for _ in range(15):  # a byte every 16 cycles at the fastest
                await tick(ctx)
        for _ in range(20):
            await tick(ctx)

    _run(dut, tb)
    assert handed == [(7, 1, 0, 0, Status.NOT_READY)]


def test_worker_answers_a_handed_over_status_with_its_sequence_number():
    classes = 10
    dut = Worker(classes=classes, watchdog_cycles=100)
    frame = []

    async def tb(ctx):
        ctx.set(dut.load_status, LoadStatus.READY)
        await ctx.tick().until(dut.hand_over.idle)
        ctx.set(dut.hand_over.post, 1)
        ctx.set(dut.hand_over.request.seq, 9)
        ctx.set(dut.hand_over.request.answer, 1)
        ctx.set(dut.hand_over.request.status, Status.BAD_CHECKSUM)
        await ctx.tick()
        ctx.set(dut.hand_over.post, 0)
        ctx.set(dut.hand_over.request.answer, 0)
        for _ in range(frame_bytes(classes)):
            frame.append(await stream_get(ctx, dut.o))

    _run(dut, tb)
    assert decode_response(frame, classes=classes) == Response(
        status=Status.BAD_CHECKSUM, seq=9, cls=0, logits=(0,) * classes)


def test_sequencer_answers_watchdog_and_faults_when_the_flash_is_silent():
    dut = SelfTestSequencer(pixels=4)
    seen = []

    async def tb(ctx):
        ctx.set(dut.worker.count, 1)
        ctx.set(dut.worker.start, 1)
        await ctx.tick()
        ctx.set(dut.worker.start, 0)
        assert ctx.get(dut.again)  # the flash reads the test images from their start
        await ctx.tick().repeat(5)
        assert not ctx.get(dut.worker.answer.valid)
        ctx.set(dut.worker.expired, 1)
        seen.append((ctx.get(dut.worker.answer.valid), ctx.get(dut.worker.fault)))
        await ctx.tick()
        ctx.set(dut.worker.expired, 0)
        # the answer from its register, a cycle on, with the flash told to stop
        seen.append((ctx.get(dut.worker.answer.valid), ctx.get(dut.worker.answer.payload),
                     ctx.get(dut.again_stop)))
        await ctx.tick()
        seen.append((ctx.get(dut.worker.answer.valid), ctx.get(dut.worker.fault)))

    _run(dut, tb)
    assert seen == [(0, 1), (1, Status.WATCHDOG, 1), (0, 0)]


def test_image_buffer_streams_whole_images_and_a_replay_waits_for_the_one_before():
    # a network may answer before it takes an image's last pixels (a pooling that drops the
    # last rows): the next image's replay then comes while the buffer still streams, and
    # must wait for the end of that image rather than restart mid-image
    from hw.board.image_buffer import ImageBuffer
    pixels = 6
    dut = ImageBuffer(pixels=pixels)
    got = []

    async def write(ctx, image):
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        for value in image:
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, value)
            await ctx.tick()
        ctx.set(dut.i.valid, 0)

    async def tb(ctx):
        await write(ctx, [10, 11, 12, 13, 14, 15])
        ctx.set(dut.replay, 1)
        await ctx.tick()
        ctx.set(dut.replay, 0)
        # the consumer takes a pixel every third cycle; a replay comes after three pixels
        for cycle in range(80):
            ready = cycle % 3 == 0
            ctx.set(dut.o.ready, ready)
            if cycle == 7:
                ctx.set(dut.replay, 1)
            elif cycle == 8:
                ctx.set(dut.replay, 0)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid and ready:
                got.append((int(payload.data[0]), int(payload.last)))

    _run(dut, tb)
    # the first image whole, `last` on its sixth pixel, then the second replay: the same
    # (unchanged) image once more, and nothing after
    assert got == [(10 + k, k == pixels - 1) for k in range(pixels)] * 2


def _spi_bytes(bits):
    return [int("".join(map(str, bits[k:k + 8])), 2) for k in range(0, len(bits) - 7, 8)]


def test_test_image_reader_waits_for_a_self_test_then_fast_reads():
    # a design whose weights are in its bitstream (the ECP5 boards): the flash is woken, then
    # left alone (chip select high) until a self-test's `again`, which sends Fast Read, the
    # 24-bit address and a dummy byte (the SPI clock at 52.5 MHz is above Read Data's 50)
    dut = TestImageReader(offset=0x400010, wake_cycles=4)
    sent = {"wake": [], "read": []}

    async def tb(ctx):
        prev_clk, phase = 0, "wake"
        for cycle in range(400):
            if cycle == 100:
                assert ctx.get(dut.flash.cs_n) == 1   # awake and idle: no read yet
                ctx.set(dut.again, 1)
                phase = "read"
            elif cycle == 101:
                ctx.set(dut.again, 0)
            await ctx.tick()
            clk = ctx.get(dut.flash.clk)
            if clk and not prev_clk and not ctx.get(dut.flash.cs_n):
                sent[phase].append(ctx.get(dut.flash.copi))
            prev_clk = clk

    _run(dut, tb)
    assert _spi_bytes(sent["wake"]) == [0xAB]
    assert _spi_bytes(sent["read"])[:5] == [0x0B, 0x40, 0x00, 0x10, 0x00]


def test_spi_flash_reader_checks_its_arguments():
    for kwargs, message in [
            ({"offset": None}, "a reader without an offset (offset=None) reads only from "
                               "again_offset, which must then be given"),
            ({"offset": 0, "fast_read": 1}, "fast_read must be True or False, not 1"),
            ({"offset": 1 << 24}, r"offset must be an integer in [0, 2**24), not 16777216")]:
        try:
            SPIFlashReader(**kwargs)
        except ValueError as e:
            assert str(e) == message
        else:
            raise AssertionError(f"{kwargs} accepted")
