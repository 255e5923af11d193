"""What every part of the hardware shares, at the bottom of :mod:`hw`: parameter checks,
stream layouts, ports, the contract's requantisation and multiplication in logic, synthesis
hints. Imports the model (:mod:`q8`) and nothing else of the project."""
