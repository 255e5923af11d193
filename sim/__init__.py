"""The model side's plain-Python half: the arithmetic contract, the weights file, the integer
reference, the MNIST loader and the evaluation CLI. No Keras and no Amaranth are needed here."""
