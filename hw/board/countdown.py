"""The board's timers: the receiver's timeout and the worker's watchdog."""

from amaranth.hdl import Signal, signed

from hw.lib.params import check_count

__all__ = ["countdown"]


def countdown(m, *, cycles, name):
    """Add a timer of ``cycles`` to ``m``; returns ``(expired, restart)``: ``expired`` rises
    ``cycles + 1`` cycles after the last ``restart`` (a strobe, for the caller to drive).

    The timer counts down past 0: its sign bit is ``expired``, with no wide comparison. It
    runs down in every cycle, and ``restart`` reloads it. With one constant reload (the
    flip-flop's set or reset) and a decrement that never stops, each bit's next value is the
    sum LUT of its carry chain's logic cell; a second reload value, a stop at -1 or a
    per-state enable needs another LUT input there, which breaks the chain into pieces and
    costs half the clock. It wraps after about twice its reload, which no check sees: every
    state that reads ``expired`` restarts the timer on entry, or enters with it just run out.
    Reset-less: the domain's reset to 0 beside the reload's set (its bits that are 1) would
    put two set/reset nets on the chain, which a logic tile cannot share (timing); so
    ``expired`` means nothing before the first ``restart``.
    """
    check_count("cycles", cycles)
    timer = Signal(signed((cycles + 1).bit_length() + 1), reset_less=True, name=name)
    restart = Signal(name=f"{name}_restart")
    with m.If(restart):
        m.d.sync += timer.eq(cycles)
    with m.Else():
        m.d.sync += timer.eq(timer - 1)
    return timer[-1], restart
