"""``python -m host``: classify an image on the board (or on the simulated board).

    python -m host --port /dev/ttyUSB1 --mnist-index 0
    python -m host --port /dev/ttyUSB1 --png digit.png
    python -m host --sim --raw digit.npy
"""

import argparse
import sys
import time

from board.defaults import BAUD
from board.protocol import ProtocolError
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load

from board.link import LinkError, SerialBoard

from .board import load_image, simulate_classify


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="the board's serial port")
    where.add_argument("--sim", action="store_true",
                       help="use the simulated board top instead (no board needed; slow)")
    p.add_argument("--png", help="a 28x28 greyscale PNG")
    p.add_argument("--raw", help="784 raw bytes, or a 28x28 .npy array")
    p.add_argument("--mnist-index", type=int, help="MNIST test image N")
    p.add_argument("--baud", type=int, default=BAUD, help="the rate the bitstream was built for (default %(default)s)")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS,
                   help="with --sim: the weights to simulate")
    args = p.parse_args(argv)
    try:
        image = load_image(png=args.png, raw=args.raw, mnist_index=args.mnist_index)
        start = time.time()
        if args.sim:
            response = simulate_classify(load(args.weights), [image])[0]
        else:
            board = SerialBoard(args.port, baud=args.baud)
            response = board.classify(image.reshape(-1))
            board.close()
        seconds = time.time() - start
    except (ValueError, WeightsError, LinkError, ProtocolError) as e:
        p.exit(2, f"error: {e}\n")
    print(f"class {response.cls}")
    print(f"logits {' '.join(str(v) for v in response.logits)}")
    print(f"{response.cycles} cycles on the board; {seconds * 1e3:.1f} ms round trip"
          + (" (simulated)" if args.sim else ""))


if __name__ == "__main__":
    sys.exit(main())
