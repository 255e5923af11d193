"""Boards, by name: each module of this package that defines ``BOARD`` is one board, and one
that defines ``BOARDS`` (a list) is a family of boards (``platforms.ulx3s``: one per chip size).

A new board is one new file: a class like ``platforms.icebreaker.ICEBreaker`` (its Amaranth
platform, its FPGA ``family``, its clock and the design clock and UART rate built for by
default, its resources and how the design's ports meet its pins) and ``BOARD = ThatClass()``.
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
        family = list(getattr(module, "BOARDS", ()))
        if getattr(module, "BOARD", None) is not None:
            family.append(module.BOARD)
        for board in family:
            found[board.name] = board
    return found


def get_board(name):
    known = boards()
    if name not in known:
        raise UnknownBoardError(f"unknown board {name!r}; the boards are: {', '.join(sorted(known))}")
    return known[name]
