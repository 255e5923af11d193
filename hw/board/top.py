"""The board's design: weights from flash, the network, and the UART protocol."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.vendor.ice40 import SPRAMWeightStore
from hw.stages.network import NetworkPipeline, weight_words
from hw.lib.params import check_count
from hw.lib.synthesis import one_hot
from q8.mnist import IMAGE_SHAPE
from hw.board.crc import CRC_BYTES, CRC32
from hw.board.defaults import BAUD, CLOCK_HZ, IMAGE_TIMEOUT_S, SELF_TEST_IMAGES
from hw.board.flash_image import FLASH_OFFSET, TESTS_HEADER_BYTES, TESTS_OFFSET, make_image, network_id
from hw.board.framer import ResponseFramer
from hw.board.image_buffer import ImageBuffer
from hw.board.loader import LoadStatus, WeightLoader
from hw.board.protocol import FRAME_MAGIC, SELF_TEST_LAYOUT, SEQ_NONE, Command, Status
from hw.board.spi import SPIFlashPins
from hw.board.uart import UARTReceiver, UARTTransmitter

__all__ = ["BoardNetwork", "BoardTop", "flash_words", "flash_image", "self_test_images"]


def self_test_images(net):
    """The self-test's images that a board top of ``net`` is built for: MNIST's test set
    (:data:`hw.board.defaults.SELF_TEST_IMAGES`) if ``net`` takes MNIST's images and its answer
    has room for the self-test's fields (9 classes or more), else none."""
    fits = 8 + 8 * net.classes >= SELF_TEST_LAYOUT.size
    return SELF_TEST_IMAGES if fits and tuple(net.input_shape) == IMAGE_SHAPE else 0


def flash_words(net, schedules=None):
    """The words of the flash image for ``net``: its first dense layer's weight store (under
    ``schedules``, as :class:`BoardTop`'s)."""
    return weight_words(net, net.first_dense.name, schedules)


def flash_image(net, schedules=None):
    """The bytes of the flash image that :class:`BoardTop` ``(net, schedules=schedules)``
    loads, without building it (``hw.board.flash_image``)."""
    words = flash_words(net, schedules)
    return make_image(words, network=network_id(net, words))


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
    dense layer's weights in the SPRAM store (:class:`hw.vendor.ice40.SPRAMWeightStore`), which starts
    empty and is written through ``w`` before the first image; the other layers' weights in
    block RAM. For checking the synthesised netlist (``sim.rtl.netlist_model``).

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

    At power-up the :class:`hw.board.loader.WeightLoader` copies the first dense layer's weights
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
    (``cs_n`` high). Such a design has no flash image (:meth:`flash_image` raises;
    :attr:`flash_words` and :attr:`network_id` are None) and no self-test.

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
        Needs a network of at least 9 classes (the answer's fields in place of the logits),
        and the weights in flash.
    tests_offset : int
    weights_in_flash : bool
        The first dense layer's weights in SPRAM, loaded from flash at power-up (True, the
        iCE40 boards), or every layer's in block RAM, in the bitstream (False).

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
        if not isinstance(weights_in_flash, bool):
            raise ValueError(f"weights_in_flash must be True or False, not "
                             f"{weights_in_flash!r}")
        if test_images and not weights_in_flash:
            raise ValueError(f"test_images must be 0 when the weights are not in flash "
                             f"(weights_in_flash=False): the self-test reads its images from "
                             f"flash, after the weights; not {test_images}")
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
    def watchdog_cycles(self):
        """The network's watchdog, in cycles."""
        return self._watchdog

    @property
    def weights_in_flash(self):
        """Whether the first dense layer's weights are loaded from flash (else every layer's
        are in the bitstream)."""
        return self._in_flash

    @property
    def flash_words(self):
        """The words of the flash image (the SPRAM-backed layer's weights); None without
        weights in flash."""
        return self._pipeline.weight_words(self._external) if self._in_flash else None

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

    def _self_test(self, m, *, loader, pipeline, testing, flash_pixel, flash_last, answer_crc,
                   answer, release, restart_watchdog, watchdog, fault, correct, test_cycles,
                   data_crc, test_answer, test_count):
        """The worker's self-test states: the first ``test_count`` records of the test images
        in flash (pixels, then label) stream from the flash into the network, a byte every 16
        cycles, and each result is compared with its label as it comes out."""
        pixels = self._net.pixels
        record_byte = Signal(range(pixels + 1))  # the next byte's place in its record
        pixel_last = Signal()  # record_byte == pixels - 1
        is_label = Signal()  # record_byte == pixels
        # down-counters from the request's count (copies of it: the receiver may take another
        # request meanwhile), with registered flags rather than comparisons with the count
        to_read = Signal(16)  # labels still to read
        final = Signal()  # registered: the record being read is the last (to_read == 1)
        to_count = Signal(16)  # results still to compare
        all_done = Signal()  # registered: to_count == 0
        label = Signal(8)
        label_pending = Signal()  # a label waits for its image's result
        overrun = Signal()  # a pixel the network could not take, or a label before a result
        hit = Signal()  # the result just released was its label
        counted = Signal()  # ... and is to be counted now
        m.d.sync += [final.eq(to_read == 1), all_done.eq(to_count == 0), counted.eq(0)]
        data = loader.data
        # the flash is told to stop from a register (timing): it stops after the byte that
        # follows, 16 cycles on, so a cycle late is in time
        stop_flash = Signal()
        m.d.sync += stop_flash.eq(0)
        m.d.comb += loader.again_stop.eq(stop_flash)
        m.d.comb += [flash_pixel.eq(testing & data.valid & ~is_label),
                     flash_last.eq(pixel_last)]

        with m.State("Test-Start"):
            m.d.comb += [loader.again.eq(1), answer_crc.clear.eq(1), restart_watchdog.eq(1)]
            m.d.sync += [to_read.eq(test_count), to_count.eq(test_count), record_byte.eq(0),
                         pixel_last.eq(pixels == 1), is_label.eq(0), correct.eq(0),
                         test_cycles.eq(0), label_pending.eq(0), overrun.eq(0),
                         final.eq(test_count == 1), all_done.eq(0)]
            m.next = "Test"
        with m.State("Test"):
            m.d.comb += testing.eq(1)
            m.d.sync += test_cycles.eq(test_cycles + 1)
            # a result: compared with its label now, released and counted in the next cycle
            taken = pipeline.o.valid & ~release
            with m.If(taken):
                m.d.sync += [release.eq(1), hit.eq(pipeline.o.payload.cls == label),
                             label_pending.eq(0), counted.eq(1)]
            with m.If(counted):
                m.d.sync += [to_count.eq(to_count - 1), correct.eq(correct + hit)]
            with m.If(data.valid):
                with m.If(is_label):
                    # (after the result's statements: a label in the same cycle stays pending)
                    m.d.sync += [label.eq(data.payload), label_pending.eq(1),
                                 to_read.eq(to_read - 1), record_byte.eq(0),
                                 pixel_last.eq(pixels == 1), is_label.eq(0)]
                    m.d.comb += restart_watchdog.eq(1)
                    # the label before is still waiting for its result: this one would take
                    # its place
                    with m.If(label_pending & ~taken):
                        m.d.sync += overrun.eq(1)
                with m.Else():
                    m.d.sync += [record_byte.eq(record_byte + 1),
                                 pixel_last.eq(record_byte == pixels - 2),
                                 is_label.eq(pixel_last)]
                    with m.If(~pipeline.i.ready):
                        m.d.sync += overrun.eq(1)
                    # the record's last pixel: its label, the next byte, is the run's last
                    with m.If(pixel_last & final):
                        m.d.sync += stop_flash.eq(1)
            with m.If(all_done & ~counted & ~answer_crc.busy):
                m.d.sync += [data_crc.eq(answer_crc.value), test_answer.eq(1)]
                answer(Mux(overrun, int(Status.OVERRUN), int(Status.OK)))
                m.next = "Test-End"
            with m.Elif(watchdog[-1]):
                # no label from the flash, or no result from the network, for the watchdog's
                # time: the flash is told to stop, and the board is not trusted again
                m.d.sync += [stop_flash.eq(1), fault.eq(1)]
                answer(Status.WATCHDOG)
                m.next = "Test-End"
        with m.State("Test-End"):
            m.d.comb += answer_crc.clear.eq(1)  # for the answer
            m.next = "Respond"

    def elaborate(self, platform):
        m = Module()
        pixels = self._net.pixels
        classes = self._net.classes

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
            # at their idle values (cs_n high)
            m.submodules.pipeline = pipeline
            load_status = Const(LoadStatus.READY, 2)

        m.submodules.rx = rx = UARTReceiver(divisor=self._divisor)
        m.submodules.tx = tx = UARTTransmitter(divisor=self._divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        # Every byte is taken as it arrives, whatever the state: none is dropped unseen (the
        # receiver holds one byte, so an overrun cannot happen); bytes that arrive while a
        # whole request waits for the worker are noted and answered with BUSY.
        m.d.comb += rx.o.ready.eq(1)
        byte, in_byte, framing = rx.o.valid, rx.o.payload, rx.framing

        # LEDs. Loading takes milliseconds (a byte every 16 cycles), too short to see a blink.
        # Registered: the loader's status changes once, and far from the protocol's logic.
        ready = Signal()
        bad = Signal()
        fault = Signal()  # the watchdog fired: the network is not to be trusted again
        m.d.sync += [ready.eq((load_status == LoadStatus.READY) & ~fault),
                     bad.eq((load_status == LoadStatus.BAD_IMAGE) | fault)]
        m.d.comb += [self.led_ready.eq(ready), self.led_error.eq(bad)]

        m.submodules.image = image = ImageBuffer(pixels=pixels)
        m.d.comb += image.i.payload.eq(in_byte)
        # The network's input: the image buffer's, or during a self-test the flash's bytes
        testing = Signal()  # the worker runs a self-test
        flash_pixel = Signal()  # a self-test image's pixel arrives from flash
        flash_last = Signal()  # ... its last
        m.d.comb += [pipeline.i.valid.eq(Mux(testing, flash_pixel, image.o.valid)),
                     pipeline.i.payload.last.eq(Mux(testing, flash_last, image.o.payload.last)),
                     image.o.ready.eq(pipeline.i.ready & ~testing)]
        if tests:
            m.d.comb += pipeline.i.payload.data[0].eq(
                Mux(testing, loader.data.payload, image.o.payload.data[0]))
        else:
            m.d.comb += pipeline.i.payload.data[0].eq(image.o.payload.data[0])

        # Two machines: the receiver's takes requests off the line and checks them, one after
        # another without a pause; the worker's runs a checked request (the network for a
        # classify request) and sends its answer. So the next request arrives while the board
        # works on one and answers it: a host may stream (docs/protocol.md). The receiver
        # hands a request over only to an idle worker, which starts the image's replay at once
        # and reads the buffer far faster than the next request's pixels overwrite it.

        # The receiver's timer counts down past 0: its sign bit is the timeout, with no wide
        # comparison. Reset-less: every state that reads it restarts it first, and the
        # domain's reset to 0 beside the reload's set (its bits that are 1) would put two
        # set/reset nets on the chain, which a logic tile cannot share (timing).
        timer = Signal(signed((self._timeout + 1).bit_length() + 1), reset_less=True)
        watchdog = Signal(signed((self._watchdog + 1).bit_length() + 1), reset_less=True)
        seq = Signal(8, init=SEQ_NONE)  # the request's number, as received
        error = Signal(8)  # the error answer a burst being discarded gets
        busy_seen = Signal()  # a byte (or a framing error) arrived while a request waited
        wants_image = Signal()  # the request being received is a classify request
        # A CRC unit for the requests as they arrive, another for the answers as they leave
        m.submodules.crc = crc = CRC32()
        m.submodules.answer_crc = answer_crc = CRC32()
        crc_zero = Signal()  # registered: a whole request's CRC is 0 when it is right
        m.d.sync += crc_zero.eq(crc.value == 0)
        crc_left = Signal(range(CRC_BYTES))  # the CRC's bytes to come after the next
        m.d.comb += crc.byte.eq(in_byte)

        # The answer frame: the class and logits are read from the network's output, which
        # holds them until the frame is sent; other answers carry zeros there.
        status = Signal(8)  # the answer's, a Status code
        answer_seq = Signal(8)
        has_result = Signal()  # the answer carries the network's result
        m.submodules.framer = framer = ResponseFramer(classes=classes,
                                                      blanked=("cls", "logits"))
        wiring.connect(m, framer.o, tx.i)
        m.d.comb += [framer.crc.eq(answer_crc.value), framer.crc_busy.eq(answer_crc.busy)]
        # the answer's bytes, or while a self-test runs the bytes of its images
        m.d.comb += [answer_crc.byte.eq(framer.o.payload), answer_crc.start.eq(framer.crc_take)]
        if tests:
            with m.If(testing):
                m.d.comb += [answer_crc.byte.eq(loader.data.payload),
                             answer_crc.start.eq(loader.data.valid)]
        result = pipeline.o.payload
        # the self-test's counts, and whether the answer carries them in place of a result
        correct = Signal(16)
        test_cycles = Signal(32)
        data_crc = Signal(32)
        test_answer = Signal()
        m.d.comb += [framer.frame.magic.eq(FRAME_MAGIC), framer.frame.status.eq(status),
                     framer.frame.seq.eq(answer_seq),
                     framer.blank.eq(~has_result & ~test_answer)]
        if tests:  # the self-test's fields (protocol.SELF_TEST_LAYOUT) in the same bytes
            fields = Cat(correct, test_cycles, data_crc)
            m.d.comb += [framer.frame.cls.eq(Mux(test_answer, fields[:8], result.cls)),
                         framer.frame.logits.eq(Mux(test_answer, fields[8:],
                                                    result.logits.as_value()))]
        else:
            m.d.comb += [framer.frame.cls.eq(result.cls), framer.frame.logits.eq(result.logits)]

        release = Signal()
        m.d.sync += release.eq(0)
        m.d.comb += pipeline.o.ready.eq(release)

        # What a request gets from the board as it stands (ready, loading, bad weights or the
        # watchdog fired), in a register: it changes a few times in the board's life.
        standing = Signal(8)
        m.d.sync += standing.eq(
            Mux(fault, int(Status.WATCHDOG),
                Mux(load_status == LoadStatus.LOADING, int(Status.NOT_READY),
                    Mux(load_status == LoadStatus.READY, int(Status.OK),
                        int(Status.BAD_WEIGHTS)))))

        # The answer's status is written a cycle after a state chooses it, from registers:
        # the states' conditions and the status register's enable are not in one cycle's
        # logic (timing). The framer reads it no sooner than the answer's second byte.
        new_status = Signal(8)
        set_status = Signal()
        chosen = Signal(8)
        chosen_valid = Signal()
        m.d.sync += [chosen.eq(new_status), chosen_valid.eq(set_status)]
        with m.If(chosen_valid):
            m.d.sync += status.eq(chosen)

        def answer(code):
            """The answer's status is ``code`` (a :class:`Status` or a signal)."""
            m.d.comb += [new_status.eq(int(code) if isinstance(code, Status) else code),
                         set_status.eq(1)]

        # The hand-over, from the receiver to the worker while it is idle: the request's
        # number, and either its answer's status or, for a classify request the network is
        # to run, `post_image`.
        idle = Signal()  # the worker waits for a request
        post = Signal()
        post_image = Signal()
        post_test = Signal()
        # The request's number is forgotten a cycle after a state asks (from a register, so
        # that the number's enable is not the states' conditions: timing): the worker copies
        # it in the cycle of the hand-over, and the next request's number comes bytes later.
        forget = Signal()
        forgetting = Signal()
        m.d.sync += forgetting.eq(forget)
        with m.If(forgetting):
            m.d.sync += seq.eq(SEQ_NONE)

        def hand_over(code=None, *, test=False):
            """The request goes to the worker: answered ``code``, or classified (None), or a
            self-test (``test``)."""
            m.d.comb += post.eq(1)
            if test:
                m.d.comb += post_test.eq(1)
            elif code is None:
                m.d.comb += post_image.eq(1)
            else:
                answer(code)
            m.d.comb += forget.eq(1)

        # The command byte is decoded in registers, in the cycle after it is taken (the
        # receiver holds it until the next byte), so no comparison sits in front of the FSM.
        is_classify = Signal()
        is_status = Signal()
        is_test = Signal()
        m.d.sync += [is_classify.eq(in_byte == Command.CLASSIFY),
                     is_status.eq(in_byte == Command.STATUS)]
        if tests:
            m.d.sync += is_test.eq(in_byte == Command.SELF_TEST)
        wants_test = Signal()  # the request being received is a self-test request
        test_count = Signal(16)  # its number of images, as received
        count_second = Signal()  # the count's second byte is next
        count_ok = Signal()  # registered: 1 <= test_count <= test_images
        m.d.sync += count_ok.eq((test_count != 0) & (test_count <= tests))

        # Each timer runs down in every cycle, and a state restarts it with a strobe. With one
        # constant reload (the flip-flop's set or reset) and a decrement that never stops, each
        # bit's next value is the sum LUT of its carry chain's logic cell; a second reload
        # value, a stop at -1 or a per-state enable needs another LUT input there, which breaks
        # the chain into pieces and costs half the clock. It wraps after about twice its
        # reload, which no check sees: every state that reads its sign restarts it on entry
        # (Discard, or Feed's watchdog in Replay), or enters with it just run out (Discard
        # after a timeout).
        restart = Signal()
        restart_watchdog = Signal()
        for counter, strobe, reload in ((timer, restart, self._timeout),
                                        (watchdog, restart_watchdog, self._watchdog)):
            with m.If(strobe):
                m.d.sync += counter.eq(reload)
            with m.Else():
                m.d.sync += counter.eq(counter - 1)

        def take():
            """A byte of the request: into the CRC; the next may take the timeout again."""
            m.d.comb += [crc.start.eq(1), restart.eq(1)]

        def discard(code, *, keep_seq=True):
            """The rest of the burst is discarded, then answered ``code``."""
            m.d.sync += error.eq(int(code))
            if not keep_seq:
                m.d.comb += forget.eq(1)
            m.next = "Discard"

        def receiving():
            """What ends a request early: a low stop bit, or the line silent too long."""
            with m.Elif(framing):
                m.d.comb += restart.eq(1)
                discard(Status.FRAMING, keep_seq=False)
            with m.Elif(timer[-1]):
                # answered from Discard, with the timer run out: it clears the CRC first
                discard(Status.TIMEOUT)

        def noting_busy():
            with m.If(byte | framing):
                m.d.sync += busy_seen.eq(1)

        with m.FSM() as fsm:
            with m.State("Idle"):
                m.d.comb += crc.clear.eq(~byte)
                with m.If(byte):
                    m.d.comb += image.restart.eq(1)
                    take()
                    m.next = "Seq"
                with m.Elif(framing):
                    m.d.comb += restart.eq(1)
                    discard(Status.FRAMING)
            with m.State("Seq"):
                with m.If(~is_classify & ~is_status & ~is_test):
                    m.d.comb += restart.eq(1)
                    discard(Status.UNKNOWN_COMMAND)
                with m.Elif(byte):
                    take()
                    m.d.sync += [seq.eq(in_byte), wants_image.eq(is_classify),
                                 wants_test.eq(is_test), count_second.eq(0),
                                 crc_left.eq(CRC_BYTES - 1)]
                    with m.If(is_classify):
                        m.next = "Receive"
                    with m.Elif(is_test):
                        m.next = "Count"
                    with m.Else():
                        m.next = "Tail"
                receiving()
            with m.State("Count"):
                # a self-test request's number of images, most significant byte first
                with m.If(byte):
                    take()
                    m.d.sync += [test_count.eq(Cat(in_byte, test_count[:8])),
                                 count_second.eq(1)]
                    with m.If(count_second):
                        m.next = "Tail"
                receiving()
            with m.State("Receive"):
                m.d.comb += image.i.valid.eq(byte)
                with m.If(byte):
                    take()
                    with m.If(image.i_last):
                        m.next = "Tail"
                receiving()
            with m.State("Tail"):
                with m.If(byte):
                    take()
                    m.d.sync += crc_left.eq(crc_left - 1)
                    with m.If(crc_left == 0):
                        m.next = "Check"
                receiving()
            with m.State("Check"):
                noting_busy()
                with m.If(~crc.busy):  # crc_zero sees the last byte's CRC in the next cycle
                    m.next = "Decide"
            with m.State("Decide"):
                # waits for the worker: only while it answers a request just before this one
                # (a host keeps at most one request beyond the one being answered)
                noting_busy()
                with m.If(idle):
                    with m.If(~crc_zero):
                        hand_over(Status.BAD_CHECKSUM)
                    with m.Elif(~wants_image & ~wants_test):
                        hand_over(standing)
                    with m.Elif(~ready):
                        hand_over(standing)
                    with m.Elif(wants_image):
                        hand_over()
                    with m.Elif(count_ok):
                        hand_over(test=True)
                    with m.Else():
                        hand_over(Status.BAD_REQUEST)
                    m.next = "After"
            with m.State("After"):
                # a cycle of its own for what follows a hand-over (timing)
                m.d.sync += busy_seen.eq(0)
                with m.If(busy_seen | byte | framing):
                    m.d.comb += restart.eq(1)
                    discard(Status.BUSY)
                with m.Else():
                    m.next = "Idle"
            with m.State("Discard"):
                # the burst goes on: wait until the line is quiet, then answer once
                m.d.comb += crc.clear.eq(1)
                with m.If(byte | framing):
                    m.d.comb += restart.eq(1)
                with m.Elif(timer[-1] & idle):
                    hand_over(error)
                    m.next = "Idle"

        with m.FSM(name="work") as work:
            with m.State("Wait"):
                m.d.comb += [idle.eq(1), answer_crc.clear.eq(1)]
                with m.If(post):
                    m.d.sync += answer_seq.eq(seq)
                    with m.If(post_image):
                        m.next = "Replay"
                    if tests:
                        with m.Elif(post_test):
                            m.next = "Test-Start"
                    with m.Else():
                        m.next = "Respond"
            if tests:
                self._self_test(m, loader=loader, pipeline=pipeline, testing=testing,
                                flash_pixel=flash_pixel, flash_last=flash_last,
                                answer_crc=answer_crc, answer=answer, release=release,
                                restart_watchdog=restart_watchdog, watchdog=watchdog,
                                fault=fault, correct=correct, test_cycles=test_cycles,
                                data_crc=data_crc, test_answer=test_answer,
                                test_count=test_count)
            with m.State("Replay"):
                # a state of its own, so that the image buffer's start is a state bit, not
                # the hand-over's logic (timing)
                m.d.comb += [image.replay.eq(1), restart_watchdog.eq(1),
                             answer_crc.clear.eq(1)]
                m.next = "Feed"
            with m.State("Feed"):
                m.d.comb += answer_crc.clear.eq(1)
                with m.If(pipeline.o.valid):
                    answer(Status.OK)
                    m.d.sync += has_result.eq(1)
                    m.next = "Respond"
                with m.Elif(watchdog[-1]):
                    answer(Status.WATCHDOG)
                    m.d.sync += fault.eq(1)
                    m.next = "Respond"
            with m.State("Respond"):
                m.d.comb += [framer.send.eq(1), answer_crc.clear.eq(framer.done)]
                with m.If(framer.done):
                    # the frame is out: release the network's result (next cycle, from a
                    # register, so the network's output does not wait on this logic)
                    m.d.sync += [release.eq(has_result), has_result.eq(0),
                                 test_answer.eq(0)]
                    m.next = "Wait"
        # the framer rewinds to its first byte whenever no answer is being sent
        m.d.comb += framer.start.eq(~work.ongoing("Respond"))
        one_hot(work)
        one_hot(fsm)
        return m
