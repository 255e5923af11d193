# amaranth: UnusedElaboratable=no

"""Each gateware stage alone in Amaranth's simulator against the integer reference: random
tensors, the extremes, random gaps in valid and random back-pressure on ready."""

import numpy as np
import pytest

from hw.stages.argmax import ArgmaxStage
from hw.lib.arith import LogicMultiplier
from hw.stages.conv import Conv2DStage
from hw.stages.dense import DenseStage, WeightMemory, dense_weight_words
from hw.stages.pool import Pool2DStage
from q8 import reference
from q8.contract import Format, requantize
from q8.layers import Conv2DConfig, DenseConfig, MaxPool2DConfig
from sim.pysim import simulate_stage

from amaranth.hdl import Module
from amaranth.sim import Simulator
from amaranth.lib import wiring

U8_IN = Format(signed=False, frac=8)
TRAFFIC = [(0.0, 0.0), (0.4, 0.4)]  # (gap, stall): full rate, then random gaps and stalls


def _elements(tensor, width):
    """Transfers of ``width`` codes from (N, ...) codes, ``last`` on each image's last."""
    out = []
    for image in tensor:
        flat = image.reshape(-1, width)
        out += [{"data": [int(v) for v in e], "last": n == len(flat) - 1}
                for n, e in enumerate(flat)]
    return out


def _codes(payloads):
    return np.array([[int(v) for v in p.data] for p in payloads])


def _lasts(payloads):
    return [int(p.last) for p in payloads]


def _weights(rng, shape, extreme):
    if extreme:
        return rng.choice(np.array([-128, 127], np.int8), shape)
    return rng.integers(-128, 128, shape, dtype=np.int8)


# --- max pooling -------------------------------------------------------------------------

@pytest.mark.parametrize("gap,stall", TRAFFIC)
@pytest.mark.parametrize("fmt", [Format(signed=False, frac=6), Format(signed=True, frac=2)],
                         ids=str)
def test_maxpool(gap, stall, fmt):
    cfg = MaxPool2DConfig(name="pool", in_shape=(7, 9, 2), pool=(2, 2), format=fmt)
    rng = np.random.default_rng(5)
    x = rng.integers(fmt.min, fmt.max + 1, (3, 7, 9, 2)).astype(fmt.dtype)
    x[1] = fmt.max  # the extremes
    x[2] = fmt.min
    expected = reference.maxpool2d(cfg, x)
    out = simulate_stage(Pool2DStage(config=cfg), _elements(x, 2), expected.size // 2,
                         seed=1, gap=gap, stall=stall)
    assert np.array_equal(_codes(out).reshape(expected.shape), expected)
    assert _lasts(out) == ([0] * 11 + [1]) * 3


def test_maxpool_3x3_window():
    cfg = MaxPool2DConfig(name="pool", in_shape=(7, 8, 1), pool=(3, 3),
                          format=Format(signed=False, frac=0))
    x = np.random.default_rng(2).integers(0, 256, (2, 7, 8, 1)).astype(np.uint8)
    expected = reference.maxpool2d(cfg, x)
    out = simulate_stage(Pool2DStage(config=cfg), _elements(x, 1), expected.size)
    assert np.array_equal(_codes(out).reshape(expected.shape), expected)


# --- convolution -------------------------------------------------------------------------

def _conv_config(*, in_shape, kernel, out_channels, rng, output_frac=5):
    return Conv2DConfig(name="conv", in_shape=in_shape, kernel=kernel, out_channels=out_channels,
                        input=U8_IN, weight=Format(signed=True, frac=int(rng.integers(5, 8))),
                        bias=Format(signed=True, frac=10),
                        output=Format(signed=False, frac=output_frac),
                        relu=True)


@pytest.mark.parametrize("gap,stall", TRAFFIC)
@pytest.mark.parametrize("extreme", [False, True])
def test_conv(gap, stall, extreme):
    rng = np.random.default_rng(3 + extreme)
    # finer outputs for the extremes, so that their sums saturate
    cfg = _conv_config(in_shape=(6, 7, 1), kernel=(3, 3), out_channels=3, rng=rng,
                       output_frac=9 if extreme else 5)
    w, b = _weights(rng, cfg.weight_shape, extreme), _weights(rng, cfg.bias_shape, extreme)
    x = rng.integers(0, 256, (3, 6, 7, 1)).astype(np.uint8)
    x[0] = 255  # all-255 input: the largest sums
    expected = requantize(reference.conv2d_acc(cfg, x, w, b), cfg.out_shift, cfg.output)
    if extreme:  # the extremes really saturate at both ends
        assert (expected == 255).any() and (expected == 0).any()
    out = simulate_stage(Conv2DStage(config=cfg, weight=w, bias=b), _elements(x, 1),
                         expected.size // 3, seed=4, gap=gap, stall=stall)
    assert np.array_equal(_codes(out).reshape(expected.shape), expected)
    assert _lasts(out) == ([0] * 19 + [1]) * 3


def test_conv_two_input_channels_and_a_wide_kernel():
    rng = np.random.default_rng(8)
    cfg = _conv_config(in_shape=(5, 6, 2), kernel=(2, 4), out_channels=2, rng=rng)
    w, b = _weights(rng, cfg.weight_shape, False), _weights(rng, cfg.bias_shape, False)
    x = rng.integers(0, 256, (2, 5, 6, 2)).astype(np.uint8)
    expected = requantize(reference.conv2d_acc(cfg, x, w, b), cfg.out_shift, cfg.output)
    out = simulate_stage(Conv2DStage(config=cfg, weight=w, bias=b), _elements(x, 2),
                         expected.size // 2, seed=9, gap=0.3, stall=0.3)
    assert np.array_equal(_codes(out).reshape(expected.shape), expected)


def test_conv_resynchronises_on_last():
    # the first image is cut short (its last pixel marked early): the next image must still
    # come out right
    rng = np.random.default_rng(11)
    cfg = _conv_config(in_shape=(5, 5, 1), kernel=(3, 3), out_channels=1, rng=rng)
    w, b = _weights(rng, cfg.weight_shape, False), _weights(rng, cfg.bias_shape, False)
    x = rng.integers(0, 256, (1, 5, 5, 1)).astype(np.uint8)
    short = _elements(x, 1)[:17]
    short[-1]["last"] = True
    expected = requantize(reference.conv2d_acc(cfg, x, w, b), cfg.out_shift, cfg.output)
    out = simulate_stage(Conv2DStage(config=cfg, weight=w, bias=b), short + _elements(x, 1),
                         3 + 9)  # the cut image yields its first row of windows (3 outputs)
    assert np.array_equal(_codes(out[3:]).reshape(expected.shape), expected)


# --- dense -------------------------------------------------------------------------------

class _DenseWithMemory(wiring.Component):
    """A dense stage with its weights in a WeightMemory, as the pipeline builds it."""

    def __init__(self, stage, words):
        self.stage, self.words = stage, words
        members = stage.signature.members
        super().__init__({"i": members["i"], "o": members["o"]})

    def elaborate(self, platform):
        m = Module()
        m.submodules.stage = self.stage
        m.submodules.store = store = WeightMemory(words=self.words, lanes=self.stage.lanes)
        wiring.connect(m, self.stage.weights, store.read)
        wiring.connect(m, wiring.flipped(self.i), self.stage.i)
        wiring.connect(m, self.stage.o, wiring.flipped(self.o))
        return m


def _dense_config(n, out, *, relu, rng):
    return DenseConfig(name="dense", in_features=n, out_features=out,
                       input=Format(signed=False, frac=5),
                       weight=Format(signed=True, frac=int(rng.integers(5, 8))),
                       bias=Format(signed=True, frac=6),
                       output=Format(signed=not relu, frac=3), relu=relu)


@pytest.mark.parametrize("gap,stall", TRAFFIC)
@pytest.mark.parametrize("lanes,per_pass,extreme,relu,logic", [
    (4, 1, False, True, 0),    # three passes of one group (the 338x128 layer's schedule)
    (5, 3, False, False, 0),   # one pass of three groups (the last layer's schedule), signed
    (4, 1, True, True, 0),     # weights at +127 / -128, saturating sums
    (3, 2, True, False, 0),
    (5, 1, True, True, 3),     # three lanes multiplied in logic (the ECP5's beyond its DSPs)
    (3, 2, False, False, 3),   # all in logic
    (4, 1, False, True, -1),   # in DSPs, the weights registered on their way (the ECP5's)
])
def test_dense(gap, stall, lanes, per_pass, extreme, relu, logic):
    rng = np.random.default_rng(lanes * 10 + per_pass + extreme)
    n, out, k = 10, 12 if lanes != 5 else 13, 2
    cfg = _dense_config(n, out, relu=relu, rng=rng)
    w, b = _weights(rng, cfg.weight_shape, extreme), _weights(rng, cfg.bias_shape, extreme)
    x = rng.integers(0, 256, (3, n)).astype(np.uint8)
    x[0] = 255
    expected = requantize(reference.dense_acc(cfg, x, w, b), cfg.out_shift, cfg.output)
    groups = -(-out // lanes)
    if groups % per_pass:
        pytest.skip("not a valid schedule")  # pragma: no cover - the cases above are valid
    stage = DenseStage(config=cfg, bias=b, in_width=k, lanes=lanes, groups_per_pass=per_pass,
                       logic_lanes=max(logic, 0), registered_weights=logic < 0)
    dut = _DenseWithMemory(stage, dense_weight_words(w, lanes))
    result = simulate_stage(dut, _elements(x, k), 3 * groups, seed=6, gap=gap, stall=stall)
    codes = _codes(result).reshape(3, groups * lanes)
    assert np.array_equal(codes[:, :out], expected)
    assert (codes[:, out:] == 0).all()
    assert _lasts(result) == ([0] * (groups - 1) + [1]) * 3
    if extreme:
        assert (expected == cfg.output.max).any() and (expected == cfg.output.min).any()


def test_dense_input_not_a_multiple_of_the_width():
    rng = np.random.default_rng(21)
    cfg = _dense_config(7, 4, relu=True, rng=rng)
    w, b = _weights(rng, cfg.weight_shape, False), _weights(rng, cfg.bias_shape, False)
    x = rng.integers(0, 256, (2, 7)).astype(np.uint8)
    expected = requantize(reference.dense_acc(cfg, x, w, b), cfg.out_shift, cfg.output)
    padded = np.zeros((2, 9), np.uint8)
    padded[:, :7] = x  # 3 transfers of 3 codes; the last two codes are past the input
    stage = DenseStage(config=cfg, bias=b, in_width=3, lanes=4)
    out = simulate_stage(_DenseWithMemory(stage, dense_weight_words(w, 4)),
                         _elements(padded, 3), 2)
    assert np.array_equal(_codes(out), expected)


def test_dense_weight_words_layout():
    w = np.array([[1, -1, 2], [3, -128, 127]], np.int8)  # 2 inputs, 3 outputs
    # lanes 2: group 0 = outputs 0, 1; group 1 = output 2 and a zero
    assert dense_weight_words(w, 2) == [0xFF01, 0x8003, 0x0002, 0x007F]


def test_dense_parameter_messages():
    rng = np.random.default_rng(0)
    cfg = _dense_config(4, 10, relu=True, rng=rng)
    b = np.zeros(10, np.int8)
    with pytest.raises(ValueError, match="groups_per_pass must divide the 3 groups of dense"):
        DenseStage(config=cfg, bias=b, in_width=1, lanes=4, groups_per_pass=2)
    with pytest.raises(ValueError, match="lanes must be an integer of at least 1, not 0"):
        DenseStage(config=cfg, bias=b, in_width=1, lanes=0)
    with pytest.raises(ValueError,
                       match=r"dense.bias has shape \(9,\), but the manifest implies \(10,\)"):
        DenseStage(config=cfg, bias=np.zeros(9, np.int8), in_width=1, lanes=4)
    with pytest.raises(TypeError, match="config must be a DenseConfig"):
        DenseStage(config=None, bias=b, in_width=1, lanes=4)
    with pytest.raises(ValueError, match="logic_lanes must be an integer from 0 to the 4 "
                                         "lanes, not 5"):
        DenseStage(config=cfg, bias=b, in_width=1, lanes=4, logic_lanes=5)


# --- argmax ------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [10, 4, 5])
def test_argmax(width):
    rng = np.random.default_rng(width)
    logits = rng.integers(-128, 128, (6, 10)).astype(np.int8)
    logits[0] = -128                 # all equal: class 0
    logits[1, [2, 7]] = 127          # a tie at the top: the lower index
    logits[2] = np.arange(10) - 5    # the last is largest
    transfers = -(-10 // width)
    padded = np.zeros((6, transfers * width), np.int8)
    padded[:, :10] = logits
    out = simulate_stage(ArgmaxStage(classes=10, in_width=width), _elements(padded, width), 6,
                         seed=width, gap=0.3, stall=0.3)
    assert [int(p.cls) for p in out] == reference.argmax(logits).tolist()
    assert [[int(v) for v in p.logits] for p in out] == logits.tolist()
    assert [int(p.cls) for p in out][:3] == [0, 2, 9]


def test_argmax_parameter_messages():
    with pytest.raises(ValueError, match="classes must be an integer of at least 2, not 1"):
        ArgmaxStage(classes=1, in_width=1)



# --- the multiplier in logic ---------------------------------------------------------------

def test_logic_multiplier_every_weight_and_corner_codes():
    """Every weight against codes that set each bit pair (and 0, 255), pipelined a product a
    cycle: the products LATENCY cycles later equal numpy's."""
    dut = LogicMultiplier()
    codes = [0, 1, 2, 3, 4, 12, 48, 192, 128, 127, 85, 170, 255]
    pairs = [(a, b) for a in codes for b in range(-128, 128)]
    got = []

    async def tb(ctx):
        for step in range(len(pairs) + LogicMultiplier.LATENCY):
            if step < len(pairs):
                ctx.set(dut.a, pairs[step][0])
                ctx.set(dut.b, pairs[step][1])
            await ctx.tick()
            got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert got[LogicMultiplier.LATENCY - 1:][:len(pairs)] == [a * b for a, b in pairs]
