"""The Keras quantizer against the contract: round trips, exact halves, gradients, whole
networks."""

import numpy as np
import pytest

from train import quant  # sets KERAS_BACKEND=jax before keras loads
import jax
import keras

from q8 import reference
from q8.contract import Format
from train.model import from_network, logits_codes
from tests.netgen import random_network

FORMATS = [Format(signed=True, frac=7), Format(signed=True, frac=3),
           Format(signed=False, frac=8), Format(signed=False, frac=-2)]


def _fake(x, fmt):
    return np.asarray(keras.ops.convert_to_numpy(quant.fake_quant(np.float32(x), fmt)))


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_fake_quant_equals_contract(fmt):
    rng = np.random.default_rng(abs(fmt.frac) + 10 * fmt.signed)
    span = 300 * 2.0 ** -fmt.frac
    x = rng.uniform(-span, span, 20000).astype(np.float32)
    halves = ((np.arange(-300, 300) + 0.5) * 2.0 ** -fmt.frac).astype(np.float32)
    for values in (x, halves):
        assert np.array_equal(_fake(values, fmt), fmt.dequantize(fmt.quantize(values)))
    # exact halves round up: (k + 0.5) -> k + 1, clipped
    expected = np.clip(np.arange(-300, 300) + 1, fmt.min, fmt.max)
    assert np.array_equal(fmt.quantize(halves), expected)


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_codes_round_trip(fmt):
    codes = np.arange(fmt.min, fmt.max + 1)
    values = fmt.dequantize(codes).astype(np.float32)
    assert np.array_equal(fmt.quantize(values), codes)
    assert np.array_equal(_fake(values, fmt), values)


def test_straight_through_gradient():
    fmt = Format(signed=True, frac=4)  # codes cover [-8, 7.9375]
    x = np.array([-9.0, -8.0, -3.3, 0.01, 7.9, 7.97, 9.0], np.float32)
    grad = jax.grad(lambda v: quant.fake_quant(v, fmt).sum())(x)
    assert np.asarray(grad).tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize("filters,dense", [(2, 128), (4, 32)])
def test_keras_model_equals_reference(filters, dense):
    rng = np.random.default_rng(filters)
    net = random_network(rng, filters=filters, dense=dense)
    images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    ref = reference.run(net, images)
    assert np.array_equal(logits_codes(from_network(net), images), ref.logits)
