"""``python -m sim.evaluate``: accuracy of a backend on the MNIST test images, and its agreement
with the integer reference.

Backends: ``reference`` (the numpy integer model), ``keras`` (the trained Keras QAT model
saved beside the weights file as ``.keras``), ``pysim`` (the gateware in Amaranth's Python
simulator), ``rtl`` (the same gateware compiled to native code with CXXRTL, ``sim.rtl``),
``netlist`` (the gateware as on the board, synthesised for the iCE40 and simulated with the
cell models; about 0.1 s per image) and ``board`` (a programmed board on ``--port``). The
gateware backends also report ``cycles_per_image`` (first pixel in to class out), and their
classes are the gateware's own.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from . import mnist, reference
from .progress import Progress
from .weights import DEFAULT_WEIGHTS, WeightsError, load
from host.board import BoardError
from hw.protocol import ProtocolError

__all__ = ["BACKENDS", "evaluate", "main"]


def _reference_backend(net, args):
    return lambda images: (reference.run(net, images).logits, {})


def _keras_backend(net, args):
    keras_path = os.path.splitext(args.weights)[0] + ".keras"
    if not os.path.exists(keras_path):
        raise BackendError(f"no Keras model at {keras_path}; `python -m train --out "
                           f"{args.weights}` writes it beside the weights file")
    from train.model import load_keras_model, logits_codes, to_network
    model = load_keras_model(keras_path)
    exported = to_network(model)
    same = exported.layers == net.layers and all(
        np.array_equal(exported.params[n][k], net.params[n][k])
        for n in net.params for k in ("weight", "bias"))
    if not same:
        raise BackendError(f"{keras_path} does not hold the network of {args.weights}: "
                           f"they come from different training runs")
    return lambda images: (logits_codes(model, images), {})


def _pysim_backend(net, args):
    from hw.network import NetworkPipeline
    from .pysim import simulate_network
    pipeline = NetworkPipeline(net)

    def run(images):
        result = simulate_network(pipeline, images)
        return result.logits, {"cycles": result.cycles.tolist(), "classes": result.classes}
    return run


def _native_backend(factory):
    """The backend of ``sim.rtl``'s model ``factory`` (a name), on every core."""
    def prepare(net, args):
        from . import rtl
        try:
            model = getattr(rtl, factory)(net)
        except rtl.ModelBuildError as e:
            raise BackendError(str(e)) from None
        threads = len(os.sched_getaffinity(0))

        def run(images):
            result = model.run(images, threads=threads)
            return result.logits, {"cycles": result.cycles.tolist(), "classes": result.classes}
        return run
    return prepare


def _board_backend(net, args):
    from host.board import BoardError, SerialBoard
    if not args.port:
        raise BackendError("the board backend needs --port (the board's serial port)")
    try:
        board = SerialBoard(args.port, baud=args.baud)
    except BoardError as e:
        raise BackendError(str(e)) from None

    def run(images):
        responses = [board.classify(image.reshape(-1)) for image in images]
        return (np.array([r.logits for r in responses], np.int8).reshape(len(images), -1),
                {"cycles": [r.cycles for r in responses], "classes": [r.cls for r in responses]})
    return run


class BackendError(RuntimeError):
    """A backend that cannot run with what it was given."""


#: name -> function(net, args) that prepares the backend and returns a function of a chunk of
#: images, returning int8 logits (N, classes) and a dict (per image, if the backend has them:
#: ``cycles``, and ``classes`` where the backend computes its own argmax).
BACKENDS = {"reference": _reference_backend, "keras": _keras_backend, "pysim": _pysim_backend,
            "rtl": _native_backend("rtl_model"), "netlist": _native_backend("netlist_model"),
            "board": _board_backend}

#: Images per call of a backend (and per step of the progress bar).
CHUNK = {"pysim": 10, "netlist": 100, "board": 100}


def evaluate(backend, net, images, labels, args, *, progress=True):
    """Run ``backend`` over ``images`` in chunks with a progress bar; compare with the reference
    and the labels."""
    run = BACKENDS[backend](net, args)
    bar = Progress(len(images), label=f"{backend}", enabled=progress)
    start = time.time()
    logits, cycles, classes = [], [], []
    chunk = CHUNK.get(backend, 1000)
    for i in range(0, len(images), chunk):
        chunk_logits, measured = run(images[i:i + chunk])
        logits.append(chunk_logits)
        cycles += measured.get("cycles", [])
        classes.append(measured.get("classes", reference.argmax(chunk_logits)))
        bar.update(len(chunk_logits))
    seconds = time.time() - start
    extra = {}
    if cycles:  # latency from an image's first pixel in to its class out
        extra = {"cycles_per_image": round(float(np.mean(cycles)), 1),
                 "cycles_per_image_max": int(np.max(cycles))}
    logits = np.concatenate(logits)
    classes = np.concatenate(classes)
    ref = reference.run(net, images)
    return {"backend": backend, "weights": args.weights, "images": int(len(images)),
            "correct": int(np.sum(classes == labels)),
            "accuracy": float(np.mean(classes == labels)) if len(images) else 0.0,
            "agree_with_reference": int(np.sum(classes == ref.classes)),
            "logits_agree_with_reference": int(np.sum(np.all(logits == ref.logits, axis=1))),
            "seconds": round(seconds, 3), **extra}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sim.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="reference", choices=sorted(BACKENDS))
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="weights file (.npz)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N test images")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--port", help="with --backend board: the board's serial port")
    p.add_argument("--baud", type=int, default=3_000_000, help="with --backend board")
    args = p.parse_args(argv)
    if args.limit is not None and not 1 <= args.limit <= 10000:
        p.error(f"--limit must be between 1 and 10000, not {args.limit}")
    try:
        net = load(args.weights)
        data = mnist.load()
        images, labels = data.x_test[:args.limit], data.y_test[:args.limit]
        result = evaluate(args.backend, net, images, labels, args)
    except (WeightsError, mnist.MnistError, BackendError, BoardError, ProtocolError) as e:
        p.exit(2, f"error: {e}\n")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['backend']}: {result['correct']}/{result['images']} correct = "
              f"{100 * result['accuracy']:.2f} % accuracy; agrees with the reference on "
              f"{result['agree_with_reference']}/{result['images']} classes and "
              f"{result['logits_agree_with_reference']}/{result['images']} logit vectors "
              f"({result['seconds']:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
