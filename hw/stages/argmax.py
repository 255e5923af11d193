"""The class: the index of the largest logit, the lowest index on a tie."""

from amaranth.hdl import Array, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from q8.contract import Format
from hw.lib.layouts import element_layout, result_layout
from hw.lib.params import check_count
from hw.stages.kind import StageCost

__all__ = ["ArgmaxStage", "argmax_cost", "argmax_cycles"]


class ArgmaxStage(wiring.Component):
    """Collects an image's logit codes, scans them one per cycle, and sends the class with
    all the logits.

    A sequential scan (one comparator, ``classes`` cycles) rather than a comparison tree: it
    costs a few cycles against thousands in the dense layer, and keeps the logic small and
    fast. ``>`` (strictly greater) keeps the first of equal maxima: the lowest index wins.

    Parameters
    ----------
    classes : int
    in_width : int
        Logit codes per input transfer (the last dense layer's lanes);
        ``ceil(classes / in_width)`` transfers make an image, codes past ``classes`` ignored.

    Members
    -------
    i : In(stream.Signature(element_layout(in_width, signed 8-bit)))
    o : Out(stream.Signature(result_layout(classes)))
    """

    #: Cycles after the last logit's transfer besides two per logit (fetch, compare): the last
    #: take and the result's register, with the cycles of the first fetch.
    LATENCY = 4

    def __init__(self, *, classes, in_width):
        check_count("classes", classes, minimum=2)
        check_count("in_width", in_width)
        self._classes, self._in_width = classes, in_width
        super().__init__({
            "i": In(stream.Signature(element_layout(in_width, Format(signed=True, frac=0)))),
            "o": Out(stream.Signature(result_layout(classes))),
        })

    def elaborate(self, platform):
        classes, width = self._classes, self._in_width
        transfers = -(-classes // width)
        m = Module()

        logits = Signal(data.ArrayLayout(signed(8), transfers * width))
        received = Signal(range(transfers + 1))
        received_last = Signal(init=transfers == 1)   # received == transfers - 1
        index = Signal(range(classes + 1))
        best = Signal(range(classes))
        best_value = Signal(signed(8))
        candidate = Signal(signed(8))
        candidate_index = Signal(range(classes))
        fetched = Signal()
        phase = Signal()    # the comparing cycle of a logit's two
        greater = Signal()  # the logit compared is greater than the best so far

        # The logits leave from the registers that collected them: they hold still until the
        # result is taken, since collecting waits for that.
        for c in range(classes):
            m.d.comb += self.o.payload.logits[c].eq(logits[c])

        with m.FSM():
            with m.State("Collect"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    for t in range(transfers):
                        with m.If(received == t):
                            for c in range(width):
                                m.d.sync += logits[t * width + c].eq(self.i.payload.data[c])
                    with m.If(received_last):
                        # the scan starts below every logit, so logit 0 is compared too
                        m.d.sync += [received.eq(0), received_last.eq(transfers == 1),
                                     index.eq(0), best.eq(0), best_value.eq(-128),
                                     fetched.eq(0), phase.eq(0), greater.eq(0)]
                        m.next = "Scan"
                    with m.Else():
                        m.d.sync += [received.eq(received + 1),
                                     received_last.eq(received == transfers - 2)]
            with m.State("Scan"):
                # two cycles per logit (timing): one fetches logit `index` into a register
                # and takes the one compared before if it was greater; the other compares
                m.d.sync += phase.eq(~phase)
                with m.If(~phase):
                    m.d.sync += [candidate.eq(Array(logits[c] for c in range(classes))[index]),
                                 candidate_index.eq(index), fetched.eq(index != classes)]
                    with m.If(greater):
                        m.d.sync += [best.eq(candidate_index), best_value.eq(candidate)]
                    with m.If(index != classes):
                        m.d.sync += index.eq(index + 1)
                    with m.Elif(~fetched):  # the last logit has been compared and taken
                        m.d.sync += [self.o.valid.eq(1), self.o.payload.cls.eq(best)]
                        m.next = "Send"
                with m.Else():
                    m.d.sync += greater.eq(fetched & (candidate > best_value))
            with m.State("Send"):
                with m.If(self.o.ready):
                    m.d.sync += self.o.valid.eq(0)
                    m.next = "Collect"
        return m


def argmax_cost(classes):
    """The :class:`~hw.stages.kind.StageCost` of an :class:`ArgmaxStage` of ``classes``: per
    class the logit's register and the scan's multiplexer (and the board's frame's, which
    the fitted term includes); the FSM."""
    return StageCost(name="argmax", kind="argmax", terms={"argmax": 1, "class": classes})


def argmax_cycles(classes, in_width):
    """``(latency, interval)`` of an :class:`ArgmaxStage`: cycles from the last logit's
    transfer to the class, and the fewest cycles between images' classes back to back (the
    logits' transfers, the scan, and the result taken)."""
    latency = ArgmaxStage.LATENCY + 2 * classes
    return latency, -(-classes // in_width) + latency + 1
