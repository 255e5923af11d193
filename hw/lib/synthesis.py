"""Hints to the synthesiser."""

__all__ = ["one_hot"]


def one_hot(fsm):
    """Ask Yosys to encode ``fsm`` (what ``with m.FSM() as fsm`` gives) one-hot: a flip-flop per
    state, so that next-state logic decodes no state number (timing).

    Yosys then ignores the state register's initial value (it warns so): the FSM relies on the
    domain's reset, which :class:`hw.vendor.ice40.ClockGenerator` holds until the PLL locks, to start
    in its first state. Simulation with Amaranth is unaffected.
    """
    fsm.state.attrs["fsm_encoding"] = "one-hot"
