"""The board: the top that runs on the FPGA (weights loaded from flash, the UART protocol), its
parts (UART, protocol codec, flash image and loader, image buffer) and the host's side of the
protocol (``hw.board.link``). The boards' pins and clocks are in ``platforms``.

Built on the gateware of :mod:`hw` and the model of :mod:`q8`.
"""
