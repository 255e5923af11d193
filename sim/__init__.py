"""The model side and the simulations: the arithmetic contract, the weights file, the integer
reference, the MNIST loader and the evaluation CLI (plain numpy: no Keras, no Amaranth), and
the harnesses that run the gateware: in Amaranth's simulator (``pysim``, ``streams``,
``board``) and compiled to native code with Yosys' CXXRTL (``rtl``).
"""
