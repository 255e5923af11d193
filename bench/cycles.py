"""Cycles per image of the gateware, in Amaranth's simulator.

``python -m bench.cycles [--images N] [--board B] [--weights F] [--data D]``: the network (the
shipped one by default) as built for board B on the first N MNIST test images (default 10; or
``--data``'s test images, ``docs/datasets.md``), once one
image at a time (latency: first pixel accepted to result sent) and once
back to back (throughput: cycles between results). Prints one JSON line, with the limits it
is measured against: on the iCE40UP5K the largest dense layer's weight-bandwidth floor
(``bench.limits``), elsewhere a pixel a cycle in, and the issue's latency target. The numbers measured: ``bench/results.md``.
"""

import argparse
import json
import sys

import numpy as np

from bench.limits import weight_bandwidth_floor
from hw.board.defaults import BOARD
from hw.fit import built_schedules
from hw.stages.network import NetworkPipeline
from platforms import UnknownBoardError, get_board
from q8 import dataset, mnist, reference, weights
from sim.pysim import simulate_network


#: The issue's latency target, in cycles from first pixel in to class out.
LATENCY_TARGET = 6000


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.cycles", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 1 the simulation disagrees with "
                                       "the reference, 2 bad input or usage")
    p.add_argument("--images", type=int, default=10,
                   help="test images to simulate (at least 2; default %(default)s)")
    p.add_argument("--board", default=BOARD, help="the board whose build to simulate (its fit "
                                                   "plan's schedules; default %(default)s)")
    p.add_argument("--weights", default=weights.DEFAULT_WEIGHTS, help="weights file (.npz)")
    p.add_argument("--data", metavar="FILE.npz",
                   help="your data set's test images instead of MNIST's (docs/datasets.md)")
    args = p.parse_args(argv)
    if not 2 <= args.images <= 10000:
        p.error(f"--images must be between 2 and 10000 (back to back needs two), "
                f"not {args.images}")
    try:
        board = get_board(args.board)
        net = weights.load(args.weights)
        data = dataset.load(args.data)
        dataset.check_network(net, data, args.weights)
        images = data.x_test[:args.images]
    except (weights.WeightsError, mnist.MnistError, dataset.DatasetError,
            UnknownBoardError) as e:
        p.exit(2, f"error: {e}\n")
    ref = reference.run(net, images)
    pipeline = NetworkPipeline(net, schedules=built_schedules(net, board=board))
    alone = simulate_network(pipeline, images)
    overlapped = simulate_network(pipeline, images, overlap=True)
    for run in (alone, overlapped):
        if not np.array_equal(run.logits, ref.logits):
            p.exit(1, "error: the simulated network disagrees with the reference\n")
    sprams = board.resources["sprams"]
    floor = weight_bandwidth_floor(net, sprams=sprams) if sprams else net.pixels
    print(json.dumps({
        "images": len(images), "board": board.name,
        "latency_cycles": sorted(set(alone.cycles.tolist())),
        "throughput_cycles_per_image": sorted(set(overlapped.cycles[1:].tolist())),
        "weight_bandwidth_floor" if sprams else "pixel_floor": floor,
        "latency_target": LATENCY_TARGET,
        "latency_over_floor": round(float(alone.cycles.max()) / floor, 3),
        "schedules": {k: repr(v) for k, v in pipeline.schedules.items()},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
