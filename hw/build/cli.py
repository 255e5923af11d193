"""``python -m hw.build``'s command line (the options: ``hw.build``'s docstring)."""

import argparse
import math
import os

import hw.build
from hw.board.defaults import BOARD
from hw.build import build, _check_arguments
from hw.build.program import program
from hw.build.report import slower_clock_hint, summary
from hw.build.timing import SEED_TRIES
from hw.build.toolchain import ToolError
from hw.fit import FitError, plan as fit_plan
from hw.stages.network import NetworkError
from platforms import UnknownBoardError, boards, get_board
from q8 import dataset
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load

__all__ = ["main"]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m hw.build", description=hw.build.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", default=BOARD,
                   help=f"the board (one of: {', '.join(sorted(boards()))}; default "
                        f"%(default)s)")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="weights file (.npz)")
    p.add_argument("--data", metavar="FILE.npz",
                   help="the data set whose test images the self-test runs (tests.bin; "
                        "default MNIST's; docs/datasets.md)")
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
    p.add_argument("--pnr-timeout", type=float, default=None, metavar="SECONDS",
                   help="stop a place and route unfinished after this long and try the next "
                        "seed (default: the family's, 240 s on the iCE40, 600 s on the ECP5; "
                        "a large design on a busy machine may need longer)")
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
        data = None
        if args.data is not None:
            data = dataset.load(args.data)
            dataset.check_network(net, data, args.weights)
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
                       synth_only=args.synth_only, data=data,
                       pnr_timeout_s=args.pnr_timeout)
        print(summary(report))
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
                            f"not met{slower_clock_hint(report, board, baud)}")
        if failures:
            raise FitError("; ".join(failures))
        if args.program:
            program(board, build_dir, print)
            print("programmed: the green LED blinks while the weights load, then stays on"
                  if report["flash_weights_bytes"] else
                  "programmed: the ready LED lights once the FPGA has loaded its bitstream")
    except ValueError as e:
        p.exit(2, f"error: {e}\n")
    except (ToolError, FitError) as e:
        p.exit(1, f"error: {e}\n")
