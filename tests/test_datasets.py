# amaranth: UnusedElaboratable=no
"""Your own data set (``q8.dataset``, ``--data``): every malformed file refused with one line
before any work; scikit-learn's 8x8 digits (``python -m train.digits``) trained, then the
reference = Keras = the compiled RTL = the simulated board top over its UART, and its
self-test from the simulated flash, on every test image; its iCEBreaker bitstream built with
its self-test images; three channels (RGB) through both convolution engines, the board top
and the host's PNG path."""

import json
import os
import zipfile

import numpy as np
import pytest

from hw import fit
from hw.board.flash_image import parse_test_image
from hw.build.cli import main as build_main
from hw.stages.network import DenseSchedule, NetworkPipeline, default_schedule
from host.__main__ import main as host_main
from host.board import load_image
from platforms import get_board
from q8 import dataset, reference, weights
from sim.board_host import classify_on_boards, self_test_on_board
from sim.evaluate import main as evaluate_main
from sim.rtl import BUILD_DIR, build_model, rtl_model
from tests.netgen import network_from_arch
from tests.test_cli import _exit
from train.__main__ import main as train_main
from train.digits import main as digits_main
from train.model import load_keras_model, logits_codes

#: A small network for 8x8 images: it fits the iCEBreaker with room to spare, and keeps the
#: flash's pace in the self-test (hw.board.top.self_test_refusal).
DIGITS_ARCH = "conv8x3,pool,dense32,dense10"


def _arrays(rng, *, n_train=120, n_test=20, shape=(8, 8), classes=10):
    return {"x_train": rng.integers(0, 256, (n_train, *shape), np.uint8),
            "y_train": rng.integers(0, classes, n_train),
            "x_test": rng.integers(0, 256, (n_test, *shape), np.uint8),
            "y_test": rng.integers(0, classes, n_test)}


def _claiming(path, shape):
    """An .npz whose x_train's header claims ``shape`` uint8 but holds no data."""
    rng = np.random.default_rng(0)
    arrays = _arrays(rng)
    with zipfile.ZipFile(path, "w") as z:
        for key, array in arrays.items():
            with z.open(f"{key}.npy", "w") as f:
                if key == "x_train":
                    np.lib.format.write_array_header_1_0(
                        f, {"descr": "|u1", "fortran_order": False, "shape": shape})
                else:
                    np.lib.format.write_array(f, array)


def _bad(case, path):
    """Write the malformed data file ``case`` at ``path``; return a fragment of its refusal."""
    rng = np.random.default_rng(1)
    a = _arrays(rng)
    fragment = {
        "float images": ("x_train", a["x_train"].astype(np.float32), "is float32, not uint8"),
        "mismatched lengths": ("y_train", a["y_train"][:-1], "holds 120 images but y_train 119"),
        "labels out of range": ("y_test", np.full(20, 300), "labels range over 0..300"),
        "negative labels": ("y_train", -a["y_train"] - 1, "they must be 0..classes-1"),
        "5-D images": ("x_test", a["x_test"][:, :, :, None, None], "has shape (20, 8, 8, 1, 1)"),
        "4 channels": ("x_test", np.repeat(a["x_test"][..., None], 4, -1), "C = 1 or 3"),
        "float labels": ("y_test", a["y_test"].astype(np.float64), "labels are one integer"),
        "too few to calibrate": ("x_train", a["x_train"][:50], "50 training images; "
                                                               "calibration needs at least 100"),
        "other test shape": ("x_test", rng.integers(0, 256, (20, 9, 8), np.uint8),
                             "the training images are 8x8x1 but the test images 9x8x1"),
        "one class": ("y_train", np.zeros(120, np.int64), None),
        "no x_test": ("x_test", None, "has no array x_test"),
    }[case]
    key, value, said = fragment
    if case == "one class":
        a["y_test"] = np.zeros(20, np.int64)
        said = "a classifier needs at least two classes"
    if case == "too few to calibrate":
        a["y_train"] = a["y_train"][:50]
    if value is None:
        del a[key]
    else:
        a[key] = value
    np.savez(path, **a)
    return said


BAD_CASES = ["float images", "mismatched lengths", "labels out of range", "negative labels",
             "5-D images", "4 channels", "float labels", "too few to calibrate",
             "other test shape", "one class", "no x_test"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_a_malformed_data_file_is_refused_in_one_line(case, tmp_path, capsys):
    path = str(tmp_path / "bad.npz")
    said = _bad(case, path)
    code, err = _exit(evaluate_main, ["--data", path], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert said in err and path in err, err


def test_a_huge_claimed_array_is_refused_from_its_header(tmp_path, capsys):
    path = str(tmp_path / "huge.npz")
    _claiming(path, (70_000, 128, 128))   # 1.07 GiB claimed, not a byte of it present
    assert os.path.getsize(path) < 10_000
    for main, argv in [(evaluate_main, []), (train_main, ["--arch", DIGITS_ARCH]),
                       (build_main, []), (host_main, ["--sim", "--mnist-index", "0"])]:
        code, err = _exit(main, [*argv, "--data", path], capsys)
        assert code == 2 and err.count("\n") == 1, err
        assert "its arrays claim 1,146,882,400 bytes" in err and "more than the" in err, err


def test_not_a_data_file(tmp_path, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    for path, said in [(str(junk), "is not a .npz archive"),
                       (str(tmp_path / "missing.npz"), "no such file")]:
        code, err = _exit(evaluate_main, ["--data", path], capsys)
        assert code == 2 and said in err and err.count("\n") == 1, err


def test_a_network_for_other_images_is_refused(tmp_path, capsys):
    path = str(tmp_path / "eight.npz")
    np.savez(path, **_arrays(np.random.default_rng(2)))
    # the shipped network takes MNIST's 28x28
    code, err = _exit(evaluate_main, ["--data", path], capsys)
    assert code == 2 and "the network takes 28x28x1 images, but" in err and "8x8x1" in err


def test_the_layout_arrays_load_as_nhwc(tmp_path):
    rng = np.random.default_rng(3)
    arrays = _arrays(rng, classes=4)
    path = str(tmp_path / "ok.npz")
    np.savez(path, **arrays)
    data = dataset.load(path)
    assert data.x_train.shape == (120, 8, 8, 1) and data.image_shape == (8, 8, 1)
    assert np.array_equal(data.x_test[..., 0], arrays["x_test"])
    assert data.classes == max(arrays["y_train"].max(), arrays["y_test"].max()) + 1


# --- the 8x8 digits, end to end --------------------------------------------------------------

def _trained(tmp_path_factory, *, rgb):
    folder = tmp_path_factory.mktemp("digits_rgb" if rgb else "digits")
    data_path = str(folder / "digits.npz")
    assert digits_main(["--out", data_path, *(["--rgb"] if rgb else [])]) == 0
    out = str(folder / "digits_q8.npz")
    assert train_main(["--data", data_path, "--arch", DIGITS_ARCH, "--float-epochs", "25",
                       "--qat-epochs", "10", "--batch", "32", "--shift", "1",
                       "--out", out]) == 0
    return dataset.load(data_path), weights.load(out), out, data_path


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return _trained(tmp_path_factory, rgb=False)


@pytest.fixture(scope="module")
def digits_rgb(tmp_path_factory):
    return _trained(tmp_path_factory, rgb=True)


def test_digits_reference_keras_and_rtl_agree_on_every_test_image(digits):
    data, net, path, _ = digits
    assert data.x_train.shape == (1438, 8, 8, 1) and data.x_test.shape == (359, 8, 8, 1)
    ref = reference.run(net, data.x_test)
    assert np.mean(ref.classes == data.y_test) > 0.85   # it learnt the digits
    model = load_keras_model(path[:-len(".npz")] + ".keras")
    assert np.array_equal(logits_codes(model, data.x_test), ref.logits)
    run = rtl_model(net, board="icebreaker").run(data.x_test)
    assert np.array_equal(run.logits, ref.logits)
    planned = fit.plan(net.layers, board="icebreaker", params=net.params)
    assert set(run.cycles.tolist()) == {planned.latency}


def test_digits_on_the_simulated_board_over_its_uart_and_its_self_test(digits):
    data, net, _, _ = digits
    board = get_board("icebreaker")
    ref = reference.run(net, data.x_test)
    responses, stats = classify_on_boards(net, data.x_test, board=board, data=data)
    assert np.array_equal(np.array([r.logits for r in responses]), ref.logits)
    assert stats["board"] == "icebreaker"
    # the self-test of all 359 test images from the simulated flash, as hw.build --data
    # writes them: the board's count is the reference's
    result = self_test_on_board(net, board=board, data=data)
    assert result["images"] == len(data.x_test)
    assert result["correct"] == result["reference_correct"] == \
        int(np.sum(ref.classes == data.y_test))


def test_digits_bitstream_builds_with_its_self_test_images(digits, tmp_path, capsys):
    data, _, path, data_path = digits
    build_dir = tmp_path / "build"
    # at 42 MHz, one seed: the flow and the files are what is checked here (the shipped
    # network's build checks 48 MHz)
    build_main(["--weights", path, "--data", data_path, "--board", "icebreaker",
                "--clock-mhz", "42", "--tries", "1", "--build-dir", str(build_dir)])
    report = json.loads((build_dir / "report.json").read_text())
    assert report["timing_met"] and (build_dir / "top.bin").exists()
    assert report["design_clock_mhz"] == 42
    images, labels = parse_test_image((build_dir / "tests.bin").read_bytes())
    assert np.array_equal(images, data.x_test.reshape(len(data.x_test), -1))
    assert np.array_equal(labels, data.y_test)


# --- three channels ---------------------------------------------------------------------------

def test_rgb_networks_in_both_convolution_engines_are_bit_exact():
    rng = np.random.default_rng(4)
    images = np.concatenate([rng.integers(0, 256, (60, 10, 10, 3), np.uint8),
                             np.zeros((1, 10, 10, 3), np.uint8),
                             np.full((1, 10, 10, 3), 255, np.uint8)])
    for name, spec, folds in [("rgb-dense", "dense16,dense10", {}),
                              ("rgb-parallel", "conv3x3,pool,dense12,dense10", {}),
                              ("rgb-folded", "conv4x3same,pool,conv3x3,dense6",
                               {"conv1": (2, 1), "conv2": (2, 1)})]:
        net = network_from_arch(np.random.default_rng(10), spec, size=10, channels=3,
                                calibration=images)
        schedules = {**default_schedule(net),
                     **{n: DenseSchedule(lanes=f[0], groups_per_pass=f[1])
                        for n, f in folds.items()}}
        ref = reference.run(net, images)
        assert len(np.unique(ref.classes)) >= 3 and len(np.unique(ref.logits)) >= 16
        model = build_model(NetworkPipeline(net, schedules=schedules), name=name,
                            progress=False, build_dir=os.path.join(BUILD_DIR, "rgb", name))
        run = model.run(images)
        assert np.array_equal(run.logits, ref.logits), name
        planned = fit.plan(net.layers, params=net.params, schedules=schedules)
        assert set(run.cycles.tolist()) == {planned.latency}, name
        # the channels matter: the image with its channels swapped is another image
        swapped = reference.run(net, images[..., ::-1])
        assert not np.array_equal(swapped.logits, ref.logits)


def test_rgb_digits_on_the_simulated_board_and_through_the_hosts_png(digits_rgb, tmp_path,
                                                                     capsys):
    from PIL import Image
    data, net, path, data_path = digits_rgb
    assert net.input_shape == (8, 8, 3)
    ref = reference.run(net, data.x_test)
    model = load_keras_model(path[:-len(".npz")] + ".keras")
    assert np.array_equal(logits_codes(model, data.x_test), ref.logits)
    responses, _ = classify_on_boards(net, data.x_test, board=get_board("icebreaker"),
                                      data=data)
    assert np.array_equal(np.array([r.logits for r in responses]), ref.logits)
    # the host's RGB PNG: read back as the array it was written from, classified on the
    # simulated board as the reference does
    index = 5
    png = tmp_path / "rgb.png"
    Image.fromarray(data.x_test[index]).save(png)
    assert np.array_equal(load_image(png=png, shape=net.input_shape), data.x_test[index])
    assert host_main(["--sim", "--png", str(png), "--weights", path, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert answer["logits"] == ref.logits[index].tolist()
    # transparency: composited on black (a half-transparent pixel is half its colour)
    rgba = np.concatenate([data.x_test[index], np.full((8, 8, 1), 255, np.uint8)], -1)
    rgba[0, 0] = (200, 100, 50, 128)
    Image.fromarray(rgba, "RGBA").save(png)
    read = load_image(png=png, shape=net.input_shape)
    assert read[0, 0].tolist() == [100, 50, 25] and np.array_equal(read[1:],
                                                                   data.x_test[index][1:])
    # a grey PNG for an RGB network is read as RGB (its grey in every channel), a wrong size
    # is refused naming the network's
    Image.fromarray(np.full((8, 8), 77, np.uint8)).save(png)
    assert np.all(load_image(png=png, shape=net.input_shape) == 77)
    Image.fromarray(np.zeros((28, 28, 3), np.uint8)).save(png)
    with pytest.raises(ValueError, match="is 28x28 pixels; the network takes 8x8 RGB"):
        load_image(png=png, shape=net.input_shape)


def test_a_network_slower_than_the_flash_gets_no_self_test(digits, capsys, tmp_path):
    from host.board import test_images_on
    data, net, path, data_path = digits
    board = get_board("icebreaker")
    count, refusal = test_images_on(board, net, data)
    assert count == len(data.x_test) and refusal is None
    # without the pool its folded convolution takes longer an image than the flash takes to
    # bring one (a record of 65 bytes, 16 cycles each): its pixels would be lost
    slow = network_from_arch(np.random.default_rng(1), "conv8x3,dense32,dense10", size=8,
                             calibration=data.x_train[:100])
    interval = fit.plan(slow.layers, board=board, params=slow.params).interval
    assert interval > 65 * 16
    count, refusal = test_images_on(board, slow, data)
    assert count == 0 and f"takes {interval:,} cycles an image" in refusal
    slow_path = str(tmp_path / "slow.npz")
    weights.save(slow, slow_path)
    code, err = _exit(host_main, ["--sim", "--self-test", "--weights", slow_path,
                                  "--data", data_path], capsys)
    assert code == 2 and "has no self-test" in err and "1,040 cycles" in err, err
