"""``python -m host``: classify an image on the board (or on the simulated board), or run
the board's self-test.

    python -m host --port /dev/ttyUSB1 --mnist-index 0
    python -m host --port /dev/ttyUSB1 --png digit.png
    python -m host --sim --raw digit.npy
    python -m host --port /dev/ttyUSB1 --self-test
    python -m host --sim --self-test --json
    python -m host --board icesugar --port /dev/ttyACM0 --self-test
    python -m host --serve                       # a page: draw, and the simulated board answers
    python -m host --serve --port /dev/ttyUSB1 --http-port 8001
    python -m host --serve --reference           # the integer reference answers (instant)

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

Images: the network's input (``--weights``): for MNIST 28x28, white digit on black. A PNG's
size is read from its header before it is decoded. For a grey network 8-bit grey is used as it
is, 16-bit grey is scaled from 0..65535 to 0..255, colour becomes its luminance; a PNG with
transparency whose visible pixels all have one colour (a digit drawn on a transparent canvas)
is read from its alpha channel; transparency with more than one visible colour is refused. For
an RGB network (3 channels) a PNG's red, green and blue, transparent pixels composited on black.
``--raw`` takes the image's bytes (784 for MNIST: row-major, an RGB pixel's channels in turn) or
a ``.npy`` array of integers 0..255 (H x W, or H x W x 3).

``--serve`` starts a web page on http://127.0.0.1:8000/ (``--http-port``; this machine only)
where you draw a digit (or drop a PNG, or pick a test image) and the back end answers: the board
on ``--port``, the simulated board top (``--sim``, the default) or the integer reference
(``--reference``), beside the reference's and the Keras QAT model's logits, for any network
``--weights`` holds (``docs/web.md``).
"""

import argparse
import json
import sys
import time

from hw.board.defaults import BOARD
from hw.board.link import LinkError, SerialBoard
from hw.board.protocol import ProtocolError
from hw.stages.network import NetworkError
from platforms import UnknownBoardError, boards, get_board
from q8 import dataset, mnist
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load

from .board import (ImageError, load_image, self_test_on_port, self_test_on_board,
                    simulate_classify, test_images_on)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 1 the board's link failed, 2 bad "
                                       "input or usage")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", help="the board's serial port")
    where.add_argument("--sim", action="store_true",
                       help="use the compiled simulation of --board's board top instead (no "
                            "board needed)")
    where.add_argument("--reference", action="store_true",
                       help="with --serve: the integer reference answers (no board, no "
                            "simulation)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--png", help="a PNG of the network's size (28x28 for MNIST; see above)")
    source.add_argument("--raw", help="the image's raw bytes (784 for MNIST), or a .npy array")
    source.add_argument("--npy", help="a .npy array of the image (H x W, or H x W x 3)")
    source.add_argument("--mnist-index", type=int,
                        help="test image N: MNIST's, or --data's")
    source.add_argument("--self-test", action="store_true",
                        help="run the test images in the board's flash through the network")
    source.add_argument("--serve", action="store_true",
                        help="serve the drawing page on 127.0.0.1 (the simulated board answers "
                             "unless --port or --reference)")
    p.add_argument("--http-port", type=int, default=None, metavar="N",
                   help="with --serve: the page's TCP port (default 8000; 0 picks a free one)")
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
    p.add_argument("--data", metavar="FILE.npz",
                   help="with --mnist-index and --self-test: your data set's test images "
                        "instead of MNIST's, as hw.build --data wrote them (docs/datasets.md)")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS,
                   help="the weights the board was built with (the answer's size depends on "
                        "them); with --sim, the weights simulated")
    args = p.parse_args(argv)
    if not (args.port or args.sim or args.reference):
        if not args.serve:
            p.error("one of the arguments --port --sim is required")
        args.sim = True
    if args.reference and not args.serve:
        p.error("--reference goes with --serve")
    if args.http_port is not None and not (args.serve and 0 <= args.http_port <= 65535):
        p.error("--http-port goes with --serve, and is a TCP port (0 to 65535)")
    if args.images is not None and not args.self_test:
        p.error("--images goes with --self-test")
    if args.data is not None and args.mnist_index is None and not (args.serve or
                                                                    args.self_test):
        p.error("--data goes with --mnist-index, --self-test or --serve: it names the test "
                "images")
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
    if args.serve:
        return _serve(p, args, board)
    return _classify(p, args, board)


def _classify(p, args, board):
    """Classify the one image of ``args`` on the board, or the simulated board."""
    try:
        net = load(args.weights)  # before the image and the minutes of simulation
        if args.mnist_index is not None:
            dataset.check_network(net, dataset.load(args.data), args.weights)
        if args.npy is not None and not args.npy.endswith(".npy"):
            raise ImageError(f"--npy takes a .npy file (numpy.save), not {args.npy!r}")
        image = load_image(png=args.png, raw=args.raw or args.npy, mnist_index=args.mnist_index,
                           shape=net.input_shape, data=args.data)
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
        # a q8.dataset.DatasetError is a ValueError
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


def _self_test_count(p, args, board, net, data):
    """The self-test's image count: ``--images``, or all that ``board``'s design holds."""
    room, refusal = test_images_on(board, net, data)
    if not room:
        p.exit(2, f"error: {board.name} has no self-test for {args.weights}: {refusal}\n")
    count = room if args.images is None else args.images
    if not 1 <= count <= room:
        p.exit(2, f"error: --images must be between 1 and {room:,} (the test images "
                  f"{board.name}'s flash holds), not {count}\n")
    return count


def _self_test(p, args, board):
    try:
        net = load(args.weights)
        data = dataset.load(args.data)
        dataset.check_network(net, data, args.weights)
        data = data if args.data is not None else None   # None: MNIST, as hw.build's default
        count = _self_test_count(p, args, board, net, data)
        if args.sim:
            result = self_test_on_board(net, count=count, board=board,
                                        progress=None if args.json else print, data=data)
        else:
            result = self_test_on_port(net, args.port, count=count, baud=args.baud,
                                       board=board, timeout=args.timeout, data=data)
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


def _serve(p, args, board):
    from .answers import PortBackend, ReferenceBackend, Session, SimulatedBackend
    from .web import serve
    http_port = 8000 if args.http_port is None else args.http_port
    try:
        net = load(args.weights)   # any network: the page takes its input shape and classes
        data = None
        if args.data is not None:   # a data set that does not fit, refused before any work
            data = dataset.load(args.data)
            dataset.check_network(net, data, args.weights)
        if args.reference:
            backend = ReferenceBackend(net)
        elif args.sim:
            backend = SimulatedBackend(net, board=board, baud=args.baud, progress=print)
        else:
            backend = PortBackend(net, args.port, board=board, baud=args.baud,
                                  timeout=args.timeout)
        session = Session(net, backend, weights=args.weights, data=data,
                          board=None if args.reference else board.name)
        serve(session, port=http_port)
    except (WeightsError, NetworkError, ValueError) as e:
        p.exit(2, f"error: {e}\n")
    except (LinkError, ProtocolError) as e:
        p.exit(1, f"error: {e}\n")
    except OSError as e:   # the port is taken
        p.exit(2, f"error: cannot serve on port {http_port}: {e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
