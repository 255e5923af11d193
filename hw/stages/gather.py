"""A folded layer's groups of outputs gathered into one transfer per position, or sent a code
per transfer."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.layouts import element_layout
from hw.lib.params import check_count

__all__ = ["GatherStage", "SerializeStage", "PairSerializeStage", "gather_times"]


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


class SerializeStage(wiring.Component):
    """A folded layer's groups of ``lanes`` codes (a position's ``count`` output channels, a
    group at a time) as one code per transfer, in channel order; codes past ``count`` in the
    last group are dropped.

    A group is taken when the one before has left, a code a cycle while the output is
    taken: ``lanes + 1`` cycles a group. A folded convolution takes ``fan_in`` cycles or more
    per group, so the serial stream keeps pace, and the stages after it (pooling, the next
    window, a dense layer's input banks) keep a code per entry in memories one code wide
    rather than a position's channels side by side (block RAMs as wide as all channels and
    their comparators in logic).

    The input's ``last`` marks each position's last group (the engine's), so the image's
    ``last`` is counted: set on the last code of every ``positions``-th position.

    Parameters
    ----------
    lanes, count, positions : int
    fmt : q8.contract.Format

    Members
    -------
    i : In(stream.Signature(element_layout(lanes, fmt)))
    o : Out(stream.Signature(element_layout(1, fmt)))
    """

    def __init__(self, *, lanes, count, positions, fmt):
        for name, value in (("lanes", lanes), ("count", count), ("positions", positions)):
            check_count(name, value)
        self._lanes, self._count, self._positions = lanes, count, positions
        self._groups = -(-count // lanes)
        super().__init__({"i": In(stream.Signature(element_layout(lanes, fmt))),
                          "o": Out(stream.Signature(element_layout(1, fmt)))})

    @property
    def groups(self):
        return self._groups

    def codes(self, group):
        """Codes sent of group ``group`` of a position."""
        return min(self._lanes, self._count - group * self._lanes)

    def elaborate(self, platform):
        lanes, groups, positions = self._lanes, self._groups, self._positions
        m = Module()
        held = Signal(8 * lanes)
        busy = Signal()                      # a group is held, its codes going out
        code = Signal(range(lanes))
        code_end = Signal()                  # code is the held group's last to send
        group = Signal(range(groups))
        position = Signal(range(positions))
        final = Signal()                     # the held group ends the image
        m.d.comb += [self.i.ready.eq(~busy), self.o.valid.eq(busy),
                     self.o.payload.data.as_value().eq(held.word_select(code, 8)),
                     self.o.payload.last.eq(final & code_end)]
        last_group = group == groups - 1
        with m.If(self.i.valid & ~busy):
            ends_image = last_group & (position == positions - 1)
            m.d.sync += [held.eq(self.i.payload.data.as_value()), busy.eq(1), code.eq(0),
                         code_end.eq(Mux(last_group, self.codes(groups - 1), lanes) == 1),
                         final.eq(ends_image)]
            with m.If(last_group):
                m.d.sync += [group.eq(0),
                             position.eq(Mux(position == positions - 1, 0, position + 1))]
            with m.Else():
                m.d.sync += group.eq(group + 1)
        with m.If(self.o.valid & self.o.ready):
            with m.If(code_end):
                m.d.sync += busy.eq(0)
            with m.Else():
                # the group just taken counts as the next (group advanced at its intake)
                sent = Mux(group == 0, self.codes(groups - 1), lanes)
                m.d.sync += [code.eq(code + 1), code_end.eq(code + 2 == sent)]
        return m


def gather_times(times, count):
    """Output transfer times of a :class:`GatherStage` of ``lanes=1`` whose input codes are
    offered at ``times``, ``count`` a position, the consumer always ready: a code a cycle,
    the position out a cycle after its last code, and no code taken while it is."""
    out, accept = [], -10 ** 9
    for i, t in enumerate(times):
        accept = max(t, accept + 1)
        if i % count == count - 1:
            out.append(accept + 1)
            accept += 1
    return out


class PairSerializeStage(wiring.Component):
    """:class:`SerializeStage` for an engine that computes two output positions at a time
    (``hw.stages.dense.DenseStage(positions=2)``): each input transfer holds a group's
    ``lanes`` codes of the first position, then the second's. The first's codes go out as
    they come; the second's wait in a memory (a group an entry) until the first's last
    group has left, then follow, so that the stream out is position by position, channels
    in turn, as :class:`SerializeStage`'s. A row of an odd number of positions ends with a
    pair whose second means nothing: dropped.

    Parameters
    ----------
    lanes, count : int
    shape : (int, int)
        The output's ``(height, width)``: pairs along each row.
    fmt : q8.contract.Format

    Members
    -------
    i : In(stream.Signature(element_layout(2 * lanes, fmt)))
    o : Out(stream.Signature(element_layout(1, fmt)))
    """

    def __init__(self, *, lanes, count, shape, fmt):
        for name, value in (("lanes", lanes), ("count", count), ("height", shape[0]),
                            ("width", shape[1])):
            check_count(name, value)
        self._lanes, self._count, self._shape = lanes, count, tuple(shape)
        self._groups = -(-count // lanes)
        super().__init__({"i": In(stream.Signature(element_layout(2 * lanes, fmt))),
                          "o": Out(stream.Signature(element_layout(1, fmt)))})

    def codes(self, group):
        """Codes sent of group ``group`` of a position."""
        return min(self._lanes, self._count - group * self._lanes)

    def elaborate(self, platform):
        from amaranth.lib.memory import Memory
        lanes, groups = self._lanes, self._groups
        height, width = self._shape
        per_row = -(-width // 2)
        m = Module()
        # read only while no group is taken (written): no collision (Yosys' no_rw_check)
        second = m.submodules.second = Memory(shape=8 * lanes, depth=groups, init=[],
                                              attrs={"no_rw_check": 1})
        wr, rd = second.write_port(), second.read_port()
        IDLE, FIRST, SECOND = range(3)
        phase = Signal(range(3))
        held = Signal(8 * lanes)
        held_group = Signal(range(groups))   # the group in `held` (FIRST) or read (SECOND)
        code = Signal(range(lanes))
        fresh = Signal()                     # SECOND: rd.data is held_group's entry
        group = Signal(range(groups))        # the next group taken
        pair_col = Signal(range(per_row))
        pair_row = Signal(range(height))
        alone = Signal()                     # the pair's second position is past the row
        final = Signal()                     # the pair ends the image
        tail = self.codes(groups - 1)
        # code == its group's last, held_group == groups - 1: registered flags, set with the
        # counters (timing: no comparison between the output's ready and the state)
        code_end = Signal(init=tail == 1 if groups == 1 else lanes == 1)
        group_end = Signal(init=groups == 1)

        def last_code(is_last_group):
            return Mux(is_last_group, tail - 1, lanes - 1)

        data = self.i.payload.data.as_value()
        m.d.comb += [self.i.ready.eq(phase == IDLE),
                     wr.addr.eq(group), wr.data.eq(data[8 * lanes:]),
                     wr.en.eq(self.i.valid & (phase == IDLE)), rd.addr.eq(held_group)]
        with m.If(self.i.valid & (phase == IDLE)):
            m.d.sync += [held.eq(data[:8 * lanes]), held_group.eq(group), code.eq(0),
                         phase.eq(FIRST), group_end.eq(group == groups - 1),
                         code_end.eq(last_code(group == groups - 1) == 0)]
            with m.If(group == 0):
                m.d.sync += [alone.eq((pair_col == per_row - 1) & (width % 2 == 1)),
                             final.eq((pair_row == height - 1) & (pair_col == per_row - 1))]
            with m.If(group == groups - 1):
                m.d.sync += [group.eq(0),
                             pair_col.eq(Mux(pair_col == per_row - 1, 0, pair_col + 1))]
                with m.If(pair_col == per_row - 1):
                    m.d.sync += pair_row.eq(Mux(pair_row == height - 1, 0, pair_row + 1))
            with m.Else():
                m.d.sync += group.eq(group + 1)

        with m.Switch(phase):
            with m.Case(FIRST):
                m.d.comb += [self.o.valid.eq(1),
                             self.o.payload.data.as_value().eq(held.word_select(code, 8)),
                             self.o.payload.last.eq(final & alone & group_end & code_end)]
                with m.If(self.o.ready):
                    with m.If(~code_end):
                        m.d.sync += [code.eq(code + 1),
                                     code_end.eq(code + 1 == last_code(group_end))]
                    with m.Elif(group_end & ~alone):
                        m.d.sync += [phase.eq(SECOND), held_group.eq(0), code.eq(0),
                                     fresh.eq(0), group_end.eq(groups == 1),
                                     code_end.eq((tail if groups == 1 else lanes) == 1)]
                    with m.Else():
                        m.d.sync += phase.eq(IDLE)
            with m.Case(SECOND):
                m.d.sync += fresh.eq(1)
                m.d.comb += [self.o.valid.eq(fresh),
                             self.o.payload.data.as_value().eq(rd.data.word_select(code, 8)),
                             self.o.payload.last.eq(final & group_end & code_end)]
                with m.If(fresh & self.o.ready):
                    with m.If(~code_end):
                        m.d.sync += [code.eq(code + 1),
                                     code_end.eq(code + 1 == last_code(group_end))]
                    with m.Elif(~group_end):
                        m.d.sync += [held_group.eq(held_group + 1), code.eq(0), fresh.eq(0),
                                     group_end.eq(held_group == groups - 2),
                                     code_end.eq(last_code(held_group == groups - 2) == 0)]
                    with m.Else():
                        m.d.sync += phase.eq(IDLE)
        return m
