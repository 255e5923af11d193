"""The board's answer: a response frame (``board.protocol``), sent a byte at a time."""

from amaranth.hdl import Array, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .protocol import response_layout

__all__ = ["ResponseFramer"]


class ResponseFramer(wiring.Component):
    """Sends ``frame`` (:func:`board.protocol.response_layout`) as bytes, in the order of the
    layout, with the checksum it computes on the way in place of the frame's ``checksum``.

    Parameters
    ----------
    classes : int
        Logits per frame (``q8.weights.Network.classes``).

    Members
    -------
    frame : In(response_layout(classes))
        The fields, held from ``start`` until ``done``; ``checksum`` is not read.
    start : In(1)
        Pulse before a frame: the next byte sent is its first.
    send : In(1)
        High while the frame is to go out; low, nothing is offered on ``o``.
    o : Out(stream.Signature(8))
        The frame's bytes.
    done : Out(1)
        The frame's last byte leaves (in the cycle of its transfer on ``o``).
    """

    def __init__(self, *, classes):
        self._layout = response_layout(classes)  # validates classes
        super().__init__({"frame": In(self._layout), "start": In(1), "send": In(1),
                          "o": Out(stream.Signature(8)), "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        count = self._layout.size // 8
        byte_index = Signal(range(count + 1))
        checksum = Signal(8)
        staged_byte = Signal(8)
        frame_last = Signal()  # the byte being sent is the frame's last
        staged = Signal()
        settled = Signal()
        fields = self.frame.as_value()
        frame = [fields.word_select(k, 8) for k in range(count - 1)] + [checksum]
        # The frame's multiplexer in two steps, a register between: four bytes by the low bits
        # of the index (every cycle), then the quarter by the high bits. A byte is picked
        # once the first step has seen the index and fields of the cycle before (`settled`).
        padded = frame + [checksum] * (-count % 4)  # the checksum last
        quarters = [Signal(8, name=f"frame_quarter_{q}") for q in range(len(padded) // 4)]
        for q, quarter in enumerate(quarters):
            m.d.sync += quarter.eq(Array(padded[4 * q:4 * q + 4])[byte_index[:2]])
        frame_byte = Signal(8)
        m.d.comb += frame_byte.eq(Array(quarters)[byte_index[2:]])

        with m.If(self.start):
            m.d.sync += [byte_index.eq(0), checksum.eq(0), frame_last.eq(0)]
        with m.If(self.send):
            # each byte is picked into a register first, then sent: the frame's multiplexer
            # and the consumer are not in one cycle
            m.d.sync += settled.eq(~staged)
            with m.If(~staged & settled):
                m.d.sync += [staged_byte.eq(frame_byte), staged.eq(1)]
            m.d.comb += [self.o.valid.eq(staged), self.o.payload.eq(staged_byte)]
            with m.If(self.o.valid & self.o.ready):
                m.d.sync += [byte_index.eq(byte_index + 1), staged.eq(0),
                             checksum.eq(checksum ^ staged_byte),
                             frame_last.eq(byte_index == count - 2)]
                m.d.comb += self.done.eq(frame_last)
        return m
