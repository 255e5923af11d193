"""The board's worker: runs each checked request (the network for a classify request) and
sends its answer frame (``docs/protocol.md``)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.layouts import result_layout
from hw.lib.params import check_count
from hw.lib.synthesis import one_hot
from hw.board.countdown import countdown
from hw.board.crc import CRC32
from hw.board.framer import ResponseFramer
from hw.board.loader import LoadStatus
from hw.board.protocol import FRAME_MAGIC, Status
from hw.board.receiver import HandOverSignature
from hw.board.sequencer import SelfTestSignature

__all__ = ["Worker"]


class Worker(wiring.Component):
    """Takes a checked request from the receiver (:class:`hw.board.receiver.RequestReceiver`)
    whenever it is idle, and answers it: at once with the status the receiver chose, or, for
    a classify request, once the network has run on the image buffer's image (replayed into
    the network at one pixel per cycle), or, for a self-test, once the self-test sequencer
    (:class:`hw.board.sequencer.SelfTestSequencer`) has run. The answer echoes the request's
    sequence number; its class and logits are read from the network's output, which holds
    them until the frame is sent, and are zeros in other answers.

    The worker also keeps what the board is: ready (its weights loaded and right), and
    whether the network's watchdog fired (the answer is then WATCHDOG, and so is every answer
    after).

    Parameters
    ----------
    classes : int
        The network's classes (the answer frame's logits).
    watchdog_cycles : int
        The network's watchdog: if it takes longer for an image, the answer is WATCHDOG.
    self_test : bool
        With a self-test sequencer (``test``).

    Members
    -------
    hand_over : In(hw.board.receiver.HandOverSignature())
    load_status : In(hw.board.loader.LoadStatus)
        The weights' (:class:`hw.board.loader.WeightLoader`'s ``status``).
    ready : Out(1)
        The board can classify (registered).
    error : Out(1)
        Bad weights, or the watchdog fired (registered).
    replay : Out(1)
        Pulse to the image buffer: stream the image into the network.
    result : In(stream.Signature(hw.lib.layouts.result_layout(classes)))
        The network's results, each taken once its answer has gone out.
    o : Out(stream.Signature(8))
        The answers' bytes, to the UART.
    test : Out(hw.board.sequencer.SelfTestSignature())
        With ``self_test``.
    """

    def __init__(self, *, classes, watchdog_cycles, self_test=False):
        if not isinstance(self_test, bool):
            raise ValueError(f"self_test must be True or False, not {self_test!r}")
        check_count("classes", classes, minimum=2)
        check_count("watchdog_cycles", watchdog_cycles)
        self._classes = classes
        self._watchdog = watchdog_cycles
        members = {"hand_over": In(HandOverSignature()), "load_status": In(LoadStatus),
                   "ready": Out(1), "error": Out(1), "replay": Out(1),
                   "result": In(stream.Signature(result_layout(classes))),
                   "o": Out(stream.Signature(8))}
        if self_test:
            members["test"] = Out(SelfTestSignature())
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        w = _Working(m, self)
        with m.FSM(name="work") as work:
            _work_states(w)
        # the framer rewinds to its first byte whenever no answer is being sent
        m.d.comb += w.framer.start.eq(~work.ongoing("Respond"))
        one_hot(work)
        return m


class _Working:
    """A :class:`Worker`'s registers and strobes in ``m``: the board's state, the watchdog,
    the answer frame with its CRC unit and status, and what the self-test shares."""

    def __init__(self, m, worker):
        self.m = m
        self.worker = worker
        self.hand = worker.hand_over
        self.test = worker.test if "test" in worker.signature.members else None
        self.fault = Signal()  # the watchdog fired: the network is not to be trusted again
        self._board_state()
        self.expired, self.restart_watchdog = countdown(m, cycles=worker._watchdog,
                                                        name="watchdog")
        self._frame()
        self.release = release = Signal()
        m.d.sync += release.eq(0)
        m.d.comb += worker.result.ready.eq(release)
        self._status()
        test = self.test
        if test is not None:
            # the network's result goes to the self-test until released
            m.d.comb += [test.result.valid.eq(worker.result.valid & ~release),
                         test.result.payload.eq(worker.result.payload.cls)]
            with m.If(test.result.valid & test.result.ready):
                m.d.sync += release.eq(1)
            with m.If(test.fault):
                m.d.sync += self.fault.eq(1)
            with m.If(test.answer.valid):
                self.answer(test.answer.payload)
            m.d.comb += [self.restart_watchdog.eq(test.restart),
                         self.answer_crc.clear.eq(test.crc.clear),
                         test.expired.eq(self.expired),
                         test.count.eq(self.hand.request.count)]

    def _board_state(self):
        """The LEDs, and what a request gets from the board as it stands (ready, loading,
        bad weights or the watchdog fired), in registers: they change a few times in the
        board's life, and far from the protocol's logic."""
        m, worker, fault, hand = self.m, self.worker, self.fault, self.hand
        ready = Signal()
        bad = Signal()
        m.d.sync += [ready.eq((worker.load_status == LoadStatus.READY) & ~fault),
                     bad.eq((worker.load_status == LoadStatus.BAD_IMAGE) | fault)]
        m.d.comb += [worker.ready.eq(ready), worker.error.eq(bad), hand.ready.eq(ready)]
        standing = Signal(8)
        m.d.sync += standing.eq(
            Mux(fault, int(Status.WATCHDOG),
                Mux(worker.load_status == LoadStatus.LOADING, int(Status.NOT_READY),
                    Mux(worker.load_status == LoadStatus.READY, int(Status.OK),
                        int(Status.BAD_WEIGHTS)))))
        m.d.comb += hand.standing.eq(standing)

    def _frame(self):
        """The answer frame: the class and logits are read from the network's output, which
        holds them until the frame is sent; other answers carry zeros there, a self-test's
        answer its fields."""
        m, worker, test = self.m, self.worker, self.test
        m.submodules.answer_crc = self.answer_crc = answer_crc = CRC32()
        self.status = Signal(8)  # the answer's, a Status code
        self.answer_seq = Signal(8)
        self.has_result = Signal()  # the answer carries the network's result
        m.submodules.framer = self.framer = framer = ResponseFramer(
            classes=worker._classes, blanked=("cls", "logits"))
        wiring.connect(m, framer.o, wiring.flipped(worker.o))
        m.d.comb += [framer.crc.eq(answer_crc.value), framer.crc_busy.eq(answer_crc.busy)]
        # the answer's bytes, or while a self-test runs the bytes of its images
        m.d.comb += [answer_crc.byte.eq(framer.o.payload), answer_crc.start.eq(framer.crc_take)]
        if test is not None:
            with m.If(test.testing):
                m.d.comb += [answer_crc.byte.eq(test.crc.byte),
                             answer_crc.start.eq(test.crc.start)]
            m.d.comb += [test.crc.value.eq(answer_crc.value), test.crc.busy.eq(answer_crc.busy)]
        result = worker.result.payload
        # whether the answer carries the self-test's counts in place of a result
        test_answer = test.report if test is not None else Signal()
        m.d.comb += [framer.frame.magic.eq(FRAME_MAGIC), framer.frame.status.eq(self.status),
                     framer.frame.seq.eq(self.answer_seq),
                     framer.blank.eq(~self.has_result & ~test_answer)]
        if test is not None:  # the self-test's fields (protocol.SELF_TEST_LAYOUT) in their place
            fields = test.fields.as_value()
            m.d.comb += [framer.frame.cls.eq(Mux(test_answer, fields[:8], result.cls)),
                         framer.frame.logits.eq(Mux(test_answer, fields[8:],
                                                    result.logits.as_value()))]
        else:
            m.d.comb += [framer.frame.cls.eq(result.cls), framer.frame.logits.eq(result.logits)]

    def _status(self):
        """The answer's status is written a cycle after a state chooses it, from registers:
        the states' conditions and the status register's enable are not in one cycle's
        logic (timing). The framer reads it no sooner than the answer's second byte."""
        m = self.m
        self.new_status = Signal(8)
        self.set_status = Signal()
        chosen = Signal(8)
        chosen_valid = Signal()
        m.d.sync += [chosen.eq(self.new_status), chosen_valid.eq(self.set_status)]
        with m.If(chosen_valid):
            m.d.sync += self.status.eq(chosen)
        # the status the receiver chose (it hands a request over only while the worker waits)
        request = self.hand.request
        m.d.comb += [self.new_status.eq(request.status), self.set_status.eq(request.answer)]

    def answer(self, code):
        """The answer's status is ``code`` (a :class:`Status` or a signal)."""
        self.m.d.comb += [self.new_status.eq(int(code) if isinstance(code, Status) else code),
                          self.set_status.eq(1)]


def _work_states(w):
    m, hand, test, answer_crc, framer = w.m, w.hand, w.test, w.answer_crc, w.framer
    result = w.worker.result
    with m.State("Wait"):
        m.d.comb += [hand.idle.eq(1), answer_crc.clear.eq(1)]
        with m.If(hand.post):
            m.d.sync += w.answer_seq.eq(hand.request.seq)
            with m.If(hand.request.classify):
                m.next = "Replay"
            if test is not None:
                with m.Elif(hand.request.self_test):
                    m.d.comb += test.start.eq(1)
                    m.next = "Test"
            with m.Else():
                m.next = "Respond"
    if test is not None:
        with m.State("Test"):
            # the sequencer runs, until its answer
            with m.If(test.answer.valid):
                m.next = "Test-End"
        with m.State("Test-End"):
            m.d.comb += answer_crc.clear.eq(1)  # for the answer
            m.next = "Respond"
    with m.State("Replay"):
        # a state of its own, so that the image buffer's start is a state bit, not the
        # hand-over's logic (timing)
        m.d.comb += [w.worker.replay.eq(1), w.restart_watchdog.eq(1), answer_crc.clear.eq(1)]
        m.next = "Feed"
    with m.State("Feed"):
        m.d.comb += answer_crc.clear.eq(1)
        with m.If(result.valid):
            w.answer(Status.OK)
            m.d.sync += w.has_result.eq(1)
            m.next = "Respond"
        with m.Elif(w.expired):
            w.answer(Status.WATCHDOG)
            m.d.sync += w.fault.eq(1)
            m.next = "Respond"
    with m.State("Respond"):
        m.d.comb += [framer.send.eq(1), answer_crc.clear.eq(framer.done)]
        with m.If(framer.done):
            # the frame is out: release the network's result (next cycle, from a register, so
            # the network's output does not wait on this logic)
            m.d.sync += [w.release.eq(w.has_result), w.has_result.eq(0)]
            if test is not None:
                m.d.comb += test.sent.eq(1)
            m.next = "Wait"
