"""The contract's requantisation as gateware (``q8.contract.requantize`` in hardware), and the
rounded division of an average pooling's sums by their count.

The rounding constant of ``(acc + 2**(s-1)) >> s`` is folded into each accumulator's initial
value, together with the aligned bias (both constants), so the hardware needs no adder for
it: the accumulator starts at :func:`initial_value` and requantising is a shift and a clamp.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["initial_value", "requantize", "signed_digits", "reciprocal", "divide_rounded",
           "LogicMultiplier"]


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


def signed_digits(value):
    """``value`` as canonical signed digits: ``[(shift, +1 or -1), ...]`` summing to it, with
    no two adjacent, the fewest nonzero digits there are."""
    digits, shift = [], 0
    while value:
        if value & 1:
            digit = 2 - (value & 3)  # +1 if the next bit is 0, else -1 (a run of ones)
            digits.append((shift, digit))
            value -= digit
        value >>= 1
        shift += 1
    return digits


def reciprocal(n, limit):
    """``(multiplier, shift)`` with ``floor(x / n) == (x * multiplier) >> shift`` for every
    ``0 <= x <= limit``: the multiplier ``ceil(2**shift / n)``, ``e = multiplier * n -
    2**shift`` its excess, and the smallest shift with ``limit * e < 2**shift``, which makes
    ``x * multiplier / 2**shift = x / n + x e / (n 2**shift)`` exceed ``x / n`` by less than
    ``1 / n``: not enough to reach the next integer, since ``x / n`` is at least ``1 / n``
    below it unless it is one."""
    shift = 0
    while True:
        multiplier = -(-(1 << shift) // n)
        if limit * (multiplier * n - (1 << shift)) < (1 << shift):
            return multiplier, shift
        shift += 1


def divide_rounded(value, *, n, limit):
    """``floor((value + n // 2) / n)`` of an unsigned ``value`` at most ``limit`` (the
    contract's mean, rounded half up: ``q8.layers.avgpool2d.rounded_mean``): a shift for a
    power of two, else a multiply by :func:`reciprocal`'s constant as shifted adds of its
    signed digits (no DSP, which the fit plan does not count for it), then a shift."""
    biased = value + n // 2
    multiplier, shift = reciprocal(n, limit + n // 2)
    if multiplier == 1:
        return biased >> shift
    terms = [(biased << s) if d > 0 else -(biased << s) for s, d in signed_digits(multiplier)]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total >> shift


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
