"""Streaming 2-D max pooling."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.vendor import SiliconBluePlatform
from amaranth.lib.wiring import In, Out

from q8.layers import MaxPool2DConfig
from hw.lib.layouts import code_shape, element_layout
from hw.lib.position import stall_all_input
from hw.stages.kind import GatewareKind, MemoryCost, StageCost, StageEstimate

__all__ = ["MaxPool2DStage", "make_stages", "estimate", "KIND"]


class MaxPool2DStage(wiring.Component):
    """Max pooling over ``ph x pw`` windows with the same stride, one element per cycle.

    Elements (all channels of one position) arrive row-major. The running maximum of the
    current window row is kept in a register; the maxima of the window rows above wait in a
    block RAM, one entry per window of the row. Rows and columns past the last whole window are
    consumed and dropped. ``last`` restarts the position counters, as in the convolution.

    Parameters
    ----------
    config : q8.layers.MaxPool2DConfig

    Members
    -------
    i : In(stream.Signature(element_layout(channels, config.format)))
    o : Out(stream.Signature(element_layout(channels, config.format)))
    """

    #: Cycles from the input transfer that completes a window to its output transfer, the
    #: output ready: the second step (the rows above), the output register.
    LATENCY = 2

    def __init__(self, *, config):
        if not isinstance(config, MaxPool2DConfig):
            raise TypeError(f"config must be a MaxPool2DConfig, not {config!r}")
        self._config = config
        layout = element_layout(config.in_shape[2], config.format)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        cfg = self._config
        height, width, channels = cfg.in_shape
        ph, pw = cfg.pool
        out_h, out_w, _ = cfg.out_shape
        vector = data.ArrayLayout(code_shape(cfg.format), channels)

        def maximum(a, b):
            result = Signal(vector)
            for ch in range(channels):
                m.d.comb += result[ch].eq(Mux(b[ch] > a[ch], b[ch], a[ch]))
            return result

        m = Module()
        advance, accept, row, col, row_end, end_of_image = stall_all_input(m, self, height,
                                                                           width)
        win_row = Signal(range(ph))   # row inside the current window
        win_col = Signal(range(pw))   # column inside the current window
        with m.If(accept):
            with m.If(end_of_image):
                m.d.sync += [win_row.eq(0), win_col.eq(0)]
            with m.Elif(row_end):
                m.d.sync += [win_col.eq(0), win_row.eq(Mux(win_row == ph - 1, 0, win_row + 1))]
            with m.Else():
                m.d.sync += win_col.eq(Mux(win_col == pw - 1, 0, win_col + 1))

        x = self.i.payload.data
        in_window = (row < out_h * ph) & (col < out_w * pw)
        across = Signal(vector)   # maximum so far along the current window row
        across_now = Signal(vector)
        m.d.comb += across_now.eq(Mux(win_col == 0, x, maximum(across, x)))

        # The maxima of the window rows above, one per window of the row, in block RAM: read
        # when a window row completes, written back (with the new row) a cycle later. Past
        # the last whole window of a row with columns left over, the index is out_w and the
        # read is not used: an entry more keeps it within the memory (simulators check).
        # On the iCE40 it asks for a block RAM, which is cheaper than its logic cells; the
        # ECP5's block RAM is slow to read, where the comparator follows, and its LUT RAM is
        # plenty (the same contents, so only synthesis differs).
        above = m.submodules.above = Memory(
            shape=vector, depth=out_w + (width % pw != 0), init=[],
            attrs={"ram_style": "block"} if isinstance(platform, SiliconBluePlatform) else {})
        above_rd = above.read_port()
        above_wr = above.write_port()
        window = Signal(range(out_w))  # the window's index along the row
        with m.If(accept & (row_end | end_of_image)):
            m.d.sync += window.eq(0)
        with m.Elif(accept & in_window & (win_col == pw - 1)):
            m.d.sync += window.eq(window + 1)
        m.d.comb += [above_rd.addr.eq(window), above_rd.en.eq(advance)]

        # Second step, a cycle later (one comparator per step keeps the clock fast): the
        # window row's maximum meets the rows above it.
        s_valid = Signal()
        s_window = Signal.like(window)
        s_row_max = Signal(vector)
        s_first_row = Signal()
        s_last_row = Signal()
        s_last = Signal()
        window_max = Signal(vector)
        m.d.comb += window_max.eq(Mux(s_first_row, s_row_max,
                                      maximum(above_rd.data, s_row_max)))
        m.d.comb += [above_wr.addr.eq(s_window), above_wr.data.eq(window_max),
                     above_wr.en.eq(advance & s_valid)]

        with m.If(advance):
            m.d.sync += [s_valid.eq(accept & in_window & (win_col == pw - 1)),
                         s_window.eq(window), s_row_max.eq(across_now),
                         s_first_row.eq(win_row == 0), s_last_row.eq(win_row == ph - 1),
                         s_last.eq((row == out_h * ph - 1) & (col == out_w * pw - 1)),
                         self.o.valid.eq(s_valid & s_last_row)]
            with m.If(s_valid & s_last_row):
                m.d.sync += [self.o.payload.data.eq(window_max),
                             self.o.payload.last.eq(s_last)]
        with m.If(accept & in_window):
            m.d.sync += across.eq(across_now)
        return m


# --- the layer kind: the stages and their model ---------------------------------------------

def make_stages(layer, *, params, in_width, schedule=None):
    """The stage of pooling ``layer``: a :class:`MaxPool2DStage`, as wide as its input."""
    return [MaxPool2DStage(config=layer)], in_width


def estimate(layer, times, *, weight=None, in_width, schedule=None, external_weights=False,
             family):
    """The model of :func:`make_stages`' stage (see :class:`hw.stages.kind.GatewareKind`): per
    bit of a position's channels two comparisons, the running maximum, the step's register and
    the output; the counters; the rows above (block RAM on the iCE40, as the stage asks); an
    output for each input that completes a whole window, :attr:`MaxPool2DStage.LATENCY`
    later."""
    height, width, channels = layer.in_shape
    ph, pw = layer.pool
    rows, cols = height // ph * ph, width // pw * pw
    bits = channels * code_shape(layer.format).width
    above = MemoryCost("rows above", bits, layer.out_shape[1] + (width % pw != 0),
                       block=family == "ice40")
    cost = StageCost(name=layer.name, kind=layer.kind, memories=(above,),
                     terms={"pool": 1, "pool_bit": bits})
    out = [t + MaxPool2DStage.LATENCY for i, t in enumerate(times)
           if i // width < rows and i % width < cols
           and i // width % ph == ph - 1 and i % width % pw == pw - 1]
    return StageEstimate(cost=cost, after=(), times=out, width=in_width)


KIND = GatewareKind(kind="maxpool2d", make_stages=make_stages, estimate=estimate)
