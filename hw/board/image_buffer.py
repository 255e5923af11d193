"""The board's image buffer: pixels in as they arrive, out to the network once all are in."""

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.lib.params import check_count

__all__ = ["ImageBuffer"]


class ImageBuffer(wiring.Component):
    """One image's pixels in block RAM: written through ``i`` as they arrive, a byte at a time
    at the UART's pace, then read out through ``o`` at one pixel per cycle while the consumer
    takes them. The network so only ever sees whole images.

    Parameters
    ----------
    pixels : int
        Pixels (bytes) per image.

    Members
    -------
    i : In(stream.Signature(8, always_ready=True))
        Pixels of an image, in order; each is written in the cycle it is valid.
    restart : In(1)
        Pulse before an image's first pixel arrives on ``i``.
    i_last : Out(1)
        The next pixel on ``i`` is the image's last.
    replay : In(1)
        Pulse after an image's last pixel: ``o`` then streams the image once (after the
        image before, if it is still streaming).
    o : Out(stream.Signature(StructLayout({"data": ArrayLayout(unsigned(8), 1), "last": 1})))
        The image's pixels (the network's input, ``hw.lib.layouts.element_layout``), ``last`` on
        the last.
    """

    def __init__(self, *, pixels):
        check_count("pixels", pixels)
        self._pixels = pixels
        layout = data.StructLayout({"data": data.ArrayLayout(unsigned(8), 1), "last": 1})
        super().__init__({"i": In(stream.Signature(8, always_ready=True)), "restart": In(1),
                          "i_last": Out(1), "replay": In(1), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        pixels = self._pixels
        image = m.submodules.image = Memory(shape=8, depth=pixels, init=[])
        img_wr = image.write_port()
        img_rd = image.read_port()

        count = Signal(range(pixels + 1))        # the next pixel to write
        count_last = Signal()                    # count == pixels - 1
        fed = Signal(range(pixels + 1))          # the next pixel to read
        fed_last = Signal()                      # fed == pixels - 1
        feeding = Signal()                       # fed != pixels
        read_valid = Signal()                    # the read port holds a pixel not yet taken
        read_last = Signal()                     # ... and it is the image's last
        # the addresses and data do not depend on the state: only the enables do
        m.d.comb += [img_wr.addr.eq(count), img_wr.data.eq(self.i.payload),
                     img_rd.addr.eq(fed), self.i_last.eq(count_last)]

        with m.If(self.restart):
            m.d.sync += [count.eq(0), count_last.eq(pixels == 1)]
        with m.If(self.i.valid):
            m.d.comb += img_wr.en.eq(1)
            m.d.sync += [count.eq(count + 1), count_last.eq(count == pixels - 2)]

        # a read is issued when its result has somewhere to go, and waits in the read port
        # until taken
        taken = self.o.valid & self.o.ready
        issue = feeding & (~read_valid | taken)
        m.d.comb += [self.o.valid.eq(read_valid), self.o.payload.data[0].eq(img_rd.data),
                     self.o.payload.last.eq(read_last), img_rd.en.eq(issue)]
        # a replay while the image before is still streaming waits for its end: a network
        # may answer before it has taken an image's last pixels (a pooling that drops the
        # last rows), and it must still take them, or the next image would start mid-image
        pending = Signal()
        start = (self.replay | pending) & ~feeding & ~read_valid
        with m.If(start):
            m.d.sync += pending.eq(0)
        with m.Elif(self.replay):
            m.d.sync += pending.eq(1)
        with m.If(start):
            m.d.sync += [fed.eq(0), feeding.eq(1), fed_last.eq(pixels == 1)]
        with m.Elif(issue):
            m.d.sync += [fed.eq(fed + 1), fed_last.eq(fed == pixels - 2),
                         feeding.eq(~fed_last), read_valid.eq(1), read_last.eq(fed_last)]
        with m.Elif(taken):
            m.d.sync += read_valid.eq(0)
        return m
