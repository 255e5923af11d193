"""iCE40 primitives, each behind one small helper with a plain fallback for simulation.

On a SiliconBlue (iCE40) platform the helper instantiates the primitive; anywhere else
(Amaranth's simulator, CXXRTL, other FPGAs) it elaborates to plain logic with the same ports
and the same latency, so every simulation exercises the timing the board will have.
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.vendor import LatticeECP5Platform, SiliconBluePlatform

from hw.vendor.ecp5 import ecp5_multiplier
from hw.lib.params import check_count
from hw.lib.ports import WeightPort, WritePort

__all__ = ["MultiplierPair", "SPRAMWeightStore", "ClockGenerator", "pll_settings"]


class MultiplierPair(wiring.Component):
    """Two 8x8 products, unsigned ``a`` times signed ``b``, two cycles after their operands.

    On the ECP5 it is two MULT18X18Ds with their registers (``hw.vendor.ecp5.ecp5_multiplier``).
    On the iCE40 this is one SB_MAC16 in its dual 8x8 mode with the input registers and the
    8x8 product registers on (so its paths meet the clock in icetime's worst-case model too,
    whose DSP delays nextpnr leaves out); the accumulators stay in logic, since the DSP's
    16-bit 8x8 accumulators are too narrow for the contract's 20 to 25 bit sums.

    Members
    -------
    a : In(ArrayLayout(unsigned(8), 2))
        The activations (unsigned codes).
    b : In(ArrayLayout(signed(8), 2))
        The weights (signed codes).
    p : Out(ArrayLayout(signed(16), 2))
        ``a[k] * b[k]`` of the operands presented two clock cycles earlier.
    """

    LATENCY = 2

    def __init__(self):
        super().__init__({
            "a": In(data.ArrayLayout(unsigned(8), 2)),
            "b": In(data.ArrayLayout(signed(8), 2)),
            "p": Out(data.ArrayLayout(signed(16), 2)),
        })

    def elaborate(self, platform):
        m = Module()
        if isinstance(platform, SiliconBluePlatform):
            product = Signal(32)
            # Parameters as in Lattice's "DSP Function Usage Guide for iCE40 Devices" and the
            # SB_MAC16 model in Yosys' ice40/cells_sim.v: MODE_8x8 makes two independent 8x8
            # multipliers (top: A[15:8]*B[15:8] -> O[31:16], bottom: A[7:0]*B[7:0] -> O[15:0]),
            # A_SIGNED/B_SIGNED sign-extend each half; OUTPUT_SELECT 2 routes the 8x8 products.
            m.submodules.mac = Instance(
                "SB_MAC16",
                p_MODE_8x8=Const(1, 1),
                p_A_SIGNED=Const(0, 1), p_B_SIGNED=Const(1, 1),
                p_A_REG=Const(1, 1), p_B_REG=Const(1, 1),
                p_C_REG=Const(0, 1), p_D_REG=Const(0, 1),
                p_TOP_8x8_MULT_REG=Const(1, 1), p_BOT_8x8_MULT_REG=Const(1, 1),
                p_PIPELINE_16x16_MULT_REG1=Const(0, 1), p_PIPELINE_16x16_MULT_REG2=Const(0, 1),
                p_TOPOUTPUT_SELECT=Const(2, 2), p_BOTOUTPUT_SELECT=Const(2, 2),
                p_TOPADDSUB_LOWERINPUT=Const(0, 2), p_TOPADDSUB_UPPERINPUT=Const(0, 1),
                p_TOPADDSUB_CARRYSELECT=Const(0, 2),
                p_BOTADDSUB_LOWERINPUT=Const(0, 2), p_BOTADDSUB_UPPERINPUT=Const(0, 1),
                p_BOTADDSUB_CARRYSELECT=Const(0, 2),
                p_NEG_TRIGGER=Const(0, 1),
                i_CLK=ClockSignal("sync"),
                i_CE=Const(1, 1),
                i_A=self.a.as_value(),
                i_B=self.b.as_value(),
                i_C=Const(0, 16), i_D=Const(0, 16),
                i_AHOLD=0, i_BHOLD=0, i_CHOLD=0, i_DHOLD=0,
                i_IRSTTOP=0, i_IRSTBOT=0, i_ORSTTOP=0, i_ORSTBOT=0,
                i_OLOADTOP=0, i_OLOADBOT=0, i_ADDSUBTOP=0, i_ADDSUBBOT=0,
                i_OHOLDTOP=0, i_OHOLDBOT=0, i_CI=0, i_ACCUMCI=0, i_SIGNEXTIN=0,
                o_O=product,
            )
            # a[0], b[0] are the low halves: their product is O[15:0].
            m.d.comb += [self.p[0].eq(product[:16].as_signed()),
                         self.p[1].eq(product[16:].as_signed())]
        elif isinstance(platform, LatticeECP5Platform):
            # Two MULT18X18Ds with their input and output registers: Yosys maps a `*` to one
            # but leaves its registers in the fabric, far from the DSP column (timing).
            for k in range(2):
                product = ecp5_multiplier(m, f"mult_{k}", self.a[k], self.b[k])
                m.d.comb += self.p[k].eq(product[:16])
        else:
            a = Signal(self.a.shape())
            b = Signal(self.b.shape())
            m.d.sync += [a.eq(self.a), b.eq(self.b)]
            for k in range(2):
                m.d.sync += self.p[k].eq(a[k] * b[k])
        return m


class SPRAMWeightStore(wiring.Component):
    """Weight stores of several layers in the UP5K's single-port RAM: 64-bit words written,
    each layer's read from SPRAMs of its own.

    On the iCE40 these are four SB_SPRAM256KA side by side, 16,384 words of 16 bits each;
    they start empty, so the board writes them (from flash) through ``write``, a 64-bit word
    (all four) at a time, before it reads them. Each reader (a layer) has its own columns:
    :meth:`sprams_for` its lanes, the next ones left to right, and so its own address: the
    layers run at once, each reading a word of its own every cycle, with no arbitration.
    One port per SPRAM and cycle: a write takes the cycle, and a read in it is lost, so the
    writer finishes before the network runs. Elsewhere a ``Memory`` of 64-bit words stands
    in, with a read port per reader.

    Parameters
    ----------
    readers : sequence of (int, int)
        Each reader's ``(depth, lanes)``: its words (at most 16,384) and its weights a word
        (at most two per SPRAM; together at most the four SPRAMs' eight).

    Members
    -------
    read_<k> : In(WeightPort(depth=depth_k, lanes=lanes_k))
        Reader ``k``'s port.
    write : In(SPRAMWeightStore.write_port(depth=max(depths)))
    """

    WORDS = 16384
    LANES = 8
    #: SB_SPRAM256KA side by side, 16 bits each: one write lane each.
    SPRAMS = 4

    @staticmethod
    def sprams_for(lanes):
        """The SPRAMs (16-bit columns) of a reader of ``lanes`` weights a word."""
        return -(-lanes // 2)

    @classmethod
    def write_port(cls, *, depth):
        """The signature of the write port of a store of ``depth`` words, seen from the writer:
        ``WritePort(depth=depth, width=64, lanes=4)``, a lane per SPRAM."""
        return WritePort(depth=depth, width=16 * cls.SPRAMS, lanes=cls.SPRAMS)

    @classmethod
    def check_readers(cls, readers):
        """Validate ``readers`` (as the constructor's); return them as a tuple of pairs."""
        readers = tuple(tuple(r) for r in readers)
        if not readers:
            raise ValueError("an SPRAM store needs one reader at least")
        for depth, lanes in readers:
            if not isinstance(depth, int) or not 1 <= depth <= cls.WORDS:
                raise ValueError(f"a reader's depth must be an integer in [1, {cls.WORDS}], "
                                 f"not {depth!r}")
            check_count("lanes", lanes)
        used = sum(cls.sprams_for(lanes) for _, lanes in readers)
        if used > cls.SPRAMS:
            raise ValueError(f"the readers' lanes {[l for _, l in readers]} need {used} "
                             f"SPRAMs (two weights each); the UP5K has {cls.SPRAMS}")
        return readers

    @classmethod
    def words(cls, stores):
        """The 64-bit words written to a store of ``stores``, each ``(words, lanes)``: a
        reader's words (``lanes`` weights each, ``hw.stages.dense.dense_weight_words``) in its
        columns, zeros past its depth and in the columns no reader has. The flash image holds
        these words (``hw.board.flash_image``)."""
        readers = cls.check_readers((len(w), lanes) for w, lanes in stores)
        out = [0] * max(depth for depth, _ in readers)
        column = 0
        for (words, _), (_, lanes) in zip(stores, readers):
            for a, word in enumerate(words):
                out[a] |= int(word) << (16 * column)
            column += cls.sprams_for(lanes)
        return out

    def __init__(self, *, readers):
        self._readers = self.check_readers(readers)
        depth = max(d for d, _ in self._readers)
        members = {f"read_{k}": In(WeightPort(depth=d, lanes=lanes))
                   for k, (d, lanes) in enumerate(self._readers)}
        super().__init__({**members, "write": In(self.write_port(depth=depth))})

    @property
    def readers(self):
        return self._readers

    def elaborate(self, platform):
        m = Module()
        writing = self.write.en.any()
        ports = [getattr(self, f"read_{k}") for k in range(len(self._readers))]
        if isinstance(platform, SiliconBluePlatform):
            column = 0
            for k, (_, lanes) in enumerate(self._readers):
                addr = Signal(range(self.WORDS), name=f"addr_{k}")
                m.d.comb += addr.eq(Mux(writing, self.write.addr, ports[k].addr))
                outs = []
                for c in range(column, column + self.sprams_for(lanes)):
                    out = Signal(16, name=f"dataout_{c}")
                    # Ports as in Lattice's "iCE40 SPRAM Usage Guide" (TN1314) and Yosys'
                    # ice40/cells_sim.v: 16K x 16 bits, MASKWREN selects nibbles, POWEROFF
                    # is active low, data out one cycle after the address.
                    m.submodules[f"spram_{c}"] = Instance(
                        "SB_SPRAM256KA",
                        i_ADDRESS=addr, i_DATAIN=self.write.data[16 * c:16 * (c + 1)],
                        i_MASKWREN=Const(0b1111, 4), i_WREN=self.write.en[c],
                        i_CHIPSELECT=Const(1, 1), i_CLOCK=ClockSignal("sync"),
                        i_STANDBY=Const(0, 1), i_SLEEP=Const(0, 1), i_POWEROFF=Const(1, 1),
                        o_DATAOUT=out)
                    outs.append(out)
                m.d.comb += ports[k].data.eq(Cat(*outs)[:8 * lanes])
                column += self.sprams_for(lanes)
        else:
            depth = max(d for d, _ in self._readers)
            mem = m.submodules.mem = Memory(shape=unsigned(16 * self.SPRAMS), depth=depth,
                                            init=[])
            wr = mem.write_port(granularity=16)
            m.d.comb += [wr.addr.eq(self.write.addr), wr.data.eq(self.write.data),
                         wr.en.eq(self.write.en)]
            column = 0
            for k, (_, lanes) in enumerate(self._readers):
                rd = mem.read_port()
                m.d.comb += [rd.addr.eq(Mux(writing, self.write.addr, ports[k].addr)),
                             ports[k].data.eq(rd.data[16 * column:16 * column + 8 * lanes])]
                column += self.sprams_for(lanes)
        return m


def pll_settings(input_hz, output_hz):
    """``(DIVR, DIVF, DIVQ, FILTER_RANGE)`` of an iCE40 PLL making ``output_hz`` exactly from
    ``input_hz``, or ``ValueError``. With DIVR = 0: output = input * (DIVF + 1) / 2**DIVQ, the
    VCO (input * (DIVF + 1)) within 533..1066 MHz (iCE40 sysCLOCK PLL guide, TN1251)."""
    for divq in range(1, 7):
        divf = output_hz * 2 ** divq / input_hz - 1
        if divf == int(divf) and 0 <= divf <= 127 and \
                533e6 <= input_hz * (divf + 1) <= 1066e6:
            # FILTER_RANGE by the phase detector frequency (the input, DIVR = 0), as icepll picks
            filter_range = next(r for r, top in enumerate((17e6, 26e6, 44e6, 66e6, 101e6), 1)
                                if input_hz < top)
            return 0, int(divf), divq, filter_range
    raise ValueError(f"no iCE40 PLL setting makes exactly {output_hz / 1e6} MHz from "
                     f"{input_hz / 1e6} MHz; try 24, 30, 36, 48, 60 or 72 MHz")


class ClockGenerator(wiring.Component):
    """Drives the ``sync`` clock domain (which the design's top defines) at ``output_hz``
    from a clock pin.

    On the iCE40, an SB_PLL40_PAD fed straight from the pad (the iCEBreaker's 12 MHz
    oscillator is on a PLL pad, which only the _PAD variant may use), with the domain held in
    reset until the PLL locks. Elsewhere, the pin's clock drives the domain as it is.

    Parameters
    ----------
    pin : a platform I/O port (``platform.request(name, dir="-")``)
    input_hz, output_hz : int
    """

    def __init__(self, *, pin, input_hz, output_hz):
        self._pin, self._input_hz, self._output_hz = pin, input_hz, output_hz
        self._settings = pll_settings(input_hz, output_hz) if input_hz != output_hz else None
        super().__init__({})

    def elaborate(self, platform):
        from amaranth.lib import io
        from amaranth.lib.cdc import ResetSynchronizer
        m = Module()
        clk = ClockSignal("sync")  # the domain itself is defined by the design's top
        if isinstance(platform, SiliconBluePlatform) and self._settings:
            divr, divf, divq, filter_range = self._settings
            lock = Signal()
            pll_out = Signal()
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE", p_DIVR=divr, p_DIVF=divf, p_DIVQ=divq,
                p_FILTER_RANGE=filter_range,
                i_PACKAGEPIN=self._pin.io, i_RESETB=Const(1, 1), i_BYPASS=Const(0, 1),
                o_PLLOUTGLOBAL=pll_out, o_LOCK=lock,
            )
            m.d.comb += clk.eq(pll_out)
            m.submodules.reset = ResetSynchronizer(~lock, domain="sync")
            platform.add_clock_constraint(pll_out, self._output_hz)
        else:
            m.submodules.clk_buffer = buffer = io.Buffer("i", self._pin)
            m.d.comb += clk.eq(buffer.i)
        return m
