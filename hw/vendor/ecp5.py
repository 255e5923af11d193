"""ECP5 primitives, each behind one small helper with a plain fallback elsewhere (as
:mod:`hw.vendor.ice40`): on a Lattice ECP5 platform the helper instantiates the primitive; anywhere
else (Amaranth's simulator, CXXRTL, other FPGAs) it elaborates to plain logic with the same
ports."""

import math
import typing

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal, Value
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.vendor import LatticePlatform

__all__ = ["ClockGenerator", "ECP5PLLSettings", "ecp5_pll_settings", "ecp5_multiplier",
           "ConfigFlashClock"]

# The EHXPLLL's limits (Lattice DS1044, ECP5 family data sheet, "sysCLOCK PLL Timing"; and
# FPGA-TN-02200, "ECP5 and ECP5-5G sysCLOCK PLL/DLL Design and User Guide"), in Hz
_CLKI_HZ = (8_000_000, 400_000_000)
_CLKOP_HZ = (3_125_000, 400_000_000)
_VCO_HZ = (400_000_000, 800_000_000)
_PFD_HZ = (3_125_000, 400_000_000)
#: The dividers' ranges: as Project Trellis' ``ecppll`` searches them (its feedback divider
#: stops at 80).
_CLKI_DIVS = range(1, 129)
_CLKFB_DIVS = range(1, 81)
_CLKOP_DIVS = range(1, 129)


class ECP5PLLSettings(typing.NamedTuple):
    """An EHXPLLL fed back from its CLKOP: CLKOP = CLKI * ``clkfb_div`` / ``clki_div``, the
    VCO = CLKOP * ``clkop_div``."""
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def clkop_cphase(self):
        """CLKOP's coarse phase for no shift, as Lattice's tools write it (``CLKOP_DIV - 1``);
        with CLKOP as the feedback the loop aligns CLKOP whatever its phase."""
        return self.clkop_div - 1


def _made(input_hz, clki_div, clkfb_div):
    """The output of dividers ``clki_div`` and ``clkfb_div``, and the CLKOP dividers that keep
    the VCO within its range (an empty range if none)."""
    output = input_hz * clkfb_div / clki_div
    return output, range(max(1, math.ceil(_VCO_HZ[0] / output)),
                         min(_CLKOP_DIVS[-1], math.floor(_VCO_HZ[1] / output)) + 1)


def ecp5_pll_settings(input_hz, output_hz):
    """The :class:`ECP5PLLSettings` of an ECP5 PLL making ``output_hz`` exactly from
    ``input_hz``; ``ValueError`` if none does. Of the exact ones, the one whose VCO is nearest
    600 MHz, then with the smallest dividers, as ``ecppll`` (Project Trellis, ``yowasp-ecppll``)
    chooses: 25 MHz to 105 MHz is CLKI_DIV 5, CLKFB_DIV 21, CLKOP_DIV 6 (VCO 630 MHz)."""
    for name, hz in (("input_hz", input_hz), ("output_hz", output_hz)):
        if not isinstance(hz, int) or isinstance(hz, bool) or hz <= 0:
            raise ValueError(f"{name} must be a positive integer (Hz), not {hz!r}")
    found = []
    if _CLKI_HZ[0] <= input_hz <= _CLKI_HZ[1] and _CLKOP_HZ[0] <= output_hz <= _CLKOP_HZ[1]:
        for clki_div in _CLKI_DIVS:
            if not _PFD_HZ[0] <= input_hz / clki_div <= _PFD_HZ[1]:
                continue
            # exact: output * clki_div == input * clkfb_div
            clkfb_div, rest = divmod(output_hz * clki_div, input_hz)
            if rest or clkfb_div not in _CLKFB_DIVS:
                continue
            for clkop_div in _made(input_hz, clki_div, clkfb_div)[1]:
                found.append((abs(output_hz * clkop_div - 600_000_000),
                              ECP5PLLSettings(clki_div, clkfb_div, clkop_div)))
    if found:
        return min(found)[1]
    near = _nearby_mhz(input_hz, output_hz)
    raise ValueError(f"no ECP5 PLL setting makes exactly {output_hz / 1e6:g} MHz from "
                     f"{input_hz / 1e6:g} MHz (VCO 400 to 800 MHz, phase detector at least "
                     f"3.125 MHz)" + (f"; the nearest whole MHz it makes: "
                                      f"{' and '.join(f'{f:g}' for f in near)}" if near else ""))


def _nearby_mhz(input_hz, output_hz):
    """The whole-MHz clocks nearest ``output_hz`` below and above that the PLL makes from
    ``input_hz`` (at most two)."""
    if not _CLKI_HZ[0] <= input_hz <= _CLKI_HZ[1]:
        return []
    made = set()
    for clki_div in _CLKI_DIVS:
        if _PFD_HZ[0] <= input_hz / clki_div <= _PFD_HZ[1]:
            for clkfb_div in _CLKFB_DIVS:
                output, clkop_divs = _made(input_hz, clki_div, clkfb_div)
                if clkop_divs and output <= _CLKOP_HZ[1] and output % 1_000_000 == 0:
                    made.add(int(output) // 1_000_000)
    below = [f for f in made if f * 1_000_000 < output_hz]
    above = [f for f in made if f * 1_000_000 > output_hz]
    return ([max(below)] if below else []) + ([min(above)] if above else [])


class ClockGenerator(wiring.Component):
    """Drives the ``sync`` clock domain (which the design's top defines) at ``output_hz``
    from a clock pin.

    On the ECP5, an EHXPLLL fed from the pin, its CLKOP fed back (the settings of
    :func:`ecp5_pll_settings`), with the domain held in reset until the PLL locks. Elsewhere,
    or when ``output_hz`` is the pin's own clock, the pin's clock drives the domain as it is.

    Parameters
    ----------
    pin : a platform I/O port (``platform.request(name, dir="-")``)
    input_hz, output_hz : int

    Raises
    ------
    ValueError
        The PLL cannot make ``output_hz`` exactly from ``input_hz``.
    """

    def __init__(self, *, pin, input_hz, output_hz):
        self._pin, self._input_hz, self._output_hz = pin, input_hz, output_hz
        self._settings = ecp5_pll_settings(input_hz, output_hz) \
            if input_hz != output_hz else None
        super().__init__({})

    @property
    def settings(self):
        """The PLL's :class:`ECP5PLLSettings` (None: no PLL, the pin's clock as it is)."""
        return self._settings

    def elaborate(self, platform):
        m = Module()
        clk = ClockSignal("sync")  # the domain itself is defined by the design's top
        m.submodules.clk_buffer = buffer = io.Buffer("i", self._pin)
        if isinstance(platform, LatticePlatform) and platform.family == "ecp5" and \
                self._settings:
            s = self._settings
            lock = Signal()
            pll_out = Signal()
            # Parameters and attributes as Project Trellis' ecppll writes them for a PLL fed
            # back from CLKOP (FPGA-TN-02200 for their meaning); the attributes set the loop
            # filter that nextpnr-ecp5 writes into the bitstream.
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{self._input_hz / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{self._output_hz / 1e6:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED",
                p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB", p_OUTDIVIDER_MUXC="DIVC",
                p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=s.clki_div, p_CLKFB_DIV=s.clkfb_div, p_FEEDBK_PATH="CLKOP",
                p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=s.clkop_div,
                p_CLKOP_CPHASE=s.clkop_cphase, p_CLKOP_FPHASE=0,
                i_CLKI=buffer.i, i_CLKFB=pll_out, i_RST=Const(0, 1), i_STDBY=Const(0, 1),
                i_PHASESEL0=Const(0, 1), i_PHASESEL1=Const(0, 1), i_PHASEDIR=Const(1, 1),
                i_PHASESTEP=Const(1, 1), i_PHASELOADREG=Const(1, 1),
                i_PLLWAKESYNC=Const(0, 1), i_ENCLKOP=Const(0, 1),
                o_CLKOP=pll_out, o_LOCK=lock,
            )
            m.d.comb += clk.eq(pll_out)
            m.submodules.reset = ResetSynchronizer(~lock, domain="sync")
            platform.add_clock_constraint(pll_out, self._output_hz)
        else:
            m.d.comb += clk.eq(buffer.i)
        return m


def ecp5_multiplier(m, name, a, b):
    """Add to ``m`` (as submodule ``name``) an ECP5 MULT18X18D multiplying ``a`` (unsigned)
    by ``b`` (signed), both up to 18 bits, with its input registers and its output register
    on; return its 36-bit product (signed), that of the operands presented two cycles
    earlier. Parameters and ports as in Yosys' ``lattice/cells_bb_ecp5.v`` and Lattice's
    "ECP5 sysDSP Usage Guide" (TN1267); the netlist simulation's model:
    ``sim/models/ecp5_mult18x18d.v``. The product is a signal of ``m``'s own, so that no
    submodule drives a part of another's signal (two such drivers of one signal's parts came
    out of synth_ecp5 wired together)."""
    a, b = Value.cast(a), Value.cast(b)
    a_bits, b_bits = len(a), len(b)
    ports = {f"i_A{i}": a[i] if i < a_bits else Const(0, 1) for i in range(18)}
    # b is signed: its sign bit fills the operand's upper bits
    ports.update({f"i_B{i}": b[min(i, b_bits - 1)] for i in range(18)})
    ports.update({f"i_C{i}": Const(0, 1) for i in range(18)})
    product = Signal(36, name=f"{name}_product")
    ports.update({f"o_P{i}": product[i] for i in range(36)})
    instance = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
        p_REG_INPUTB_CLK="CLK0", p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
        p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE",
        p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
        p_CLK0_DIV="ENABLED", p_CLK1_DIV="ENABLED", p_CLK2_DIV="ENABLED",
        p_CLK3_DIV="ENABLED", p_HIGHSPEED_CLK="NONE", p_GSR="DISABLED",
        p_CAS_MATCH_REG="FALSE", p_SOURCEB_MODE="B_SHIFT", p_MULT_BYPASS="DISABLED",
        p_RESETMODE="SYNC",
        i_SIGNEDA=Const(0, 1), i_SIGNEDB=Const(1, 1), i_SOURCEA=Const(0, 1),
        i_SOURCEB=Const(0, 1),
        i_CLK0=ClockSignal("sync"), i_CLK1=Const(0, 1), i_CLK2=Const(0, 1),
        i_CLK3=Const(0, 1),
        i_CE0=Const(1, 1), i_CE1=Const(0, 1), i_CE2=Const(0, 1), i_CE3=Const(0, 1),
        i_RST0=Const(0, 1), i_RST1=Const(0, 1), i_RST2=Const(0, 1), i_RST3=Const(0, 1),
        **ports)
    m.submodules[name] = instance
    return product.as_signed()


class ConfigFlashClock(wiring.Component):
    """The SPI flash's clock on an ECP5: its pin is the configuration clock (MCLK), which the
    design reaches only through the USRMCLK primitive once configuration is done (Lattice
    TN1260, "ECP5 and ECP5-5G sysCONFIG Usage Guide", on the master SPI port; the ports as in
    Yosys' ``ecp5/cells_bb.v``). Elsewhere (simulation, other FPGAs) ``o`` is ``i``: what the pin
    would carry.

    Members
    -------
    i : In(1)
        The flash's clock, from the design's SPI master.
    o : Out(1)
        Without the primitive: ``i`` (for a flash model); on the ECP5, 0 (the primitive drives
        the pin).
    """

    i: wiring.In(1)
    o: wiring.Out(1)

    def elaborate(self, platform):
        m = Module()
        if isinstance(platform, LatticePlatform) and platform.family == "ecp5":
            # USRMCLKTS is the pin's tristate, active high: 0 drives it always. The first
            # edges after configuration may be lost while MCLK hands over to the design;
            # the design's first read is a self-test's, long after (hw.board.loader).
            m.submodules.usrmclk = Instance("USRMCLK", i_USRMCLKI=self.i,
                                            i_USRMCLKTS=Const(0, 1))
        else:
            m.d.comb += self.o.eq(self.i)
        return m
