"""Amaranth gateware for the network (the streaming stages and the board top) and the build CLI.

The stages are built from the weights manifest read by :mod:`q8.weights`, following the
arithmetic contract of :mod:`q8.contract`.
"""
