"""The fit check: whether a network fits a board, with which schedules, at what cost.

:func:`plan` reads a network's layer configs (``q8.weights.Network.layers``, or
``q8.arch.configs(...)`` before any weights exist) and returns a :class:`Plan`: per stage the
multiply-accumulates, the weights and where they live, the DSPs, the block RAMs (each memory
as Yosys maps it), an estimate of the logic cells, and the cycles per image of the schedules
it chose, against the board's totals (``platforms/``). A network that does not fit is refused
with the resource it overflows and the largest size that would fit.

``python -m hw.fit --board icebreaker (--weights F | --arch SPEC | --from MODEL) [--json]``
prints the plan; ``python -m hw.build`` runs it before any long work and builds with its
schedules. How each number is had: ``docs/gateware.md``, "The fit check".
"""

import argparse
import dataclasses
import importlib.metadata
import itertools
import json
import math
import sys

import numpy as np

from hw.board.defaults import BOARD
from platforms import UnknownBoardError, boards, get_board
from q8 import arch
from q8.layers import Conv2DConfig, DenseConfig, MaxPool2DConfig
from q8.weights import WeightsError, build_layers, load
from hw.stages.conv import signed_digits
from hw.stages.dense import check_schedule, multiplier_latency
from hw.vendor.ice40 import MultiplierPair, SPRAMWeightStore
from hw.stages.network import WEIGHT_WORD_LANES, DenseSchedule

__all__ = ["FitError", "Family", "FAMILIES", "family_of", "Plan", "Stage", "plan",
           "memory_brams", "schedule_json", "LOGIC_MODEL",
           "ARCHITECTURES_GROUP", "main"]


class FitError(RuntimeError):
    """A network that does not fit the board (the fit plan's verdict, before any build), or a
    built design that does not fit or does not meet its clock (``hw.build``)."""


#: Entry points of this group read a Keras model file's architecture for ``--from``: a
#: callable ``(path) -> (input_shape, entries)`` (``q8.arch`` layer entries), provided by the
#: tools layer (``train``), which this module never imports.
ARCHITECTURES_GROUP = "mnist_q8.architectures"

# --- the families ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Family:
    """What the plan knows of an FPGA family (a board's ``family``).

    Members
    -------
    bram_shapes : tuple of (int, int)
        A block RAM's configurations, ``(width, depth)``, as Yosys maps memories to it.
    bram_cost, ram_bit_cost, rom_bit_cost : float
        Yosys' memory_libmap weighs a block RAM as ``bram_cost`` bits of logic and keeps a
        memory in logic when that costs no more: per RAM bit in logic ``ram_bit_cost``, per
        ROM bit (LUTs) ``rom_bit_cost`` (``share/*/brams*.txt``, ``lutrams*.txt``).
    lanes_per_dsp : int
        Dense lanes a DSP multiplies: the iCE40's SB_MAC16 two 8x8 products
        (``hw.vendor.ice40.MultiplierPair``), the ECP5's MULT18X18D one.
    first_in_spram : bool
        The first dense layer's weights live in the SPRAMs, loaded from flash (iCE40UP5K);
        otherwise every layer's are block RAM initialised by the bitstream.
    logic_lanes : bool
        Lanes beyond the DSPs may multiply in logic (``hw.lib.arith.LogicMultiplier``).
    logic_scale : float
        The family's logic cells per iCE40 logic cell of :data:`LOGIC_MODEL` (its "logic
        cells": iCE40 LCs, ECP5 LUT4s with a CCU2C as two).
    logic_lane_cells : int
        Logic cells of a lane multiplied in logic.
    board_cells : int or None
        Logic cells of the board's own logic; None: :data:`LOGIC_MODEL`'s ``board``.
    """

    name: str
    bram_shapes: tuple
    bram_cost: float
    ram_bit_cost: float
    rom_bit_cost: float
    lanes_per_dsp: int
    first_in_spram: bool
    logic_lanes: bool
    logic_scale: float
    logic_lane_cells: int
    board_cells: int


FAMILIES = {
    # SB_RAM40_4K: 4 Kbit as 256 x 16, 512 x 8, 1024 x 4 or 2048 x 2 (Yosys' ice40/brams.txt,
    # "cost 64"); RAM bits in flip-flops, ROM bits in LUTs (memory_libmap's defaults)
    "ice40": Family(name="ice40", bram_shapes=((2, 2048), (4, 1024), (8, 512), (16, 256)),
                    bram_cost=64, ram_bit_cost=1, rom_bit_cost=1 / 16, lanes_per_dsp=2,
                    first_in_spram=True, logic_lanes=False, logic_scale=1.0,
                    logic_lane_cells=0, board_cells=None),
    # DP16KD: 18 Kbit, x1 to x18 true dual port, x36 pseudo dual port ("cost 128"); RAM in
    # TRELLIS_DPR16X4 LUT RAM (64 bits, cost 4), ROM in LUTs (lattice/brams_16kd.txt,
    # lutrams_trellis.txt). Logic (TRELLIS_COMB): a LogicMultiplier alone synthesised (136
    # LUT4s and carry halves, its registers not counted), the stages' model scaled and the
    # board's part (no flash loader or self-test) fitted to the shipped network's ULX3S-25F
    # build and its pipeline placed alone (14,937 and 14,373 cells).
    "ecp5": Family(name="ecp5",
                   bram_shapes=((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024),
                                (36, 512)),
                   bram_cost=128, ram_bit_cost=1 / 16, rom_bit_cost=1 / 16, lanes_per_dsp=1,
                   first_in_spram=False, logic_lanes=True, logic_scale=0.95,
                   logic_lane_cells=140, board_cells=560),
}


def family_of(board):
    """The :class:`Family` of ``board`` (a ``platforms`` board)."""
    return FAMILIES[getattr(board, "family", "ice40")]


def memory_brams(width, depth, *, rom=False, block=False, family=FAMILIES["ice40"]):
    """Block RAMs of one ``width`` x ``depth`` memory as Yosys maps it for ``family``
    (``block``: the memory asks for block RAM, ``ram_style``), or 0 if it stays in logic."""
    brams = min(math.ceil(width / w) * math.ceil(depth / d) for w, d in family.bram_shapes)
    if block:
        return brams
    logic = width * depth * (family.rom_bit_cost if rom else family.ram_bit_cost)
    return brams if family.bram_cost * brams < logic else 0


# --- the cycle model -----------------------------------------------------------------------
# Cycles from a stage's input transfer to the output transfer it causes when nothing waits,
# read from the stages' registers (and checked against the simulator: tests/test_fit.py).

#: hw/stages/skid.py: the output is a register.
SKID_CYCLES = 1
#: hw/stages/conv.py: stage A (the pixel, the line buffer's read), stage B (the window), then one
#: per adder-tree level, the accumulators, the output register.
CONV_CYCLES = 4
#: hw/stages/pool.py: the second step (the rows above), the output register.
POOL_CYCLES = 2
#: hw/stages/dense.py: an input transfer counts in its bank's fill a cycle later, and `available` is
#: a register computed from that: the first multiply of its codes is 2 cycles after it.
DENSE_WAIT_CYCLES = 2
#: hw/stages/dense.py: a group's last multiply to its output transfer: the code's register, the
#: DSP's two (with lanes in logic: their three, ``_result_cycles``), the accumulator, the
#: requantiser into the output buffer, out.
DENSE_RESULT_CYCLES = 6
#: hw/stages/dense.py: a group's next last multiply waits for its output buffer, seen a cycle late.
DENSE_FINISH_CYCLES = 2
#: hw/stages/argmax.py: after the last logit's transfer, two cycles per logit (fetch, compare), then
#: the last take and the result's register.
ARGMAX_CYCLES = 4


def _conv_out(times, layer, levels):
    width = layer.in_shape[1]
    kh, kw = layer.kernel
    return [t + CONV_CYCLES + levels for i, t in enumerate(times)
            if i // width >= kh - 1 and i % width >= kw - 1]


def _pool_out(times, layer):
    height, width = layer.in_shape[:2]
    ph, pw = layer.pool
    rows, cols = height // ph * ph, width // pw * pw
    return [t + POOL_CYCLES for i, t in enumerate(times)
            if i // width < rows and i % width < cols
            and i // width % ph == ph - 1 and i % width % pw == pw - 1]


def _result_cycles(schedule):
    """:data:`DENSE_RESULT_CYCLES` with the schedule's multipliers' latency."""
    return DENSE_RESULT_CYCLES - MultiplierPair.LATENCY + \
        multiplier_latency(schedule.logic_lanes, schedule.registered_weights)


def _dense_busy(n, schedule, groups):
    """Cycles per image a dense stage is busy, back to back: a cycle per code and group; a
    pass's last code waits for the group's previous result."""
    return groups // schedule.groups_per_pass * \
        max(schedule.groups_per_pass * n, _result_cycles(schedule) + DENSE_FINISH_CYCLES)


def _dense_out(times, n, k, schedule, groups):
    """Output transfer times of a dense stage whose input transfers (``k`` codes each) happen
    at ``times``, one image, the consumer always ready: ``hw.stages.dense.DenseStage``'s sequencer
    multiplies one code by one group's weights per cycle, a pass over the inputs per
    ``groups_per_pass`` groups, the first pass as the inputs arrive."""
    per = schedule.groups_per_pass
    finish = DENSE_FINISH_CYCLES if per * n > 1 else DENSE_FINISH_CYCLES - 1
    issue = -10 ** 9
    out, last_out = [], [None] * per
    for p in range(groups // per):
        if p == 0:
            for j, t in enumerate(times):
                codes = min(k, n - j * k)
                issue = max(issue + 1, t + DENSE_WAIT_CYCLES) + codes * per - 1
            issue -= per   # back to the cycle before the last code's first group
        else:
            issue += (n - 1) * per
        for q in range(per):   # the last code of each group of the pass
            issue += 1
            if last_out[q] is not None:
                issue = max(issue, last_out[q] + finish)
            o = issue + _result_cycles(schedule)
            if out:
                o = max(o, out[-1] + 1)
            out.append(o)
            last_out[q] = o
    return out


# --- the logic-cell model ------------------------------------------------------------------

#: The logic-cell model: logic cells (a LUT4, a flip-flop and a carry each) per unit of each
#: stage's terms, fitted by non-negative least squares to Yosys' synth_ice40 and nextpnr's
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


def _conv_tree(weight):
    """The adder trees that ``hw.stages.conv.Conv2DStage`` builds for ``weight``: ``(nonzero
    digits, levels of registers, adder bits that do work)``.

    A term is ``(width, zero low bits)``: a code (8 bits) shifted by its digit's position.
    An adder's sum is one bit wider than its wider operand (Amaranth's rule); its low bits
    where either operand is zero need no logic.
    """
    lists, digits = [], 0
    for o in range(weight.shape[-1]):
        plus, minus = [], []
        for value in weight[..., o].reshape(-1):
            for shift, sign in signed_digits(int(value)):
                (plus if sign > 0 else minus).append((8 + shift, shift))
                digits += 1
        lists += [plus, minus]
    adder_bits, levels = 0, 0
    while any(len(terms) > 1 for terms in lists):
        fan_in = 2 if levels == 0 else 4   # as hw.stages.conv: registers after 1, then 2 adders
        for index, terms in enumerate(lists):
            sums = []
            for k in range(0, len(terms), fan_in):
                chunk = terms[k:k + fan_in]
                while len(chunk) > 1:      # hw.stages.conv._tree_sum: pairwise
                    pairs = []
                    for j in range(0, len(chunk), 2):
                        if j + 1 < len(chunk):
                            (wa, za), (wb, zb) = chunk[j], chunk[j + 1]
                            width = max(wa, wb) + 1
                            adder_bits += width - max(za, zb)
                            pairs.append((width, min(za, zb)))
                        else:
                            pairs.append(chunk[j])
                    chunk = pairs
                sums.append(chunk[0])
            lists[index] = sums
        levels += 1
    return digits, levels, adder_bits


def _assumed_weight(layer):
    rng = np.random.default_rng(sum(layer.weight_shape))
    codes = np.round(rng.normal(0, ASSUMED_WEIGHT_STD, layer.weight_shape))
    return np.clip(codes, -128, 127).astype(np.int8)


# --- the plan ------------------------------------------------------------------------------

@dataclasses.dataclass
class Stage:
    """One row of a :class:`Plan`: a layer's stage, a skid buffer, or the board's own logic.

    Members
    -------
    name, kind : str
    shape : str
        The output shape (``26x26x2``, ``128``).
    macs : int
        Multiply-accumulates per image.
    weights : int
        Weight codes (bytes).
    store : str
        Where the weights live: ``"logic"`` (constants: shifts and adds, or a small ROM in
        LUTs), ``"SPRAM"`` (loaded from flash), ``"block RAM"`` (initialised by the
        bitstream), or ``""``.
    digits : int
        Nonzero canonical signed digits of a convolution's weights (its adders' terms).
    schedule : hw.stages.network.DenseSchedule or None
    dsps, brams, sprams : int
    memories : list of (str, int, int, int)
        ``(what, width, depth, block RAMs)``; 0 block RAMs: Yosys keeps it in logic.
    logic_cells : int
        Estimated: :data:`LOGIC_MODEL` times :attr:`terms`.
    terms : dict
        The amounts of the model's terms.
    """

    name: str
    kind: str
    shape: str = ""
    macs: int = 0
    weights: int = 0
    store: str = ""
    digits: int = 0
    schedule: DenseSchedule = None
    dsps: int = 0
    brams: int = 0
    sprams: int = 0
    memories: list = dataclasses.field(default_factory=list)
    logic_cells: int = 0
    terms: dict = dataclasses.field(default_factory=dict)

    def memory(self, what, width, depth, *, family, rom=False, block=False):
        brams = memory_brams(width, depth, rom=rom, block=block, family=family)
        self.memories.append((what, width, depth, brams))
        self.brams += brams
        if not brams:
            key = "rom_bit" if rom else "ram_bit"
            self.terms[key] = self.terms.get(key, 0) + width * depth

    def estimate(self, family):
        model = {**LOGIC_MODEL, "logic_lane": family.logic_lane_cells / family.logic_scale}
        if family.board_cells is not None:
            model["board"] = family.board_cells / family.logic_scale
        self.logic_cells = round(family.logic_scale *
                                 sum(model[k] * v for k, v in self.terms.items()))

    def to_json(self):
        d = dataclasses.asdict(self)
        d["schedule"] = None if self.schedule is None else schedule_json(self.schedule)
        d["memories"] = [dict(zip(("what", "width", "depth", "block_rams"), m))
                         for m in self.memories]
        return d


RESOURCES = ("logic_cells", "block_rams", "sprams", "dsps")


def schedule_json(schedule):
    """A dense schedule as a JSON object (the plan's, the build report's)."""
    return {"lanes": schedule.lanes, "groups_per_pass": schedule.groups_per_pass,
            "logic_lanes": schedule.logic_lanes,
            "registered_weights": schedule.registered_weights}
_RESOURCE_NAMES = {"logic_cells": "logic cells", "block_rams": "block RAMs",
                   "sprams": "SPRAMs", "dsps": "DSPs"}


@dataclasses.dataclass
class Plan:
    """What :func:`plan` found.

    Members
    -------
    board : str
    stages : list of Stage
        The pipeline's stages in order (skid buffers included), the argmax, the board's own
        logic.
    schedules : dict of hw.stages.network.DenseSchedule
        By dense layer name: what ``hw.build`` builds with.
    used, available : dict
        By resource: ``logic_cells`` (estimated), ``block_rams``, ``sprams``, ``dsps``.
    latency, interval : int
        Cycles per image: first pixel in to class out, one image at a time; and between
        results, back to back.
    problems : list of str
        Why it does not fit, each naming the resource and the largest size that would fit.
    estimated_weights : bool
        The convolutions' weights were assumed (an architecture), not read.
    """

    board: str
    stages: list
    schedules: dict
    used: dict
    available: dict
    latency: int
    interval: int
    problems: list
    estimated_weights: bool

    @property
    def fits(self):
        return not self.problems

    @property
    def message(self):
        """The problems as one line (empty if it fits)."""
        return "; ".join(self.problems)

    def check(self):
        """Raise :class:`FitError` with :attr:`message` unless the network fits."""
        if self.problems:
            raise FitError(self.message)

    def to_json(self):
        return {
            "board": self.board, "fits": self.fits, "problems": list(self.problems),
            "resources": {k: {"used": self.used[k], "available": self.available[k]}
                          for k in RESOURCES},
            "estimated_logic_cells": self.used["logic_cells"],
            "cycles": {"latency": self.latency, "interval": self.interval},
            "schedules": {k: schedule_json(s) for k, s in self.schedules.items()},
            "estimated_weights": self.estimated_weights,
            "stages": [s.to_json() for s in self.stages],
        }

    def format(self):
        """The plan as a text table."""
        rows = [("stage", "output", "MACs/image", "weights", "schedule", "DSPs", "BRAMs",
                 "logic cells")]
        for s in self.stages:
            weights = f"{s.weights:,} B in {s.store}" if s.weights else ""
            if s.digits:
                weights += f" ({s.digits:,} digits)"
            schedule = ""
            if s.schedule is not None:
                lanes, per = s.schedule.lanes, s.schedule.groups_per_pass
                passes = -(-int(s.shape) // lanes) // per
                schedule = f"{lanes} lane{'s' * (lanes > 1)}, {passes} pass" + \
                    ("es" if passes > 1 else "")
                if s.schedule.logic_lanes:
                    schedule += f" ({s.schedule.logic_lanes} in logic)"
            rows.append((s.name, s.shape, f"{s.macs:,}" if s.macs else "", weights, schedule,
                         str(s.dsps or ""), str(s.brams or ""), f"~{s.logic_cells:,}"))
        used, avail = self.used, self.available
        rows.append(("total", "", f"{sum(s.macs for s in self.stages):,}",
                     f"SPRAMs {used['sprams']}/{avail['sprams']}", "",
                     f"{used['dsps']}/{avail['dsps']}",
                     f"{used['block_rams']}/{avail['block_rams']}",
                     f"~{used['logic_cells']:,}/{avail['logic_cells']:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        right = {2, 5, 6, 7}
        lines = ["  ".join(v.rjust(w) if c in right else v.ljust(w)
                           for c, (v, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
        lines.append(f"cycles per image: {self.latency:,} one at a time (first pixel in to "
                     f"class out), {self.interval:,} back to back")
        if self.estimated_weights and any(s.kind == "conv2d" for s in self.stages):
            lines.append("the convolutions' weights are not known yet: their logic cells "
                         "assume typical trained weights")
        if self.fits and used["logic_cells"] > CROWDED * avail["logic_cells"]:
            lines.append(f"more than {CROWDED:.0%} of the logic cells: placement and routing "
                         f"may not meet the clock (hw.build tries several seeds)")
        lines.append(f"{self.board}: " + ("fits" if self.fits else
                                          "does not fit: " + self.message))
        return "\n".join(lines)


def _shape(layer):
    shape = layer.out_shape
    return "x".join(map(str, shape)) if len(shape) > 1 else str(shape[0])


def _input_shape(layers):
    first = layers[0]
    return first.in_shape if isinstance(first, (Conv2DConfig, MaxPool2DConfig)) else \
        (first.in_features, 1, 1)


def _first_schedule(layer):
    return DenseSchedule(lanes=min(WEIGHT_WORD_LANES, layer.out_features), groups_per_pass=1)


class _Planner:
    """The stages of one network, as ``hw.stages.network.NetworkPipeline`` and
    ``hw.board.top.BoardTop`` build them, and their costs under given schedules."""

    def __init__(self, layers, board, params):
        self.layers = tuple(layers)
        self.board = board
        self.family = family_of(board)
        self.available = {k: board.resources[k] for k in RESOURCES}
        self.input_shape = _input_shape(self.layers)
        self.pixels = math.prod(self.input_shape)
        self.dense = [l for l in self.layers if isinstance(l, DenseConfig)]
        self.classes = self.layers[-1].out_features
        # the image stages do not depend on the schedules: their costs and times once
        self.image_stages, self.times, self.width = self._image_stages(params)
        argmax = Stage("argmax", "argmax", str(self.classes))
        argmax.terms = {"argmax": 1, "class": self.classes}
        board_stage = Stage("board", "board")
        board_stage.terms = {"board": 1}
        board_stage.memory("image buffer", 8, self.pixels, family=self.family)
        self.tail = [argmax, board_stage]
        for stage in self.image_stages + self.tail:
            stage.estimate(self.family)
        self._cache, self._acc_width = {}, {}

    def _image_stages(self, params):
        skid = Stage("input", "skid")
        skid.terms = {"skid": 1, "skid_bit": 8 + 1}
        stages = [skid]
        times = [t + SKID_CYCLES for t in range(self.pixels)]
        width = self.input_shape[2]
        for layer in self.layers:
            if isinstance(layer, Conv2DConfig):
                weight = _assumed_weight(layer) if params is None else \
                    params[layer.name]["weight"]
                digits, levels, adder_bits = _conv_tree(weight)
                kh, kw = layer.kernel
                channels = layer.in_shape[2]
                s = Stage(layer.name, "conv2d", _shape(layer),
                          macs=math.prod(layer.out_shape) * layer.fan_in,
                          weights=math.prod(layer.weight_shape), store="logic", digits=digits)
                s.terms = {"conv": 1, "conv_adder_bit": adder_bits,
                           "conv_window_bit": kh * kw * channels * 8}
                if kh > 1:
                    s.memory("line buffer", (kh - 1) * channels * 8, layer.in_shape[1],
                             family=self.family)
                skid = Stage(f"{layer.name} skid", "skid")
                skid.terms = {"skid": 1, "skid_bit": layer.out_channels * 8 + 1}
                stages += [s, skid]
                times = [t + SKID_CYCLES for t in _conv_out(times, layer, levels)]
                width = layer.out_channels
            elif isinstance(layer, MaxPool2DConfig):
                channels = layer.in_shape[2]
                s = Stage(layer.name, "maxpool2d", _shape(layer))
                s.terms = {"pool": 1, "pool_bit": channels * 8}
                s.memory("rows above", channels * 8,
                         layer.out_shape[1] + (layer.in_shape[1] % layer.pool[1] != 0),
                         block=self.family.name == "ice40", family=self.family)
                stages.append(s)
                times = _pool_out(times, layer)
        return stages, times, width

    def _dense_stage(self, index, schedules):
        """Dense layer ``index``'s stage, output times, output width and busy cycles per
        image under ``schedules``; kept by the schedules up to it, since the search tries
        many combinations of the later layers'."""
        key = tuple(schedules[l.name] for l in self.dense[:index + 1])
        if key in self._cache:
            return self._cache[key]
        layer = self.dense[index]
        times, width = (self.times, self.width) if index == 0 else \
            self._dense_stage(index - 1, schedules)[1:3]
        schedule = schedules[layer.name]
        lanes, per = schedule.lanes, schedule.groups_per_pass
        groups = math.ceil(layer.out_features / lanes)
        n, k = layer.in_features, width
        if layer.name not in self._acc_width:
            self._acc_width[layer.name] = layer.acc_width
        acc_width = self._acc_width[layer.name]
        in_spram = index == 0 and self.family.first_in_spram
        dsp_lanes = lanes - schedule.logic_lanes
        s = Stage(layer.name, "dense", _shape(layer), macs=n * layer.out_features,
                  weights=n * layer.out_features, store="SPRAM" if in_spram else "block RAM",
                  schedule=schedule, dsps=math.ceil(dsp_lanes / self.family.lanes_per_dsp))
        s.terms = {"dense": 1, "dense_lane_bit": lanes * acc_width,
                   "dense_accumulator_bit": lanes * per * (acc_width + 8),
                   "dense_input_bit": 8 * k}
        if schedule.logic_lanes:
            s.terms["logic_lane"] = schedule.logic_lanes
        words = math.ceil(n / k)
        s.memory("input banks", 8 * k, 2 << max(1, (words - 1).bit_length()), family=self.family)
        if in_spram:
            s.sprams = SPRAMWeightStore.SPRAMS
        else:
            s.memory("weights", 8 * lanes, groups * n, rom=True, family=self.family)
            if not s.memories[-1][3]:
                s.store = "logic"
        s.estimate(self.family)
        busy = _dense_busy(n, schedule, groups)
        result = (s, _dense_out(times, n, k, schedule, groups), lanes, busy)
        self._cache[key] = result
        return result

    def stages(self, schedules):
        """``(stages, latency, interval)`` under ``schedules`` (every dense layer's)."""
        stages = list(self.image_stages)
        interval = self.pixels   # a pixel per cycle in
        for index in range(len(self.dense)):
            stage, times, width, busy = self._dense_stage(index, schedules)
            stages.append(stage)
            interval = max(interval, busy)
        stages += self.tail
        latency = times[-1] + ARGMAX_CYCLES + 2 * self.classes
        collect = math.ceil(self.classes / width)
        interval = max(interval, collect + 2 * self.classes + ARGMAX_CYCLES + 1)
        return stages, latency, interval

    def totals(self, stages):
        return {k: sum(getattr(s, a) for s in stages) for k, a in
                (("logic_cells", "logic_cells"), ("block_rams", "brams"), ("sprams", "sprams"),
                 ("dsps", "dsps"))}


def _candidates(layer, dsps):
    """Schedules for a dense layer after the first with ``dsps`` DSPs: two lanes per DSP (or
    one fewer), up to ``hw.stages.network.default_schedule``'s (two cycles per input), with all
    groups in one pass or fewer per pass."""
    found = []
    for lanes in (2 * dsps, 2 * dsps - 1):
        if not 1 <= lanes <= max(1, math.ceil(layer.out_features / 2)):
            continue
        groups = math.ceil(layer.out_features / lanes)
        found += [DenseSchedule(lanes=lanes, groups_per_pass=per)
                  for per in range(groups, 0, -1) if groups % per == 0]
    return found


def _allocations(layers, dsps):
    """Every way to give each of ``layers`` at least one of ``dsps`` DSPs (not all need be
    used), as lists."""
    if not layers:
        yield []
        return
    for d in range(1, dsps - len(layers) + 2):
        for rest in _allocations(layers[1:], dsps - d):
            yield [d, *rest]


#: Combinations of the later layers' schedules tried one by one at most, per way to share
#: the DSPs; beyond, each layer's is picked in turn.
EXHAUSTIVE = 2000

#: Above this part of the logic cells, placement and routing rarely meet the clock: the
#: schedules are then chosen for the fewest logic cells rather than the fewest cycles, and
#: the plan says so.
CROWDED = 0.9


def _wide_schedules(planner, target):
    """Each dense layer's schedule with the fewest lanes (one group per pass) that keep it
    within ``target`` cycles per image back to back; the DSPs go to the first layers' lanes,
    the lanes beyond them multiply in logic."""
    family, left, chosen = planner.family, planner.available["dsps"], {}
    for layer in planner.dense:
        n, out = layer.in_features, layer.out_features
        groups = next((g for g in range(out, 0, -1) if g * n <= target), 1)
        groups = math.ceil(out / math.ceil(out / groups))   # the lanes shared out evenly
        lanes = math.ceil(out / groups)
        dsp_lanes = min(lanes, left * family.lanes_per_dsp)
        left -= math.ceil(dsp_lanes / family.lanes_per_dsp)
        # the block RAM's read, then the way to the DSPs, each in a cycle of its own
        chosen[layer.name] = DenseSchedule(lanes=lanes, groups_per_pass=1,
                                           logic_lanes=lanes - dsp_lanes,
                                           registered_weights=True)
    return chosen


def _choose_wide(planner):
    """The schedules on a family whose every weight is in block RAM (the ECP5): as many
    lanes as keep each dense layer as fast as the pixels arrive (one a cycle: nothing is
    gained beyond), fewer, step by step, while the logic cells would be crowded."""
    target = planner.pixels
    while True:
        chosen = _wide_schedules(planner, target)
        used = planner.totals(planner.stages(chosen)[0])
        if used["logic_cells"] <= CROWDED * planner.available["logic_cells"] or \
                all(s.lanes == 1 for s in chosen.values()):
            return chosen
        target = math.ceil(target * 1.25)


def _choose(planner):
    """The schedules: the first dense layer's fixed; for every way to share the DSPs left
    among the later layers, every combination of their candidates (or, if there are more
    than :data:`EXHAUSTIVE`, each layer's in turn: the fastest, cycles back to back then its
    last output, or the smallest, logic cells first); of these, the best by (resources
    overflowed, logic cells if overflowed or above :data:`CROWDED`, cycles back to back,
    logic cells, cycles one at a time). Logic cells before the latency: they decide whether
    place and route meets the clock, and room for the board's own logic, while an image's
    latency on the board is a small part of its time on the UART."""
    if not planner.family.first_in_spram:
        return _choose_wide(planner)
    first, later = planner.dense[0], planner.dense[1:]
    base = {first.name: _first_schedule(first)}
    dsps_left = planner.available["dsps"] - math.ceil(base[first.name].lanes / 2)
    best, best_key = None, None

    def consider(chosen):
        nonlocal best, best_key
        stages, latency, interval = planner.stages(chosen)
        used = planner.totals(stages)
        over = sum(used[k] > planner.available[k] for k in RESOURCES)
        crowded = used["logic_cells"] > CROWDED * planner.available["logic_cells"]
        key = (over, used["logic_cells"] if over or crowded else 0, interval,
               used["logic_cells"], latency)
        if best_key is None or key < best_key:
            best, best_key = dict(chosen), key

    for allocation in _allocations(later, dsps_left):
        options = [_candidates(layer, d) for layer, d in zip(later, allocation)]
        if not all(options):
            continue
        if math.prod(map(len, options)) <= EXHAUSTIVE:
            for combination in itertools.product(*options):
                consider({**base, **{l.name: s for l, s in zip(later, combination)}})
            continue
        for smallest in (False, True):
            chosen = dict(base)
            for index, (layer, choices) in enumerate(zip(later, options), 1):
                def key(schedule):
                    stage, times, _, busy = planner._dense_stage(
                        index, {**chosen, layer.name: schedule})
                    return (stage.logic_cells, busy, times[-1]) if smallest else \
                        (busy, times[-1], stage.logic_cells)
                chosen[layer.name] = min(choices, key=key)
            consider(chosen)
    if best is None:   # more layers than DSPs: the fewest (the plan says so)
        best = {**base, **{l.name: DenseSchedule(lanes=1, groups_per_pass=l.out_features)
                           for l in later}}
    return best


def plan(layers, *, board=BOARD, params=None, schedules=None):
    """Plan ``layers`` (layer configs, in order) on ``board``; return a :class:`Plan`.

    Parameters
    ----------
    layers : sequence of q8.contract layer configs
        ``Network.layers``, or ``q8.arch.configs(entries)`` before any weights exist.
    board : str or a ``platforms`` board
    params : dict, optional
        ``Network.params``. Without them the convolutions' adders are estimated for typical
        trained weights (:data:`ASSUMED_WEIGHT_STD`).
    schedules : dict of hw.stages.network.DenseSchedule, optional
        Schedules to plan with. By default the plan chooses them: the first dense layer reads
        a 64-bit SPRAM word (8 weights) per cycle, one group per pass; each later one gets
        the schedule, up to ``hw.stages.network.default_schedule``'s lanes, with which the network
        fits the DSPs and the other resources with the fewest cycles back to back, then
        logic cells, then cycles one at a time.

    Raises
    ------
    platforms.UnknownBoardError
    ValueError
        Layers that the gateware does not build (no dense layer last, an input with more
        than one channel, a schedule that does not divide a layer).
    """
    board = get_board(board) if isinstance(board, str) else board
    layers = tuple(layers)
    if not layers or not isinstance(layers[-1], DenseConfig):
        raise ValueError("a network's last layer must be a dense layer (its logits)")
    if _input_shape(layers)[2] != 1:
        raise ValueError(f"the input must have one channel (grey pixels), not "
                         f"{_input_shape(layers)[2]}")
    planner = _Planner(layers, board, params)
    if schedules is None:
        chosen = _choose(planner)
    else:
        base = {planner.dense[0].name: _first_schedule(planner.dense[0])} if \
            planner.family.first_in_spram else _choose_wide(planner)
        chosen = {**base, **schedules}
        for layer in planner.dense:
            s = chosen[layer.name]
            check_schedule(layer, lanes=s.lanes, groups_per_pass=s.groups_per_pass,
                           logic_lanes=s.logic_lanes)
            if s.logic_lanes and not planner.family.logic_lanes:
                raise ValueError(f"{layer.name}: the {planner.family.name} plan multiplies "
                                 f"in DSPs only, not logic_lanes={s.logic_lanes}")
    stages, latency, interval = planner.stages(chosen)
    used = planner.totals(stages)
    return Plan(board=board.name, stages=stages, schedules=chosen, used=used,
                available=dict(planner.available), latency=latency, interval=interval,
                problems=_problems(planner, used, params), estimated_weights=params is None)


def _problems(planner, used, params):
    problems = []
    avail = planner.available
    first = planner.dense[0]
    words = first.in_features * math.ceil(first.out_features / WEIGHT_WORD_LANES)
    if planner.family.first_in_spram and words > SPRAMWeightStore.WORDS:
        most = WEIGHT_WORD_LANES * (SPRAMWeightStore.WORDS // first.in_features)
        fix = f"at most {most} units" if most else \
            f"no number of units: its {first.in_features:,} inputs are more than the " \
            f"{SPRAMWeightStore.WORDS:,} words; make the layers before it smaller"
        problems.append(f"{first.name} needs {words * WEIGHT_WORD_LANES:,} weight bytes; the "
                        f"{SPRAMWeightStore.SPRAMS} SPRAMs hold "
                        f"{SPRAMWeightStore.WORDS * SPRAMWeightStore.LANES:,}: {fix}")
    if used["sprams"] > avail["sprams"]:
        problems.append(f"the network needs {used['sprams']} SPRAMs; the board has "
                        f"{avail['sprams']}")
    if used["dsps"] > avail["dsps"]:
        most = 1 + avail["dsps"] - math.ceil(_first_schedule(first).lanes / 2) \
            if planner.family.first_in_spram else avail["dsps"]
        problems.append(f"the {len(planner.dense)} dense layers need {used['dsps']} DSPs (a "
                        f"multiplier pair each at least); the board has {avail['dsps']}: at "
                        f"most {most} dense layers")
    for resource in ("block_rams", "logic_cells"):
        if used[resource] > avail[resource]:
            problems.append(_largest(planner, params, resource, used))
    return problems


def _resized(layers, params, name, size):
    """``layers`` with layer ``name``'s filters or units cut to ``size`` (and the inputs of
    what follows), and ``params`` cut to match: the first ``size`` filters or units."""
    specs = []
    for layer in layers:
        spec = {"name": layer.name, "kind": layer.kind}
        if isinstance(layer, MaxPool2DConfig):
            spec["pool"] = list(layer.pool)
        else:
            spec.update(relu=layer.relu, weight=layer.weight.to_json(),
                        bias=layer.bias.to_json(), output=layer.output.to_json())
            if isinstance(layer, Conv2DConfig):
                spec.update(kernel=list(layer.kernel), out_channels=layer.out_channels)
            else:
                spec["out_features"] = layer.out_features
            if layer.name == name:
                spec["out_channels" if isinstance(layer, Conv2DConfig) else
                     "out_features"] = size
        specs.append(spec)
    new = build_layers(_input_shape(layers), layers[0].input, specs)
    if params is None:
        return new, None
    cut = {name: {k: v for k, v in p.items()} for name, p in params.items()}
    index = [l.name for l in layers].index(name)
    old = layers[index].out_channels if isinstance(layers[index], Conv2DConfig) else \
        layers[index].out_features
    cut[name] = {"weight": params[name]["weight"][..., :size],
                 "bias": params[name]["bias"][:size]}
    # the next layer with weights takes the first `size` channels or units of its input
    following = next((l for l in new[index + 1:] if not isinstance(l, MaxPool2DConfig)), None)
    weight = params[following.name]["weight"]
    if isinstance(following, Conv2DConfig):
        weight = weight[:, :, :size, :]
    elif isinstance(layers[index], Conv2DConfig):   # flattened (row, column, channel)
        weight = weight.reshape(-1, old, weight.shape[-1])[:, :size].reshape(
            -1, weight.shape[-1])
    else:
        weight = weight[:size]
    cut[following.name] = {"weight": weight, "bias": params[following.name]["bias"]}
    return new, cut


def _largest(planner, params, resource, used):
    """A problem's sentence for ``resource``: the layer to make smaller (of the convolutions'
    filters and the hidden dense layers' units, the one that needs the least cut) and the
    largest size of it with which the network fits that resource."""
    avail = planner.available[resource]
    layers = planner.layers
    text = f"the network needs {used[resource]:,} {_RESOURCE_NAMES[resource]}" + \
        (" (estimated)" if resource == "logic_cells" else "") + f"; the board has {avail:,}"

    def fits(layer, n):
        new, cut = _resized(layers, params, layer.name, n)
        p = _Planner(new, planner.board, cut)
        return p.totals(p.stages(_choose(p))[0])[resource] <= avail

    best = None
    for layer in layers[:-1]:
        if isinstance(layer, MaxPool2DConfig):
            continue
        size = layer.out_channels if isinstance(layer, Conv2DConfig) else layer.out_features
        lo, hi = 0, size - 1   # the largest n in [1, size - 1] that fits (fewer fit better)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(layer, mid):
                lo = mid
            else:
                hi = mid - 1
        if lo and (best is None or lo / size > best[1] / best[2]):
            best = (layer, lo, size)
    if best is None:
        return f"{text}: no one layer made smaller fits it; make several smaller"
    layer, most, _ = best
    what = "filters" if isinstance(layer, Conv2DConfig) else "units"
    return f"{text}: {layer.name} at most {most} {what}"


# --- the command line ----------------------------------------------------------------------

def _from_model(path):
    """``(input_shape, entries)`` of a Keras model file, by the ``keras`` entry point of
    :data:`ARCHITECTURES_GROUP` (the tools layer's importer)."""
    found = {e.name: e for e in importlib.metadata.entry_points(group=ARCHITECTURES_GROUP)}
    if "keras" not in found:
        raise ValueError("--from needs the train extra: pip install -e '.[train]'")
    try:
        read = found["keras"].load()
    except ImportError as e:
        raise ValueError(f"--from needs the train extra ({e}): pip install -e '.[train]'") \
            from None
    try:
        return read(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"--from {path}: cannot read its architecture: {e}") from None


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m hw.fit", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 done (the network fits), 1 it does not fit (the error line "
               "names the resource and the largest size that fits), 2 bad input or usage")
    p.add_argument("--board", default=BOARD,
                   help=f"the board (one of: {', '.join(sorted(boards()))})")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--weights", help="a weights file (.npz); the default: the shipped "
                                          "weights")
    source.add_argument("--arch", metavar="SPEC",
                        help=f"an architecture, e.g. {arch.DEFAULT_ARCH!r} (q8.arch), for "
                             f"28x28x1 images; its convolutions' weights are assumed")
    source.add_argument("--from", dest="model", metavar="MODEL",
                        help="a Keras model file (.keras): its architecture (needs the train "
                             "extra)")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    args = p.parse_args(argv)
    try:
        board = get_board(args.board)
        if args.arch is not None or args.model is not None:
            if args.arch is not None:
                shape, entries = (28, 28, 1), arch.parse(args.arch)
            else:
                shape, entries = _from_model(args.model)
            result = plan(arch.configs(entries, input_shape=shape), board=board)
        else:
            net = load(args.weights) if args.weights else load()
            result = plan(net.layers, board=board, params=net.params)
    except (UnknownBoardError, WeightsError, ValueError) as e:   # ArchError is a ValueError
        p.exit(2, f"error: {e}\n")
    print(json.dumps(result.to_json()) if args.json else result.format())
    if not result.fits:
        p.exit(1, f"error: {result.message}\n")
    return 0



def built_schedules(net, *, board=BOARD):
    """The dense layers' schedules that ``hw.build`` builds ``net`` with on ``board``: the
    plan's. The simulators build the same gateware with them, so that what they check is what
    the bitstream holds."""
    return plan(net.layers, board=board, params=net.params).schedules
