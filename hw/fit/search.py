"""The fit plan's search: a network's stages as the gateware builds them, their costs read from
each layer kind's published model (``hw.stages.registry``), and the dense schedules chosen to fit
the board with the fewest cycles."""

import itertools
import math

from hw.board.defaults import BOARD
from hw.board.flash_image import TESTS_OFFSETS, test_image_room
from hw.board.top import network_self_test_refusal
from hw.fit.costs import assumed_weight
from hw.fit.diagnose import problems
from hw.fit.plan import CROWDED, RESOURCES, Plan, Stage, floors
from hw.stages import registry as gateware
from hw.stages.argmax import argmax_cost, argmax_cycles
from hw.stages.conv import QueueTooShort, dense_view
from hw.stages.dense import check_schedule
from hw.stages.network import DenseSchedule, first_dense_schedule
from hw.stages.skid import SkidBuffer, skid_cost
from hw.lib.layouts import element_layout
from hw.vendor.ice40 import SPRAMWeightStore
from platforms import get_board
from platforms.families import family_of
from q8 import layers as kinds

__all__ = ["plan", "built_schedules", "EXHAUSTIVE"]

#: Where a stage's weights live, as the plan says, by what its cost says of them.
_STORES = {None: "", "constants": "logic", "external": "SPRAM", "memory": "block RAM"}


def spram_words(layer, schedule):
    """The words of ``layer``'s SPRAM store under ``schedule``: a word of ``lanes`` weights
    per group and input (``hw.stages.dense.dense_weight_words``)."""
    size = layer.out_channels if layer.kind == "conv2d" else layer.out_features
    return -(-size // schedule.lanes) * layer.fan_in


def _shape(layer):
    shape = layer.out_shape
    return "x".join(map(str, shape)) if len(shape) > 1 else str(shape[0])


def input_shape(layers):
    """The network's input as ``(height, width, channels)``; a flat input as ``(n, 1, 1)``."""
    shape = tuple(layers[0].in_shape)
    return shape if len(shape) == 3 else (shape[0], 1, 1)


class Planner:
    """The stages of one network, as ``hw.stages.network.NetworkPipeline`` and
    ``hw.board.top.BoardTop`` build them, and their costs under given schedules."""

    def __init__(self, layers, board, params):
        self.layers = tuple(layers)
        self.board = board
        self.params = params
        self.family = family_of(board)
        self.available = {k: board.resources[k] for k in RESOURCES}
        self.input_shape = input_shape(self.layers)
        self.pixels = math.prod(self.input_shape)
        self.kinds = [gateware.get(l.kind) for l in self.layers]
        self.dense = [l for l, k in zip(self.layers, self.kinds) if k.folded]
        self.convs = [l for l, k in zip(self.layers, self.kinds) if k.foldable]
        self.classes = self.layers[-1].out_shape[-1]
        # the folded layers' schedules that each layer's times depend on: those up to it
        tunable = [l.name for l, k in zip(self.layers, self.kinds) if k.folded or k.foldable]
        self._keys = [tuple(n for n in tunable if self._index(n) <= i)
                      for i in range(len(self.layers))]
        self.input_stage = self._row(skid_cost("input", element_layout(1, self.layers[0].input)))
        self._board = {}
        for self_test in (False, True):
            board_stage = Stage("board", "board")
            board_stage.terms = {"board": 1, "self_test": int(self_test)}
            board_stage.memory("image buffer", 8, self.pixels, family=self.family)
            board_stage.estimate(self.family)
            self._board[self_test] = board_stage
        self.argmax = self._row(argmax_cost(self.classes), shape=str(self.classes))
        self._cache = {}

    def board_stage(self, interval):
        """The board's row for a network of ``interval`` cycles an image back to back: with
        the self-test's logic if the board top is built with one (a network that keeps the
        flash's pace, whatever data set's images the flash holds:
        ``hw.board.top.network_self_test_refusal``)."""
        room = test_image_room(self.board.flash_bytes, self.pixels,
                               offset=TESTS_OFFSETS[self.board.family])
        refusal = network_self_test_refusal(classes=self.classes, pixels=self.pixels,
                                            interval=interval)
        return self._board[refusal is None and room > 0]

    def _index(self, name):
        return next(i for i, l in enumerate(self.layers) if l.name == name)

    def _row(self, cost, *, layer=None, schedule=None, shape=""):
        """The plan's row of a stage's published ``cost`` (``hw.stages.kind.StageCost``)."""
        s = Stage(cost.name, cost.kind, _shape(layer) if layer is not None else shape,
                  digits=cost.digits, schedule=schedule, store=_STORES[cost.weights],
                  dsps=math.ceil(cost.dsp_lanes / self.family.lanes_per_dsp))
        if layer is not None and layer.has_params:
            s.macs = math.prod(layer.out_shape) * layer.fan_in
            s.weights = math.prod(layer.weight_shape)
        s.terms = dict(cost.terms)
        for m in cost.memories:
            s.memory(m.what, m.width, m.depth, rom=m.rom, block=m.block, family=self.family)
            if m.what == "weights" and not s.memories[-1][3]:
                s.store = "logic"   # Yosys keeps it in LUTs
        if cost.weights == "external":
            s.sprams = SPRAMWeightStore.sprams_for(schedule.lanes)
            s.spram_words = spram_words(layer, schedule)
            if s.spram_words > SPRAMWeightStore.WORDS:
                # more words than an SPRAM holds: it cannot be built so (the diagnosis says
                # why), and no plan chooses it
                s.sprams += self.available["sprams"] + 1
        s.estimate(self.family)
        return s

    def layer_stage(self, index, schedules):
        """Layer ``index``'s rows (its stage and those made after it for it), output times,
        output width and busy cycles per image under ``schedules``; kept by the schedules up
        to it, since the search tries many combinations of the later layers'."""
        key = (index, *(schedules.get(name) for name in self._keys[index]))
        if key in self._cache:
            return self._cache[key]
        if index == 0:
            # a byte a transfer (hw.stages.network): the channels of a pixel in turn
            times = [t + SkidBuffer.LATENCY for t in range(self.pixels)]
            width = 1
        else:
            times, width = self.layer_stage(index - 1, schedules)[1:3]
        layer, kind = self.layers[index], self.kinds[index]
        weight = None
        if kind.cost_reads_weights:
            weight = assumed_weight(layer) if self.params is None else \
                self.params[layer.name]["weight"]
        schedule = schedules[layer.name] if kind.folded else schedules.get(layer.name)
        external = schedule is not None and schedule.spram
        est = kind.estimate(layer, times, weight=weight, in_width=width, schedule=schedule,
                            external_weights=external, family=self.family.name)
        rows = [self._row(est.cost, layer=layer, schedule=schedule),
                *(self._row(c) for c in est.after)]
        result = (rows, est.times, est.width, est.busy)
        self._cache[key] = result
        return result

    def dense_stage(self, index, schedules):
        """:meth:`layer_stage` of the ``index``-th folded layer, its own row first."""
        rows, times, width, busy = self.layer_stage(self.layers.index(self.dense[index]),
                                                    schedules)
        return rows[0], times, width, busy

    def stages(self, schedules):
        """``(stages, latency, interval)`` under ``schedules`` (every dense layer's)."""
        stages = [self.input_stage]
        interval = self.pixels   # a pixel per cycle in
        for index in range(len(self.layers)):
            rows, times, width, busy = self.layer_stage(index, schedules)
            stages += rows
            interval = max(interval, busy)
        latency, argmax_interval = argmax_cycles(self.classes, width)
        interval = max(interval, argmax_interval)
        stages += [self.argmax, self.board_stage(interval)]
        return stages, times[-1] + latency, interval

    def totals(self, stages):
        return {k: sum(getattr(s, a) for s in stages) for k, a in
                (("logic_cells", "logic_cells"), ("block_rams", "brams"), ("sprams", "sprams"),
                 ("dsps", "dsps"))}


def _candidates(layer, dsps):
    """Schedules for a dense layer after the first with ``dsps`` DSPs: two lanes per DSP (or
    one fewer), up to ``hw.stages.network.default_schedule``'s (two cycles per input), with all
    groups in one pass or fewer per pass."""
    found = []
    for lanes in (2 * dsps, 2 * dsps - 1):
        if not 1 <= lanes <= max(1, math.ceil(layer.out_features / 2)):
            continue
        groups = math.ceil(layer.out_features / lanes)
        found += [DenseSchedule(lanes=lanes, groups_per_pass=per)
                  for per in range(groups, 0, -1) if groups % per == 0]
    return found


def _conv_candidates(layer, dsps):
    """Schedules of a folded convolution with ``dsps`` DSPs: two lanes per DSP (or one fewer),
    at most one per filter, one group per pass or all in one; none with no DSPs (the
    parallel engine)."""
    if dsps == 0:
        return [None]
    found = []
    for lanes in sorted({min(2 * dsps, layer.out_channels), 2 * dsps - 1}, reverse=True):
        if lanes < 1 or lanes > layer.out_channels:
            continue
        groups = math.ceil(layer.out_channels / lanes)
        found += [DenseSchedule(lanes=lanes, groups_per_pass=per)
                  for per in sorted({1, groups}) if groups % per == 0]
    if layer.out_shape[1] > 1 and dsps <= layer.out_channels:
        # two positions a weight read: a DSP per lane (its two products, one per position)
        found.append(DenseSchedule(lanes=dsps, groups_per_pass=1, positions=2))
    return found


def _allocations(layers, dsps, minimums=None):
    """Every way to give each of ``layers`` at least its minimum (one each by default) of
    ``dsps`` DSPs (not all need be used), as lists."""
    minimums = [1] * len(layers) if minimums is None else list(minimums)
    if not layers:
        yield []
        return
    for d in range(minimums[0], dsps - sum(minimums[1:]) + 1):
        for rest in _allocations(layers[1:], dsps - d, minimums[1:]):
            yield [d, *rest]


#: Combinations of the later layers' schedules tried one by one at most, per way to share
#: the DSPs; beyond, each layer's is picked in turn.
EXHAUSTIVE = 2000


def _wide_schedules(planner, target, *, folded=()):
    """Each dense layer's schedule with the fewest lanes (one group per pass) that keep it
    within ``target`` cycles per image back to back, and each convolution of ``folded``
    likewise (two positions per weight read where one group per pass at one position is too
    slow; the others stay parallel); the DSPs go to the first layers' lanes, the lanes beyond
    them multiply in logic."""
    family, left, chosen = planner.family, planner.available["dsps"], {}
    layers = [l for l in planner.layers if l in planner.dense or l in folded]
    for layer in layers:
        conv = layer in planner.convs
        n = layer.fan_in if conv else layer.in_features
        out = layer.out_channels if conv else layer.out_features
        positions = layer.out_shape[0] * layer.out_shape[1] if conv else 1
        pairs = 2 if conv and positions * n > target and layer.out_shape[1] > 1 else 1
        if pairs == 2:   # a row's windows two at a time, rounded up
            positions = layer.out_shape[0] * -(-layer.out_shape[1] // 2)
        groups = next((g for g in range(out, 0, -1) if g * n * positions <= target), 1)
        groups = math.ceil(out / math.ceil(out / groups))   # the lanes shared out evenly
        lanes = math.ceil(out / groups)
        dsp_lanes = min(lanes, left * family.lanes_per_dsp // pairs)
        left -= math.ceil(dsp_lanes * pairs / family.lanes_per_dsp)
        # the block RAM's read, then the way to the DSPs, each in a cycle of its own
        chosen[layer.name] = DenseSchedule(lanes=lanes, groups_per_pass=1,
                                           logic_lanes=lanes - dsp_lanes,
                                           registered_weights=True, positions=pairs)
    return chosen


def _wide_key(planner, chosen):
    """How :func:`_search` ranks schedules: resources overflowed, logic cells if overflowed
    or crowded, cycles back to back, logic cells, cycles one at a time."""
    stages, latency, interval = planner.stages(chosen)
    used = planner.totals(stages)
    over = sum(used[k] > planner.available[k] for k in RESOURCES)
    crowded = used["logic_cells"] > CROWDED * planner.available["logic_cells"]
    return (over, used["logic_cells"] if over or crowded else 0, interval,
            used["logic_cells"], latency)


def _wide_fitted(planner, folded):
    """:func:`_wide_schedules` with ``folded``, from a pixel a cycle back to back, its target
    a quarter longer at a time while the network overflows a resource or crowds the logic
    cells (or every layer is down to one lane): ``(schedules, key)``."""
    target = planner.pixels
    while True:
        chosen = _wide_schedules(planner, target, folded=folded)
        key = _wide_key(planner, chosen)
        if (not key[0] and not key[1]) or all(s.lanes == 1 for s in chosen.values()):
            return chosen, key
        target = math.ceil(target * 1.25)


#: Convolutions beyond which :func:`_choose_wide` folds them all or none, not each set.
WIDE_FOLD_SETS = 6


def _choose_wide(planner):
    """The schedules on a family whose every weight is in block RAM (the ECP5): as many
    lanes as keep each dense layer as fast as the pixels arrive (one a cycle: nothing is
    gained beyond), fewer, step by step, while the logic cells would be crowded. If the
    network does not fit so with its convolutions parallel, they fold too, sized alike: each
    set of them in turn (the others parallel: a parallel first convolution takes a pixel a
    cycle and hands the next its channels at once, where a folded one's outputs leave a code
    a cycle), the best kept by :func:`_wide_key`."""
    best, best_key = _wide_fitted(planner, ())
    if not best_key[0] or not planner.convs:
        return best
    convs = planner.convs
    sets = [c for k in range(1, len(convs) + 1) for c in itertools.combinations(convs, k)] \
        if len(convs) <= WIDE_FOLD_SETS else [tuple(convs)]
    best, best_key = None, None
    for folded in sets:
        chosen, key = _wide_fitted(planner, folded)
        if best_key is None or key < best_key:
            best, best_key = chosen, key
    return best


def choose(planner, *, fold=True):
    """The schedules: the first dense layer's fixed; for every way to share the DSPs left
    among the later layers, every combination of their candidates (or, if there are more
    than :data:`EXHAUSTIVE`, each layer's in turn: the fastest, cycles back to back then its
    last output, or the smallest, logic cells first); of these, the best by (resources
    overflowed, logic cells if overflowed or above :data:`CROWDED`, cycles back to back,
    logic cells, cycles one at a time). Logic cells before the latency: they decide whether
    place and route meets the clock, and room for the board's own logic, while an image's
    latency on the board is a small part of its time on the UART.

    The convolutions are parallel (their weights constants in logic, a pixel a cycle) unless
    the network then does not fit: the search is then repeated with each convolution free to
    fold onto DSPs (``hw.stages.conv.make_stages`` with a schedule), and the better kept
    (``fold=False``: not; the misfit diagnosis plans its many trials so, for speed, and so
    names a size that fits with the convolutions parallel)."""
    if not planner.family.weights_from_flash:
        return _choose_wide(planner)
    if not planner.dense:
        return _choose_all_convolutional(planner)
    first = planner.dense[0]
    best, best_key = _choose_in(planner, {first.name: first_dense_schedule(first)}, fold=fold)
    if fold and best_key is not None and best_key[0] and _over_block_rams(planner, best):
        for spram in _spram_placements(planner):
            chosen, key = _choose_in(planner, spram, fold=True)
            if key is not None and key < best_key:
                best, best_key = chosen, key
    if best is None:   # more layers than DSPs: the fewest (the plan says so)
        best = {first.name: first_dense_schedule(first),
                **{l.name: DenseSchedule(lanes=1, groups_per_pass=l.out_features)
                   for l in planner.dense[1:]}}
    return best


def _choose_all_convolutional(planner):
    """The schedules of a network without dense layers: the board keeps one layer's weights
    in SPRAM (``hw.board.top``), so the convolution with the most weights reads them there
    (every SPRAM, one position a read or two), the others searched as :func:`_choose_in`
    does."""
    biggest = max(planner.convs, key=lambda l: math.prod(l.weight_shape))
    best, best_key = None, None
    for positions in (1, 2) if biggest.out_shape[1] > 1 else (1,):
        base = {biggest.name: _spram_schedule(biggest, 2 * planner.available["sprams"],
                                              positions)}
        chosen, key = _choose_in(planner, base, fold=True)
        if key is not None and (best_key is None or key < best_key):
            best, best_key = chosen, key
    return best or {}


def _over_block_rams(planner, schedules):
    used = planner.totals(planner.stages(schedules)[0])
    return used["block_rams"] > planner.available["block_rams"]


def _choose_in(planner, base, *, fold):
    """The best schedules (``(schedules, key)``, as :func:`_search`'s) with the layers of
    ``base`` (those in SPRAM: the first dense layer, and perhaps others) as given: the later
    dense layers searched with the convolutions parallel, then, if that does not fit, with
    them free to fold as well."""
    dsps = planner.available["dsps"] - sum(
        math.ceil(s.lanes * s.positions / planner.family.lanes_per_dsp) for s in base.values())
    if dsps < 0:
        return None, None
    later = [l for l in planner.dense if l.name not in base]
    best, best_key = _search(planner, base, later, dsps)
    convs = [l for l in planner.convs if l.name not in base]
    if fold and (best_key is None or best_key[0]) and (convs or len(base) > 1):
        folded, folded_key = _search(planner, base, convs + later, dsps)
        if folded_key is not None and (best_key is None or folded_key < best_key):
            best, best_key = folded, folded_key
    return best, best_key


#: Layers besides the first dense layer that the plan may move to the SPRAMs when the block
#: RAMs overflow: those with the most weight bytes, at most this many.
SPRAM_CANDIDATES = 3


def _spram_placements(planner):
    """Ways to share the SPRAMs between the first dense layer and some of the other layers
    with the most weights (folded convolutions, later dense layers: at least 1 KB, two
    block RAMs): each a dict of their schedules, a layer on ``k`` SPRAMs reading a word of
    ``2k`` weights per cycle, one group per pass."""
    first = planner.dense[0]
    sprams = planner.available["sprams"]
    others = sorted((l for l in planner.convs + planner.dense[1:]
                     if math.prod(l.weight_shape) >= 1024),
                    key=lambda l: -math.prod(l.weight_shape))[:SPRAM_CANDIDATES]
    for count in range(1, min(len(others), sprams - 1) + 1):
        for chosen in itertools.combinations(others, count):
            for split in _allocations([first, *chosen], sprams):
                if sum(split) != sprams:
                    continue
                layers = [first, *chosen]
                # a convolution's weight word multiplies one position, or two
                for positions in itertools.product(*[
                        (1, 2) if l.kind == "conv2d" and l.out_shape[1] > 1 else (1,)
                        for l in layers]):
                    yield {l.name: _spram_schedule(l, 2 * k, p)
                           for l, k, p in zip(layers, split, positions)}


def _spram_schedule(layer, lanes, positions=1):
    """A schedule reading a word of ``lanes`` weights (or one per output, if fewer) from the
    SPRAMs per cycle, one group per pass, for ``positions`` output positions."""
    size = layer.out_channels if layer.kind == "conv2d" else layer.out_features
    return DenseSchedule(lanes=min(lanes, size), groups_per_pass=1, spram=True,
                         positions=positions)


def _search(planner, base, tunable, dsps):
    """The best schedules of ``tunable`` (folded convolutions, then later dense layers, in
    order) with ``dsps`` DSPs to share, beside ``base``: ``(schedules, key)`` or ``(None,
    None)``. A convolution may get no DSP: it stays parallel."""
    best, best_key = None, None

    def consider(chosen):
        nonlocal best, best_key
        chosen = {k: v for k, v in chosen.items() if v is not None}
        key = _wide_key(planner, chosen)
        if best_key is None or key < best_key:
            best, best_key = chosen, key

    is_conv = [l.kind == "conv2d" for l in tunable]
    for allocation in _allocations(tunable, dsps, [0 if c else 1 for c in is_conv]):
        options = [(_conv_candidates if c else _candidates)(layer, d)
                   for layer, d, c in zip(tunable, allocation, is_conv)]
        if not all(options):
            continue
        if math.prod(map(len, options)) <= EXHAUSTIVE:
            for combination in itertools.product(*options):
                consider({**base, **{l.name: s for l, s in zip(tunable, combination)}})
            continue
        for smallest in (False, True):
            chosen = dict(base)
            for layer, choices in zip(tunable, options):
                index = planner.layers.index(layer)

                def key(schedule):
                    trial = {k: v for k, v in {**chosen, layer.name: schedule}.items()
                             if v is not None}
                    rows, times, _, busy = planner.layer_stage(index, trial)
                    return (rows[0].logic_cells, busy, times[-1]) if smallest else \
                        (busy, times[-1], rows[0].logic_cells)
                chosen[layer.name] = min(choices, key=key)
            consider(chosen)
    return best, best_key


def plan(layers, *, board=BOARD, params=None, schedules=None):
    """Plan ``layers`` (layer configs, in order) on ``board``; return a :class:`Plan`.

    Parameters
    ----------
    layers : sequence of q8.contract layer configs
        ``Network.layers``, or ``q8.arch.configs(entries)`` before any weights exist.
    board : str or a ``platforms`` board
    params : dict, optional
        ``Network.params``. Without them the convolutions' adders are estimated for typical
        trained weights (:data:`ASSUMED_WEIGHT_STD`).
    schedules : dict of hw.stages.network.DenseSchedule, optional
        Schedules to plan with. By default the plan chooses them: the first dense layer reads
        a 64-bit SPRAM word (8 weights) per cycle, one group per pass; each later one gets
        the schedule, up to ``hw.stages.network.default_schedule``'s lanes, with which the network
        fits the DSPs and the other resources with the fewest cycles back to back, then
        logic cells, then cycles one at a time.

    Raises
    ------
    platforms.UnknownBoardError
    ValueError
        Layers that the gateware does not build (no dense layer last, an input with more
        than one channel, a schedule that does not divide a layer).
    """
    board = get_board(board) if isinstance(board, str) else board
    layers = tuple(layers)
    if not layers or not kinds.network_kind(layers[-1].kind).logits:
        raise ValueError("a network's last layer must be a dense layer (its logits)")
    if input_shape(layers)[2] not in (1, 3):
        raise ValueError(f"the input must have one channel (grey) or three (RGB), not "
                         f"{input_shape(layers)[2]}")
    planner = Planner(layers, board, params)
    if schedules is None:
        chosen = _queued(planner, choose(planner))
    else:
        base = _choose_wide(planner) if not planner.family.weights_from_flash else \
            {planner.dense[0].name: first_dense_schedule(planner.dense[0])} if \
            planner.dense else {}
        chosen = {**base, **schedules}
        for layer in planner.convs + planner.dense:
            s = chosen.get(layer.name)
            if s is None:   # a convolution left parallel
                continue
            check_schedule(dense_view(layer) if layer in planner.convs else layer,
                           lanes=s.lanes, groups_per_pass=s.groups_per_pass,
                           logic_lanes=s.logic_lanes)
            if s.positions != 1 and layer not in planner.convs:
                raise ValueError(f"{layer.name}: a dense layer computes one position, not "
                                 f"positions={s.positions}")
            if s.logic_lanes and not planner.family.logic_lanes:
                raise ValueError(f"{layer.name}: the {planner.family.name} plan multiplies "
                                 f"in DSPs only, not logic_lanes={s.logic_lanes}")
    stages, latency, interval = planner.stages(chosen)
    used = planner.totals(stages)
    return Plan(board=board.name, stages=stages, schedules=chosen, used=used,
                available=dict(planner.available), latency=latency, interval=interval,
                problems=problems(planner, used, params, replan=_replan, stages=stages),
                estimated_weights=params is None,
                floors=floors(stages, dsps=planner.available["dsps"],
                              lanes_per_dsp=planner.family.lanes_per_dsp,
                              pixels=planner.pixels,
                              spram_weights_per_cycle=SPRAMWeightStore.LANES))




def _queued(planner, schedules):
    """``schedules`` with a queue before each folded convolution after the first layer
    (``hw.stages.queue.QueueStage``), in order, where the chip has the block RAMs (and the
    rest) for it: of one image, or else the shortest (a power of two: its memory's entries)
    that ``hw.stages.conv.queue_keeps_pace`` finds keeps the plan's times. Without, such a
    convolution's pauses stall the engine before it, which the plan's times (each stage at
    its own pace) do not count."""
    chosen = dict(schedules)
    for layer in planner.convs:
        if layer is planner.layers[0] or chosen.get(layer.name) is None:
            continue
        image = math.prod(layer.in_shape)   # transfers at most (a code each)
        for queue in (True, *(1 << b for b in range(4, max(4, (image - 1).bit_length())))):
            trial = {**chosen, layer.name: chosen[layer.name].replace(queue=queue)}
            try:
                used = planner.totals(planner.stages(trial)[0])
            except QueueTooShort:
                continue
            if all(used[k] <= planner.available[k] for k in RESOURCES):
                chosen = trial
                break
            if queue is not True:   # a longer one takes more
                break
    return chosen


def _replan(layers, board, params):
    """The resources that ``layers`` use on ``board`` with the schedules :func:`choose`
    picks (the misfit diagnosis' trial of a smaller layer)."""
    planner = Planner(layers, board, params)
    return planner.totals(planner.stages(choose(planner, fold=False))[0])


def built_schedules(net, *, board=BOARD):
    """The dense layers' schedules that ``hw.build`` builds ``net`` with on ``board``: the
    plan's. The simulators build the same gateware with them, so that what they check is what
    the bitstream holds."""
    return plan(net.layers, board=board, params=net.params).schedules
