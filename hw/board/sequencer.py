"""The board's self-test sequencer: streams the test images in flash into the network and
counts how many come out as their labels (``docs/protocol.md``, the self-test request)."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.params import check_count
from hw.lib.synthesis import one_hot
from hw.board.crc import CRC_BYTES
from hw.board.protocol import SELF_TEST_LAYOUT, Status

__all__ = ["PIXEL_LAYOUT", "SelfTestSignature", "SelfTestSequencer"]

#: A pixel on its way into the network: the image buffer's (``hw.board.image_buffer``) and the
#: self-test's.
PIXEL_LAYOUT = data.StructLayout({"data": data.ArrayLayout(unsigned(8), 1), "last": 1})


class SelfTestSignature(wiring.Signature):
    """What the worker (``hw.board.worker``) lends the self-test sequencer, seen from the
    worker: the request, the network's results, its watchdog, its answer CRC unit and its
    answer. The sequencer shares them rather than having its own: a second CRC unit and
    watchdog would cost logic, and the answer's status register is written from a register
    one cycle after a state chooses it (timing), which one place does.

    Members
    -------
    start : Out(1)
        Pulse: a self-test request was handed over.
    count : Out(16)
        Its number of images, read in the cycle after ``start``.
    result : Out(stream.Signature(8))
        The class of each of the network's results, offered until the worker releases it
        (in the cycle after its transfer).
    expired : Out(1)
        The watchdog has run out.
    restart : In(1)
        Pulse: the watchdog starts again.
    fault : In(1)
        Pulse: the watchdog fired, the network is not to be trusted again.
    crc : In(Signature(...))
        The worker's answer CRC unit (a :class:`hw.board.crc.CRC32`), seen from its user:
        ``clear``, ``start`` and ``byte`` in, ``value`` and ``busy`` out. The worker takes
        ``start`` and ``byte`` while ``testing``.
    testing : In(1)
        The test images stream: the CRC unit takes ``crc.byte``, the network takes the
        sequencer's pixels.
    answer : In(stream.Signature(8, always_ready=True))
        The run has ended, its answer's status (a :class:`Status`) is ``payload``.
    fields : In(SELF_TEST_LAYOUT)
        The answer's counts, held until the next ``start``.
    report : In(1)
        The answer carries ``fields`` in place of a result: from an answer of OK or
        OVERRUN until ``sent``.
    sent : Out(1)
        Pulse: the answer has gone out.
    """

    def __init__(self):
        crc = wiring.Signature({"clear": Out(1), "start": Out(1), "byte": Out(8),
                                "value": In(8 * CRC_BYTES), "busy": In(1)})
        super().__init__({"start": Out(1), "count": Out(16),
                          "result": Out(stream.Signature(8)), "expired": Out(1),
                          "restart": In(1), "fault": In(1), "crc": In(crc), "testing": In(1),
                          "answer": In(stream.Signature(8, always_ready=True)),
                          "fields": In(SELF_TEST_LAYOUT), "report": In(1), "sent": Out(1)})


class SelfTestSequencer(wiring.Component):
    """The self-test: the first ``count`` records of the test images in flash
    (``hw.board.flash_image.make_test_image``: each an image's pixels, then its label) stream
    from the flash into the network, a byte every 16 cycles, and each result is compared with
    its label as it comes out. The answer counts the images classified as their labels, the
    cycles from the flash's first byte to the last result, and the CRC of the records read
    (:data:`hw.board.protocol.SELF_TEST_LAYOUT`); it is OVERRUN if a pixel came while the
    network could not take it, or a label while the one before still waited for its result,
    and WATCHDOG if no label came from the flash, or no result from the network, for the
    watchdog's time (the flash is then told to stop).

    Outside a run the network's input is the image buffer's (``image``).

    Parameters
    ----------
    pixels : int
        Pixels per image (the bytes of a record before its label).

    Members
    -------
    worker : In(SelfTestSignature())
    flash : In(stream.Signature(8, always_ready=True))
        The bytes read from the test images on (:class:`hw.board.loader.WeightLoader`'s
        ``data``).
    again, again_stop : Out(1)
        To the loader: read the test images from their first record; the byte now arriving
        is the last.
    image : In(stream.Signature(PIXEL_LAYOUT))
        The image buffer's pixels.
    o : Out(stream.Signature(PIXEL_LAYOUT))
        The network's input: ``image``, or during a run the test images' pixels (a pixel
        that finds the network not ready is lost, and the answer says OVERRUN).
    """

    def __init__(self, *, pixels):
        check_count("pixels", pixels)
        self._pixels = pixels
        super().__init__({"worker": In(SelfTestSignature()),
                          "flash": In(stream.Signature(8, always_ready=True)),
                          "again": Out(1), "again_stop": Out(1),
                          "image": In(stream.Signature(PIXEL_LAYOUT)),
                          "o": Out(stream.Signature(PIXEL_LAYOUT))})

    def _network_input(self, m, *, is_label, pixel_last):
        """The network's input: the image buffer's, or during a run the flash's bytes (all
        but the labels)."""
        testing, flash = self.worker.testing, self.flash
        flash_pixel = Signal()  # a test image's pixel arrives from flash
        m.d.comb += [flash_pixel.eq(testing & flash.valid & ~is_label),
                     self.o.valid.eq(Mux(testing, flash_pixel, self.image.valid)),
                     self.o.payload.last.eq(Mux(testing, pixel_last, self.image.payload.last)),
                     self.o.payload.data[0].eq(Mux(testing, flash.payload,
                                                   self.image.payload.data[0])),
                     self.image.ready.eq(self.o.ready & ~testing)]

    def elaborate(self, platform):
        m = Module()
        pixels = self._pixels
        worker = self.worker
        testing = worker.testing
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
        correct = Signal(16)
        test_cycles = Signal(32)
        data_crc = Signal(32)
        m.d.comb += [worker.fields.correct.eq(correct), worker.fields.cycles.eq(test_cycles),
                     worker.fields.data_crc.eq(data_crc)]
        m.d.sync += [final.eq(to_read == 1), all_done.eq(to_count == 0), counted.eq(0)]
        flash = self.flash
        # the flash is told to stop from a register (timing): it stops after the byte that
        # follows, 16 cycles on, so a cycle late is in time
        stop_flash = Signal()
        m.d.sync += stop_flash.eq(0)
        m.d.comb += self.again_stop.eq(stop_flash)
        self._network_input(m, is_label=is_label, pixel_last=pixel_last)
        # the records' bytes, into the answer CRC unit while testing
        m.d.comb += [worker.crc.byte.eq(flash.payload), worker.crc.start.eq(flash.valid),
                     worker.result.ready.eq(testing)]

        answer = _answer_register(m, worker.answer)

        with m.If(worker.sent):
            m.d.sync += worker.report.eq(0)

        with m.FSM() as fsm:
            with m.State("Idle"):
                with m.If(worker.start):
                    m.next = "Start"
            with m.State("Start"):
                m.d.comb += [self.again.eq(1), worker.crc.clear.eq(1), worker.restart.eq(1)]
                m.d.sync += [to_read.eq(worker.count), to_count.eq(worker.count),
                             record_byte.eq(0), pixel_last.eq(pixels == 1), is_label.eq(0),
                             correct.eq(0), test_cycles.eq(0), label_pending.eq(0),
                             overrun.eq(0), final.eq(worker.count == 1), all_done.eq(0)]
                m.next = "Run"
            with m.State("Run"):
                m.d.comb += testing.eq(1)
                m.d.sync += test_cycles.eq(test_cycles + 1)
                # a result: compared with its label now, released and counted in the next
                # cycle
                taken = worker.result.valid
                with m.If(taken):
                    m.d.sync += [hit.eq(worker.result.payload == label),
                                 label_pending.eq(0), counted.eq(1)]
                with m.If(counted):
                    m.d.sync += [to_count.eq(to_count - 1), correct.eq(correct + hit)]
                with m.If(flash.valid):
                    with m.If(is_label):
                        # (after the result's statements: a label in the same cycle stays
                        # pending)
                        m.d.sync += [label.eq(flash.payload), label_pending.eq(1),
                                     to_read.eq(to_read - 1), record_byte.eq(0),
                                     pixel_last.eq(pixels == 1), is_label.eq(0)]
                        m.d.comb += worker.restart.eq(1)
                        # the label before is still waiting for its result: this one would
                        # take its place
                        with m.If(label_pending & ~taken):
                            m.d.sync += overrun.eq(1)
                    with m.Else():
                        m.d.sync += [record_byte.eq(record_byte + 1),
                                     pixel_last.eq(record_byte == pixels - 2),
                                     is_label.eq(pixel_last)]
                        with m.If(~self.o.ready):
                            m.d.sync += overrun.eq(1)
                        # the record's last pixel: its label, the next byte, is the run's last
                        with m.If(pixel_last & final):
                            m.d.sync += stop_flash.eq(1)
                with m.If(all_done & ~counted & ~worker.crc.busy):
                    m.d.sync += [data_crc.eq(worker.crc.value), worker.report.eq(1)]
                    answer(Mux(overrun, int(Status.OVERRUN), int(Status.OK)))
                    m.next = "Idle"
                with m.Elif(worker.expired):
                    # no label from the flash, or no result from the network, for the
                    # watchdog's time: the flash is told to stop, and the board is not
                    # trusted again
                    m.d.sync += stop_flash.eq(1)
                    m.d.comb += worker.fault.eq(1)
                    answer(Status.WATCHDOG)
                    m.next = "Idle"
        one_hot(fsm)
        return m


def _answer_register(m, answer):
    """The ``answer`` port driven from registers; returns ``answer(code)``, which sends
    ``code`` in the next cycle. Its conditions (the counts, the CRC unit, the watchdog) and
    the worker's status choice are then not in one cycle's logic (timing); the worker waits
    for the answer, so a cycle later is the same answer."""
    valid = Signal()
    code = Signal.like(answer.payload)
    m.d.sync += valid.eq(0)
    m.d.comb += [answer.valid.eq(valid), answer.payload.eq(code)]

    def send(value):
        m.d.sync += [valid.eq(1), code.eq(value)]
    return send
