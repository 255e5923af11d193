"""The contract's requantisation as gateware (``sim.contract.requantize`` in hardware)."""

from amaranth.hdl import Const, Mux

__all__ = ["requantize"]


def requantize(acc, *, shift, fmt):
    """Round ``acc`` (a signed accumulator) half up by ``2**shift`` and saturate it to the codes
    of ``fmt``; returns an 8-bit value of ``fmt``'s signedness. With an unsigned ``fmt`` the
    lower clamp at 0 is the ReLU."""
    if shift > 0:
        rounded = (acc + Const(1 << (shift - 1))) >> shift  # signed: arithmetic, flooring
    else:
        rounded = acc << -shift
    clamped = Mux(rounded < fmt.min, fmt.min, Mux(rounded > fmt.max, fmt.max, rounded))
    return clamped[:8].as_signed() if fmt.signed else clamped[:8]
