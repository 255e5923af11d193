"""Quantization-aware training of the user's network in Keras 3 (JAX backend on the CPU)."""
