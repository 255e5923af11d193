"""The fit check: whether a network fits a board, with which schedules, at what cost.

:func:`plan` reads a network's layer configs (``q8.weights.Network.layers``, or
``q8.arch.configs(...)`` before any weights exist) and returns a :class:`Plan`: per stage the
multiply-accumulates, the weights and where they live, the DSPs, the block RAMs (each memory
as Yosys maps it), an estimate of the logic cells, and the cycles per image of the schedules
it chose, against the board's totals (``platforms/``). A network that does not fit is refused
with the resource it overflows and the largest size that would fit.

``python -m hw.fit --board icebreaker (--weights F | --arch SPEC | --from MODEL) [--json]``
prints the plan; ``python -m hw.build`` runs it before any long work and builds with its
schedules. How each number is had: ``docs/gateware.md``, "The fit check".

Inside, by job: :mod:`hw.fit.plan` (the data: :class:`Plan`, :class:`Stage`, their text and
JSON), :mod:`hw.fit.costs` (the family's and synthesis' part of the costs: block RAM mapping,
the logic model's coefficients), :mod:`hw.fit.search` (the stages' costs and times read from
each layer kind's published model, ``hw.stages.registry``, and the schedules' search),
:mod:`hw.fit.diagnose` (a misfit's sentence and the largest size that fits) and
:mod:`hw.fit.cli`. The FPGA families' tables are ``platforms.families``.
"""

from platforms.families import FAMILIES, Family, family_of
from hw.fit.costs import LOGIC_MODEL, LOGIC_MODELS, memory_brams
from hw.fit.plan import FitError, Plan, Stage, schedule_json
from hw.fit.search import built_schedules, plan
from hw.fit.cli import ARCHITECTURES_GROUP, main

__all__ = ["FitError", "Family", "FAMILIES", "family_of", "Plan", "Stage", "plan",
           "built_schedules", "memory_brams", "schedule_json", "LOGIC_MODEL", "LOGIC_MODELS",
           "ARCHITECTURES_GROUP", "main"]
