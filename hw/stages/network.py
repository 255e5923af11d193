"""The whole network as one pipeline of stages, built from a weights manifest."""

import math

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.stages.argmax import ArgmaxStage
from hw.stages.dense import DenseStage, WeightMemory, check_schedule, dense_weight_words
from hw.lib.layouts import element_layout, result_layout
from hw.stages.conv import dense_view
from hw.stages.registry import KINDS
from hw.stages.skid import SkidBuffer

__all__ = ["NetworkError", "DenseSchedule", "default_schedule", "spram_layers", "weight_words",
           "NetworkPipeline"]

#: Multipliers of the first dense layer: one 64-bit weight word (8 weights) per cycle, what the
#: UP5K's four SPRAMs deliver.
WEIGHT_WORD_LANES = 8


class NetworkError(ValueError):
    """A network, or a build option, that this gateware cannot build."""


class DenseSchedule:
    """How a dense layer (or a folded convolution's engine) is folded: ``lanes``
    multipliers, ``groups_per_pass`` groups of ``lanes`` outputs accumulated together, the
    last ``logic_lanes`` multipliers in logic rather than DSPs, the weights registered on
    their way to the multipliers or not (see :class:`hw.stages.dense.DenseStage`), and where
    the board keeps the weights: ``spram`` in the UP5K's SPRAMs, loaded from flash
    (``hw.board.top.BoardTop``; :class:`NetworkPipeline` alone keeps every layer's in block
    RAM unless ``external_weights`` names it), else in block RAM in the bitstream. A folded
    convolution may compute ``positions=2`` output positions at once (each weight read
    multiplied by both: ``hw.stages.dense.DenseStage``); a dense layer computes one. A folded
    convolution after the first layer may have a ``queue`` before it
    (``hw.stages.queue.QueueStage``): ``True``, of one image's transfers, or a number of
    transfers (fewer than an image's: see ``hw.stages.conv.queue_keeps_pace``)."""

    def __init__(self, *, lanes, groups_per_pass, logic_lanes=0, registered_weights=False,
                 spram=False, positions=1, queue=False):
        if not isinstance(spram, bool):
            raise ValueError(f"spram must be True or False, not {spram!r}")
        if not isinstance(queue, bool) and not (isinstance(queue, int) and queue >= 1):
            raise ValueError(f"queue must be True (an image's transfers), False or a number "
                             f"of transfers of at least 1, not {queue!r}")
        if positions not in (1, 2):
            raise ValueError(f"positions must be 1 or 2, not {positions!r}")
        self.lanes, self.groups_per_pass = lanes, groups_per_pass
        self.logic_lanes, self.registered_weights = logic_lanes, registered_weights
        self.spram, self.positions, self.queue = spram, positions, queue

    def _key(self):
        return (self.lanes, self.groups_per_pass, self.logic_lanes, self.registered_weights,
                self.spram, self.positions, "image" if self.queue is True else self.queue)

    def __repr__(self):
        extra = f", logic_lanes={self.logic_lanes}" if self.logic_lanes else ""
        extra += ", registered_weights=True" if self.registered_weights else ""
        extra += ", spram=True" if self.spram else ""
        extra += f", positions={self.positions}" if self.positions != 1 else ""
        extra += f", queue={self.queue!r}" if self.queue else ""
        return f"DenseSchedule(lanes={self.lanes}, groups_per_pass={self.groups_per_pass}{extra})"

    def replace(self, **changes):
        """A copy with ``changes``."""
        fields = dict(lanes=self.lanes, groups_per_pass=self.groups_per_pass,
                      logic_lanes=self.logic_lanes, registered_weights=self.registered_weights,
                      spram=self.spram, positions=self.positions, queue=self.queue)
        return DenseSchedule(**{**fields, **changes})

    def __eq__(self, other):
        return isinstance(other, DenseSchedule) and other._key() == self._key()

    def __hash__(self):
        return hash(self._key())


def first_dense_schedule(layer, lanes=WEIGHT_WORD_LANES):
    """The first dense layer's schedule: a weight word of ``lanes`` weights (or all its
    outputs, if fewer) per cycle from the SPRAMs, one group per pass."""
    return DenseSchedule(lanes=min(lanes, layer.out_features), groups_per_pass=1, spram=True)


def default_schedule(net):
    """The schedule of every dense layer, by name.

    The first dense layer reads one weight word of :data:`WEIGHT_WORD_LANES` weights per cycle,
    one group per pass: its weight bandwidth bounds the whole pipeline. A later dense layer
    gets its inputs slowly (one group of the layer before every few hundred cycles), so it
    accumulates all its groups in one pass, with just enough lanes to finish each input in
    two cycles: it keeps pace with no buffering and finishes right after its last input.
    """
    schedules = {}
    for layer in net.dense_layers:
        if layer is net.first_dense:
            schedules[layer.name] = first_dense_schedule(layer)
        else:
            lanes = math.ceil(layer.out_features / 2)
            groups = math.ceil(layer.out_features / lanes)
            schedules[layer.name] = DenseSchedule(lanes=lanes, groups_per_pass=groups)
    return schedules


def spram_layers(net, schedules=None):
    """The layers whose weights the board keeps in SPRAM under ``schedules`` (their
    ``spram``; :func:`default_schedule` where absent), in the network's order."""
    schedules = {**default_schedule(net), **(schedules or {})}
    return [l.name for l in net.layers if l.name in schedules and schedules[l.name].spram]


def weight_words(net, name, schedules=None):
    """The weight-store words of dense layer ``name`` under its schedule (see
    ``hw.stages.dense.dense_weight_words``), without building any gateware."""
    schedule = {**default_schedule(net), **(schedules or {})}[name]
    weight = net.params[name]["weight"]
    # a folded convolution's: (kh, kw, channels, filters) as the window's (fan_in, filters)
    return dense_weight_words(weight.reshape(-1, weight.shape[-1]), schedule.lanes)


class NetworkPipeline(wiring.Component):
    """The network's stages, connected in the manifest's order, then the argmax.

    Parameters
    ----------
    net : q8.weights.Network
    schedules : dict of DenseSchedule, optional
        By dense layer name; :func:`default_schedule` where absent. A convolution named here
        is built folded (``hw.stages.conv.make_stages``), its weights in a block-RAM store.
    external_weights : iterable of str
        Dense layers and folded convolutions whose weight store lives outside this component
        (on the board, SPRAM loaded from flash: :func:`spram_layers`): each gets a
        ``<name>_weights`` port. The others read block-RAM
        :class:`hw.stages.dense.WeightMemory` initialised from the manifest.

    Members
    -------
    i : In(stream.Signature(element_layout(channels, input format)))
        Pixels, row-major, ``last`` on the last pixel of an image.
    o : Out(stream.Signature(result_layout(classes)))
        One transfer per image: the class and the logit codes.
    <name>_weights : Out(WeightPort(...))
        For each layer in ``external_weights``.
    """

    def __init__(self, net, *, schedules=None, external_weights=()):
        # The manifest loader guarantees the rest: image layers before dense layers, and a
        # dense layer with signed outputs last.
        if net.input_shape[2] not in (1, 3):
            raise NetworkError(f"the input must have one channel (grey) or three (RGB), not "
                               f"{net.input_shape[2]}")
        if net.input_shape[2] > 1 and net.layers[0].kind not in ("conv2d", "dense"):
            raise NetworkError(f"{net.layers[0].name} ({net.layers[0].kind}) takes the "
                               f"{net.input_shape[2]}-channel input: the gateware takes it a "
                               f"byte at a time into a convolution or a dense layer first")
        unknown = [f"{l.name} ({l.kind})" for l in net.layers
                   if l.kind not in KINDS]
        if unknown:
            raise NetworkError(f"no gateware for the layers {', '.join(unknown)}; the kinds "
                               f"built are {', '.join(sorted(KINDS))}")
        self._net = net
        self._schedules = {**default_schedule(net), **(schedules or {})}
        foldable = {l.name: l for l in net.layers
                    if KINDS[l.kind].folded or KINDS[l.kind].foldable}
        unknown = set(self._schedules) - set(foldable)
        if unknown:
            raise NetworkError(f"schedules name layers that are not dense layers or "
                               f"convolutions: {sorted(unknown)}")
        for name, schedule in self._schedules.items():  # before any stage exists
            layer = foldable[name]
            try:
                check_schedule(dense_view(layer) if layer.kind == "conv2d" else layer,
                               lanes=schedule.lanes,
                               groups_per_pass=schedule.groups_per_pass,
                               logic_lanes=schedule.logic_lanes)
            except ValueError as e:
                raise NetworkError(f"{layer.name}: {e}") from None
            if schedule.positions != 1 and layer.kind != "conv2d":
                raise NetworkError(f"{layer.name}: a dense layer computes one position, not "
                                   f"positions={schedule.positions}; two are for folded "
                                   f"convolutions")
            if schedule.queue and (layer.kind != "conv2d" or layer is net.layers[0]):
                raise NetworkError(f"{layer.name}: a queue is for a folded convolution "
                                   f"after the first layer (the board's image buffer feeds "
                                   f"the first)")
        self._external = frozenset(external_weights)
        engines = {l.name for l in net.dense_layers} | \
            {name for name in self._schedules if foldable[name].kind == "conv2d"}
        if not self._external <= engines:
            raise NetworkError(f"external_weights names layers that are not dense layers or "
                               f"folded convolutions: {sorted(self._external - engines)}")
        self._stages = self._make_stages()
        ports = {"i": In(stream.Signature(element_layout(1, net.input))),
                 "o": Out(stream.Signature(result_layout(net.classes)))}
        for name in sorted(self._external):
            ports[f"{name}_weights"] = Out(self._dense_stage(name).weights.signature)
        super().__init__(ports)

    def _make_stages(self):
        # the input is a skid buffer: a producer's logic sees a registered `ready`, not the
        # convolution's stall-all enable, which fans out to all of its registers (timing)
        stages = [SkidBuffer(element_layout(1, self._net.input))]
        # a byte a transfer, channels interleaved (row-major H x W x C): the board's image
        # buffer holds bytes; the first convolution gathers a pixel's channels itself
        width = 1
        self._by_layer = {}
        for layer in self._net.layers:
            kind = KINDS[layer.kind]
            made, width = kind.make_stages(
                layer, params=self._net.params.get(layer.name), in_width=width,
                schedule=self._schedules.get(layer.name))
            stages += made
            self._by_layer[layer.name] = tuple(made)
        stages.append(ArgmaxStage(classes=self._net.classes, in_width=width))
        return stages

    def _dense_stage(self, name):
        return next(s for s in self._stages
                    if isinstance(s, DenseStage) and s.config.name == name)

    @property
    def stages(self):
        return tuple(self._stages)

    def layer_stages(self, name):
        """The stages made for layer ``name``, in order (a folded convolution's queue, window,
        engine and serializer; a layer's own stage and its skid buffer)."""
        return self._by_layer[name]

    @property
    def schedules(self):
        return dict(self._schedules)

    def weight_words(self, name):
        """The words of dense layer ``name``'s weight store (see ``dense_weight_words``)."""
        return weight_words(self._net, name, self._schedules)

    def elaborate(self, platform):
        m = Module()
        names = []
        for index, stage in enumerate(self._stages):
            name = getattr(getattr(stage, "config", None), "name", None) or \
                f"{type(stage).__name__.lower()}_{index}"
            m.submodules[name] = stage
            names.append(name)
            if isinstance(stage, DenseStage):
                layer = stage.config.name
                if layer in self._external:
                    wiring.connect(m, stage.weights,
                                   wiring.flipped(getattr(self, f"{layer}_weights")))
                else:
                    store = WeightMemory(words=self.weight_words(layer), lanes=stage.lanes)
                    m.submodules[f"{layer}_store"] = store
                    wiring.connect(m, stage.weights, store.read)
        wiring.connect(m, wiring.flipped(self.i), self._stages[0].i)
        for a, b in zip(self._stages, self._stages[1:]):
            wiring.connect(m, a.o, b.i)
        wiring.connect(m, self._stages[-1].o, wiring.flipped(self.o))
        return m
