"""A convolution's padding and strides as stream stages around its engine: the input padded
with codes 0 (:class:`PadStage`), the outputs of the windows off the stride's grid dropped
(:class:`StrideStage`). Either engine (``hw.stages.conv``) then computes a valid, stride-1
convolution of the padded image, as it does without them."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.layouts import element_layout
from hw.lib.params import check_count
from hw.stages.kind import StageCost

__all__ = ["PadStage", "StrideStage", "pad_times", "stride_times", "pad_cost", "stride_cost"]


def _axis_flag(m, *, step, wrap, counter, start, end):
    """A registered flag that ``counter`` (stepping by one with ``step``, back to 0 with
    ``wrap``) is in ``[start, end)``."""
    flag = Signal(init=start == 0 < end)
    with m.If(step):
        with m.If(wrap):
            m.d.sync += flag.eq(start == 0 < end)
        with m.Elif(counter == start - 1):
            m.d.sync += flag.eq(1)
        with m.Elif(counter == end - 1):
            m.d.sync += flag.eq(0)
    return flag


def _counter(m, *, step, size, name, restart=None):
    """A counter of ``range(size)`` stepping with ``step`` (back to 0 with ``restart``) and
    its registered flag of being at ``size - 1`` (where the next step wraps to 0)."""
    counter = Signal(range(size), name=name)
    at_end = Signal(init=size == 1, name=f"{name}_end")
    with m.If(restart if restart is not None else 0):
        m.d.sync += [counter.eq(0), at_end.eq(size == 1)]
    with m.Elif(step):
        with m.If(at_end):
            m.d.sync += [counter.eq(0), at_end.eq(size == 1)]
        with m.Else():
            m.d.sync += [counter.eq(counter + 1), at_end.eq(counter == size - 2)]
    return counter, at_end


class PadStage(wiring.Component):
    """A row-major image stream with ``padding`` codes 0 around it: ``top`` rows before,
    ``bottom`` after, ``left`` and ``right`` pixels on each row's ends (a pixel is ``units``
    transfers: its channels, or one code of them at a time).

    Code 0 is the real value 0 in every format of the contract, signed or not (no zero
    point), so this is Keras' zero padding. The padding before an image's first pixel goes
    out only once that pixel is offered, so that every image takes as long as the first
    (the fit plan's latency); the padding after its last pixel goes out at once. The output
    is a register: one transfer a cycle when the consumer takes it, the input waiting while
    padding goes out. ``last`` marks the padded image's last transfer (the input's is not
    read: the counters follow the output's positions).

    Parameters
    ----------
    shape : (int, int, int)
        The input's ``(height, width, units)``: transfers per pixel in ``units``.
    padding : ((int, int), (int, int))
        ``((top, bottom), (left, right))``, in pixels.
    fmt : q8.contract.Format
    in_width : int
        Codes per transfer.

    Members
    -------
    i : In(stream.Signature(element_layout(in_width, fmt)))
    o : Out(stream.Signature(element_layout(in_width, fmt)))
    """

    #: Cycles from an input transfer to its output transfer: the output register.
    LATENCY = 1

    def __init__(self, *, shape, padding, fmt, in_width):
        height, width, units = shape
        for name, value in (("height", height), ("width", width), ("units", units),
                            ("in_width", in_width)):
            check_count(name, value)
        for pad in (*padding[0], *padding[1]):
            check_count("a padding", pad, minimum=0)
        self._shape, self._padding = (height, width, units), padding
        layout = element_layout(in_width, fmt)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        height, width, units = self._shape
        (top, bottom), (left, right) = self._padding
        rows, cols = top + height + bottom, (left + width + right) * units
        advance = ~self.o.valid | self.o.ready
        step = Signal()   # a transfer goes out to the output register
        col, col_end = _counter(m, step=step, size=cols, name="col")
        row, row_end = _counter(m, step=step & col_end, size=rows, name="row")
        col_in = _axis_flag(m, step=step, wrap=col_end, counter=col, start=left * units,
                            end=(left + width) * units)
        row_in = _axis_flag(m, step=step & col_end, wrap=row_end, counter=row, start=top,
                            end=top + height)
        interior = row_in & col_in
        # the padding before an image's first pixel waits for it (every image alike)
        started = Signal()
        with m.If(step):
            m.d.sync += started.eq(~(row_end & col_end))
        m.d.comb += [step.eq(advance & Mux(interior, self.i.valid, started | self.i.valid)),
                     self.i.ready.eq(advance & interior)]
        with m.If(advance):
            m.d.sync += self.o.valid.eq(step)
        with m.If(step):
            m.d.sync += [self.o.payload.data.as_value().eq(
                             Mux(interior, self.i.payload.data.as_value(), 0)),
                         self.o.payload.last.eq(row_end & col_end)]
        return m


def pad_times(times, *, shape, padding):
    """Output transfer times of a :class:`PadStage` whose input transfers are offered at
    ``times`` (whole images, in a row; each then held until taken), the consumer always
    ready."""
    height, width, units = shape
    (top, bottom), (left, right) = padding
    per_image = height * width * units
    out, last = [], 0
    for start in range(0, len(times), per_image):
        image = iter(times[start:start + per_image])
        first = times[start]
        for r in range(top + height + bottom):
            for c in range((left + width + right) * units):
                if top <= r < top + height and left * units <= c < (left + width) * units:
                    last = max(last + 1, next(image) + PadStage.LATENCY)
                elif r < top or (r == top and c < left * units):
                    last = max(last + 1, first + PadStage.LATENCY)   # waits for the image
                else:
                    last += 1
                out.append(last)
    return out


def pad_cost(name, in_width):
    """The :class:`~hw.stages.kind.StageCost` of a :class:`PadStage`: its counters and flags,
    and its output register's multiplexer (bits)."""
    return StageCost(name=name, kind="pad", terms={"pad": 1, "pad_bit": 8 * in_width + 1})


class StrideStage(wiring.Component):
    """Keeps the transfers of the output positions on a stride's grid: of a row-major stream
    of ``height x width`` positions of ``units`` transfers each (a valid, stride-1
    convolution's outputs), those at rows ``0, sh, 2 sh, ...`` and columns ``0, sw, ...``
    that a window of the strided convolution has (as Keras, the grid's last row and column
    at most ``height - 1`` and ``width - 1``). ``last`` marks the grid's last transfer; the
    input's ``last`` restarts the counters. No register: the transfers kept pass straight
    through, the others are taken and dropped.

    Parameters
    ----------
    shape : (int, int, int)
        ``(height, width, units)`` of the input positions.
    strides : (int, int)
    fmt : q8.contract.Format
    width : int
        Codes per transfer.

    Members
    -------
    i : In(stream.Signature(element_layout(width, fmt)))
    o : Out(stream.Signature(element_layout(width, fmt)))
    """

    def __init__(self, *, shape, strides, fmt, width):
        height, cols, units = shape
        for name, value in (("height", height), ("width", cols), ("units", units),
                            ("row stride", strides[0]), ("column stride", strides[1]),
                            ("width", width)):
            check_count(name, value)
        self._shape, self._strides = (height, cols, units), tuple(strides)
        layout = element_layout(width, fmt)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        height, width, units = self._shape
        sh, sw = self._strides
        last_row, last_col = (height - 1) // sh * sh, (width - 1) // sw * sw
        take = self.i.valid & self.i.ready
        restart = take & self.i.payload.last
        unit, unit_end = _counter(m, step=take, size=units, name="unit", restart=restart)
        col, col_end = _counter(m, step=take & unit_end, size=width, name="col",
                                restart=restart)
        row, row_end = _counter(m, step=take & unit_end & col_end, size=height, name="row",
                                restart=restart)
        # the position's phase within each stride: the grid's rows and columns are phase 0
        # (the next row or column of phase 0 after the grid's last is past the end)
        col_phase, _ = _counter(m, step=take & unit_end, size=sw, name="col_phase",
                                restart=restart | (take & unit_end & col_end))
        row_phase, _ = _counter(m, step=take & unit_end & col_end, size=sh, name="row_phase",
                                restart=restart | (take & unit_end & col_end & row_end))
        keep = (row_phase == 0) & (col_phase == 0)
        final = (row == last_row) & (col == last_col) & unit_end
        m.d.comb += [self.o.valid.eq(self.i.valid & keep),
                     self.i.ready.eq(self.o.ready | ~keep),
                     self.o.payload.data.as_value().eq(self.i.payload.data.as_value()),
                     self.o.payload.last.eq(final)]
        return m


def stride_times(times, *, shape, strides):
    """Output transfer times of a :class:`StrideStage` whose input transfers are at
    ``times`` (whole images, in a row): the kept ones', unchanged."""
    height, width, units = shape
    sh, sw = strides
    out = []
    for index, t in enumerate(times):
        position = index % (height * width * units) // units
        r, c = divmod(position, width)
        if r % sh == 0 and c % sw == 0:
            out.append(t)
    return out


def stride_cost(name):
    """The :class:`~hw.stages.kind.StageCost` of a :class:`StrideStage`: its counters and
    the comparisons that decide what is kept."""
    return StageCost(name=name, kind="stride", terms={"stride": 1})
