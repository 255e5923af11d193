# amaranth: UnusedElaboratable=no
"""The board top in simulation: an SPI flash holding the weights image that hw.build writes,
and a UART driven at the real bit timing."""

import numpy as np
import pytest

from board.flash_image import FlashImageError, make_image, parse_image
from board.protocol import (FRAME_BYTES, Command, ProtocolError, Response, Status,
                         classify_request, decode_response, encode_response)
from board.top import BoardTop
from q8 import mnist, reference, weights
from sim.board import SimulatedBoard

TIMEOUT = 20_000  # cycles without a byte that end an image, shortened for simulation


@pytest.fixture(scope="module")
def net():
    return weights.load()


def _top(net):
    return BoardTop(net, timeout_cycles=TIMEOUT)


async def _ask(link, data, wait=TIMEOUT * 2):
    await link.send(data)
    return decode_response(await link.receive(FRAME_BYTES, wait))


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
        seen["noise"] = [decode_response(noise[k:k + FRAME_BYTES])
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


def test_corrupted_weights_never_classify(net):
    top = _top(net)
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
    assert len(frame) == FRAME_BYTES and decode_response(frame) == response
    with pytest.raises(ProtocolError, match="did not answer in time"):
        decode_response(frame[:5])
    with pytest.raises(ProtocolError, match="out of step or garbled"):
        decode_response(b"\x00" + frame[1:])
    with pytest.raises(ProtocolError, match="checksum is wrong"):
        decode_response(frame[:5] + bytes([frame[5] ^ 4]) + frame[6:])
    assert classify_request(range(3)) == b"C\x00\x01\x02"
