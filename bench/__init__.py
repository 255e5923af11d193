"""Measurements of the network and its gateware against the iCE40UP5K's limits.

``python -m bench`` (``bench/__main__.py``, the command line) runs them all and writes
``bench/results.json``, ``bench/results.md`` and the README's Benchmark section. By job:

- ``bench.steps`` runs the measurements (the project's own commands) and returns their JSON;
- ``bench.limits`` computes the limits from the network and the board's resources;
- ``bench.rows`` turns the measurements and the limits into the table's rows and prose;
- ``bench.meta`` states the run: date, commit, tool versions;
- ``bench.table`` formats rows as text, Markdown and JSON; ``bench.writers`` writes the files.

``bench.cycles`` and ``bench.user_recipe`` are measurements of their own, which the bench runs.
"""

import os

__all__ = ["ROOT", "BUILD_DIR"]

#: The repository's root: the bench runs every command from there.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Relative to :data:`ROOT`: the bench's builds (YoWASP Yosys cannot read /tmp; build/ is
#: ignored by git).
BUILD_DIR = os.path.join("build", "bench")
