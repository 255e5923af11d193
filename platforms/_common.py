"""What every iCE40UP5K board is (:class:`UP5KBoard`): its chip, its oscillator and the names
of its pins (amaranth-boards'). How the design meets them: ``hw.board.pins``."""

__all__ = ["UP5KBoard"]


class UP5KBoard:
    """A board of the Lattice iCE40UP5K-SG48 whose platform (amaranth-boards) names its
    pins ``clk12`` (12 MHz, on PLL pad 35), ``uart``, ``spi_flash_1x``, ``led_g`` and
    ``led_r``. A subclass gives ``name``, ``description``, ``default_clock_hz``,
    ``default_baud``, ``flash_bytes``, ``programmer`` and ``platform()``."""

    family = "ice40"
    # for icetime's worst-case timing model
    icetime_device, icetime_package = "up5k", "sg48"
    oscillator_hz = 12_000_000
    #: What the UP5K has (Lattice DS1056), for the build report.
    resources = {"logic_cells": 5280, "block_rams": 30, "sprams": 4, "dsps": 8}
    #: The pins the design uses: the oscillator, the UART, the SPI flash, and the LEDs
    #: (resource, number, the buffer's name in the design) that say ready (green) and error
    #: (red).
    pins = {"clock": "clk12", "uart": "uart", "flash": "spi_flash_1x",
            "led_ready": ("led_g", 0, "led_g"), "led_error": ("led_r", 0, "led_r")}
