"""``python -m hw.build``: the bitstream and the flash weights image for a board.

Synthesis (Yosys), place and route (nextpnr) and packing (icepack for the iCE40 boards,
ecppack for the ECP5 ones) come from the YoWASP packages installed with this project, or from
the system with ``--toolchain system``. The design is checked against the board's resources
and against the design clock: on the iCE40 twice, by nextpnr and by icetime, whose UP5K model
includes the DSP delays that nextpnr leaves out; on the ECP5 by nextpnr, its only timing model
(the report says so). Place and route is repeated with other seeds until one meets the clock
(``--seed``, ``--tries``). The design clock and the UART rate are the board's unless
``--clock-mhz`` and ``--baud`` say otherwise.

icetime is the one tool that PyPI does not have (Debian/Ubuntu: ``apt-get install
fpga-icestorm``). Without it an iCE40 build checks timing with nextpnr alone and says so in
its summary and its report; ``--require-icetime`` makes it a failure instead.

The arguments and the network are checked before any long work: a bad argument, or a
network that the fit check (``hw.fit``) finds too large for the board, ends the build at once
with exit status 2 and a line naming the problem and the fix (for a misfit, the resource and
the largest size that fits). The design is built with the fit plan's schedules. Exit status 1:
a tool failed or is missing, or the synthesised design does not fit (checked after synthesis,
before place and route) or misses its clock. ``--synth-only`` stops after synthesis, with the
resources packed by nextpnr in the report (about a minute). Writes into the build directory:

``top.bin`` (iCE40) or ``top.bit`` (ECP5)
    the bitstream (flash offset 0);
``weights.bin``
    iCE40 boards: the weights image (``hw.board.flash_image``), for flash offset
    ``FLASH_OFFSET`` (1 MiB); the ECP5 boards' weights are all in the bitstream;
``tests.bin``
    MNIST's test images and labels for the board's self-test (``python -m host
    --self-test``), for the board's family's flash offset ``TESTS_OFFSETS`` (2 MiB on the
    iCE40 boards, 4 MiB on the ECP5 ones, after the bitstream): all 10,000, or as many
    as the board's flash holds, when MNIST is on this machine and the network can run a
    self-test (28x28 images, at least 9 classes);
``report.json``
    resources used and available, design clock, nextpnr and icetime fmax (``null`` without
    icetime, with the reason in ``icetime``; ``null`` on the ECP5, with ``timing_model``
    saying why), ``timing_checked_by``, ``timing_met``, build seconds, the seeds tried, the
    flash image's offset and size (``null`` on the ECP5); beside them the fit plan's estimate
    (``estimated_logic_cells``, ``plan``: its resources, schedules and cycles per image).

``--program`` writes the flash: with iceprog (iCEBreaker), icesprog (iCESugar, MuseLab's tool
for its iCELink) or openFPGALoader (ULX3S).
"""

import json
import math
import numbers
import os
import re
import tempfile
import time


from hw.board.pins import BoardDesign, check_clock
from hw.board.defaults import IMAGE_TIMEOUT_S
from hw.board.flash_image import FLASH_OFFSET
from hw.board.protocol import classify_request, frame_bytes
from hw.board.built import board_top
from hw.board.self_test import test_image
from hw.board.uart import divisor_of
from q8 import mnist
from hw.fit import FitError, plan as fit_plan
from hw.lib.params import check_count
from hw.build.report import estimate
from hw.build.script import NEXTPNR_OPTIONS, PHASES, Script, packed, tool_environment
from hw.build.toolchain import ToolError
from hw.build.timing import (ICETIME_MISSING, NEXTPNR_ONLY, SEED_TRIES, find_icetime,
                             place_and_route)
from platforms.families import UnknownFamilyError, family_of

# FitError is hw.fit's, imported here for the callers of hw.build
__all__ = ["BoardDesign", "FitError", "ICETIME_MISSING", "HOST_TIMEOUT_S", "NEXTPNR_ONLY",
           "SEED_TRIES", "ABC9_ASSERTION", "ABC9_RETRY", "build", "check_inputs", "check_timeout",
           "main", "min_baud", "retry_script"]


def main(argv=None):
    """``python -m hw.build`` (:func:`hw.build.cli.main`)."""
    from hw.build.cli import main
    return main(argv)

#: Seconds the host waits for an answer (``hw.board.link.SerialBoard``'s ``timeout``): the
#: request and the answer must both cross the UART within it, which sets the slowest rate.
HOST_TIMEOUT_S = 1.0

#: Bits on the line per byte: a start bit, 8 data bits, a stop bit.
_BITS_PER_BYTE = 10



def min_baud(net):
    """The slowest UART rate at which the host gets its answers: a classify request (the
    command byte and the pixels) and the answer must cross the line within
    :data:`HOST_TIMEOUT_S`, and a byte within the board's image timeout (``IMAGE_TIMEOUT_S``)."""
    request = len(classify_request(bytes(net.pixels), seq=1))
    answer = frame_bytes(net.classes)
    return max(math.ceil(_BITS_PER_BYTE * (request + answer) / HOST_TIMEOUT_S),
               math.ceil(_BITS_PER_BYTE / IMAGE_TIMEOUT_S))


def _unwritable(folder):
    """Why this user cannot write into ``folder`` (an existing folder), or None."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as e:
        return e.strerror or str(e)


def _family(board):
    try:
        return family_of(board)
    except UnknownFamilyError as e:
        raise ValueError(f"the {board.name}: {e}") from None


def check_inputs(*, board, net, build_dir, clock_hz, baud, tries, require_icetime=False):
    """Raise ``ValueError`` naming the command-line option, the problem and the fix if the
    build cannot be made as asked; create ``build_dir`` if missing. Cheap: :func:`build`
    calls it before any long work."""
    _check_arguments(board=board, net=net, clock_hz=clock_hz, baud=baud, tries=tries,
                     require_icetime=require_icetime)
    if os.path.exists(build_dir) and not os.path.isdir(build_dir):
        raise ValueError(f"--build-dir {build_dir} is a file, not a folder: name a folder "
                         f"(default build/<board>)")
    try:
        os.makedirs(build_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--build-dir {build_dir} cannot be created ({e.strerror or e}): name "
                         f"a folder this user may write (default build/<board>)") from None
    why = _unwritable(build_dir)
    if why:
        raise ValueError(f"--build-dir {build_dir} is not writable ({why}): name a folder "
                         f"this user may write (default build/<board>)")


def check_timeout(seconds):
    """Raise ``ValueError`` unless ``seconds`` is a place-and-route time limit (``--pnr-timeout``):
    a positive, finite number."""
    if not isinstance(seconds, numbers.Real) or isinstance(seconds, bool) or \
            not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"--pnr-timeout must be a positive number of seconds, not {seconds!r}")


def _check_arguments(*, board, net, clock_hz, baud, tries, require_icetime):
    """:func:`check_inputs` but for the build folder: nothing is written."""
    check_count("--tries", tries)
    family = _family(board)
    if require_icetime and family.timing_tool != "icetime":
        raise ValueError(f"--require-icetime: icetime models the iCE40 alone, and the "
                         f"{board.name} is an {board.family.upper()}; its timing is checked by "
                         f"nextpnr")
    default_mhz, default_baud = board.default_clock_hz / 1e6, board.default_baud
    if not isinstance(clock_hz, int) or clock_hz <= 0:
        raise ValueError(f"--clock-mhz must be a positive clock frequency, not {clock_hz!r} "
                         f"Hz; the default is {default_mhz:g}")
    if clock_hz != board.oscillator_hz:
        try:
            check_clock(board, clock_hz)
        except ValueError as e:
            raise ValueError(f"--clock-mhz {clock_hz / 1e6:g}: the {board.name}'s PLL cannot "
                             f"make it: {e}") from None
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise ValueError(f"--baud must be a positive bit rate, not {baud!r}; the default is "
                         f"{default_baud}")
    slowest = min_baud(net)
    if baud < slowest:
        raise ValueError(f"--baud {baud} is too slow for the protocol: a request and its "
                         f"answer must cross the UART within the host's {HOST_TIMEOUT_S:g} s "
                         f"wait, which needs at least {slowest} baud; use a faster rate "
                         f"(the default is {default_baud})")
    try:
        divisor_of(baud, clock_hz)
    except ValueError as e:
        raise ValueError(f"--baud: {e}") from None


def _write_flash_files(top, build_dir, *, in_flash, data, progress):
    """Write ``weights.bin`` (with weights in flash) and ``tests.bin`` (the self-test's images:
    ``data``'s, or MNIST's if it is here, if ``top`` has a self-test) into ``build_dir``, after removing any left
    from another build; return the weights image (None without weights in flash)."""
    image = top.flash_image() if in_flash else None
    for name in ("weights.bin", "tests.bin", "top.bin", "top.bit"):
        if os.path.exists(os.path.join(build_dir, name)):  # none left from another build
            os.remove(os.path.join(build_dir, name))
    if image is not None:
        with open(os.path.join(build_dir, "weights.bin"), "wb") as f:
            f.write(image)
    if top.test_images:
        try:
            tests = test_image(top.test_images, data)
        except mnist.MnistError as e:
            progress(f"tests.bin not written, so `--program` writes no self-test images: {e}")
        else:
            with open(os.path.join(build_dir, "tests.bin"), "wb") as f:
                f.write(tests)
    return image


#: What Yosys' ABC9 prints when it fails its own assertion on some designs (a Yosys bug,
#: seen with synth_ecp5 on the ECP5 board tops of LeNet-5 and of the shipped network for the
#: ULX3S-12F).
ABC9_ASSERTION = "Assert `GetSize(conn.first) == GetSize(conn.second)' failed"

#: The synthesis option of the second try after that assertion: ABC9 mapping the flip-flops
#: with the logic (``synth_lattice``'s ``-dff``), which takes the design another way through
#: the pass that fails. (Yosys 0.70 takes ``-noabc9`` and ignores it: ABC9 runs regardless.)
ABC9_RETRY = "-dff"


def retry_script(ys):
    """The Yosys script ``ys`` with :data:`ABC9_RETRY` on its ``synth_*`` command."""
    script, count = re.subn(r"synth_(\w+) ", rf"synth_\1 {ABC9_RETRY} ", ys, count=1)
    if not count:
        raise ToolError("the build's Yosys script has no synth_* command to retry with "
                        f"{ABC9_RETRY}")
    return script


def _synthesise(script, build_dir, progress):
    """Run Yosys; where its ABC9 fails that assertion, again with :data:`ABC9_RETRY` (the
    same logic, mapped another way), said in the report. Other failures are raised with the
    end of Yosys' own log (``top.rpt``: the script runs it quietly)."""
    def rpt_tail():
        path = os.path.join(build_dir, "top.rpt")
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return "".join(f.readlines()[-5:])

    try:
        script.run("YOSYS")
        return {}
    except ToolError as e:
        tail = rpt_tail()
        if ABC9_ASSERTION not in tail:
            raise ToolError(f"{e}\nthe end of {build_dir}/top.rpt:\n{tail}") from None
    progress("  Yosys' ABC9 failed its own assertion (a Yosys bug); synthesising again with "
             f"{ABC9_RETRY}")
    path = os.path.join(build_dir, "top.ys")
    with open(path) as f:
        ys = f.read()
    with open(path, "w") as f:
        f.write(retry_script(ys))
    try:
        script.run("YOSYS")
    except ToolError as e:
        raise ToolError(f"{e}\nthe end of {build_dir}/top.rpt:\n{rpt_tail()}") from None
    return {"synthesis": f"{ABC9_RETRY} (Yosys' ABC9 failed its own assertion on this design)"}


def build(*, board, net, build_dir, clock_hz=None, baud=None, toolchain="yowasp",
          first_seed=1, tries=SEED_TRIES, require_icetime=False, plan=None, synth_only=False,
          data=None, pnr_timeout_s=None, progress=print):
    """Build the bitstream and the weights image; return the report (a dict).

    Places and routes with seeds ``first_seed``, ``first_seed + 1``, ... until one meets
    ``clock_hz`` (the board's ``default_clock_hz`` if None; ``baud``: its ``default_baud``)
    in nextpnr and, on the iCE40, in icetime, at most ``tries``; the report says which.
    Without icetime on ``PATH``, nextpnr alone decides (the report's ``icetime`` says why),
    unless ``require_icetime``; on the ECP5 nextpnr alone decides (``timing_model`` says
    why). With ``synth_only``, stops after synthesis and packing: the report has the
    resources, no timing, and there is no bitstream.

    Each place and route stops unfinished after ``pnr_timeout_s`` seconds (by default the
    family's ``pnr_timeout_s``) and the next seed is tried.

    ``plan`` is the network's fit plan (``hw.fit.plan``); by default it is made here. The
    design is built with its schedules. ``data`` (a ``q8.dataset.Dataset``; ``None``: MNIST)
    holds the self-test's images (``tests.bin``), and the design is built for their count.

    Raises
    ------
    ValueError
        A bad argument (:func:`check_inputs`), before any long work.
    FitError
        The network does not fit (the plan, before any long work), or the synthesised design
        does not (before place and route).
    ToolError
        A tool is missing (icetime with ``require_icetime``, checked first) or failed.
    """
    clock_hz = board.default_clock_hz if clock_hz is None else clock_hz
    baud = board.default_baud if baud is None else baud
    family = _family(board)
    pnr_timeout_s = family.pnr_timeout_s if pnr_timeout_s is None else pnr_timeout_s
    check_timeout(pnr_timeout_s)
    if plan is None:
        plan = fit_plan(net.layers, board=board, params=net.params)
    plan.check()
    check_inputs(board=board, net=net, build_dir=build_dir, clock_hz=clock_hz, baud=baud,
                 tries=tries, require_icetime=require_icetime)
    icetime = find_icetime(board, synth_only=synth_only, require_icetime=require_icetime,
                            progress=progress)
    start = time.time()
    in_flash = family.weights_from_flash
    top = board_top(net, board=board, schedules=plan.schedules, interval=plan.interval,
                    clock_hz=clock_hz, baud=baud, data=data)
    image = _write_flash_files(top, build_dir, in_flash=in_flash, data=data, progress=progress)

    platform = board.platform()
    design = BoardDesign(board, top, clock_hz=clock_hz)
    progress(f"elaborating the design for {board.description} at {clock_hz / 1e6:g} MHz")
    # the seed is a shell variable of the script, so that each try sets its own
    platform.prepare(design, name="top", synth_opts=family.synth_options,
                     nextpnr_opts=NEXTPNR_OPTIONS).extract(build_dir)
    script = Script("build_top.sh", family=family, cwd=build_dir,
                     env=tool_environment(toolchain, family),
                     log_path=os.path.join(build_dir, "build.log"))
    progress(f"  {PHASES['YOSYS']} ... ({time.time() - start:.0f} s)")
    synthesis = _synthesise(script, build_dir, progress)

    # Packed into the device's cells (a second): the resources, checked before place and route
    progress(f"  {PHASES['PACK']} ... ({time.time() - start:.0f} s)")
    script.run("PACK", NEXTPNR_OPTIONS="--pack-only --report report_pack.json")
    _, used_packed = packed(build_dir, "report_pack.json", family)
    plan_figures = estimate(plan)
    over = [f"{used_packed.get(k, 0):,} {k.replace('_', ' ')} (the fit plan estimated "
            f"{plan.used[k]:,}); the {board.name} has {v:,}"
            for k, v in board.resources.items() if used_packed.get(k, 0) > v]
    if over or synth_only:
        report = {"board": board.name, "design_clock_mhz": clock_hz / 1e6, "baud": baud,
                  "synth_only": True,
                  "resources": {k: {"used": used_packed.get(k, 0), "available": v}
                                for k, v in board.resources.items()},
                  **plan_figures, "build_seconds": round(time.time() - start, 1),
                  "toolchain": toolchain}
        with open(os.path.join(build_dir, "report.json"), "w") as f:
            json.dump(report, f, indent=1)
        if over:
            raise FitError("after synthesis the design needs " + "; and ".join(over) +
                           f" (see {build_dir}/report.json)")
        return report

    seed, nextpnr, fmax, icetime_mhz, tried = place_and_route(
        script, board=board, family=family, build_dir=build_dir, clock_hz=clock_hz,
        icetime=icetime, seeds=range(first_seed, first_seed + tries), start=start,
        timeout_s=pnr_timeout_s, progress=progress)
    progress(f"  {PHASES[family.pack]} ... ({time.time() - start:.0f} s)")
    script.run(family.pack)

    used = {family.cells[k]: v["used"] for k, v in nextpnr["utilization"].items()
            if k in family.cells}
    report = {
        "board": board.name, "design_clock_mhz": clock_hz / 1e6, "baud": baud,
        "resources": {k: {"used": used.get(k, 0), "available": v}
                      for k, v in board.resources.items()},
        "nextpnr_fmax_mhz": round(fmax / 1e6, 2), "icetime_fmax_mhz": icetime_mhz,
        "bitstream": family.bitstream,
        "flash_weights_offset": FLASH_OFFSET if image else None,
        "flash_weights_bytes": len(image) if image else None,
        "build_seconds": round(time.time() - start, 1),
        "toolchain": toolchain, "seed": seed, "seeds_tried": tried,
        "pnr_timeout_s": pnr_timeout_s, **synthesis,
        "timing_checked_by": ["nextpnr", "icetime"] if icetime else ["nextpnr"],
        **plan_figures,
    }
    if family.timing_tool is None:
        report["timing_model"] = NEXTPNR_ONLY
    elif not icetime:
        report["icetime"] = ICETIME_MISSING
    report["timing_met"] = fmax >= clock_hz and (icetime_mhz is None or
                                                 icetime_mhz * 1e6 >= clock_hz)
    with open(os.path.join(build_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report


