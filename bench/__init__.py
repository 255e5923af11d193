"""Measurements of the network and its gateware against the iCE40UP5K's limits.

``python -m bench`` (``bench/__main__.py``) runs them all and writes ``bench/results.json``,
``bench/results.md`` and the README's Benchmark section. ``bench.limits`` computes the limits
from the network, ``bench.table`` writes the table; ``bench/cycles.py`` and
``bench/user_recipe.py`` are measurements of their own, which the bench runs.
"""
