"""Real Keras 2 ``.h5`` files, written by Keras 2 itself (tf-keras on TensorFlow, the project's
``keras2`` extra) in one subprocess: the user's network and a functional model with a
rescaling, same padding and batch normalisations, each briefly trained. Imported by
``train.importer``, each computes what Keras 2 computed on MNIST's test images, and maps to
what the hand-rewritten Keras 2 file (``tests/keras2.py``) of the same model maps to."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from train import quant  # noqa: F401  (sets KERAS_BACKEND)
import keras

from q8 import arch, mnist
from train import importer
from train.model import set_quantized

sys.path.insert(0, os.path.dirname(__file__))
from keras2 import keras3_h5_to_keras2  # noqa: E402

pytestmark = pytest.mark.extra("tf_keras", "keras2")

#: Keras 2 (tf-keras) writes the models: ``python -c WRITER FOLDER`` reads ``FOLDER/data.npz``
#: and writes ``FOLDER/<name>.h5`` and ``FOLDER/keras2.npz`` (each model's predictions on
#: ``x_test`` and its weights), so that one TensorFlow import makes every file.
WRITER = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
import tensorflow as tf
import tf_keras as keras
assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__
L = keras.layers
folder = sys.argv[1]
data = np.load(os.path.join(folder, "data.npz"))
keras.utils.set_random_seed(1)
user = keras.Sequential([
    keras.Input((28, 28, 1)), L.Conv2D(2, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
    L.Flatten(), L.Dense(128, activation="relu"), L.Dropout(0.5),
    L.Dense(10, activation="softmax")])
inputs = keras.Input((28, 28, 1))
x = L.Rescaling(1 / 255)(inputs)
x = L.Conv2D(4, 4, padding="same", use_bias=False)(x)
x = L.ReLU()(L.BatchNormalization()(x))
x = L.MaxPooling2D(3, strides=2, padding="same")(x)
x = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
x = L.Dense(32)(L.Flatten()(x))
x = L.Dropout(0.25)(L.Activation("relu")(L.BatchNormalization()(x)))
same_bn = keras.Model(inputs, L.Softmax()(L.Dense(10)(x)))
out = {"version": keras.__version__}
for name, model, divisor in (("user", user, 255.0), ("same_bn", same_bn, 1.0)):
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(3e-3))
    model.fit(data["x_train"][..., None] / divisor, data["y_train"], epochs=1,
              batch_size=128, verbose=0)
    model.save(os.path.join(folder, name + ".h5"))
    out[name + "/predictions"] = model.predict(data["x_test"][..., None] / divisor, verbose=0)
    for i, w in enumerate(model.get_weights()):
        out[f"{name}/weight{i}"] = w
np.savez(os.path.join(folder, "keras2.npz"), **out)
"""

#: Each model: its file's name, its architecture once mapped, what it takes (byte / divisor).
MODELS = {"user": ("conv2x3,pool,dense128,drop0.5,dense10", 255),
          "same_bn": ("conv4x4same,pool3sames2,conv4x3sames2,dense32,drop0.25,dense10", 1)}


@pytest.fixture(scope="module")
def data():
    return mnist.load(download=False)


@pytest.fixture(scope="module")
def written(data, tmp_path_factory):
    """``(folder, what Keras 2 computed)``: the files that Keras 2 wrote, in ``folder``."""
    folder = tmp_path_factory.mktemp("keras2")
    np.savez(folder / "data.npz", x_train=data.x_train[:6000], y_train=data.y_train[:6000],
             x_test=data.x_test[:500])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", WRITER, str(folder)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, dict(np.load(folder / "keras2.npz"))


def _float_outputs(mapped, images):
    """The mapped model in float (no rounding) on raw bytes: the softmax of its logits."""
    model = importer.quant_model(mapped)
    set_quantized(model, False)
    logits = model.predict(images.astype(np.float32)[..., None], verbose=0)
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits))


def test_the_files_are_keras_2s(written):
    folder, theirs = written
    assert str(theirs["version"]).startswith("2.")
    for name in MODELS:
        with h5py.File(folder / f"{name}.h5", "r") as f:
            assert f.attrs["keras_version"] == theirs["version"]
            config = json.loads(f.attrs["model_config"])
            layer = config["config"]["layers"][0]
            assert "batch_input_shape" in layer["config"]   # Keras 3 writes batch_shape


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_real_keras2_file_computes_what_keras2_computed(data, written, name):
    folder, theirs = written
    spec, divisor = MODELS[name]
    model = importer.read_model(folder / f"{name}.h5")
    weights = [np.asarray(w) for w in model.get_weights()]
    assert len(weights) == sum(k.startswith(f"{name}/weight") for k in theirs)
    for i, w in enumerate(weights):
        assert np.array_equal(w, theirs[f"{name}/weight{i}"])
    mapped = importer.map_model(model)
    assert mapped.entries == arch.parse(spec) and mapped.pixel_divisor == divisor
    images = data.x_test[:500]
    predictions = theirs[f"{name}/predictions"]
    assert np.allclose(_float_outputs(mapped, images), predictions, atol=2e-5)
    # a trained model, so that its outputs say something
    assert np.mean(np.argmax(predictions, -1) == data.y_test[:500]) > 0.5   # chance: 0.1


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_real_keras2_file_maps_as_the_hand_rewritten_one(written, tmp_path, name):
    folder, _ = written
    real = folder / f"{name}.h5"
    keras3 = tmp_path / "keras3.h5"
    importer.read_model(real).save(keras3)
    keras3_h5_to_keras2(keras3, tmp_path / "rewritten.h5")
    ours, rewritten = (importer.map_model(importer.read_model(p))
                       for p in (real, tmp_path / "rewritten.h5"))
    assert rewritten.entries == ours.entries and rewritten.notes == ours.notes
    assert len(rewritten.params) == len(ours.params)
    for (k0, b0), (k1, b1) in zip(ours.params, rewritten.params):
        assert np.array_equal(k0, k1) and np.array_equal(b0, b1)
