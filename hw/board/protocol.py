"""The UART protocol between a host and the board (``docs/protocol.md``), version 2, for both
sides.

Host to board, a request: command byte, sequence number, payload (a classify request's image,
row-major; nothing for a status request), then the CRC-32 (``hw.board.crc``) of all of them, most
significant byte first (:func:`request_bytes`, :func:`classify_request`,
:func:`status_request`). Board to host, an answer: always :func:`frame_bytes` ``(classes)``
long, laid out by :func:`response_layout`; it echoes the request's sequence number. The
board's gateware (``hw.board.top``, ``hw.board.framer``) and the host's codec
(:func:`encode_response`, :func:`decode_response`) read these definitions alike.
"""

from dataclasses import dataclass
import enum

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hw.lib.params import check_count
from hw.board.crc import CRC_BYTES, crc32, crc32_bytes

__all__ = ["PROTOCOL_VERSION", "Command", "Status", "RETRY", "FRAME_MAGIC", "SEQ_NONE",
           "response_layout", "frame_bytes", "request_bytes", "classify_request",
           "status_request", "self_test_request", "SELF_TEST_LAYOUT", "self_test_fields",
           "Response", "ProtocolError", "decode_response", "encode_response"]

PROTOCOL_VERSION = 2


class Command(enum.IntEnum):
    CLASSIFY = ord("C")   # followed by the pixels
    STATUS = ord("S")
    SELF_TEST = ord("T")  # followed by the number of test images (2 bytes, big-endian)


class Status(enum.IntEnum):
    OK = 0
    NOT_READY = 1        # the weights are still being loaded from flash
    BAD_WEIGHTS = 2      # the flash image is wrong (header, CRC, another network's): never OK
    UNKNOWN_COMMAND = 3  # the request's first byte is no command
    TIMEOUT = 4          # the request was cut short: no byte for the timeout
    BAD_CHECKSUM = 5     # the request's CRC is wrong: a byte was garbled or lost
    FRAMING = 6          # a byte's stop bit was low (noise, a break, a wrong baud rate)
    BUSY = 7             # bytes arrived while a whole request waited for its turn (more than
                         # one request beyond the one being answered)
    WATCHDOG = 8         # the network did not answer in time: the board classifies no more
    BAD_REQUEST = 9      # a self-test of no images, or of more than the board's flash holds
    OVERRUN = 10         # the self-test's images came from flash faster than the network took
                         # them: its counts are not to be trusted


#: The answers that a second try of the same request may turn into OK: the request, not the
#: board, was at fault (the host retries these once).
RETRY = frozenset({Status.UNKNOWN_COMMAND, Status.TIMEOUT, Status.BAD_CHECKSUM,
                   Status.FRAMING, Status.BUSY})

#: The first byte of every answer. Protocol version 1's answers began with 0x5A.
FRAME_MAGIC = 0xB2
_V1_MAGIC = 0x5A

#: The sequence number of an answer to bytes that carried none (an unknown command, a framing
#: error, bytes while busy): hosts number their requests from 1 to 255.
SEQ_NONE = 0


def response_layout(classes):
    """The answer frame for a network of ``classes`` logits, as the bytes go on the wire:
    field by field, each little-endian (a ``StructLayout`` packs its fields from bit 0, so
    byte ``k`` of the frame is bits ``8k .. 8k+7`` of a value of this layout), except ``crc``:
    the CRC-32 of all the bytes before it, most significant byte first.
    """
    check_count("classes", classes, minimum=2)
    return data.StructLayout({"magic": unsigned(8), "status": unsigned(8), "seq": unsigned(8),
                              "cls": unsigned(8), "logits": data.ArrayLayout(signed(8), classes),
                              "crc": data.ArrayLayout(unsigned(8), CRC_BYTES)})


def frame_bytes(classes):
    """Bytes of an answer frame for a network of ``classes`` logits."""
    return response_layout(classes).size // 8


class ProtocolError(RuntimeError):
    """The bytes from the board do not form a valid answer to the request."""


@dataclass(frozen=True)
class Response:
    status: Status
    seq: int           # the request's sequence number, or SEQ_NONE
    cls: int           # 0 unless a classification
    logits: tuple      # int8 logit codes; zeros unless a classification


def _check_seq(seq):
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= 255:
        raise ValueError(f"seq must be an integer in [1, 255] (0 marks answers to bytes "
                         f"without one), not {seq!r}")


def request_bytes(command, *, seq, payload=b""):
    """A request as it goes on the wire: command, ``seq``, ``payload``, CRC-32."""
    _check_seq(seq)
    body = bytes([command, seq]) + bytes(payload)
    return body + crc32_bytes(body)


def self_test_request(count, *, seq):
    """A request to run the first ``count`` of the self-test's images in flash (1 to 65,535)
    through the network on the board."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count < 1 << 16:
        raise ValueError(f"count must be an integer in [1, 65535], not {count!r}")
    return request_bytes(Command.SELF_TEST, seq=seq, payload=count.to_bytes(2, "big"))


#: A self-test answer's fields, in place of a classification's class and logits (it needs a
#: network of at least 9 classes, as MNIST's 10): the images classified as their labels, the
#: cycles from the first image's request to the flash to the last result, and the CRC-32
#: (``hw.board.crc``) of the records read, which the host compares with the test images it
#: knows.
SELF_TEST_LAYOUT = data.StructLayout({"correct": unsigned(16), "cycles": unsigned(32),
                                      "data_crc": unsigned(32)})


def self_test_fields(response):
    """The :data:`SELF_TEST_LAYOUT` fields of a self-test answer, as a dict."""
    body = bytes([response.cls]) + bytes(v & 0xFF for v in response.logits)
    if len(body) * 8 < SELF_TEST_LAYOUT.size:
        raise ProtocolError(f"a self-test answer needs {SELF_TEST_LAYOUT.size // 8} bytes in "
                            f"place of the class and logits, this network's answer has "
                            f"{len(body)}")
    value = data.Const(SELF_TEST_LAYOUT, int.from_bytes(body, "little") &
                       ((1 << SELF_TEST_LAYOUT.size) - 1))
    return {"correct": value.correct, "cycles": value.cycles, "data_crc": value.data_crc}


def classify_request(pixels, *, seq):
    """A classify request for ``pixels`` (a sequence of 0..255)."""
    return request_bytes(Command.CLASSIFY, seq=seq, payload=bytes(pixels))


def status_request(*, seq):
    return request_bytes(Command.STATUS, seq=seq)


def encode_response(response):
    """An answer as the board sends it (for tests and documentation); the frame's size
    follows from the number of logits."""
    layout = response_layout(len(response.logits))
    fields = {"magic": FRAME_MAGIC, "status": int(response.status), "seq": response.seq,
              "cls": response.cls, "logits": list(response.logits),
              "crc": [0] * CRC_BYTES}
    frame = layout.const(fields).as_value().value.to_bytes(layout.size // 8, "little")
    return frame[:-CRC_BYTES] + crc32_bytes(frame[:-CRC_BYTES])


def decode_response(frame, *, classes):
    """Check and decode an answer of a network of ``classes`` logits; raise
    :class:`ProtocolError` naming what is wrong."""
    layout = response_layout(classes)
    frame = bytes(frame)
    if len(frame) != layout.size // 8:
        raise ProtocolError(f"an answer is {layout.size // 8} bytes, got {len(frame)}: the "
                            f"board did not answer in time (is it programmed, and the baud "
                            f"rate right?)")
    if frame[0] == _V1_MAGIC:
        raise ProtocolError("the board speaks protocol version 1 (its answer starts with "
                            f"{_V1_MAGIC:#04x}); this host speaks version {PROTOCOL_VERSION}: "
                            "rebuild and program the board (`python -m hw.build --program`)")
    if frame[0] != FRAME_MAGIC:
        raise ProtocolError(f"the answer starts with {frame[0]:#04x}, not {FRAME_MAGIC:#04x}: "
                            f"the byte stream is out of step or garbled (check the baud rate)")
    if crc32(frame):
        raise ProtocolError("the answer's CRC is wrong: bytes were garbled on the line")
    fields = data.Const(layout, int.from_bytes(frame, "little"))
    try:
        status = Status(fields.status)
    except ValueError:
        raise ProtocolError(f"unknown status {fields.status}") from None
    return Response(status=status, seq=fields.seq, cls=fields.cls,
                    logits=tuple(fields.logits[c] for c in range(classes)))
