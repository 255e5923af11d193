"""Where an element of an image stream is: row and column counters shared by the stages."""

from amaranth.hdl import Signal

__all__ = ["position_counters", "stall_all_input", "reached_flag"]


def position_counters(m, accept, last, height, width):
    """Row and column of the next element of a row-major ``height x width`` stream.

    Returns ``(row, col, row_end, end_of_image)``: the counters, and whether the element now
    offered ends its row or its image. The ends are registered flags, kept one step ahead,
    so no wide comparison sits between a transfer and the registers it enables. ``last``
    (the element is marked the last of its image) also ends the image: the counters restart,
    and a stream that lost or gained elements is in step again at the next image.
    """
    row = Signal(range(height))
    col = Signal(range(width))
    col_last = Signal(init=width == 1)    # col == width - 1
    row_last = Signal(init=height == 1)   # row == height - 1
    row_end = col_last
    end_of_image = last | (row_last & col_last)
    with m.If(accept):
        with m.If(end_of_image):
            m.d.sync += [row.eq(0), col.eq(0), col_last.eq(width == 1),
                         row_last.eq(height == 1)]
        with m.Elif(col_last):
            m.d.sync += [row.eq(row + 1), col.eq(0), col_last.eq(width == 1),
                         row_last.eq(row == height - 2)]
        with m.Else():
            m.d.sync += [col.eq(col + 1), col_last.eq(col == width - 2)]
    return row, col, row_end, end_of_image


def stall_all_input(m, stage, height, width):
    """The input side of a stall-all pipeline stage over an image stream.

    Every register stage of ``stage`` moves together (``advance``) when its output register
    is free; an element is taken (``accept``) when it is offered then. Returns ``(advance,
    accept, row, col, row_end, end_of_image)``, the last four from :func:`position_counters`.
    """
    advance = Signal()
    m.d.comb += [advance.eq(~stage.o.valid | stage.o.ready), stage.i.ready.eq(advance)]
    accept = stage.i.valid & advance
    return (advance, accept,
            *position_counters(m, accept, stage.i.payload.last, height, width))


def reached_flag(m, step, restart, counter, value):
    """A flag, registered, that ``counter`` (which counts up by one with ``step`` and
    restarts at 0 with ``restart``) is at ``value`` or beyond: a comparison kept off the
    paths that decide a stage's enables (timing)."""
    flag = Signal(init=value <= 0)
    with m.If(restart):
        m.d.sync += flag.eq(value <= 0)
    with m.Elif(step & (counter == value - 1)):
        m.d.sync += flag.eq(1)
    return flag
