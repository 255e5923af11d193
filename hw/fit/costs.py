"""The fit plan's costs that are facts of a chip family and of synthesis rather than of a
stage: how Yosys maps a memory onto a family's block RAMs (:func:`memory_brams`), the
logic-cell model's fitted coefficients per term (:data:`LOGIC_MODEL`; the stages publish the
terms, ``hw.stages.kind``), and the weights assumed for a convolution not trained yet."""

import math

import numpy as np

from platforms.families import FAMILIES

__all__ = ["memory_brams", "LOGIC_MODEL", "ASSUMED_WEIGHT_STD", "assumed_weight"]


#: memory_libmap's weights of the logic its mappings add (``passes/memory/memory_libmap.cc``:
#: FACTOR_MUX, FACTOR_DEMUX, FACTOR_EMU): the read multiplexers and write decoders over the
#: cells stacked for depth, and the emulated port behaviour.
_FACTOR_MUX, _FACTOR_DEMUX, _FACTOR_EMU = 0.5, 0.5, 2


def memory_brams(width, depth, *, rom=False, block=False, family=FAMILIES["ice40"]):
    """Block RAMs of one ``width`` x ``depth`` memory as Yosys maps it for ``family``
    (``block``: the memory asks for block RAM, ``ram_style``), or 0 if it stays in logic."""
    brams = min(math.ceil(width / w) * math.ceil(depth / d) for w, d in family.bram_shapes)
    if block:
        return brams
    if family.lutram is not None and not rom:
        # memory_libmap's own choice: LUT RAM (listed first) unless a block RAM costs less
        # than its cost made an integer
        bram = family.bram_cost * brams + _FACTOR_EMU * family.bram_emulation
        return brams if bram < int(_lutram_cost(width, depth, family)) else 0
    logic = width * depth * (family.rom_bit_cost if rom else family.ram_bit_cost)
    return brams if family.bram_cost * brams < logic else 0


def _lutram_cost(width, depth, family):
    """memory_libmap's cost of a RAM of one write and one read port in ``family``'s LUT RAM:
    the cells, the read multiplexer and write decoder over those stacked for depth, and the
    read port's data register."""
    cell_depth, cell_width, cost = family.lutram
    stacked = math.ceil(depth / cell_depth)
    return (cost * math.ceil(stacked * width / cell_width)
            + _FACTOR_MUX * (stacked - 1) * width
            + (_FACTOR_DEMUX * stacked if stacked > 1 else 0)
            + _FACTOR_EMU * family.lutram_emulation)


#: The logic-cell model: logic cells (a LUT4, a flip-flop and a carry each) per unit of each
#: stage's terms (the stages publish them: ``hw.stages.kind.StageCost``), fitted by non-negative least squares to Yosys' synth_ice40 and nextpnr's
#: packing of single stages of 14 networks, and the board's own part to the same networks'
#: whole designs (``python -m bench.fit_calibrate``, ``bench/fit_calibration.json``: within
#: 5 % on each whole design); its error on full builds: ``bench/fit_check.md``.
LOGIC_MODEL = {
    # hw/stages/conv.py: the constant products' adder trees (bits of each adder that do work: a
    # shifted term's zero bits and the bits only one operand has pass through; the last
    # adders and the requantisers come out in proportion); the window's registers (bits),
    # which feed the first adders; the counters and the line buffer's port.
    "conv_adder_bit": 1.49, "conv_window_bit": 0.85, "conv": 160,
    # hw/stages/skid.py: two entries of the payload (bits) and their multiplexer; the flags.
    "skid_bit": 2.0, "skid": 14,
    # hw/stages/queue.py: the output register and the memory's data (bits); the read and
    # write addresses, the level and their comparisons. Not yet fitted: read off a queue of
    # LeNet-5's second convolution synthesised and packed alone.
    "queue_bit": 2.0, "queue": 60,
    # hw/stages/padding.py: a padding's counters and flags, and per bit its output register
    # with the multiplexer of the code 0; a stride's counters and the comparisons that decide
    # what it keeps. Not yet fitted: guessed from their counters' bits.
    "pad": 40, "pad_bit": 1.0, "stride": 50,
    # hw/stages/gavgpool.py: per bit of the channels' sums, its register and its adder (or
    # the unit's multiplexer); the division, its registers and the counters. Guessed alike.
    "gap": 90, "gap_bit": 2.0,
    # hw/stages/pool.py: per bit of a position's channels, two comparisons, the running maximum,
    # the step's register and the output; the counters.
    "pool_bit": 10.2, "pool": 68,
    # hw/stages/dense.py: per lane, the adder, the bias table and the requantiser (bits of the
    # accumulator); per accumulator of a pass (lanes x groups per pass), its register and its
    # output buffer (bits); per bit of the input word, the code's multiplexer; the sequencer;
    # a memory that Yosys keeps in logic: per RAM bit (fitted), per ROM bit (LUTs, measured
    # alone: 490 for 64 x 64 bits, 154 for 8 x 128).
    "dense_lane_bit": 1.11, "dense_accumulator_bit": 1.71, "dense_input_bit": 3.47,
    "dense": 170, "ram_bit": 0.22, "rom_bit": 0.12,
    # hw/stages/window.py and gather.py (a folded convolution's, beside its dense engine's
    # terms): the window stage's counters and addresses; the serializer's counters, and per
    # bit of its group its register and the code's multiplexer; per bit a gather's registers
    # (a code-per-transfer input to a parallel convolution); pool.py's serial pooling: its
    # counters, the entry's adder, one comparison; dense.py's start values from a memory of
    # bias codes (more than 16 groups): their adders and the read. Not yet fitted by bench.fit_calibrate: read off single stages of
    # LeNet-5's folded plan synthesised and packed alone (the gather's guessed: a flip-flop
    # with its enable per bit).
    "window": 195, "serialize": 33, "serialize_bit": 1.5, "gather_bit": 1.0,
    "serial_pool": 134, "dense_bias_codes": 100,
    # hw/stages/argmax.py and hw/board/framer.py: per class, the logit's register, the scan's and the
    # frame's multiplexers (21.7 + 7.8); the argmax's FSM.
    "class": 29.5, "argmax": 16,
    # board/: the UARTs, the flash reader and loader (CRC-32), the protocol's receiver and
    # worker with their timers and two CRC units, the self-test's counters and the answer's
    # fields, the image buffer's counters, the SPRAM store's address multiplexer: what a whole
    # design has beyond its stages (synthesised and packed). Fitted by bench.fit_calibrate
    # (636) before the streaming worker and the self-test; since, the shipped network's
    # whole design less its stages' estimate, until the calibration is rerun.
    "board": 1351,
}

#: Weights assumed for a convolution whose weights are not known yet (an architecture): codes
#: drawn from a normal distribution of this standard deviation (in codes) with a fixed seed.
#: Trained weights here have about 2.2 canonical signed digits per weight (the shipped
#: network's), uniform random codes 2.8; these 2.45.
ASSUMED_WEIGHT_STD = 45


def assumed_weight(layer):
    """Weight codes assumed for ``layer`` (:data:`ASSUMED_WEIGHT_STD`, seeded by its shape)."""
    rng = np.random.default_rng(sum(layer.weight_shape))
    codes = np.round(rng.normal(0, ASSUMED_WEIGHT_STD, layer.weight_shape))
    return np.clip(codes, -128, 127).astype(np.int8)
