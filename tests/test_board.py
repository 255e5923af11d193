# amaranth: UnusedElaboratable=no
"""The board top in simulation: an SPI flash holding the weights image that hw.build writes,
and a UART driven at the real bit timing."""

import numpy as np
import pytest

from board.flash_image import FlashImageError, make_image, parse_image
from board.protocol import (Command, ProtocolError, Response, Status, classify_request,
                            decode_response, encode_response, frame_bytes)
from board.top import BoardTop
from q8 import mnist, reference, weights
from sim.board import SimulatedBoard
from tests.netgen import random_network

TIMEOUT = 20_000  # cycles without a byte that end an image, shortened for simulation
CLASSES = 10  # the shipped network's
FRAME_BYTES = frame_bytes(CLASSES)


@pytest.fixture(scope="module")
def net():
    return weights.load()


def _top(net):
    return BoardTop(net, timeout_cycles=TIMEOUT)


async def _ask(link, data, wait=TIMEOUT * 2):
    await link.send(data)
    return decode_response(await link.receive(FRAME_BYTES, wait), classes=CLASSES)


async def _until_ready(link, limit=2_000_000):
    waited = 0
    while waited < limit:
        if (await _ask(link, bytes([Command.STATUS]))).status != Status.NOT_READY:
            return
        await link.wait(50_000)
        waited += 50_000
    raise AssertionError("the weights did not load")


def test_loads_classifies_and_resynchronises(net):
    top = _top(net)
    images = mnist.load(download=False).x_test[:3]
    rng = np.random.default_rng(0)

    async def script(link):
        seen = {"early": await _ask(link, bytes([Command.STATUS]))}
        await _until_ready(link)
        seen["ready_leds"] = link.leds()
        seen["results"] = [await _ask(link, classify_request(i.reshape(-1))) for i in images]
        # an unknown command
        seen["unknown"] = await _ask(link, b"\x00")
        # an image cut short: 100 pixels, then silence
        seen["cut"] = await _ask(link, classify_request(images[0].reshape(-1)[:100]))
        # random bytes: every answer is a whole frame; afterwards the board is in step
        await link.send(rng.integers(0, 256, 40, dtype=np.uint8).tobytes())
        await link.wait(TIMEOUT * 2)
        noise = await link.receive(FRAME_BYTES * 41, TIMEOUT * 2)
        seen["noise"] = [decode_response(noise[k:k + FRAME_BYTES], classes=CLASSES)
                         for k in range(0, len(noise), FRAME_BYTES)]
        seen["noise_bytes"] = len(noise)
        seen["after"] = await _ask(link, classify_request(images[1].reshape(-1)))
        return seen

    seen = SimulatedBoard(top, make_image(top.flash_words)).run(script)
    assert seen["early"].status == Status.NOT_READY
    assert seen["ready_leds"] == (1, 0)
    ref = reference.run(net, images)
    for result, cls, logits in zip(seen["results"], ref.classes, ref.logits):
        assert result.status == Status.OK
        assert result.cls == cls and result.logits == tuple(logits)
        assert 784 < result.cycles <= 6000
    assert seen["unknown"].status == Status.UNKNOWN_COMMAND
    assert seen["cut"].status == Status.TIMEOUT and seen["cut"].logits == (0,) * 10
    assert seen["noise_bytes"] % FRAME_BYTES == 0 and seen["noise"]
    assert all(r.status in (Status.UNKNOWN_COMMAND, Status.TIMEOUT, Status.OK)
               for r in seen["noise"])
    assert seen["after"].status == Status.OK and seen["after"].cls == ref.classes[1]


def test_corrupted_weights_never_classify():
    # a network with a small first dense layer: its flash image loads in a sixteenth of the
    # shipped one's time, and the CRC check is the same at any length
    top = _top(random_network(np.random.default_rng(3), dense=8))
    assert len(top.flash_words) == 338
    image = bytearray(make_image(top.flash_words))
    image[1000] ^= 0x10  # one payload bit: the CRC no longer matches

    async def script(link):
        await _until_ready(link)
        status = await _ask(link, bytes([Command.STATUS]))
        answer = await _ask(link, classify_request(bytes(784)))
        return status, answer, link.leds()

    status, answer, leds = SimulatedBoard(top, bytes(image)).run(script)
    assert status.status == Status.BAD_WEIGHTS
    assert answer.status == Status.BAD_WEIGHTS and answer.logits == (0,) * 10
    assert leds == (0, 1)


def test_missing_image_is_a_bad_header(net):
    top = _top(net)

    async def script(link):
        await _until_ready(link)
        return await _ask(link, bytes([Command.STATUS])), link.leds()

    status, leds = SimulatedBoard(top, b"\xff" * 64).run(script)  # erased flash
    assert status.status == Status.BAD_WEIGHTS and leds == (0, 1)


def test_flash_image_round_trip_and_errors():
    words = [0x0123456789ABCDEF, 0, 2 ** 64 - 1]
    image = make_image(words)
    assert parse_image(image, words=3) == words
    with pytest.raises(FlashImageError, match="CRC mismatch"):
        parse_image(image[:-1] + bytes([image[-1] ^ 1]))
    with pytest.raises(FlashImageError, match="the image has 3 words, the design expects 4"):
        parse_image(image, words=4)
    with pytest.raises(FlashImageError, match="bad magic"):
        parse_image(b"XXXX" + image[4:])
    with pytest.raises(FlashImageError, match="cut short"):
        parse_image(image[:30])


def test_protocol_frames():
    response = Response(status=Status.OK, cls=7, logits=(-19, -33, -11, 13, -53, -29, -99, 38,
                                                         -28, -1), cycles=5904)
    frame = encode_response(response)
    # the bytes on the wire, as docs/protocol.md lays them out for 10 classes
    body = bytes([0x5A, 0, 7]) + bytes(v & 0xFF for v in response.logits) + \
        (5904).to_bytes(4, "little")
    assert frame == body + bytes([np.bitwise_xor.reduce(np.frombuffer(body, np.uint8))])
    assert len(frame) == FRAME_BYTES == 18
    assert decode_response(frame, classes=CLASSES) == response
    with pytest.raises(ProtocolError, match="did not answer in time"):
        decode_response(frame[:5], classes=CLASSES)
    with pytest.raises(ProtocolError, match="did not answer in time"):
        decode_response(frame, classes=3)
    with pytest.raises(ProtocolError, match="out of step or garbled"):
        decode_response(b"\x00" + frame[1:], classes=CLASSES)
    with pytest.raises(ProtocolError, match="checksum is wrong"):
        decode_response(frame[:5] + bytes([frame[5] ^ 4]) + frame[6:], classes=CLASSES)
    assert classify_request(range(3)) == b"C\x00\x01\x02"
    three = Response(status=Status.TIMEOUT, cls=0, logits=(0, -1, 5), cycles=0)
    assert frame_bytes(3) == 11 and decode_response(encode_response(three), classes=3) == three
    with pytest.raises(ValueError, match="classes must be an integer of at least 2, not 1"):
        frame_bytes(1)


def test_framer_sends_the_layout_with_its_checksum():
    from amaranth.sim import Simulator
    from board.framer import ResponseFramer
    from sim.streams import stream_get
    dut = ResponseFramer(classes=3)
    response = Response(status=Status.OK, cls=2, logits=(-5, 0, 127), cycles=0x123456)
    got = []

    async def tb(ctx):
        for _ in range(2):  # twice: `start` rewinds
            ctx.set(dut.frame, {"magic": 0x5A, "status": 0, "cls": 2, "logits": [-5, 0, 127],
                                "cycles": 0x123456, "checksum": 0xEE})
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.send, 1)
            frame = []
            for _ in range(frame_bytes(3)):
                frame.append(await stream_get(ctx, dut.o, rng=np.random.default_rng(1),
                                              stall=0.3))
                assert ctx.get(dut.done) == 0
            ctx.set(dut.send, 0)
            got.append(bytes(frame))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got == [encode_response(response)] * 2


def test_component_parameter_messages():
    from board.framer import ResponseFramer
    from board.image_buffer import ImageBuffer
    from board.spi import SPIFlashReader
    with pytest.raises(ValueError, match="classes must be an integer of at least 2, not 1"):
        ResponseFramer(classes=1)
    with pytest.raises(ValueError, match="pixels must be an integer of at least 1, not 0"):
        ImageBuffer(pixels=0)
    with pytest.raises(ValueError, match=r"offset must be an integer in \[0, 2\*\*24\), not -1"):
        SPIFlashReader(offset=-1)
    with pytest.raises(ValueError, match="wake_cycles must be an integer of at least 1, not 0"):
        SPIFlashReader(offset=0, wake_cycles=0)


def test_flash_header_layout():
    from board.flash_image import HEADER, HEADER_BYTES, header_bytes
    assert HEADER_BYTES == 16 and list(HEADER.members)[-1] == "crc"
    assert header_bytes(words=3, crc=0x01020304) == \
        b"MNQ8" + bytes([1, 0, 8, 0, 3, 0, 0, 0, 4, 3, 2, 1])
