# amaranth: UnusedElaboratable=no
"""The boards (``platforms``): each resolves by name and elaborates with the board top into
its platform's RTLIL; the ECP5 PLL's settings; the board top without flash weights."""

import pytest
from amaranth.hdl import ClockDomain, Fragment, Instance, Module
from amaranth.sim import Simulator
from amaranth_boards.ulx3s import ULX3S_25F_Platform

from bench.fit_networks import network
from hw.board.protocol import Status, decode_response, frame_bytes, status_request
from hw.board.top import BoardTop
from hw.board.uart import divisor_of
from hw.build import BoardDesign, min_baud
from hw.vendor.ecp5 import (ClockGenerator, ConfigFlashClock, ECP5PLLSettings,
                            ecp5_pll_settings)
from hw.vendor.ice40 import pll_settings
from platforms import boards, get_board
from sim.board import uart_waveform

NAMES = ["icebreaker", "icesugar", "ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f"]


@pytest.fixture(scope="module")
def small():
    return network("conv1x3,pool,dense8,dense10", seed=7)


def test_every_board_by_name():
    assert sorted(boards()) == NAMES
    for name in NAMES:
        board = get_board(name)
        assert board.name == name and board.family in ("ice40", "ecp5")
        assert set(board.resources) == {"logic_cells", "block_rams", "sprams", "dsps"}
        # its default clock comes from its PLL, and its default rate divides it
        make = pll_settings if board.family == "ice40" else ecp5_pll_settings
        make(board.oscillator_hz, board.default_clock_hz)
        divisor_of(board.default_baud, board.default_clock_hz)
        assert board.default_baud >= 100_000
    assert get_board("icebreaker").default_clock_hz == 48_000_000
    assert get_board("icebreaker").default_baud == 3_000_000
    assert get_board("icesugar").default_baud == 200_000
    assert get_board("icesugar").default_clock_hz == 42_000_000
    assert get_board("ulx3s-25f").default_clock_hz == 105_000_000
    assert get_board("ulx3s-25f").default_clock_hz // get_board("ulx3s-25f").default_baud == 35
    # nextpnr-ecp5's totals for CABGA381 (the 12F is the 25F's die)
    assert get_board("ulx3s-25f").resources == \
        {"logic_cells": 24_288, "block_rams": 56, "sprams": 0, "dsps": 28}
    assert get_board("ulx3s-12f").resources == get_board("ulx3s-25f").resources
    assert get_board("ulx3s-85f").resources["logic_cells"] == 83_640


@pytest.mark.parametrize("name", NAMES)
def test_every_board_elaborates_into_rtlil(name, small):
    board = get_board(name)
    in_flash = board.family == "ice40"
    clock_hz, baud = board.default_clock_hz, board.default_baud
    assert baud >= min_baud(small)
    top = BoardTop(small, divisor=clock_hz // baud, timeout_cycles=clock_hz // 20,
                   weights_in_flash=in_flash)
    plan = board.platform().prepare(BoardDesign(board, top, clock_hz=clock_hz), name="top")
    rtlil = plan.files["top.il"]
    assert ("SB_PLL40_PAD" in rtlil) == in_flash and ("EHXPLLL" in rtlil) == (not in_flash)
    assert ("SB_SPRAM256KA" in rtlil) == in_flash
    # the ECP5's flash clock is its configuration clock, driven through USRMCLK (an
    # ECP5 top's self-test reads the flash)
    assert ("cell \\USRMCLK" in rtlil) == (not in_flash)
    if not in_flash:
        assert "parameter \\CLKFB_DIV 21" in rtlil and "parameter \\CLKI_DIV 5" in rtlil
        assert "connect \\USRMCLKTS 1'0" in rtlil
        # the flash's chip select is constrained, and held inactive by the top's idle port
        assert '"spi_flash_0__cs__io" SITE "R2"' in plan.files["top.lpf"]


def test_ecp5_pll_settings_by_hand():
    # 25 MHz * 21 / 5 = 105 MHz, VCO 105 * 6 = 630 MHz; no exact setting has a VCO nearer
    # 600 MHz (4 and 7 give 420 and 735), and the phase detector runs at 5 MHz
    assert ecp5_pll_settings(25_000_000, 105_000_000) == ECP5PLLSettings(5, 21, 6)
    # 100 MHz = 25 * 4, VCO 600 MHz exactly; 50 MHz = 25 * 2, VCO 50 * 12
    assert ecp5_pll_settings(25_000_000, 100_000_000) == ECP5PLLSettings(1, 4, 6)
    assert ecp5_pll_settings(25_000_000, 50_000_000) == ECP5PLLSettings(1, 2, 12)
    # 75 MHz: VCO 600 (8) beats 450 (6) and 750 (10)
    assert ecp5_pll_settings(25_000_000, 75_000_000) == ECP5PLLSettings(1, 3, 8)
    # 12 MHz to 48 MHz: 12 * 4, VCO 576 (12) is nearer 600 than 624 (13)
    assert ecp5_pll_settings(12_000_000, 48_000_000) == ECP5PLLSettings(1, 4, 12)
    assert ECP5PLLSettings(5, 21, 6).clkop_cphase == 5


def test_ecp5_pll_refuses_what_it_cannot_make_exactly():
    # 48 MHz from 25: 48/25 needs a reference divider of 25, a phase detector at 1 MHz
    with pytest.raises(ValueError, match=r"^no ECP5 PLL setting makes exactly 48 MHz from 25 "
                                         r"MHz \(VCO 400 to 800 MHz, phase detector at least "
                                         r"3.125 MHz\); the nearest whole MHz it makes: 45 and "
                                         r"50$"):
        ecp5_pll_settings(25_000_000, 48_000_000)
    with pytest.raises(ValueError, match="makes exactly 500 MHz"):  # above CLKOP's 400 MHz
        ecp5_pll_settings(25_000_000, 500_000_000)
    with pytest.raises(ValueError, match="output_hz must be a positive integer \\(Hz\\), not "
                                         "105000000.0"):
        ecp5_pll_settings(25_000_000, 105e6)


def test_ecp5_clock_generator_falls_back_off_the_ecp5():
    m = Module()
    m.domains.sync = ClockDomain("sync")
    pin = ULX3S_25F_Platform().request("clk25", dir="-")
    m.submodules.clock = clock = ClockGenerator(pin=pin, input_hz=25_000_000,
                                                output_hz=105_000_000)
    assert clock.settings == ECP5PLLSettings(5, 21, 6)
    # elsewhere (the simulator, another vendor): no EHXPLLL
    fragment = Fragment.get(m, platform=None)
    assert not any(isinstance(sub, Instance) for sub, _, _ in _subfragments(fragment))
    with pytest.raises(ValueError, match="no ECP5 PLL setting makes exactly 48 MHz"):
        ClockGenerator(pin=pin, input_hz=25_000_000, output_hz=48_000_000)


def test_ecp5_flash_clock_falls_back_off_the_ecp5():
    # elsewhere no USRMCLK: the clock comes out as it went in, for a flash model
    clock = ConfigFlashClock()
    assert not any(isinstance(sub, Instance)
                   for sub, _, _ in _subfragments(Fragment.get(clock, platform=None)))
    sim = Simulator(clock)

    async def bench(ctx):
        for value in (1, 0, 1):
            ctx.set(clock.i, value)
            assert ctx.get(clock.o) == value

    sim.add_testbench(bench)
    sim.run()


def _subfragments(fragment):
    for sub, name, src in fragment.subfragments:
        yield sub, name, src
        yield from _subfragments(sub)


def test_board_top_without_flash_weights_checks_its_arguments(small):
    # a self-test needs no weights in flash: its images are read from tests_offset on
    top = BoardTop(small, test_images=10, weights_in_flash=False, tests_offset=0x400000)
    assert (top.test_images, top.tests_offset, top.flash_words) == (10, 0x400000, None)
    # the test images' reader
    assert "loader" in [name for _, name, _ in _subfragments(Fragment.get(top, None))]
    with pytest.raises(ValueError, match=r"^tests_offset must be an integer in \[0, 2\*\*24\), "
                                         r"not 16777216$"):
        BoardTop(small, test_images=10, weights_in_flash=False, tests_offset=1 << 24)
    with pytest.raises(ValueError, match="weights_in_flash must be True or False, not 1"):
        BoardTop(small, weights_in_flash=1)


def test_board_top_without_flash_weights_is_ready_at_once(small):
    divisor = 4
    top = BoardTop(small, divisor=divisor, timeout_cycles=2_000, weights_in_flash=False)
    assert not top.weights_in_flash and top.flash_words is None and top.network_id is None
    with pytest.raises(ValueError, match=r"^this design has no flash image: its weights are "
                                         r"all in the bitstream \(weights_in_flash=False\)$"):
        top.flash_image()
    levels, durations = uart_waveform(status_request(seq=5), bit_cycles=divisor)
    answer = bytearray()

    async def host(ctx):
        await ctx.tick().repeat(3)
        assert ctx.get(top.led_ready) == 1 and ctx.get(top.led_error) == 0
        for level, cycles in zip(levels, durations):
            ctx.set(top.rx, int(level))
            await ctx.tick().repeat(int(cycles))
        ctx.set(top.rx, 1)

    async def line(ctx):
        # the answer's bytes as a receiver samples them, mid-bit
        while len(answer) < frame_bytes(small.classes):
            await ctx.tick().until(top.tx == 0)
            await ctx.tick().repeat(divisor // 2)
            byte = 0
            for bit in range(8):
                await ctx.tick().repeat(divisor)
                byte |= ctx.get(top.tx) << bit
            await ctx.tick().repeat(divisor)
            assert ctx.get(top.tx) == 1  # the stop bit
            answer.append(byte)

    async def flash_idle(ctx):
        async for _, _, cs_n, clk in ctx.tick().sample(top.flash.cs_n, top.flash.clk):
            assert cs_n == 1 and clk == 0

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(line)
    sim.add_process(flash_idle)
    sim.run_until(2e-3)
    response = decode_response(bytes(answer), classes=small.classes)
    assert response.status == Status.OK and response.seq == 5
