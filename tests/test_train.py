"""A reduced quantization-aware training run through the CLI (well under a minute)."""

import json

import numpy as np
import pytest

from q8 import weights
from sim.evaluate import main as evaluate_main
from train.__main__ import main as train_main


def test_reduced_training_run(tmp_path, capsys):
    out = tmp_path / "small.npz"
    train_main(["--out", str(out), "--train-limit", "30000", "--float-epochs", "2",
                "--qat-epochs", "3", "--eval-limit", "2000", "--seed", "3", "--json"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["accuracy"]["reference"] > 0.90
    assert report["accuracy"]["qat_keras"] == report["accuracy"]["reference"]
    assert report["agree"] == {"images": 2000, "classes": 2000, "logits": 2000}

    net = weights.load(out)
    assert net.provenance["recipe"]["seed"] == 3
    assert all(p[k].dtype == np.int8 for p in net.params.values() for k in p)

    evaluate_main(["--backend", "keras", "--weights", str(out), "--limit", "300", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "keras" and result["images"] == 300
    assert result["agree_with_reference"] == 300
    assert result["logits_agree_with_reference"] == 300


def test_recipe_validation():
    from train.qat import Recipe
    with pytest.raises(ValueError, match="qat_epochs must be a non-negative integer, not -1"):
        Recipe(qat_epochs=-1)
    with pytest.raises(ValueError, match="train_limit must be a positive integer or None"):
        Recipe(train_limit=0)


def test_shifted_training_and_another_architecture_stay_bit_exact():
    # the augmentation wraps the model for training only: the exported model's predictions
    # must come from the quantized layers, equal to the reference's
    from q8 import mnist
    from train.qat import Recipe, train
    recipe = Recipe(arch="conv2x5,pool3,dense12,dense10", float_epochs=1, qat_epochs=1,
                    shift=2, train_limit=3000)
    result = train(mnist.load(download=False), recipe, eval_images=300, verbose=0,
                   log=lambda *a: None)
    assert [l.kind for l in result.network.layers] == ["conv2d", "maxpool2d", "dense", "dense"]
    assert result.network.layers[0].kernel == (5, 5)
    assert result.network.layers[1].pool == (3, 3)
    assert result.network.provenance["agree"] == {"images": 300, "classes": 300, "logits": 300}
    assert result.network.provenance["recipe"]["shift"] == 2
    with pytest.raises(ValueError, match="shift must be an integer from 0 to 4"):
        Recipe(shift=9)
    with pytest.raises(ValueError, match="cannot read 'conv2'"):
        Recipe(arch="conv2,dense10")


def test_shift_images_moves_by_whole_pixels_with_zero_fill():
    from train.qat import shift_images
    x = np.arange(1, 10, dtype=np.uint8).reshape(1, 3, 3, 1)
    moved = {}
    rng = np.random.default_rng(0)
    for _ in range(200):
        y = shift_images(x, 1, rng)[0, ..., 0]
        moved[y.tobytes()] = y
    # every move by -1..1 rows and columns, and nothing else: 9 distinct images
    assert len(moved) == 9
    down_right = np.array([[0, 0, 0], [0, 1, 2], [0, 4, 5]], np.uint8)
    assert any(np.array_equal(m, down_right) for m in moved.values())
    # a move keeps the pixels it does not push out, in place relative to each other
    assert all(np.count_nonzero(m) in (4, 6, 9) for m in moved.values())


def test_a_network_that_does_not_fit_is_refused_before_training(tmp_path, capsys):
    import time
    out = tmp_path / "big.npz"
    start = time.time()
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--filters", "8", "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "does not fit the icebreaker" in err
    assert "173,056" in err and "131,072" in err  # dense1's weight bytes, the SPRAMs'
    assert time.time() - start < 30  # in seconds, not after minutes of training
    assert not out.exists()
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--board", "nosuch", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "nosuch" in capsys.readouterr().err
