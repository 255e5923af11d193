"""Your own Keras model in (train.importer, ``python -m train --from``): the mapping and its
folds checked against the float model, .keras / Keras 3 .h5 / Keras 2 .h5 alike, every refusal,
and a short import + QAT run whose Keras model, reference and compiled RTL agree bit for bit."""

import json
import os
import sys

import numpy as np
import pytest

from train import quant  # noqa: F401  (sets KERAS_BACKEND)
import keras

from q8 import arch, mnist, reference, weights
from train import importer
from train.__main__ import main as train_main
from train.model import mac_layers, set_quantized

sys.path.insert(0, os.path.dirname(__file__))
from keras2 import keras3_h5_to_keras2  # noqa: E402

L = keras.layers


@pytest.fixture(scope="module")
def data():
    return mnist.load(download=False)


@pytest.fixture(scope="module")
def user_files(data, tmp_path_factory):
    """A small float model the way a user writes one (pixels / 255, softmax, a batch
    normalisation between a linear convolution and its ReLU), briefly trained, saved as
    .keras, as Keras 3 .h5 and as Keras 2 .h5."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(2, (3, 3)), L.BatchNormalization(), L.ReLU(),
        L.MaxPooling2D((2, 2)), L.Flatten(),
        L.Dense(16, activation="relu"), L.Dropout(0.25),
        L.Dense(10), L.Activation("softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(3e-3))
    model.fit(data.x_train[:12000, ..., None] / 255.0, data.y_train[:12000], epochs=2,
              batch_size=128, verbose=0)
    folder = tmp_path_factory.mktemp("user")
    paths = {"keras": str(folder / "user.keras"), "h5": str(folder / "user.h5"),
             "keras2": str(folder / "user_keras2.h5")}
    model.save(paths["keras"])
    model.save(paths["h5"])
    keras3_h5_to_keras2(paths["h5"], paths["keras2"])
    return model, paths


def _folded_logits(mapped, images):
    """The mapped model in float (no rounding) on raw bytes: softmax of its logits."""
    q = importer.quant_model(mapped)
    set_quantized(q, False)
    return keras.ops.convert_to_numpy(keras.ops.softmax(
        q.predict(images.astype(np.float32)[..., None], verbose=0)))


def _assert_computes_the_float_logits(model, mapped, images):
    """The mapped model in float gives ``model``'s softmax (a model whose logits are not yet
    softmaxed, or are) on raw bytes ``images``, to float rounding."""
    theirs = keras.ops.convert_to_numpy(keras.ops.softmax(
        model.predict(images[..., None].astype(np.float32), verbose=0)))
    assert np.allclose(_folded_logits(mapped, images), theirs, atol=2e-5)


def test_folds_compute_what_the_float_model_computes(data, user_files):
    model, _ = user_files
    mapped = importer.map_model(model)
    assert mapped.entries == arch.parse("conv2x3,pool,dense16,drop0.25,dense10")
    assert mapped.pixel_divisor == 255
    assert any("BatchNormalization folded" in n for n in mapped.notes)
    images = data.x_test[:300]
    ours = _folded_logits(mapped, images)
    theirs = model.predict(images[..., None] / 255.0, verbose=0)
    assert np.allclose(ours, theirs, atol=2e-5)
    # the batch normalisation was not the identity: folding it mattered
    bn = model.layers[1]
    assert not np.allclose(np.asarray(bn.moving_variance), 1.0)


def test_same_padding_and_strides_compute_what_the_float_model_computes(data):
    # Keras pads "same" with the odd row and column at the end (a 4x4 kernel, and a stride
    # 2 over an odd 13 wide map): the mapping's padding is Keras', to float rounding
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), L.Rescaling(1 / 255),
        L.Conv2D(3, 4, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
        L.Conv2D(2, 2, strides=3, activation="relu"), L.Flatten(), L.Dense(10)])
    mapped = importer.map_model(model)
    assert mapped.entries == arch.parse("conv3x4same,pool,conv4x3sames2,conv2x2s3,dense10")
    layers = arch.configs(mapped.entries)
    assert [l.out_shape for l in layers[:4]] == [(28, 28, 3), (14, 14, 3), (7, 7, 4),
                                                 (2, 2, 2)]
    assert layers[0].padding == ((1, 2), (1, 2)) and layers[2].padding == ((0, 1), (0, 1))
    _assert_computes_the_float_logits(model, mapped, data.x_test[:100])


def test_relu6_maps_and_computes_what_the_float_model_computes(data):
    keras.utils.set_random_seed(6)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), L.Rescaling(1 / 255),
        L.Conv2D(3, 3, use_bias=False), L.BatchNormalization(), L.ReLU(max_value=6),
        L.MaxPooling2D(2), L.Flatten(), L.Dense(16, activation="relu6"), L.Dense(10)])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(data.x_train[:512, ..., None].astype(np.float32), data.y_train[:512],
              epochs=1, batch_size=128, verbose=0)
    mapped = importer.map_model(model)
    assert mapped.entries == arch.parse("conv3x3r6,pool,dense16r6,dense10")
    _assert_computes_the_float_logits(model, mapped, data.x_test[:100])


def test_same_max_pooling_computes_what_the_float_model_computes(data):
    # a 27 wide map pooled 2x2 "same": its last window a column and a row short, whose
    # maximum Keras takes over the image's codes alone, as the contract's code 0 does
    keras.utils.set_random_seed(5)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), L.Rescaling(1 / 255),
        L.Conv2D(3, 2, activation="relu"), L.MaxPooling2D(2, padding="same"), L.Flatten(),
        L.Dense(10)])
    mapped = importer.map_model(model)
    assert mapped.entries == arch.parse("conv3x2,poolsame,dense10")
    assert arch.configs(mapped.entries)[1].out_shape == (14, 14, 3)
    _assert_computes_the_float_logits(model, mapped, data.x_test[:100])


def test_average_strided_and_global_max_poolings_compute_what_the_float_model_computes(data):
    # an overlapping max pooling (3, stride 2), a mean of 3x3 windows (its division by 9)
    # and a mean with a stride of 1, then the classes' maxima: every pooling form but same
    keras.utils.set_random_seed(6)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), L.Rescaling(1 / 255),
        L.Conv2D(3, 3, activation="relu"), L.MaxPooling2D(3, strides=2),
        L.AveragePooling2D(3), L.Conv2D(4, 1, activation="relu"),
        L.AveragePooling2D(2, strides=1), L.Conv2D(10, 1), L.GlobalMaxPooling2D(),
        L.Softmax()])
    mapped = importer.map_model(model)
    assert mapped.entries == arch.parse("conv3x3,pool3s2,avgpool3,conv4x1,avgpools1,"
                                        "conv10x1,gmp")
    assert [c.out_shape for c in arch.configs(mapped.entries)][1:5] == \
        [(12, 12, 3), (4, 4, 3), (4, 4, 4), (3, 3, 4)]
    images = data.x_test[:100]
    ours = _folded_logits(mapped, images)
    theirs = model.predict(images[..., None].astype(np.float32), verbose=0)
    assert np.allclose(ours, theirs, atol=2e-5)


def test_logits_from_a_flattened_1x1_map_are_its_dense_layer(data):
    # no Dense: a last convolution to the classes whose map is 1x1 (a stride leaves the last
    # row and column out; same padding's codes 0 take part), flattened: the dense layer it
    # computes, with the same float logits
    keras.utils.set_random_seed(7)
    for last in (L.Conv2D(10, 5, strides=2), L.Conv2D(10, 6, padding="same", strides=6)):
        model = keras.Sequential([
            keras.Input((28, 28, 1)), L.Rescaling(1 / 255),
            L.Conv2D(4, 3, strides=2, activation="relu"),
            L.Conv2D(6, 3, strides=2, activation="relu"), last, L.Flatten(), L.Softmax()])
        assert model.layers[-3].output.shape[1:3] == (1, 1)
        mapped = importer.map_model(model)
        assert mapped.entries == arch.parse("conv4x3s2,conv6x3s2,dense10")
        assert any("mapped as the dense layer it computes" in n for n in mapped.notes)
        images = data.x_test[:100]
        ours = _folded_logits(mapped, images)
        theirs = model.predict(images[..., None].astype(np.float32), verbose=0)
        assert np.allclose(ours, theirs, atol=2e-5)


def test_an_all_convolutional_model_maps_and_computes_what_the_float_model_computes(data):
    # batch normalisation after bias-less same convolutions, a stride of 2, a 1x1
    # convolution to the classes, their mean and a separate Softmax layer: no Dense
    keras.utils.set_random_seed(4)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), L.Rescaling(1 / 255),
        L.Conv2D(4, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(),
        L.Conv2D(8, 3, strides=2, padding="same", use_bias=False), L.BatchNormalization(),
        L.ReLU(), L.Conv2D(10, 1), L.GlobalAveragePooling2D(), L.Softmax()])
    # batch statistics that are not the identity's, so that the folds matter
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(data.x_train[:512, ..., None].astype(np.float32), data.y_train[:512],
              epochs=1, batch_size=128, verbose=0)
    mapped = importer.map_model(model)
    assert mapped.entries == arch.parse("conv4x3same,conv8x3sames2,conv10x1,gap")
    assert sum("BatchNormalization folded" in n for n in mapped.notes) == 2
    images = data.x_test[:100]
    ours = _folded_logits(mapped, images)
    theirs = model.predict(images[..., None].astype(np.float32), verbose=0)
    assert np.allclose(ours, theirs, atol=2e-5)


def test_rescaling_with_offset_is_folded(data):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Rescaling(1 / 127.5, offset=-1),
                              L.Conv2D(3, (5, 5), activation="relu"), L.Flatten(),
                              L.Dense(12, activation="relu"), L.Dense(10)])
    mapped = importer.map_model(model)
    assert mapped.pixel_divisor == 1  # a Rescaling layer: the model takes raw bytes
    images = data.x_test[:100]
    q = importer.quant_model(mapped)
    set_quantized(q, False)
    ours = q.predict(images.astype(np.float32)[..., None], verbose=0)
    theirs = model.predict(images[..., None].astype(np.float32), verbose=0)
    assert np.allclose(ours, theirs, atol=1e-4)


def test_a_flat_input_is_mnist_row_by_row(data):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((784,)), L.Dense(16, activation="relu"),
                              L.Dense(10, activation="softmax")])
    mapped = importer.map_model(model)
    assert mapped.input_shape == (28, 28, 1)
    assert mapped.entries == arch.parse("dense16,dense10")
    images = data.x_test[:50]
    ours = _folded_logits(mapped, images)
    theirs = model.predict(images.reshape(50, 784) / 255.0, verbose=0)
    assert np.allclose(ours, theirs, atol=2e-5)


def test_keras_files_of_both_versions_map_the_same(user_files):
    _, paths = user_files
    maps = [importer.map_model(importer.read_model(paths[k])) for k in ("keras", "h5", "keras2")]
    for other in maps[1:]:
        assert other.entries == maps[0].entries
        for (k0, b0), (k1, b1) in zip(maps[0].params, other.params):
            assert np.array_equal(k0, k1) and np.array_equal(b0, b1)


def test_from_keras_api_gives_a_network(data, user_files):
    model, paths = user_files
    net = importer.from_keras(paths["keras"], data.x_train[:2000])
    assert [l.kind for l in net.layers] == ["conv2d", "maxpool2d", "dense", "dense"]
    floats = importer.float_predictions(model, data.x_test[:1000], pixel_divisor=255)
    ours = reference.run(net, data.x_test[:1000]).classes
    # PTQ: close to the float model (on a briefly trained one, with small margins), not equal
    labels = data.y_test[:1000]
    assert np.mean(ours == floats) > 0.9
    assert np.mean(ours == labels) > np.mean(floats == labels) - 0.03


def test_import_and_qat_are_bit_exact_through_the_rtl(data, user_files, tmp_path, capsys):
    _, paths = user_files
    out = tmp_path / "imported.npz"
    assert train_main(["--from", paths["keras2"], "--out", str(out), "--train-limit", "6000",
                       "--qat-epochs", "1", "--eval-limit", "1000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["agree"] == {"images": 1000, "classes": 1000, "logits": 1000}
    assert set(report["accuracy"]) == {"float", "ptq_calibrated", "qat_keras", "reference"}
    assert report["accuracy"]["float"] > 0.85  # a model worth importing
    assert report["accuracy"]["reference"] > report["accuracy"]["float"] - 0.03
    net = weights.load(out)
    assert net.provenance["imported"]["file"] == "user_keras2.h5"
    assert len(net.provenance["imported"]["sha256"]) == 64
    assert (tmp_path / "imported.keras").exists()

    # the trained, batch-normalised network through the compiled RTL model
    from sim.rtl import rtl_model
    images = data.x_test[:300]
    run = rtl_model(net, progress=False).run(images)
    ref = reference.run(net, images)
    assert np.array_equal(run.logits, ref.logits)
    assert np.array_equal(run.classes, ref.classes)


def _branchy():
    inputs = keras.Input((28, 28, 1))
    a = L.Conv2D(2, 3, activation="relu")(inputs)
    b = L.Conv2D(2, 3, activation="relu")(inputs)
    x = L.Flatten()(L.Add()([a, b]))
    return keras.Model(inputs, L.Dense(10)(x))


REFUSED = {
    "dilation": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(2, 3, dilation_rate=2, name="c1"), L.Flatten(),
        L.Dense(10)]), "layer 'c1' (Conv2D): dilation (2, 2) is not supported"),
    "global max pooling with keepdims": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(10, 3, name="c1"),
        L.GlobalMaxPooling2D(keepdims=True, name="gmp"), L.Flatten(), L.Dense(10)]),
        "layer 'gmp' (GlobalMaxPooling2D): keepdims=True is not supported"),
    "mean with keepdims": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(10, 3, name="c1"),
        L.GlobalAveragePooling2D(keepdims=True, name="gap"), L.Flatten(), L.Dense(10)]),
        "layer 'gap' (GlobalAveragePooling2D): keepdims=True is not supported"),
    "mean of ReLU codes as the logits": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(10, 3, activation="relu", name="c1"),
        L.GlobalAveragePooling2D()]), "the last layer 'c1' ends in ReLU"),
    "same average pooling": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(2, 3, activation="relu"),
        L.AveragePooling2D(3, strides=2, padding="same", name="avg"), L.Flatten(),
        L.Dense(10)]),
        "layer 'avg' (AveragePooling2D): padding 'same' is not supported"),
    "relu threshold": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(2, 3), L.ReLU(threshold=0.5, name="r"),
        L.Flatten(), L.Dense(10)]),
        "layer 'r' (ReLU): only a ReLU without negative_slope or threshold"),
    "depthwise": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.DepthwiseConv2D(3, name="dw"), L.Flatten(),
        L.Dense(10)]), "layer 'dw' (DepthwiseConv2D): this layer is not supported"),
    "tanh": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Flatten(), L.Dense(8, activation="tanh", name="d1"),
        L.Dense(10)]), "layer 'd1' (Dense): activation 'tanh' is not supported"),
    "leaky relu": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Flatten(), L.Dense(8, name="d1"),
        L.LeakyReLU(name="leaky"), L.Dense(10)]), "layer 'leaky' (LeakyReLU)"),
    "branches": (_branchy, "branches, merges and shared layers are not supported"),
    "four channels": (lambda: keras.Sequential([
        keras.Input((28, 28, 4)), L.Flatten(), L.Dense(10)]),
        "supported: one grey channel (height, width, 1) or (height, width), three RGB"),
    "flat input of another size": (lambda: keras.Sequential([
        keras.Input((100,)), L.Dense(10)]), "the model's input is (100,)"),
    "signed hidden": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Flatten(), L.Dense(8, name="d1"), L.Dense(10)]),
        "layer 'd1' is a hidden dense layer without ReLU"),
    "batchnorm after relu": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(2, 3, activation="relu", name="c1"),
        L.BatchNormalization(name="bn"), L.Flatten(), L.Dense(10)]),
        "layer 'bn' (BatchNormalization): follows 'c1', which ends in ReLU"),
    "dense on an image": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Dense(10, name="d")]),
        "put a Flatten before it"),
    "relu on the logits": (lambda: keras.Sequential([
        keras.Input((28, 28, 1)), L.Flatten(), L.Dense(10, activation="relu", name="out")]),
        "the last layer 'out' ends in ReLU"),
    "kernel larger than the image": (lambda: keras.Sequential([
        keras.Input((8, 8, 1)), L.Conv2D(1, 3, activation="relu"), L.MaxPooling2D(4),
        L.Conv2D(1, 3, activation="relu"), L.Flatten(), L.Dense(10)]), None),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsupported_models_are_refused_naming_the_layer(case):
    make, message = REFUSED[case]
    if message is None:  # Keras itself refuses to build it: nothing to import
        with pytest.raises(ValueError):
            make()
        return
    with pytest.raises(importer.ModelImportError) as info:
        importer.map_model(make())
    assert message in str(info.value)
    assert "Supported:" in str(info.value) or "ReLU" in str(info.value) \
        or "chain" in str(info.value) or "channel" in str(info.value)


def test_cli_refusals_come_before_any_work(tmp_path, capsys):
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(2, 3, dilation_rate=2,
                                                                 name="c1"),
                              L.Flatten(), L.Dense(10)])
    path = tmp_path / "dilated.keras"
    model.save(path)
    out = str(tmp_path / "x.npz")
    cases = [
        (["--from", str(path)], "dilation (2, 2) is not supported"),
        (["--from", str(tmp_path / "missing.keras")], "no such model file"),
        (["--from", weights.DEFAULT_WEIGHTS], "a Keras model is a .keras or .h5 file"),
        (["--from", str(path), "--arch", "dense10"], "leave out --arch"),
        (["--pixel-divisor", "255"], "--pixel-divisor goes with --from"),
        (["--arch", "conv2x3,pool,dense32"], None),  # fine: parsed, then refused below
        (["--arch", "dense32,conv2x3,dense10"], "a conv2d layer after a dense layer"),
        (["--arch", "conv2x3,pool,dens32,dense10"], "cannot read 'dens32'"),
    ]
    for args, message in cases:
        if message is None:
            continue
        with pytest.raises(SystemExit) as exit_info:
            train_main([*args, "--out", out])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert not os.path.exists(out)
