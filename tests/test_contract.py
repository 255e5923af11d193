"""The arithmetic contract on hand-computed cases."""

import numpy as np
import pytest

from q8.contract import Format, requantize, round_shift, saturate, signed_width
from q8.layers import Conv2DConfig, DenseConfig, MaxPool2DConfig

U8 = Format(signed=False, frac=8)
S8 = Format(signed=True, frac=7)


def test_round_shift_halves_go_up():
    # 2.5 -> 3, 1.5 -> 2, -1.5 -> -1, -2.5 -> -2 (shift 1: value = acc / 2)
    assert round_shift([5, 3, -3, -5], 1).tolist() == [3, 2, -1, -2]
    # quarter steps: acc / 4 for acc = 1, 2, 3, -1, -2, -3
    assert round_shift([1, 2, 3, -1, -2, -3], 2).tolist() == [0, 1, 1, 0, 0, -1]


def test_round_shift_left_and_zero():
    assert round_shift([3, -3], 0).tolist() == [3, -3]
    assert round_shift([3, -3], -2).tolist() == [12, -12]


def test_saturate_at_the_int8_ends():
    s = Format(signed=True, frac=0)
    assert saturate([-129, -128, 127, 128, 10 ** 9, -10 ** 9], s).tolist() == \
        [-128, -128, 127, 127, 127, -128]
    u = Format(signed=False, frac=0)
    assert saturate([-1, 0, 255, 256], u).tolist() == [0, 0, 255, 255]


def test_requantize_is_relu_with_unsigned_output():
    u = Format(signed=False, frac=0)
    assert requantize([-1000, -3, -2, -1, 0, 1, 2, 3, 1021, 1022], 2, u).tolist() == \
        [0, 0, 0, 0, 0, 0, 1, 1, 255, 255]
    assert requantize([1021], 2, u).dtype == np.uint8


def test_format_quantize_rounds_half_up_and_saturates():
    f = Format(signed=True, frac=2)  # steps of 0.25
    values = [0.125, -0.125, 0.375, -0.375, 31.75, 31.9, 40.0, -32.0, -32.2, -40.0]
    assert f.quantize(values).tolist() == [1, 0, 2, -1, 127, 127, 127, -128, -128, -128]
    assert f.dequantize(f.quantize([1.25, -0.5])).tolist() == [1.25, -0.5]


def test_format_validation_messages():
    with pytest.raises(ValueError, match=r"frac must be an integer in \[-8, 24\], not 25"):
        Format(signed=True, frac=25)
    with pytest.raises(ValueError, match=r"frac must be an integer in \[-8, 24\], not 1.5"):
        Format(signed=True, frac=1.5)
    with pytest.raises(TypeError, match="signed must be a bool, not 1"):
        Format(signed=1, frac=3)
    assert str(Format(signed=True, frac=6)) == "s8 Q1.6"
    assert str(Format(signed=False, frac=8)) == "u8 Q0.8"


def test_signed_width():
    assert signed_width(-128, 127) == 8
    assert signed_width(-129, 127) == 9
    assert signed_width(-128, 128) == 9
    assert signed_width(0, 0) == 1


def _dense(n, *, bias_frac=15, out=Format(signed=False, frac=4), relu=True):
    return DenseConfig(name="d", in_features=n, out_features=1, input=U8, weight=S8,
                       bias=Format(signed=True, frac=bias_frac), output=out, relu=relu)


def test_worst_case_accumulator_fits_and_is_tight():
    layer = _dense(338)
    lo, hi = layer.acc_range
    # hand computed: 338 * 255 * -128, bias -128 << 0, and 127 * 255 * 338 + 127 + 2^(11-1)
    assert (lo, hi) == (338 * 255 * -128 - 128, 338 * 255 * 127 + 127 + 1024)
    width = layer.acc_width
    assert width == 25
    # every extreme input fits; one bit less does not
    x, w = np.full(338, 255, np.int64), np.full(338, -128, np.int64)
    acc = int(x @ w) - 128
    assert -(1 << (width - 1)) <= acc and hi <= (1 << (width - 1)) - 1
    assert acc < -(1 << (width - 2))


def test_conv_accumulator_width():
    conv = Conv2DConfig(name="c", in_shape=(28, 28, 1), kernel=(3, 3), out_channels=2,
                        input=U8, weight=S8, bias=Format(signed=True, frac=10),
                        output=Format(signed=False, frac=5), relu=True)
    # 9 * 255 * -128 = -293,760 and -128 << 5 = -4096: needs 20 bits
    assert conv.acc_range[0] == -293760 - 4096
    assert conv.acc_width == 20
    assert conv.out_shape == (26, 26, 2) and conv.bias_shift == 5 and conv.out_shift == 10


def test_layer_validation_messages():
    with pytest.raises(ValueError, match="bias frac 16 exceeds the accumulator's 15"):
        _dense(4, bias_frac=16)
    with pytest.raises(ValueError, match="must be unsigned with ReLU and signed without"):
        _dense(4, out=Format(signed=True, frac=4), relu=True)
    with pytest.raises(ValueError, match="in_features must be a positive integer, not 0"):
        _dense(0)
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than the input"):
        Conv2DConfig(name="c", in_shape=(4, 4, 1), kernel=(5, 5), out_channels=1, input=U8,
                     weight=S8, bias=S8, output=U8, relu=True)
    with pytest.raises(ValueError, match=r"pool must be a tuple of 2 positive integers"):
        MaxPool2DConfig(name="p", in_shape=(4, 4, 1), pool=(0, 2), format=U8)
