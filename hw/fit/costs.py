"""The fit plan's costs that are facts of a chip family and of synthesis rather than of a
stage: how Yosys maps a memory onto a family's block RAMs (:func:`memory_brams`), the
logic-cell model's fitted coefficients per term (:data:`LOGIC_MODEL`; the stages publish the
terms, ``hw.stages.kind``), and the weights assumed for a convolution not trained yet."""

import math

import numpy as np

from platforms.families import FAMILIES

__all__ = ["memory_brams", "LOGIC_MODEL", "LOGIC_MODELS", "ASSUMED_WEIGHT_STD",
           "assumed_weight"]


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


#: The iCE40's logic model: logic cells (a LUT4, a flip-flop and a carry each) per unit of
#: each stage's terms (the stages publish them: ``hw.stages.kind.StageCost``), fitted by
#: non-negative least squares to Yosys' synth_ice40 and nextpnr's packing of the single
#: stages of 19 networks (5 of them folded), and the board's own part, with and without the
#: self-test, to the same networks' whole designs by least squares (``python -m
#: bench.fit_calibrate``, ``bench/fit_calibration.json``: within 5 % on each whole design);
#: its error on full builds: ``bench/fit_check.md``.
LOGIC_MODEL = {
    # hw/stages/conv.py: the constant products' adder trees (bits of each adder that do work: a
    # shifted term's zero bits and the bits only one operand has pass through; the last
    # adders and the requantisers come out in proportion); the window's registers (bits),
    # which feed the first adders; the counters and the line buffer's port.
    "conv_adder_bit": 1.491, "conv_window_bit": 0.848, "conv": 160.4,
    # hw/stages/skid.py: two entries of the payload (bits) and their multiplexer; the flags.
    "skid_bit": 2.0, "skid": 14,
    # hw/stages/queue.py: the output register and the memory's data (bits); the read and
    # write addresses, the level and their comparisons.
    "queue_bit": 0.782, "queue": 118.5,
    # hw/stages/padding.py: a padding's counters and flags, and per bit its output register
    # with the multiplexer of the code 0; a stride's counters and the comparisons that decide
    # what it keeps. Not yet fitted: guessed from their counters' bits.
    "pad": 40, "pad_bit": 1.0, "stride": 50,
    # hw/stages/gavgpool.py: per bit of the channels' sums, its register and its adder (or
    # the unit's multiplexer); the division, its registers and the counters. Guessed alike.
    "gap": 90, "gap_bit": 2.0,
    # hw/stages/pool.py: per bit of a position's channels, two comparisons, the running maximum,
    # the step's register and the output; the counters. Its serial pooling (a code a
    # transfer): the counters, the entry's adder, one comparison.
    "pool_bit": 10.179, "pool": 67.5, "serial_pool": 168.1,
    # hw/stages/dense.py: per lane, the adder, the bias table and the requantiser (bits of the
    # accumulator); per accumulator of a pass (lanes x groups per pass), its register and its
    # output buffer (bits; fitted when the calibration's plans had several a lane, see
    # bench.fit_calibrate.FIXED); per bit of the input word, the code's multiplexer; the
    # sequencer; start values from a memory of bias codes (more than 16 groups): their
    # adders and the read; a memory that Yosys keeps in logic: per RAM bit (fitted), per ROM
    # bit (LUTs, measured alone: 490 for 64 x 64 bits, 154 for 8 x 128).
    "dense_lane_bit": 1.123, "dense_accumulator_bit": 1.708, "dense_input_bit": 3.231,
    "dense": 183.9, "dense_bias_codes": 40.9, "ram_bit": 0.427, "rom_bit": 0.12,
    # hw/stages/window.py and gather.py (a folded convolution's, beside its dense engine's
    # terms): the window stage's counters and addresses; the serializer's counters, and per
    # bit of its group its register and the code's multiplexer; two positions' serializer,
    # per bit of its input (both positions' codes) and its memory's port and pair counters;
    # per bit a gather's registers (a code-per-transfer input to a parallel convolution:
    # guessed, a flip-flop with its enable per bit).
    "window": 211.9, "serialize": 22.3, "serialize_bit": 1.917,
    "pair_serialize": 69.8, "pair_serialize_bit": 3.2, "gather_bit": 1.0,
    # hw/stages/argmax.py and hw/board/framer.py: per class, the logit's register, the scan's
    # and the frame's multiplexers; the argmax's FSM.
    "class": 30.633, "argmax": 12.3,
    # board/: the UARTs, the flash loader (CRC-32), the protocol's receiver and worker with
    # their timers and two CRC units, the image buffer's counters, the SPRAM store's address
    # multiplexer: what a whole design has beyond its stages (synthesised and packed); the
    # self-test's sequencer and its part of the flash reader, receiver and worker, in a
    # board top built with one (``hw.board.top.network_self_test_refusal``).
    "board": 751, "self_test": 345,
}

#: The ECP5's logic model: LUT4s (TRELLIS_COMB; a CCU2C carry cell as two) per unit of the
#: same terms, its flip-flops not counted (nextpnr reports them apart), the lanes multiplied
#: in logic (``hw.lib.arith.LogicMultiplier``) a term of their own; fitted as the iCE40's by
#: synth_ecp5 and nextpnr-ecp5's packing of the same 19 networks' stages and whole designs,
#: the parallel ones planned for the ULX3S-25F, the folded ones for the 85F (``python -m
#: bench.fit_calibrate --family ecp5``, ``bench/fit_calibration_ecp5.json``: within 9 % on
#: each whole design). A term the fit drops (non-negative least squares: the accumulators,
#: in proportion to the lanes in these plans; the self-test, which the board's part takes
#: in) costs 0; the padding, stride, global pooling, gather and one-position serializer
#: terms, measured by no calibration network here (the ECP5 plans serialize two positions),
#: are the iCE40's former ones scaled by 0.95.
ECP5_LOGIC_MODEL = {
    "conv_adder_bit": 1.456, "conv_window_bit": 1.67, "conv": 395.7,
    "skid_bit": 2.0, "skid": 9.0,
    "queue_bit": 0.05, "queue": 87.7,
    "pad": 38.0, "pad_bit": 0.95, "stride": 47.5, "gap": 85.5, "gap_bit": 1.9,
    "gather_bit": 0.95,
    "pool_bit": 5.539, "pool": 56.7, "serial_pool": 111.6,
    "dense_lane_bit": 3.525, "dense_accumulator_bit": 0.0, "dense_input_bit": 1.909,
    "dense": 177.5, "dense_bias_codes": 24.7, "logic_lane": 174.6, "ram_bit": 0.08,
    "rom_bit": 0.05,
    "window": 593.5, "serialize": 31.35, "serialize_bit": 1.425,
    "pair_serialize": 126.5, "pair_serialize_bit": 0.893,
    "class": 32.545, "argmax": 0.0,
    "board": 492, "self_test": 0,
}

#: Each family's logic model, by the family's name (``platforms.families``).
LOGIC_MODELS = {"ice40": LOGIC_MODEL, "ecp5": ECP5_LOGIC_MODEL}

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
