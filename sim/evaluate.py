"""``python -m sim.evaluate``: accuracy of a backend on the MNIST test images, and its agreement
with the integer reference.

Backends: ``reference`` (the numpy integer model), ``keras`` (the trained Keras QAT model saved
beside the weights file as ``.keras``; provided by ``train``, see ``sim.backends``), ``pysim``
(the gateware in Amaranth's Python simulator), ``rtl`` (the same gateware compiled to native
code with CXXRTL, ``sim.rtl``), ``netlist`` (the gateware as on the board, synthesised for the
iCE40 and simulated with the cell models), ``board-rtl`` and ``board-netlist`` (the whole
board top of ``--board``, UART and protocol included, compiled as RTL or as the synthesised
netlist, the images sent over the UART at bit level: ``sim.board_host``; an iCE40 board's
weights loaded from a simulated SPI flash, an ECP5 board's in its block RAM as in its
bitstream; the netlist's is the slowest) and ``board`` (a programmed board on ``--port``).
The network's backends also report ``cycles_per_image`` (first pixel in to class out), and
the gateware's classes are its own; the compiled ones (``rtl``, ``netlist``)
also stream each chunk's first images back to back (``sim.backends.BACK_TO_BACK``): their
logits against the reference and the last interval between their results, the network's
pace (``back_to_back``). The board backends stream the requests
(``hw.board.link.Link.classify_stream``); the compiled ones are built for ``--baud`` and report
``images_per_second``: the images over the simulated time from each board's first request to
its last answer, at the design clock. Their result names the board and the design clock
of the top they simulated (``board``, ``clock_mhz``).

``--confusion FILE.png`` and ``--errors FILE.png`` draw the backend's classes against the test
labels (``sim.plots``): the confusion matrix, and the misclassified images (the first 64; the
title counts them all). They need matplotlib: ``pip install -e '.[plot]'``.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from hw.board.defaults import BAUD, BOARD
from platforms import UnknownBoardError, boards, get_board
from hw.board.link import LinkError
from hw.board.protocol import ProtocolError
from hw.stages.network import NetworkError
from hw.build.toolchain import ToolError
from q8 import dataset, mnist, reference
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load
from .backends import SIMULATED, BackendError, backend_names, prepare
from .plots import PlotError, check_png, plot_confusion, plot_errors, require_matplotlib
from .progress import Progress

__all__ = ["evaluate", "main"]


#: Images per call of a backend (and per step of the progress bar).
CHUNK = {"pysim": 10, "netlist": 100, "board": 100, "board-rtl": 500, "board-netlist": 5}


def evaluate(backend, net, images, labels, args, *, progress=True, return_classes=False):
    """Run ``backend`` over ``images`` in chunks with a progress bar; compare with the reference
    and the labels. Returns the result's dict, or with ``return_classes`` the pair (dict, the
    backend's class of each image)."""
    run = prepare(backend, net, args)
    bar = Progress(len(images), label=f"{backend}", enabled=progress)
    start = time.time()
    logits, cycles, classes = [], [], []
    streamed = None
    simulated = {}   # the board and design clock of the compiled board top, as simulated
    paced = {"images": 0, "logits_agree_with_reference": 0}   # the images back to back
    chunk = CHUNK.get(backend, 1000)
    for i in range(0, len(images), chunk):
        chunk_logits, measured = run(images[i:i + chunk])
        if "back_to_back" in measured:
            b2b_logits, b2b_cycles = measured["back_to_back"]
            agree = np.all(b2b_logits == reference.run(net, images[i:i + len(b2b_logits)])
                           .logits, axis=1)
            paced["images"] += len(b2b_logits)
            paced["logits_agree_with_reference"] += int(np.sum(agree))
            if len(b2b_cycles) > 1:
                paced.setdefault("cycles_per_image", b2b_cycles[-1])
        logits.append(chunk_logits)
        cycles += measured.get("cycles", [])
        if "stream_cycles" in measured:
            streamed = (streamed or 0) + measured["stream_cycles"]
        simulated.update({k: measured[k] for k in SIMULATED if k in measured})
        classes.append(measured.get("classes", reference.argmax(chunk_logits)))
        bar.update(len(chunk_logits))
    seconds = time.time() - start
    extra = {}
    if cycles:  # latency from an image's first pixel in to its class out
        extra = {"cycles_per_image": round(float(np.mean(cycles)), 1),
                 "cycles_per_image_max": int(np.max(cycles))}
    if paced["images"]:  # the last interval between results of a chunk's first images
        extra["back_to_back"] = paced
    if streamed:  # the compiled board's rate, in simulated time at its design clock
        extra = {"baud": args.baud, "images_per_second":
                 round(len(images) * simulated["clock_mhz"] * 1e6 / streamed, 1)}
    logits = np.concatenate(logits)
    classes = np.concatenate(classes)
    ref = reference.run(net, images)
    result = {"backend": backend, "board": getattr(args, "board", BOARD), **simulated,
              "weights": args.weights, "images": int(len(images)),
              "correct": int(np.sum(classes == labels)),
              "accuracy": float(np.mean(classes == labels)) if len(images) else 0.0,
              "agree_with_reference": int(np.sum(classes == ref.classes)),
              "logits_agree_with_reference": int(np.sum(np.all(logits == ref.logits, axis=1))),
              "seconds": round(seconds, 3), **extra}
    return (result, classes) if return_classes else result


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sim.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 1 the work failed (a tool, the "
                                       "board's link, writing a picture), 2 bad input or "
                                       "usage")
    p.add_argument("--backend", default="reference", choices=backend_names())
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="weights file (.npz)")
    p.add_argument("--board", default=BOARD,
                   help="with pysim, rtl, netlist, board-rtl and board-netlist: the board "
                        "whose build to simulate (its fit plan's schedules; its board top, "
                        "clock and UART rate; the netlist synthesised for its family), one "
                        f"of: {', '.join(sorted(boards()))} (default %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N test images")
    p.add_argument("--start", type=int, default=0, metavar="K",
                   help="begin at test image K (0-based; with --limit N: images K to K+N-1), "
                        "so that a long run can be done in parts; the result's first_image")
    p.add_argument("--data", metavar="FILE.npz",
                   help="the test images and labels of your data set instead of MNIST's "
                        "(x_test, y_test; docs/datasets.md)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--port", help="with --backend board: the board's serial port")
    p.add_argument("--baud", type=int, default=BAUD,
                   help="with --backend board: the board's rate; with board-rtl and "
                        "board-netlist: the rate the simulated top is built for, whose "
                        "images_per_second (simulated time) the result reports (default "
                        "%(default)s)")
    p.add_argument("--confusion", metavar="FILE.png",
                   help="also draw the confusion matrix (true class by predicted class) as a "
                        "PNG (needs matplotlib: pip install -e '.[plot]')")
    p.add_argument("--errors", metavar="FILE.png",
                   help="also draw the misclassified images (the first 64) as a PNG (needs "
                        "matplotlib)")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error(f"--limit must be 1 or more, not {args.limit}")
    if args.start < 0:
        p.error(f"--start must be 0 or more, not {args.start}")
    if args.backend == "board" and not args.port:
        p.error("--backend board needs --port (the board's serial port, e.g. /dev/ttyUSB1)")
    pictures = [(o, path) for o, path in (("--confusion", args.confusion),
                                          ("--errors", args.errors)) if path is not None]
    if len(pictures) == 2 and os.path.abspath(args.confusion) == os.path.abspath(args.errors):
        p.error("--confusion and --errors name the same file: give each its own")
    try:  # before the long work
        for option, path in pictures:
            check_png(path, option)
        if pictures:
            require_matplotlib()
    except PlotError as e:
        p.exit(2, f"error: {e}\n")
    try:
        net = load(args.weights)
        get_board(args.board)
        data = dataset.load(args.data)
        dataset.check_network(net, data, args.weights)
        args.dataset = data if args.data is not None else None   # the board tops' self-test
        total = len(data.x_test)
        if args.start >= total or (args.limit is not None and args.limit > total - args.start):
            asked = f"--start {args.start} --limit {args.limit}" if args.start \
                else f"--limit {args.limit}"
            raise dataset.DatasetError(f"{asked}, but {data.name} has {total} test images"
                                       + (f" (0 to {total - 1})" if args.start else ""))
        end = None if args.limit is None else args.start + args.limit
        images, labels = data.x_test[args.start:end], data.y_test[args.start:end]
        result, classes = evaluate(args.backend, net, images, labels, args,
                                   return_classes=True)
        result["first_image"] = args.start
    except (WeightsError, mnist.MnistError, dataset.DatasetError, NetworkError, BackendError,
            UnknownBoardError) as e:
        p.exit(2, f"error: {e}\n")  # what the user gave
    except (ToolError, LinkError, ProtocolError) as e:
        p.exit(1, f"error: {e}\n")  # work that failed
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['backend']}: {result['correct']}/{result['images']} correct = "
              f"{100 * result['accuracy']:.2f} % accuracy; agrees with the reference on "
              f"{result['agree_with_reference']}/{result['images']} classes and "
              f"{result['logits_agree_with_reference']}/{result['images']} logit vectors "
              f"({result['seconds']:.1f} s)")
    try:
        title = f"{args.backend} backend, {os.path.basename(args.weights)}"
        if args.confusion is not None:
            plot_confusion(labels, classes, args.confusion, classes=net.classes,
                           title=f"Confusion matrix: {title}")
        if args.errors is not None:
            plot_errors(images, labels, classes, args.errors,
                        title=f"Misclassified by the {title}")
    except PlotError as e:
        p.exit(1, f"error: {e}\n")  # the picture could not be written
    for path in (args.confusion, args.errors):
        if path is not None:
            print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
