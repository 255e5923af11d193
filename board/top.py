"""The board's design: weights from flash, the network, and the UART protocol."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.ice40 import SPRAMWeightStore
from hw.network import NetworkPipeline, weight_words
from hw.params import check_count
from hw.synthesis import one_hot
from .defaults import BAUD, CLOCK_HZ, IMAGE_TIMEOUT_S
from .flash_image import FLASH_OFFSET
from .framer import ResponseFramer
from .image_buffer import ImageBuffer
from .loader import LoadStatus, WeightLoader
from .protocol import FRAME_MAGIC, Command, Status
from .spi import SPIFlashPins
from .uart import UARTReceiver, UARTTransmitter

__all__ = ["BoardNetwork", "BoardTop", "flash_words"]


def flash_words(net, schedules=None):
    """The words of the flash image for ``net``: its first dense layer's weight store (under
    ``schedules``, as :class:`BoardTop`'s)."""
    return weight_words(net, net.first_dense.name, schedules)


def _board_pipeline(net, schedules):
    """The network with its first dense layer's weights outside, and that layer's name."""
    external = net.first_dense.name
    return NetworkPipeline(net, schedules=schedules, external_weights=[external]), external


def _add_pipeline(m, pipeline, external, writer):
    """Add ``pipeline`` to ``m`` with the SPRAM store of layer ``external``'s weights, written
    through ``writer`` (a ``WritePort``). Into the caller's module, in this order, rather than
    as a component of its own: the board top's synthesis depends on its netlist's shape, and
    as a component of its own it took more logic cells."""
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
    schedules : dict of hw.network.DenseSchedule, optional
        As :class:`BoardTop`'s.

    Members
    -------
    i, o : as :class:`hw.network.NetworkPipeline`
    w : In(SPRAMWeightStore.write_port(depth=len(flash_words)))
        The store's write port: word ``k`` of :attr:`flash_words` at address ``k``.
    """

    def __init__(self, net, *, schedules=None):
        self._pipeline, self._external = _board_pipeline(net, schedules)
        members = self._pipeline.signature.members
        super().__init__({"i": members["i"], "o": members["o"],
                          "w": In(SPRAMWeightStore.write_port(
                              depth=len(self.flash_words)))})

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
    schedules : dict of hw.network.DenseSchedule, optional
        By dense layer name, for :class:`hw.network.NetworkPipeline`
        (``hw.network.default_schedule`` where absent); ``hw.build`` passes the fit plan's
        (``hw.fit``), which keeps the DSPs within the board's.
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

    def __init__(self, net, *, schedules=None, clock_hz=CLOCK_HZ, divisor=CLOCK_HZ // BAUD,
                 timeout_cycles=round(CLOCK_HZ * IMAGE_TIMEOUT_S),
                 flash_offset=FLASH_OFFSET):
        check_count("clock_hz", clock_hz)
        check_count("divisor", divisor, minimum=4)
        check_count("timeout_cycles", timeout_cycles)
        self._net = net
        self._clock_hz, self._divisor = clock_hz, divisor
        self._timeout, self._offset = timeout_cycles, flash_offset
        self._pipeline, self._external = _board_pipeline(net, schedules)
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
        pixels = self._net.pixels
        classes = self._net.classes

        pipeline = self._pipeline
        loader = WeightLoader(words=len(self.flash_words), offset=self._offset)
        _add_pipeline(m, pipeline, self._external, loader.store)
        m.submodules.loader = loader
        wiring.connect(m, loader.flash, wiring.flipped(self.flash))

        m.submodules.rx = rx = UARTReceiver(divisor=self._divisor)
        m.submodules.tx = tx = UARTTransmitter(divisor=self._divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]

        # LEDs: loading blinks with the top bit of a free-running counter (a few times a second)
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

        m.submodules.image = image = ImageBuffer(pixels=pixels)
        m.d.comb += image.i.payload.eq(rx.o.payload)
        wiring.connect(m, image.o, pipeline.i)

        # counts down to -1: its sign bit is the timeout, with no wide comparison
        timer = Signal(signed((self._timeout + 1).bit_length() + 1))
        status = Signal(8)  # a Status code
        cycles = Signal(24)  # far more than an inference takes
        counting = Signal()

        # The response frame: the class and logits are read from the network's output, which
        # holds them until the frame is sent; error frames carry zeros there.
        m.submodules.framer = framer = ResponseFramer(classes=classes)
        wiring.connect(m, framer.o, tx.i)
        ok = status == Status.OK
        result = pipeline.o.payload
        m.d.comb += [framer.frame.magic.eq(FRAME_MAGIC), framer.frame.status.eq(status),
                     framer.frame.cls.eq(Mux(ok, result.cls, 0)),
                     framer.frame.cycles.eq(cycles)]
        m.d.comb += [framer.frame.logits[c].eq(Mux(ok, result.logits[c], 0))
                     for c in range(classes)]

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
                    m.d.comb += [framer.start.eq(1), image.restart.eq(1)]
                    m.d.sync += [cycles.eq(0), timer.eq(self._timeout)]
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
                m.d.comb += [rx.o.ready.eq(1), image.i.valid.eq(rx.o.valid)]
                with m.If(rx.o.valid):
                    m.d.sync += timer.eq(self._timeout)
                    with m.If(image.i_last):
                        with m.If(ready):
                            m.d.comb += image.replay.eq(1)
                            m.d.sync += counting.eq(0)
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
                # cycles from the first pixel's transfer to the result's, as in sim.pysim
                with m.If(pipeline.i.valid & pipeline.i.ready):
                    m.d.sync += counting.eq(1)
                with m.If(counting):
                    m.d.sync += cycles.eq(cycles + 1)
                with m.If(pipeline.o.valid):
                    m.d.sync += status.eq(int(Status.OK))
                    m.next = "Respond"
            with m.State("Respond"):
                m.d.comb += framer.send.eq(1)
                with m.If(framer.done):
                    # the frame is out: release the network's result (next cycle, from a
                    # register, so the network's output does not wait on this logic)
                    m.d.sync += release.eq(ok)
                    m.next = "Idle"
        one_hot(fsm)
        return m
