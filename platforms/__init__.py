"""Board definitions: one module per board, registered by name for ``python -m hw.build``."""
