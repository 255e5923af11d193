"""``python -m host``: classify an image on the board (or on the simulated board), or run
the board's self-test.

    python -m host --port /dev/ttyUSB1 --mnist-index 0
    python -m host --port /dev/ttyUSB1 --png digit.png
    python -m host --sim --raw digit.npy
    python -m host --port /dev/ttyUSB1 --self-test
    python -m host --sim --self-test --json
    python -m host --board icesugar --port /dev/ttyACM0 --self-test

``--board`` (the iCEBreaker unless named) gives the design clock, the UART rate and the
self-test's images that ``python -m hw.build --board NAME`` built for (``platforms/``); with
``--sim``, the board whose top is simulated (``sim.board_host``: the iCE40 boards' with their
weights from a simulated flash, the ECP5 boards' with theirs in block RAM; the self-test's
images in the simulated flash).

``--self-test`` runs MNIST's test images that ``python -m hw.build --program`` wrote to the
board's flash (all that the board's flash holds unless ``--images N``: 10,000 on the iCEBreaker
and the ULX3S, 8,014 on the iCESugar) through the network on the board, at the speed the flash
delivers them, and prints the accuracy and the images per second the board counted at its design
clock; the host checks the CRC of the images the board read against its own copy of MNIST.

Images: 28x28, white digit on black as in MNIST. A PNG's size is read from its header before
it is decoded; 8-bit grey is used as it is, 16-bit grey is scaled from 0..65535 to 0..255,
colour becomes its luminance. A PNG with transparency whose visible pixels all have one colour
(a digit drawn on a transparent canvas) is read from its alpha channel; transparency with more
than one visible colour is refused. ``--raw`` takes 784 bytes (row-major) or a 28x28 ``.npy``
array of integers 0..255.
"""

import argparse
import json
import sys
import time

from hw.board.defaults import BOARD
from hw.board.link import LinkError, SerialBoard
from hw.board.protocol import ProtocolError
from hw.board.self_test import board_test_images
from hw.stages.network import NetworkError
from platforms import UnknownBoardError, boards, get_board
from q8 import mnist
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load

from .board import ImageError, load_image, self_test_on_port, self_test_on_board, simulate_classify


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 1 the board's link failed, 2 bad "
                                       "input or usage")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="the board's serial port")
    where.add_argument("--sim", action="store_true",
                       help="use the compiled simulation of --board's board top instead (no "
                            "board needed)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--png", help="a 28x28 PNG (see above)")
    source.add_argument("--raw", help="784 raw bytes, or a 28x28 .npy array")
    source.add_argument("--mnist-index", type=int, help="MNIST test image N")
    source.add_argument("--self-test", action="store_true",
                        help="run the test images in the board's flash through the network")
    p.add_argument("--board", default=BOARD,
                   help=f"the board the bitstream was built for (one of: "
                        f"{', '.join(sorted(boards()))}; default %(default)s): its design "
                        f"clock, UART rate and self-test images")
    p.add_argument("--images", type=int, default=None,
                   help="with --self-test: the first N test images (default all that the "
                        "board's flash holds)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="with --port: seconds to wait for the board's next byte (default 1; "
                        "a simulated board served by sim.serve is slower than the chip)")
    p.add_argument("--json", action="store_true",
                   help="with --self-test: one JSON object on standard output")
    p.add_argument("--baud", type=int, default=None,
                   help="the rate the bitstream was built for (default the board's: "
                        "3,000,000 on the iCEBreaker, 200,000 on the iCESugar)")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS,
                   help="the weights the board was built with (the answer's size depends on "
                        "them); with --sim, the weights simulated")
    args = p.parse_args(argv)
    if args.images is not None and not args.self_test:
        p.error("--images goes with --self-test")
    if args.timeout is not None and not (args.port and args.timeout > 0):
        p.error("--timeout goes with --port, and is a positive number of seconds")
    args.timeout = 1.0 if args.timeout is None else args.timeout
    try:
        board = get_board(args.board)
    except UnknownBoardError as e:
        p.error(str(e))
    args.baud = board.default_baud if args.baud is None else args.baud
    if args.self_test:
        return _self_test(p, args, board)
    try:
        net = load(args.weights)  # before the image and the minutes of simulation
        mnist.check_network(net, args.weights)
        image = load_image(png=args.png, raw=args.raw, mnist_index=args.mnist_index)
        start = time.time()
        if args.sim:
            response = simulate_classify(net, [image], board=board, baud=args.baud)[0]
        else:
            link = SerialBoard(args.port, classes=net.classes, baud=args.baud,
                               timeout=args.timeout)
            try:
                response = link.classify(image.reshape(-1))
            finally:
                link.close()
        seconds = time.time() - start
    except (ImageError, WeightsError, mnist.MnistError, NetworkError, ValueError) as e:
        p.exit(2, f"error: {e}\n")
    except (LinkError, ProtocolError) as e:
        p.exit(1, f"error: {e}\n")
    if args.json:
        print(json.dumps({"class": int(response.cls),
                          "logits": [int(v) for v in response.logits],
                          "board": board.name, "simulated": bool(args.sim),
                          "milliseconds": round(seconds * 1e3, 1)}))
        return 0
    print(f"class {response.cls}")
    print(f"logits {' '.join(str(v) for v in response.logits)}")
    print(f"request {response.seq}: {seconds * 1e3:.1f} ms round trip"
          + (" (simulated, compile included)" if args.sim else ""))
    return 0


def _self_test_count(p, args, board, net):
    """The self-test's image count: ``--images``, or all that ``board``'s design holds."""
    room = board_test_images(board, net)
    if not room:
        p.exit(2, f"error: {board.name} has no self-test for {args.weights}: a self-test "
                  f"needs at least 9 classes (its answer's fields take the logits' place); "
                  f"this network has {net.classes}\n")
    count = room if args.images is None else args.images
    if not 1 <= count <= room:
        p.exit(2, f"error: --images must be between 1 and {room:,} (the test images "
                  f"{board.name}'s flash holds), not {count}\n")
    return count


def _self_test(p, args, board):
    try:
        net = load(args.weights)
        mnist.check_network(net, args.weights)
        count = _self_test_count(p, args, board, net)
        if args.sim:
            result = self_test_on_board(net, count=count, board=board,
                                        progress=None if args.json else print)
        else:
            result = self_test_on_port(net, args.port, count=count, baud=args.baud,
                                       board=board, timeout=args.timeout)
    except (WeightsError, mnist.MnistError, NetworkError, ValueError) as e:
        p.exit(2, f"error: {e}\n")
    except (LinkError, ProtocolError) as e:
        p.exit(1, f"error: {e}\n")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"self-test: {result['correct']:,} of {result['images']:,} test images correct "
              f"({100 * result['correct'] / result['images']:.2f} %; the integer reference: "
              f"{result['reference_correct']:,})")
        print(f"{result['images_per_second']:,.1f} images per second on the board "
              f"({result['cycles']:,} cycles at {result['clock_mhz']:g} MHz; the flash "
              f"delivers at most "
              f"{result['flash_bound']:,.1f})" + (" (simulated)" if args.sim else ""))
    return 0 if result["correct"] == result["reference_correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
