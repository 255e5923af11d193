"""``python -m train``: quantization-aware training of the user's network and export.

Writes ``<out>.npz`` (the weights file the reference and the gateware read) and ``<out>.keras``
(the trained Keras model, for ``python -m sim.evaluate --backend keras``).
"""

import argparse
import json
import os
import sys

from q8 import mnist
from q8.weights import DEFAULT_WEIGHTS, save
from sim.describe import describe

from .qat import Recipe, progress_verbosity, train


def main(argv=None):
    defaults = Recipe()
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 1 writing the results failed, "
                                       "2 bad input or usage")
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
    if args.eval_limit is not None and not 1 <= args.eval_limit <= 10000:
        p.error(f"--eval-limit must be between 1 and 10000, not {args.eval_limit}")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    try:
        recipe = Recipe(seed=args.seed, float_epochs=args.float_epochs,
                        qat_epochs=args.qat_epochs, batch=args.batch, filters=args.filters,
                        dense=args.dense, train_limit=args.train_limit)
        # before the minutes of training: a place the results can be written to
        os.makedirs(out_dir, exist_ok=True)
        if os.path.isdir(args.out) or not os.access(out_dir, os.W_OK):
            raise ValueError(f"cannot write {args.out}; choose another --out")
        data = mnist.load()
    except OSError as e:
        p.exit(2, f"error: cannot write {args.out} ({e}); choose another --out\n")
    except (ValueError, mnist.MnistError) as e:
        p.exit(2, f"error: {e}\n")
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    result = train(data, recipe, eval_images=args.eval_limit, verbose=progress_verbosity(),
                   log=log)
    keras_path = args.out[:-len(".npz")] + ".keras"
    try:
        save(result.network, args.out)
        result.model.save(keras_path)
    except OSError as e:
        p.exit(1, f"error: trained, but writing {args.out} or {keras_path} failed ({e})\n")
    log(f"wrote {args.out} and {keras_path} ({result.seconds:.0f} s)")
    log(describe(result.network, data.x_train[:args.train_limit]))
    if args.json:
        print(json.dumps({"accuracy": result.accuracy,
                          "agree": result.network.provenance["agree"],
                          "seconds": round(result.seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
