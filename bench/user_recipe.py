"""The user's float recipe, as a baseline for weights/README.md.

``python -m bench.user_recipe``: the Keras example exactly (standard layers, pixels / 255,
Adadelta with learning rate 1.0, batch 128, 12 epochs, categorical cross-entropy), evaluated on
the 10,000 MNIST test images. Prints one JSON line.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from q8 import mnist


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.user_recipe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 2 bad input or usage")
    p.parse_args(argv)
    try:
        data = mnist.load()
    except mnist.MnistError as e:
        p.exit(2, f"error: {e}\n")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras  # here, after the arguments: importing Keras and JAX takes seconds
    keras.utils.set_random_seed(0)
    x = data.x_train[..., None].astype(np.float32) / 255
    tx = data.x_test[..., None].astype(np.float32) / 255
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(2, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=keras.optimizers.Adadelta(learning_rate=1.0))
    start = time.time()
    model.fit(x, keras.utils.to_categorical(data.y_train, 10), batch_size=128, epochs=12,
              verbose=1 if sys.stdout.isatty() else 2)
    accuracy = float(np.mean(np.argmax(model.predict(tx, verbose=0), -1) == data.y_test))
    print(json.dumps({"recipe": "user float: Adadelta(1.0), batch 128, 12 epochs",
                      "test_images": 10000, "accuracy": accuracy,
                      "seconds": round(time.time() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
