"""The board in simulation: the board top, an SPI flash holding the weights image, and a UART
driven at the real bit timing."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In
from amaranth.sim import Simulator

from board.defaults import CLOCK_HZ
from board.flash_image import FLASH_OFFSET
from board.loader import SPIFlashPins
from .pysim import run_simulation

__all__ = ["SPIFlashModel", "SimulatedBoard"]


class SPIFlashModel(wiring.Component):
    """An SPI flash (mode 0) for simulation, holding ``contents`` at byte address ``base``
    (0xFF elsewhere). It starts in deep power-down, as the board may leave it after
    configuration: until Release from Deep Power-down (0xAB) it ignores commands and leaves
    ``cipo`` low. Then Read Data (0x03, 24-bit address) streams bytes, MSB first, the address
    incrementing, until chip select rises.
    """

    def __init__(self, *, contents, base=FLASH_OFFSET):
        self._contents, self._base = bytes(contents), base
        super().__init__({"pins": In(SPIFlashPins())})

    def elaborate(self, platform):
        m = Module()
        pins = self.pins
        mem = m.submodules.mem = Memory(shape=8, depth=max(len(self._contents), 1),
                                        init=list(self._contents))
        rd = mem.read_port(domain="comb")

        prev_clk = Signal()
        m.d.sync += prev_clk.eq(pins.clk)
        rising = pins.clk & ~prev_clk & ~pins.cs_n
        falling = ~pins.clk & prev_clk & ~pins.cs_n

        awake = Signal()
        bits = Signal(range(33))
        shift = Signal(32)
        reading = Signal()
        address = Signal(24)
        bit = Signal(3)
        inside = (address >= self._base) & (address < self._base + len(self._contents))
        m.d.comb += rd.addr.eq(address - self._base)
        current = Signal(8)
        with m.If(inside):
            m.d.comb += current.eq(rd.data)
        with m.Else():
            m.d.comb += current.eq(0xFF)

        with m.If(pins.cs_n):
            m.d.sync += [bits.eq(0), reading.eq(0), bit.eq(0)]
        with m.Elif(rising & ~reading):
            # MSB first: each bit enters at the bottom
            m.d.sync += [shift.eq(Cat(pins.copi, shift[:31])), bits.eq(bits + 1)]
            with m.If((bits == 7) & (Cat(pins.copi, shift[:7]) == 0xAB)):
                m.d.sync += awake.eq(1)
            with m.If((bits == 31) & awake & (shift[23:31] == 0x03)):
                m.d.sync += [reading.eq(1), address.eq(Cat(pins.copi, shift[:23]))]
        with m.Elif(falling & reading):
            m.d.sync += [pins.cipo.eq(current.bit_select(~bit, 1)), bit.eq(bit + 1)]
            with m.If(bit == 7):
                m.d.sync += address.eq(address + 1)
        return m


class SimulatedBoard:
    """Builds the simulation of a :class:`board.top.BoardTop` with a flash holding ``image``.

    ``run(script)`` runs ``await script(link)`` as a testbench, where ``link`` has
    ``send(data)``, ``receive(count, timeout_cycles)`` (returns the bytes that arrived; fewer
    on a timeout), ``wait(cycles)`` and ``leds()`` (``(ready, error)``).
    """

    def __init__(self, top, image):
        self.top = top
        self.flash = SPIFlashModel(contents=image)
        m = Module()
        m.submodules.top = top
        m.submodules.flash = self.flash
        wiring.connect(m, top.flash, self.flash.pins)
        self._module = m

    def run(self, script, *, max_cycles=20_000_000, vcd=None):
        sim = Simulator(self._module)
        sim.add_clock(1 / CLOCK_HZ)
        outcome = {}

        link = _Link(self.top)

        async def testbench(ctx):
            link.ctx = ctx
            outcome["value"] = await script(link)

        sim.add_testbench(link.monitor, background=True)
        sim.add_testbench(testbench)
        run_simulation(sim, max_cycles, "board", vcd=vcd)
        return outcome["value"]


class _Link:
    def __init__(self, top):
        self.top = top
        self.divisor = top._divisor
        self.received = bytearray()  # everything the board sent, in order
        self.ctx = None

    async def wait(self, cycles):
        await self.ctx.delay(cycles / CLOCK_HZ)

    def leds(self):
        return self.ctx.get(self.top.led_ready), self.ctx.get(self.top.led_error)

    async def send(self, data):
        """UART frames on ``rx``: start bit, 8 data bits LSB first, stop bit."""
        for byte in bytes(data):
            for level in [0, *((byte >> k) & 1 for k in range(8)), 1]:
                self.ctx.set(self.top.rx, level)
                await self.ctx.tick().repeat(self.divisor)

    async def receive(self, count, timeout_cycles):
        """The next ``count`` bytes from the board; fewer if ``timeout_cycles`` pass without
        a new one."""
        idle = 0
        while len(self.received) < count and idle < timeout_cycles:
            before = len(self.received)
            await self.ctx.tick().repeat(self.divisor)
            idle = 0 if len(self.received) != before else idle + self.divisor
        out = bytes(self.received[:count])
        del self.received[:count]
        return out

    async def monitor(self, ctx):
        """Decodes ``tx`` all along, sampling each bit in its middle."""
        period = self.divisor / CLOCK_HZ
        while True:
            await ctx.negedge(self.top.tx)
            await ctx.delay(period * 1.5)
            byte = 0
            for k in range(8):
                byte |= ctx.get(self.top.tx) << k
                await ctx.delay(period)
            if ctx.get(self.top.tx) != 1:
                raise AssertionError("framing error from the board: the stop bit is low")
            self.received.append(byte)
