"""At power-up: wake the SPI flash, read the weights image, copy it into the weight store,
check its header and CRC."""

import enum

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .flash_image import HEADER_BYTES, MAGIC, VERSION, WORD_BYTES
from hw.ports import WritePort
from hw.params import check_count
from hw.synthesis import one_hot

__all__ = ["LoadStatus", "SPIFlashPins", "WeightLoader"]

_CRC_POLY = 0xEDB88320  # CRC-32 (zlib), reflected


class LoadStatus(enum.IntEnum):
    LOADING = 0
    READY = 1
    BAD_HEADER = 2   # magic, version, word size or word count wrong: no image, or another
    BAD_CRC = 3      # the payload does not match its CRC


class SPIFlashPins(wiring.Signature):
    """An SPI flash, seen from the controller: single-bit SPI, mode 0."""

    def __init__(self):
        super().__init__({"cs_n": Out(1, init=1), "clk": Out(1), "copi": Out(1),
                          "cipo": In(1)})


class WeightLoader(wiring.Component):
    """Reads the weights image (``board.flash_image``) from SPI flash into a weight store.

    Sends Release-from-Deep-Power-down (0xAB) and waits ``wake_cycles`` (the flash's tRES1, 3 us
    for the iCEBreaker's W25Q128), then Read Data (0x03) from ``offset``, with the SPI clock at
    half the system clock (24 MHz at 48 MHz, within Read Data's 50 MHz). Each payload word is
    written to ``store`` as it completes; the CRC is computed a bit per cycle while the next
    byte arrives. The words are in the store whatever the outcome; ``status`` says whether
    they may be used.

    Parameters
    ----------
    words : int
        The word count the design expects.
    offset : int
        The image's byte address in flash.
    wake_cycles : int

    Members
    -------
    flash : Out(SPIFlashPins())
    store : Out(WritePort(depth=words, width=64, lanes=4))
    status : Out(LoadStatus)
    """

    def __init__(self, *, words, offset, wake_cycles=150):
        check_count("words", words)
        check_count("offset", offset, minimum=0)
        check_count("wake_cycles", wake_cycles)
        self._words, self._offset, self._wake = words, offset, wake_cycles
        super().__init__({"flash": Out(SPIFlashPins()),
                          "store": Out(WritePort(depth=words, width=64, lanes=4)),
                          "status": Out(LoadStatus)})

    def elaborate(self, platform):
        m = Module()
        spi = self.flash

        # The SPI engine: while `running`, the clock toggles every cycle; each falling edge
        # shifts `out_bits` out (MSB first) and `in_byte` in, and `byte_done` pulses after
        # every eighth. It streams bytes until `stop` is set, then stops at the end of the
        # byte. The flash sees one continuous transaction: command, address, then the image.
        out_bits = Signal(32)
        bit_in_byte = Signal(3)
        in_byte = Signal(8)
        byte_done = Signal()
        running = Signal()
        stop = Signal()
        m.d.sync += byte_done.eq(0)
        with m.If(running):
            m.d.sync += spi.clk.eq(~spi.clk)  # rising edge: the flash samples copi
            with m.If(spi.clk):
                # falling edge: cipo has been stable for the whole high phase
                # MSB first: each bit enters at the bottom and moves up
                m.d.sync += [in_byte.eq(Cat(spi.cipo, in_byte[:7])),
                             out_bits.eq(out_bits << 1), bit_in_byte.eq(bit_in_byte + 1)]
                with m.If(bit_in_byte == 7):
                    m.d.sync += byte_done.eq(1)
                    with m.If(stop):
                        m.d.sync += running.eq(0)
        m.d.comb += spi.copi.eq(out_bits[31])

        # After Read Data, `received` counts the bytes: the 4 of the command and address
        # (what comes in meanwhile is not used), then the header, checked a byte at a time
        # against what this design expects; only its CRC field is kept.
        command_bytes = 4
        expected = MAGIC + VERSION.to_bytes(2, "little") + WORD_BYTES.to_bytes(2, "little") + \
            self._words.to_bytes(4, "little")
        received = Signal(range(command_bytes + HEADER_BYTES + 1))
        # What the next byte must be, whether it is checked, whether it is the CRC field's and
        # whether it is the header's last: registered every cycle from `received`, ready long
        # before the next byte (16 cycles apart), so the lookups have a cycle of their own
        table = [Const(0, 8)] * command_bytes + [Const(b, 8) for b in expected] + \
            [Const(0, 8)] * (HEADER_BYTES + 1 - len(expected))
        expected_byte = Signal(8)
        checking = Signal()
        crc_field = Signal()
        header_last = Signal()
        m.d.sync += [expected_byte.eq(Array(table)[received]),
                     checking.eq((received >= command_bytes) &
                                 (received < command_bytes + len(expected))),
                     crc_field.eq(received >= command_bytes + len(expected)),
                     header_last.eq(received == command_bytes + HEADER_BYTES - 1)]
        header_ok = Signal(init=1)
        field_crc = Signal(32)
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
        m.d.sync += crc_ok.eq(~crc == field_crc)

        # A header byte is compared in the cycle `byte_done` shows it (it stays one more), and
        # the verdict lands a cycle later (timing), far ahead of the Check state.
        mismatch = Signal()
        compared = Signal()
        m.d.sync += [mismatch.eq(checking & (in_byte != expected_byte)), compared.eq(byte_done)]
        with m.If(compared & mismatch):
            m.d.sync += header_ok.eq(0)

        wait = Signal(signed((self._wake + 1).bit_length() + 1))  # to -1: the sign ends it
        with m.FSM() as fsm:
            with m.State("Wake"):
                m.d.sync += [spi.cs_n.eq(0), out_bits.eq(0xAB << 24), running.eq(1),
                             stop.eq(1)]
                m.next = "Wake-Send"
            with m.State("Wake-Send"):
                with m.If(byte_done):
                    m.d.sync += [spi.cs_n.eq(1), wait.eq(self._wake - 1)]
                    m.next = "Wake-Wait"
            with m.State("Wake-Wait"):
                with m.If(~wait[-1]):
                    m.d.sync += wait.eq(wait - 1)
                with m.Else():
                    m.d.sync += [spi.cs_n.eq(0), out_bits.eq((0x03 << 24) | self._offset),
                                 running.eq(1), stop.eq(0)]
                    m.next = "Header"
            with m.State("Header"):
                with m.If(byte_done):
                    m.d.sync += received.eq(received + 1)
                    with m.If(crc_field):  # little-endian: it ends up at the bottom
                        m.d.sync += field_crc.eq(Cat(field_crc[8:], in_byte))
                    with m.If(header_last):
                        m.next = "Check"
            with m.State("Check"):
                # the payload's first byte is on its way meanwhile
                with m.If(header_ok):
                    m.next = "Payload"
                with m.Else():
                    m.d.sync += stop.eq(1)
                    m.next = "Abort"
            with m.State("Abort"):
                with m.If(byte_done):
                    m.d.sync += [spi.cs_n.eq(1), self.status.eq(LoadStatus.BAD_HEADER)]
                    m.next = "Done"
            with m.State("Payload"):
                with m.If(byte_done):
                    m.d.sync += [half.eq(Cat(half[8:], in_byte)), word_byte.eq(word_byte + 1),
                                 crc_byte.eq(in_byte), crc_bits.eq(8)]
                    # the byte now arriving is the image's last: stop after it
                    with m.If((word_byte == WORD_BYTES - 2) & addr_last):
                        m.d.sync += stop.eq(1)
                    with m.If(word_byte[0]):  # the second byte of a lane
                        m.next = "Write"
            with m.State("Write"):
                # four cycles at most, well within the next byte's sixteen
                m.d.comb += [self.store.addr.eq(addr), self.store.en.eq(1 << lane)]
                m.d.sync += lane.eq(lane + 1)
                with m.If(lane == 3):
                    m.d.sync += [addr.eq(addr + 1), addr_last.eq(addr == self._words - 2)]
                with m.If((lane == 3) & addr_last):
                    m.d.sync += spi.cs_n.eq(1)  # the engine stopped after the last byte
                    m.next = "Finish"
                with m.Else():
                    m.next = "Payload"
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
