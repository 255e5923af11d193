"""A queue of one image's transfers in block RAM, before a folded convolution's windows."""

from amaranth.hdl import Module, Shape
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hw.lib.params import check_count
from hw.stages.kind import MemoryCost, StageCost

__all__ = ["QueueStage", "queue_cost"]


class QueueStage(wiring.Component):
    """Passes a stream through a first-in first-out queue of ``depth`` transfers
    (:class:`amaranth.lib.fifo.SyncFIFOBuffered`: its memory in block RAM, its output a
    register).

    Why: a folded convolution's :class:`~hw.stages.window.WindowStage` pauses its input while
    it reads a window out, and while the engine has no free input bank. Fed straight by
    another engine (the convolution before it, through a pooling), that pause would stall the
    engine before, which would then lose the time that the fit plan counts it as working;
    queued, the engine before runs at its own pace and the plan's times are the gateware's.
    With room for a whole image it never stalls within one.

    Parameters
    ----------
    shape : shape-like
        The payload.
    depth : int
        Transfers held.

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
    """

    #: Cycles from an input transfer to its output transfer when the queue is empty and the
    #: output ready: the write, then the read into the output register.
    LATENCY = 2

    def __init__(self, shape, *, depth):
        check_count("depth", depth)
        if depth < 2:
            raise ValueError(f"depth must be at least 2 (a memory and the output register), "
                             f"not {depth!r}")
        self._depth = depth
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self.i.payload.shape()).width
        fifo = m.submodules.fifo = SyncFIFOBuffered(width=width, depth=self._depth)
        m.d.comb += [fifo.w_data.eq(self.i.payload.as_value()), fifo.w_en.eq(self.i.valid),
                     self.i.ready.eq(fifo.w_rdy),
                     self.o.payload.as_value().eq(fifo.r_data), self.o.valid.eq(fifo.r_rdy),
                     fifo.r_en.eq(self.o.ready)]
        return m


def queue_cost(name, shape, depth):
    """The :class:`~hw.stages.kind.StageCost` of a :class:`QueueStage` of ``depth``
    transfers of ``shape`` named ``name``: its memory (``depth - 1`` entries; the output
    register holds one), the output register (bits, as a skid buffer's) and the counters."""
    width = Shape.cast(shape).width
    return StageCost(name=name, kind="queue", terms={"queue": 1, "queue_bit": width},
                     memories=(MemoryCost("queue", width, depth - 1, block=True),))
