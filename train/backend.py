"""The ``keras`` backend of ``python -m sim.evaluate``: the trained Keras QAT model saved beside
the weights file as ``.keras``.

``sim.evaluate`` (``sim.backends``) sits below the tools and never imports them: it finds this backend through
the ``mnist_q8.backends`` entry point (``pyproject.toml``), which installing the project with
its ``train`` extra provides.
"""

import os

import numpy as np

from sim.backends import BackendError

from .model import load_keras_model, logits_codes, to_network

__all__ = ["keras_backend"]


def keras_backend(net, args):
    """Prepare the backend for ``net`` (the weights file ``args.weights``)."""
    keras_path = os.path.splitext(args.weights)[0] + ".keras"
    if not os.path.exists(keras_path):
        raise BackendError(f"no Keras model at {keras_path}; `python -m train --out "
                           f"{args.weights}` writes it beside the weights file")
    model = load_keras_model(keras_path)
    exported = to_network(model)
    same = exported.layers == net.layers and all(
        np.array_equal(exported.params[n][k], net.params[n][k])
        for n in net.params for k in ("weight", "bias"))
    if not same:
        raise BackendError(f"{keras_path} does not hold the network of {args.weights}: "
                           f"they come from different training runs")
    return lambda images: (logits_codes(model, images), {})
