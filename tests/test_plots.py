"""The pictures (``sim.plots``) and the command lines that draw them: each writes a real,
non-blank PNG; bad paths and a missing matplotlib are refused before any work, with exit
status 2 and one line naming the fix."""

import os
import sys

import numpy as np
import pytest

import matplotlib.image

from q8 import mnist, reference, weights
from q8.contract import Format
from sim import plots
from sim.describe import main as describe_main
from sim.observe import code_counts, code_range, observe, saturated
from sim.evaluate import main as evaluate_main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def net():
    return weights.load()


@pytest.fixture(scope="module")
def data():
    return mnist.load(download=False)


def _is_picture(path, *, min_width=300, min_height=150):
    """``path`` is a PNG that matplotlib reads back, of a sensible size, not blank."""
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, pixels.shape
    assert np.var(pixels[..., :3]) > 0  # something is drawn
    return pixels


def _exit(main, argv, capsys):
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code
    out = capsys.readouterr()
    return status or 0, out.out, out.err


def _no_mnist(monkeypatch):
    """Make loading MNIST fail, to show that a check comes before the long work."""
    def refuse(*args, **kwargs):
        raise AssertionError("MNIST was loaded before the pictures' paths were checked")
    monkeypatch.setattr(mnist, "load", refuse)


# The counting behind the pictures: pure functions, checked by hand.

def test_confusion_matrix_counts_by_hand():
    labels = [0, 0, 1, 2, 2, 2, 1]
    predicted = [0, 1, 1, 2, 0, 2, 1]
    assert plots.confusion_matrix(labels, predicted, 3).tolist() == [
        [1, 1, 0],   # true 0: once right, once taken for 1
        [0, 2, 0],   # true 1: twice right
        [1, 0, 2],   # true 2: once taken for 0, twice right
    ]
    assert plots.confusion_matrix([], [], 2).tolist() == [[0, 0], [0, 0]]


def test_confusion_matrix_refuses_mismatched_input():
    with pytest.raises(ValueError, match="the same length, not 2 and 1"):
        plots.confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError, match=r"predicted must be classes in \[0, 1\], not values "
                                         r"in \[0, 2\]"):
        plots.confusion_matrix([0, 1], [0, 2], 2)


def test_code_counts_and_saturation_by_hand():
    signed, unsigned = Format(signed=True, frac=7), Format(signed=False, frac=4)
    counts = code_counts([-128, -128, 0, 5, 127], signed)
    assert len(counts) == 256 and counts[0] == 2 and counts[128] == 1 and counts[255] == 1
    assert saturated(counts, signed) == 3  # both ends of a signed format
    assert code_range(counts, signed) == (-128, 127)
    counts = code_counts(np.array([[0, 0], [255, 3]], np.uint8), unsigned)
    assert saturated(counts, unsigned) == 1  # an unsigned 0 is the ReLU, not a saturation
    assert code_range(counts, unsigned) == (0, 255)
    assert code_range(code_counts([], unsigned), unsigned) is None


def test_observe_counts_every_output(net, data):
    observed = observe(net, data.x_train[:300], chunk=128)
    assert observed.images == 300
    for layer in net.layers:
        counts = observed.codes[layer.name]
        assert counts.sum() == 300 * np.prod(layer.out_shape)
    out = reference.run(net, data.x_train[:300], intermediates=True).layers["dense2"]
    assert (observed.codes["dense2"] == code_counts(out, net.layers[-1].output)).all()


# The pictures.

def test_plot_ranges_writes_a_picture(net, data, tmp_path):
    path = tmp_path / "ranges.png"
    plots.plot_ranges(net, data.x_train[:500], str(path))
    pixels = _is_picture(path, min_width=1000, min_height=3 * 250)
    assert pixels.shape[0] < pixels.shape[1]  # three rows of three panels, wider than high


def test_plot_confusion_writes_a_picture(net, data, tmp_path):
    images, labels = data.x_test[:500], data.y_test[:500]
    path = tmp_path / "confusion.png"
    plots.plot_confusion(labels, reference.run(net, images).classes, str(path))
    _is_picture(path, min_width=500, min_height=500)


def test_plot_errors_writes_a_picture_of_at_most_limit_images(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (100, 28, 28, 1), dtype=np.uint8)
    labels = np.arange(100) % 10
    wrong = (labels + 1) % 10  # every image misclassified
    plots.plot_errors(images, labels, wrong, str(tmp_path / "all.png"))
    plots.plot_errors(images, labels, wrong, str(tmp_path / "few.png"), limit=3)
    grid = _is_picture(tmp_path / "all.png", min_width=800, min_height=800)  # 8 rows of 8
    row = _is_picture(tmp_path / "few.png", min_width=200, min_height=100)   # 1 row of 3
    assert row.shape[0] < grid.shape[0] / 4 and row.shape[1] < grid.shape[1]


def test_plot_errors_without_errors_says_so(tmp_path):
    labels = np.arange(20) % 10
    path = tmp_path / "none.png"
    plots.plot_errors(np.zeros((20, 28, 28), np.uint8), labels, labels, str(path))
    _is_picture(path, min_width=300, min_height=100)  # the sentence "no misclassified images"


def test_an_unwritable_picture_is_an_error(tmp_path):
    with pytest.raises(plots.PlotError, match="cannot write .*choose another path"):
        plots.plot_confusion([0, 1], [0, 1], str(tmp_path / "missing" / "c.png"))


def test_without_matplotlib_drawing_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(plots.PlotError) as info:
        plots.plot_confusion([0, 1], [0, 1], str(tmp_path / "c.png"))
    assert str(info.value) == "drawing needs matplotlib: pip install -e '.[plot]'"
    assert not (tmp_path / "c.png").exists()


# The command lines.

def test_describe_draws_the_ranges(tmp_path, capsys):
    path = tmp_path / "ranges.png"
    status, out, err = _exit(describe_main, ["--images", "2000", "--plot", str(path)], capsys)
    assert status == 0, err
    assert "ranges seen on 2000 images" in out and f"wrote {path}" in out
    _is_picture(path, min_width=1000, min_height=750)


def test_evaluate_draws_the_confusion_matrix_and_the_errors(tmp_path, capsys):
    confusion, errors = tmp_path / "confusion.png", tmp_path / "errors.png"
    status, out, err = _exit(evaluate_main, ["--limit", "200", "--confusion", str(confusion),
                                             "--errors", str(errors)], capsys)
    assert status == 0, err
    assert f"wrote {confusion}" in out and f"wrote {errors}" in out
    _is_picture(confusion, min_width=500, min_height=500)
    _is_picture(errors, min_width=150, min_height=150)


def _bad_paths(tmp_path):
    (tmp_path / "file").write_text("")
    (tmp_path / "folder.png").mkdir()
    return [(str(tmp_path / "x.jpg"), "does not end in .png"),
            (str(tmp_path / "missing" / "x.png"), "does not exist; create it or choose"),
            (str(tmp_path / "file" / "x.png"), "is not a directory; create it or choose"),
            (str(tmp_path / "folder.png"), "is a directory: give a file name ending in .png")]


@pytest.mark.parametrize("main, option", [(describe_main, "--plot"),
                                          (evaluate_main, "--confusion"),
                                          (evaluate_main, "--errors")])
def test_bad_picture_paths_exit_2_before_any_work(main, option, tmp_path, monkeypatch, capsys):
    _no_mnist(monkeypatch)
    for path, fragment in _bad_paths(tmp_path):
        status, _, err = _exit(main, [option, path], capsys)
        assert status == 2, err
        assert err.count("\n") == 1 and err.startswith(f"error: {option} "), err
        assert fragment in err, err


def test_an_unwritable_directory_exits_2(tmp_path, monkeypatch, capsys):
    _no_mnist(monkeypatch)
    # as root every directory is writable: pretend that this one is not
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(tmp_path)
                        else real_access(p, mode, **kw))
    status, _, err = _exit(describe_main, ["--plot", str(tmp_path / "r.png")], capsys)
    assert status == 2 and "is not writable; choose another path" in err, err


def test_usage_errors_of_the_pictures(tmp_path, capsys):
    status, _, err = _exit(describe_main, ["--images", "0", "--plot", "r.png"], capsys)
    assert status == 2 and "--plot draws the ranges seen on training images" in err
    same = str(tmp_path / "same.png")
    status, _, err = _exit(evaluate_main, ["--confusion", same, "--errors", same], capsys)
    assert status == 2 and "name the same file" in err


@pytest.mark.parametrize("main, argv", [(describe_main, ["--plot"]),
                                        (evaluate_main, ["--confusion"]),
                                        (evaluate_main, ["--errors"])])
def test_without_matplotlib_the_commands_exit_2_with_the_hint(main, argv, tmp_path,
                                                              monkeypatch, capsys):
    _no_mnist(monkeypatch)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, _, err = _exit(main, [*argv, str(tmp_path / "p.png")], capsys)
    assert status == 2
    assert err == "error: drawing needs matplotlib: pip install -e '.[plot]'\n"


def test_help_names_the_pictures(capsys):
    for main, options in ((describe_main, ["--plot"]), (evaluate_main, ["--confusion",
                                                                        "--errors"])):
        status, out, _ = _exit(main, ["--help"], capsys)
        assert status == 0
        for option in options:
            assert f"{option} FILE.png" in out
        assert "pip install -e '.[plot]'" in " ".join(out.split())
