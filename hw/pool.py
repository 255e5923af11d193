"""Streaming 2-D max pooling."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sim.contract import MaxPool2DConfig
from .layouts import code_shape, element_layout

__all__ = ["MaxPool2DStage"]


class MaxPool2DStage(wiring.Component):
    """Max pooling over ``ph x pw`` windows with the same stride, one element per cycle.

    Elements (all channels of one position) arrive row-major. The running maximum of the
    current window row is kept in a register; the maxima of the window rows above wait in a
    shift register one window wide (``width // pw`` entries), which needs no multiplexer since
    the windows of a row are visited in order. Rows and columns past the last whole window are
    consumed and dropped. ``last`` restarts the position counters, as in the convolution.

    Parameters
    ----------
    config : sim.contract.MaxPool2DConfig

    Members
    -------
    i : In(stream.Signature(element_layout(channels, config.format)))
    o : Out(stream.Signature(element_layout(channels, config.format)))
    """

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
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        accept = self.i.valid & advance

        row = Signal(range(height))
        col = Signal(range(width))
        win_row = Signal(range(ph))   # row inside the current window
        win_col = Signal(range(pw))   # column inside the current window
        end_of_image = self.i.payload.last | ((row == height - 1) & (col == width - 1))
        with m.If(accept):
            with m.If(end_of_image):
                m.d.sync += [row.eq(0), col.eq(0), win_row.eq(0), win_col.eq(0)]
            with m.Elif(col == width - 1):
                m.d.sync += [row.eq(row + 1), col.eq(0), win_col.eq(0),
                             win_row.eq(Mux(win_row == ph - 1, 0, win_row + 1))]
            with m.Else():
                m.d.sync += [col.eq(col + 1), win_col.eq(Mux(win_col == pw - 1, 0, win_col + 1))]

        x = self.i.payload.data
        in_window = (row < out_h * ph) & (col < out_w * pw)
        across = Signal(vector)   # maximum so far along the current window row
        above = [Signal(vector, name=f"above_{k}") for k in range(out_w)]  # window rows above
        across_now = Signal(vector)
        m.d.comb += across_now.eq(Mux(win_col == 0, x, maximum(across, x)))
        window_max = Signal(vector)
        m.d.comb += window_max.eq(Mux(win_row == 0, across_now, maximum(above[0], across_now)))

        with m.If(advance):
            m.d.sync += self.o.valid.eq(0)
        with m.If(accept & in_window):
            m.d.sync += across.eq(across_now)
            with m.If(win_col == pw - 1):
                # a window row is complete: shift it in (the head leaves as it is used)
                for k in range(out_w - 1):
                    m.d.sync += above[k].eq(above[k + 1])
                m.d.sync += above[out_w - 1].eq(window_max)
                with m.If(win_row == ph - 1):
                    m.d.sync += [
                        self.o.valid.eq(1),
                        self.o.payload.data.eq(window_max),
                        self.o.payload.last.eq((row == out_h * ph - 1) & (col == out_w * pw - 1)),
                    ]
        return m
