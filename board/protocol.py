"""The UART protocol between a host and the board (``docs/protocol.md``), for both sides.

Host to board: one command byte; a classify command is followed by the image's pixel bytes
(row-major). Board to host: one response frame per command, always
:func:`frame_bytes` ``(classes)`` long, laid out by :func:`response_layout`: the board's
gateware (``board.framer``) and the host's codec (:func:`encode_response`,
:func:`decode_response`) both read that one layout.
"""

from dataclasses import dataclass
import enum
import functools
import operator

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hw.params import check_count

__all__ = ["Command", "Status", "FRAME_MAGIC", "response_layout", "frame_bytes", "Response",
           "ProtocolError", "classify_request", "decode_response", "encode_response"]


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


def response_layout(classes):
    """The response frame for a network of ``classes`` logits, as the bytes go on the wire:
    field by field, each little-endian (a ``StructLayout`` packs its fields from bit 0, so
    byte ``k`` of the frame is bits ``8k .. 8k+7`` of a value of this layout).

    ``checksum`` is the xor of all the bytes before it.
    """
    check_count("classes", classes, minimum=2)
    return data.StructLayout({"magic": unsigned(8), "status": unsigned(8), "cls": unsigned(8),
                              "logits": data.ArrayLayout(signed(8), classes),
                              "cycles": unsigned(32), "checksum": unsigned(8)})


def frame_bytes(classes):
    """Bytes of a response frame for a network of ``classes`` logits."""
    return response_layout(classes).size // 8


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
    """A response as the board sends it (used by tests and documentation); the frame's size
    follows from the number of logits."""
    layout = response_layout(len(response.logits))
    fields = {"magic": FRAME_MAGIC, "status": int(response.status), "cls": response.cls,
              "logits": list(response.logits), "cycles": response.cycles, "checksum": 0}
    frame = layout.const(fields).as_value().value.to_bytes(layout.size // 8, "little")
    return frame[:-1] + bytes([_xor(frame[:-1])])


def decode_response(frame, *, classes):
    """Check and decode a frame of a network of ``classes`` logits; raise
    :class:`ProtocolError` naming what is wrong."""
    layout = response_layout(classes)
    frame = bytes(frame)
    if len(frame) != layout.size // 8:
        raise ProtocolError(f"a response is {layout.size // 8} bytes, got {len(frame)}: the "
                            f"board did not answer in time (is it programmed, and the baud "
                            f"rate right?)")
    if frame[0] != FRAME_MAGIC:
        raise ProtocolError(f"the response starts with {frame[0]:#04x}, not {FRAME_MAGIC:#04x}: "
                            f"the byte stream is out of step or garbled (check the baud rate)")
    if _xor(frame[:-1]) != frame[-1]:
        raise ProtocolError("the response's checksum is wrong: bytes were garbled on the line")
    fields = data.Const(layout, int.from_bytes(frame, "little"))
    try:
        status = Status(fields.status)
    except ValueError:
        raise ProtocolError(f"unknown status {fields.status}") from None
    return Response(status=status, cls=fields.cls,
                    logits=tuple(fields.logits[c] for c in range(classes)), cycles=fields.cycles)
