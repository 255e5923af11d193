"""The vendor primitives (iCE40: SB_MAC16, SB_SPRAM256KA, SB_PLL40; ECP5: MULT18X18D,
EHXPLLL), each behind one helper with a plain fallback for simulation. Above :mod:`hw.lib`,
below the stages."""
