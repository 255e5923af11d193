"""The gateware: the network's streaming stages (one ``wiring.Component`` per layer), the
network builder, the iCE40 primitive helpers with their simulation fallbacks, and the ports
and layouts they share. Built from :mod:`q8` (the weights manifest and the contract) and
nothing above it.

Two modules of this package belong to the build layer, above the board: :mod:`hw.build`
(``python -m hw.build``) and :mod:`hw.build.toolchain`.
"""
