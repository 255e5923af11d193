"""The contract's requantisation as gateware (``q8.contract.requantize`` in hardware).

The rounding constant of ``(acc + 2**(s-1)) >> s`` is folded into each accumulator's initial
value, together with the aligned bias (both constants), so the hardware needs no adder for
it: the accumulator starts at :func:`initial_value` and requantising is a shift and a clamp.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["initial_value", "requantize", "LogicMultiplier"]


def initial_value(layer, bias_code):
    """What an accumulator of ``layer`` starts from: the aligned bias plus the rounding
    constant of the output shift."""
    offset = 1 << (layer.out_shift - 1) if layer.out_shift > 0 else 0
    return (int(bias_code) << layer.bias_shift) + offset


def requantize(acc, *, shift, fmt, top=None):
    """Saturate ``acc >> shift`` to the codes of ``fmt`` (at most ``top``: a ReLU6's code,
    ``q8.contract.MacLayer.out_max``); ``acc`` already holds the rounding constant (see
    :func:`initial_value`), so this is the contract's round-half-up. Returns an 8-bit value of
    ``fmt``'s signedness; with an unsigned ``fmt`` the clamp at 0 is the ReLU."""
    top = fmt.max if top is None else top
    shifted = acc >> shift if shift > 0 else acc << -shift  # signed: arithmetic, flooring
    clamped = Mux(shifted < fmt.min, fmt.min, Mux(shifted > top, top, shifted))
    return clamped[:8].as_signed() if fmt.signed else clamped[:8]


class LogicMultiplier(wiring.Component):
    """One 8x8 product, unsigned ``a`` times signed ``b``, in logic (adders, no DSP),
    :attr:`LATENCY` cycles after its operands.

    For a chip with fewer DSPs than the lanes its plan asks for (the ECP5: Yosys maps every
    ``*`` to a MULT18X18D, and its own logic mapping of a product costs about twice these
    adders). The product is the sum of ``a``'s bits times ``b``, shifted: four sums of two
    (registered), two of those, and the last, each on the carry chain; the operands are
    registered first, so the weight store's read and the code's pick stay off the adders.

    Members
    -------
    a : In(unsigned(8))
    b : In(signed(8))
    p : Out(signed(16))
        ``a * b`` of the operands presented :attr:`LATENCY` cycles earlier.
    """

    LATENCY = 3

    def __init__(self):
        super().__init__({"a": In(unsigned(8)), "b": In(signed(8)), "p": Out(signed(16))})

    def elaborate(self, platform):
        m = Module()
        a = Signal(8)
        b = Signal(signed(8))
        m.d.sync += [a.eq(self.a), b.eq(self.b)]
        # bits 2k and 2k+1 of a: b * (a[2k] + 2 a[2k+1]), within 10 signed bits
        pairs = [Signal(signed(10), name=f"pair_{k}") for k in range(4)]
        for k in range(4):
            m.d.sync += pairs[k].eq(Mux(a[2 * k], b, 0) + Mux(a[2 * k + 1], b << 1, 0))
        # |b * a[0:4]| <= 128 * 15 fits 12 signed bits; the whole product 16
        low = Signal(signed(12))
        high = Signal(signed(12))
        m.d.comb += [low.eq(pairs[0] + (pairs[1] << 2)), high.eq(pairs[2] + (pairs[3] << 2))]
        m.d.sync += self.p.eq(low + (high << 4))
        return m
