"""A UART (8 data bits, no parity, 1 stop bit) with stream ports."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from hw.lib.params import check_count

__all__ = ["divisor_of", "UARTReceiver", "UARTTransmitter"]


def divisor_of(baud, clock_hz):
    """The UART's clock cycles per bit at ``baud`` and ``clock_hz``; a ``ValueError`` unless
    the rate is a positive integer that divides the clock exactly with at least 4 cycles a bit
    (the receiver samples each bit once, near its middle)."""
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise ValueError(f"the baud rate must be a positive integer, not {baud!r}")
    if clock_hz % baud or clock_hz // baud < 4:
        raise ValueError(f"the baud rate {baud} must divide the design clock ({clock_hz} Hz) "
                         f"exactly, at least 4 clock cycles per bit: at 48 MHz, for example, "
                         f"12000000, 3000000 or 1000000")
    return clock_hz // baud


class UARTReceiver(wiring.Component):
    """Receives bytes on ``rx``.

    The line is synchronised, a start bit is confirmed at its middle, and each bit is sampled
    near its middle (within a cycle). A byte whose stop bit is low (a framing error, as from a break or a rate
    mismatch) is dropped and reported on ``framing``.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (48 MHz / 3 Mbaud = 16); at least 4.

    Members
    -------
    rx : In(1)
    o : Out(stream.Signature(8))
        Received bytes. There is no buffer: a consumer must take a byte within one byte time.
    framing : Out(1)
        High for a cycle when a byte is dropped for its low stop bit.
    """

    def __init__(self, *, divisor):
        check_count("divisor", divisor, minimum=4)
        self._divisor = divisor
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(8)),
                          "framing": Out(1)})

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self._divisor))
        bits = Signal(range(9))
        shift = Signal(8)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.sync += self.framing.eq(0)

        with m.FSM():
            with m.State("Idle"):
                with m.If(~rx):
                    # the synchroniser's two flip-flops and this state delay what the FSM sees
                    # by about two cycles: waiting two less than half a bit puts the samples at
                    # the bits' middles. At 4 cycles a bit (12 Mbaud) a cycle is a quarter
                    # bit: one later and a host 2 % fast has its stop bits sampled at their
                    # end (tests/test_board.py, the 12 Mbaud test)
                    m.d.sync += timer.eq(self._divisor // 2 - 2)
                    m.next = "Start"
            with m.State("Start"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):  # a glitch, not a start bit
                    m.next = "Idle"
                with m.Else():
                    m.d.sync += [timer.eq(self._divisor - 1), bits.eq(0)]
                    m.next = "Data"
            with m.State("Data"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += timer.eq(self._divisor - 1)
                    with m.If(bits == 8):  # the stop bit
                        with m.If(rx):
                            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(shift)]
                            m.next = "Idle"
                        with m.Else():
                            m.d.sync += self.framing.eq(1)
                            m.next = "Break"
                    with m.Else():
                        # LSB first: each bit enters at the top and moves down
                        m.d.sync += [shift.eq(Cat(shift[1:], rx)), bits.eq(bits + 1)]
            with m.State("Break"):
                with m.If(rx):  # wait for the line to idle before the next start bit
                    m.next = "Idle"
        return m


class UARTTransmitter(wiring.Component):
    """Sends bytes on ``tx``, LSB first.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit.

    Members
    -------
    i : In(stream.Signature(8))
    tx : Out(1)
    """

    def __init__(self, *, divisor):
        check_count("divisor", divisor, minimum=1)
        self._divisor = divisor
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self._divisor))
        frame = Signal(10)
        bits = Signal(range(11))
        m.d.comb += self.i.ready.eq(bits == 0)
        with m.If(self.i.valid & self.i.ready):
            # start bit (on the line now), then data LSB first, then the stop bit
            m.d.sync += [frame.eq((1 << 9) | (self.i.payload << 1)), bits.eq(10),
                         timer.eq(self._divisor - 1), self.tx.eq(0)]
        with m.Elif(bits != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                m.d.sync += [timer.eq(self._divisor - 1), bits.eq(bits - 1),
                             frame.eq(frame >> 1)]
                with m.If(bits == 1):  # the stop bit has lasted its time: idle
                    m.d.sync += self.tx.eq(1)
                with m.Else():
                    m.d.sync += self.tx.eq(frame[1])
        return m
