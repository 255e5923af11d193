"""Place and route seed after seed until one meets the clock, checked by nextpnr and, on the
iCE40, by icetime (whose UP5K model has the DSPs' delays)."""

import json
import os
import re
import shutil
import subprocess
import time

from hw.build.script import PHASES
from hw.build.toolchain import ToolError
from platforms.families import family_of

__all__ = ["SEED_TRIES", "ICETIME_MISSING", "NEXTPNR_ONLY", "find_icetime", "icetime_mhz_of",
           "place_and_route"]

#: Place-and-route seeds tried at most. Each seed places the design differently and so
#: reaches a different fmax: the build keeps the first that meets the clock.
SEED_TRIES = 12

#: What the report and the summary say when icetime is not on ``PATH``.
ICETIME_MISSING = ("not installed (apt-get install fpga-icestorm): timing checked by nextpnr "
                   "alone, which leaves out the DSPs' worst-case delays")

#: What the report of an ECP5 build says of its timing (``timing_model``).
NEXTPNR_ONLY = ("nextpnr-ecp5's timing model (Project Trellis' delays for the speed grade) is "
                "the ECP5's only one: icetime models the iCE40 alone")


def icetime_mhz_of(icetime, board, build_dir, clock_hz):
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




def find_icetime(board, *, synth_only, require_icetime, progress):
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



def place_and_route(script, *, board, family, build_dir, clock_hz, icetime, seeds, start,
                     timeout_s, progress):
    """Place and route with each of ``seeds`` in turn until one meets ``clock_hz`` in nextpnr
    and in icetime (when there is one); keep the best placement's files. Returns ``(seed,
    nextpnr's report, nextpnr fmax in Hz, icetime fmax in MHz or None, seeds tried)``. Each
    run stops unfinished after ``timeout_s`` seconds."""
    # Place and route with seed after seed until one meets the clock in nextpnr and in
    # icetime (a placement's timing varies with the seed); if none does, the best is kept
    # and reported.
    best, tried = None, []
    for seed in seeds:
        tried.append(seed)
        progress(f"  {PHASES[family.pnr]}, seed {seed} ... ({time.time() - start:.0f} s)")
        if not script.run(family.pnr, timeout=timeout_s,
                          NEXTPNR_OPTIONS=f"--seed {seed} --report report_nextpnr.json"):
            # a run can be stuck in the router, or slow: a large design, a busy machine
            progress(f"    seed {seed}: stopped unfinished after {timeout_s:g} s (stuck, or "
                     f"slow: --pnr-timeout sets the limit)")
            continue
        with open(os.path.join(build_dir, "report_nextpnr.json")) as f:
            nextpnr = json.load(f)
        fmax = min(v["achieved"] for v in nextpnr["fmax"].values()) * 1e6
        if icetime:
            icetime_mhz = icetime_mhz_of(icetime, board, build_dir, clock_hz)
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
        raise ToolError(f"place and route did not finish within {timeout_s:g} s with any of "
                        f"seeds {seeds[0]} to {seeds[-1]}; try other seeds (--seed, --tries) "
                        f"or a longer limit (--pnr-timeout)")
    _, seed, nextpnr, fmax, icetime_mhz = best
    for name in family.placed:
        os.replace(os.path.join(build_dir, name + ".best"), os.path.join(build_dir, name))
    return seed, nextpnr, fmax, icetime_mhz, tried
