"""The board's request receiver: takes requests off the UART, checks them as they arrive, and
hands each checked request to the worker (``hw.board.worker``)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.params import check_count
from hw.lib.synthesis import one_hot
from hw.board.countdown import countdown
from hw.board.crc import CRC_BYTES, CRC32
from hw.board.protocol import SEQ_NONE, Command, Status

__all__ = ["REQUEST_LAYOUT", "HandOverSignature", "RequestReceiver"]

#: A checked request as the receiver hands it over. Exactly one of ``classify``, ``self_test``
#: and ``answer`` is set.
REQUEST_LAYOUT = data.StructLayout({
    "seq": 8,        # its sequence number, or SEQ_NONE for bytes that carried none
    "classify": 1,   # the network is to run on the image buffer's image
    "self_test": 1,  # a self-test of `count` images
    "answer": 1,     # neither: it is answered `status` at once
    "status": 8,     # a Status code, with `answer`
    "count": 16,     # with `self_test`
})


class HandOverSignature(wiring.Signature):
    """The hand-over of a checked request, from the receiver to the worker.

    Not a stream: the receiver waits for an idle worker before it offers a request (it
    chooses the answer only then), and while it discards a burst it withdraws the offer when
    another byte arrives. So ``post`` is the transfer itself.

    Members
    -------
    post : Out(1)
        A request is handed over: only while ``idle``, for one cycle.
    request : Out(REQUEST_LAYOUT)
        Read in the cycle of ``post``; ``count`` holds until the receiver takes the next
        self-test request's count, bytes later.
    idle : In(1)
        The worker waits for a request.
    ready : In(1)
        The board can classify: the weights are loaded and right, and the watchdog never
        fired.
    standing : In(8)
        The status a request gets from the board as it stands (a :class:`Status`: OK,
        NOT_READY, BAD_WEIGHTS or WATCHDOG).
    """

    def __init__(self):
        super().__init__({"post": Out(1), "request": Out(REQUEST_LAYOUT), "idle": In(1),
                          "ready": In(1), "standing": In(8)})


class RequestReceiver(wiring.Component):
    """Takes the requests of the UART protocol (``docs/protocol.md``) off the line and checks
    them, one after another without a pause, while the worker runs and answers the request
    before.

    A request's bytes go through a CRC unit as they arrive, a classify request's pixels into
    the image buffer (:class:`hw.board.image_buffer.ImageBuffer`); once the request is whole,
    and the worker idle, it is handed over (:class:`HandOverSignature`): to be classified or
    self-tested if its CRC is right, the board ready and a self-test's count within
    ``test_images``, else with its answer's status. Anything else ends in an error answer: a
    request cut short (no byte for ``timeout_cycles``), a wrong CRC, an unknown command, a
    byte with a low stop bit, bytes that arrive while a whole request waits for the worker.
    After the last three the receiver first waits for the line to be quiet for
    ``timeout_cycles``, so that one answer covers the whole burst.

    Parameters
    ----------
    timeout_cycles : int
        Cycles without a byte that end a request, and of quiet before an error answer to a
        burst.
    test_images : int
        The largest count a self-test request may ask for; 0: the self-test command is
        unknown.

    Members
    -------
    i : In(stream.Signature(8, always_ready=True))
        The UART's bytes: every byte is taken as it arrives, whatever the state, so none is
        dropped unseen.
    framing : In(1)
        The UART dropped a byte for its low stop bit.
    image : Out(stream.Signature(8, always_ready=True))
        A classify request's pixels, to the image buffer.
    image_restart : Out(1)
        A request begins: the next pixel on ``image`` is an image's first.
    image_last : In(1)
        The next pixel on ``image`` is the image's last.
    hand_over : Out(HandOverSignature())
    """

    def __init__(self, *, timeout_cycles, test_images=0):
        check_count("timeout_cycles", timeout_cycles)
        check_count("test_images", test_images, minimum=0)
        self._timeout = timeout_cycles
        self._tests = test_images
        super().__init__({"i": In(stream.Signature(8, always_ready=True)), "framing": In(1),
                          "image": Out(stream.Signature(8, always_ready=True)),
                          "image_restart": Out(1), "image_last": In(1),
                          "hand_over": Out(HandOverSignature())})

    def elaborate(self, platform):
        m = Module()
        r = _Receiving(m, self)
        with m.FSM() as fsm:
            _request_states(r)
            _decision_states(r)
        one_hot(fsm)
        return m


class _Receiving:
    """A :class:`RequestReceiver`'s registers and strobes in ``m``, and the actions that its
    states share."""

    def __init__(self, m, receiver):
        self.m = m
        self.receiver = receiver
        self.hand = hand = receiver.hand_over
        request = hand.request
        self.byte, self.in_byte = receiver.i.valid, receiver.i.payload
        self.framing = receiver.framing
        m.d.comb += receiver.image.payload.eq(self.in_byte)
        self.expired, self.restart = countdown(m, cycles=receiver._timeout, name="timer")
        self.seq = Signal(8, init=SEQ_NONE)  # the request's number, as received
        self.error = Signal(8)  # the error answer a burst being discarded gets
        self.busy_seen = Signal()  # a byte (or a framing error) arrived while a request waited
        self.wants_image = Signal()  # the request being received is a classify request
        m.submodules.crc = self.crc = crc = CRC32()
        self.crc_zero = Signal()  # registered: a whole request's CRC is 0 when it is right
        m.d.sync += self.crc_zero.eq(crc.value == 0)
        self.crc_left = Signal(range(CRC_BYTES))  # the CRC's bytes to come after the next
        m.d.comb += crc.byte.eq(self.in_byte)

        # The request's number is forgotten a cycle after a state asks (from a register, so
        # that the number's enable is not the states' conditions: timing): the worker copies
        # it in the cycle of the hand-over, and the next request's number comes bytes later.
        self.forget = Signal()
        forgetting = Signal()
        m.d.sync += forgetting.eq(self.forget)
        with m.If(forgetting):
            m.d.sync += self.seq.eq(SEQ_NONE)
        m.d.comb += request.seq.eq(self.seq)

        # The command byte is decoded in registers, in the cycle after it is taken (the
        # UART holds it until the next byte), so no comparison sits in front of the FSM.
        self.is_classify = Signal()
        self.is_status = Signal()
        self.is_test = Signal()
        m.d.sync += [self.is_classify.eq(self.in_byte == Command.CLASSIFY),
                     self.is_status.eq(self.in_byte == Command.STATUS)]
        tests = receiver._tests
        if tests:
            m.d.sync += self.is_test.eq(self.in_byte == Command.SELF_TEST)
        self.wants_test = Signal()  # the request being received is a self-test request
        self.test_count = Signal(16)  # its number of images, as received
        self.count_second = Signal()  # the count's second byte is next
        self.count_ok = Signal()  # registered: 1 <= test_count <= test_images
        m.d.sync += self.count_ok.eq((self.test_count != 0) & (self.test_count <= tests))
        m.d.comb += request.count.eq(self.test_count)

    def hand_over(self, code=None, *, test=False):
        """The request goes to the worker: answered ``code`` (a :class:`Status` or a
        signal), or classified (None), or a self-test (``test``)."""
        m, hand = self.m, self.hand
        m.d.comb += hand.post.eq(1)
        if test:
            m.d.comb += hand.request.self_test.eq(1)
        elif code is None:
            m.d.comb += hand.request.classify.eq(1)
        else:
            m.d.comb += [hand.request.status.eq(int(code) if isinstance(code, Status) else code),
                         hand.request.answer.eq(1)]
        m.d.comb += self.forget.eq(1)

    def take(self):
        """A byte of the request: into the CRC; the next may take the timeout again."""
        self.m.d.comb += [self.crc.start.eq(1), self.restart.eq(1)]

    def discard(self, code, *, keep_seq=True):
        """The rest of the burst is discarded, then answered ``code``."""
        self.m.d.sync += self.error.eq(int(code))
        if not keep_seq:
            self.m.d.comb += self.forget.eq(1)
        self.m.next = "Discard"

    def receiving(self):
        """What ends a request early: a low stop bit, or the line silent too long."""
        m = self.m
        with m.Elif(self.framing):
            m.d.comb += self.restart.eq(1)
            self.discard(Status.FRAMING, keep_seq=False)
        with m.Elif(self.expired):
            # answered from Discard, with the timer run out: it clears the CRC first
            self.discard(Status.TIMEOUT)

    def noting_busy(self):
        with self.m.If(self.byte | self.framing):
            self.m.d.sync += self.busy_seen.eq(1)


def _request_states(r):
    """The states that take a request's bytes."""
    m, byte, in_byte = r.m, r.byte, r.in_byte
    with m.State("Idle"):
        m.d.comb += r.crc.clear.eq(~byte)
        with m.If(byte):
            m.d.comb += r.receiver.image_restart.eq(1)
            r.take()
            m.next = "Seq"
        with m.Elif(r.framing):
            m.d.comb += r.restart.eq(1)
            r.discard(Status.FRAMING)
    with m.State("Seq"):
        with m.If(~r.is_classify & ~r.is_status & ~r.is_test):
            m.d.comb += r.restart.eq(1)
            r.discard(Status.UNKNOWN_COMMAND)
        with m.Elif(byte):
            r.take()
            m.d.sync += [r.seq.eq(in_byte), r.wants_image.eq(r.is_classify),
                         r.wants_test.eq(r.is_test), r.count_second.eq(0),
                         r.crc_left.eq(CRC_BYTES - 1)]
            with m.If(r.is_classify):
                m.next = "Receive"
            with m.Elif(r.is_test):
                m.next = "Count"
            with m.Else():
                m.next = "Tail"
        r.receiving()
    with m.State("Count"):
        # a self-test request's number of images, most significant byte first
        with m.If(byte):
            r.take()
            m.d.sync += [r.test_count.eq(Cat(in_byte, r.test_count[:8])),
                         r.count_second.eq(1)]
            with m.If(r.count_second):
                m.next = "Tail"
        r.receiving()
    with m.State("Receive"):
        m.d.comb += r.receiver.image.valid.eq(byte)
        with m.If(byte):
            r.take()
            with m.If(r.receiver.image_last):
                m.next = "Tail"
        r.receiving()
    with m.State("Tail"):
        with m.If(byte):
            r.take()
            m.d.sync += r.crc_left.eq(r.crc_left - 1)
            with m.If(r.crc_left == 0):
                m.next = "Check"
        r.receiving()


def _decision_states(r):
    """The states after a request's last byte, and those of a burst being discarded."""
    m, hand = r.m, r.hand
    with m.State("Check"):
        r.noting_busy()
        with m.If(~r.crc.busy):  # crc_zero sees the last byte's CRC in the next cycle
            m.next = "Decide"
    with m.State("Decide"):
        # waits for the worker: only while it answers a request just before this one (a host
        # keeps at most one request beyond the one being answered)
        r.noting_busy()
        with m.If(hand.idle):
            with m.If(~r.crc_zero):
                r.hand_over(Status.BAD_CHECKSUM)
            with m.Elif(~r.wants_image & ~r.wants_test):
                r.hand_over(hand.standing)
            with m.Elif(~hand.ready):
                r.hand_over(hand.standing)
            with m.Elif(r.wants_image):
                r.hand_over()
            with m.Elif(r.count_ok):
                r.hand_over(test=True)
            with m.Else():
                r.hand_over(Status.BAD_REQUEST)
            m.next = "After"
    with m.State("After"):
        # a cycle of its own for what follows a hand-over (timing)
        m.d.sync += r.busy_seen.eq(0)
        with m.If(r.busy_seen | r.byte | r.framing):
            m.d.comb += r.restart.eq(1)
            r.discard(Status.BUSY)
        with m.Else():
            m.next = "Idle"
    with m.State("Discard"):
        # the burst goes on: wait until the line is quiet, then answer once
        m.d.comb += r.crc.clear.eq(1)
        with m.If(r.byte | r.framing):
            m.d.comb += r.restart.eq(1)
        with m.Elif(r.expired & hand.idle):
            r.hand_over(r.error)
            m.next = "Idle"
