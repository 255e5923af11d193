"""The host tool: image loading and its errors, a missing board, and a whole classification
on the simulated board."""

import numpy as np
import pytest
from PIL import Image

from host.__main__ import main as host_main
from board.link import LinkError, SerialBoard
from host.board import load_image
from q8 import mnist, reference, weights


def test_images_from_every_source(tmp_path):
    digit = mnist.load(download=False).x_test[3]
    Image.fromarray(digit).save(tmp_path / "d.png")
    np.save(tmp_path / "d.npy", digit)
    (tmp_path / "d.bin").write_bytes(digit.tobytes())
    for kwargs in ({"png": tmp_path / "d.png"}, {"raw": str(tmp_path / "d.npy")},
                   {"raw": str(tmp_path / "d.bin")}, {"mnist_index": 3}):
        assert np.array_equal(load_image(**kwargs), digit)


def test_malformed_images(tmp_path):
    Image.new("L", (32, 28)).save(tmp_path / "big.png")
    (tmp_path / "short.bin").write_bytes(bytes(700))
    (tmp_path / "junk.png").write_bytes(b"not a png")
    np.save(tmp_path / "f.npy", np.zeros((28, 28), np.float32))
    cases = [({"png": tmp_path / "big.png"}, "is 32x28 pixels; the network takes 28x28"),
             ({"raw": str(tmp_path / "short.bin")}, "has 700 bytes; a raw image is 784"),
             ({"png": tmp_path / "junk.png"}, "is not a readable image"),
             ({"raw": str(tmp_path / "f.npy")}, "must hold a 28x28 array of integers"),
             ({"mnist_index": 10000}, r"--mnist-index must be in \[0, 9999\]"),
             ({}, "give exactly one of")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            load_image(**kwargs)


def test_no_board_on_the_port(tmp_path):
    with pytest.raises(LinkError, match="cannot open .*Is the board connected"):
        SerialBoard(str(tmp_path / "ttyUSB9"))


def test_classify_on_the_simulated_board(capsys):
    host_main(["--sim", "--mnist-index", "4"])
    out = capsys.readouterr().out
    net = weights.load()
    ref = reference.run(net, mnist.load(download=False).x_test[4:5])
    assert f"class {ref.classes[0]}\n" in out
    assert f"logits {' '.join(str(v) for v in ref.logits[0])}\n" in out
    assert "cycles on the board" in out
