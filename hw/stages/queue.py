"""A queue of transfers in block RAM (an image's, or fewer), before a folded convolution's
windows."""

from amaranth.hdl import Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.lib.params import check_count
from hw.stages.kind import MemoryCost, StageCost
from hw.stages.skid import SkidBuffer

__all__ = ["QueueStage", "entries", "queue_cost"]


class QueueStage(wiring.Component):
    """Passes a stream through a first-in first-out queue of at least ``depth`` transfers:
    a memory (block RAM) of the next power of two entries, its output a register.

    Why: a folded convolution's :class:`~hw.stages.window.WindowStage` pauses its input while
    it reads a window out, and while the engine has no free input bank. Fed straight by
    another engine (the convolution before it, through a pooling), that pause would stall the
    engine before, which would then lose the time that the fit plan counts it as working;
    queued, the engine before runs at its own pace and the plan's times are the gateware's.
    With room for a whole image it never stalls within one.

    Its ``ready`` and its empty flag are registers, kept from the count of entries (timing:
    the stages' chain of readys then starts here; a comparison of the count there was
    LeNet-5's critical path), and the memory's entries a power of two, so that its addresses
    wrap with no comparison (logic cells: ``amaranth.lib.fifo.SyncFIFOBuffered`` took about
    twice as many).

    Parameters
    ----------
    shape : shape-like
        The payload.
    depth : int
        Transfers held at least.
    registered : bool
        The memory's output into a register (a :class:`~hw.stages.skid.SkidBuffer`) before
        the stage after: the ECP5's block RAM is slow to its output (about 6 ns: the
        ULX3S-85F's critical path, into the window stage's counters), the iCE40's is not.
    image : int or None
        The transfers of an image, for a queue shorter than one: its memory then holds the
        payload without its ``last`` bit, which the output makes again by counting
        (``shape`` must be a :func:`hw.lib.layouts.element_layout`). Why: the codes alone are
        a block RAM's width on the iCE40 (8 bits), and the bit more would take a block RAM
        more (the keras.io convnet's queue on the UP5K: 3 where 2 are left). A whole image's
        queue keeps storing it (the designs built with it stay as they were).

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
    """

    #: Cycles from an input transfer to its output transfer when the queue is empty and the
    #: output ready: the write, then the read into the output register.
    LATENCY = 2

    def __init__(self, shape, *, depth, registered=False, image=None):
        check_count("depth", depth)
        if not isinstance(registered, bool):
            raise ValueError(f"registered must be True or False, not {registered!r}")
        if image is not None:
            check_count("image", image)
            if not (isinstance(shape, data.StructLayout) and "last" in shape.members):
                raise ValueError(f"a queue that counts its images' transfers needs a payload "
                                 f"with a `last` bit, not {shape!r}")
        self._depth, self._registered, self._image = entries(depth), registered, image
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    @staticmethod
    def latency(registered):
        """:attr:`LATENCY`, and the output register's cycle if ``registered``."""
        return QueueStage.LATENCY + registered * SkidBuffer.LATENCY

    @property
    def depth(self):
        """Transfers held: the memory's entries."""
        return self._depth

    def elaborate(self, platform):
        m = Module()
        size = self._depth
        bits = size.bit_length() - 1
        stored = self.i.payload.data.as_value() if self._image else self.i.payload.as_value()
        mem = m.submodules.memory = Memory(shape=len(stored), depth=size, init=[])
        wr, rd = mem.write_port(), mem.read_port()
        out = self.o
        if self._registered:
            skid = m.submodules.output = SkidBuffer(self.o.payload.shape())
            wiring.connect(m, skid.o, wiring.flipped(self.o))
            out = skid.i
        head, tail = Signal(bits), Signal(bits)   # wrap by themselves: size is 2 ** bits
        count = Signal(range(size + 1))
        full, empty = Signal(), Signal(init=1)
        write = self.i.valid & ~full
        advance = ~out.valid | out.ready
        read = advance & ~empty
        m.d.comb += [self.i.ready.eq(~full),
                     wr.addr.eq(head), wr.data.eq(stored), wr.en.eq(write),
                     rd.addr.eq(tail), rd.en.eq(read)]
        if self._image:
            # `last` made again as the entry is read into the output: a register, as the
            # memory's output is
            position, last = Signal(range(self._image)), Signal()
            at_end = position == self._image - 1
            m.d.comb += [out.payload.data.as_value().eq(rd.data), out.payload.last.eq(last)]
            with m.If(read):
                m.d.sync += [last.eq(at_end), position.eq(Mux(at_end, 0, position + 1))]
        else:
            m.d.comb += out.payload.as_value().eq(rd.data)
        with m.If(write):
            m.d.sync += head.eq(head + 1)
        with m.If(read):
            m.d.sync += tail.eq(tail + 1)
        with m.If(advance):
            m.d.sync += out.valid.eq(~empty)
        # the count and its flags: each next value computed from the registers alone and
        # picked by the transfers (timing: no adder or comparison after the late ready)
        with m.If(write & ~read):
            m.d.sync += [count.eq(count + 1), full.eq(count == size - 1), empty.eq(0)]
        with m.Elif(read & ~write):
            m.d.sync += [count.eq(count - 1), full.eq(0), empty.eq(count == 1)]
        return m


def entries(depth):
    """The entries of a :class:`QueueStage` for ``depth`` transfers: the next power of two."""
    return 1 << max(1, (depth - 1).bit_length())


def queue_cost(name, shape, depth, registered=False, image=None):
    """The :class:`~hw.stages.kind.StageCost` of a :class:`QueueStage` of ``depth`` transfers
    of ``shape`` named ``name``: its memory, the output's data (bits) and the addresses, the
    count and its flags; ``registered``, its skid buffer's; counting an ``image``'s
    transfers, the memory a bit narrower and the position's counter (its bits, at the rate of
    the data's: a register and a little logic each)."""
    width = Shape.cast(shape).width
    stored, count = (width - 1, (image - 1).bit_length() + 1) if image else (width, 0)
    extra = {"skid": 1, "skid_bit": width} if registered else {}
    return StageCost(name=name, kind="queue",
                     terms={"queue": 1, "queue_bit": stored + count, **extra},
                     memories=(MemoryCost("queue", stored, entries(depth), block=True),))
