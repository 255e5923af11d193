"""The integer reference against hand-computed values and an independent scalar model."""

import numpy as np
import pytest

from q8 import reference, weights
from q8.contract import Format, requantize
from q8.layers import Conv2DConfig, DenseConfig, MaxPool2DConfig
from tests.netgen import random_network

U8 = Format(signed=False, frac=8)


def test_conv_by_hand():
    layer = Conv2DConfig(name="c", in_shape=(3, 3, 1), kernel=(2, 2), out_channels=1,
                         input=U8, weight=Format(signed=True, frac=7),
                         bias=Format(signed=True, frac=7), output=Format(signed=False, frac=6),
                         relu=True)
    x = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.uint8).reshape(1, 3, 3, 1)
    w = np.array([[1, -1], [2, 0]], np.int8).reshape(2, 2, 1, 1)
    b = np.array([3], np.int8)
    acc = reference.conv2d_acc(layer, x, w, b)
    # window (0,0): 1 - 2 + 8 = 7; bias 3 << 8 = 768 -> 775, and so on
    assert acc[0, :, :, 0].tolist() == [[775, 777], [781, 783]]
    # acc frac 15 -> output frac 6: (775 + 256) >> 9 = 2 for all four
    assert layer.out_shift == 9
    assert requantize(acc, layer.out_shift, layer.output).ravel().tolist() == [2, 2, 2, 2]


def test_same_padding_and_strides_by_hand():
    # a 2x2 kernel over a 3x3 image, "same" (one code 0 after the last row and column),
    # stride 2: the windows at (0, 0), (0, 2), (2, 0), (2, 2) of the padded image
    layer = Conv2DConfig(name="c", in_shape=(3, 3, 1), kernel=(2, 2), out_channels=1,
                         input=U8, weight=Format(signed=True, frac=7),
                         bias=Format(signed=True, frac=7), output=Format(signed=False, frac=6),
                         relu=True, padding=((0, 1), (0, 1)), strides=(2, 2))
    assert layer.out_shape == (2, 2, 1)
    x = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.uint8).reshape(1, 3, 3, 1)
    w = np.array([[1, -1], [2, 0]], np.int8).reshape(2, 2, 1, 1)
    acc = reference.conv2d_acc(layer, x, w, np.array([0], np.int8))
    # (0,0): 1 - 2 + 2*4 = 7; (0,2): 3 - 0 + 2*6 = 15; (2,0): 7 - 8 + 0 = -1; (2,2): 9
    assert acc[0, :, :, 0].tolist() == [[7, 15], [-1, 9]]


@pytest.mark.parametrize("padding,strides,message", [
    (((0, 2), (0, 0)), (1, 1), "padding \\(0, 2\\) of a kernel of 2 would make windows of "
                               "padding alone"),
    (((0, 0), (0, 0)), (0, 1), "strides must be a tuple of 2 positive integers"),
    (((0, -1), (0, 0)), (1, 1), "padding must be"),
])
def test_conv_padding_and_strides_are_checked(padding, strides, message):
    with pytest.raises(ValueError, match=message):
        Conv2DConfig(name="c", in_shape=(3, 3, 1), kernel=(2, 2), out_channels=1, input=U8,
                     weight=Format(signed=True, frac=7), bias=Format(signed=True, frac=7),
                     output=Format(signed=False, frac=6), relu=True, padding=padding,
                     strides=strides)


def test_relu6_caps_the_codes_by_hand():
    # output frac 4: 6.0 is code 96; frac -2: 6.0 / 4 = 1.5 rounds half up to code 2
    for frac, cap in ((4, 96), (-2, 2), (6, 255)):
        layer = DenseConfig(name="d", in_features=1, out_features=3, input=U8,
                            weight=Format(signed=True, frac=0), bias=Format(signed=True, frac=0),
                            output=Format(signed=False, frac=frac), relu=True, relu_max=6.0)
        assert layer.out_max == cap
        acc = np.array([[-5, 1 << 20, 3 << (8 - frac) if frac < 8 else 3]])
        codes = layer.requantize(acc)
        assert codes[0, 0] == 0 and codes[0, 1] == cap and codes[0, 2] <= cap
    with pytest.raises(ValueError, match="relu_max must be a number > 0 on a ReLU"):
        DenseConfig(name="d", in_features=1, out_features=1, input=U8,
                    weight=Format(signed=True, frac=0), bias=Format(signed=True, frac=0),
                    output=Format(signed=True, frac=0), relu=False, relu_max=6.0)


def test_dense_rounding_relu_and_saturation_by_hand():
    layer = DenseConfig(name="d", in_features=2, out_features=4, input=U8,
                        weight=Format(signed=True, frac=0), bias=Format(signed=True, frac=8),
                        output=Format(signed=False, frac=7), relu=True)
    x = np.array([[2, 1]], np.uint8)
    # columns: 2*1+1*1=3, 2*-1+1*0=-2, 2*127+1*127=381, 2*64+1*-127=1
    w = np.array([[1, -1, 127, 64], [1, 0, 127, -127]], np.int8)
    b = np.array([-2, 0, 127, 0], np.int8)
    acc = reference.dense_acc(layer, x, w, b)
    assert acc.tolist() == [[1, -2, 508, 1]]
    # out shift 1: (1+1)>>1 = 1, ReLU of -1 -> 0, 254.5 rounds up to 255 (saturation edge), 1
    assert requantize(acc, layer.out_shift, layer.output).tolist() == [[1, 0, 254, 1]]
    assert requantize(acc + np.array([[0, 0, 100, 0]]), 1, layer.output).tolist()[0][2] == 255


def test_maxpool_by_hand():
    layer = MaxPool2DConfig(name="p", in_shape=(5, 5, 1), pool=(2, 2), format=U8)
    x = np.arange(25, dtype=np.uint8).reshape(1, 5, 5, 1)
    # row 4 and column 4 are dropped
    assert reference.maxpool2d(layer, x)[0, :, :, 0].tolist() == [[6, 8], [16, 18]]


def test_argmax_ties_pick_the_lowest_index():
    logits = np.array([[3, 7, 7, 1], [-128, -128, -128, -128], [0, 0, 5, 5]], np.int8)
    assert reference.argmax(logits).tolist() == [1, 0, 2]


def _scalar_model(net, image):
    """The contract written out with Python integers, one multiply at a time."""
    h, w, _ = net.input_shape
    x = [[[int(image[r][c])] for c in range(w)] for r in range(h)]

    def requant(acc, layer):
        s = layer.out_shift
        v = (acc + (1 << (s - 1))) >> s if s > 0 else acc << -s
        return max(layer.output.min, min(layer.output.max, v))

    for layer in net.layers:
        p = net.params.get(layer.name)
        if layer.kind == "conv2d":
            kh, kw = layer.kernel
            (top, _), (left, _) = layer.padding
            sh, sw = layer.strides
            oh, ow, oc = layer.out_shape
            h, w, _ = layer.in_shape

            def at(r, c, k, x=x, h=h, w=w):   # code 0 outside the image
                return x[r][c][k] if 0 <= r < h and 0 <= c < w else 0
            x = [[[requant(sum(at(sh * r + i - top, sw * c + j - left, k) *
                               int(p["weight"][i, j, k, o])
                               for i in range(kh) for j in range(kw)
                               for k in range(layer.in_shape[2]))
                           + (int(p["bias"][o]) << layer.bias_shift), layer)
                   for o in range(oc)] for c in range(ow)] for r in range(oh)]
        elif layer.kind == "maxpool2d":
            oh, ow, oc = layer.out_shape
            x = [[[max(x[2 * r + i][2 * c + j][o] for i in range(2) for j in range(2))
                   for o in range(oc)] for c in range(ow)] for r in range(oh)]
        else:
            flat = [v for row in x for col in row for v in col] if isinstance(x[0], list) \
                else x
            x = [requant(sum(flat[i] * int(p["weight"][i, o]) for i in range(len(flat)))
                         + (int(p["bias"][o]) << layer.bias_shift), layer)
                 for o in range(layer.out_features)]
    return x


def test_reference_equals_scalar_model_with_padding_and_strides():
    from tests.netgen import network_from_arch
    rng = np.random.default_rng(7)
    net = network_from_arch(rng, "conv3x4same,conv2x3sames2,conv2x2s3,dense6", size=11)
    assert [l.out_shape for l in net.layers[:3]] == [(11, 11, 3), (6, 6, 2), (2, 2, 2)]
    images = rng.integers(0, 256, (3, 11, 11), dtype=np.uint8)
    for image, logits in zip(images, reference.run(net, images).logits):
        assert logits.tolist() == _scalar_model(net, image)


@pytest.mark.parametrize("extreme", [False, True])
def test_reference_equals_scalar_model(extreme):
    rng = np.random.default_rng(1 + extreme)
    net = random_network(rng, size=10, filters=3, dense=16, extreme=extreme)
    images = rng.integers(0, 256, (4, 10, 10), dtype=np.uint8)
    images[0] = 255  # all-255 input drives the largest sums
    result = reference.run(net, images, intermediates=True)
    for image, logits in zip(images, result.logits):
        assert logits.tolist() == _scalar_model(net, image)
    if extreme:  # the extremes really saturate somewhere
        assert np.any(np.isin(result.logits, [-128, 127]))
    assert result.layers["conv"].shape == (4, 8, 8, 3)
    assert result.layers["pool"].shape == (4, 4, 4, 3)
    assert result.layers["dense1"].dtype == np.uint8


def test_reference_rejects_malformed_images():
    net = random_network(np.random.default_rng(0), size=28)
    with pytest.raises(ValueError, match=r"images must have shape \(N, 28, 28, 1\) or "
                       r"\(N, 28, 28\) for a network whose input is 28x28x1, not \(2, 27, 28\)"):
        reference.run(net, np.zeros((2, 27, 28), np.uint8))
    with pytest.raises(ValueError, match="images must be uint8 pixel bytes"):
        reference.run(net, np.full((1, 28, 28), 300))
    assert reference.run(net, np.zeros((28, 28), np.uint8)).classes.shape == (1,)


@pytest.mark.parametrize("shape", [(28, 28, 2), (14, 56, 1)])
def test_reference_refuses_images_of_another_shape(shape):
    """MNIST's (N, 28, 28) images are never regrouped into a network's other input shape."""
    net = random_network(np.random.default_rng(0), size=28)
    manifest = net.manifest()
    manifest["input"]["shape"] = list(shape)
    h, w, c = shape
    pooled = ((h - 2) // 2) * ((w - 2) // 2) * 2
    params = {"conv.weight": np.zeros((3, 3, c, 2), np.int8), "conv.bias": np.zeros(2, np.int8),
              "dense1.weight": np.zeros((pooled, 128), np.int8),
              "dense1.bias": np.zeros(128, np.int8),
              "dense2.weight": np.zeros((128, 10), np.int8), "dense2.bias": np.zeros(10, np.int8)}
    other = weights.Network.from_manifest(manifest, params)
    mnist_like = np.zeros((4, 28, 28), np.uint8)
    with pytest.raises(ValueError, match=rf"for a network whose input is {h}x{w}x{c}, "
                                         rf"not \(4, 28, 28\)"):
        reference.run(other, mnist_like)
    assert reference.run(other, np.zeros((3, h, w, c), np.uint8)).classes.shape == (3,)
    if c == 1:  # one channel: the channel axis may be left out
        assert reference.run(other, np.zeros((h, w), np.uint8)).classes.shape == (1,)
