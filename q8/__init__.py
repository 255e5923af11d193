"""The arithmetic model, the bottom layer: the contract (formats, rounding, one frozen config
per layer), the weights file, the bit-exact integer reference and the MNIST loader.

Plain numpy: it imports no other package of this project, and every other package reads it.
"""
