"""Global poolings: each channel's sum over the image, then its mean rounded half up
(``q8.layers.gavgpool2d``), or its maximum (``q8.layers.gmaxpool2d``), a code per
transfer."""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed

from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.layouts import code_shape, element_layout
from hw.lib.params import check_count
from hw.stages.kind import GatewareKind, StageCost, StageEstimate

__all__ = ["GlobalPoolStage", "gap_times", "KIND", "MAX_KIND"]

#: Quotient bits of a mean: a code's 8.
QUOTIENT_BITS = 8


class GlobalPoolStage(wiring.Component):
    """The mean of each channel of an image, in the input's format: ``floor((sum + n // 2) /
    n)`` over its ``n`` positions; or (``op="max"``) its maximum.

    The channels' sums are registers, added to as the input comes (``in_width`` codes a
    transfer: a pixel's channels, or one code of them at a time). With the image's last
    transfer they move to a second set of registers, held while each channel's mean is found
    by a restoring division (a bit of the quotient a cycle: no multiplier, and exact) and
    sent, a code per transfer; the next image's sums start meanwhile, and its last transfer
    waits only if the means are still being sent.
    Signed codes are offset by ``128 n`` first, so that the division is of a sum >= 0:
    ``floor((s + n // 2 + 128 n) / n) - 128`` is the floor of the signed quotient. A maximum
    is kept in place of the sum, and sent as it is held (no division).

    Parameters
    ----------
    shape : (int, int, int)
        The input's ``(height, width, channels)``.
    fmt : q8.contract.Format
    in_width : int
        Codes per input transfer: the channels, or 1.
    op : str
        ``"mean"`` or ``"max"``.

    Members
    -------
    i : In(stream.Signature(element_layout(in_width, fmt)))
    o : Out(stream.Signature(element_layout(1, fmt)))
        ``channels`` transfers per image, ``last`` on the last.
    """

    #: Cycles from the image's last input transfer to its first mean's transfer (the sums'
    #: registers, the division's start, its steps, the output register), and between
    #: means (the consumer ready), by ``op``: a maximum has no division's steps.
    FIRST_CYCLES = {"mean": 2 + QUOTIENT_BITS, "max": 2}
    CODE_CYCLES = FIRST_CYCLES

    def __init__(self, *, shape, fmt, in_width, op="mean"):
        if op not in ("mean", "max"):
            raise ValueError(f"op must be \"mean\" or \"max\", not {op!r}")
        self._op = op
        height, width, channels = shape
        for name, value in (("height", height), ("width", width), ("channels", channels),
                            ("in_width", in_width)):
            check_count(name, value)
        if channels % in_width:
            raise ValueError(f"in_width {in_width} must divide the {channels} channels")
        self._shape, self._fmt, self._in_width = (height, width, channels), fmt, in_width
        super().__init__({"i": In(stream.Signature(element_layout(in_width, fmt))),
                          "o": Out(stream.Signature(element_layout(1, fmt)))})

    def elaborate(self, platform):
        m = Module()
        height, width, channels = self._shape
        k, n = self._in_width, height * width
        units = channels // k
        offset = 128 * n if self._fmt.signed else 0
        limit = 256 * n   # every biased sum is below it: the quotient has 8 bits
        mean = self._op == "mean"
        sum_shape = signed((limit + n).bit_length() + 1) if mean else code_shape(self._fmt)
        start = 0 if mean else self._fmt.min   # a sum's, a maximum's first value
        sums = [Signal(sum_shape, name=f"sum_{c}", init=start) for c in range(channels)]
        # the last image's sums, held while their means are found and sent: the next image's
        # sums meanwhile start again (its last transfer waits if they are still there)
        held = Array(Signal(sum_shape, name=f"held_{c}") for c in range(channels))
        busy = Signal()   # a mean of the held sums is being found or sent

        unit, unit_end = Signal(range(units)), Signal(init=units == 1)
        position, position_end = Signal(range(n)), Signal(init=n == 1)
        image_end = unit_end & position_end
        ready = ~(image_end & busy)
        take = self.i.valid & ready
        m.d.comb += self.i.ready.eq(ready)
        codes = self.i.payload.data
        for c in range(channels):
            x = codes[c % k]
            added = Mux(unit == c // k, sums[c] + x if mean else Mux(x > sums[c], x, sums[c]),
                        sums[c])
            with m.If(take & image_end):
                m.d.sync += [held[c].eq(added), sums[c].eq(start)]
            with m.Elif(take):
                m.d.sync += sums[c].eq(added)
        with m.If(take):
            with m.If(unit_end):
                m.d.sync += [unit.eq(0), unit_end.eq(units == 1)]
                with m.If(position_end):
                    m.d.sync += [position.eq(0), position_end.eq(n == 1)]
                with m.Else():
                    m.d.sync += [position.eq(position + 1), position_end.eq(position == n - 2)]
            with m.Else():
                m.d.sync += [unit.eq(unit + 1), unit_end.eq(unit == units - 2)]

        # the division: LOAD the channel's biased sum, then a quotient bit a cycle, then OUT
        channel = Signal(range(channels))
        remainder = Signal(range(limit))
        quotient = Signal(QUOTIENT_BITS)
        step = Signal(range(QUOTIENT_BITS))
        bit = Const(1, QUOTIENT_BITS) << step
        trial = Signal(signed(remainder.shape().width + 2))
        m.d.comb += trial.eq(remainder - (Const(n) << step))
        got = Mux(trial >= 0, quotient | bit, quotient)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(take & image_end):
                    m.d.sync += busy.eq(1)
                    m.next = "LOAD"
            with m.State("LOAD"):
                if mean:
                    m.d.sync += [remainder.eq(held[channel] + (n // 2 + offset)),
                                 quotient.eq(0), step.eq(QUOTIENT_BITS - 1)]
                    m.next = "DIVIDE"
                else:
                    m.d.sync += [self.o.valid.eq(1), self.o.payload.data[0].eq(held[channel]),
                                 self.o.payload.last.eq(channel == channels - 1)]
                    m.next = "OUT"
            with m.State("DIVIDE"):
                with m.If(trial >= 0):
                    m.d.sync += remainder.eq(trial)
                m.d.sync += [quotient.eq(got), step.eq(step - 1)]
                with m.If(step == 0):
                    m.d.sync += [self.o.valid.eq(1),
                                 self.o.payload.data[0].eq(got - (offset // n)),
                                 self.o.payload.last.eq(channel == channels - 1)]
                    m.next = "OUT"
            with m.State("OUT"):
                with m.If(self.o.ready):
                    m.d.sync += self.o.valid.eq(0)
                    with m.If(channel == channels - 1):
                        m.d.sync += [channel.eq(0), busy.eq(0)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += channel.eq(channel + 1)
                        m.next = "LOAD"
        return m


def gap_times(times, *, shape, in_width, op="mean"):
    """Output transfer times of a :class:`GlobalPoolStage` whose input transfers are
    offered at ``times`` (whole images, in a row; each held until taken), the consumer always
    ready."""
    height, width, channels = shape
    per_image = height * width * channels // in_width
    out, accepted, free = [], -1, 0
    for index, t in enumerate(times):
        accepted = max(t, accepted + 1)
        if index % per_image == per_image - 1:
            accepted = max(accepted, free)   # the last image's sums are still held
            first = accepted + GlobalPoolStage.FIRST_CYCLES[op]
            out += [first + c * GlobalPoolStage.CODE_CYCLES[op] for c in range(channels)]
            free = out[-1] + 1
    return out


_OPS = {"gavgpool2d": "mean", "gmaxpool2d": "max"}


def make_stages(layer, *, params, in_width, schedule=None):
    return [GlobalPoolStage(shape=layer.in_shape, fmt=layer.input, in_width=in_width,
                            op=_OPS[layer.kind])], 1


def estimate(layer, times, *, weight=None, in_width, schedule=None, external_weights=False,
             family=None):
    """The model of :class:`GlobalPoolStage`: its sums (or maxima) and the held ones (bits:
    their registers, adders and multiplexers) and its division and counters;
    :func:`gap_times`."""
    n, op = layer.in_shape[0] * layer.in_shape[1], _OPS[layer.kind]
    bits = 2 * layer.in_shape[2] * ((257 * n).bit_length() + 1 if op == "mean" else 8)
    cost = StageCost(name=layer.name, kind=layer.kind, terms={"gap": 1, "gap_bit": bits})
    out = gap_times(times, shape=layer.in_shape, in_width=in_width, op=op)
    span = max(len(times), times[-1] - times[0] + 1)
    twice = gap_times([*times, *(t + span for t in times)], shape=layer.in_shape,
                      in_width=in_width, op=op)
    return StageEstimate(cost=cost, after=(), times=out, width=1, busy=twice[-1] - out[-1])


KIND = GatewareKind(kind="gavgpool2d", make_stages=make_stages, estimate=estimate)
MAX_KIND = GatewareKind(kind="gmaxpool2d", make_stages=make_stages, estimate=estimate)
