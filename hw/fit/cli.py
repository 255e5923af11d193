"""``python -m hw.fit``: the fit check's command line."""

import argparse
import importlib.metadata
import json

import hw.fit
from hw.board.defaults import BOARD
from hw.fit.search import plan
from platforms import UnknownBoardError, boards, get_board
from q8 import arch
from q8.weights import WeightsError, load

__all__ = ["ARCHITECTURES_GROUP", "main"]

#: Entry points of this group read a Keras model file's architecture for ``--from``: a
#: callable ``(path) -> (input_shape, entries)`` (``q8.arch`` layer entries), provided by the
#: tools layer (``train``), which this module never imports.
ARCHITECTURES_GROUP = "mnist_q8.architectures"


def _from_model(path):
    """``(input_shape, entries)`` of a Keras model file, by the ``keras`` entry point of
    :data:`ARCHITECTURES_GROUP` (the tools layer's importer)."""
    found = {e.name: e for e in importlib.metadata.entry_points(group=ARCHITECTURES_GROUP)}
    if "keras" not in found:
        raise ValueError("--from needs the train extra: pip install -e '.[train]'")
    try:
        read = found["keras"].load()
    except ImportError as e:
        raise ValueError(f"--from needs the train extra ({e}): pip install -e '.[train]'") \
            from None
    try:
        return read(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"--from {path}: cannot read its architecture: {e}") from None


def _input_shape(text):
    """``(height, width, channels)`` of ``--input`` (``HxWxC``, or ``HxW`` for one channel)."""
    parts = text.lower().split("x")
    try:
        shape = tuple(int(v) for v in parts) + ((1,) if len(parts) == 2 else ())
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1 or shape[2] not in (1, 3):
        raise ValueError(f"--input {text!r}: give HxWxC, e.g. 8x8x1 or 32x32x3 (1 or 3 "
                         f"channels)")
    return shape


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m hw.fit", description=hw.fit.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 done (the network fits), 1 it does not fit (the error line "
               "names the resource and the largest size that fits), 2 bad input or usage")
    p.add_argument("--board", default=BOARD,
                   help=f"the board (one of: {', '.join(sorted(boards()))})")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--weights", help="a weights file (.npz); the default: the shipped "
                                          "weights")
    source.add_argument("--arch", metavar="SPEC",
                        help=f"an architecture, e.g. {arch.DEFAULT_ARCH!r} (q8.arch), for "
                             f"--input's images; its convolutions' weights are assumed")
    source.add_argument("--from", dest="model", metavar="MODEL",
                        help="a Keras model file (.keras): its architecture (needs the train "
                             "extra)")
    p.add_argument("--input", metavar="HxWxC", default=None,
                   help="with --arch: the images' height, width and channels (1 grey or 3 "
                        "RGB), e.g. 8x8x1 (default 28x28x1, MNIST's)")
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    args = p.parse_args(argv)
    if args.input is not None and args.arch is None:
        p.error("--input goes with --arch (a weights file or a model knows its input)")
    try:
        board = get_board(args.board)
        if args.arch is not None or args.model is not None:
            if args.arch is not None:
                shape, entries = _input_shape(args.input or "28x28x1"), arch.parse(args.arch)
            else:
                shape, entries = _from_model(args.model)
            result = plan(arch.configs(entries, input_shape=shape), board=board)
        else:
            net = load(args.weights) if args.weights else load()
            result = plan(net.layers, board=board, params=net.params)
    except (UnknownBoardError, WeightsError, ValueError) as e:   # ArchError is a ValueError
        p.exit(2, f"error: {e}\n")
    print(json.dumps(result.to_json()) if args.json else result.format())
    if not result.fits:
        p.exit(1, f"error: {result.message}\n")
    return 0
