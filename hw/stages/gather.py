"""A folded layer's groups of outputs gathered into one transfer per position."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.layouts import element_layout
from hw.lib.params import check_count

__all__ = ["GatherStage"]


class GatherStage(wiring.Component):
    """``groups`` transfers of ``lanes`` codes (a folded convolution's output channels for one
    position, a group at a time) into one transfer of the ``count`` channels, as an image
    stage takes them; codes past ``count`` in the last group are dropped.

    The input's ``last`` marks each position's last group (the engine's), so the image's
    ``last`` is counted: set on every ``positions``-th transfer out.

    Parameters
    ----------
    lanes, count, positions : int
    fmt : q8.contract.Format

    Members
    -------
    i : In(stream.Signature(element_layout(lanes, fmt)))
    o : Out(stream.Signature(element_layout(count, fmt)))
    """

    def __init__(self, *, lanes, count, positions, fmt):
        for name, value in (("lanes", lanes), ("count", count), ("positions", positions)):
            check_count(name, value)
        self._lanes, self._count, self._positions = lanes, count, positions
        self._groups = -(-count // lanes)
        super().__init__({"i": In(stream.Signature(element_layout(lanes, fmt))),
                          "o": Out(stream.Signature(element_layout(count, fmt)))})

    @property
    def groups(self):
        return self._groups

    def elaborate(self, platform):
        lanes, groups, positions = self._lanes, self._groups, self._positions
        m = Module()
        width = 8 * lanes
        held = [Signal(width, name=f"held_{g}") for g in range(groups - 1)]
        group = Signal(range(groups))
        position = Signal(range(positions))
        # the input waits while a position is out and not taken (a register: no ready chain)
        m.d.comb += self.i.ready.eq(~self.o.valid)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        data = self.i.payload.data.as_value()
        with m.If(self.i.valid & ~self.o.valid):
            for g in range(groups - 1):
                with m.If(group == g):
                    m.d.sync += held[g].eq(data)
            with m.If(group == groups - 1):
                m.d.sync += [group.eq(0), self.o.valid.eq(1),
                             self.o.payload.data.as_value().eq(Cat(*held, data)),
                             self.o.payload.last.eq(position == positions - 1)]
                if positions > 1:
                    with m.If(position == positions - 1):
                        m.d.sync += position.eq(0)
                    with m.Else():
                        m.d.sync += position.eq(position + 1)
            with m.Else():
                m.d.sync += group.eq(group + 1)
        return m
