"""The board's design: weights from flash, the network, and the UART protocol."""

from amaranth.hdl import Const, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.vendor.ice40 import SPRAMWeightStore
from hw.stages.network import NetworkPipeline, default_schedule, spram_layers, weight_words
from hw.lib.params import check_count
from q8.mnist import IMAGE_SHAPE
from hw.board.defaults import BAUD, CLOCK_HZ, IMAGE_TIMEOUT_S, SELF_TEST_IMAGES
from hw.board.flash_image import (FLASH_OFFSET, TESTS_HEADER_BYTES, TESTS_OFFSET, make_image,
                                  network_id)
from hw.board.image_buffer import ImageBuffer
from hw.board.loader import LoadStatus, TestImageReader, WeightLoader
from hw.board.protocol import SELF_TEST_LAYOUT
from hw.board.receiver import RequestReceiver
from hw.board.sequencer import SelfTestSequencer
from hw.board.spi import CYCLES_PER_BYTE, SPIFlashPins
from hw.board.uart import UARTReceiver, UARTTransmitter
from hw.board.worker import Worker

__all__ = ["BoardNetwork", "BoardTop", "flash_words", "flash_image", "self_test_images",
           "self_test_refusal", "network_self_test_refusal"]


def self_test_refusal(net, data=None, *, interval=None):
    """Why a board top of ``net`` has no self-test of ``data``'s test images (a
    ``q8.dataset.Dataset``; ``None``: MNIST's), or ``None`` if it has one.

    ``interval`` is the network's cycles an image back to back (its fit plan's): the flash
    brings a record (the pixels and the label) every ``(pixels + 1) * CYCLES_PER_BYTE``
    cycles and cannot wait, so a network slower than that on average would lose pixels (the
    board would answer WATCHDOG): such a network gets no self-test. Within an image a network
    may still pause longer than its input's skid buffer holds; the board then answers
    OVERRUN or WATCHDOG, never a count."""
    refusal = network_self_test_refusal(classes=net.classes, pixels=net.pixels,
                                        interval=interval)
    if refusal is not None:
        return refusal
    if data is None and tuple(net.input_shape) != IMAGE_SHAPE:
        return (f"the network takes {'x'.join(map(str, net.input_shape))} images, not MNIST's: "
                f"give the data set (--data) whose test images the flash holds")
    if data is not None and data.image_shape != tuple(net.input_shape):
        return f"{data.name}'s images are not the network's"
    return None


def network_self_test_refusal(*, classes, pixels, interval=None):
    """The part of :func:`self_test_refusal` that is the network's alone, whatever the data
    set: why a network of ``classes`` classes, ``pixels`` bytes an image and ``interval``
    cycles an image back to back gets no self-test, or ``None`` (the fit plan counts the
    self-test's logic by it, ``hw.fit``)."""
    if 8 + 8 * classes < SELF_TEST_LAYOUT.size:
        return (f"a self-test needs at least 9 classes (its answer's fields take the logits' "
                f"place); this network has {classes}")
    record = (pixels + 1) * CYCLES_PER_BYTE
    if interval is not None and interval > record:
        return (f"the network takes {interval:,} cycles an image back to back, longer than "
                f"the flash takes to bring one ({record:,} cycles): the self-test would lose "
                f"pixels; classify over the UART instead (sim.evaluate --data)")
    return None


def self_test_images(net, data=None, *, interval=None):
    """The self-test's images that a board top of ``net`` is built for: the test images of
    ``data`` (a ``q8.dataset.Dataset``; ``None``: MNIST's), at most
    :data:`hw.board.defaults.SELF_TEST_IMAGES`, unless :func:`self_test_refusal` says why
    not (then none)."""
    if self_test_refusal(net, data, interval=interval) is not None:
        return 0
    return SELF_TEST_IMAGES if data is None else min(len(data.x_test), SELF_TEST_IMAGES)


def flash_words(net, schedules=None):
    """The words of the flash image for ``net``: the SPRAM store's
    (:meth:`hw.vendor.ice40.SPRAMWeightStore.words`) of the layers that keep their weights in
    SPRAM (``hw.stages.network.spram_layers``) under ``schedules``, as :class:`BoardTop`'s."""
    full = {**default_schedule(net), **(schedules or {})}
    return SPRAMWeightStore.words([(weight_words(net, name, schedules), full[name].lanes)
                                   for name in _spram_layers(net, schedules)])


def flash_image(net, schedules=None):
    """The bytes of the flash image that :class:`BoardTop` ``(net, schedules=schedules)``
    loads, without building it (``hw.board.flash_image``)."""
    words = flash_words(net, schedules)
    return make_image(words, network=network_id(net, words))


def _spram_layers(net, schedules):
    names = spram_layers(net, schedules)
    if not names:
        raise ValueError("with its weights in flash, a board design needs a layer whose "
                         "schedule keeps its weights in SPRAM (DenseSchedule(spram=True))")
    return names


def _board_pipeline(net, schedules):
    """The network with its SPRAM layers' weights outside, and those layers' names."""
    external = _spram_layers(net, schedules)
    return NetworkPipeline(net, schedules=schedules, external_weights=external), external


def _add_pipeline(m, pipeline, external, writer):
    """Add ``pipeline`` to ``m`` with the SPRAM store of layers ``external``'s weights,
    written through ``writer`` (a ``WritePort``). Into the caller's module, in this order,
    rather than as a component of its own: the board top's synthesis depends on its
    netlist's shape, and as a component of its own it took more logic cells."""
    m.submodules.pipeline = pipeline
    ports = [getattr(pipeline, f"{name}_weights") for name in external]
    m.submodules.store = store = SPRAMWeightStore(
        readers=[(p.signature.depth, p.signature.lanes) for p in ports])
    wiring.connect(m, writer, store.write)
    for k, port in enumerate(ports):
        wiring.connect(m, port, getattr(store, f"read_{k}"))


class BoardNetwork(wiring.Component):
    """The network as the board runs it, without the UART and the flash loader: the first
    dense layer's weights in the SPRAM store (:class:`hw.vendor.ice40.SPRAMWeightStore`),
    which starts empty and is written through ``w`` before the first image; the other
    layers' weights in block RAM. For checking the synthesised netlist (``sim.rtl.netlist_model``).

    Parameters
    ----------
    net : q8.weights.Network
    schedules : dict of hw.stages.network.DenseSchedule, optional
        As :class:`BoardTop`'s.

    Members
    -------
    i, o : as :class:`hw.stages.network.NetworkPipeline`
    w : In(SPRAMWeightStore.write_port(depth=len(flash_words)))
        The store's write port: word ``k`` of :attr:`flash_words` at address ``k``.
    """

    def __init__(self, net, *, schedules=None):
        self._pipeline, self._external = _board_pipeline(net, schedules)
        self._flash_words = flash_words(net, schedules)
        members = self._pipeline.signature.members
        super().__init__({"i": members["i"], "o": members["o"],
                          "w": In(SPRAMWeightStore.write_port(
                              depth=len(self._flash_words)))})

    @property
    def flash_words(self):
        """The words of the SPRAM store (and of the flash image)."""
        return list(self._flash_words)

    def elaborate(self, platform):
        m = Module()
        _add_pipeline(m, self._pipeline, self._external, wiring.flipped(self.w))
        wiring.connect(m, wiring.flipped(self.i), self._pipeline.i)
        wiring.connect(m, self._pipeline.o, wiring.flipped(self.o))
        return m


class BoardTop(wiring.Component):
    """Everything on the board but the clock: the board's pins are this component's ports.

    At power-up the :class:`hw.board.loader.WeightLoader` copies the SPRAM layers' weights
    from flash into the SPRAM store and checks the whole image by its CRC against the one
    this design was built with (:meth:`flash_image`, whose header holds this design's network
    identifier, :attr:`network_id`). Meanwhile and after, the UART protocol
    (``hw.board.protocol``, ``docs/protocol.md``) runs: a request's bytes are checked by their
    CRC as they arrive, a classify request's pixels go into a block-RAM image buffer; once the
    request is whole and its CRC right, and if the weights are ready, the image streams into
    the network at one pixel per cycle and the answer goes back, echoing the request's
    sequence number. The next request may arrive meanwhile: requests are received while the
    board computes and answers the one before (streaming), so the line in carries requests
    back to back. Anything else gets an error answer, never OK: a request cut short (no byte
    for ``timeout_cycles``), a wrong CRC, an unknown command, a byte with a low stop bit,
    bytes that arrive while a whole request waits for the answer before it to finish (a
    host that keeps more than one request beyond the one being answered). After the last
    three the board first waits for the line to be quiet for ``timeout_cycles``, so that one
    answer covers the whole burst. The network only ever sees whole, checked images, so
    nothing stale remains.

    With ``weights_in_flash=False`` (the ECP5 boards, whose block RAM holds every layer) there
    is no loader and no SPRAM: every dense layer's weights are block RAM initialised by the
    bitstream, the board is ready as soon as its reset ends, and the flash pins stay idle
    (``cs_n`` high) but for a self-test, which reads its images from ``tests_offset`` (after
    the bitstream) as the iCE40's does after its weights. Such a design has no flash image
    (:meth:`flash_image` raises; :attr:`flash_words` and :attr:`network_id` are None).

    Parameters
    ----------
    net : q8.weights.Network
    schedules : dict of hw.stages.network.DenseSchedule, optional
        By dense layer name, for :class:`hw.stages.network.NetworkPipeline`
        (``hw.stages.network.default_schedule`` where absent); ``hw.build`` passes the fit plan's
        (``hw.fit``), which keeps the DSPs within the board's.
    divisor : int
        UART clock cycles per bit (48 MHz / 3 Mbaud = 16); at least 4 (12 Mbaud).
    timeout_cycles : int
        Cycles without a byte that end a request, and of quiet before an error answer to a
        burst. More than a byte's time (``10 * divisor``).
    watchdog_cycles : int
        The network's watchdog: if it takes longer for an image, the answer is WATCHDOG, and
        so is every answer after (the red LED lights). The network takes a fixed number of
        cycles, far fewer than the default (``timeout_cycles``).
    flash_offset : int
    test_images : int
        The self-test's images in flash (``hw.board.flash_image.make_test_image``, at
        ``tests_offset``): a self-test request runs up to this many through the network, as
        fast as the flash delivers them, and answers how many came out as their labels, the
        cycles it took and the CRC of what it read. 0: no self-test (the command is unknown).
        Needs a network of at least 9 classes (the answer's fields in place of the logits).
    tests_offset : int
        Where the test images are in flash (``hw.board.flash_image.TESTS_OFFSETS``: the
        board's family's).
    weights_in_flash : bool
        The weights of the layers whose schedules say ``spram`` (by default the first dense
        layer's) in SPRAM, loaded from flash at power-up (True, the iCE40 boards), or every
        layer's in block RAM, in the bitstream (False; schedules that say ``spram`` are
        refused).

    Members
    -------
    rx : In(1)
    tx : Out(1)
    flash : Out(SPIFlashPins())
    led_ready, led_error : Out(1)
        Ready: ``led_ready``; bad weights or the watchdog fired: ``led_error``; both dark
        while the weights load (milliseconds).
    """

    def __init__(self, net, *, schedules=None, divisor=CLOCK_HZ // BAUD,
                 timeout_cycles=round(CLOCK_HZ * IMAGE_TIMEOUT_S), watchdog_cycles=None,
                 flash_offset=FLASH_OFFSET, test_images=0, tests_offset=TESTS_OFFSET,
                 weights_in_flash=True):
        check_count("divisor", divisor, minimum=4)
        check_count("timeout_cycles", timeout_cycles, minimum=10 * divisor + 1)
        if watchdog_cycles is None:
            watchdog_cycles = timeout_cycles
        check_count("watchdog_cycles", watchdog_cycles)
        check_count("test_images", test_images, minimum=0)
        if test_images >= 1 << 16:
            raise ValueError(f"test_images must be below 65,536, not {test_images}")
        if test_images and 8 + 8 * net.classes < SELF_TEST_LAYOUT.size:
            raise ValueError(f"a self-test needs a network of at least "
                             f"{SELF_TEST_LAYOUT.size // 8 - 1} classes (its answer's fields "
                             f"take the logits' place); this one has {net.classes}: build "
                             f"without test images")
        if not isinstance(tests_offset, int) or isinstance(tests_offset, bool) or \
                not 0 <= tests_offset < 1 << 24:
            raise ValueError(f"tests_offset must be an integer in [0, 2**24), not "
                             f"{tests_offset!r}")
        if not isinstance(weights_in_flash, bool):
            raise ValueError(f"weights_in_flash must be True or False, not "
                             f"{weights_in_flash!r}")
        self._in_flash = weights_in_flash
        self._tests = test_images
        self._tests_offset = tests_offset
        self._net = net
        self._divisor = divisor
        self._timeout = timeout_cycles
        self._watchdog = watchdog_cycles
        self._offset = flash_offset
        if weights_in_flash:
            self._pipeline, self._external = _board_pipeline(net, schedules)
        else:
            if schedules is None:   # the defaults', with every weight in block RAM
                schedules = {k: v.replace(spram=False) for k, v in default_schedule(net).items()}
            in_spram = spram_layers(net, schedules)
            if in_spram:
                raise ValueError(f"the schedules keep the weights of {', '.join(in_spram)} in "
                                 f"SPRAM, which a design without weights in flash "
                                 f"(weights_in_flash=False) has not")
            self._pipeline, self._external = NetworkPipeline(net, schedules=schedules), None
        self._schedules = schedules
        self._network_id = network_id(net, self.flash_words) if weights_in_flash else None
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1),
                          "flash": Out(SPIFlashPins()),
                          "led_ready": Out(1), "led_error": Out(1)})

    @property
    def pipeline(self):
        return self._pipeline

    @property
    def net(self):
        """The network (``q8.weights.Network``)."""
        return self._net

    @property
    def divisor(self):
        """UART clock cycles per bit."""
        return self._divisor

    @property
    def timeout_cycles(self):
        """The request timeout and the quiet before an error answer, in cycles."""
        return self._timeout

    @property
    def test_images(self):
        """The self-test's images in flash that a self-test may run (0: no self-test)."""
        return self._tests

    @property
    def tests_offset(self):
        """Where the self-test's images are in flash."""
        return self._tests_offset

    @property
    def watchdog_cycles(self):
        """The network's watchdog, in cycles."""
        return self._watchdog

    @property
    def weights_in_flash(self):
        """Whether the SPRAM layers' weights are loaded from flash (else every layer's
        are in the bitstream)."""
        return self._in_flash

    @property
    def flash_words(self):
        """The words of the flash image (the SPRAM layers' weights, :func:`flash_words`); None
        without weights in flash."""
        return flash_words(self._net, self._schedules) if self._in_flash else None

    @property
    def network_id(self):
        """The identifier of the network this design runs, which its flash image must carry
        (``hw.board.flash_image.network_id``); None without weights in flash."""
        return self._network_id

    def flash_image(self):
        """The bytes of the flash image this design loads (``hw.board.flash_image``).

        Raises
        ------
        ValueError
            The design has no flash image: its weights are in the bitstream
            (``weights_in_flash=False``).
        """
        if not self._in_flash:
            raise ValueError("this design has no flash image: its weights are all in the "
                             "bitstream (weights_in_flash=False)")
        return flash_image(self._net, self._schedules)

    def elaborate(self, platform):
        m = Module()
        pipeline = self._pipeline
        tests = self._tests
        if self._in_flash:
            loader = WeightLoader(image=self.flash_image(), offset=self._offset,
                                  again_offset=self._tests_offset + TESTS_HEADER_BYTES
                                  if tests else None)
            _add_pipeline(m, pipeline, self._external, loader.store)
            m.submodules.loader = loader
            wiring.connect(m, loader.flash, wiring.flipped(self.flash))
            load_status = loader.status
        else:
            # every weight in the bitstream: ready once the reset ends; the flash ports stay
            # at their idle values (cs_n high) but for a self-test's reads
            m.submodules.pipeline = pipeline
            load_status = Const(LoadStatus.READY, 2)
            if tests:
                m.submodules.loader = loader = TestImageReader(
                    offset=self._tests_offset + TESTS_HEADER_BYTES)
                wiring.connect(m, loader.flash, wiring.flipped(self.flash))

        m.submodules.rx = rx = UARTReceiver(divisor=self._divisor)
        m.submodules.tx = tx = UARTTransmitter(divisor=self._divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        m.submodules.image = image = ImageBuffer(pixels=self._net.pixels)

        # Two machines: the receiver takes requests off the line and checks them, one after
        # another without a pause; the worker runs a checked request (the network for a
        # classify request) and sends its answer. So the next request arrives while the board
        # works on one and answers it: a host may stream (docs/protocol.md). The receiver
        # hands a request over only to an idle worker, which starts the image's replay at once
        # and reads the buffer far faster than the next request's pixels overwrite it.
        m.submodules.receiver = receiver = RequestReceiver(timeout_cycles=self._timeout,
                                                           test_images=tests)
        wiring.connect(m, rx.o, receiver.i)
        wiring.connect(m, receiver.image, image.i)
        m.d.comb += [receiver.framing.eq(rx.framing), image.restart.eq(receiver.image_restart),
                     receiver.image_last.eq(image.i_last)]
        m.submodules.worker = worker = Worker(classes=self._net.classes,
                                              watchdog_cycles=self._watchdog,
                                              self_test=bool(tests))
        wiring.connect(m, receiver.hand_over, worker.hand_over)
        wiring.connect(m, pipeline.o, worker.result)
        wiring.connect(m, worker.o, tx.i)
        m.d.comb += [worker.load_status.eq(load_status), image.replay.eq(worker.replay),
                     self.led_ready.eq(worker.ready), self.led_error.eq(worker.error)]

        pixels = image.o  # the network's input
        if tests:
            m.submodules.self_test = sequencer = SelfTestSequencer(pixels=self._net.pixels)
            wiring.connect(m, worker.test, sequencer.worker)
            wiring.connect(m, loader.data, sequencer.flash)
            wiring.connect(m, image.o, sequencer.image)
            m.d.comb += [loader.again.eq(sequencer.again),
                         loader.again_stop.eq(sequencer.again_stop)]
            pixels = sequencer.o
        # field by field: the network's codes may be signed, the image's are bytes
        m.d.comb += [pipeline.i.valid.eq(pixels.valid), pixels.ready.eq(pipeline.i.ready),
                     pipeline.i.payload.last.eq(pixels.payload.last),
                     pipeline.i.payload.data[0].eq(pixels.payload.data[0])]
        return m
