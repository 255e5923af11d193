"""Streaming 2-D poolings over windows: max pooling and average pooling (``maxpool2d``,
``avgpool2d``)."""

import dataclasses

from amaranth.hdl import Array, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.vendor import SiliconBluePlatform
from amaranth.lib.wiring import In, Out

from q8.layers import AvgPool2DConfig, MaxPool2DConfig
from hw.lib.arith import divide_rounded, reciprocal, signed_digits
from hw.lib.layouts import code_shape, element_layout
from hw.lib.position import stall_all_input
from hw.stages.kind import GatewareKind, MemoryCost, StageCost, StageEstimate
from hw.stages.padding import (PadStage, StrideStage, pad_cost, pad_times, stride_cost,
                               stride_times)
from hw.stages.window import WindowStage, window_times

__all__ = ["Pool2DStage", "SerialPool2DStage", "WindowReduceStage", "make_stages",
           "estimate", "KIND", "AVG_KIND"]


def _check_config(config, stage):
    if not isinstance(config, (MaxPool2DConfig, AvgPool2DConfig)):
        raise TypeError(f"config must be a MaxPool2DConfig or AvgPool2DConfig, not "
                        f"{config!r}")
    if config.padded:
        raise ValueError(f"{config.name}: the stage pools an unpadded input; "
                         f"make_stages pads before it")
    if config.strides != config.pool:
        raise ValueError(f"{config.name}: {stage} pools with the pool's stride; "
                         f"make_stages builds strides {config.strides} from windows")
    if isinstance(config, AvgPool2DConfig) and config.format.signed:
        raise ValueError(f"{config.name}: an average pooling of signed codes is not built "
                         f"(a pooling's input is a ReLU's)")


class _Combine:
    """What a pooling does with a window's codes: the maximum, or (average pooling) the sum,
    then its mean rounded half up (:func:`hw.lib.arith.divide_rounded`) as it leaves."""

    def __init__(self, config):
        self.mean = isinstance(config, AvgPool2DConfig)
        self.n = config.pool[0] * config.pool[1]
        self.code = code_shape(config.format)
        # a sum of n unsigned codes; a maximum is a code
        self.shape = unsigned((255 * self.n).bit_length()) if self.mean else self.code

    def __call__(self, a, b):
        return a + b if self.mean else Mux(b > a, b, a)

    def result(self, value):
        if not self.mean:
            return value
        return divide_rounded(value, n=self.n, limit=255 * self.n)[:8]


def combine_bits(config):
    """Bits of a pooling's running value per channel (the model's)."""
    return _Combine(config).shape.width


def divide_terms(config, lanes):
    """The adders of ``lanes`` rounded divisions (average pooling by a window of other than a
    power of two codes): their bits, as a constant convolution's adders."""
    if not isinstance(config, AvgPool2DConfig):
        return {}
    n = config.pool[0] * config.pool[1]
    multiplier, shift = reciprocal(n, 255 * n + n // 2)
    if multiplier == 1:
        return {}
    width = (255 * n).bit_length() + multiplier.bit_length()
    return {"conv_adder_bit": lanes * width * (len(signed_digits(multiplier)) - 1)}


class Pool2DStage(wiring.Component):
    """Max (or average) pooling over ``ph x pw`` windows with the same stride, one element
    per cycle.

    Elements (all channels of one position) arrive row-major. The running maximum (or sum) of
    the current window row is kept in a register; those of the window rows above wait in a
    block RAM, one entry per window of the row. Rows and columns past the last whole window are
    consumed and dropped. ``last`` restarts the position counters, as in the convolution. An
    average's sum is divided as it leaves (``q8.layers.avgpool2d``).

    Parameters
    ----------
    config : q8.layers.MaxPool2DConfig or q8.layers.AvgPool2DConfig
        Unpadded, stride the pool's.

    Members
    -------
    i : In(stream.Signature(element_layout(channels, config.format)))
    o : Out(stream.Signature(element_layout(channels, config.format)))
    """

    #: Cycles from the input transfer that completes a window to its output transfer, the
    #: output ready: the second step (the rows above), the output register.
    LATENCY = 2

    def __init__(self, *, config):
        _check_config(config, "Pool2DStage")
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
        combine = _Combine(cfg)
        vector = data.ArrayLayout(combine.shape, channels)

        def maximum(a, b):   # or the sum
            result = Signal(vector)
            for ch in range(channels):
                m.d.comb += result[ch].eq(combine(a[ch], b[ch]))
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
        if combine.mean:   # the codes widened to the sums' width
            x = Signal(vector)
            for ch in range(channels):
                m.d.comb += x[ch].eq(self.i.payload.data[ch])
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
                if combine.mean:
                    m.d.sync += [self.o.payload.data[ch].eq(combine.result(window_max[ch]))
                                 for ch in range(channels)]
                else:
                    m.d.sync += self.o.payload.data.eq(window_max)
                m.d.sync += self.o.payload.last.eq(s_last)
        with m.If(accept & in_window):
            m.d.sync += across.eq(across_now)
        return m


class SerialPool2DStage(wiring.Component):
    """Max (or average) pooling over ``ph x pw`` windows with the same stride, of a stream one
    code per transfer: each position's channels in turn, positions row-major (what a folded
    convolution sends, ``hw.stages.gather.SerializeStage``).

    The running maximum (or sum) of each window of the current row of windows, per channel,
    waits in one block RAM (an entry per window and channel): a code is read with its
    entry, compared (or added), and written back a cycle later, or sent (an average divided)
    if it completes its window. A
    code's entry is another channel's than the code before it (two channels or more), so no
    read meets the write before it. Rows and columns past the last whole window are consumed
    and dropped; ``last`` restarts the counters, as in the other stages.

    Parameters
    ----------
    config : q8.layers.MaxPool2DConfig or q8.layers.AvgPool2DConfig
        Unpadded, stride the pool's, with two channels or more.

    Members
    -------
    i : In(stream.Signature(element_layout(1, config.format)))
    o : Out(stream.Signature(element_layout(1, config.format)))
    """

    #: Cycles from the input transfer that completes a window to its output transfer, the
    #: output ready: the entry's read and comparison, the output register.
    LATENCY = 2

    def __init__(self, *, config):
        _check_config(config, "SerialPool2DStage")
        if config.in_shape[2] < 2:
            raise ValueError(f"{config.name}: a serial pooling needs two channels or more; "
                             f"one channel is pooled by Pool2DStage")
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
        combine = _Combine(cfg)
        code = combine.shape
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
        m.d.comb += best.eq(Mux(s_first, s_code, combine(rd.data, s_code)))
        m.d.comb += [wr.addr.eq(s_entry), wr.data.eq(best), wr.en.eq(advance & s_valid)]
        with m.If(advance):
            m.d.sync += [s_valid.eq(accept & in_window), s_code.eq(self.i.payload.data[0]),
                         s_entry.eq(entry),
                         s_first.eq((win_row == 0) & (win_col == 0)),
                         s_send.eq((win_row == ph - 1) & (win_col == pw - 1)),
                         s_last.eq((row == out_h * ph - 1) & (col == out_w * pw - 1) & ch_last),
                         self.o.valid.eq(s_valid & s_send)]
            with m.If(s_valid & s_send):
                m.d.sync += [self.o.payload.data[0].eq(combine.result(best)),
                             self.o.payload.last.eq(s_last)]
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


class WindowReduceStage(wiring.Component):
    """The maximum (or rounded mean) of each window of a
    :class:`~hw.stages.window.WindowStage`'s stream, per channel: what a pooling whose
    stride is not its pool does with every stride-1 window (a
    :class:`~hw.stages.padding.StrideStage` after it keeps those on the stride's grid).

    A window is ``taps`` taps of ``units`` transfers each (a pixel's channels in one transfer,
    or one code per transfer: ``units`` = channels), tap by tap. Each unit's running value is
    a register; the last tap's transfers each leave as their unit's result, a cycle later
    (an output register), ``last`` with the input's.

    Parameters
    ----------
    config : q8.layers.MaxPool2DConfig or q8.layers.AvgPool2DConfig
        The pooling (its pool the window; its format and kind).
    in_width : int
        Codes per transfer: the channels, or 1.

    Members
    -------
    i : In(stream.Signature(element_layout(in_width, config.format)))
    o : Out(stream.Signature(element_layout(in_width, config.format)))
    """

    #: Cycles from a window's last input transfer to its output transfer.
    LATENCY = 1

    def __init__(self, *, config, in_width):
        if not isinstance(config, (MaxPool2DConfig, AvgPool2DConfig)):
            raise TypeError(f"config must be a MaxPool2DConfig or AvgPool2DConfig, not "
                            f"{config!r}")
        channels = config.in_shape[2]
        if in_width not in (1, channels):
            raise ValueError(f"in_width must be the {channels} channels or 1, not "
                             f"{in_width!r}")
        self._config, self._in_width = config, in_width
        layout = element_layout(in_width, config.format)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        cfg, k = self._config, self._in_width
        units, taps = cfg.in_shape[2] // k, cfg.pool[0] * cfg.pool[1]
        combine = _Combine(cfg)
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        accept = self.i.valid & advance
        unit, tap = Signal(range(units)), Signal(range(taps))
        unit_end, tap_end = unit == units - 1, tap == taps - 1
        with m.If(accept):
            m.d.sync += unit.eq(Mux(unit_end, 0, unit + 1))
            with m.If(unit_end):
                m.d.sync += tap.eq(Mux(tap_end, 0, tap + 1))
        running = Array(Signal(data.ArrayLayout(combine.shape, k), name=f"running_{u}")
                        for u in range(units))
        x = self.i.payload.data
        now = Signal(data.ArrayLayout(combine.shape, k))
        for j in range(k):
            m.d.comb += now[j].eq(Mux(tap == 0, x[j], combine(running[unit][j], x[j])))
        with m.If(advance):
            m.d.sync += self.o.valid.eq(self.i.valid & tap_end)
        with m.If(accept):
            m.d.sync += running[unit].eq(now)
            with m.If(tap_end):
                m.d.sync += [self.o.payload.data[j].eq(combine.result(now[j])) for j in range(k)]
                m.d.sync += self.o.payload.last.eq(self.i.payload.last)
        return m


# --- the layer kind: the stages and their model ---------------------------------------------

def _valid_view(layer):
    """Pooling ``layer`` as its stage computes it: over its padded input, unpadded (and,
    for strides other than the pool, with stride 1: a
    :class:`~hw.stages.padding.StrideStage` after it does the rest)."""
    if not layer.padded and layer.strides == layer.pool:
        return layer
    strides = layer.pool if layer.strides == layer.pool else (1, 1)
    return dataclasses.replace(layer, in_shape=layer.padded_shape, padding=((0, 0), (0, 0)),
                               strides=strides)


def make_stages(layer, *, params, in_width, schedule=None):
    """The stages of pooling ``layer``, as wide as its input. With the pool's stride: a
    :class:`Pool2DStage` for a position's channels in a transfer, a
    :class:`SerialPool2DStage` for a code per transfer (of several channels). With any
    other stride: every window (:class:`~hw.stages.window.WindowStage`), its maximum or mean
    (:class:`WindowReduceStage`), those on the grid kept
    (:class:`~hw.stages.padding.StrideStage`). Padded (Keras' same), a
    :class:`~hw.stages.padding.PadStage` first, whose code 0 is the unsigned codes' smallest
    (a pooling's input is always a ReLU's: ``q8.weights`` refuses the rest)."""
    view = _valid_view(layer)
    channels = layer.in_shape[2]
    serial = _serial(layer, in_width)
    if layer.strides != layer.pool:
        oh, ow, _ = dataclasses.replace(view, strides=(1, 1)).out_shape
        stages = [WindowStage(shape=view.in_shape, kernel=layer.pool, fmt=layer.format,
                              in_width=in_width),
                  WindowReduceStage(config=view, in_width=in_width),
                  StrideStage(shape=(oh, ow, channels // in_width), strides=layer.strides,
                              fmt=layer.format, width=in_width)]
    else:
        stages = [SerialPool2DStage(config=view) if serial else Pool2DStage(config=view)]
    if layer.padded:
        if layer.format.signed:
            raise ValueError(f"{layer.name}: padding a pooling of signed codes is not built")
        stages.insert(0, PadStage(shape=(*layer.in_shape[:2], channels // in_width),
                                  padding=layer.padding, fmt=layer.format, in_width=in_width))
    return stages, 1 if serial else in_width


def _serial(layer, in_width):
    channels = layer.in_shape[2]
    if in_width not in (1, channels):
        raise ValueError(f"{layer.name}: a pooling takes a position's {channels} channels or "
                         f"one code per transfer, not {in_width}")
    return in_width == 1 and channels > 1


def estimate(layer, times, *, weight=None, in_width, schedule=None, external_weights=False,
             family):
    """The model of :func:`make_stages`' stages (see :class:`hw.stages.kind.GatewareKind`).
    :class:`Pool2DStage`: per bit of a position's running values two comparisons (or an
    adder), the running value, the step's register and the output; the counters; the rows
    above (block RAM on the iCE40, as the stage asks); an average's divisions; an output for
    each input that completes a whole window, :attr:`Pool2DStage.LATENCY` later. Other
    strides: :func:`_strided_estimate`."""
    if layer.padded:
        channels = layer.in_shape[2]
        times = pad_times(times, shape=(*layer.in_shape[:2], channels // in_width),
                          padding=layer.padding)
        view = dataclasses.replace(layer, in_shape=layer.padded_shape,
                                   padding=((0, 0), (0, 0)))
        est = estimate(view, times, in_width=in_width, family=family)
        return dataclasses.replace(est, after=(pad_cost(f"{layer.name} pad", in_width),
                                               *est.after), busy=max(est.busy, len(times)))
    if layer.strides != layer.pool:
        return _strided_estimate(layer, times, in_width=in_width)
    height, width, channels = layer.in_shape
    ph, pw = layer.pool
    rows, cols = height // ph * ph, width // pw * pw
    if _serial(layer, in_width):
        return _serial_estimate(layer, times)
    bits = channels * combine_bits(layer)
    above = MemoryCost("rows above", bits, layer.out_shape[1] + (width % pw != 0),
                       block=family == "ice40")
    cost = StageCost(name=layer.name, kind=layer.kind, memories=(above,),
                     terms={"pool": 1, "pool_bit": bits, **divide_terms(layer, channels)})
    out = [t + Pool2DStage.LATENCY for i, t in enumerate(times)
           if i // width < rows and i % width < cols
           and i // width % ph == ph - 1 and i % width % pw == pw - 1]
    return StageEstimate(cost=cost, after=(), times=out, width=in_width)


def _serial_estimate(layer, times):
    """:func:`estimate` of a :class:`SerialPool2DStage`: its counters and one comparison
    (a fixed part), an average's division, its entries in a memory; an output for each code
    that completes its window, :attr:`SerialPool2DStage.LATENCY` later."""
    height, width, channels = layer.in_shape
    ph, pw = layer.pool
    rows, cols = height // ph * ph, width // pw * pw
    state = MemoryCost("window maxima", combine_bits(layer),
                       (layer.out_shape[1] + 1) * channels)
    cost = StageCost(name=layer.name, kind=layer.kind, memories=(state,),
                     terms={"serial_pool": 1, **divide_terms(layer, 1)})
    out = []
    for i, t in enumerate(times):
        r, c = divmod(i // channels % (height * width), width)
        if r < rows and c < cols and r % ph == ph - 1 and c % pw == pw - 1:
            out.append(t + SerialPool2DStage.LATENCY)
    return StageEstimate(cost=cost, after=(), times=out, width=1)


def _strided_estimate(layer, times, *, in_width):
    """:func:`estimate` of the windows, their reduction and the stride's grid: the window
    stage's fixed part and rows (:func:`hw.stages.window.window_times`), the running values'
    registers (as a pooling's bits), the divisions, the stride's counters."""
    height, width, channels = layer.in_shape
    units = channels // in_width
    bits = channels * combine_bits(layer)
    rows = MemoryCost("window rows", 8 * in_width, layer.pool[0] * width * units)
    cost = StageCost(name=layer.name, kind=layer.kind, memories=(rows,),
                     terms={"window": 1, "pool": 1, "pool_bit": bits,
                            **divide_terms(layer, in_width)})
    taps = window_times(times, shape=layer.in_shape, kernel=layer.pool, units=units)
    reduced = [t + WindowReduceStage.LATENCY for i, t in enumerate(taps)
               if i % (layer.pool[0] * layer.pool[1] * units) >= (layer.pool[0] * layer.pool[1]
                                                                 - 1) * units]
    oh, ow = height - layer.pool[0] + 1, width - layer.pool[1] + 1
    out = stride_times(reduced, shape=(oh, ow, units), strides=layer.strides)
    span = max(len(times), times[-1] - times[0] + 1)
    twice = window_times([*times, *(t + span for t in times)], shape=layer.in_shape,
                         kernel=layer.pool, units=units)
    return StageEstimate(cost=cost, after=(stride_cost(f"{layer.name} stride"),), times=out,
                         width=1 if units > 1 else in_width, busy=twice[-1] - taps[-1])


KIND = GatewareKind(kind="maxpool2d", make_stages=make_stages, estimate=estimate)
AVG_KIND = GatewareKind(kind="avgpool2d", make_stages=make_stages, estimate=estimate)
