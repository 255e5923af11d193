"""A dense layer's input double buffer: one image arrives while the one before is read."""

from amaranth.hdl import Array, Cat, Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .params import check_count

__all__ = ["InputBanks"]


class InputBanks(wiring.Component):
    """Two banks of ``words`` transfers each: the writer fills one bank with an image's
    transfers, in order, while the reader reads the other at any address below its fill, then
    gives it back (``release``) for the image after next.

    Parameters
    ----------
    layout : data.StructLayout
        The transfers' payload; its ``data`` field is kept (the image's end is known from
        ``words``, so ``last`` is not).
    words : int
        Transfers per image.

    Members
    -------
    i : In(stream.Signature(layout))
        The images' transfers; ``ready`` is a register (no combinational path from the
        reader).
    addr : In(range(words))
        The transfer to read from the bank being read; ``data`` holds it a cycle later.
    data : Out(layout["data"].shape)
    filled, filled_other : Out(range(words + 1))
        Transfers in the bank being read, and in the other (the next to be read).
    release : In(1)
        Pulse when the bank being read is done with: the reader moves to the other bank.
    """

    def __init__(self, *, layout, words):
        if not isinstance(layout, data.StructLayout) or "data" not in layout.members:
            raise TypeError(f"layout must be a data.StructLayout with a 'data' field, "
                            f"not {layout!r}")
        check_count("words", words)
        self._words = words
        super().__init__({"i": In(stream.Signature(layout)), "addr": In(range(words)),
                          "data": Out(layout["data"].shape), "filled": Out(range(words + 1)),
                          "filled_other": Out(range(words + 1)), "release": In(1)})

    def elaborate(self, platform):
        m = Module()
        words = self._words
        # The bank is the top address bit, so addresses need no adder.
        bank_bits = max(1, (words - 1).bit_length())
        width = Shape.cast(self.data.shape()).width
        buf = m.submodules.mem = Memory(shape=unsigned(width), depth=2 << bank_bits, init=[])
        wr = buf.write_port()
        rd = buf.read_port()
        fill = Array(Signal(range(words + 1), name=f"fill_{b}") for b in range(2))
        write_bank = Signal()
        read_bank = Signal()
        # The writer keeps its own position and flags, so that its decisions need no
        # multiplexer over the banks' fills: `full[b]` says bank b holds a whole image.
        full = Signal(2)
        position = Signal(range(words))
        position_last = Signal(init=words == 1)   # position == words - 1
        # `ready` is a register, so that no chain of readys runs through the stages before:
        # it says whether the bank written next cycle has room. (A bank the reader frees in
        # the same cycle is seen a cycle later: safe.)
        ready = Signal()
        write = self.i.valid & ready
        completes = write & position_last
        m.d.comb += self.i.ready.eq(ready)
        m.d.sync += ready.eq(Mux(completes, ~full.bit_select(~write_bank, 1),
                                 write | ~full.bit_select(write_bank, 1)))
        m.d.comb += [wr.addr.eq(Cat(position[:bank_bits], write_bank)),
                     wr.data.eq(self.i.payload.data.as_value()), wr.en.eq(write)]
        with m.If(write):
            m.d.sync += fill[write_bank].eq(fill[write_bank] + 1)
            with m.If(completes):
                m.d.sync += [write_bank.eq(~write_bank), position.eq(0),
                             position_last.eq(words == 1), full.bit_select(write_bank, 1).eq(1)]
            with m.Else():
                m.d.sync += [position.eq(position + 1), position_last.eq(position == words - 2)]

        m.d.comb += [rd.addr.eq(Cat(self.addr[:bank_bits], read_bank)),
                     self.data.eq(rd.data),
                     self.filled.eq(fill[read_bank]), self.filled_other.eq(fill[~read_bank])]
        with m.If(self.release):
            m.d.sync += [fill[read_bank].eq(0), full.bit_select(read_bank, 1).eq(0),
                         read_bank.eq(~read_bank)]
        return m
