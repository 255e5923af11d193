"""The shipped weights: accuracy and exact agreement on all 10,000 MNIST test images."""

import json

import numpy as np
import pytest

from q8 import mnist, reference, weights
from sim.describe import describe
from sim.evaluate import main as evaluate_main


@pytest.fixture(scope="module")
def data():
    return mnist.load(download=False)


def test_reference_accuracy_on_all_test_images(data):
    net = weights.load()
    classes = reference.run(net, data.x_test).classes
    assert np.mean(classes == data.y_test) >= 0.980


def test_keras_qat_model_agrees_on_all_test_images(capsys):
    evaluate_main(["--backend", "keras", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 10000
    assert result["agree_with_reference"] == 10000
    assert result["logits_agree_with_reference"] == 10000
    assert result["accuracy"] >= 0.980


SECOND = weights.DEFAULT_WEIGHTS.replace("mnist_q8.npz", "mnist_q8_conv4.npz")


def test_second_network_agrees_and_is_more_accurate(data, capsys):
    # the most accurate network found to fit the UP5K (weights/README.md): 4 filters
    net = weights.load(SECOND)
    assert net.layers[0].out_channels == 4
    evaluate_main(["--backend", "keras", "--weights", SECOND, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 10000
    assert result["logits_agree_with_reference"] == 10000
    assert result["accuracy"] >= 0.987


def test_evaluate_reference_json(capsys):
    evaluate_main(["--backend", "reference", "--limit", "100", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert {"backend", "images", "accuracy", "agree_with_reference"} <= set(result)
    assert result["images"] == 100 and result["agree_with_reference"] == 100


def test_evaluate_refuses_a_bad_weights_file(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(SystemExit) as info:
        evaluate_main(["--weights", str(bad)])
    assert info.value.code == 2
    assert "not a readable .npz weights file" in capsys.readouterr().err


def test_describe_shows_formats_ranges_and_widths(data):
    net = weights.load()
    text = describe(net, data.x_train[:2000])
    for layer in net.mac_layers:
        assert f"{layer.name:<7}{layer.kind}" in text
        assert f"accumulator {layer.acc_width} bits" in text
        assert f"weight {layer.weight}  bias {layer.bias}" in text
    assert "output codes seen" in text and "ranges seen on 2000 images" in text
