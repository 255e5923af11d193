"""What a layer kind's gateware module publishes (:class:`GatewareKind`), and the cost records
its model hands the fit planner (``hw.fit``): plain data, with no chip's numbers in them.

A kind's module (``hw/stages/conv.py``, ``pool.py``, ``dense.py``) makes the stages of a layer
of its kind and, beside that code, says what they cost and when their outputs leave:

- the stages: ``make_stages(layer, *, params, in_width, schedule)`` returns ``(stages,
  out_width)``, the ``wiring.Component`` s that ``hw.stages.network.NetworkPipeline`` connects
  in order, and the codes per output transfer of the last;
- the model: ``estimate(layer, times, *, weight, in_width, schedule, external_weights,
  family)`` returns a :class:`StageEstimate` for the same stages: their logic-cell terms, their
  memories, their multipliers in DSPs, and the time of each output transfer given the times of
  the input transfers (cycles, from the stages' registers).

Each stage class publishes its register latency as a class attribute (``Conv2DStage.LATENCY``,
as ``hw.vendor.ice40.MultiplierPair.LATENCY``), which the model reads and the tests check in
simulation. The planner turns memories into block RAMs by the chip family's shapes and the
terms into logic cells by its fitted coefficients (``hw.fit.LOGIC_MODEL``): those are facts of
the chip and of synthesis, not of a stage.
"""

import dataclasses

__all__ = ["MemoryCost", "StageCost", "StageEstimate", "GatewareKind"]


@dataclasses.dataclass(frozen=True)
class MemoryCost:
    """One ``Memory`` a stage instantiates.

    Members
    -------
    what : str
        What it holds (``"line buffer"``), as the plan names it.
    width, depth : int
        Bits per entry, entries.
    rom : bool
        Initialised and never written (weights): Yosys may keep it in LUTs.
    block : bool
        The memory asks for block RAM (``ram_style``).
    """

    what: str
    width: int
    depth: int
    rom: bool = False
    block: bool = False


@dataclasses.dataclass(frozen=True)
class StageCost:
    """What one stage costs as built.

    Members
    -------
    name, kind : str
        The stage's name (the layer's, or ``"<layer> skid"``) and kind (the layer's kind, or
        ``"skid"``, ``"argmax"``).
    terms : dict
        Logic-cell terms by name (keys of ``hw.fit.LOGIC_MODEL``) and their amounts (bits,
        lanes, or 1 for a stage's fixed part).
    memories : tuple of MemoryCost
    dsp_lanes : int
        Products made by the vendor's multipliers (``hw.vendor``); the family says how many a
        DSP makes.
    weights : str or None
        Where the weights are: ``"constants"`` (in logic), ``"external"`` (a port to a store
        outside the stage), ``"memory"`` (its memory named ``"weights"``), or None (it has none).
    digits : int
        Nonzero canonical signed digits of constant weights (their adders' terms).
    """

    name: str
    kind: str
    terms: dict
    memories: tuple = ()
    dsp_lanes: int = 0
    weights: str = None
    digits: int = 0


@dataclasses.dataclass(frozen=True)
class StageEstimate:
    """A kind's model of the stages it makes for one layer.

    Members
    -------
    cost : StageCost
        The layer's own stage.
    after : tuple of StageCost
        Stages made after it for the same layer (a convolution's skid buffer).
    times : list of int
        The cycle of each output transfer of the last stage, for one image, the consumer
        always ready.
    width : int
        Codes per output transfer of the last stage.
    busy : int
        Cycles per image the stage is busy back to back, where that can exceed one per input
        transfer (a dense stage's multiplies); else 0.
    """

    cost: StageCost
    after: tuple
    times: list
    width: int
    busy: int = 0


@dataclasses.dataclass(frozen=True)
class GatewareKind:
    """A layer kind's entry in the gateware registry (``hw.stages.registry.KINDS``).

    Members
    -------
    kind : str
        The layer config's ``kind``.
    make_stages : callable
        ``(layer, *, params, in_width, schedule) -> (stages, out_width)``; ``params`` is the
        layer's ``{"weight", "bias"}`` (None without), ``schedule`` its
        ``hw.stages.network.DenseSchedule`` for a folded kind (else None).
    estimate : callable
        ``(layer, times, *, weight, in_width, schedule, external_weights, family) ->
        StageEstimate``; ``weight`` the layer's weight codes when :attr:`cost_reads_weights`
        (else None), ``family`` the chip family's name (``"ice40"``, ``"ecp5"``).
    folded : bool
        The layer is always folded by a ``DenseSchedule`` that the planner chooses.
    foldable : bool
        The kind has a folded engine beside its parallel one: built folded when the layer has
        a ``DenseSchedule`` (``make_stages`` is given it), in parallel otherwise.
    cost_reads_weights : bool
        Its cost depends on the weights' values (constants in logic).
    size : str or None
        The config field of its output size that the planner may cut to fit (``out_channels``,
        ``out_features``), the same key in the layer's manifest entry; None: not resizable.
    size_noun : str
        What that size counts (``"filters"``, ``"units"``), for the plan's sentences.
    """

    kind: str
    make_stages: object
    estimate: object
    folded: bool = False
    foldable: bool = False
    cost_reads_weights: bool = False
    size: str = None
    size_noun: str = ""
