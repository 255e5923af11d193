"""The board's answer: a response frame (``hw.board.protocol``), sent a byte at a time."""

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.board.crc import CRC_BYTES
from hw.board.protocol import response_layout

__all__ = ["ResponseFramer"]


class ResponseFramer(wiring.Component):
    """Sends ``frame`` (:func:`hw.board.protocol.response_layout`) as bytes, in the order of the
    layout, with the CRC-32 of the bytes before it (``hw.board.crc``) in place of the frame's
    ``crc``: a :class:`hw.board.crc.CRC32` outside (the board shares one between requests and
    answers) takes each byte that the CRC covers as it leaves (``crc_take``), and the CRC's four
    bytes wait for it to finish.

    Parameters
    ----------
    classes : int
        Logits per frame (``q8.weights.Network.classes``).
    blanked : iterable of str
        Fields of the layout that ``blank`` sends as zeros.

    Members
    -------
    frame : In(response_layout(classes))
        The fields, held from ``start`` until ``done``; ``crc`` is not read.
    blank : In(1)
        The ``blanked`` fields go out as zeros (one multiplexer at the end, rather than one
        per field's bit).
    start : In(1)
        Pulse before a frame: the next byte sent is its first.
    send : In(1)
        High while the frame is to go out; low, nothing is offered on ``o``.
    o : Out(stream.Signature(8))
        The frame's bytes.
    done : Out(1)
        The frame's last byte has left (from the cycle after its transfer on ``o`` until
        ``start``).
    crc_take : Out(1)
        A byte that the CRC covers has left (a cycle after its transfer): it is
        ``o.payload``, which holds still until ``crc_busy`` falls (the CRC unit's ``start``).
    crc : In(32)
        The CRC unit's value: :data:`hw.board.crc.CRC_INIT` at ``start``.
    crc_busy : In(1)
    """

    def __init__(self, *, classes, blanked=()):
        self._layout = response_layout(classes)  # validates classes
        self._blanked = frozenset(blanked)
        unknown = self._blanked - set(self._layout.members)
        if unknown:
            raise ValueError(f"blanked fields {sorted(unknown)} are not in the frame, whose "
                             f"fields are {list(self._layout.members)}")
        super().__init__({"frame": In(self._layout), "blank": In(1), "start": In(1),
                          "send": In(1),
                          "o": Out(stream.Signature(8)), "done": Out(1),
                          "crc_take": Out(1), "crc": In(8 * CRC_BYTES),
                          "crc_busy": In(1)})

    def elaborate(self, platform):
        m = Module()
        count = self._layout.size // 8
        byte_index = Signal(range(count + 1))
        crc_bytes = [self.crc.word_select(k, 8)
                     for k in reversed(range(CRC_BYTES))]  # most significant first
        covered = Signal()  # the byte being sent is one the CRC covers
        staged_byte = Signal(8)
        frame_last = Signal()  # the byte being sent is the frame's last
        staged = Signal()
        settled = Signal()
        fields = self.frame.as_value()
        frame = [fields.word_select(k, 8) for k in range(count - CRC_BYTES)] + crc_bytes
        # The frame's multiplexer in two steps, a register between: four bytes by the low bits
        # of the index (every cycle), then the quarter by the high bits. A byte is picked
        # once the first step has seen the index and fields of the cycle before (`settled`).
        padded = frame + [crc_bytes[-1]] * (-count % 4)  # the CRC last
        quarters = [Signal(8, name=f"frame_quarter_{q}") for q in range(len(padded) // 4)]
        for q, quarter in enumerate(quarters):
            m.d.sync += quarter.eq(Array(padded[4 * q:4 * q + 4])[byte_index[:2]])
        frame_byte = Signal(8)
        m.d.comb += frame_byte.eq(Array(quarters)[byte_index[2:]])
        # whether the byte is a blanked field's: looked up from the index as the quarters are
        blanked = [any(self._layout[f].offset <= 8 * k < self._layout[f].offset +
                       self._layout[f].width for f in self._blanked) for k in range(count)]
        byte_blanked = Signal()
        m.d.sync += byte_blanked.eq(Array(Const(b, 1) for b in blanked + [0])[byte_index])

        # The outputs to the CRC unit and the top are registers, a cycle after the transfer:
        # the transmitter's ready then reaches no logic beyond this component's own.
        crc_idle = Signal()  # the CRC unit was idle in the cycle before, and is now
        m.d.sync += [crc_idle.eq(~self.crc_busy & ~self.crc_take), self.crc_take.eq(0)]
        with m.If(self.start):
            m.d.sync += [byte_index.eq(0), frame_last.eq(0), covered.eq(1), self.done.eq(0),
                         settled.eq(0)]
        with m.If(self.send):
            # each byte is picked into a register first, then sent: the frame's multiplexer
            # and the consumer are not in one cycle
            m.d.sync += settled.eq(~staged)
            # (and once the CRC has taken the byte before, and the first step has seen its
            # final value: the CRC unit reads the byte sent until then; and not past the end)
            with m.If(~staged & settled & crc_idle & ~self.done):
                m.d.sync += [staged_byte.eq(Mux(self.blank & byte_blanked, 0, frame_byte)),
                             staged.eq(1)]
            m.d.comb += [self.o.valid.eq(staged), self.o.payload.eq(staged_byte)]
            with m.If(self.o.valid & self.o.ready):
                m.d.sync += [byte_index.eq(byte_index + 1), staged.eq(0),
                             frame_last.eq(byte_index == count - 2),
                             covered.eq(byte_index < count - CRC_BYTES - 1),
                             self.crc_take.eq(covered),  # the CRC's own bytes are not in it
                             self.done.eq(frame_last)]
        return m
