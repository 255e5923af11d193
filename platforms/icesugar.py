"""MuseLab iCESugar (v1.5): Lattice iCE40UP5K-SG48 (the iCEBreaker's chip), a 12 MHz clock from
its iCELink, 8 MB SPI flash (W25Q64), an RGB LED; the iCELink (an STM32F1 with DAPLink-style
firmware) is its USB-UART bridge and its programmer."""

from amaranth_boards.icesugar import ICESugarPlatform

from ._common import UP5KBoard

__all__ = ["ICESugar", "BOARD"]


class ICESugar(UP5KBoard):
    """Its pins as amaranth-boards names them: the UART through the iCELink, the SPI flash,
    the RGB LED's green (ready) and red (error); the 12 MHz clock on PLL pad 35, as on the
    iCEBreaker."""

    name = "icesugar"
    description = "MuseLab iCESugar (iCE40UP5K-SG48)"
    #: 42 MHz = 12 MHz * 56 / 16 from the PLL, not the iCEBreaker's 48: with this board's
    #: pins the shipped network met 48 MHz in nextpnr but at best 47.6 MHz in icetime (12
    #: place-and-route seeds, 39.8 to 47.6), and the UART, not the clock, sets the images a
    #: second here.
    default_clock_hz = 42_000_000
    #: The iCELink's UART is a USB CDC port bridged by the STM32F1's USART with no flow
    #: control, a byte per interrupt into 512-byte buffers (DAPLink's stm32f103xb/uart.c; the
    #: iCELink's own firmware is not published). MuseLab's examples run it at 115,200 baud,
    #: and DAPLink-style bridges are reported to lose bytes above 230,400
    #: (makerdiary/pitaya-link#2). 115,200 divides no clock the UP5K's PLL makes from 12 MHz,
    #: so 200,000: 210 cycles a bit at 42 MHz, and exact in the STM32's fractional baud
    #: generator (36 or 72 MHz / 16 / 200,000 = 11.25 or 22.5). About 25 images a second.
    default_baud = 200_000
    #: The SPI flash (W25Q64): the bitstream, the weights at 1 MiB, the self-test's images at
    #: 2 MiB (8,014 of MNIST's test images fit, not all 10,000).
    flash_bytes = 8 << 20
    #: What ``hw.build --program`` writes the flash with: MuseLab's ``icesprog`` (through the
    #: iCELink; openFPGALoader 1.1 knows no iCESugar).
    programmer = "icesprog"

    def platform(self):
        return ICESugarPlatform()


BOARD = ICESugar()
