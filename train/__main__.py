"""``python -m train``: quantization-aware training and export, from scratch or from your own
trained Keras model.

From scratch (``--arch``, the user's network by default): a float phase, calibration of every
tensor's format, then quantization-aware training. From a model (``--from model.keras`` or
``.h5``): its layers are mapped onto the contract (``train.importer``), the formats calibrated
(PTQ), then quantization-aware training continues from its weights (``--qat-epochs``, 0 = PTQ
only). Either way the network is first checked to fit the board (``python -m hw.fit``), and the
Keras model and the integer reference must agree on every evaluation image's logits, or
nothing is written.

Writes ``<out>.npz`` (the weights file the reference and the gateware read) and ``<out>.keras``
(the quantized Keras model, for ``python -m sim.evaluate --backend keras``).
"""

import argparse
import hashlib
import json
import os
import sys

from q8 import arch as arch_mod, dataset, mnist
from q8.weights import DEFAULT_WEIGHTS, save
from sim.describe import describe

from .qat import Recipe, progress_verbosity, train, train_imported

IMPORTED_QAT_EPOCHS = 10


def _fit_check(entries, input_shape, board):
    """The fit plan's refusal (a message), or None when the network fits ``board``
    (``hw.fit``); raises ``ValueError`` for an unknown board."""
    from hw import fit  # an UnknownBoardError is a ValueError: a usage error here
    plan = fit.plan(arch_mod.configs(entries, input_shape=input_shape), board=board)
    return None if plan.fits else plan.message


def _user_arch(*, filters=None, dense=None):
    """The user's network (``q8.arch.DEFAULT_ARCH``) with its convolution's filters and its
    hidden dense layer's width changed where given."""
    entries = arch_mod.parse(arch_mod.DEFAULT_ARCH)
    conv = next(e for e in entries if e["kind"] == "conv2d")
    hidden = next(e for e in entries if e["kind"] == "dense")
    if filters is not None:
        conv["out_channels"] = filters
    if dense is not None:
        hidden["out_features"] = dense
    return arch_mod.to_spec(entries)


def _table(acc):
    rows = [("float (the model before quantisation)", acc.get("float")),
            ("PTQ, calibrated per-tensor formats", acc.get("ptq_calibrated")),
            ("QAT, Keras", acc.get("qat_keras")),
            ("integer reference (= the gateware)", acc.get("reference"))]
    return "\n".join(f"  {name:<40} {value * 100:6.2f} %" for name, value in rows
                     if value is not None)


def _parser(defaults):
    """The command line's parser, with ``defaults`` (a :class:`Recipe`)."""
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 1 the Keras model and the "
                                       "reference disagree or writing failed, 2 bad input or "
                                       "usage (a model that cannot be mapped, a network that "
                                       "does not fit the board)")
    p.add_argument("--out", default=DEFAULT_WEIGHTS,
                   help="weights file to write (.npz; the Keras model goes beside it as .keras)")
    p.add_argument("--from", dest="source", metavar="MODEL",
                   help="your trained float Keras model (.keras, or .h5 from Keras 2 or 3)")
    p.add_argument("--pixel-divisor", type=float, default=None,
                   help="with --from: the model takes byte / this (default 255, or 1 when it "
                        "has a Rescaling layer)")
    p.add_argument("--arch", default=None,
                   help=f"architecture to train from scratch (default {arch_mod.DEFAULT_ARCH}; "
                        f"see q8/arch.py)")
    p.add_argument("--board", default="icebreaker",
                   help="check that the network fits this board before any work "
                        "(python -m hw.fit); 'none' skips the check")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--float-epochs", type=int, default=defaults.float_epochs)
    p.add_argument("--qat-epochs", type=int, default=None,
                   help=f"quantization-aware epochs (default {defaults.qat_epochs}; with --from "
                        f"{IMPORTED_QAT_EPOCHS}, 0 = PTQ only)")
    p.add_argument("--batch", type=int, default=defaults.batch)
    p.add_argument("--shift", type=int, default=defaults.shift,
                   help="move each training image by up to this many pixels (augmentation)")
    p.add_argument("--filters", type=int, default=None,
                   help="shortcut: the user's network with this many Conv2D filters")
    p.add_argument("--dense", type=int, default=None,
                   help="shortcut: the user's network with this hidden dense width")
    p.add_argument("--train-limit", type=int, default=None,
                   help="train on the first N training images only")
    p.add_argument("--eval-limit", type=int, default=None,
                   help="evaluate on the first N test images only")
    p.add_argument("--data", metavar="FILE.npz",
                   help="your data set instead of MNIST: x_train, y_train, x_test, y_test "
                        "(uint8 images N x H x W or N x H x W x 3, integer labels; "
                        "docs/datasets.md)")
    p.add_argument("--json", action="store_true", help="print the accuracies as JSON at the end")
    return p


def _check_arguments(p, args):
    """Refuse contradictory or malformed arguments (exit status 2) before any work."""
    if not args.out.endswith(".npz"):
        p.error(f"--out must name a .npz file, not {args.out!r}")
    if args.eval_limit is not None and args.eval_limit < 1:
        p.error(f"--eval-limit must be 1 or more, not {args.eval_limit}")
    shortcuts = args.filters is not None or args.dense is not None
    for name in ("filters", "dense"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.exit(2, f"error: {name} must be a positive integer, not {value}\n")
    if args.source and (args.arch or shortcuts):
        p.error("--from imports a model's own architecture: leave out --arch, --filters and "
                "--dense")
    if args.arch and shortcuts:
        p.error("--filters and --dense are shortcuts for --arch: give one or the other")
    if args.pixel_divisor is not None and not args.source:
        p.error("--pixel-divisor goes with --from")


def _write(p, args, result, data, log):
    """Check that the Keras model and the reference agree, then write the weights file and
    the Keras model beside it (exit status 1 if they disagree or writing fails)."""
    agree = result.network.provenance["agree"]
    log(f"accuracy on {agree['images']} test images:\n{_table(result.accuracy)}\n"
        f"  Keras QAT = reference: {agree['logits']}/{agree['images']} logit vectors")
    if agree["logits"] != agree["images"]:
        p.exit(1, f"error: the quantized Keras model and the integer reference disagree on "
                  f"{agree['images'] - agree['logits']} of {agree['images']} images: nothing "
                  f"written (this is a bug: please report it with the model)\n")
    keras_path = args.out[:-len(".npz")] + ".keras"
    try:
        save(result.network, args.out)
        result.model.save(keras_path)
    except OSError as e:
        p.exit(1, f"error: trained, but writing {args.out} or {keras_path} failed ({e})\n")
    log(f"wrote {args.out} and {keras_path} ({result.seconds:.0f} s)")
    log(describe(result.network, data.x_train[:args.train_limit]))
    if args.json:
        print(json.dumps({"accuracy": result.accuracy, "agree": agree,
                          "seconds": round(result.seconds, 1)}))


def _check_data(p, args, data, entries, input_shape):
    """Refuse a data set the network cannot take (exit status 2), before any work."""
    units = arch_mod.configs(entries, input_shape=input_shape)[-1].out_shape[-1]
    if tuple(input_shape) != data.image_shape:
        p.exit(2, f"error: the network takes {'x'.join(map(str, input_shape))} images; "
                  f"{data.name}'s are {'x'.join(map(str, data.image_shape))}\n")
    if units < data.classes:
        p.exit(2, f"error: the network's logits are {units} classes, but {data.name}'s labels "
                  f"go up to {data.classes - 1}; end it with a dense layer of {data.classes} "
                  f"(e.g. --arch ...,dense{data.classes})\n")
    if args.eval_limit is not None and args.eval_limit > len(data.x_test):
        p.exit(2, f"error: --eval-limit {args.eval_limit}, but {data.name} has "
                  f"{len(data.x_test)} test images\n")


def main(argv=None):
    defaults = Recipe()
    p = _parser(defaults)
    args = p.parse_args(argv)
    _check_arguments(p, args)
    try:
        data = dataset.load(args.data)
    except (dataset.DatasetError, mnist.MnistError) as e:
        p.exit(2, f"error: {e}\n")
    qat_epochs = args.qat_epochs
    if qat_epochs is None:
        qat_epochs = IMPORTED_QAT_EPOCHS if args.source else defaults.qat_epochs
    arch = args.arch or _user_arch(filters=args.filters, dense=args.dense)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    try:
        if args.source:
            from .importer import ModelImportError, float_predictions, map_model, read_model
            try:
                model = read_model(args.source)
                mapped = map_model(model, pixel_divisor=args.pixel_divisor)
            except ModelImportError as e:
                p.exit(2, f"error: {e}\n")
            entries, input_shape = mapped.entries, mapped.input_shape
            log(f"{args.source}: {mapped.spec} on {'x'.join(map(str, input_shape))} pixels")
            for note in mapped.notes:
                log(f"  {note}")
        else:
            recipe = Recipe(seed=args.seed, float_epochs=args.float_epochs,
                            qat_epochs=qat_epochs, batch=args.batch, arch=arch,
                            shift=args.shift,
                            train_limit=args.train_limit)
            entries, input_shape = arch_mod.parse(arch), data.image_shape
        if qat_epochs < 0:
            raise ValueError(f"--qat-epochs must be 0 or more, not {qat_epochs}")
        if args.board != "none":
            refusal = _fit_check(entries, input_shape, args.board)
            if refusal:
                p.exit(2, f"error: the network does not fit the {args.board}: {refusal}\n")
        # before the minutes of training: a place the results can be written to
        os.makedirs(out_dir, exist_ok=True)
        if os.path.isdir(args.out) or not os.access(out_dir, os.W_OK):
            raise ValueError(f"cannot write {args.out}; choose another --out")
        _check_data(p, args, data, entries, input_shape)
    except OSError as e:
        p.exit(2, f"error: cannot write {args.out} ({e}); choose another --out\n")
    except ValueError as e:
        p.exit(2, f"error: {e}\n")
    if args.source:
        tx = data.x_test[:args.eval_limit]
        with open(args.source, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        result = train_imported(
            data, mapped, qat_epochs=qat_epochs, batch=args.batch, seed=args.seed,
            train_limit=args.train_limit, eval_images=args.eval_limit,
            verbose=progress_verbosity(), log=log,
            float_classes=float_predictions(model, tx, pixel_divisor=mapped.pixel_divisor),
            source={"file": os.path.basename(args.source), "sha256": digest})
    else:
        result = train(data, recipe, eval_images=args.eval_limit,
                       verbose=progress_verbosity(), log=log)
    _write(p, args, result, data, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
