"""How the board top's ports meet a board's pins: its clock (through the family's PLL), the
UART, the SPI flash and the LEDs. The pins' names are the board's (``platforms``, through
amaranth-boards); what is wired to them, and how, is here, per FPGA family."""

from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.lib import io

from hw.vendor import ecp5, ice40

__all__ = ["BoardDesign", "connect_board", "check_clock"]


def _buffer(m, name, direction, port):
    m.submodules[name] = buf = io.Buffer(direction, port)
    return buf


def _connect_uart(m, top, uart):
    m.d.comb += [
        top.rx.eq(_buffer(m, "uart_rx", "i", uart.rx).i),
        _buffer(m, "uart_tx", "o", uart.tx).o.eq(top.tx),
    ]


def _connect_leds(m, top, platform, pins):
    # an active-low LED's port inverts; pins: (resource, number, submodule name)
    ports = [(platform.request(name, number, dir="-"), submodule)
             for name, number, submodule in (pins["led_ready"], pins["led_error"])]
    m.d.comb += [_buffer(m, submodule, "o", port).o.eq(signal)
                 for (port, submodule), signal in zip(ports, (top.led_ready, top.led_error))]


def _connect_ice40(m, platform, top, board):
    pins = board.pins
    _connect_uart(m, top, platform.request(pins["uart"], 0, dir={"rx": "-", "tx": "-"}))
    flash = platform.request(pins["flash"], 0, dir={
        k: "-" for k in ("cs", "clk", "copi", "cipo", "wp", "hold")})
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


def _connect_ecp5(m, platform, top, board):
    # Every pin requested is buffered, the unused inputs too (the bridge's RTS and DTR, the
    # flash's data out): left as bare ports, Yosys 0.70's synth_ecp5 failed an assertion in
    # abc9 (ABC_OPS_REINTEGRATE) on the shipped network's design. The flash's clock is the
    # ECP5's configuration clock, not a pin of the platform's: USRMCLK drives it.
    pins = board.pins
    uart = platform.request(pins["uart"], 0, dir={k: "-" for k in ("rx", "tx", "rts", "dtr")})
    _connect_uart(m, top, uart)
    flash = platform.request(pins["flash"], 0, dir={k: "-" for k in
                                                    ("cs", "copi", "cipo", "wp", "hold")})
    for name, port, value in (("flash_cs", flash.cs, ~top.flash.cs_n),
                              ("flash_copi", flash.copi, top.flash.copi),
                              ("flash_wp", flash.wp, 0), ("flash_hold", flash.hold, 0)):
        m.d.comb += _buffer(m, name, "o", port).o.eq(value)
    m.d.comb += top.flash.cipo.eq(_buffer(m, "flash_cipo", "i", flash.cipo).i)
    m.submodules.flash_clk = clock = ecp5.ConfigFlashClock()
    m.d.comb += clock.i.eq(top.flash.clk)
    for name in ("rts", "dtr"):
        _buffer(m, f"uart_{name}", "i", getattr(uart, name))


_FAMILIES = {"ice40": (ice40.ClockGenerator, ice40.pll_settings, _connect_ice40),
             "ecp5": (ecp5.ClockGenerator, ecp5.ecp5_pll_settings, _connect_ecp5)}


def _family(board):
    if board.family not in _FAMILIES:
        raise ValueError(f"{board.name}: no pin wiring for the {board.family!r} family; the "
                         f"families are {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[board.family]


def check_clock(board, clock_hz):
    """Raise ``ValueError`` (the PLL's reason) unless ``board``'s PLL makes ``clock_hz`` from
    its oscillator (or it is the oscillator's)."""
    if clock_hz != board.oscillator_hz:
        _family(board)[1](board.oscillator_hz, clock_hz)


def connect_board(m, platform, top, board, *, clock_hz):
    """Clock ``top`` at ``clock_hz`` from ``board``'s oscillator and wire its ports to the
    board's pins (``board.pins``): the UART, the SPI flash (a design without flash weights
    leaves it idle: chip select inactive), the ready and error LEDs."""
    clock_generator, _, connect = _family(board)
    m.domains.sync = ClockDomain("sync")
    m.submodules.clock = clock_generator(pin=platform.request(board.pins["clock"], dir="-"),
                                         input_hz=board.oscillator_hz, output_hz=clock_hz)
    connect(m, platform, top, board)
    _connect_leds(m, top, platform, board.pins)


class BoardDesign(Elaboratable):
    """``top`` on ``board``: its clock and pins (what ``hw.build`` hands the platform)."""

    def __init__(self, board, top, *, clock_hz):
        self.board, self.top, self.clock_hz = board, top, clock_hz

    def elaborate(self, platform):
        m = Module()
        m.submodules.top = self.top
        connect_board(m, platform, self.top, self.board, clock_hz=self.clock_hz)
        return m
