"""Cycles per image of the gateware, in Amaranth's simulator.

``python bench/cycles.py [--images N]``: the shipped network on the first N MNIST test images
(default 10), once one image at a time (latency: first pixel accepted to result sent) and once
back to back (throughput: cycles between results). Prints one JSON line, with the limits it
is measured against: the 338x128 layer's weight-bandwidth floor (5,408 cycles at 8 weights per
cycle) and the issue's latency target (6,000).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np

from bench.limits import weight_bandwidth_floor
from board.defaults import BOARD
from hw.network import NetworkPipeline
from platforms import get_board
from q8 import mnist, reference, weights
from sim.pysim import simulate_network


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=10)
    args = p.parse_args()
    net = weights.load()
    images = mnist.load().x_test[:args.images]
    ref = reference.run(net, images)
    pipeline = NetworkPipeline(net)
    alone = simulate_network(pipeline, images)
    overlapped = simulate_network(pipeline, images, overlap=True)
    for run in (alone, overlapped):
        if not np.array_equal(run.logits, ref.logits):
            sys.exit("the simulated network disagrees with the reference")
    floor = weight_bandwidth_floor(net, sprams=get_board(BOARD).resources["sprams"])
    print(json.dumps({
        "images": len(images),
        "latency_cycles": sorted(set(alone.cycles.tolist())),
        "throughput_cycles_per_image": sorted(set(overlapped.cycles[1:].tolist())),
        "weight_bandwidth_floor": floor, "latency_target": 6000,
        "latency_over_floor": round(float(alone.cycles.max()) / floor, 3),
        "schedules": {k: repr(v) for k, v in pipeline.schedules.items()},
    }))


if __name__ == "__main__":
    main()
