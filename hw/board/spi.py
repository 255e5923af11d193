"""Reading an SPI flash: wake it, then stream its bytes from an address."""

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.params import check_count
from hw.lib.synthesis import one_hot

__all__ = ["SPIFlashPins", "SPIFlashReader", "CYCLES_PER_BYTE"]

#: System clock cycles per byte read: the SPI clock at half the system clock, single-bit SPI.
CYCLES_PER_BYTE = 16

#: The W25Q family's (and most SPI NOR flashes') commands.
_RELEASE_POWER_DOWN = 0xAB
_READ_DATA = 0x03
_FAST_READ = 0x0B   # a dummy byte after the address


class SPIFlashPins(wiring.Signature):
    """An SPI flash, seen from the controller: single-bit SPI, mode 0."""

    def __init__(self):
        super().__init__({"cs_n": Out(1, init=1), "clk": Out(1), "copi": Out(1),
                          "cipo": In(1)})


class SPIFlashReader(wiring.Component):
    """Wakes an SPI flash, then reads it from ``offset`` on, a byte at a time, until stopped.

    Sends Release-from-Deep-Power-down (0xAB) and waits ``wake_cycles`` (the flash's tRES1, 3 us
    for the iCEBreaker's W25Q128), then Read Data (0x03) with the 24-bit ``offset``, with the
    SPI clock at half the system clock (within Read Data's 50 MHz up to a 100 MHz system
    clock). The flash sees one continuous transaction: command, address, then the data, which
    leave through ``o`` as they arrive, a byte every 16 cycles. There is no back-pressure: the
    flash does not wait. With ``fast_read``, Fast Read (0x0B: the address, then a dummy byte)
    in place of Read Data, for a system clock above 100 MHz: SPI NOR flashes take it at a far
    faster clock than Read Data's 50 MHz.

    Parameters
    ----------
    offset : int or None
        The first byte's address in flash, below 2**24; None: wake the flash and read nothing
        until :attr:`again` (``again_offset`` is then needed).
    wake_cycles : int
    again_offset : int, optional
        Where :attr:`again` reads from.
    fast_read : bool

    Members
    -------
    flash : Out(SPIFlashPins())
    o : Out(stream.Signature(8, always_ready=True))
        The bytes read, each valid for one cycle (and ``payload`` holds it one more).
    stop : In(1)
        Pulse while a byte arrives: it is the last, and the transaction ends after it.
    again : In(1)
        With ``again_offset``: pulse once stopped to read again from ``again_offset`` on (the
        flash is awake), until the next ``stop``.
    """

    def __init__(self, *, offset, wake_cycles=150, again_offset=None, fast_read=False):
        if not isinstance(fast_read, bool):
            raise ValueError(f"fast_read must be True or False, not {fast_read!r}")
        if offset is None and again_offset is None:
            raise ValueError("a reader without an offset (offset=None) reads only from "
                             "again_offset, which must then be given")
        for name, value in (("offset", offset), ("again_offset", again_offset)):
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or \
                    not 0 <= value < 1 << 24:
                raise ValueError(f"{name} must be an integer in [0, 2**24), not {value!r}")
        check_count("wake_cycles", wake_cycles)
        self._offset, self._wake, self._again = offset, wake_cycles, again_offset
        self._read = _FAST_READ if fast_read else _READ_DATA
        members = {"flash": Out(SPIFlashPins()),
                   "o": Out(stream.Signature(8, always_ready=True)), "stop": In(1)}
        if again_offset is not None:
            members["again"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        spi = self.flash

        # The SPI engine: while `running`, the clock toggles every cycle; each falling edge
        # shifts `out_bits` out (MSB first) and `in_byte` in, and `byte_done` pulses after
        # every eighth. It streams bytes until `stop` is set, then stops at the end of the
        # byte.
        out_bits = Signal(32)
        bit_in_byte = Signal(3)
        in_byte = Signal(8)
        byte_done = Signal()
        running = Signal()
        stop = Signal()
        m.d.sync += byte_done.eq(0)
        with m.If(running):
            m.d.sync += spi.clk.eq(~spi.clk)  # rising edge: the flash samples copi
            with m.If(spi.clk):
                # falling edge: cipo has been stable for the whole high phase
                # MSB first: each bit enters at the bottom and moves up
                m.d.sync += [in_byte.eq(Cat(spi.cipo, in_byte[:7])),
                             out_bits.eq(out_bits << 1), bit_in_byte.eq(bit_in_byte + 1)]
                with m.If(bit_in_byte == 7):
                    m.d.sync += byte_done.eq(1)
                    with m.If(stop):
                        m.d.sync += running.eq(0)
        m.d.comb += [spi.copi.eq(out_bits[31]), self.o.payload.eq(in_byte)]

        wait = Signal(signed((self._wake + 1).bit_length() + 1))  # to -1: the sign ends it
        # what comes in while the command and the address (and Fast Read's dummy byte, the
        # zeros out_bits holds after them) go out is not data
        command_bytes = 5 if self._read == _FAST_READ else 4
        command = Signal(range(command_bytes))
        with m.FSM() as fsm:
            with m.State("Wake"):
                m.d.sync += [spi.cs_n.eq(0), out_bits.eq(_RELEASE_POWER_DOWN << 24),
                             running.eq(1), stop.eq(1)]
                m.next = "Wake-Send"
            with m.State("Wake-Send"):
                with m.If(byte_done):
                    m.d.sync += [spi.cs_n.eq(1), wait.eq(self._wake - 1)]
                    m.next = "Wake-Wait"
            with m.State("Wake-Wait"):
                with m.If(~wait[-1]):
                    m.d.sync += wait.eq(wait - 1)
                with m.Else():
                    if self._offset is None:
                        m.next = "Done"   # awake, chip select high: reads wait for `again`
                    else:
                        m.d.sync += [spi.cs_n.eq(0),
                                     out_bits.eq((self._read << 24) | self._offset),
                                     running.eq(1), stop.eq(0)]
                        m.next = "Command"
            with m.State("Command"):
                with m.If(byte_done):
                    m.d.sync += command.eq(command + 1)
                    with m.If(command == command_bytes - 1):
                        m.next = "Data"
            with m.State("Data"):
                m.d.comb += self.o.valid.eq(byte_done)
                with m.If(self.stop):
                    m.d.sync += stop.eq(1)
                with m.If(byte_done & stop):  # the engine stopped after this byte
                    m.d.sync += spi.cs_n.eq(1)
                    m.next = "Done"
            with m.State("Done"):
                if self._again is not None:
                    with m.If(self.again):
                        m.d.sync += [spi.cs_n.eq(0),
                                     out_bits.eq((self._read << 24) | self._again),
                                     running.eq(1), stop.eq(0), command.eq(0)]
                        m.next = "Command"
        one_hot(fsm)
        return m
