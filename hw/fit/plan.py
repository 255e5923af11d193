"""The fit plan's data: a :class:`Plan` of :class:`Stage` rows, its text and JSON, and the
:class:`FitError` a plan that does not fit raises."""

import dataclasses

from hw.fit.costs import LOGIC_MODELS, memory_brams
from hw.stages.network import DenseSchedule

__all__ = ["FitError", "Stage", "Plan", "RESOURCES", "CROWDED", "RESOURCE_NAMES", "schedule_json"]


class FitError(RuntimeError):
    """A network that does not fit the board (the fit plan's verdict, before any build), or a
    built design that does not fit or does not meet its clock (``hw.build``)."""


#: Above this part of the logic cells, placement and routing rarely meet the clock: the
#: schedules are then chosen for the fewest logic cells rather than the fewest cycles, and
#: the plan says so.
CROWDED = 0.92



@dataclasses.dataclass
class Stage:
    """One row of a :class:`Plan`: a layer's stage, a skid buffer, or the board's own logic.

    Members
    -------
    name, kind : str
    shape : str
        The output shape (``26x26x2``, ``128``).
    macs : int
        Multiply-accumulates per image.
    weights : int
        Weight codes (bytes).
    store : str
        Where the weights live: ``"logic"`` (constants: shifts and adds, or a small ROM in
        LUTs), ``"SPRAM"`` (loaded from flash), ``"block RAM"`` (initialised by the
        bitstream), or ``""``.
    digits : int
        Nonzero canonical signed digits of a convolution's weights (its adders' terms).
    schedule : hw.stages.network.DenseSchedule or None
    dsps, brams, sprams : int
    memories : list of (str, int, int, int)
        ``(what, width, depth, block RAMs)``; 0 block RAMs: Yosys keeps it in logic.
    logic_cells : int
        Estimated: the family's logic model (``hw.fit.costs.LOGIC_MODELS``) times
        :attr:`terms`.
    terms : dict
        The amounts of the model's terms.
    """

    name: str
    kind: str
    shape: str = ""
    macs: int = 0
    weights: int = 0
    store: str = ""
    digits: int = 0
    schedule: DenseSchedule = None
    dsps: int = 0
    brams: int = 0
    sprams: int = 0
    memories: list = dataclasses.field(default_factory=list)
    logic_cells: int = 0
    terms: dict = dataclasses.field(default_factory=dict)
    #: The words of its SPRAM store (a layer whose weights are in SPRAM), else 0.
    spram_words: int = 0

    def memory(self, what, width, depth, *, family, rom=False, block=False):
        brams = memory_brams(width, depth, rom=rom, block=block, family=family)
        self.memories.append((what, width, depth, brams))
        self.brams += brams
        if not brams:
            key = "rom_bit" if rom else "ram_bit"
            self.terms[key] = self.terms.get(key, 0) + width * depth

    def estimate(self, family):
        model = LOGIC_MODELS[family.name]
        self.logic_cells = round(sum(model[k] * v for k, v in self.terms.items()))

    def to_json(self):
        d = dataclasses.asdict(self)
        d["schedule"] = None if self.schedule is None else schedule_json(self.schedule)
        d["memories"] = [dict(zip(("what", "width", "depth", "block_rams"), m))
                         for m in self.memories]
        return d


RESOURCES = ("logic_cells", "block_rams", "sprams", "dsps")


def schedule_json(schedule):
    """A dense schedule as a JSON object (the plan's, the build report's)."""
    return {"lanes": schedule.lanes, "groups_per_pass": schedule.groups_per_pass,
            "logic_lanes": schedule.logic_lanes,
            "registered_weights": schedule.registered_weights, "spram": schedule.spram,
            "positions": schedule.positions, "queue": schedule.queue}
RESOURCE_NAMES = {"logic_cells": "logic cells", "block_rams": "block RAMs",
                   "sprams": "SPRAMs", "dsps": "DSPs"}

FLOOR_NAMES = {"dsps": "DSPs (MACs / products a cycle)",
               "sprams": "SPRAM reads (their weights / 8 a cycle)", "pixels": "pixels in"}


def floors(stages, *, dsps, lanes_per_dsp, pixels, spram_weights_per_cycle=8):
    """The chip's floors for a network, in cycles per image: every multiply-accumulate on
    every DSP (``dsps x lanes_per_dsp`` products a cycle); the weights of its SPRAM layers
    read at the SPRAMs' ``spram_weights_per_cycle`` (a folded convolution's word feeds two
    positions at most; none without SPRAM layers); a pixel a cycle in."""
    macs = sum(s.macs for s in stages)
    found = {"dsps": -(-macs // (dsps * lanes_per_dsp))} if dsps else {}
    reads = sum(s.macs // (2 if s.kind == "conv2d" else 1) for s in stages
                if s.store == "SPRAM")
    if reads:
        found["sprams"] = -(-reads // spram_weights_per_cycle)
    found["pixels"] = pixels
    return found


@dataclasses.dataclass
class Plan:
    """What :func:`plan` found.

    Members
    -------
    board : str
    stages : list of Stage
        The pipeline's stages in order (skid buffers included), the argmax, the board's own
        logic.
    schedules : dict of hw.stages.network.DenseSchedule
        By dense layer name: what ``hw.build`` builds with.
    used, available : dict
        By resource: ``logic_cells`` (estimated), ``block_rams``, ``sprams``, ``dsps``.
    latency, interval : int
        Cycles per image: first pixel in to class out, one image at a time; and between
        results, back to back.
    problems : list of str
        Why it does not fit, each naming the resource and the largest size that would fit.
    estimated_weights : bool
        The convolutions' weights were assumed (an architecture), not read.
    floors : dict
        The chip's floors for the network, in cycles per image (:func:`floors`).
    """

    board: str
    stages: list
    schedules: dict
    used: dict
    available: dict
    latency: int
    interval: int
    problems: list
    estimated_weights: bool
    floors: dict = dataclasses.field(default_factory=dict)

    @property
    def fits(self):
        return not self.problems

    @property
    def message(self):
        """The problems as one line (empty if it fits)."""
        return "; ".join(self.problems)

    def check(self):
        """Raise :class:`FitError` with :attr:`message` unless the network fits."""
        if self.problems:
            raise FitError(self.message)

    def to_json(self):
        return {
            "board": self.board, "fits": self.fits, "problems": list(self.problems),
            "resources": {k: {"used": self.used[k], "available": self.available[k]}
                          for k in RESOURCES},
            "estimated_logic_cells": self.used["logic_cells"],
            "cycles": {"latency": self.latency, "interval": self.interval},
            "schedules": {k: schedule_json(s) for k, s in self.schedules.items()},
            "estimated_weights": self.estimated_weights,
            "floors": dict(self.floors),
            "stages": [s.to_json() for s in self.stages],
        }

    def format(self):
        """The plan as a text table."""
        rows = [("stage", "output", "MACs/image", "weights", "schedule", "DSPs", "BRAMs",
                 "logic cells")]
        for s in self.stages:
            weights = f"{s.weights:,} B in {s.store}" if s.weights else ""
            if s.digits:
                weights += f" ({s.digits:,} digits)"
            schedule = ""
            if s.schedule is not None:
                lanes, per = s.schedule.lanes, s.schedule.groups_per_pass
                passes = -(-int(s.shape.split("x")[-1]) // lanes) // per
                schedule = f"{lanes} lane{'s' * (lanes > 1)}" + \
                    (" x 2 positions" if s.schedule.positions == 2 else "") + \
                    f", {passes} pass" + ("es" if passes > 1 else "")
                if s.schedule.logic_lanes:
                    schedule += f" ({s.schedule.logic_lanes} in logic)"
            rows.append((s.name, s.shape, f"{s.macs:,}" if s.macs else "", weights, schedule,
                         str(s.dsps or ""), str(s.brams or ""), f"~{s.logic_cells:,}"))
        used, avail = self.used, self.available
        rows.append(("total", "", f"{sum(s.macs for s in self.stages):,}",
                     f"SPRAMs {used['sprams']}/{avail['sprams']}", "",
                     f"{used['dsps']}/{avail['dsps']}",
                     f"{used['block_rams']}/{avail['block_rams']}",
                     f"~{used['logic_cells']:,}/{avail['logic_cells']:,}"))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        right = {2, 5, 6, 7}
        lines = ["  ".join(v.rjust(w) if c in right else v.ljust(w)
                           for c, (v, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
        lines.append(f"cycles per image: {self.latency:,} one at a time (first pixel in to "
                     f"class out), {self.interval:,} back to back")
        if self.floors:
            lines.append("the chip's floors: " + ", ".join(
                f"{FLOOR_NAMES[k]} {v:,} ({self.interval / v:.2f}x)"
                for k, v in self.floors.items()))
        if self.estimated_weights and any(s.kind == "conv2d" for s in self.stages):
            lines.append("the convolutions' weights are not known yet: their logic cells "
                         "assume typical trained weights")
        if self.fits and used["logic_cells"] > CROWDED * avail["logic_cells"]:
            lines.append(f"more than {CROWDED:.0%} of the logic cells: placement and routing "
                         f"may not meet the clock (hw.build tries several seeds)")
        lines.append(f"{self.board}: " + ("fits" if self.fits else
                                          "does not fit: " + self.message))
        return "\n".join(lines)
