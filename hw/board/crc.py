"""CRC-32/MPEG-2, the checksum of the UART protocol's requests and answers
(``docs/protocol.md``): for the host (:func:`crc32`) and for the gateware (:class:`CRC32`),
from one definition.

Polynomial 0x04C11DB7, initial value 0xFFFFFFFF, bits most significant first, no final xor
(``crc32(b"123456789") == 0x0376E6E7``, the catalogue's check value). Appended most
significant byte first, it makes the CRC of the whole frame 0: the board checks a request so,
without keeping the received checksum. 32 bits rather than 16: a garbled request passes a
CRC-16 once in 65,536, which random traffic on the simulated board reaches (``sim.fuzz``).
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CRC_POLY", "CRC_INIT", "CRC_BYTES", "crc32", "crc32_bytes", "CRC32"]

CRC_POLY = 0x04C11DB7
CRC_INIT = 0xFFFFFFFF
#: Bytes of the CRC on the wire.
CRC_BYTES = 4
_MASK = (1 << 8 * CRC_BYTES) - 1


def _table():
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ (CRC_POLY if crc >> 31 else 0)) & _MASK
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc32(data, crc=CRC_INIT):
    """The CRC of ``data`` (bytes), continuing from ``crc``."""
    for byte in bytes(data):
        crc = ((crc << 8) & _MASK) ^ _TABLE[(crc >> 24) ^ byte]
    return crc


def crc32_bytes(data):
    """``data``'s CRC as it goes on the wire: four bytes, most significant first."""
    return crc32(data).to_bytes(CRC_BYTES, "big")


class CRC32(wiring.Component):
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
    value : Out(32)
        The CRC of the bytes taken since ``clear``, once ``busy`` is low.
    busy : Out(1)
    """

    def __init__(self):
        super().__init__({"clear": In(1), "start": In(1), "byte": In(8),
                          "value": Out(8 * CRC_BYTES, init=CRC_INIT), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        # the byte is copied at `start` and shifted out, most significant bit first: the
        # update then reads one flip-flop, not a multiplexer of the byte's bits (timing)
        shift = Signal(8)
        left = Signal(3)  # bits left after the one being taken
        top = 8 * CRC_BYTES - 1
        feedback = self.value[top] ^ shift[7]
        with m.If(self.clear):
            m.d.sync += [self.value.eq(CRC_INIT), self.busy.eq(0)]
        with m.Elif(self.start):
            m.d.sync += [shift.eq(self.byte), left.eq(7), self.busy.eq(1)]
        with m.Elif(self.busy):
            m.d.sync += [self.value.eq(Cat(0, self.value[:top]) ^ Mux(feedback, CRC_POLY, 0)),
                         shift.eq(shift << 1), left.eq(left - 1), self.busy.eq(left != 0)]
        return m
