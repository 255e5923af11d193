"""Radiona ULX3S: a Lattice ECP5 (LFE5U-12F, -25F, -45F or -85F, CABGA381, speed grade 6), a
25 MHz oscillator, an FT231X USB-UART bridge (3 Mbaud), a 4 to 16 MB SPI flash, 8 LEDs.

One board per chip size: ``ulx3s-12f``, ``ulx3s-25f``, ``ulx3s-45f``, ``ulx3s-85f``. Every
layer's weights are block RAM initialised by the bitstream (``board.top.BoardTop`` with
``weights_in_flash=False``): the flash holds the bitstream alone, and its pins stay idle.
"""

from amaranth.hdl import ClockDomain
from amaranth.lib import io
from amaranth_boards import ulx3s

from hw.ecp5 import ClockGenerator
from ._common import connect_leds, connect_uart

__all__ = ["ULX3S", "BOARDS"]

#: Per chip size: its amaranth-boards platform and what nextpnr-ecp5 places on it (the
#: ``available`` counts of its report, CABGA381): LUT4s (TRELLIS_COMB, a CCU2C carry cell
#: is two), 18 Kbit block RAMs (DP16KD) and 18x18 multipliers (MULT18X18D). The 12F is the
#: 25F's die with another ID code, and nextpnr places on all of it (nextpnr#410), though
#: Lattice rates it at 12K LUTs and 32 block RAMs.
_CHIPS = {
    "12f": (ulx3s.ULX3S_12F_Platform, 24_288, 56, 28),
    "25f": (ulx3s.ULX3S_25F_Platform, 24_288, 56, 28),
    "45f": (ulx3s.ULX3S_45F_Platform, 43_848, 108, 72),
    "85f": (ulx3s.ULX3S_85F_Platform, 83_640, 208, 156),
}


class ULX3S:
    """A ULX3S with the ECP5 of size ``size`` (``"12f"``, ``"25f"``, ``"45f"``, ``"85f"``)."""

    family = "ecp5"
    oscillator_hz = 25_000_000
    #: 105 MHz = 25 MHz * 21 / 5 from the PLL (a VCO of 630 MHz), and the FT231X's 3 Mbaud,
    #: 35 cycles a bit.
    default_clock_hz = 105_000_000
    default_baud = 3_000_000
    #: What ``hw.build --program`` writes the flash with (``-b ulx3s``).
    programmer = "openfpgaloader"

    def __init__(self, size):
        if size not in _CHIPS:
            raise ValueError(f"size must be one of {', '.join(_CHIPS)}, not {size!r}")
        self._platform, lcs, brams, dsps = _CHIPS[size]
        self.name = f"ulx3s-{size}"
        self.description = f"Radiona ULX3S ({self._platform.device}, CABGA381)"
        self.resources = {"logic_cells": lcs, "block_rams": brams, "sprams": 0, "dsps": dsps}

    def platform(self):
        return self._platform()

    def connect(self, m, platform, top, *, clock_hz):
        """Clock ``top`` at ``clock_hz`` and wire its ports to the board's pins: the UART
        through the FT231X, LED 0 (ready) and LED 1 (error), the SPI flash's data and chip
        select (``top``'s, which a design without flash weights leaves idle: chip select
        inactive), write-protect and hold inactive. The flash's clock is the ECP5's
        configuration clock (USRMCLK), which the design leaves alone.

        Every pin requested is buffered, the unused inputs too (the FT231X's RTS and DTR, the
        flash's data out): left as bare ports, Yosys 0.70's ``synth_ecp5`` failed an assertion
        in abc9 (ABC_OPS_REINTEGRATE) on the shipped network's design."""
        m.domains.sync = ClockDomain("sync")
        m.submodules.clock = ClockGenerator(pin=platform.request("clk25", dir="-"),
                                            input_hz=self.oscillator_hz, output_hz=clock_hz)
        uart = platform.request("uart", 0, dir={k: "-" for k in ("rx", "tx", "rts", "dtr")})
        connect_uart(m, top, uart)
        flash = platform.request("spi_flash", 0, dir={k: "-" for k in
                                                      ("cs", "copi", "cipo", "wp", "hold")})
        for name, port, value in (("flash_cs", flash.cs, ~top.flash.cs_n),
                                  ("flash_copi", flash.copi, top.flash.copi),
                                  ("flash_wp", flash.wp, 0), ("flash_hold", flash.hold, 0)):
            m.submodules[name] = buffer = io.Buffer("o", port)
            m.d.comb += buffer.o.eq(value)
        m.submodules.flash_cipo = cipo = io.Buffer("i", flash.cipo)
        m.d.comb += top.flash.cipo.eq(cipo.i)
        for name in ("rts", "dtr"):
            m.submodules[f"uart_{name}"] = io.Buffer("i", getattr(uart, name))
        connect_leds(m, top, ready=platform.request("led", 0, dir="-"),
                     error=platform.request("led", 1, dir="-"), names=("led_0", "led_1"))


BOARDS = [ULX3S(size) for size in _CHIPS]
