"""iCE40 primitives, each behind one small helper with a plain fallback for simulation.

On a SiliconBlue (iCE40) platform the helper instantiates the primitive; anywhere else
(Amaranth's simulator, CXXRTL, other FPGAs) it elaborates to plain logic with the same ports
and the same latency, so every simulation exercises the timing the board will have.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.vendor import SiliconBluePlatform

__all__ = ["MultiplierPair"]


class MultiplierPair(wiring.Component):
    """Two 8x8 products, unsigned ``a`` times signed ``b``, two cycles after their operands.

    On the iCE40 this is one SB_MAC16 in its dual 8x8 mode with the input registers and the
    8x8 product registers on (the configuration that meets 80 MHz in nextpnr and icetime);
    the accumulators stay in logic, since the DSP's 16-bit 8x8 accumulators are too narrow for
    the contract's 20 to 25 bit sums.

    Members
    -------
    a : In(ArrayLayout(unsigned(8), 2))
        The activations (unsigned codes).
    b : In(ArrayLayout(signed(8), 2))
        The weights (signed codes).
    p : Out(ArrayLayout(signed(16), 2))
        ``a[k] * b[k]`` of the operands presented two clock cycles earlier.
    """

    LATENCY = 2

    def __init__(self):
        super().__init__({
            "a": In(data.ArrayLayout(unsigned(8), 2)),
            "b": In(data.ArrayLayout(signed(8), 2)),
            "p": Out(data.ArrayLayout(signed(16), 2)),
        })

    def elaborate(self, platform):
        m = Module()
        if isinstance(platform, SiliconBluePlatform):
            product = Signal(32)
            # Parameters as in Lattice's "DSP Function Usage Guide for iCE40 Devices" and the
            # SB_MAC16 model in Yosys' ice40/cells_sim.v: MODE_8x8 makes two independent 8x8
            # multipliers (top: A[15:8]*B[15:8] -> O[31:16], bottom: A[7:0]*B[7:0] -> O[15:0]),
            # A_SIGNED/B_SIGNED sign-extend each half; OUTPUT_SELECT 2 routes the 8x8 products.
            m.submodules.mac = Instance(
                "SB_MAC16",
                p_MODE_8x8=Const(1, 1),
                p_A_SIGNED=Const(0, 1), p_B_SIGNED=Const(1, 1),
                p_A_REG=Const(1, 1), p_B_REG=Const(1, 1),
                p_C_REG=Const(0, 1), p_D_REG=Const(0, 1),
                p_TOP_8x8_MULT_REG=Const(1, 1), p_BOT_8x8_MULT_REG=Const(1, 1),
                p_PIPELINE_16x16_MULT_REG1=Const(0, 1), p_PIPELINE_16x16_MULT_REG2=Const(0, 1),
                p_TOPOUTPUT_SELECT=Const(2, 2), p_BOTOUTPUT_SELECT=Const(2, 2),
                p_TOPADDSUB_LOWERINPUT=Const(0, 2), p_TOPADDSUB_UPPERINPUT=Const(0, 1),
                p_TOPADDSUB_CARRYSELECT=Const(0, 2),
                p_BOTADDSUB_LOWERINPUT=Const(0, 2), p_BOTADDSUB_UPPERINPUT=Const(0, 1),
                p_BOTADDSUB_CARRYSELECT=Const(0, 2),
                p_NEG_TRIGGER=Const(0, 1),
                i_CLK=ClockSignal("sync"),
                i_CE=Const(1, 1),
                i_A=self.a.as_value(),
                i_B=self.b.as_value(),
                i_C=Const(0, 16), i_D=Const(0, 16),
                i_AHOLD=0, i_BHOLD=0, i_CHOLD=0, i_DHOLD=0,
                i_IRSTTOP=0, i_IRSTBOT=0, i_ORSTTOP=0, i_ORSTBOT=0,
                i_OLOADTOP=0, i_OLOADBOT=0, i_ADDSUBTOP=0, i_ADDSUBBOT=0,
                i_OHOLDTOP=0, i_OHOLDBOT=0, i_CI=0, i_ACCUMCI=0, i_SIGNEXTIN=0,
                o_O=product,
            )
            # a[0], b[0] are the low halves: their product is O[15:0].
            m.d.comb += [self.p[0].eq(product[:16].as_signed()),
                         self.p[1].eq(product[16:].as_signed())]
        else:
            a = Signal.like(self.a)
            b = Signal.like(self.b)
            m.d.sync += [a.eq(self.a), b.eq(self.b)]
            for k in range(2):
                m.d.sync += self.p[k].eq(a[k] * b[k])
        return m
