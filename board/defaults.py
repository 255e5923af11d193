"""The defaults that the board, the build, the simulations and the tools share, stated once."""

__all__ = ["BOARD", "CLOCK_HZ", "BAUD", "IMAGE_TIMEOUT_S", "SELF_TEST_IMAGES"]

#: The board ``python -m hw.build`` builds for when none is named (a module of ``platforms``).
BOARD = "icebreaker"

#: The design clock: what ``hw.build`` builds for (and checks in nextpnr and icetime) and what
#: the simulations take a cycle to be. An iCE40 PLL makes it exactly from 12 MHz.
CLOCK_HZ = 48_000_000

#: The UART's rate: the FT2232H's 3 Mbaud, 16 clock cycles per bit at :data:`CLOCK_HZ`.
BAUD = 3_000_000

#: An image whose next byte takes longer than this is cut short: the board answers TIMEOUT.
IMAGE_TIMEOUT_S = 0.05

#: The self-test's images in flash: MNIST's test set (``board.flash_image.make_test_image``).
SELF_TEST_IMAGES = 10_000
