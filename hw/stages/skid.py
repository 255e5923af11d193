"""A two-entry stream buffer whose ``ready`` is a register."""

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.stages.kind import StageCost

__all__ = ["SkidBuffer", "skid_cost"]


class SkidBuffer(wiring.Component):
    """Passes a stream through with one cycle of latency and no combinational path from
    ``o.ready`` to ``i.ready``, so that back-pressure does not run through a chain of stages
    in one clock cycle. Full throughput: a second entry catches the transfer that arrives while
    the output is stalled.

    Parameters
    ----------
    shape : shape-like
        The payload.

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
    """

    #: Cycles from an input transfer to its output transfer when the output is ready: the
    #: output is a register.
    LATENCY = 1

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        spare = Signal.like(self.o.payload)
        spare_full = Signal()
        m.d.comb += self.i.ready.eq(~spare_full)
        with m.If(self.o.valid & self.o.ready):
            # the output moves: refill it from the spare, or from the input, or empty it
            with m.If(spare_full):
                m.d.sync += [self.o.payload.eq(spare), spare_full.eq(0)]
            with m.Elif(self.i.valid):
                m.d.sync += self.o.payload.eq(self.i.payload)
            with m.Else():
                m.d.sync += self.o.valid.eq(0)
        with m.Elif(self.i.valid & self.i.ready):
            with m.If(self.o.valid):  # the output is stalled: keep this one aside
                m.d.sync += [spare.eq(self.i.payload), spare_full.eq(1)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(1)]
        return m


def skid_cost(name, shape):
    """The :class:`~hw.stages.kind.StageCost` of a :class:`SkidBuffer` of ``shape`` named
    ``name``: two entries of the payload (bits) and their multiplexer, and the flags."""
    return StageCost(name=name, kind="skid", terms={"skid": 1, "skid_bit": Shape.cast(shape).width})
