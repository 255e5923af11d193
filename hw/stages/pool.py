"""Streaming 2-D max pooling."""

import dataclasses

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.vendor import SiliconBluePlatform
from amaranth.lib.wiring import In, Out

from q8.layers import MaxPool2DConfig
from hw.lib.layouts import code_shape, element_layout
from hw.lib.position import stall_all_input
from hw.stages.kind import GatewareKind, MemoryCost, StageCost, StageEstimate
from hw.stages.padding import PadStage, pad_cost, pad_times

__all__ = ["MaxPool2DStage", "SerialMaxPool2DStage", "make_stages", "estimate", "KIND"]


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
        if config.padded:
            raise ValueError(f"{config.name}: the stage pools an unpadded input; "
                             f"make_stages pads before it")
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


class SerialMaxPool2DStage(wiring.Component):
    """Max pooling over ``ph x pw`` windows with the same stride, of a stream one code per
    transfer: each position's channels in turn, positions row-major (what a folded
    convolution sends, ``hw.stages.gather.SerializeStage``).

    The running maximum of each window of the current row of windows, per channel, waits in
    one block RAM a code wide (an entry per window and channel): a code is read with its
    entry, compared, and written back a cycle later, or sent if it completes its window. A
    code's entry is another channel's than the code before it (two channels or more), so no
    read meets the write before it. Rows and columns past the last whole window are consumed
    and dropped; ``last`` restarts the counters, as in the other stages.

    Parameters
    ----------
    config : q8.layers.MaxPool2DConfig
        With two channels or more.

    Members
    -------
    i : In(stream.Signature(element_layout(1, config.format)))
    o : Out(stream.Signature(element_layout(1, config.format)))
    """

    #: Cycles from the input transfer that completes a window to its output transfer, the
    #: output ready: the entry's read and comparison, the output register.
    LATENCY = 2

    def __init__(self, *, config):
        if not isinstance(config, MaxPool2DConfig):
            raise TypeError(f"config must be a MaxPool2DConfig, not {config!r}")
        if config.in_shape[2] < 2:
            raise ValueError(f"{config.name}: a serial pooling needs two channels or more; "
                             f"one channel is pooled by MaxPool2DStage")
        if config.padded:
            raise ValueError(f"{config.name}: the stage pools an unpadded input; "
                             f"make_stages pads before it")
        self._config = config
        layout = element_layout(1, config.format)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        cfg = self._config
        height, width, channels = cfg.in_shape
        ph, pw = cfg.pool
        out_h, out_w, _ = cfg.out_shape
        code = code_shape(cfg.format)
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        accept = self.i.valid & advance
        ch = Signal(range(channels))
        ch_last = Signal()                       # ch == channels - 1
        last = self.i.payload.last
        # the pixel's state moves with a position's last channel, or restarts with `last`
        pixel_end = accept & (ch_last | last)
        with m.If(pixel_end):
            m.d.sync += [ch.eq(0), ch_last.eq(0)]
        with m.Elif(accept):
            m.d.sync += [ch.eq(ch + 1), ch_last.eq(ch == channels - 2)]
        row, col, win_row, win_col, base, next_base, in_window = self._pixel_state(
            m, pixel_end, last)
        # the code's entry (base + ch) as a register: the block RAM's address straight from it
        entry = Signal.like(base)
        with m.If(pixel_end & last):
            m.d.sync += entry.eq(0)
        with m.Elif(pixel_end):
            m.d.sync += entry.eq(next_base)
        with m.Elif(accept):
            m.d.sync += entry.eq(entry + 1)

        # an entry more per channel past the last whole window keeps a leftover column's
        # (unused) read within the memory (simulators check)
        # a code's read and the write of the code before it are different channels' entries
        # (in a stream whose `last` ends a position, as the serializers send): no collision
        # to emulate (Yosys' no_rw_check, timing)
        state = m.submodules.state = Memory(shape=code, depth=(out_w + 1) * channels, init=[],
                                            attrs={"no_rw_check": 1})
        rd, wr = state.read_port(), state.write_port()
        m.d.comb += [rd.addr.eq(entry), rd.en.eq(advance)]
        s_valid, s_first, s_send, s_last = Signal(), Signal(), Signal(), Signal()
        s_code = Signal(code)
        s_entry = Signal.like(base)
        best = Signal(code)
        m.d.comb += best.eq(Mux(s_first | (s_code > rd.data), s_code, rd.data))
        m.d.comb += [wr.addr.eq(s_entry), wr.data.eq(best), wr.en.eq(advance & s_valid)]
        with m.If(advance):
            m.d.sync += [s_valid.eq(accept & in_window), s_code.eq(self.i.payload.data[0]),
                         s_entry.eq(entry),
                         s_first.eq((win_row == 0) & (win_col == 0)),
                         s_send.eq((win_row == ph - 1) & (win_col == pw - 1)),
                         s_last.eq((row == out_h * ph - 1) & (col == out_w * pw - 1) & ch_last),
                         self.o.valid.eq(s_valid & s_send)]
            with m.If(s_valid & s_send):
                m.d.sync += [self.o.payload.data[0].eq(best), self.o.payload.last.eq(s_last)]
        return m

    def _pixel_state(self, m, pixel_end, last):
        """The position's row and column, its window's row and column and first entry (and
        the next position's, as computed ahead), and whether it is within the last whole
        window, kept as registers that take their next
        values at ``pixel_end`` (or restart with ``last``). The next values are computed a
        pixel ahead into registers of their own (a position is two codes or more): so what
        ``pixel_end`` enables is a register's copy, and no comparison or adder sits between
        the next stage's ready and these registers (timing)."""
        height, width, channels = self._config.in_shape
        ph, pw = self._config.pool
        out_h, out_w, _ = self._config.out_shape
        state = {"row": Signal(range(height)), "col": Signal(range(width)),
                 "win_row": Signal(range(ph)), "win_col": Signal(range(pw)),
                 "base": Signal(range((out_w + 1) * channels)),
                 "rows_past": Signal(init=out_h * ph <= 0),
                 "cols_past": Signal(init=out_w * pw <= 0)}
        row, col, win_row, win_col, base = (state[k] for k in
                                            ("row", "col", "win_row", "win_col", "base"))
        in_window = ~state["rows_past"] & ~state["cols_past"]
        nxt = {k: Signal.like(v, name=f"next_{k}") for k, v in state.items()}
        row_end, image_end = col == width - 1, (col == width - 1) & (row == height - 1)
        with m.If(image_end):
            m.d.sync += [nxt[k].eq(v.init) for k, v in state.items()]
        with m.Elif(row_end):
            m.d.sync += [nxt["row"].eq(row + 1), nxt["col"].eq(0), nxt["win_col"].eq(0),
                         nxt["win_row"].eq(Mux(win_row == ph - 1, 0, win_row + 1)),
                         nxt["base"].eq(0), nxt["cols_past"].eq(out_w * pw <= 0),
                         nxt["rows_past"].eq(state["rows_past"] | (row == out_h * ph - 1))]
        with m.Else():
            m.d.sync += [nxt["row"].eq(row), nxt["col"].eq(col + 1),
                         nxt["win_row"].eq(win_row),
                         nxt["win_col"].eq(Mux(win_col == pw - 1, 0, win_col + 1)),
                         nxt["base"].eq(Mux(in_window & (win_col == pw - 1), base + channels,
                                            base)),
                         nxt["rows_past"].eq(state["rows_past"]),
                         nxt["cols_past"].eq(state["cols_past"] | (col == out_w * pw - 1))]
        with m.If(pixel_end & last):
            m.d.sync += [v.eq(v.init) for v in state.values()]
        with m.Elif(pixel_end):
            m.d.sync += [v.eq(nxt[k]) for k, v in state.items()]
        return row, col, win_row, win_col, base, nxt["base"], in_window


# --- the layer kind: the stages and their model ---------------------------------------------

def _valid_view(layer):
    """Pooling ``layer`` as its stage computes it: over its padded input, unpadded."""
    if not layer.padded:
        return layer
    return dataclasses.replace(layer, in_shape=layer.padded_shape, padding=((0, 0), (0, 0)))


def make_stages(layer, *, params, in_width, schedule=None):
    """The stage of pooling ``layer``, as wide as its input: a :class:`MaxPool2DStage` for
    a position's channels in a transfer, a :class:`SerialMaxPool2DStage` for a code per
    transfer (of several channels); padded (Keras' same), a
    :class:`~hw.stages.padding.PadStage` first, whose code 0 is the unsigned codes' smallest
    (a pooling's input is always a ReLU's: ``q8.weights`` refuses the rest)."""
    view = _valid_view(layer)
    stages = [SerialMaxPool2DStage(config=view)] if _serial(layer, in_width) else \
        [MaxPool2DStage(config=view)]
    if layer.padded:
        if layer.format.signed:
            raise ValueError(f"{layer.name}: padding a pooling of signed codes is not built")
        channels = layer.in_shape[2]
        stages.insert(0, PadStage(shape=(*layer.in_shape[:2], channels // in_width),
                                  padding=layer.padding, fmt=layer.format, in_width=in_width))
    return stages, 1 if _serial(layer, in_width) else in_width


def _serial(layer, in_width):
    channels = layer.in_shape[2]
    if in_width not in (1, channels):
        raise ValueError(f"{layer.name}: a pooling takes a position's {channels} channels or "
                         f"one code per transfer, not {in_width}")
    return in_width == 1 and channels > 1


def estimate(layer, times, *, weight=None, in_width, schedule=None, external_weights=False,
             family):
    """The model of :func:`make_stages`' stage (see :class:`hw.stages.kind.GatewareKind`): per
    bit of a position's channels two comparisons, the running maximum, the step's register and
    the output; the counters; the rows above (block RAM on the iCE40, as the stage asks); an
    output for each input that completes a whole window, :attr:`MaxPool2DStage.LATENCY`
    later."""
    if layer.padded:
        channels = layer.in_shape[2]
        times = pad_times(times, shape=(*layer.in_shape[:2], channels // in_width),
                          padding=layer.padding)
        est = estimate(_valid_view(layer), times, in_width=in_width, family=family)
        return dataclasses.replace(est, after=(pad_cost(f"{layer.name} pad", in_width),
                                               *est.after), busy=max(est.busy, len(times)))
    height, width, channels = layer.in_shape
    ph, pw = layer.pool
    rows, cols = height // ph * ph, width // pw * pw
    if _serial(layer, in_width):
        return _serial_estimate(layer, times)
    bits = channels * code_shape(layer.format).width
    above = MemoryCost("rows above", bits, layer.out_shape[1] + (width % pw != 0),
                       block=family == "ice40")
    cost = StageCost(name=layer.name, kind=layer.kind, memories=(above,),
                     terms={"pool": 1, "pool_bit": bits})
    out = [t + MaxPool2DStage.LATENCY for i, t in enumerate(times)
           if i // width < rows and i % width < cols
           and i // width % ph == ph - 1 and i % width % pw == pw - 1]
    return StageEstimate(cost=cost, after=(), times=out, width=in_width)


def _serial_estimate(layer, times):
    """:func:`estimate` of a :class:`SerialMaxPool2DStage`: its counters and one comparison
    (a fixed part), its entries in a memory a code wide; an output for each code that
    completes its window, :attr:`SerialMaxPool2DStage.LATENCY` later."""
    height, width, channels = layer.in_shape
    ph, pw = layer.pool
    rows, cols = height // ph * ph, width // pw * pw
    state = MemoryCost("window maxima", code_shape(layer.format).width,
                       (layer.out_shape[1] + 1) * channels)
    cost = StageCost(name=layer.name, kind=layer.kind, memories=(state,),
                     terms={"serial_pool": 1})
    out = []
    for i, t in enumerate(times):
        r, c = divmod(i // channels % (height * width), width)
        if r < rows and c < cols and r % ph == ph - 1 and c % pw == pw - 1:
            out.append(t + SerialMaxPool2DStage.LATENCY)
    return StageEstimate(cost=cost, after=(), times=out, width=1)


KIND = GatewareKind(kind="maxpool2d", make_stages=make_stages, estimate=estimate)
