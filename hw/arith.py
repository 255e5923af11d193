"""The contract's requantisation as gateware (``q8.contract.requantize`` in hardware).

The rounding constant of ``(acc + 2**(s-1)) >> s`` is folded into each accumulator's initial
value, together with the aligned bias (both constants), so the hardware needs no adder for
it: the accumulator starts at :func:`initial_value` and requantising is a shift and a clamp.
"""

from amaranth.hdl import Mux

__all__ = ["initial_value", "requantize"]


def initial_value(layer, bias_code):
    """What an accumulator of ``layer`` starts from: the aligned bias plus the rounding
    constant of the output shift."""
    offset = 1 << (layer.out_shift - 1) if layer.out_shift > 0 else 0
    return (int(bias_code) << layer.bias_shift) + offset


def requantize(acc, *, shift, fmt):
    """Saturate ``acc >> shift`` to the codes of ``fmt``; ``acc`` already holds the rounding
    constant (see :func:`initial_value`), so this is the contract's round-half-up. Returns an
    8-bit value of ``fmt``'s signedness; with an unsigned ``fmt`` the clamp at 0 is the ReLU."""
    shifted = acc >> shift if shift > 0 else acc << -shift  # signed: arithmetic, flooring
    clamped = Mux(shifted < fmt.min, fmt.min, Mux(shifted > fmt.max, fmt.max, shifted))
    return clamped[:8].as_signed() if fmt.signed else clamped[:8]
