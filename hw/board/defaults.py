"""The defaults that the board, the build, the simulations and the tools share, stated once."""

from platforms import get_board

__all__ = ["BOARD", "CLOCK_HZ", "BAUD", "IMAGE_TIMEOUT_S", "SELF_TEST_IMAGES"]

#: The board ``python -m hw.build`` builds for when none is named (a module of ``platforms``).
BOARD = "icebreaker"

#: The default board's design clock: what ``hw.build`` builds for (and checks in nextpnr and
#: icetime) and what the simulations take a cycle to be, unless a board is named.
CLOCK_HZ = get_board(BOARD).default_clock_hz

#: The default board's UART rate.
BAUD = get_board(BOARD).default_baud

#: An image whose next byte takes longer than this is cut short: the board answers TIMEOUT.
IMAGE_TIMEOUT_S = 0.05

#: The self-test's images in flash: MNIST's test set (``hw.board.flash_image.make_test_image``).
SELF_TEST_IMAGES = 10_000
