"""The MNIST loader: the real data, and a clear error when it cannot be had."""

import hashlib
import os

import numpy as np
import pytest

from q8 import mnist


@pytest.fixture
def no_mnist(monkeypatch, tmp_path):
    """No MNIST_PATH and an empty home: the loader has nowhere local to look."""
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


def test_real_data_loads():
    data = mnist.load(download=False)
    assert data.x_train.shape == (60000, 28, 28) and data.x_test.dtype == np.uint8
    assert data.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(data.y_train).tolist()[:2] == [5923, 6742]


def test_mnist_path_to_a_missing_file(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "missing.npz"))
    with pytest.raises(mnist.MnistError, match="MNIST_PATH is set to .*missing.npz.*not a file"):
        mnist.load()


def test_no_file_and_no_download(no_mnist):
    with pytest.raises(mnist.MnistError, match="MNIST is not on this machine; set MNIST_PATH"):
        mnist.load(download=False)


def test_no_file_and_offline(no_mnist):
    # port 9 on loopback: nothing listens, so this fails at once as it would offline
    with pytest.raises(mnist.MnistError, match="downloading it from .* failed .*set MNIST_PATH"):
        mnist.load(url="http://127.0.0.1:9/mnist.npz")
    assert not os.listdir(os.path.join(os.environ["HOME"], ".keras", "datasets"))


def test_download_with_a_wrong_checksum_is_deleted(no_mnist, tmp_path):
    bogus = tmp_path / "bogus.npz"
    bogus.write_bytes(b"not mnist")
    with pytest.raises(mnist.MnistError, match="has SHA-256 " +
                       hashlib.sha256(b"not mnist").hexdigest()):
        mnist.load(url=bogus.as_uri())
    assert not os.listdir(os.path.join(os.environ["HOME"], ".keras", "datasets"))


def test_a_file_of_the_wrong_layout(monkeypatch, tmp_path):
    path = tmp_path / "small.npz"
    np.savez(path, x_train=np.zeros((5, 28, 28), np.uint8), y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.zeros(5, np.uint8))
    monkeypatch.setenv("MNIST_PATH", str(path))
    with pytest.raises(mnist.MnistError, match=r"x_train has shape \(5, 28, 28\)"):
        mnist.load()
