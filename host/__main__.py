"""``python -m host``: classify an image on the board (or on the simulated board), or run
the board's self-test.

    python -m host --port /dev/ttyUSB1 --mnist-index 0
    python -m host --port /dev/ttyUSB1 --png digit.png
    python -m host --sim --raw digit.npy
    python -m host --port /dev/ttyUSB1 --self-test
    python -m host --sim --self-test --json

``--self-test`` runs MNIST's test images that ``python -m hw.build --program`` wrote to the
board's flash (all 10,000 unless ``--images N``) through the network on the board, at the
speed the flash delivers them, and prints the accuracy and images per second the board
counted; the host checks the CRC of the images the board read against its own copy of MNIST.

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

from hw.board.defaults import BAUD, SELF_TEST_IMAGES
from hw.board.top import self_test_images
from hw.board.link import LinkError, SerialBoard
from hw.board.protocol import ProtocolError
from hw.stages.network import NetworkError
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
                       help="use the compiled simulation of the board top instead (no board "
                            "needed)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--png", help="a 28x28 PNG (see above)")
    source.add_argument("--raw", help="784 raw bytes, or a 28x28 .npy array")
    source.add_argument("--mnist-index", type=int, help="MNIST test image N")
    source.add_argument("--self-test", action="store_true",
                        help="run the test images in the board's flash through the network")
    p.add_argument("--images", type=int, default=None,
                   help=f"with --self-test: the first N test images (default all, "
                        f"{SELF_TEST_IMAGES:,})")
    p.add_argument("--json", action="store_true",
                   help="with --self-test: one JSON object on standard output")
    p.add_argument("--baud", type=int, default=BAUD,
                   help="the rate the bitstream was built for (default %(default)s)")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS,
                   help="the weights the board was built with (the answer's size depends on "
                        "them); with --sim, the weights simulated")
    args = p.parse_args(argv)
    if args.images is not None and not args.self_test:
        p.error("--images goes with --self-test")
    if args.self_test:
        count = SELF_TEST_IMAGES if args.images is None else args.images
        if not 1 <= count <= SELF_TEST_IMAGES:
            p.error(f"--images must be between 1 and {SELF_TEST_IMAGES:,}, not {count}")
        return _self_test(p, args, count)
    try:
        net = load(args.weights)  # before the image and the minutes of simulation
        mnist.check_network(net, args.weights)
        image = load_image(png=args.png, raw=args.raw, mnist_index=args.mnist_index)
        start = time.time()
        if args.sim:
            response = simulate_classify(net, [image])[0]
        else:
            board = SerialBoard(args.port, classes=net.classes, baud=args.baud)
            try:
                response = board.classify(image.reshape(-1))
            finally:
                board.close()
        seconds = time.time() - start
    except (ImageError, WeightsError, mnist.MnistError, NetworkError) as e:
        p.exit(2, f"error: {e}\n")
    except (LinkError, ProtocolError) as e:
        p.exit(1, f"error: {e}\n")
    print(f"class {response.cls}")
    print(f"logits {' '.join(str(v) for v in response.logits)}")
    print(f"request {response.seq}: {seconds * 1e3:.1f} ms round trip"
          + (" (simulated, compile included)" if args.sim else ""))
    return 0


def _self_test(p, args, count):
    try:
        net = load(args.weights)
        mnist.check_network(net, args.weights)
        if not self_test_images(net):
            raise WeightsError(f"{args.weights}: a self-test needs at least 9 classes (its "
                               f"answer's fields take the logits' place); this network has "
                               f"{net.classes}")
        if args.sim:
            result = self_test_on_board(net, count=count,
                                        progress=None if args.json else print)
        else:
            result = self_test_on_port(net, args.port, count=count, baud=args.baud)
    except (WeightsError, mnist.MnistError, NetworkError) as e:
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
              f"({result['cycles']:,} cycles at 48 MHz; the flash delivers at most "
              f"{result['flash_bound']:,.1f})" + (" (simulated)" if args.sim else ""))
    return 0 if result["correct"] == result["reference_correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
