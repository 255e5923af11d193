"""Boards, by name: each module of this package that defines ``BOARD`` is one board.

A new board is one new file: a class like ``platforms.icebreaker.ICEBreaker`` (its Amaranth
platform, its clock, its resources and how the design's ports meet its pins) and
``BOARD = ThatClass()``.
"""

import importlib
import pkgutil

__all__ = ["UnknownBoardError", "boards", "get_board"]


class UnknownBoardError(ValueError):
    """An unknown board name."""


def boards():
    """``{name: board}`` for every board module in this package."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        board = getattr(module, "BOARD", None)
        if board is not None:
            found[board.name] = board
    return found


def get_board(name):
    known = boards()
    if name not in known:
        raise UnknownBoardError(f"unknown board {name!r}; the boards are: {', '.join(sorted(known))}")
    return known[name]
