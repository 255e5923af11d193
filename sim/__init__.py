"""The simulators: the gateware in Amaranth's simulator (``pysim``, ``streams``; ``board``: the
board top with a simulated flash and UART), compiled to native code with Yosys' CXXRTL
(``rtl``), and the evaluation and description CLIs (``evaluate``, ``backends``, ``describe``).
"""
