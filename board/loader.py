"""At power-up: read the weights image from SPI flash (``board.spi``), copy it into the weight
store, check its header and CRC."""

import enum

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hw.ice40 import SPRAMWeightStore
from hw.params import check_count
from hw.synthesis import one_hot
from .flash_image import CRC_BYTES, CRC_RESIDUE, HEADER_BYTES, WORD_BYTES, header_bytes
from .spi import SPIFlashPins, SPIFlashReader

__all__ = ["LoadStatus", "WeightLoader"]

_CRC_POLY = 0xEDB88320  # CRC-32 (zlib), reflected


class LoadStatus(enum.IntEnum):
    LOADING = 0
    READY = 1
    BAD_HEADER = 2   # magic, version, word size, word count or network wrong: no image, or
                     # another network's
    BAD_CRC = 3      # the payload does not match its CRC


class WeightLoader(wiring.Component):
    """Reads the weights image (``board.flash_image``) from SPI flash into a weight store.

    A :class:`board.spi.SPIFlashReader` streams the image's bytes. The header is checked a byte
    at a time against what this design expects (:data:`board.flash_image.HEADER`); each
    payload word is written to ``store`` as it completes; the CRC is computed a bit per cycle
    while the next byte arrives, over the words and then the image's CRC, which leaves it at
    :data:`board.flash_image.CRC_RESIDUE` when they agree. The words are in the store whatever
    the outcome; ``status`` says whether they may be used.

    Parameters
    ----------
    words : int
        The word count the design expects.
    network : int
        The network identifier the design expects (``board.flash_image.network_id``).
    offset : int
        The image's byte address in flash.
    wake_cycles : int

    Members
    -------
    flash : Out(SPIFlashPins())
    store : Out(SPRAMWeightStore.write_port(depth=words))
    status : Out(LoadStatus)
    """

    def __init__(self, *, words, network, offset, wake_cycles=150):
        check_count("words", words)
        if not isinstance(network, int) or not 0 <= network < 1 << 32:
            raise ValueError(f"network must be a 32-bit identifier, not {network!r}")
        self._words, self._network = words, network
        self._reader = SPIFlashReader(offset=offset, wake_cycles=wake_cycles)
        super().__init__({"flash": Out(SPIFlashPins()),
                          "store": Out(SPRAMWeightStore.write_port(depth=words)),
                          "status": Out(LoadStatus)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = self._reader
        wiring.connect(m, reader.flash, wiring.flipped(self.flash))
        byte_done, in_byte = reader.o.valid, reader.o.payload

        # `received` counts the header's bytes, each checked against what this design expects.
        expected = header_bytes(words=self._words, network=self._network)
        received = Signal(range(HEADER_BYTES + 1))
        # What the next byte must be and whether it is the header's last: registered every
        # cycle from `received`, ready long before the next byte (16 cycles apart), so the
        # lookups have a cycle of their own
        table = [Const(b, 8) for b in expected] + [Const(0, 8)]
        expected_byte = Signal(8)
        header_last = Signal()
        m.d.sync += [expected_byte.eq(Array(table)[received]),
                     header_last.eq(received == HEADER_BYTES - 1)]
        header_ok = Signal(init=1)
        trailer = Signal(range(CRC_BYTES))  # the CRC's bytes read
        half = Signal(16)
        lane = Signal(2)
        word_byte = Signal(range(WORD_BYTES))
        addr = Signal(range(self._words + 1))
        addr_last = Signal(init=self._words == 1)  # addr == words - 1
        crc = Signal(32, init=0xFFFFFFFF)
        crc_byte = Signal(8)
        crc_bits = Signal(range(9))
        # a word is written a 16-bit lane (two bytes) at a time: one SPRAM each
        m.d.comb += self.store.data.eq(Cat(half, half, half, half))

        # The CRC, one bit per cycle: a byte arrives every 16 cycles, its 8 bits take 8.
        with m.If(crc_bits != 0):
            m.d.sync += [crc.eq((crc >> 1) ^ Mux(crc[0] ^ crc_byte[0], _CRC_POLY, 0)),
                         crc_byte.eq(crc_byte >> 1), crc_bits.eq(crc_bits - 1)]

        crc_ok = Signal()  # registered: the 32-bit comparison gets a cycle of its own
        m.d.sync += crc_ok.eq(crc == CRC_RESIDUE)

        # A header byte is compared in the cycle `byte_done` shows it (it stays one more), and
        # the verdict lands a cycle later (timing): the Compare state waits for it.
        mismatch = Signal()
        compared = Signal()
        m.d.sync += [mismatch.eq(in_byte != expected_byte), compared.eq(byte_done)]
        with m.If(compared & mismatch):
            m.d.sync += header_ok.eq(0)

        with m.FSM() as fsm:
            with m.State("Header"):
                with m.If(byte_done):
                    m.d.sync += received.eq(received + 1)
                    with m.If(header_last):
                        m.next = "Compare"
            with m.State("Compare"):
                # the last byte's comparison lands in header_ok a cycle after this one
                m.next = "Check"
            with m.State("Check"):
                # the payload's first byte is on its way meanwhile
                with m.If(header_ok):
                    m.next = "Payload"
                with m.Else():
                    m.d.comb += reader.stop.eq(1)
                    m.next = "Abort"
            with m.State("Abort"):
                with m.If(byte_done):
                    m.d.sync += self.status.eq(LoadStatus.BAD_HEADER)
                    m.next = "Done"
            with m.State("Payload"):
                with m.If(byte_done):
                    m.d.sync += [half.eq(Cat(half[8:], in_byte)), word_byte.eq(word_byte + 1),
                                 crc_byte.eq(in_byte), crc_bits.eq(8)]
                    with m.If(word_byte[0]):  # the second byte of a lane
                        m.next = "Write"
            with m.State("Write"):
                # four cycles at most, well within the next byte's sixteen
                m.d.comb += [self.store.addr.eq(addr), self.store.en.eq(1 << lane)]
                m.d.sync += lane.eq(lane + 1)
                with m.If(lane == 3):
                    m.d.sync += [addr.eq(addr + 1), addr_last.eq(addr == self._words - 2)]
                with m.If((lane == 3) & addr_last):
                    m.next = "Trailer"
                with m.Else():
                    m.next = "Payload"
            with m.State("Trailer"):
                # the image's CRC, into the CRC like the words
                with m.If(byte_done):
                    m.d.sync += [crc_byte.eq(in_byte), crc_bits.eq(8), trailer.eq(trailer + 1)]
                    # the byte now arriving is the image's last: stop after it
                    with m.If(trailer == CRC_BYTES - 2):
                        m.d.comb += reader.stop.eq(1)
                    with m.If(trailer == CRC_BYTES - 1):
                        m.next = "Finish"
            with m.State("Finish"):
                with m.If(crc_bits == 0):  # the last byte's bits are in
                    m.next = "Verdict"
            with m.State("Verdict"):
                with m.If(crc_ok):
                    m.d.sync += self.status.eq(LoadStatus.READY)
                with m.Else():
                    m.d.sync += self.status.eq(LoadStatus.BAD_CRC)
                m.next = "Done"
            with m.State("Done"):
                pass
        one_hot(fsm)
        return m
