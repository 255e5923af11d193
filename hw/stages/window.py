"""The windows of a convolution, tap by tap (im2col): what a folded convolution multiplies."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hw.lib.layouts import element_layout
from hw.lib.params import check_count
from hw.lib.position import position_counters, reached_flag

__all__ = ["WindowStage", "window_times"]


class WindowStage(wiring.Component):
    """Each ``kh x kw`` window of a row-major image stream (valid padding, stride 1), as
    ``kh * kw`` transfers of its pixels, row by row, left to right: the order of a
    convolution's weights ``(kh, kw, channels, filters)`` flattened to ``(fan_in, filters)``.
    With ``in_width=1`` the stream carries one code per transfer, each pixel's channels in
    turn, in and out (``kh * kw * channels`` transfers a window, the same order): the rows'
    memory is then a code wide, a pixel's channels one after another.

    With ``pairs=True`` the windows go out two at a time, side by side in each transfer: the
    windows at output columns ``2c`` and ``2c + 1`` of a row, once the second is complete, tap
    by tap, the first's codes first in each transfer (what a folded convolution's engine takes
    with ``positions=2``). A row with an odd number of windows ends with its last alone,
    beside codes that mean nothing (the engine's serializer drops what it makes of them).

    The image's last ``kh`` rows are kept in one memory, a row per slot, used in turn. The
    pixel that completes a window (its bottom right) is written, then the input waits while
    the window's taps are read out, one a cycle when the output is taken; a folded
    convolution takes many cycles per window, so the input's pause costs nothing. ``last`` is
    set on the last tap of the image's last window; the input's ``last`` restarts the
    position counters, as in the other stages.

    Parameters
    ----------
    shape : (int, int, int)
        The input image's ``(height, width, channels)``.
    kernel : (int, int)
    fmt : q8.contract.Format
        The codes' format.
    in_width : int
        Codes per transfer: ``channels`` (a pixel; the default) or 1.
    pairs : bool

    Members
    -------
    i : In(stream.Signature(element_layout(in_width, fmt)))
    o : Out(stream.Signature(element_layout(in_width * (1 + pairs), fmt)))
        ``(height - kh + 1) * (width - kw + 1) * kh * kw * channels / in_width`` transfers
        per image (with ``pairs``, ``(width - kw + 1)`` rounded up to even and halved).
    """

    def __init__(self, *, shape, kernel, fmt, in_width=None, pairs=False):
        height, width, channels = shape
        for name, value in (("height", height), ("width", width), ("channels", channels)):
            check_count(name, value)
        kh, kw = kernel
        if not (1 <= kh <= height and 1 <= kw <= width):
            raise ValueError(f"kernel {kernel} must fit the {height}x{width} image")
        in_width = channels if in_width is None else in_width
        if in_width not in (1, channels):
            raise ValueError(f"in_width must be the {channels} channels or 1, not {in_width!r}")
        if not isinstance(pairs, bool):
            raise ValueError(f"pairs must be True or False, not {pairs!r}")
        self._shape, self._kernel, self._in_width = (height, width, channels), (kh, kw), in_width
        self._pairs = pairs
        super().__init__({
            "i": In(stream.Signature(element_layout(in_width, fmt))),
            "o": Out(stream.Signature(element_layout(in_width * (1 + pairs), fmt)))})

    def elaborate(self, platform):
        height, pixels, channels = self._shape
        kh, kw_pixels = self._kernel
        # a row is `width` units of a transfer each: a pixel, or a pixel's channels in turn
        per_pixel = channels // self._in_width
        width, kw = pixels * per_pixel, kw_pixels * per_pixel
        m = Module()
        pairs = self._pairs
        # with pairs, the second window's reads go a pixel further: past the last slot's end
        # for a row's last window alone, which entries more keep within the memory
        # a read never meets a write to its entry when its data is used (the input waits
        # while the taps are read; the completing pixel, written a cycle late, is a
        # window's last tap): Yosys need not make the block RAM read old data on a collision
        # (its comparison of the addresses was LeNet-5's critical path)
        rows = m.submodules.rows = Memory(shape=unsigned(8 * self._in_width),
                                          depth=kh * width + pairs * per_pixel, init=[],
                                          attrs={"no_rw_check": 1})
        wr, rd = rows.write_port(), rows.read_port()

        emitting = Signal()   # the window's taps are being read out; the input waits
        accept = self.i.valid & ~emitting
        m.d.comb += self.i.ready.eq(~emitting)
        row, col, row_end, end_of_image = position_counters(m, accept, self.i.payload.last,
                                                            height, width)
        # a window completes with its bottom right pixel's last unit
        unit = Signal(range(per_pixel))
        unit_last = Signal(init=per_pixel == 1)
        if per_pixel > 1:
            with m.If(accept & (unit_last | end_of_image | row_end)):
                m.d.sync += [unit.eq(0), unit_last.eq(0)]
            with m.Elif(accept):
                m.d.sync += [unit.eq(unit + 1), unit_last.eq(unit == per_pixel - 2)]
        # the slots' base addresses: the row being written, and the oldest row kept (the
        # next to be written, and the top of a window completed in this row)
        write_base = Signal(range(kh * width))
        top_base = Signal(range(kh * width), init=_next_slot(0, width, kh))
        # top_base + col, kept as a register (timing: a window's first read address is then
        # one adder from registers, not two in a row)
        top_col = Signal(range(kh * width + width), init=_next_slot(0, width, kh))
        with m.If(accept & end_of_image):
            m.d.sync += [write_base.eq(0), top_base.eq(_next_slot(0, width, kh)),
                         top_col.eq(_next_slot(0, width, kh))]
        with m.Elif(accept & row_end):
            m.d.sync += [write_base.eq(top_base), top_base.eq(_next_slot(top_base, width, kh)),
                         top_col.eq(_next_slot(top_base, width, kh))]
        with m.Elif(accept):
            m.d.sync += top_col.eq(top_col + 1)
        write = [wr.addr.eq(write_base + col), wr.data.eq(self.i.payload.data.as_value()),
                 wr.en.eq(accept)]
        if kh * kw > 1:
            # written a cycle after it is taken (timing: the input's valid and the address's
            # adder stay off the block RAM's ports); the pixel that completes a window is its
            # last tap, read a cycle or more after the read-out starts (a window of one unit
            # reads it in the read-out's first cycle, with pairs too: written at once)
            m.d.sync += write
        else:
            m.d.comb += write

        # the read-out: the tap's row (its slot's base) and the read addresses as registers,
        # with the counters' ends as registered flags, so that the block RAM's address comes
        # straight from a register and no comparison decides what it adds (timing)
        tap_row = Signal(range(kh))
        tap_col = Signal(range(kw))
        row_base = Signal(range(kh * width))   # the slot of the tap's row
        left = Signal(range(width))            # the window's first column
        col_end = Signal(init=kw == 1)         # tap_col == kw - 1
        row_end_tap = Signal(init=kh == 1)     # tap_row == kh - 1
        final = Signal()                       # the image's last window
        completes, offset = self._completions(
            m, accept=accept, row=row, col=col, row_end=row_end, end_of_image=end_of_image,
            unit_last=unit_last)
        with m.If(completes):
            m.d.sync += [emitting.eq(1), tap_row.eq(0), tap_col.eq(0), row_base.eq(top_base),
                         left.eq(col + offset()), col_end.eq(kw == 1),
                         row_end_tap.eq(kh == 1),
                         final.eq(end_of_image)]

        advance = ~self.o.valid | self.o.ready
        # the tap's address in each window read (the pair's second a pixel on)
        ports = [rd] + ([rows.read_port()] if pairs else [])
        self._read_addresses(m, ports=ports, completes=completes, top_col=top_col,
                             offset=offset,
                             row_base=row_base, left=left,
                             step=advance & emitting, col_end=col_end, row_end_tap=row_end_tap)
        m.d.comb += [port.en.eq(advance) for port in ports]
        m.d.comb += self.o.payload.data.as_value().eq(Cat(*(p.data for p in ports)))
        tap_last = row_end_tap & col_end
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(emitting), self.o.payload.last.eq(final & tap_last)]
            with m.If(emitting):
                with m.If(~col_end):
                    m.d.sync += [tap_col.eq(tap_col + 1), col_end.eq(tap_col == kw - 2)]
                with m.Elif(~row_end_tap):
                    m.d.sync += [tap_col.eq(0), col_end.eq(kw == 1),
                                 tap_row.eq(tap_row + 1), row_end_tap.eq(tap_row == kh - 2),
                                 row_base.eq(_next_slot(row_base, width, kh))]
                with m.Else():
                    m.d.sync += emitting.eq(0)
        return m

    def _read_addresses(self, m, *, ports, completes, top_col, offset, row_base, left, step,
                        col_end, row_end_tap):
        """Each window read's address as a register (the pair's second a pixel on): the
        window's first tap (``top_col + offset(j)``) at ``completes``, then a tap on at each
        ``step``, along the row and then to the next row's first."""
        _, pixels, channels = self._shape
        kh, kw_pixels = self._kernel
        per_pixel = channels // self._in_width
        width, kw = pixels * per_pixel, kw_pixels * per_pixel
        next_row = Signal(range(kh * width + width), name="next_row")
        if kw > 1:
            # a cycle behind row_base and left (timing: the slot's wrap, its comparison and
            # the adders stay off the read address's path); the next row starts at least
            # kw - 1 taps after either changes, so it is up to date when it is used
            m.d.sync += next_row.eq(_next_slot(row_base, width, kh) + left)
        else:
            m.d.comb += next_row.eq(_next_slot(row_base, width, kh) + left)
        for j, port in enumerate(ports):
            addr = Signal(range(kh * width + per_pixel), name=f"read_addr_{j}")
            with m.If(completes):
                m.d.sync += addr.eq(top_col + offset(j * per_pixel))
            with m.Elif(step & ~col_end):
                m.d.sync += addr.eq(addr + 1)
            with m.Elif(step & ~row_end_tap):
                m.d.sync += addr.eq(next_row + j * per_pixel)
            m.d.comb += port.addr.eq(addr)

    def _completions(self, m, *, accept, row, col, row_end, end_of_image, unit_last):
        """Whether the unit taken now completes a window (or, with pairs, a pair of them, or
        a row's last window alone), and ``offset(shift)``: the read-out's first column less
        the unit's, plus ``shift`` (constants, picked by a register: no adder before the
        read addresses' own)."""
        height, pixels, channels = self._shape
        kh, kw_pixels = self._kernel
        per_pixel = channels // self._in_width
        kw = kw_pixels * per_pixel
        # the counters' comparisons as registered flags (timing: `completes` enables the
        # read-out's registers, and the input's valid and the engine's ready are late)
        restart = accept & (end_of_image | row_end)
        row_ok = reached_flag(m, restart, accept & end_of_image, row, kh - 1)
        col_ok = reached_flag(m, accept, restart, col, kw - 1)
        in_rows = accept & row_ok & unit_last
        if not self._pairs:
            return in_rows & col_ok, lambda shift=0: Const(shift - (kw - 1))
        # the pixel's column's parity, kept as a flag
        odd = Signal()
        with m.If(restart):
            m.d.sync += odd.eq(0)
        with m.Elif(accept & unit_last):
            m.d.sync += odd.eq(~odd)
        # a pair completes with its second window (columns kw, kw + 2, ... of pixels), a
        # last window alone with the row
        pair_ok = reached_flag(m, accept, restart, col, kw + per_pixel - 1)
        pair = in_rows & pair_ok & (odd == kw_pixels % 2)
        alone = in_rows & row_end if (pixels - kw_pixels + 1) % 2 else Const(0)
        # the first column is used only when a window completes, and then `alone` is
        # `row_end`: the register, rather than the input's valid, picks it (timing: the valid
        # stays off the adders into the read addresses)
        pick = row_end if (pixels - kw_pixels + 1) % 2 else Const(0)
        return pair | alone, lambda shift=0: Mux(pick, shift - (kw - 1),
                                                 shift - (kw + per_pixel - 1))


def _next_slot(base, width, kh):
    """The base address of the slot after ``base``'s, of ``kh`` slots of ``width`` (one slot:
    itself)."""
    if isinstance(base, int):
        return (base + width) % (kh * width)
    return Mux(base == (kh - 1) * width, 0, base + width)


def window_times(times, *, shape, kernel, units):
    """Output transfer times of a :class:`WindowStage` (no pairs) whose input transfers
    (``units`` a pixel) are offered at ``times`` (whole images, in a row), the consumer
    always ready: a window's first tap two cycles after the transfer that completes it, its
    taps a cycle apart, the input taken again as its last tap leaves."""
    height, width, _ = shape
    kh, kw = kernel
    taps = kh * kw * units
    out, accept = [], -10 ** 9
    for index, t in enumerate(times):
        accept = max(t, accept + 1)
        r, u = divmod(index % (height * width * units), width * units)
        pixel, unit = divmod(u, units)
        if r >= kh - 1 and pixel >= kw - 1 and unit == units - 1:
            first = accept + 2
            out += range(first, first + taps)
            accept = first + taps - 2
    return out
