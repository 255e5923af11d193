"""The user's float recipe, as a baseline for weights/README.md.

``python -m bench.user_recipe``: the Keras example exactly (standard layers, pixels / 255,
Adadelta with learning rate 1.0, batch 128, 12 epochs, categorical cross-entropy), evaluated on
the 10,000 MNIST test images. Prints one JSON line. ``--save model.keras --save model.h5``
keeps the trained float model (``.keras``, or the legacy ``.h5`` format), the starting point of
``python -m train --from`` (``docs/your-model.md``).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from q8 import mnist


def _lenet5(L, padding):
    """LeNet-5's layers, its first convolution with ``padding``."""
    return [L.Conv2D(6, (5, 5), padding=padding, activation="relu"), L.MaxPooling2D((2, 2)),
            L.Conv2D(16, (5, 5), activation="relu"), L.MaxPooling2D((2, 2)), L.Flatten(),
            L.Dense(120, activation="relu"), L.Dense(84, activation="relu"),
            L.Dense(10, activation="softmax")]


MODELS = {
    "user": lambda L: [
        L.Conv2D(2, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ],
    "two-conv": lambda L: [
        L.Conv2D(4, (5, 5)), L.ReLU(),
        L.MaxPooling2D((2, 2)),
        L.Conv2D(8, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Flatten(),
        L.Dense(32, activation="relu"),
        L.Dense(10, activation="softmax"),
    ],
    # keras.io's "Simple MNIST convnet" (examples/vision/mnist_convnet.py)
    "keras-convnet": lambda L: [
        L.Conv2D(32, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Flatten(),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
    ],
    # LeNet-5 with valid padding throughout (its first convolution on the 28x28 image)
    "lenet5": lambda L: _lenet5(L, "valid"),
    # LeNet-5 as usually written: its first convolution "same", keeping the 28x28 map
    "lenet5-same": lambda L: _lenet5(L, "same"),
    # the batch-normalised style: bias-less "same" convolutions, BatchNormalization, ReLU
    "bn-convnet": lambda L: [
        L.Conv2D(8, (3, 3), padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.MaxPooling2D((2, 2)),
        L.Conv2D(16, (3, 3), padding="same", use_bias=False), L.BatchNormalization(),
        L.ReLU(),
        L.MaxPooling2D((2, 2)),
        L.Flatten(),
        L.Dense(10, activation="softmax"),
    ],
    # all-convolutional: strides instead of pooling, a 1x1 convolution to the classes, their
    # means, a Softmax layer
    "all-conv": lambda L: [
        L.Conv2D(8, (3, 3), strides=2, padding="same", use_bias=False),
        L.BatchNormalization(), L.ReLU(),
        L.Conv2D(16, (3, 3), strides=2, padding="same", use_bias=False),
        L.BatchNormalization(), L.ReLU(),
        L.Conv2D(32, (3, 3), padding="same", use_bias=False),
        L.BatchNormalization(), L.ReLU(),
        L.Conv2D(10, (1, 1)),
        L.GlobalAveragePooling2D(),
        L.Softmax(),
    ],
}

#: Each model's own recipe: ``(optimizer, epochs, validation split)``; the user's and
#: two-conv train as the user's Keras example does, keras.io's convnet as its page does
#: (Adam, 15 epochs, a tenth held out), LeNet-5 as the convnet.
RECIPES = {
    "user": ("Adadelta(1.0)", 12, 0.0),
    "two-conv": ("Adadelta(1.0)", 12, 0.0),
    "keras-convnet": ("Adam", 15, 0.1),
    "lenet5": ("Adam", 15, 0.1),
    "lenet5-same": ("Adam", 15, 0.1),
    "bn-convnet": ("Adam", 15, 0.1),
    "all-conv": ("Adam", 30, 0.1),
}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.user_recipe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 2 bad input or usage")
    p.add_argument("--save", action="append", default=[], metavar="PATH",
                   help="save the trained model here (.keras or .h5; may be repeated)")
    p.add_argument("--epochs", type=int, default=None,
                   help="the recipe's (12; keras-convnet and lenet5: 15) unless told")
    p.add_argument("--model", choices=sorted(MODELS), default="user",
                   help="user: the user's network; two-conv: Conv2D(4, 5x5) -> ReLU -> "
                        "MaxPool -> Conv2D(8, 3x3, relu) -> MaxPool -> Dense(32, relu) -> "
                        "Dense(10, softmax), another architecture trained the same way; "
                        "keras-convnet: keras.io's Simple MNIST convnet and its recipe; "
                        "lenet5: LeNet-5 with valid padding, trained as the convnet; "
                        "lenet5-same: LeNet-5 as usually written (same padding first); "
                        "bn-convnet: batch-normalised same convolutions; all-conv: "
                        "strides, a 1x1 convolution and global average pooling")
    args = p.parse_args(argv)
    for path in args.save:
        if not path.endswith((".keras", ".h5")):
            p.error(f"--save must name a .keras or .h5 file, not {path!r}")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            p.error(f"--save {path}: {folder} is not a writable folder")
    optimizer, epochs, split = RECIPES[args.model]
    args.epochs = epochs if args.epochs is None else args.epochs
    if args.epochs < 1:
        p.error(f"--epochs must be at least 1, not {args.epochs}")
    try:
        data = mnist.load()
    except mnist.MnistError as e:
        p.exit(2, f"error: {e}\n")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras  # here, after the arguments: importing Keras and JAX takes seconds
    keras.utils.set_random_seed(0)
    x = data.x_train[..., None].astype(np.float32) / 255
    tx = data.x_test[..., None].astype(np.float32) / 255
    model = keras.Sequential([keras.Input((28, 28, 1)), *MODELS[args.model](keras.layers)])
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=(keras.optimizers.Adam() if optimizer == "Adam" else
                             keras.optimizers.Adadelta(learning_rate=1.0)))
    start = time.time()
    model.fit(x, keras.utils.to_categorical(data.y_train, 10), batch_size=128, epochs=args.epochs,
              validation_split=split, verbose=1 if sys.stdout.isatty() else 2)
    accuracy = float(np.mean(np.argmax(model.predict(tx, verbose=0), -1) == data.y_test))
    for path in args.save:
        model.save(path)
    held = f", {split:.0%} held out" if split else ""
    print(json.dumps({"recipe": f"{args.model} float: {optimizer}, batch 128, "
                                f"{args.epochs} epochs{held}",
                      "test_images": 10000, "accuracy": accuracy,
                      "seconds": round(time.time() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
