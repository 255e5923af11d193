"""The network's streaming stages (one ``wiring.Component`` per layer kind), the skid buffer,
the argmax, and the pipeline built from a weights manifest (:mod:`hw.stages.network`).
Above the vendor primitives, below the board top."""
