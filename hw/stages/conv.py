"""Streaming 2-D convolution: line buffers in block RAM, a sliding window, every output channel
computed in parallel with the weights as constants in logic."""

import dataclasses
import functools
import math
import operator

import numpy as np
from amaranth.hdl import Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from q8.layers import Conv2DConfig, DenseConfig
from hw.lib.arith import initial_value, requantize, signed_digits
from hw.lib.layouts import element_layout
from hw.lib.params import check_params
from hw.lib.position import stall_all_input
from hw.stages.kind import GatewareKind, MemoryCost, StageCost, StageEstimate
from hw.stages.dense import DenseStage, bias_memories, bias_terms
from hw.stages.gather import GatherStage, PairSerializeStage, SerializeStage, gather_times
from hw.stages.padding import (PadStage, StrideStage, pad_cost, pad_times, stride_cost,
                               stride_times)
from hw.stages.queue import QueueStage, entries, queue_cost
from hw.stages.skid import SkidBuffer, skid_cost
from hw.stages.window import WindowStage

__all__ = ["QueueTooShort", "Conv2DStage", "signed_digits", "digit_terms", "adder_levels",
           "adder_cost", "dense_view", "make_stages", "estimate", "KIND"]


class QueueTooShort(ValueError):
    """A queue before a folded convolution too short for the plan's times
    (:func:`queue_keeps_pace`)."""


#: Bits of an input code (a pixel or a ReLU output: always unsigned).
CODE_BITS = 8


class Conv2DStage(wiring.Component):
    """Conv2D (valid padding, stride 1), bias, requantisation and ReLU, one pixel per cycle.

    Pixels arrive row-major, one per transfer with all their input channels; one output
    transfer (all output channels) leaves for every pixel that completes a window. The weights
    are constants: each product is a few shifts and adds (canonical signed digits). The
    ``kh - 1`` previous rows wait in one block-RAM line buffer; the window is a register array.
    A transfer with ``last`` set ends the image: the position counters restart there, so a
    stream that lost or gained pixels resynchronises at the next image.

    Parameters
    ----------
    config : q8.layers.Conv2DConfig
    weight : numpy int8 array, shape ``config.weight_shape``
    bias : numpy int8 array, shape ``config.bias_shape``

    Members
    -------
    i : In(stream.Signature(element_layout(in_channels, config.input)))
    o : Out(stream.Signature(element_layout(out_channels, config.output)))
    """

    #: Cycles from an input transfer to the output transfer of the window it completes, the
    #: output ready, besides one per level of the adder trees (:func:`adder_cost`): stage A
    #: (the pixel, the line buffer's read), stage B (the window), the accumulators, the
    #: output register.
    LATENCY = 4

    def __init__(self, *, config, weight, bias):
        if not isinstance(config, Conv2DConfig):
            raise TypeError(f"config must be a Conv2DConfig, not {config!r}")
        if config.padded or config.strides != (1, 1):
            raise ValueError(f"{config.name}: the stage computes a valid, stride-1 "
                             f"convolution; make_stages pads and strides around it")
        check_params(config, weight, bias)
        self._config = config
        self._weight = weight.astype(np.int64)
        self._bias = bias.astype(np.int64)
        super().__init__({
            "i": In(stream.Signature(element_layout(config.in_shape[2], config.input))),
            "o": Out(stream.Signature(element_layout(config.out_channels, config.output))),
        })

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        cfg = self._config
        height, width, channels = cfg.in_shape
        kh, kw = cfg.kernel
        code = unsigned(CODE_BITS)  # inputs of a MAC layer are always unsigned (pixels or ReLU outputs)
        column_layout = data.ArrayLayout(data.ArrayLayout(code, channels), kh)

        m = Module()
        advance, accept, row, col, _, _ = stall_all_input(m, self, height, width)

        # Stage A: the accepted pixel and its position; the line buffer read for its column
        # arrives at the same time.
        a_valid = Signal()
        a_pixel = Signal(data.ArrayLayout(code, channels))
        a_row = Signal.like(row)
        a_col = Signal.like(col)
        with m.If(advance):
            m.d.sync += [a_valid.eq(accept), a_pixel.eq(self.i.payload.data),
                         a_row.eq(row), a_col.eq(col)]

        column = Signal(column_layout)  # rows r-kh+1 .. r of the current column
        if kh > 1:
            line_layout = data.ArrayLayout(data.ArrayLayout(code, channels), kh - 1)
            lines = m.submodules.lines = Memory(shape=line_layout, depth=width, init=[])
            wr = lines.write_port()
            rd = lines.read_port(transparent_for=(wr,))
            m.d.comb += [rd.addr.eq(col), rd.en.eq(advance)]
            for k in range(kh - 1):
                m.d.comb += column[k].eq(rd.data[k])
            # the column moves up by one row: the oldest row leaves, the new pixel enters
            m.d.comb += [wr.addr.eq(a_col), wr.en.eq(advance & a_valid)]
            for k in range(kh - 2):
                m.d.comb += wr.data[k].eq(rd.data[k + 1])
            m.d.comb += wr.data[kh - 2].eq(a_pixel)
        m.d.comb += column[kh - 1].eq(a_pixel)

        # Stage B: the window, columns oldest first.
        window = [Signal(column_layout, name=f"window_{j}") for j in range(kw)]
        b_valid = Signal()
        b_last = Signal()
        with m.If(advance):
            m.d.sync += [b_valid.eq(a_valid & (a_row >= kh - 1) & (a_col >= kw - 1)),
                         b_last.eq(a_valid & (a_row == height - 1) & (a_col == width - 1))]
            with m.If(a_valid):
                for j in range(kw - 1):
                    m.d.sync += window[j].eq(window[j + 1])
                m.d.sync += window[kw - 1].eq(column)

        # Stage C: the accumulators, one per output channel. Each constant weight becomes
        # its canonical signed digits, so the products are a few shifted copies of the codes,
        # added or subtracted, with no multiplier. The terms are summed in a pipelined tree
        # (adder_levels), so the sums keep up with the clock.
        def register(value, name):
            reg = Signal(value.shape(), name=name)
            with m.If(advance):
                m.d.sync += reg.eq(value)
            return reg

        valid, last = b_valid, b_last
        plus, minus = digit_terms(
            self._weight, lambda r, c, ch, shift: window[c][r][ch].as_unsigned() << shift)
        for level in adder_levels(plus + minus, add=operator.add,
                                  register=lambda v, level, k: register(v, f"sum_{level}_{k}")):
            valid, last = register(valid, f"valid_{level}"), register(last, f"last_{level}")
        accs = []
        for o in range(cfg.out_channels):
            start = Const(initial_value(cfg, self._bias[o]), signed(cfg.acc_width))
            total = start + _tree_sum(plus[o]) - _tree_sum(minus[o])
            accs.append(register(total[:cfg.acc_width].as_signed(), f"acc_{o}"))
        c_valid, c_last = register(valid, "c_valid"), register(last, "c_last")

        # Output register: requantised codes.
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(c_valid), self.o.payload.last.eq(c_last)]
            for o, acc in enumerate(accs):
                m.d.sync += self.o.payload.data[o].eq(
                    requantize(acc, shift=cfg.out_shift, fmt=cfg.output,
                               top=cfg.out_max))
        return m


def digit_terms(weight, term):
    """The terms of each output channel's products by constant ``weight`` (``(kh, kw,
    channels, out_channels)`` codes): ``(plus, minus)``, per output channel a list of
    ``term(r, c, ch, shift)`` for each nonzero canonical signed digit of each weight, by its
    sign, in the order :class:`Conv2DStage` adds them."""
    plus = [[] for _ in range(weight.shape[-1])]
    minus = [[] for _ in range(weight.shape[-1])]
    for o in range(weight.shape[-1]):
        for r, c, ch in np.ndindex(*weight.shape[:-1]):
            for shift, sign in signed_digits(int(weight[r, c, ch, o])):
                (plus if sign > 0 else minus)[o].append(term(r, c, ch, shift))
    return plus, minus


def adder_levels(lists, *, add, register):
    """Sum each list of ``lists`` in place down to at most one term, in levels of registers,
    as :class:`Conv2DStage` does; yield each level's number once its registers are made.

    In a level each list's terms are cut into chunks, each summed by a balanced tree of
    ``add`` and passed to ``register(sum, level, first index of the chunk)``: two terms per
    chunk in the first level, whose adders read the window (whose registers each feed many
    of them: long routes), so one adder deep there; four after, two adders deep.
    """
    level = 0
    while any(len(terms) > 1 for terms in lists):
        fan_in = 2 if level == 0 else 4
        for terms in lists:
            terms[:] = [register(_tree_sum(terms[k:k + fan_in], add), level, k)
                        for k in range(0, len(terms), fan_in)]
        yield level
        level += 1


def adder_cost(weight):
    """The adder trees that :class:`Conv2DStage` builds for ``weight``: ``(nonzero digits,
    levels of registers, adder bits that do work)``.

    A term is ``(width, zero low bits)``: a code shifted by its digit's position. An adder's
    sum is one bit wider than its wider operand (Amaranth's rule); its low bits where either
    operand is zero need no logic.
    """
    bits = 0

    def add(a, b):
        nonlocal bits
        (wa, za), (wb, zb) = a, b
        width = max(wa, wb) + 1
        bits += width - max(za, zb)
        return (width, min(za, zb))

    plus, minus = digit_terms(weight, lambda r, c, ch, shift: (CODE_BITS + shift, shift))
    digits = sum(map(len, plus + minus))
    levels = sum(1 for _ in adder_levels(plus + minus, add=add,
                                         register=lambda value, level, k: value))
    return digits, levels, bits


def _tree_sum(terms, add=operator.add):
    """A balanced tree of ``add`` over ``terms`` (0 when empty)."""
    if not terms:
        return Const(0)
    while len(terms) > 1:
        terms = [add(terms[k], terms[k + 1]) if k + 1 < len(terms) else terms[k]
                 for k in range(0, len(terms), 2)]
    return terms[0]


# --- the layer kind: the stages and their model ---------------------------------------------

def dense_view(layer):
    """Convolution ``layer`` as the dense layer that a folded engine computes at each output
    position: ``fan_in`` inputs (the window, :class:`hw.stages.window.WindowStage`'s order),
    ``out_channels`` outputs, the same formats, so the same accumulator and requantisation."""
    return DenseConfig(name=layer.name, in_features=layer.fan_in,
                       out_features=layer.out_channels, relu=layer.relu, input=layer.input,
                       weight=layer.weight, bias=layer.bias, output=layer.output,
                       relu_max=layer.relu_max)


def valid_view(layer):
    """Convolution ``layer`` as its engine computes it: valid and stride 1 over its padded
    input (:class:`~hw.stages.padding.PadStage` before, and
    :class:`~hw.stages.padding.StrideStage` after, do the rest); ``layer`` itself when it has
    neither."""
    if not layer.padded and layer.strides == (1, 1):
        return layer
    return dataclasses.replace(layer, in_shape=layer.padded_shape, padding=((0, 0), (0, 0)),
                               strides=(1, 1))


def make_stages(layer, *, params, in_width, schedule=None):
    """The stages of convolution ``layer`` (:func:`engine_stages`), with a
    :class:`~hw.stages.padding.PadStage` before them where it is padded, and a
    :class:`~hw.stages.padding.StrideStage` after the engine where its strides are not 1 (the
    engine computes every window of the padded input: simple, and the same in both engines;
    a strided layer's engine then does ``sh x sw`` times its work); with ``schedule.queue``
    a :class:`~hw.stages.queue.QueueStage` of one image's input transfers first of all."""
    view = valid_view(layer)
    height, width, channels = layer.in_shape
    stages, out_width = engine_stages(view, params=params, in_width=in_width,
                                      schedule=schedule)
    if layer.strides != (1, 1):
        oh, ow, oc = view.out_shape
        stride = StrideStage(shape=(oh, ow, oc // out_width), strides=layer.strides,
                             fmt=layer.output, width=out_width)
        # before the engine's skid buffer (a register of ready for the stages after)
        at = len(stages) - 1 if isinstance(stages[-1], SkidBuffer) else len(stages)
        stages.insert(at, stride)
    if layer.padded:
        stages.insert(0, PadStage(shape=(height, width, channels // in_width),
                                  padding=layer.padding, fmt=layer.input, in_width=in_width))
    queue = queue_shape(layer, schedule, in_width)
    if queue is not None:   # first: nothing before it waits
        # the ECP5's plans register every block RAM's slow output (registered_weights)
        stages.insert(0, QueueStage(element_layout(in_width, layer.input), depth=queue[0],
                                    registered=schedule.registered_weights, image=queue[1]))
    return stages, out_width


def queue_shape(layer, schedule, in_width):
    """``(depth, image)`` of the :class:`~hw.stages.queue.QueueStage` before convolution
    ``layer`` under ``schedule`` (its input transfers ``in_width`` codes each), or ``None``
    without one: for ``queue=True`` (or a number of at least an image's transfers) an image's
    transfers and ``image`` None; for fewer, that many and ``image`` an image's transfers
    (the queue counts them to mark each image's last)."""
    if schedule is None or not schedule.queue:
        return None
    image = math.prod(layer.in_shape) // in_width
    if schedule.queue is True or schedule.queue >= image:
        return image, None
    return schedule.queue, image


def queue_keeps_pace(layer, times, schedule, *, in_width, depth):
    """Whether a :class:`~hw.stages.queue.QueueStage` of ``depth`` transfers (fewer than an
    image's) before folded convolution ``layer``, offered its input transfers at ``times``
    (one image's), changes none of the engine's times from those with a whole image's queue,
    one image at a time and two back to back (as :func:`folded_estimate` counts them).

    Why a bound is enough: the engine's times change only if a transfer is not in the queue's
    output when the engine would take it (the times :func:`folded_times` gives with a queue
    that never fills). Pessimistically a transfer is written once the one ``entries(depth)``
    before it has left the queue, and a producer held back is held back by as much for all
    its later transfers; if every transfer is still there in time, the engine's times are
    those of a whole image's queue, and so exact where those are. Padded layers: not
    modelled (their padding is between the queue and the windows), so False."""
    if layer.padded:
        return False
    latency, size = QueueStage.latency(schedule.registered_weights), entries(depth)
    span = max(len(times), times[-1] - times[0] + 1)
    for offered in (list(times), [*times, *(t + span for t in times)]):
        accepted = []
        folded_times(valid_view(layer), [t + latency for t in offered], schedule,
                     in_width=in_width, accepted=accepted)
        written = []
        for i, t in enumerate(offered):
            w = t if not i else max(t, written[-1] + t - offered[i - 1])
            if i >= size:
                w = max(w, accepted[i - size] + 1)
            if w + latency > accepted[i]:
                return False
            written.append(w)
    return True


def engine_stages(layer, *, params, in_width, schedule=None):
    """The stages of convolution ``layer`` whose input transfers carry ``in_width`` codes (a
    pixel's channels, or one).

    Without a ``schedule``, the parallel engine: the :class:`Conv2DStage` (every output
    channel at once, the weights constants in logic), then a skid buffer (the convolution and
    a pooling after it are stall-all pipelines: the buffer keeps their back-pressure chains
    apart, for timing); a code-per-transfer input is first gathered into pixels
    (:class:`~hw.stages.gather.GatherStage`). With one, the folded engine: the windows tap by
    tap (:class:`~hw.stages.window.WindowStage`), a :class:`~hw.stages.dense.DenseStage` on
    ``schedule.lanes`` multipliers whose weights port the caller connects to a store, and its
    groups sent a code per transfer (:class:`~hw.stages.gather.SerializeStage`, which also
    marks the image's last code: the engine's ``last`` ends each position); two positions at
    a time, :class:`~hw.stages.gather.PairSerializeStage` and then a skid buffer (timing: its
    phases' logic and a pooling's input after it would otherwise make one chain of readys
    from the next engine's input buffer, the keras.io convnet's critical path)."""
    height, width, channels = layer.in_shape
    if schedule is None:
        stage = Conv2DStage(config=layer, weight=params["weight"], bias=params["bias"])
        stages = [stage, SkidBuffer(stage.o.payload.shape())]
        if in_width != channels:
            stages.insert(0, GatherStage(lanes=in_width, count=channels,
                                         positions=height * width, fmt=layer.input))
        return stages, layer.out_channels
    pairs = schedule.positions == 2
    windows = WindowStage(shape=layer.in_shape, kernel=layer.kernel, fmt=layer.input,
                          in_width=in_width, pairs=pairs)
    engine = DenseStage(config=dense_view(layer), bias=params["bias"],
                        in_width=in_width, lanes=schedule.lanes,
                        groups_per_pass=schedule.groups_per_pass,
                        logic_lanes=schedule.logic_lanes,
                        registered_weights=schedule.registered_weights,
                        positions=schedule.positions)
    if pairs:
        serialize = PairSerializeStage(lanes=schedule.lanes, count=layer.out_channels,
                                       shape=layer.out_shape[:2], fmt=layer.output)
    else:
        serialize = SerializeStage(lanes=schedule.lanes, count=layer.out_channels,
                                   positions=layer.out_shape[0] * layer.out_shape[1],
                                   fmt=layer.output)
    stages = [windows, engine, serialize]
    if pairs:
        stages.append(SkidBuffer(serialize.o.payload.shape()))
    return stages, 1


def estimate(layer, times, *, weight, in_width=None, schedule=None, external_weights=False,
             family=None):
    """The model of :func:`make_stages`' stages: a padded layer's
    :class:`~hw.stages.padding.PadStage` (:func:`~hw.stages.padding.pad_times`; back to back
    at least a cycle per padded transfer), the engine's (:func:`engine_estimate`, of
    :func:`valid_view`), a strided layer's :class:`~hw.stages.padding.StrideStage`."""
    _, _, channels = layer.in_shape
    in_width = channels if in_width is None else in_width
    view = valid_view(layer)
    before, busy = (), 0
    queue = queue_shape(layer, schedule, in_width)
    if queue is not None:
        depth, image = queue
        if image is not None and not queue_keeps_pace(layer, times, schedule,
                                                      in_width=in_width, depth=depth):
            raise QueueTooShort(f"{layer.name}: a queue of {depth} transfers before it would "
                                f"hold the layer before back, which the plan does not count: "
                                f"a longer one, or queue=True (an image's {image})")
        before = (queue_cost(f"{layer.name} queue", element_layout(in_width, layer.input),
                             depth, registered=schedule.registered_weights, image=image),)
        times = [t + QueueStage.latency(schedule.registered_weights) for t in times]
    if layer.padded:
        units = channels // in_width
        times = pad_times(times, shape=(*layer.in_shape[:2], units), padding=layer.padding)
        before = (*before, pad_cost(f"{layer.name} pad", in_width))
        busy = len(times)
    est = engine_estimate(view, times, weight=weight, in_width=in_width, schedule=schedule,
                          external_weights=external_weights)
    after, out = (*before, *est.after), est.times
    if layer.strides != (1, 1):
        oh, ow, oc = view.out_shape
        out = stride_times(out, shape=(oh, ow, oc // est.width), strides=layer.strides)
        after = (*after, stride_cost(f"{layer.name} stride"))
    if view is not layer:
        est = dataclasses.replace(est, cost=dataclasses.replace(est.cost, name=layer.name))
    return StageEstimate(cost=est.cost, after=after, times=out, width=est.width,
                         busy=max(busy, est.busy))


def engine_estimate(layer, times, *, weight, in_width=None, schedule=None,
                    external_weights=False):
    """The model of :func:`engine_stages`' stages for ``weight`` (see
    :class:`hw.stages.kind.GatewareKind`); with a ``schedule`` the folded engine's
    (:func:`folded_estimate`). The parallel engine: the adder trees' working bits, the window's
    registers (bits), which feed the first adders, and the fixed part (counters, the line
    buffer's port); the line buffer; an output for each input that completes a window,
    :attr:`Conv2DStage.LATENCY` and a cycle per adder level later, then the skid buffer's;
    a code-per-transfer input gathered first (:func:`hw.stages.gather.gather_times`)."""
    _, width, channels = layer.in_shape
    in_width = channels if in_width is None else in_width
    if schedule is not None:
        return folded_estimate(layer, times, schedule, in_width=in_width,
                               external_weights=external_weights)
    digits, levels, adder_bits = adder_cost(weight)
    kh, kw = layer.kernel
    memories = ()
    if kh > 1:
        memories = (MemoryCost("line buffer", (kh - 1) * channels * CODE_BITS, width),)
    terms = {"conv": 1, "conv_adder_bit": adder_bits,
             "conv_window_bit": kh * kw * channels * CODE_BITS}
    if in_width != channels:
        terms["gather_bit"] = CODE_BITS * channels
        times = gather_times(times, channels)
    cost = StageCost(name=layer.name, kind=layer.kind, memories=memories, weights="constants",
                     digits=digits, terms=terms)
    skid = skid_cost(f"{layer.name} skid", element_layout(layer.out_channels, layer.output))
    delay = Conv2DStage.LATENCY + levels + SkidBuffer.LATENCY
    out = [t + delay for i, t in enumerate(times)
           if i // width >= kh - 1 and i % width >= kw - 1]
    return StageEstimate(cost=cost, after=(skid,), times=out, width=layer.out_channels)


def _serialize_terms(lanes, positions):
    """The logic-cell terms of the serializer after a folded engine of ``lanes`` lanes and
    ``positions`` positions a pass: :class:`~hw.stages.gather.SerializeStage`'s counters and
    per bit of a group its register and the code's multiplexer; a
    :class:`~hw.stages.gather.PairSerializeStage`'s, its two positions' codes (bits) in, the
    second's memory port and the row's pair counters (its own terms: more logic a bit)."""
    if positions == 2:
        return {"pair_serialize": 1, "pair_serialize_bit": 16 * lanes}
    return {"serialize": 1, "serialize_bit": 8 * lanes}


def folded_estimate(layer, times, schedule, *, in_width, external_weights=False):
    """The model of the folded engine's stages (:func:`make_stages` with ``schedule``): the
    dense engine's terms for the window (``fan_in`` codes, ``in_width`` a transfer; with two
    positions its adders, requantisers, accumulators and codes twice), the window stage's
    fixed part and the serializer's; the window rows (read twice for two positions: Yosys
    copies the memory), the engine's input banks and its weights in a memory (or a store
    outside, ``external_weights``); the times from :func:`folded_times` (two positions: then
    the skid buffer's)."""
    height, width, channels = layer.in_shape
    kh, kw = layer.kernel
    per_pixel = channels // in_width
    view = dense_view(layer)
    lanes, per, positions = schedule.lanes, schedule.groups_per_pass, schedule.positions
    groups = -(-layer.out_channels // lanes)
    acc_width = view.acc_width
    words = kh * kw * per_pixel   # the engine's input transfers per window
    terms = {"dense": 1, "dense_lane_bit": positions * lanes * acc_width,
             "dense_accumulator_bit": positions * lanes * per * (acc_width + 8),
             "dense_input_bit": 8 * in_width * positions, "window": positions,
             **_serialize_terms(lanes, positions), **bias_terms(groups)}
    if schedule.logic_lanes:
        terms["logic_lane"] = schedule.logic_lanes * positions
    # with two positions, a pixel's units more (hw.stages.window.WindowStage)
    rows = MemoryCost("window rows", 8 * in_width, (kh * width + (positions == 2)) * per_pixel)
    memories = [rows] * positions + [
        MemoryCost("input banks", 8 * in_width * positions,
                   2 << max(1, (words - 1).bit_length()))]
    memories += bias_memories(lanes, groups)
    if positions == 2:
        memories.append(MemoryCost("second position", 8 * lanes, groups))
    if not external_weights:
        memories.append(MemoryCost("weights", 8 * lanes, groups * layer.fan_in, rom=True))
    cost = StageCost(name=layer.name, kind=layer.kind, terms=terms, memories=tuple(memories),
                     dsp_lanes=positions * (lanes - schedule.logic_lanes),
                     weights="external" if external_weights else "memory")
    out = folded_times(layer, times, schedule, in_width=in_width)
    # back to back: a second image whose inputs come as the first's did, as soon as the
    # first's are in (its producer's pace, a cycle apart at least)
    span = max(len(times), times[-1] - times[0] + 1)
    twice = folded_times(layer, [*times, *(t + span for t in times)], schedule,
                         in_width=in_width)
    busy = twice[-1] - out[-1]
    if positions == 1:
        return StageEstimate(cost=cost, after=(), times=out, width=1, busy=busy)
    skid = skid_cost(f"{layer.name} skid", element_layout(1, layer.output))
    return StageEstimate(cost=cost, after=(skid,), times=[t + SkidBuffer.LATENCY for t in out],
                         width=1, busy=busy)


@functools.lru_cache(maxsize=64)
def _completions(in_shape, kernel, per_pixel, pairs):
    """For each input transfer of an image: ``None``, or whether the window (or, ``pairs``,
    the pair of them) it completes is a row's last window alone."""
    height, width, _ = in_shape
    kh, kw = kernel
    marks = []
    for index in range(height * width * per_pixel):
        r, u = divmod(index, width * per_pixel)
        pixel, last_unit = divmod(u, per_pixel)
        mark = None
        if r >= kh - 1 and last_unit == per_pixel - 1:
            if not pairs:
                mark = False if pixel >= kw - 1 else None
            else:
                alone = pixel == width - 1 and (width - kw + 1) % 2 == 1
                mark = alone if alone or (pixel >= kw and (pixel - kw) % 2 == 0) else None
        marks.append(mark)
    return tuple(marks)


def folded_times(layer, times, schedule, *, in_width, accepted=None):
    """Output transfer times of the folded engine (a code each) whose input transfers
    (``in_width`` codes each) are offered at ``times`` (one image, or several in a row), the
    consumer always ready: an event model of :class:`~hw.stages.window.WindowStage` (a
    window's taps a cycle apart, the input paused meanwhile), the
    :class:`~hw.stages.dense.DenseStage` (its two input banks, a window each; its sequencer,
    as :func:`hw.stages.dense.output_times`) and :class:`~hw.stages.gather.SerializeStage` (a
    group taken when the one before has left, its codes a cycle apart) or, two positions at
    a time, :class:`~hw.stages.gather.PairSerializeStage` (the second position's groups
    after the first's, a cycle between groups, and no group taken meanwhile). ``accepted``, a
    list, gets the time each input transfer is taken."""
    from hw.stages.dense import result_cycles
    _, _, channels = layer.in_shape
    kh, kw = layer.kernel
    per_pixel = channels // in_width
    pairs = schedule.positions == 2
    taps, n, k = kh * kw * per_pixel, layer.fan_in, in_width
    lanes, per = schedule.lanes, schedule.groups_per_pass
    groups = -(-layer.out_channels // lanes)
    passes = groups // per
    codes = [min(lanes, layer.out_channels - g * lanes) for g in range(groups)]
    result = result_cycles(schedule)
    finish = DenseStage.FINISH_CYCLES if per * n > 1 else DenseStage.FINISH_CYCLES - 1
    accept, issue, windows = -10 ** 9, -10 ** 9, 0
    bank_free = [-10 ** 9, -10 ** 9]
    last_out, sent, free = [None] * per, -10 ** 9, -10 ** 9
    out = []
    marks = _completions(tuple(layer.in_shape), tuple(layer.kernel), per_pixel, pairs)
    step = k * per - 1
    for i, t in enumerate(times):
        accept = max(t, accept + 1)
        if accepted is not None:
            accepted.append(accept)
        alone = marks[i % len(marks)]
        if alone is None:
            continue
        first = max(accept + 2, bank_free[windows % 2])   # the first tap's transfer
        accept = first + taps - 2    # the input is taken again as the last tap leaves
        for p in range(passes):
            if p == 0:
                # tap j's codes issue from max(issue + 1, first + j + WAIT_CYCLES) on, a
                # cycle each (k * per of them): after the first tap the taps arrive faster
                # than they issue, so the last tap's end is the first's plus a step each
                issue = max(issue + 1, first + DenseStage.WAIT_CYCLES) + step + \
                    (taps - 1) * (step + 1)
                issue -= per
            else:
                issue += (n - 1) * per
            for q in range(per):
                issue += 1
                if last_out[q] is not None:
                    issue = max(issue, last_out[q] + finish)
                o = max(issue + result, sent + 1, free)
                sent = last_out[q] = o
                # the serializer: the group's codes, then it is free again
                count = codes[p * per + q]
                out += [o + 1 + c for c in range(count)]
                free = o + count + 1
        if pairs and not alone:   # the second position's codes, from the serializer's memory
            code = free + 1
            for count in codes:
                out += [code + c for c in range(count)]
                code += count + 1
            free = code - 1
        bank_free[windows % 2] = issue + 2
        windows += 1
    return out


KIND = GatewareKind(kind="conv2d", make_stages=make_stages, estimate=estimate, foldable=True,
                    cost_reads_weights=True, size="out_channels", size_noun="filters")
