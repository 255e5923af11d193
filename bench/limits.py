"""The chips' limits on the network (the iCE40UP5K's, and an ECP5's), computed from its layers
and the device's resources.

Pure functions of a :class:`q8.weights.Network` and a few resource counts (the board's
``resources``, ``platforms/``); ``python -m bench`` measures the gateware against them.
"""

import math

from hw.board.protocol import classify_request, frame_bytes
from hw.lib.params import check_count
from q8.contract import WIDTH

__all__ = ["SPRAM_WIDTH_BITS", "PRODUCTS_PER_DSP", "UART_BITS_PER_BYTE", "macs",
           "weights_per_cycle", "weight_bandwidth_floor", "products_per_cycle", "dsp_floor",
           "uart_request_bytes", "uart_response_bytes", "uart_wire_bits", "DP16KD_READ_BITS",
           "dense_macs", "block_ram_floor", "multiplier_floor", "pixel_floor"]

#: Data width of one SB_SPRAM256KA (16K x 16 bits; Lattice FPGA-TN-02022, iCE40 SPRAM Usage
#: Guide, and Yosys' ``ice40/cells_sim.v``).
SPRAM_WIDTH_BITS = 16

#: 8x8 products per SB_MAC16 and cycle: its dual 8x8 mode has two independent multipliers
#: (Lattice FPGA-TN-02007, iCE40 DSP Function Usage Guide; ``hw.vendor.ice40.MultiplierPair``).
PRODUCTS_PER_DSP = 2

#: A byte on the UART line: start bit, 8 data bits, stop bit (``docs/protocol.md``: 8N1).
UART_BITS_PER_BYTE = 10


def macs(net):
    """Multiply-accumulates per image of each MAC layer: ``{name: outputs x fan-in}``."""
    return {layer.name: math.prod(layer.out_shape) * layer.fan_in
            for layer in net.layers if hasattr(layer, "fan_in")}


def weights_per_cycle(*, sprams):
    """Weights the ``sprams`` SPRAMs deliver per cycle, read side by side."""
    check_count("sprams", sprams)
    return sprams * SPRAM_WIDTH_BITS // WIDTH


def weight_bandwidth_floor(net, *, sprams):
    """Cycles per image to read the first dense layer's weights (the layer too large for the
    block RAMs, which ``hw.board.top`` keeps in the SPRAMs) at :func:`weights_per_cycle`: a word per
    input holds the weights of that many outputs, so the outputs round up to whole words."""
    first = net.first_dense
    if first is None:
        raise ValueError("the network has no dense layer: nothing is read from the SPRAMs")
    return first.in_features * -(-first.out_features // weights_per_cycle(sprams=sprams))


def products_per_cycle(*, dsps):
    """8x8 products per cycle with every multiplier of ``dsps`` SB_MAC16s busy."""
    check_count("dsps", dsps)
    return dsps * PRODUCTS_PER_DSP


def dsp_floor(net, *, dsps):
    """Cycles per image if all the network's MACs ran on the ``dsps`` SB_MAC16s, both
    multipliers of each busy on every cycle (rounded up)."""
    return -(-sum(macs(net).values()) // products_per_cycle(dsps=dsps))


def uart_request_bytes(net):
    """A classify request: the command byte and the image's pixels (``hw.board.protocol``)."""
    return len(classify_request(bytes(net.pixels), seq=1))


def uart_response_bytes(net):
    """The board's answer to a classify request: one response frame, its size set by the
    network's classes (``hw.board.protocol``)."""
    return frame_bytes(net.classes)


def uart_wire_bits(net):
    """Bits on the UART line per image: the request, then the response frame."""
    return UART_BITS_PER_BYTE * (uart_request_bytes(net) + uart_response_bytes(net))


# --- a chip whose every weight is in block RAM (the ECP5) ------------------------------------

#: Bits a DP16KD delivers per cycle: its 36-bit pseudo-dual-port read (512 x 36; Lattice
#: FPGA-TN-02204, ECP5 Memory Usage Guide, and Yosys' ``lattice/brams_16kd.txt``).
DP16KD_READ_BITS = 36


def dense_macs(net):
    """Multiply-accumulates per image of the dense layers (whose weights are read from
    memory; the convolutions' are constants in logic)."""
    return sum(layer.in_features * layer.out_features for layer in net.dense_layers)


def block_ram_floor(net, *, brams, read_bits=DP16KD_READ_BITS):
    """Cycles per image to read every dense weight once with all ``brams`` block RAMs
    delivering ``read_bits`` a cycle each."""
    check_count("brams", brams)
    return -(-dense_macs(net) // (brams * read_bits // WIDTH))


def multiplier_floor(net, *, multipliers):
    """Cycles per image if the dense layers' MACs ran on ``multipliers`` 8x8 multipliers,
    every one busy every cycle."""
    check_count("multipliers", multipliers)
    return -(-dense_macs(net) // multipliers)


def pixel_floor(net):
    """Cycles per image with the pixels entering a pixel a cycle (the gateware's input)."""
    return net.pixels
