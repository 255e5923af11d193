"""1BitSquared iCEBreaker: Lattice iCE40UP5K-SG48, 12 MHz oscillator, FT2232H (UART on its
second channel), 16 MB SPI flash (W25Q128), red and green LEDs."""

from amaranth.hdl import ClockDomain
from amaranth.lib import io
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
        m.domains.sync = ClockDomain("sync")
        m.submodules.clock = ClockGenerator(pin=platform.request("clk12", dir="-"),
                                            input_hz=self.oscillator_hz, output_hz=clock_hz)
        def buffer(name, direction, port):
            m.submodules[name] = buf = io.Buffer(direction, port)
            return buf

        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
        flash = platform.request("spi_flash_1x", 0, dir={k: "-" for k in
                                                           ("cs", "clk", "copi", "cipo",
                                                            "wp", "hold")})
        m.d.comb += [
            top.rx.eq(buffer("uart_rx", "i", uart.rx).i),
            buffer("uart_tx", "o", uart.tx).o.eq(top.tx),
            # cs, wp and hold are active low on the pins; the ports invert them
            buffer("flash_cs", "o", flash.cs).o.eq(~top.flash.cs_n),
            buffer("flash_clk", "o", flash.clk).o.eq(top.flash.clk),
            buffer("flash_copi", "o", flash.copi).o.eq(top.flash.copi),
            top.flash.cipo.eq(buffer("flash_cipo", "i", flash.cipo).i),
            # keep the flash out of write-protect and hold
            buffer("flash_wp", "o", flash.wp).o.eq(0),
            buffer("flash_hold", "o", flash.hold).o.eq(0),
            buffer("led_g", "o", platform.request("led_g", 0, dir="-")).o.eq(top.led_ready),
            buffer("led_r", "o", platform.request("led_r", 0, dir="-")).o.eq(top.led_error),
        ]

BOARD = ICEBreaker()
