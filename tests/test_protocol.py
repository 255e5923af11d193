# amaranth: UnusedElaboratable=no
"""The protocol's definitions and the board's small parts, against hand-computed values: the
CRC (Python and gateware), the request and answer codecs, the framer, the flash image."""

import zlib

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.board.crc import CRC32, crc32, crc32_bytes
from hw.board.flash_image import (FlashImageError, HEADER_BYTES, header_bytes,
                               make_image, network_id, parse_image)
from hw.board.link import Link, LinkError
from hw.board.protocol import (FRAME_MAGIC, SEQ_NONE, Command, ProtocolError, Response, Status,
                            classify_request, decode_response, encode_response, frame_bytes,
                            request_bytes, status_request)
from sim.streams import stream_get
from tests.netgen import random_network

CLASSES = 10


def _crc_by_definition(data):
    """CRC-32/MPEG-2 a bit at a time, straight from its definition (the module uses a table)."""
    crc = 0xFFFFFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            feedback = (crc >> 31) ^ (byte >> bit & 1)
            crc = ((crc << 1) & 0xFFFFFFFF) ^ (0x04C11DB7 if feedback else 0)
    return crc


def test_crc_is_mpeg2():
    assert crc32(b"123456789") == 0x0376E6E7  # the catalogue's check value
    for data in (b"", b"\x00", bytes(range(256)), b"S\x01"):
        assert crc32(data) == _crc_by_definition(data)
        assert crc32(data + crc32_bytes(data)) == 0  # appended, the whole is 0


def test_crc_unit_matches_python():
    dut = CRC32()
    data = bytes(np.random.default_rng(0).integers(0, 256, 40, dtype=np.uint8))
    seen = []

    async def tb(ctx):
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        for k, byte in enumerate(data):
            ctx.set(dut.byte, byte)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick().until(~dut.busy)
            seen.append(ctx.get(dut.value))
            ctx.set(dut.byte, 0xA5)  # after busy falls the byte is no longer read
        ctx.set(dut.clear, 1)
        await ctx.tick()
        seen.append(ctx.get(dut.value))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert seen[:-1] == [_crc_by_definition(data[:k + 1]) for k in range(len(data))]
    assert seen[-1] == 0xFFFFFFFF


def test_requests_on_the_wire():
    assert status_request(seq=7) == b"S\x07" + crc32_bytes(b"S\x07")
    request = classify_request(range(3), seq=255)
    assert request[:5] == b"C\xff\x00\x01\x02" and crc32(request) == 0
    assert request_bytes(0x58, seq=1) == b"X\x01" + crc32_bytes(b"X\x01")
    for seq in (0, 256, -1, True, 1.0):
        with pytest.raises(ValueError, match="seq must be an integer in \\[1, 255\\]"):
            status_request(seq=seq)


def test_answers_on_the_wire():
    response = Response(status=Status.OK, seq=9, cls=7,
                        logits=(-19, -33, -11, 13, -53, -29, -99, 38, -28, -1))
    frame = encode_response(response)
    # the bytes, as docs/protocol.md lays them out for 10 classes
    body = bytes([0xB2, 0, 9, 7]) + bytes(v & 0xFF for v in response.logits)
    assert frame == body + crc32_bytes(body)
    assert len(frame) == frame_bytes(CLASSES) == 18 and FRAME_MAGIC == 0xB2
    assert decode_response(frame, classes=CLASSES) == response
    with pytest.raises(ProtocolError, match="did not answer in time"):
        decode_response(frame[:5], classes=CLASSES)
    with pytest.raises(ProtocolError, match="did not answer in time"):
        decode_response(frame, classes=3)
    with pytest.raises(ProtocolError, match="out of step or garbled"):
        decode_response(b"\x00" + frame[1:], classes=CLASSES)
    with pytest.raises(ProtocolError, match="protocol version 1"):
        decode_response(b"\x5a" + frame[1:], classes=CLASSES)
    for k in range(1, len(frame)):  # any garbled byte
        garbled = frame[:k] + bytes([frame[k] ^ 0x10]) + frame[k + 1:]
        with pytest.raises(ProtocolError, match="CRC is wrong"):
            decode_response(garbled, classes=CLASSES)
    bad = body[:1] + b"\x63" + body[2:]
    with pytest.raises(ProtocolError, match="unknown status 99"):
        decode_response(bad + crc32_bytes(bad), classes=CLASSES)
    three = Response(status=Status.TIMEOUT, seq=SEQ_NONE, cls=0, logits=(0, -1, 5))
    assert frame_bytes(3) == 11 and decode_response(encode_response(three), classes=3) == three
    with pytest.raises(ValueError, match="classes must be an integer of at least 2, not 1"):
        frame_bytes(1)


def test_framer_sends_the_layout_with_its_crc():
    from hw.board.framer import ResponseFramer
    m = Module()
    m.submodules.framer = dut = ResponseFramer(classes=3, blanked=("cls", "logits"))
    m.submodules.crc = crc = CRC32()
    m.d.comb += [dut.crc.eq(crc.value), dut.crc_busy.eq(crc.busy), crc.byte.eq(dut.o.payload),
                 crc.start.eq(dut.crc_take), crc.clear.eq(dut.start)]
    got = []

    async def tb(ctx):
        for blank in (0, 1, 0):  # `start` rewinds
            ctx.set(dut.frame, {"magic": FRAME_MAGIC, "status": 0, "seq": 42, "cls": 2,
                                "logits": [-5, 0, 127], "crc": [0xEE] * 4})
            ctx.set(dut.blank, blank)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.send, 1)
            frame = []
            for _ in range(frame_bytes(3)):
                assert ctx.get(dut.done) == 0
                frame.append(await stream_get(ctx, dut.o, rng=np.random.default_rng(1),
                                              stall=0.3))
            ctx.set(dut.o.ready, 1)
            for _ in range(20):  # done from the cycle after the last byte, and nothing more
                await ctx.tick()
                assert ctx.get(dut.done) == 1 and ctx.get(dut.o.valid) == 0
            ctx.set(dut.send, 0)
            got.append(bytes(frame))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    full = encode_response(Response(status=Status.OK, seq=42, cls=2, logits=(-5, 0, 127)))
    blanked = encode_response(Response(status=Status.OK, seq=42, cls=0, logits=(0, 0, 0)))
    assert got == [full, blanked, full]
    with pytest.raises(ValueError, match=r"blanked fields \['cycles'\] are not in the frame"):
        ResponseFramer(classes=3, blanked=("cycles",))


class _Wire:
    """A transport that answers each request with the next of ``answers`` (bytes)."""

    def __init__(self, answers):
        self.answers, self.sent, self.discarded = list(answers), [], 0

    def write(self, data):
        self.sent.append(bytes(data))

    def read(self, count):
        return self.answers.pop(0)[:count] if self.answers else b""

    def discard(self):
        self.discarded += 1


def _answer(status, seq, cls=0):
    return encode_response(Response(status=status, seq=seq, cls=cls, logits=(cls,) * CLASSES))


def test_link_numbers_checks_and_retries_once():
    pixels = bytes(range(200)) * 4
    wire = _Wire([_answer(Status.OK, 1, cls=3)])
    link = Link(wire, classes=CLASSES)
    assert link.classify(pixels[:784]).cls == 3
    assert wire.sent == [classify_request(pixels[:784], seq=1)]
    # an error a second try may cure: sent again once, with the next number, after the quiet
    wire = _Wire([_answer(Status.BUSY, SEQ_NONE), _answer(Status.OK, 2, cls=4)])
    link = Link(wire, classes=CLASSES)
    assert link.classify(bytes(784)).cls == 4 and link.retried == 1 and wire.discarded == 1
    assert [request[1] for request in wire.sent] == [1, 2]
    # an OK answer to another request (stale) is never taken; nor twice
    wire = _Wire([_answer(Status.OK, 7, cls=1), _answer(Status.OK, 8, cls=1)])
    with pytest.raises(ProtocolError, match="sequence number 8, the request 2"):
        Link(wire, classes=CLASSES).classify(bytes(784))
    # garbled, then right
    good = _answer(Status.OK, 2, cls=5)
    wire = _Wire([good[:3] + b"\x00" + good[4:], good])
    assert Link(wire, classes=CLASSES).classify(bytes(784)).cls == 5
    # a refusal that a retry cannot cure is not retried
    wire = _Wire([_answer(Status.BAD_WEIGHTS, 1)])
    with pytest.raises(LinkError, match="BAD_WEIGHTS: .*another network"):
        Link(wire, classes=CLASSES).classify(bytes(784))
    assert len(wire.sent) == 1
    # numbers run 1..255 and wrap to 1, never 0
    wire = _Wire([_answer(Status.OK, k % 255 + 1) for k in range(256)])
    link = Link(wire, classes=CLASSES)
    assert [link.request(Command.STATUS).seq for _ in range(256)][-2:] == [255, 1]


def test_flash_image_round_trip_and_errors():
    words = [0x0123456789ABCDEF, 0, 2 ** 64 - 1]
    image = make_image(words, network=0x12345678)
    payload = image[HEADER_BYTES:-4]
    assert image[-4:] == zlib.crc32(payload).to_bytes(4, "little")
    assert parse_image(image, words=3, network=0x12345678) == words
    with pytest.raises(FlashImageError, match="CRC mismatch"):
        parse_image(image[:-1] + bytes([image[-1] ^ 1]))
    with pytest.raises(FlashImageError, match="the image has 3 words, the design expects 4"):
        parse_image(image, words=4)
    with pytest.raises(FlashImageError, match="made for network 0x12345678, the design runs "
                                              "0x12345679"):
        parse_image(image, network=0x12345679)
    with pytest.raises(FlashImageError, match="bad magic"):
        parse_image(b"XXXX" + image[4:])
    with pytest.raises(FlashImageError, match="cut short"):
        parse_image(image[:-1])
    # the loader's check: its CRC register (reflected, a bit at a time, as hw.board.loader
    # computes it) over the whole image is the constant it compares with
    crc = 0xFFFFFFFF
    for byte in image:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    assert crc == zlib.crc32(image) ^ 0xFFFFFFFF


def test_flash_header_layout():
    assert HEADER_BYTES == 16
    assert header_bytes(words=3, network=0x01020304) == \
        b"MNQ8" + bytes([2, 0, 8, 0, 3, 0, 0, 0, 4, 3, 2, 1])


def test_network_id_tells_networks_apart():
    rng = np.random.default_rng(5)
    a = random_network(rng, dense=8)
    b = random_network(rng, dense=8)
    words = [1, 2, 3]
    assert network_id(a, words) == network_id(a, list(words))
    assert network_id(a, words) != network_id(b, words)  # same shapes, other parameters
    assert network_id(a, words) != network_id(a, [1, 2, 4])  # same network, other words
    renamed = type(a)(input_shape=a.input_shape, input=a.input, layers=a.layers,
                      params=a.params, provenance={"note": "another provenance"})
    assert network_id(renamed, words) == network_id(a, words)  # provenance does not count


def test_self_test_request_and_answer_fields():
    from hw.board.protocol import SELF_TEST_LAYOUT, self_test_fields, self_test_request
    assert self_test_request(300, seq=4)[:4] == b"T\x04\x01\x2c"
    assert crc32(self_test_request(300, seq=4)) == 0
    for count in (0, 1 << 16, 2.0):
        with pytest.raises(ValueError, match="count must be an integer in"):
            self_test_request(count, seq=1)
    # the fields in place of the class and logits, little-endian as the frame's
    body = (9_812).to_bytes(2, "little") + (123_456_789).to_bytes(4, "little") + \
        (0xDEADBEEF).to_bytes(4, "little") + b"\0"
    response = Response(status=Status.OK, seq=4, cls=body[0],
                        logits=tuple(int.from_bytes(body[k:k + 1], "little", signed=True)
                                     for k in range(1, 11)))
    assert SELF_TEST_LAYOUT.size == 80
    assert self_test_fields(response) == {"correct": 9_812, "cycles": 123_456_789,
                                          "data_crc": 0xDEADBEEF}
    with pytest.raises(ProtocolError, match="a self-test answer needs 10 bytes"):
        self_test_fields(Response(status=Status.OK, seq=4, cls=0, logits=(0, 0)))
