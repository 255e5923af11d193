"""``python -m bench.boards``: the networks on every family of board, side by side.

Run from the repository's root. For each network and board of :data:`CASES` it runs the
project's documented commands and reads their JSON:

1. ``python -m sim.evaluate --backend rtl --board B --weights W --json``: the gateware built
   for board B (its fit plan's schedules), compiled with CXXRTL, on every test image;
2. for the cases that ask for it, ``... --backend netlist --board B``: the
   netlist synthesised as ``hw.build`` synthesises it for B's family, simulated with the
   family's cell models;
3. for the cases that ask for it, ``python -m bench.cycles --board B --weights W --images
   3``: cycles per image one at a time and back to back, in Amaranth's simulator (the others'
   back to back pace is the compiled RTL's, step 1's ``back_to_back``: Amaranth's simulator
   takes too long over the folded networks' hundred thousand cycles an image);
4. ``python -m hw.build --board B --weights W --build-dir build/bench/boards/<case>``: the
   bitstream and its report (resources, fmax, timing met);

and, for a network other than the shipped one, ``--backend keras`` (the Keras QAT model
against the integer reference). The iCEBreaker's row is read from ``bench/results.json``
(``python -m bench``). Then it computes each chip's limits (``bench/limits.py``) and writes
``bench/boards.json``, ``bench/boards.md`` and the README's boards table (between its
``<!-- begin boards`` and ``<!-- end boards -->`` lines).

``--case C`` (repeatable) measures those cases only and puts their rows into the files beside
the others' last measurements (each row keeps its run's date and commit); with
``--build-only`` it builds them again only (new build options), keeping their simulations'
results from ``bench/boards.json``; ``--limit`` writes nothing.

Exit status: 0 when the files are written, 1 when a step failed, 2 for bad options.
"""

import argparse
import json
import os
import sys
import time

from hw.fit import plan as fit_plan
from platforms import get_board
from q8.weights import DEFAULT_WEIGHTS, load
from . import ROOT, limits
from .meta import run_meta
from .steps import BenchError, Runner
from .table import SectionError, replace_section
from .writers import write_section

__all__ = ["CASES", "main"]

#: What is measured: ``(case, weights, board, full, netlist)``; ``full``: the RTL too (and,
#: for the cases of :data:`PYSIM_CYCLES`, Amaranth's simulator's cycles), not only the build;
#: ``netlist``: how many test images the synthesised netlist takes too (0: none; ``None``:
#: every one). The shipped network's ULX3S netlist, what that board is built with, on every
#: image: an hour on 2 cores.
CASES = (
    ("shipped-ulx3s-25f", DEFAULT_WEIGHTS, "ulx3s-25f", True, None),
    ("conv4-ulx3s-25f", "weights/mnist_q8_conv4.npz", "ulx3s-25f", True, 0),
    ("shipped-ulx3s-85f", DEFAULT_WEIGHTS, "ulx3s-85f", True, 0),
    ("shipped-ulx3s-12f", DEFAULT_WEIGHTS, "ulx3s-12f", True, 0),
    ("shipped-ulx3s-45f", DEFAULT_WEIGHTS, "ulx3s-45f", True, 0),
    ("shipped-icesugar", DEFAULT_WEIGHTS, "icesugar", False, 0),
    ("lenet5-icebreaker", "weights/lenet5_q8.npz", "icebreaker", True, 0),
    ("lenet5-ulx3s-85f", "weights/lenet5_q8.npz", "ulx3s-85f", True, 0),
    ("keras-convnet-icebreaker", "weights/keras_convnet_q8.npz", "icebreaker", True, 0),
    ("keras-convnet-ulx3s-85f", "weights/keras_convnet_q8.npz", "ulx3s-85f", True, 0),
    ("lenet5-same-ulx3s-85f", "weights/lenet5_same_q8.npz", "ulx3s-85f", True, 0),
)

#: The full cases whose cycles Amaranth's simulator counts too (``bench.cycles``).
PYSIM_CYCLES = ("shipped-ulx3s-25f", "conv4-ulx3s-25f")

#: Build options beyond the board's defaults, by case: the second network fills 70 % of the
#: 25F and meets 105 MHz at some placements only; 90 MHz is the next clock the PLL makes that
#: 3 Mbaud divides. LeNet-5 and the keras.io convnet on the UP5K do not meet 48 MHz
#: (weights/README.md): the fastest clock below that they met, at some placements only:
#: from the seed that met it. The shipped network on the 85F: its router did not
#: finish at seed 1 within the family's time limit; seed 2 routes. LeNet-5 on the 85F with
#: its first convolution parallel missed 105 MHz at seeds 1 to 3 (94.3, 91.3, 86.5 MHz by
#: nextpnr): 90 MHz, which 3 Mbaud divides. LeNet-5 as usually
#: written on the 85F: seed 1 did not route in time, seed 2 placed and routed it just short
#: of 105 MHz (weights/README.md), so 90 MHz. The keras.io convnet on the 85F: 85.4 MHz at
#: best when both its convolutions were folded; 90 MHz is enough for 4,000 images a second.
#: Its place and route did not finish within the ECP5's 600 s at seeds 1 and 2 while the
#: machine's other core ran the test suite: a longer limit. Seed 3 reached 85.9 MHz; the
#: PLL makes no multiple of 3 MHz between that and the 76 MHz 4,000 images a second need, so
#: 80 MHz with the UART at 2 Mbaud.
BUILD_OPTIONS = {"conv4-ulx3s-25f": ["--clock-mhz", "90"],
                 "lenet5-ulx3s-85f": ["--clock-mhz", "90", "--tries", "3"],
                 "shipped-ulx3s-85f": ["--seed", "2", "--tries", "3"],
                 "lenet5-icebreaker": ["--clock-mhz", "45", "--seed", "6", "--tries", "3"],
                 "keras-convnet-icebreaker": ["--clock-mhz", "42", "--seed", "6", "--tries", "3"],
                 "lenet5-same-ulx3s-85f": ["--clock-mhz", "90", "--seed", "2", "--tries", "3"],
                 "keras-convnet-ulx3s-85f": ["--clock-mhz", "80", "--baud", "2000000",
                                             "--seed", "3", "--tries", "2",
                                             "--pnr-timeout", "1800"]}

BUILD_ROOT = os.path.join("build", "bench", "boards")
RESULTS = os.path.join(ROOT, "bench", "boards.json")
TABLE = os.path.join(ROOT, "bench", "boards.md")


def _measure(runner, case, weights, board, full, netlist, limit):
    found = {"weights": weights, "board": board}
    images = ["--limit", str(limit)] if limit else []
    common = ["--board", board, "--weights", weights, "--json"]
    if full:
        if weights != DEFAULT_WEIGHTS:
            found["keras"], _ = runner.run(
                f"{case}: keras", ["-m", "sim.evaluate", "--backend", "keras",
                                   "--weights", weights, "--json", *images],
                fix=f"rerun `python -m sim.evaluate --backend keras --weights {weights} "
                    f"--limit 10`")
        found["rtl"], _ = runner.run(
            f"{case}: rtl", ["-m", "sim.evaluate", "--backend", "rtl", *common, *images],
            fix=f"rerun `python -m sim.evaluate --backend rtl --board {board} --weights "
                f"{weights} --limit 10`")
    if netlist != 0:
        count = min(filter(None, (netlist, limit)), default=None)
        found["netlist"], _ = runner.run(
            f"{case}: netlist", ["-m", "sim.evaluate", "--backend", "netlist", *common,
                                 *(["--limit", str(count)] if count else [])],
            fix=f"rerun `python -m sim.evaluate --backend netlist --board {board} --weights "
                f"{weights} --limit 2`")
    if full and case in PYSIM_CYCLES:
        found["cycles"], _ = runner.run(
            f"{case}: cycles", ["-m", "bench.cycles", "--board", board, "--weights", weights,
                                "--images", "3"],
            fix=f"rerun `python -m bench.cycles --board {board} --weights {weights} "
                f"--images 2`")
    found["build"] = _build(runner, case, weights, board)
    return found


def _build(runner, case, weights, board):
    """Case ``case``'s ``hw.build`` and its report."""
    build_dir = os.path.join(BUILD_ROOT, case)
    report = os.path.join(ROOT, build_dir, "report.json")
    if os.path.exists(report):
        os.remove(report)
    _, code = runner.run(f"{case}: build", ["-m", "hw.build", "--board", board, "--weights",
                                            weights, "--build-dir", build_dir,
                                            *BUILD_OPTIONS.get(case, [])],
                         expect_json=False, check=False, fix="")
    if not os.path.exists(report):
        raise BenchError(f"step '{case}: build' failed (exit {code}) and wrote no report; "
                         f"see {build_dir}/build.log")
    with open(report) as f:
        return json.load(f)


def _rebuild(p, cases, argv):
    """``--build-only``: the cases' builds again, their other measurements (and those
    measurements' run facts, as ``measured_in``) from :data:`RESULTS`."""
    start = time.time()
    previous = _merged({})
    runner = Runner(total=len(cases))
    measured = {}
    try:
        for case, weights, board, _, _ in cases:
            if case not in previous:
                raise BenchError(f"{case} has no measurements in {RESULTS} to keep: run "
                                 f"`python -m bench.boards --case {case}` first")
            kept = dict(previous[case])
            kept["measured_in"] = kept.pop("meta", None)
            kept["build"] = _build(runner, case, weights, board)
            measured[case] = kept
    except BenchError as e:
        p.exit(1, f"error: {e}\n")
    return _write(p, measured, run_meta(sys.argv[1:] if argv is None else argv,
                                        seconds=time.time() - start), runner, partial=True)


def _limits(net, board):
    """The chip's limits on ``net``, in cycles per image: the fit plan's floors (every
    multiply-accumulate on the DSPs' products, the SPRAM layers' weight reads, a pixel a
    cycle in) and, without SPRAMs, every weight read from the block RAMs."""
    found = fit_plan(net.layers, board=board, params=net.params).floors
    names = {"dsps": "DSPs alone (every multiply-accumulate on them)",
             "sprams": "SPRAM weight reads",
             "pixels": "a pixel a cycle in"}
    floors = {names[k]: v for k, v in found.items()}
    r = get_board(board).resources
    if not r["sprams"]:
        floors["block-RAM reads (all of them, 36 bits each)"] = \
            limits.block_ram_floor(net, brams=r["block_rams"])
    return floors


def _rows(measured):
    """The table's rows: one per case, and the iCEBreaker's from ``bench/results.json``."""
    rows = []
    with open(os.path.join(ROOT, "bench", "results.json")) as f:
        up5k = json.load(f)
    steps = up5k.get("steps", {})
    cycles = steps.get("cycles", {}).get("throughput_cycles_per_image", [None])[-1]
    build = steps.get("build", {})
    evaluated = steps.get("evaluate", {})
    rows.append({"case": "shipped-icebreaker", "board": "icebreaker",
                 "weights": DEFAULT_WEIGHTS, "cycles": cycles, "build": build,
                 "rtl": evaluated.get("rtl"), "netlist": evaluated.get("board-netlist"),
                 "source": "bench/results.json (python -m bench)"})
    for case, found in measured.items():
        paced = (found.get("rtl") or {}).get("back_to_back", {}).get("cycles_per_image")
        rows.append({"case": case, **found, "source": "python -m bench.boards",
                     "cycles": (found.get("cycles") or {}).get(
                         "throughput_cycles_per_image", [paced])[-1]})
    return rows


def _merged(measured, *, path=RESULTS):
    """The cases of ``path`` (the last full or partial run) with ``measured``'s in their
    place, in :data:`CASES` order; each case keeps its run's ``meta``."""
    cases = {}
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        for case, found in previous.get("cases", {}).items():
            cases[case] = {"meta": previous.get("meta"), **found}
    cases.update(measured)
    order = [c[0] for c in CASES]
    return {c: cases[c] for c in sorted(cases, key=lambda c: order.index(c)
                                         if c in order else len(order))}


def _markdown(rows, meta):
    lines = ["| network | board (chip) | weights held in | clock (fmax) | cycles/image back to "
             "back | images/s on chip | logic cells | block RAMs | DSPs | timing | bit-exact "
             "(logit vectors) | program with |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---|---|---|"]
    notes = []
    for row in rows:
        b = row["build"]
        board = get_board(row["board"])
        net = load(row["weights"])
        res = b.get("resources", {})
        clock = b.get("design_clock_mhz")
        cycles = row["cycles"]
        rate = f"{clock * 1e6 / cycles:,.0f}" if clock and cycles else "-"
        checks = []
        for key, what in (("keras", "Keras"), ("rtl", "RTL"), ("netlist", "netlist")):
            e = row.get(key)
            if e:
                checks.append(f"{what} {e['logits_agree_with_reference']:,}/{e['images']:,}")
        fmax = f"nextpnr {b.get('nextpnr_fmax_mhz')}"
        if b.get("icetime_fmax_mhz"):
            fmax += f", icetime {b['icetime_fmax_mhz']}"
        held = "block RAM (bitstream)" if not board.resources["sprams"] else \
            "SPRAM (from flash) + block RAM"
        cell = lambda k: f"{res[k]['used']:,}/{res[k]['available']:,}" if k in res else "-"
        lines.append(
            f"| {os.path.basename(row['weights'])} | {board.name} ({board.description}) | "
            f"{held} | {clock:g} MHz ({fmax}) | {f'{cycles:,}' if cycles else '-'} | "
            f"{rate} | {cell('logic_cells')} | {cell('block_rams')} | {cell('dsps')} | "
            f"{'met' if b.get('timing_met') else 'NOT met'} | {', '.join(checks) or '-'} | "
            f"`hw.build --program` ({board.programmer}) |")
        if cycles:
            floors = ", ".join(f"{name}: {value:,}" for name, value in
                               _limits(net, row["board"]).items())
            notes.append(f"- {os.path.basename(row['weights'])} on {board.name}: "
                         f"{cycles:,} cycles per image; the chip's limits (cycles per image): "
                         f"{floors}.")
    return "\n".join(lines + [""] + notes) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.boards", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=None,
                   help="simulate the first N test images only (a quick check: nothing is "
                        "written)")
    p.add_argument("--case", action="append", choices=[c[0] for c in CASES],
                   help="measure only these cases (repeatable; their rows replace theirs in "
                        "the files, the others' stay)")
    p.add_argument("--build-only", action="store_true",
                   help="with --case: build again only (new build options), keeping the "
                        "cases' simulations as bench/boards.json has them")
    args = p.parse_args(argv)
    if args.limit is not None and not 1 <= args.limit <= 10000:
        p.error(f"--limit must be between 1 and 10000, not {args.limit}")
    if args.build_only and (not args.case or args.limit):
        p.error("--build-only needs --case (and no --limit)")
    cases = [c for c in CASES if not args.case or c[0] in args.case]
    if args.build_only:
        return _rebuild(p, cases, argv)
    start = time.time()
    steps = sum(1 + (netlist != 0) + (1 + (c in PYSIM_CYCLES) + (w != DEFAULT_WEIGHTS) if full
                                  else 0)
                for c, w, _, full, netlist in cases)
    runner = Runner(total=steps)
    measured = {}
    try:
        for case, weights, board, full, netlist in cases:
            measured[case] = _measure(runner, case, weights, board, full, netlist, args.limit)
    except BenchError as e:
        p.exit(1, f"error: {e}\n")
    meta = run_meta(sys.argv[1:] if argv is None else argv, seconds=time.time() - start)
    if args.limit:
        print(_markdown(_rows(measured), meta))
        print("a quick run (--limit): nothing written")
        return 0
    return _write(p, measured, meta, runner, partial=bool(args.case))


def _write(p, measured, meta, runner, *, partial):
    """Stamp ``measured`` with ``meta``; write the files (``partial``: beside the other
    cases' last rows)."""
    for found in measured.values():
        found["meta"] = meta
    if partial:   # the other cases' rows as last measured
        measured = _merged(measured)
    table = _markdown(_rows(measured), meta)
    print(table)
    with open(RESULTS, "w") as f:
        json.dump({"meta": meta, "cases": measured, "seconds": runner.seconds}, f, indent=1)
    with open(TABLE, "w") as f:
        f.write(f"# The boards, side by side\n\nGenerated by `python -m bench.boards` "
                f"(last run {meta.get('date', '')}, {meta['total_seconds']:.0f} s; each "
                f"case's own run, date and commit in `bench/boards.json`); the shipped "
                f"network's iCEBreaker row from `python -m bench` (`bench/results.md`)."
                f"\n\n{table}")
    try:
        write_section(os.path.join(ROOT, "README.md"), table, name="boards")
    except SectionError as e:
        p.exit(1, f"error: {e}\n")
    print(f"wrote bench/boards.json, bench/boards.md and README.md in "
          f"{meta['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
