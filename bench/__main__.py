"""``python -m bench``: the network and its gateware measured against the iCE40UP5K's limits.

Run from the repository's root. Each measurement is a command of the project, run as it is
documented, whose JSON the bench reads (``bench/steps.py``):

1. accuracy on the MNIST test images: ``python -m sim.evaluate --backend reference --json``
   and ``--backend keras``;
2. the float and post-training-quantization baselines: with ``--train``, a new training run
   (``python -m bench.user_recipe``, then ``python -m train --out build/bench/train/...``,
   about 3 minutes); without, the numbers recorded when the shipped weights were trained
   (their manifest's provenance; ``weights/README.md`` for the user's recipe), marked
   "recorded, not re-measured";
3. the gateware compiled with CXXRTL: ``python -m sim.evaluate --backend rtl --json``, its
   cache (``build/rtl/network``) cleared first so that its time includes the compilation;
4. cycles per image in Amaranth's simulator, one image at a time and back to back:
   ``python -m bench.cycles``;
5. the board top compiled with its simulated flash and UART: ``python -m sim.evaluate
   --backend board-rtl --json`` (every test image over the UART at bit timing), ``--backend
   board-netlist --limit 20`` (the synthesised netlist), and ``python -m sim.fuzz --sessions
   10000 --json`` (random traffic and flash faults);
6. the bitstream: ``python -m hw.build --board icebreaker --build-dir build/bench``
   (``--skip-build`` reuses its ``report.json``).

Then it computes the limits from the network (``bench/limits.py``), the rates at the design
clock, at the fmax and over the UART (``bench/rows.py``), prints the table and writes
``bench/results.json``, ``bench/results.md`` and the README's Benchmark section (between their
``<!-- begin bench`` and ``<!-- end bench -->`` lines; ``bench/writers.py``). A run with
``--limit`` is a quick check: its table goes to ``build/bench/results.json`` and
``build/bench/results.md``, and the committed results stay.

Exit status: 0 when the files are written, 1 when a step failed, 2 for bad options.
"""

import argparse
import sys
import time

from hw.board.defaults import BOARD
from platforms import get_board
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load
from . import BUILD_DIR
from .meta import run_meta
from .rows import TITLES, make_rows
from .steps import CYCLE_IMAGES, BenchError, Runner, measure, step_count
from .table import SectionError, text_table
from .writers import write_results


def parser():
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-build", action="store_true",
                   help=f"reuse {BUILD_DIR}/report.json rather than build the bitstream")
    p.add_argument("--limit", type=int, default=None,
                   help="evaluate the first N test images only (a quick check: the results "
                        f"go to {BUILD_DIR}/, the committed ones stay)")
    p.add_argument("--train", action="store_true",
                   help="measure the float and PTQ baselines in a new training run (about 3 "
                        "minutes more) rather than read the recorded numbers")
    p.add_argument("--cycle-images", type=int, default=CYCLE_IMAGES,
                   help="images for bench.cycles (default %(default)s; at most --limit)")
    return p


def main(argv=None):
    p = parser()
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)
    if args.limit is not None and not 1 <= args.limit <= 10000:
        p.error(f"--limit must be between 1 and 10000, not {args.limit}")
    if args.cycle_images < 2:
        p.error(f"--cycle-images must be at least 2 (back to back needs two), "
                f"not {args.cycle_images}")
    start = time.time()
    runner = Runner(total=step_count(train=args.train, skip_build=args.skip_build))
    try:
        net = load(DEFAULT_WEIGHTS)
        measured = measure(runner, net, limit=args.limit, train_now=args.train,
                           cycle_images=args.cycle_images, skip_build=args.skip_build)
        rows, facts = make_rows(measured, net=net, resources=get_board(BOARD).resources)
    except (BenchError, WeightsError) as e:
        p.exit(1, f"error: {e}\n")

    meta = run_meta(argv, seconds=time.time() - start)
    print(text_table(rows, titles=TITLES))
    steps = {"evaluate": measured["evaluate"], "cycles": measured["cycles"],
             "fuzz": measured["fuzz"], "build": measured["build"]}
    if "trained" in measured:
        steps["trained"] = measured["trained"]
    try:
        written = write_results(rows=rows, facts=facts, meta=meta, net=net,
                                step_seconds=runner.seconds, steps=steps, limit=args.limit)
    except SectionError as e:
        p.exit(1, f"error: {e}\n")
    print(f"wrote {written} in {meta['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
