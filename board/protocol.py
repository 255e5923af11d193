"""The UART protocol between a host and the board (``docs/protocol.md``), for both sides.

Host to board: one command byte; a classify command is followed by the image's pixel bytes
(row-major). Board to host: one response frame per command, always :data:`FRAME_BYTES` long.
"""

from dataclasses import dataclass
import enum
import functools
import operator

__all__ = ["Command", "Status", "FRAME_MAGIC", "FRAME_BYTES", "Response", "ProtocolError",
           "classify_request", "decode_response", "encode_response"]


class Command(enum.IntEnum):
    CLASSIFY = ord("C")   # followed by the pixels
    STATUS = ord("S")


class Status(enum.IntEnum):
    OK = 0
    NOT_READY = 1        # the weights are still being loaded from flash
    BAD_WEIGHTS = 2      # the flash image's header or CRC is wrong: the board never classifies
    UNKNOWN_COMMAND = 3
    TIMEOUT = 4          # the image was cut short: no byte for the timeout


FRAME_MAGIC = 0x5A
#: magic, status, class, logits, cycles (4 bytes, little-endian), checksum (xor of the rest)
FRAME_BYTES = 1 + 1 + 1 + 10 + 4 + 1
_CLASSES = 10


class ProtocolError(RuntimeError):
    """The bytes from the board do not form a valid response frame."""


@dataclass(frozen=True)
class Response:
    status: Status
    cls: int
    logits: tuple      # int8 logit codes
    cycles: int        # cycles of the inference, first pixel in to class out


def classify_request(pixels):
    """The bytes of a classify command for ``pixels`` (a sequence of 0..255)."""
    return bytes([Command.CLASSIFY]) + bytes(pixels)


def _xor(data):
    return functools.reduce(operator.xor, data, 0)


def encode_response(response):
    """A response as the board sends it (used by tests and documentation)."""
    body = bytes([FRAME_MAGIC, response.status, response.cls]) + \
        bytes(v & 0xFF for v in response.logits) + response.cycles.to_bytes(4, "little")
    return body + bytes([_xor(body)])


def decode_response(frame):
    """Check and decode a frame; raise :class:`ProtocolError` naming what is wrong."""
    frame = bytes(frame)
    if len(frame) != FRAME_BYTES:
        raise ProtocolError(f"a response is {FRAME_BYTES} bytes, got {len(frame)}: the board "
                            f"did not answer in time (is it programmed, and the baud rate "
                            f"right?)")
    if frame[0] != FRAME_MAGIC:
        raise ProtocolError(f"the response starts with {frame[0]:#04x}, not {FRAME_MAGIC:#04x}: "
                            f"the byte stream is out of step or garbled (check the baud rate)")
    if _xor(frame[:-1]) != frame[-1]:
        raise ProtocolError("the response's checksum is wrong: bytes were garbled on the line")
    try:
        status = Status(frame[1])
    except ValueError:
        raise ProtocolError(f"unknown status {frame[1]}") from None
    logits = tuple(b - 256 if b > 127 else b for b in frame[3:3 + _CLASSES])
    return Response(status=status, cls=frame[2], logits=logits,
                    cycles=int.from_bytes(frame[13:17], "little"))
