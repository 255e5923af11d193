"""The board's design: weights from flash, the network, and the UART protocol."""

from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from q8.contract import DenseConfig
from .flash_image import FLASH_OFFSET
from hw.ice40 import SPRAMWeightStore
from hw.ports import WritePort
from .loader import LoadStatus, SPIFlashPins, WeightLoader
from hw.network import NetworkPipeline, weight_words
from hw.params import check_count
from .protocol import FRAME_MAGIC, Command, Status
from hw.synthesis import one_hot
from .defaults import BAUD, CLOCK_HZ, IMAGE_TIMEOUT_S
from .uart import UARTReceiver, UARTTransmitter

__all__ = ["BoardNetwork", "BoardTop", "flash_words"]


def _first_dense(net):
    return next(l.name for l in net.layers if isinstance(l, DenseConfig))


def flash_words(net):
    """The words of the flash image for ``net``: its first dense layer's weight store."""
    return weight_words(net, _first_dense(net))


def _board_pipeline(net):
    """The network with its first dense layer's weights outside, and that layer's name."""
    external = _first_dense(net)
    return NetworkPipeline(net, external_weights=[external]), external


def _add_pipeline(m, pipeline, external, writer):
    """Add ``pipeline`` to ``m`` with the SPRAM store of layer ``external``'s weights, written
    through ``writer`` (a ``WritePort``). Into the caller's module, in this order, rather than
    as a component of its own: the board top's synthesis depends on its netlist's shape, and
    as a component of its own it took 39 more logic cells (measured)."""
    m.submodules.pipeline = pipeline
    m.submodules.store = store = SPRAMWeightStore(depth=len(pipeline.weight_words(external)))
    wiring.connect(m, writer, store.write)
    wiring.connect(m, getattr(pipeline, f"{external}_weights"), store.read)


class BoardNetwork(wiring.Component):
    """The network as the board runs it, without the UART and the flash loader: the first
    dense layer's weights in the SPRAM store (:class:`hw.ice40.SPRAMWeightStore`), which starts
    empty and is written through ``w`` before the first image; the other layers' weights in
    block RAM. For checking the synthesised netlist (``sim.rtl.netlist_model``).

    Parameters
    ----------
    net : q8.weights.Network

    Members
    -------
    i, o : as :class:`hw.network.NetworkPipeline`
    w : In(WritePort(depth=len(flash_words), width=64, lanes=4))
        The store's write port: word ``k`` of :attr:`flash_words` at address ``k``.
    """

    def __init__(self, net):
        self._pipeline, self._external = _board_pipeline(net)
        members = self._pipeline.signature.members
        super().__init__({"i": members["i"], "o": members["o"],
                          "w": In(WritePort(depth=len(self.flash_words), width=64, lanes=4))})

    @property
    def flash_words(self):
        """The words of the SPRAM store (and of the flash image)."""
        return self._pipeline.weight_words(self._external)

    def elaborate(self, platform):
        m = Module()
        _add_pipeline(m, self._pipeline, self._external, wiring.flipped(self.w))
        wiring.connect(m, wiring.flipped(self.i), self._pipeline.i)
        wiring.connect(m, self._pipeline.o, wiring.flipped(self.o))
        return m


class BoardTop(wiring.Component):
    """Everything on the board but the clock: the board's pins are this component's ports.

    At power-up the :class:`board.loader.WeightLoader` copies the first dense layer's weights
    from flash into the SPRAM store. Meanwhile and after, the UART protocol
    (``board.protocol``, ``docs/protocol.md``) runs: a classify command's pixels go into a
    block-RAM image buffer; once all have arrived, and if the weights are ready, the image
    streams into the network at one pixel per cycle and the answer goes back with the cycles
    it took. An image cut short (no byte for ``timeout_cycles``) is answered with ``TIMEOUT``
    and forgotten; the network only ever sees whole images, so nothing stale remains.

    Parameters
    ----------
    net : q8.weights.Network
    clock_hz : int
        The system clock (for the LED blink).
    divisor : int
        UART clock cycles per bit (48 MHz / 3 Mbaud = 16).
    timeout_cycles : int
    flash_offset : int

    Members
    -------
    rx : In(1)
    tx : Out(1)
    flash : Out(SPIFlashPins())
    led_ready, led_error : Out(1)
        Ready: steady; loading: ``led_ready`` blinks; bad weights: ``led_error``.
    """

    def __init__(self, net, *, clock_hz=CLOCK_HZ, divisor=CLOCK_HZ // BAUD,
                 timeout_cycles=round(CLOCK_HZ * IMAGE_TIMEOUT_S),
                 flash_offset=FLASH_OFFSET):
        check_count("clock_hz", clock_hz)
        check_count("divisor", divisor, minimum=4)
        check_count("timeout_cycles", timeout_cycles)
        self._net = net
        self._clock_hz, self._divisor = clock_hz, divisor
        self._timeout, self._offset = timeout_cycles, flash_offset
        self._pipeline, self._external = _board_pipeline(net)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1),
                          "flash": Out(SPIFlashPins()),
                          "led_ready": Out(1), "led_error": Out(1)})

    @property
    def pipeline(self):
        return self._pipeline

    @property
    def flash_words(self):
        """The words of the flash image (the SPRAM-backed layer's weights)."""
        return self._pipeline.weight_words(self._external)

    def elaborate(self, platform):
        m = Module()
        height, width, _ = self._net.input_shape
        pixels = height * width
        classes = self._net.classes
        words = len(self.flash_words)

        pipeline = self._pipeline
        loader = WeightLoader(words=words, offset=self._offset)
        _add_pipeline(m, pipeline, self._external, loader.store)
        m.submodules.loader = loader
        wiring.connect(m, loader.flash, wiring.flipped(self.flash))

        m.submodules.rx = rx = UARTReceiver(divisor=self._divisor)
        m.submodules.tx = tx = UARTTransmitter(divisor=self._divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]

        # LEDs: loading blinks with the top bit of a free-running counter (every 0.35 s at
        # 48 MHz)
        blink = Signal((self._clock_hz // 4).bit_length())
        m.d.sync += blink.eq(blink + 1)
        blink_on = blink[-1]
        # registered: the loader's status changes once, and far from the protocol's logic
        ready = Signal()
        bad = Signal()
        m.d.sync += [ready.eq(loader.status == LoadStatus.READY),
                     bad.eq((loader.status == LoadStatus.BAD_HEADER) |
                            (loader.status == LoadStatus.BAD_CRC))]
        m.d.comb += [self.led_ready.eq(ready | ((loader.status == LoadStatus.LOADING) & blink_on)),
                     self.led_error.eq(bad)]

        # The image buffer.
        image = m.submodules.image = Memory(shape=8, depth=pixels, init=[])
        img_wr = image.write_port()
        img_rd = image.read_port()

        count = Signal(range(pixels + 1))
        # counts down to -1: its sign bit is the timeout, with no wide comparison
        timer = Signal(signed((self._timeout + 1).bit_length() + 1))
        status = Signal(8)  # a Status code
        cycles = Signal(24)  # 0.35 s at 48 MHz: far more than an inference takes
        count_last = Signal()                    # count == pixels - 1
        fed = Signal(range(pixels + 1))          # the next pixel to read
        # the buffer's addresses and data do not depend on the state: only the enables do
        m.d.comb += [img_wr.addr.eq(count), img_wr.data.eq(rx.o.payload),
                     img_rd.addr.eq(fed)]
        fed_last = Signal()                      # fed == pixels - 1
        feeding = Signal()                       # fed != pixels
        read_valid = Signal()                    # the read port holds a pixel not yet taken
        read_last = Signal()                     # ... and it is the image's last
        counting = Signal()

        # The response frame, one byte at a time.
        # The class and logits are read from the network's output, which holds them until the
        # frame is sent; error frames carry zeros there.
        ok = status == Status.OK
        result = pipeline.o.payload
        frame = [FRAME_MAGIC, status, Mux(ok, result.cls, 0)] + \
            [Mux(ok, result.logits[c].as_unsigned(), 0) for c in range(classes)] + \
            [cycles[8 * k:8 * (k + 1)] for k in range(3)] + [0]
        byte_index = Signal(range(len(frame) + 1))
        checksum = Signal(8)
        frame_byte = Signal(8)
        staged_byte = Signal(8)
        frame_last = Signal()  # the byte being sent is the frame's last (byte_index == 17)
        staged = Signal()
        # The frame's multiplexer in two steps, a register between: four bytes by the low bits
        # of the index (every cycle), then the quarter by the high bits. A byte is picked
        # once the first step has seen the index and status of the cycle before (`settled`).
        padded = frame + [checksum] * (-(len(frame) + 1) % 4 + 1)  # the checksum last
        quarters = [Signal(8, name=f"frame_quarter_{q}") for q in range(len(padded) // 4)]
        for q, quarter in enumerate(quarters):
            m.d.sync += quarter.eq(Array(padded[4 * q:4 * q + 4])[byte_index[:2]])
        m.d.comb += frame_byte.eq(Array(quarters)[byte_index[2:]])
        settled = Signal()

        release = Signal()
        m.d.sync += release.eq(0)
        m.d.comb += pipeline.o.ready.eq(release)

        loader_status = Mux(loader.status == LoadStatus.LOADING, int(Status.NOT_READY),
                            int(Status.BAD_WEIGHTS))

        # The command byte is decoded in registers, in the cycle after it is taken (the
        # receiver holds it until the next byte), so no comparison sits in front of the FSM.
        is_classify = Signal()
        is_status = Signal()
        m.d.sync += [is_classify.eq(rx.o.payload == Command.CLASSIFY),
                     is_status.eq(rx.o.payload == Command.STATUS)]

        with m.FSM() as fsm:
            with m.State("Idle"):
                m.d.comb += rx.o.ready.eq(1)
                with m.If(rx.o.valid):
                    m.d.sync += [cycles.eq(0), byte_index.eq(0), checksum.eq(0),
                                 frame_last.eq(0), count.eq(0), count_last.eq(pixels == 1),
                                 timer.eq(self._timeout)]
                    m.next = "Command"
            with m.State("Command"):
                with m.If(is_classify):
                    m.next = "Receive"
                with m.Elif(is_status):
                    m.d.sync += status.eq(Mux(ready, int(Status.OK), loader_status))
                    m.next = "Respond"
                with m.Else():
                    m.d.sync += status.eq(int(Status.UNKNOWN_COMMAND))
                    m.next = "Respond"
            with m.State("Receive"):
                m.d.comb += rx.o.ready.eq(1)
                with m.If(rx.o.valid):
                    m.d.comb += img_wr.en.eq(1)
                    m.d.sync += [count.eq(count + 1), timer.eq(self._timeout),
                                 count_last.eq(count == pixels - 2)]
                    with m.If(count_last):
                        with m.If(ready):
                            m.d.sync += [fed.eq(0), feeding.eq(1), fed_last.eq(pixels == 1),
                                         read_valid.eq(0), counting.eq(0)]
                            m.next = "Feed"
                        with m.Else():
                            m.d.sync += status.eq(loader_status)
                            m.next = "Respond"
                with m.Elif(timer[-1]):
                    m.d.sync += status.eq(int(Status.TIMEOUT))
                    m.next = "Respond"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("Feed"):
                # pixels out of the buffer, one per cycle while the network takes them: a read
                # is issued when its result has somewhere to go, and waits in the read port
                # until taken
                taken = pipeline.i.valid & pipeline.i.ready
                issue = feeding & (~read_valid | taken)
                m.d.comb += [pipeline.i.valid.eq(read_valid),
                             pipeline.i.payload.data[0].eq(img_rd.data),
                             pipeline.i.payload.last.eq(read_last),
                             img_rd.en.eq(issue)]
                with m.If(issue):
                    m.d.sync += [fed.eq(fed + 1), fed_last.eq(fed == pixels - 2),
                                 feeding.eq(~fed_last), read_valid.eq(1),
                                 read_last.eq(fed_last)]
                with m.Elif(taken):
                    m.d.sync += read_valid.eq(0)
                with m.If(taken):
                    m.d.sync += counting.eq(1)
                # cycles from the first pixel's transfer to the result's, as in sim.pysim
                with m.If(counting):
                    m.d.sync += cycles.eq(cycles + 1)
                with m.If(pipeline.o.valid):
                    m.d.sync += status.eq(int(Status.OK))
                    m.next = "Respond"
            with m.State("Respond"):
                # each byte is picked into a register first, then sent: the frame's
                # multiplexer and the transmitter are not in one cycle
                m.d.sync += settled.eq(~staged)
                with m.If(~staged & settled):
                    m.d.sync += [staged_byte.eq(frame_byte), staged.eq(1)]
                m.d.comb += [tx.i.valid.eq(staged), tx.i.payload.eq(staged_byte)]
                with m.If(tx.i.valid & tx.i.ready):
                    m.d.sync += [byte_index.eq(byte_index + 1), staged.eq(0),
                                 checksum.eq(checksum ^ staged_byte),
                                 frame_last.eq(byte_index == len(frame) - 1)]
                    with m.If(frame_last):
                        # the frame is out: release the network's result (next cycle, from a
                        # register, so the network's output does not wait on this logic)
                        m.d.sync += release.eq(ok)
                        m.next = "Idle"
        one_hot(fsm)
        return m
