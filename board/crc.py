"""CRC-16/CCITT-FALSE, the checksum of the UART protocol's requests and answers
(``docs/protocol.md``): for the host (:func:`crc16`) and for the gateware (:class:`CRC16`),
from one definition.

Polynomial 0x1021, initial value 0xFFFF, bits most significant first, no final xor (Python's
``binascii.crc_hqx(data, 0xFFFF)``; ``crc16(b"123456789") == 0x29B1``). Appended most
significant byte first, it makes the CRC of the whole frame 0: the board checks a request so,
without keeping the received checksum.
"""

import binascii

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CRC_POLY", "CRC_INIT", "crc16", "crc16_bytes", "CRC16"]

CRC_POLY = 0x1021
CRC_INIT = 0xFFFF


def crc16(data, crc=CRC_INIT):
    """The CRC of ``data`` (bytes), continuing from ``crc``."""
    return binascii.crc_hqx(bytes(data), crc)


def crc16_bytes(data):
    """``data``'s CRC as it goes on the wire: two bytes, most significant first."""
    return crc16(data).to_bytes(2, "big")


class CRC16(wiring.Component):
    """The CRC of a byte stream, a bit per cycle: eight cycles a byte, far less than a byte
    takes on the UART (ten bit times of at least four cycles), and a few flip-flops rather
    than a byte-wide xor network.

    Members
    -------
    clear : In(1)
        The CRC goes back to :data:`CRC_INIT` (and a byte in progress is dropped).
    start : In(1)
        Pulse: take ``byte`` into the CRC, its bits in the next eight cycles (no ``start``
        while ``busy``).
    byte : In(8)
    value : Out(16)
        The CRC of the bytes taken since ``clear``, once ``busy`` is low.
    busy : Out(1)
    """

    def __init__(self):
        super().__init__({"clear": In(1), "start": In(1), "byte": In(8),
                          "value": Out(16, init=CRC_INIT), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        # the byte is copied at `start` and shifted out, most significant bit first: the
        # update then reads one flip-flop, not a multiplexer of the byte's bits (timing)
        shift = Signal(8)
        left = Signal(3)  # bits left after the one being taken
        feedback = self.value[15] ^ shift[7]
        with m.If(self.clear):
            m.d.sync += [self.value.eq(CRC_INIT), self.busy.eq(0)]
        with m.Elif(self.start):
            m.d.sync += [shift.eq(self.byte), left.eq(7), self.busy.eq(1)]
        with m.Elif(self.busy):
            m.d.sync += [self.value.eq(Cat(0, self.value[:15]) ^ Mux(feedback, CRC_POLY, 0)),
                         shift.eq(shift << 1), left.eq(left - 1), self.busy.eq(left != 0)]
        return m
