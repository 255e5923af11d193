"""At power-up: read the weights image from SPI flash (``hw.board.spi``), copy it into the weight
store, and check it against the image the design was built with; or, for a design without
weights in flash, only wake the flash for the self-test's reads (:class:`TestImageReader`)."""

import enum
import zlib

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.vendor.ice40 import SPRAMWeightStore
from hw.lib.synthesis import one_hot
from hw.board.flash_image import CRC_BYTES, HEADER_BYTES, WORD_BYTES
from hw.board.spi import SPIFlashPins, SPIFlashReader

__all__ = ["LoadStatus", "WeightLoader", "TestImageReader"]

_CRC_POLY = 0xEDB88320  # CRC-32 (zlib), reflected


class LoadStatus(enum.IntEnum):
    LOADING = 0
    READY = 1
    BAD_IMAGE = 2    # not the image this design was built with: no image, a corrupt one, or
                     # another network's


def _lend_reader(m, owner, reader, loaded):
    """Lend ``reader``'s reads again (``again``) to ``owner``'s ``again``, ``again_stop``
    and ``data``, once ``loaded``."""
    # registered both ways: the consumer's logic and the reader's are not in one cycle
    # (timing)
    again = Signal()
    m.d.sync += [again.eq(owner.again & loaded),
                 owner.data.valid.eq(reader.o.valid & loaded),
                 owner.data.payload.eq(reader.o.payload)]
    m.d.comb += reader.again.eq(again)
    with m.If(owner.again_stop):
        m.d.comb += reader.stop.eq(1)


class WeightLoader(wiring.Component):
    """Reads the weights image (``hw.board.flash_image``) from SPI flash into a weight store.

    A :class:`hw.board.spi.SPIFlashReader` streams the image's bytes; each payload word is
    written to ``store`` as it completes. The whole image, header and CRC included, goes
    through a CRC-32 register a bit per cycle while the next byte arrives, and the register at
    the end must equal the one of ``image``, the image this design was built with: one 32-bit
    comparison checks every byte (magic, version, word count, the network's identifier, the
    words, their CRC), so that another network's weights, a corrupt image or none at all
    are refused, each with a chance of 2^-32 to pass. The words are in the store whatever the
    outcome; ``status`` says whether they may be used.

    Parameters
    ----------
    image : bytes
        The flash image the design expects (``hw.board.top.flash_image``).
    offset : int
        The image's byte address in flash.
    wake_cycles : int
    again_offset : int, optional
        Once the image is read, the flash may be read again from here on (the self-test's
        images, ``hw.board.top``).

    Members
    -------
    flash : Out(SPIFlashPins())
    store : Out(SPRAMWeightStore.write_port(depth=words))
        ``words``: the image's.
    status : Out(LoadStatus)
    again, again_stop : In(1)
        With ``again_offset``: :class:`hw.board.spi.SPIFlashReader`'s ``again`` (taken once the
        image is read) and ``stop``.
    data : Out(stream.Signature(8, always_ready=True))
        With ``again_offset``: the bytes read after the image.
    """

    def __init__(self, *, image, offset, wake_cycles=150, again_offset=None):
        image = bytes(image)
        words, rest = divmod(len(image) - HEADER_BYTES - CRC_BYTES, WORD_BYTES)
        if words < 1 or rest:
            raise ValueError(f"image must be a flash image (hw.board.flash_image.make_image) of at "
                             f"least one word, not {len(image)} bytes")
        self._words = words
        # the CRC register after every byte of the image (zlib's CRC before its final xor)
        self._expected = zlib.crc32(image) ^ 0xFFFFFFFF
        self._reader = SPIFlashReader(offset=offset, wake_cycles=wake_cycles,
                                      again_offset=again_offset)
        members = {"flash": Out(SPIFlashPins()),
                   "store": Out(SPRAMWeightStore.write_port(depth=words)),
                   "status": Out(LoadStatus)}
        if again_offset is not None:
            members.update({"again": In(1), "again_stop": In(1),
                            "data": Out(stream.Signature(8, always_ready=True))})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = self._reader
        wiring.connect(m, reader.flash, wiring.flipped(self.flash))
        byte_done, in_byte = reader.o.valid, reader.o.payload
        loaded = Signal()  # the image is read: later bytes are another read's (`again`)
        if "again" in self.signature.members:
            _lend_reader(m, self, reader, loaded)

        received = Signal(range(HEADER_BYTES))  # the header's bytes read
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
        with m.If(byte_done):
            m.d.sync += [crc_byte.eq(in_byte), crc_bits.eq(8)]
        with m.Elif(crc_bits != 0):
            m.d.sync += [crc.eq((crc >> 1) ^ Mux(crc[0] ^ crc_byte[0], _CRC_POLY, 0)),
                         crc_byte.eq(crc_byte >> 1), crc_bits.eq(crc_bits - 1)]

        crc_ok = Signal()  # registered: the 32-bit comparison gets a cycle of its own
        m.d.sync += crc_ok.eq(crc == self._expected)

        with m.FSM() as fsm:
            with m.State("Header"):
                with m.If(byte_done):
                    m.d.sync += received.eq(received + 1)
                    with m.If(received == HEADER_BYTES - 1):
                        m.next = "Payload"
            with m.State("Payload"):
                with m.If(byte_done):
                    m.d.sync += [half.eq(Cat(half[8:], in_byte)), word_byte.eq(word_byte + 1)]
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
                    m.d.sync += trailer.eq(trailer + 1)
                    # the byte now arriving is the image's last: stop after it
                    with m.If(trailer == CRC_BYTES - 2):
                        m.d.comb += reader.stop.eq(1)
                    with m.If(trailer == CRC_BYTES - 1):
                        m.next = "Finish"
            with m.State("Finish"):
                with m.If(crc_bits == 0):  # the last byte's bits are in
                    m.next = "Verdict"
            with m.State("Verdict"):
                # crc_ok has seen the register since the last bit went in
                with m.If(crc_ok):
                    m.d.sync += self.status.eq(LoadStatus.READY)
                with m.Else():
                    m.d.sync += self.status.eq(LoadStatus.BAD_IMAGE)
                m.next = "Done"
            with m.State("Done"):
                m.d.comb += loaded.eq(1)
        one_hot(fsm)
        return m


class TestImageReader(wiring.Component):
    """The flash of a design whose weights are all in its bitstream (the ECP5 boards): wakes
    it at power-up and reads nothing until a self-test reads its images, the same ports as
    :class:`WeightLoader`'s reads after the image, so that the self-test's sequencer
    (``hw.board.sequencer``) meets either. The reads are Fast Reads
    (:class:`hw.board.spi.SPIFlashReader`'s ``fast_read``): the ECP5 boards' 105 MHz makes an
    SPI clock of 52.5 MHz, above Read Data's 50 MHz.

    Parameters
    ----------
    offset : int
        Where each read starts: the first test record (past the test images' header).
    wake_cycles : int

    Members
    -------
    flash : Out(SPIFlashPins())
    again, again_stop, data : as :class:`WeightLoader`'s
    """

    __test__ = False   # not a pytest class, whatever its name

    def __init__(self, *, offset, wake_cycles=150):
        self._reader = SPIFlashReader(offset=None, wake_cycles=wake_cycles, again_offset=offset,
                                      fast_read=True)
        super().__init__({"flash": Out(SPIFlashPins()), "again": In(1), "again_stop": In(1),
                          "data": Out(stream.Signature(8, always_ready=True))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = self._reader
        wiring.connect(m, reader.flash, wiring.flipped(self.flash))
        # the reader takes `again` only once it is awake, in its Done state; a self-test
        # request comes far later than the wake-up's microseconds
        _lend_reader(m, self, reader, loaded=1)
        return m
