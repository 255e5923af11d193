"""The host tool: image loading and its errors, a missing board, and a whole classification
on the simulated board."""

import json
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from host.__main__ import main as host_main
from hw.board.link import LinkError, SerialBoard
from host.board import ImageError, load_image
from q8 import mnist, reference, weights
from tests.netgen import random_network


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
             ({"png": tmp_path / "junk.png"}, "is not a PNG image"),
             ({"png": tmp_path / "missing.png"}, "cannot read .*missing.png"),
             ({"raw": str(tmp_path / "missing.bin")}, "missing.bin: no such file; --raw takes"),
             ({"raw": str(tmp_path / "f.npy")}, "must hold a 28x28 array of integers"),
             ({"mnist_index": 10000}, r"--mnist-index must be in \[0, 9999\]"),
             ({}, "give exactly one of")]
    for kwargs, message in cases:
        with pytest.raises(ImageError, match=message):
            load_image(**kwargs)


def _png_header(width, height, bit_depth=8, colour=0):
    """A PNG's signature and IHDR chunk: what a decoder reads before any pixel."""
    body = b"IHDR" + struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + body
            + struct.pack(">I", zlib.crc32(body)))


def test_png_claiming_a_huge_size_is_refused_from_its_header(tmp_path, capsys):
    # Pillow would stop at 30000x30000 with DecompressionBombError (a warning above 89M pixels)
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(30000, 30000) + bytes(100))
    with pytest.raises(ImageError, match="is 30000x30000 pixels; the network takes 28x28"):
        load_image(png=path)
    with pytest.raises(SystemExit) as info:
        host_main(["--sim", "--png", str(path)])
    assert info.value.code == 2
    assert capsys.readouterr().err == (f"error: {path} is 30000x30000 pixels; the network takes "
                                       f"28x28 (white digit on black, as in MNIST)\n")


def test_broken_png_is_refused(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(_png_header(28, 28) + bytes(30))
    with pytest.raises(ImageError, match="is not a readable PNG image .*save it as a "
                                         "28x28 greyscale PNG"):
        load_image(png=path)


def test_16_bit_grey_png_is_scaled(tmp_path):
    wide = (np.arange(784, dtype=np.uint32).reshape(28, 28) * 83 + 1000).astype(np.uint16)
    wide[0, :3] = [0, 65535, 32896]
    Image.fromarray(wide).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as saved:
        assert saved.mode.startswith("I")  # really 16-bit
    image = load_image(png=tmp_path / "g16.png")
    expected = (wide.astype(np.int64) * 255 + 32767) // 65535
    assert image.dtype == np.uint8 and np.array_equal(image, expected)
    assert image[0, :3].tolist() == [0, 255, 128] and len(np.unique(image)) > 200


def test_digit_in_the_alpha_channel(tmp_path):
    digit = mnist.load(download=False).x_test[3]
    for mode, colour in [("RGBA", (0, 0, 0)), ("RGBA", (255, 255, 255)), ("LA", (0,)),
                         ("RGBA", (200, 30, 10))]:
        pixels = np.zeros((28, 28, len(colour) + 1), np.uint8)
        pixels[..., :-1] = colour
        pixels[..., -1] = digit
        Image.fromarray(pixels, mode).save(tmp_path / "a.png")
        assert np.array_equal(load_image(png=tmp_path / "a.png"), digit), (mode, colour)
    # the colour of fully transparent pixels does not count
    pixels = np.zeros((28, 28, 4), np.uint8)
    pixels[digit == 0, :3] = 255
    pixels[..., 3] = digit
    Image.fromarray(pixels, "RGBA").save(tmp_path / "b.png")
    assert np.array_equal(load_image(png=tmp_path / "b.png"), digit)
    # opaque everywhere: the grey levels, as without an alpha channel
    Image.fromarray(np.stack([digit, np.full_like(digit, 255)], -1), "LA").save(
        tmp_path / "c.png")
    assert np.array_equal(load_image(png=tmp_path / "c.png"), digit)


def test_transparency_over_a_picture_is_refused(tmp_path):
    digit = mnist.load(download=False).x_test[3]
    pixels = np.stack([digit, digit, digit, np.full_like(digit, 128)], -1)
    Image.fromarray(pixels, "RGBA").save(tmp_path / "t.png")
    with pytest.raises(ImageError, match="has transparent pixels and more than one colour, "
                                         "which is ambiguous; save it as a greyscale PNG "
                                         "without transparency"):
        load_image(png=tmp_path / "t.png")


def test_host_without_mnist(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "nowhere.npz"))
    with pytest.raises(SystemExit) as info:
        host_main(["--port", str(tmp_path / "tty"), "--mnist-index", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: MNIST_PATH is set to '{tmp_path / 'nowhere.npz'}', which is "
                          f"not a file; point it at a Keras-layout mnist.npz or unset it")


def test_no_board_on_the_port(tmp_path):
    with pytest.raises(LinkError, match="cannot open .*Is the board connected"):
        SerialBoard(str(tmp_path / "ttyUSB9"), classes=10)


def test_classify_on_the_simulated_board(capsys, tmp_path):
    # The compiled board top (sim.board_host). A network with a small first dense layer: it
    # compiles and loads faster than the shipped one's (which tests/test_board.py loads and
    # classifies with); the command line's path is the same for any weights file.
    net = random_network(np.random.default_rng(5), dense=8)
    path = tmp_path / "small.npz"
    weights.save(net, path)
    host_main(["--sim", "--mnist-index", "4", "--weights", str(path)])
    out = capsys.readouterr().out
    ref = reference.run(net, mnist.load(download=False).x_test[4:5])
    assert f"class {ref.classes[0]}\n" in out
    assert f"logits {' '.join(str(v) for v in ref.logits[0])}\n" in out
    assert re.search(r"^request \d+: [\d.]+ ms round trip \(simulated", out, re.M)


def test_self_test_on_the_simulated_board(capsys, tmp_path):
    # the same small network's board, MNIST's test images in its simulated flash as hw.build
    # writes them; the JSON's counts are the board's, the reference's beside them
    net = random_network(np.random.default_rng(5), dense=8)
    path = tmp_path / "small.npz"
    weights.save(net, path)
    assert host_main(["--sim", "--self-test", "--images", "25", "--json",
                      "--weights", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    data = mnist.load(download=False)
    ref = reference.run(net, data.x_test[:25])
    assert result["images"] == 25
    assert result["correct"] == result["reference_correct"] == \
        int(np.sum(ref.classes == data.y_test[:25]))
    assert 0 < result["images_per_second"] < result["flash_bound"]
    with pytest.raises(SystemExit) as info:
        host_main(["--sim", "--self-test", "--images", "0"])
    assert info.value.code == 2
    assert "--images must be between 1 and 10,000 (the test images icebreaker's flash " \
        "holds), not 0" in capsys.readouterr().err


def test_self_test_on_the_simulated_icesugar(capsys, tmp_path):
    # --board alone sets the iCESugar's 42 MHz, 200,000 baud and its flash's 8,014 images
    net = random_network(np.random.default_rng(5), dense=8)
    path = tmp_path / "small.npz"
    weights.save(net, path)
    assert host_main(["--sim", "--board", "icesugar", "--self-test", "--images", "12",
                      "--json", "--weights", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)
    data = mnist.load(download=False)
    ref = reference.run(net, data.x_test[:12])
    assert result["correct"] == result["reference_correct"] == \
        int(np.sum(ref.classes == data.y_test[:12]))
    assert result["clock_mhz"] == 42.0
    # the flash's pace at 42 MHz: a record of 785 bytes, 16 cycles a byte
    assert result["flash_bound"] == round(42e6 / (785 * 16), 1)
    assert result["images_per_second"] == round(12 * 42e6 / result["cycles"], 1)
    with pytest.raises(SystemExit) as info:
        host_main(["--sim", "--board", "icesugar", "--self-test", "--images", "8015",
                   "--weights", str(path)])
    assert info.value.code == 2
    assert "--images must be between 1 and 8,014 (the test images icesugar's flash holds)" \
        in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--board", "nope", "--port", "x", "--mnist-index", "0"],
     "unknown board 'nope'; the boards are: icebreaker, icesugar, ulx3s-12f"),
    # the ULX3S's flash holds the 10,000 test images after its bitstream
    (["--board", "ulx3s-25f", "--sim", "--self-test", "--images", "10001"],
     "--images must be between 1 and 10,000 (the test images ulx3s-25f's flash holds)"),
    (["--board", "ulx3s-25f", "--port", "x", "--self-test", "--images", "0"],
     "--images must be between 1 and 10,000 (the test images ulx3s-25f's flash holds)"),
])
def test_host_refuses_what_its_board_cannot_do(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        host_main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
