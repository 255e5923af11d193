"""What the boards share: how the board top's ports meet a board's UART, SPI flash and LEDs,
and what every iCE40UP5K board is (:class:`UP5KBoard`)."""

from amaranth.hdl import ClockDomain
from amaranth.lib import io

from hw.ice40 import ClockGenerator

__all__ = ["UP5KBoard", "connect_flash", "connect_leds", "connect_uart"]


def _buffer(m, name, direction, port):
    m.submodules[name] = buf = io.Buffer(direction, port)
    return buf


def connect_uart(m, top, uart):
    """``top``'s ``rx`` and ``tx`` to ``uart`` (``platform.request("uart", dir="-")``)."""
    m.d.comb += [
        top.rx.eq(_buffer(m, "uart_rx", "i", uart.rx).i),
        _buffer(m, "uart_tx", "o", uart.tx).o.eq(top.tx),
    ]


def connect_flash(m, top, flash):
    """``top``'s ``flash`` port to ``flash`` (an SPI flash resource with ``cs``, ``clk``,
    ``copi``, ``cipo``, ``wp`` and ``hold``, requested with ``dir="-"``)."""
    m.d.comb += [
        # cs, wp and hold are active low on the pins; the ports invert them
        _buffer(m, "flash_cs", "o", flash.cs).o.eq(~top.flash.cs_n),
        _buffer(m, "flash_clk", "o", flash.clk).o.eq(top.flash.clk),
        _buffer(m, "flash_copi", "o", flash.copi).o.eq(top.flash.copi),
        top.flash.cipo.eq(_buffer(m, "flash_cipo", "i", flash.cipo).i),
        # keep the flash out of write-protect and hold
        _buffer(m, "flash_wp", "o", flash.wp).o.eq(0),
        _buffer(m, "flash_hold", "o", flash.hold).o.eq(0),
    ]


def connect_leds(m, top, *, ready, error, names=("led_g", "led_r")):
    """``top``'s LEDs to the ports ``ready`` and ``error`` (requested with ``dir="-"``; an
    active-low LED's port inverts), as submodules ``names``."""
    m.d.comb += [
        _buffer(m, names[0], "o", ready).o.eq(top.led_ready),
        _buffer(m, names[1], "o", error).o.eq(top.led_error),
    ]


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

    def connect(self, m, platform, top, *, clock_hz):
        """Clock ``top`` at ``clock_hz`` and wire its ports to the board's pins: the UART,
        the SPI flash, the green LED (ready) and the red one (error)."""
        m.domains.sync = ClockDomain("sync")
        m.submodules.clock = ClockGenerator(pin=platform.request("clk12", dir="-"),
                                            input_hz=self.oscillator_hz, output_hz=clock_hz)
        connect_uart(m, top, platform.request("uart", 0, dir={"rx": "-", "tx": "-"}))
        connect_flash(m, top, platform.request("spi_flash_1x", 0, dir={
            k: "-" for k in ("cs", "clk", "copi", "cipo", "wp", "hold")}))
        connect_leds(m, top, ready=platform.request("led_g", 0, dir="-"),
                     error=platform.request("led_r", 0, dir="-"))
