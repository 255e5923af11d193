"""A Keras 2 ``.h5`` file made from a Keras 3 one, for testing the import of Keras 2 models
without TensorFlow: Keras 2 (tf.keras 2.x) wrote the same HDF5 layout with an older model
config (``batch_input_shape``, dtypes as strings, no ``module``/``registered_name``) and
weights named ``<layer>/kernel:0`` under ``model_weights/<layer>/<layer>/``."""

import json

import h5py
import numpy as np


def _keras2_config(obj):
    if isinstance(obj, dict):
        if obj.get("class_name") == "DTypePolicy":
            return obj["config"]["name"]
        out = {}
        for key, value in obj.items():
            if key in ("module", "registered_name", "optional", "build_config"):
                continue
            out["batch_input_shape" if key == "batch_shape" else key] = _keras2_config(value)
        return out
    if isinstance(obj, list):
        return [_keras2_config(v) for v in obj]
    return obj


def keras3_h5_to_keras2(src, dst, *, version="2.15.0"):
    """Rewrite the Keras 3 ``.h5`` model file ``src`` as Keras ``version`` would have written
    it, into ``dst``."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        config = _keras2_config(json.loads(f.attrs["model_config"]))
        g.attrs["model_config"] = json.dumps(config)
        g.attrs["keras_version"] = version
        g.attrs["backend"] = "tensorflow"
        src_w = f["model_weights"]
        dst_w = g.create_group("model_weights")
        names = [n for n in src_w.attrs["layer_names"]]
        dst_w.attrs["layer_names"] = np.array([n.encode() for n in names])
        dst_w.attrs["backend"] = "tensorflow"
        dst_w.attrs["keras_version"] = version
        for name in names:
            group = dst_w.create_group(name)
            weight_names = []
            for full in src_w[name].attrs["weight_names"]:
                full = full.decode() if isinstance(full, bytes) else str(full)
                leaf = full.rsplit("/", 1)[-1]
                data = src_w[name][full]
                new = f"{name}/{leaf}:0"
                group.create_dataset(new, data=np.asarray(data))
                weight_names.append(new.encode())
            group.attrs["weight_names"] = np.array(weight_names)
