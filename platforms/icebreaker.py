"""1BitSquared iCEBreaker: Lattice iCE40UP5K-SG48, 12 MHz oscillator, FT2232H (UART on its
second channel), 16 MB SPI flash (W25Q128), red and green LEDs."""

from amaranth.lib import wiring
from amaranth_boards.icebreaker import ICEBreakerPlatform

from hw.ice40 import ClockGenerator

__all__ = ["ICEBreaker", "BOARD"]


class ICEBreaker:
    name = "icebreaker"
    description = "1BitSquared iCEBreaker (iCE40UP5K-SG48)"
    # for icetime's worst-case timing model
    icetime_device, icetime_package = "up5k", "sg48"
    oscillator_hz = 12_000_000
    # What the UP5K has (Lattice DS1056), for the build report.
    resources = {"logic_cells": 5280, "block_rams": 30, "sprams": 4, "dsps": 8}

    def platform(self):
        return ICEBreakerPlatform()

    def connect(self, m, platform, top, *, clock_hz):
        """Clock ``top`` at ``clock_hz`` and wire its ports to the board's pins."""
        m.submodules.clock = ClockGenerator(pin=platform.request("clk12", dir="-"),
                                            input_hz=self.oscillator_hz, output_hz=clock_hz)
        uart = platform.request("uart", 0)
        flash = platform.request("spi_flash_1x", 0)
        m.d.comb += [
            top.rx.eq(uart.rx.i), uart.tx.o.eq(top.tx),
            flash.cs.o.eq(~top.flash.cs_n), flash.clk.o.eq(top.flash.clk),
            flash.copi.o.eq(top.flash.copi), top.flash.cipo.eq(flash.cipo.i),
            # keep the flash out of write-protect and hold
            flash.wp.o.eq(0), flash.hold.o.eq(0),
            platform.request("led_g", 0).o.eq(top.led_ready),
            platform.request("led_r", 0).o.eq(top.led_error),
        ]


BOARD = ICEBreaker()
