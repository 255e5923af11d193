"""1BitSquared iCEBreaker: Lattice iCE40UP5K-SG48, 12 MHz oscillator, FT2232H (UART on its
second channel), 16 MB SPI flash (W25Q128), red and green LEDs."""

from amaranth_boards.icebreaker import ICEBreakerPlatform

from ._common import UP5KBoard

__all__ = ["ICEBreaker", "BOARD"]


class ICEBreaker(UP5KBoard):
    name = "icebreaker"
    description = "1BitSquared iCEBreaker (iCE40UP5K-SG48)"
    #: What ``hw.build`` builds for unless told: 48 MHz from the PLL, and the FT2232H's
    #: 3 Mbaud (16 cycles a bit).
    default_clock_hz = 48_000_000
    default_baud = 3_000_000
    #: The SPI flash (W25Q128): the bitstream, the weights at 1 MiB, the self-test's images
    #: at 2 MiB.
    flash_bytes = 16 << 20
    #: What ``hw.build --program`` writes the flash with.
    programmer = "iceprog"

    def platform(self):
        return ICEBreakerPlatform()


BOARD = ICEBreaker()
