"""``python -m train``: quantization-aware training of the user's network and export.

Writes ``<out>.npz`` (the weights file the reference and the gateware read) and ``<out>.keras``
(the trained Keras model, for ``python -m sim.evaluate --backend keras``).
"""

import argparse
import json
import os
import sys

from q8 import mnist
from sim.describe import describe
from q8.weights import DEFAULT_WEIGHTS, save

from .qat import Recipe, progress_verbosity, train


def main(argv=None):
    defaults = Recipe()
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=DEFAULT_WEIGHTS,
                   help="weights file to write (.npz; the Keras model goes beside it as .keras)")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--float-epochs", type=int, default=defaults.float_epochs)
    p.add_argument("--qat-epochs", type=int, default=defaults.qat_epochs)
    p.add_argument("--batch", type=int, default=defaults.batch)
    p.add_argument("--filters", type=int, default=defaults.filters,
                   help="Conv2D filters (the user's network: 2)")
    p.add_argument("--dense", type=int, default=defaults.dense,
                   help="width of the hidden dense layer (the user's network: 128)")
    p.add_argument("--train-limit", type=int, default=None,
                   help="train on the first N training images only")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="evaluate on the first N test images only")
    p.add_argument("--json", action="store_true", help="print the accuracies as JSON at the end")
    args = p.parse_args(argv)
    if not args.out.endswith(".npz"):
        p.error(f"--out must name a .npz file, not {args.out!r}")
    try:
        recipe = Recipe(seed=args.seed, float_epochs=args.float_epochs,
                        qat_epochs=args.qat_epochs, batch=args.batch, filters=args.filters,
                        dense=args.dense, train_limit=args.train_limit)
        data = mnist.load()
    except (ValueError, mnist.MnistError) as e:
        p.exit(2, f"error: {e}\n")
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    result = train(data, recipe, eval_images=args.eval_limit, verbose=progress_verbosity(),
                   log=log)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save(result.network, args.out)
    keras_path = args.out[:-len(".npz")] + ".keras"
    result.model.save(keras_path)
    log(f"wrote {args.out} and {keras_path} ({result.seconds:.0f} s)")
    log(describe(result.network, data.x_train[:args.train_limit]))
    if args.json:
        print(json.dumps({"accuracy": result.accuracy,
                          "agree": result.network.provenance["agree"],
                          "seconds": round(result.seconds, 1)}))


if __name__ == "__main__":
    main()
