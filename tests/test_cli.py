"""The command lines: ``--help`` everywhere, and exit status 0 done, 1 the work failed, 2 bad
input or usage, with one line naming the problem and the fix (never a traceback)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from host.__main__ import main as host_main
from q8 import weights
from sim.describe import main as describe_main
from sim.evaluate import main as evaluate_main
from tests.netgen import random_network
from train.__main__ import main as train_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _exit(main, argv, capsys):
    """Run ``main(argv)``; return its exit status and its stderr."""
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code
    return status or 0, capsys.readouterr().err


def _refused(main, argv, capsys, status, *fragments):
    code, err = _exit(main, argv, capsys)
    assert code == status, err
    assert err.count("\n") == 1 and err.startswith("error: "), err  # one line
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize("module", ["sim.evaluate", "sim.describe", "train", "host",
                                    "bench.cycles", "bench.user_recipe", "hw.fit"])
def test_every_command_has_help(module):
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module}")
    assert "exit status: 0 done" in " ".join(result.stdout.split())
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("main, argv", [
    (evaluate_main, ["--limit", "0"]), (evaluate_main, ["--backend", "nope"]),
    (evaluate_main, ["--backend", "board"]), (describe_main, ["--images", "-1"]),
    (train_main, ["--out", "x.h5"]), (train_main, ["--eval-limit", "0"]),
    (host_main, ["--sim"]), (host_main, ["--sim", "--png", "a.png", "--raw", "a.bin"])])
def test_usage_errors_exit_2(main, argv, capsys):
    code, err = _exit(main, argv, capsys)
    assert code == 2 and "usage: python -m" in err and "Traceback" not in err


def test_bad_recipe_exits_2(capsys):
    _refused(train_main, ["--filters", "0", "--out", "build/never.npz"], capsys, 2,
             "filters must be a positive integer, not 0")


def test_unwritable_out_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    _refused(train_main, ["--out", str(tmp_path / "file" / "w.npz")], capsys, 2,
             "choose another --out")


def _other_input(path, shape):
    """A weights file whose network takes ``shape`` images instead of MNIST's 28x28x1."""
    net = random_network(np.random.default_rng(0))
    manifest = net.manifest()
    manifest["input"]["shape"] = list(shape)
    h, w, c = shape
    rng = np.random.default_rng(1)
    sizes = {"conv": ((3, 3, c, 2), (2,)), "dense1": ((((h - 2) // 2) * ((w - 2) // 2) * 2, 128),
                                                    (128,)), "dense2": ((128, 10), (10,))}
    params = {f"{name}.{part}": rng.integers(-128, 128, s, dtype=np.int8)
              for name, (ws, bs) in sizes.items() for part, s in (("weight", ws), ("bias", bs))}
    weights.save(weights.Network.from_manifest(manifest, params), path)
    return str(path)


@pytest.mark.parametrize("shape", [(28, 28, 2), (14, 56, 1)])
def test_network_not_for_mnist_is_refused(tmp_path, capsys, shape):
    path = _other_input(tmp_path / "other.npz", shape)
    said = f"the network takes {'x'.join(map(str, shape))} images, but MNIST's are 28x28x1"
    for main, argv in [(evaluate_main, ["--limit", "10"]),
                       (evaluate_main, ["--backend", "pysim", "--limit", "10"]),
                       (describe_main, []), (host_main, ["--sim", "--mnist-index", "0"]),
                       (host_main, ["--port", "/dev/null", "--mnist-index", "0"])]:
        _refused(main, [*argv, "--weights", path], capsys, 2, path, said, "python -m train")
    # the layers alone need no MNIST-shaped input
    assert describe_main(["--weights", path, "--images", "0"]) == 0
    assert f"input  {'x'.join(map(str, shape))}" in capsys.readouterr().out


def test_bad_weights_file_exits_2(tmp_path, capsys):
    (tmp_path / "w.npz").write_bytes(b"junk")
    for main, argv in [(evaluate_main, []), (describe_main, ["--images", "0"]),
                       (host_main, ["--sim", "--mnist-index", "0"])]:
        _refused(main, [*argv, "--weights", str(tmp_path / "w.npz")], capsys, 2,
                 "not a readable .npz weights file", "python -m train")


@pytest.mark.parametrize("main, argv", [(evaluate_main, ["--limit", "10"]),
                                        (describe_main, []),
                                        (host_main, ["--sim", "--mnist-index", "0"]),
                                        (train_main, ["--out", "build/never.npz"])])
def test_mnist_path_to_nowhere_exits_2(main, argv, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "nowhere.npz"))
    _refused(main, argv, capsys, 2, "MNIST_PATH is set to", "nowhere.npz",
             "point it at a Keras-layout mnist.npz or unset it")


def test_failed_link_exits_1(tmp_path, capsys):
    port = str(tmp_path / "ttyUSB9")
    _refused(evaluate_main, ["--backend", "board", "--port", port, "--limit", "1"], capsys, 1,
             f"cannot open {port}", "Is the board connected?")
    _refused(host_main, ["--port", port, "--mnist-index", "0"], capsys, 1,
             f"cannot open {port}", "Is the board connected?")


def test_missing_compiler_exits_1(monkeypatch, capsys):
    # a tool that fails is the work failing (1), not the user's input (2)
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    code, err = _exit(evaluate_main, ["--backend", "rtl", "--limit", "1"], capsys)
    last = err.splitlines()[-1]  # after the model's progress lines
    assert code == 1 and last.startswith("error: the C++ compiler 'no-such-c++-compiler'"), err
    assert "Traceback" not in err


def test_a_user_error_is_one_line_from_the_shell(tmp_path):
    result = subprocess.run([sys.executable, "-m", "host", "--sim", "--raw",
                             str(tmp_path / "missing.bin")], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == (f"error: {tmp_path / 'missing.bin'}: no such file; --raw takes "
                             f"784 raw bytes or a 28x28 .npy file\n")


def test_evaluate_from_a_start(capsys):
    # a long run in parts: images K to K+N-1, each compared with the reference on those images
    import json
    from q8 import mnist, reference
    net, test = weights.load(), mnist.load(download=False)
    assert evaluate_main(["--backend", "rtl", "--start", "9990", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ref = reference.run(net, test.x_test[9990:])
    assert (result["first_image"], result["images"]) == (9990, 10)
    assert result["correct"] == int(np.sum(ref.classes == test.y_test[9990:]))
    assert result["logits_agree_with_reference"] == 10
    assert evaluate_main(["--start", "100", "--limit", "7", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["first_image"], result["images"]) == (100, 7)
    _refused(evaluate_main, ["--start", "9995", "--limit", "6"], capsys, 2,
             "--start 9995 --limit 6", "10000 test images (0 to 9999)")
    _refused(evaluate_main, ["--start", "10000"], capsys, 2, "(0 to 9999)")
    code, err = _exit(evaluate_main, ["--start", "-1"], capsys)
    assert code == 2 and "--start must be 0 or more" in err
