"""Radiona ULX3S: a Lattice ECP5 (LFE5U-12F, -25F, -45F or -85F, CABGA381, speed grade 6), a
25 MHz oscillator, an FT231X USB-UART bridge (3 Mbaud), a 4 to 16 MB SPI flash, 8 LEDs.

One board per chip size: ``ulx3s-12f``, ``ulx3s-25f``, ``ulx3s-45f``, ``ulx3s-85f``. Every
layer's weights are block RAM initialised by the bitstream (``hw.board.top.BoardTop`` with
``weights_in_flash=False``): the flash holds the bitstream and, after it, the self-test's
images (``hw.board.flash_image.TESTS_OFFSETS``), which the design reads only for a self-test.
"""

from amaranth_boards import ulx3s

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
    #: The SPI flash of the boards sold today (16 MiB, 128 Mbit): the bitstream, the
    #: self-test's images at 4 MiB. A 4 MiB flash of the first revisions holds no test images.
    flash_bytes = 16 << 20
    #: The pins the design uses (how: ``hw.board.pins``): the 25 MHz oscillator, the UART
    #: through the FT231X, the SPI flash (its clock is the ECP5's USRMCLK, not a pin), LED 0
    #: (ready) and LED 1 (error).
    pins = {"clock": "clk25", "uart": "uart", "flash": "spi_flash",
            "led_ready": ("led", 0, "led_0"), "led_error": ("led", 1, "led_1")}

    def __init__(self, size):
        if size not in _CHIPS:
            raise ValueError(f"size must be one of {', '.join(_CHIPS)}, not {size!r}")
        self._platform, lcs, brams, dsps = _CHIPS[size]
        self.name = f"ulx3s-{size}"
        self.description = f"Radiona ULX3S ({self._platform.device}, CABGA381)"
        self.resources = {"logic_cells": lcs, "block_rams": brams, "sprams": 0, "dsps": dsps}

    def platform(self):
        return self._platform()


BOARDS = [ULX3S(size) for size in _CHIPS]
