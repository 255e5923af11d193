"""The board top as it is built for a board: one construction for ``hw.build`` (the bitstream)
and the compiled simulations of the board (``sim.board_host``), so that what is simulated is
what is built."""

from platforms.families import family_of
from hw.board.defaults import IMAGE_TIMEOUT_S
from hw.board.flash_image import TESTS_OFFSETS
from hw.board.self_test import board_test_images
from hw.board.top import BoardTop
from hw.board.uart import divisor_of

__all__ = ["board_top"]


def board_top(net, *, board, schedules, interval, clock_hz=None, baud=None, data=None,
              **overrides):
    """The :class:`~hw.board.top.BoardTop` of ``net`` for ``board`` (a ``platforms`` board)
    with ``schedules`` (its fit plan's): the UART's divisor at ``baud`` and ``clock_hz`` (the
    board's unless given), the image timeout, the weights from flash or in block RAM as the
    board's family has them, as many self-test images of ``data`` (a ``q8.dataset.Dataset``;
    ``None``: MNIST) as its flash holds (at its family's offset) if the network keeps the
    flash's pace (``interval``: its plan's cycles an image back to back). ``overrides``
    replaces any of these (a simulation's shorter timeout)."""
    clock_hz = board.default_clock_hz if clock_hz is None else clock_hz
    baud = board.default_baud if baud is None else baud
    fields = {"divisor": divisor_of(baud, clock_hz),
              "timeout_cycles": round(clock_hz * IMAGE_TIMEOUT_S),
              "test_images": board_test_images(board, net, data, interval=interval),
              "tests_offset": TESTS_OFFSETS[board.family],
              "weights_in_flash": family_of(board).weights_from_flash}
    return BoardTop(net, schedules=schedules, **{**fields, **overrides})
