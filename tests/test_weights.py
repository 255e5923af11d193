"""The weights file: round trip, and a clear error for every kind of malformed file."""

import io
import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from q8 import weights
from q8.weights import WeightsError
from tests.netgen import random_network


@pytest.fixture
def net():
    return random_network(np.random.default_rng(7))


def _write(path, manifest, arrays):
    raw = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    np.savez(path, manifest=raw, **arrays)


def _parts(net):
    return net.manifest(), {f"{n}.{k}": a for n, p in net.params.items() for k, a in p.items()}


def test_round_trip(tmp_path, net):
    path = tmp_path / "w.npz"
    weights.save(net, path)
    back = weights.load(path)
    assert back.layers == net.layers and back.input == net.input
    for name in net.params:
        for part in ("weight", "bias"):
            assert np.array_equal(back.params[name][part], net.params[name][part])
            assert back.params[name][part].dtype == np.int8
    assert back.provenance == {"made by": "tests"}


def test_shipped_weights_load():
    net = weights.load()
    assert [l.kind for l in net.layers] == ["conv2d", "maxpool2d", "dense", "dense"]
    assert net.params["dense1"]["weight"].shape == (338, 128)


def _expect(tmp_path, manifest, arrays, match):
    path = tmp_path / "bad.npz"
    _write(path, manifest, arrays)
    with pytest.raises(WeightsError, match=match) as info:
        weights.load(path)
    assert str(path) in str(info.value) and "python -m train" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        weights.load(tmp_path / "nope.npz")


def test_not_an_npz(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(WeightsError, match="not a readable .npz weights file"):
        weights.load(path)


def test_no_manifest(tmp_path, net):
    path = tmp_path / "bad.npz"
    np.savez(path, **_parts(net)[1])
    with pytest.raises(WeightsError, match="no 'manifest' entry"):
        weights.load(path)


def test_wrong_schema_and_version(tmp_path, net):
    manifest, arrays = _parts(net)
    _expect(tmp_path, {**manifest, "schema": "something/else"}, arrays,
            "not a weights file of this project")
    _expect(tmp_path, {**manifest, "version": 99}, arrays, "version 99 is not supported")


def test_wrong_shape(tmp_path, net):
    manifest, arrays = _parts(net)
    arrays["dense1.weight"] = arrays["dense1.weight"][:, :64]
    _expect(tmp_path, manifest, arrays,
            r"dense1.weight has shape \(338, 64\), but the manifest implies \(338, 128\)")


def test_wrong_dtype(tmp_path, net):
    manifest, arrays = _parts(net)
    arrays["conv.bias"] = arrays["conv.bias"].astype(np.float32)
    _expect(tmp_path, manifest, arrays, "conv.bias must be an int8 array, not float32")


def test_missing_array(tmp_path, net):
    manifest, arrays = _parts(net)
    del arrays["dense2.bias"]
    _expect(tmp_path, manifest, arrays, "dense2.weight and dense2.bias are required")


def test_bad_format(tmp_path, net):
    manifest, arrays = _parts(net)
    manifest["layers"][0]["weight"] = {"signed": True, "frac": 40}
    _expect(tmp_path, manifest, arrays, r"layer 'conv': frac must be an integer in \[-8, 24\]")
    manifest, arrays = _parts(net)
    manifest["layers"][2]["bias"]["frac"] = 30 - 8 + 24  # beyond any accumulator
    _expect(tmp_path, manifest, arrays, "layer 'dense1'")


def test_unknown_layer_kind(tmp_path, net):
    manifest, arrays = _parts(net)
    manifest["layers"][1] = {"name": "pool", "kind": "minpool2d", "pool": [2, 2]}
    _expect(tmp_path, manifest, arrays, "unknown kind 'minpool2d'")


def test_last_layer_must_give_logits(tmp_path, net):
    manifest, arrays = _parts(net)
    manifest["layers"][3]["relu"] = True
    manifest["layers"][3]["output"]["signed"] = False
    _expect(tmp_path, manifest, arrays, "the last layer must be a dense layer without ReLU")


def test_input_format_is_raw_bytes(tmp_path, net):
    manifest, arrays = _parts(net)
    manifest["input"]["format"] = {"signed": True, "frac": 7}
    _expect(tmp_path, manifest, arrays, "the input format must be u8 Q0.8")


def _add_entry(path, name, shape, dtype, data=b""):
    """Append ``name.npy`` to the .npz at ``path`` with a header claiming ``shape`` and
    ``dtype`` but only ``data`` behind it: a huge array that costs nothing to write."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.dtype(dtype).str,
                                                  "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(f"{name}.npy", header.getvalue() + data)


def _refused_quickly(path, match):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(WeightsError, match=match) as info:
            weights.load(path)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 1 and peak < 16 << 20  # nothing near the claimed size was read
    assert str(path) in str(info.value) and "python -m train" in str(info.value)


def test_huge_extra_array_is_refused_from_its_header(tmp_path, net):
    path = tmp_path / "extra.npz"
    weights.save(net, path)
    _add_entry(path, "junk", (1 << 30,), np.int8, bytes(1000))  # claims 1 GiB
    _refused_quickly(path, r"unexpected array 'junk': the manifest's layers have the arrays "
                           r"conv.bias, conv.weight, dense1.bias")


def test_huge_known_array_is_refused_from_its_header(tmp_path, net):
    manifest, arrays = _parts(net)
    del arrays["dense1.weight"]
    path = tmp_path / "huge.npz"
    _write(path, manifest, arrays)
    _add_entry(path, "dense1.weight", (1 << 15, 1 << 15), np.int8, bytes(1000))
    _refused_quickly(path, r"dense1.weight has shape \(32768, 32768\), but the manifest "
                           r"implies \(338, 128\)")


def test_large_real_extra_array_is_refused_before_reading(tmp_path, net):
    # 256 MiB of zeros, deflated to a few hundred kilobytes: loading it would take seconds
    path = tmp_path / "large.npz"
    weights.save(net, path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|i1", "fortran_order": False,
                                                  "shape": (256 << 20,)})
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("extra.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            block = bytes(1 << 20)
            for _ in range(256):
                f.write(block)
    _refused_quickly(path, "unexpected array 'extra'")


def test_oversized_manifest_is_refused(tmp_path, net):
    _, arrays = _parts(net)
    path = tmp_path / "manifest.npz"
    np.savez(path, **arrays)
    _add_entry(path, "manifest", (1 << 30,), np.uint8)
    _refused_quickly(path, r"the manifest must be a 1-D uint8 array of at most 1048576 bytes, "
                           r"not uint8 \(1073741824,\)")


def test_entry_that_is_not_an_array(tmp_path, net):
    path = tmp_path / "odd.npz"
    weights.save(net, path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(WeightsError, match="unexpected zip entry 'notes.txt': a weights file "
                                           "holds one .npy entry per array"):
        weights.load(path)
