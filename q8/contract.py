"""The arithmetic contract: 8-bit fixed-point formats, rounding, saturation, and what the layers
that multiply and accumulate share (:class:`MacLayer`).

Everything that produces or consumes the network's integers (training export, the numpy
reference, the gateware, the board) reads the definitions in this module; each layer kind's
config is in its module of ``q8.layers``. The prose version,
with the reasons, is ``docs/fixed-point.md``.
"""

from dataclasses import dataclass
import math

import numpy as np

__all__ = ["WIDTH", "Format", "round_shift", "saturate", "requantize", "signed_width", "MacLayer",
           "check_shape", "check_count"]

#: Every tensor of the network is stored in this many bits.
WIDTH = 8

# Fraction bits are bounded so that shifts stay small and every scale ``2**-frac`` is exact in
# float32 (the training framework's type).
FRAC_MIN, FRAC_MAX = -8, 24


@dataclass(frozen=True)
class Format:
    """An 8-bit power-of-two fixed-point format: ``value = q * 2**-frac``.

    Parameters
    ----------
    signed : bool
        Two's complement, ``q`` in [-128, 127]; else unsigned, ``q`` in [0, 255].
    frac : int
        Fraction bits. May be negative (a scale above 1) or above 7 (a scale below 1/128).
    """

    signed: bool
    frac: int

    def __post_init__(self):
        if not isinstance(self.signed, bool):
            raise TypeError(f"signed must be a bool, not {self.signed!r}")
        if not isinstance(self.frac, int) or isinstance(self.frac, bool) \
                or not FRAC_MIN <= self.frac <= FRAC_MAX:
            raise ValueError(f"frac must be an integer in [{FRAC_MIN}, {FRAC_MAX}], "
                             f"not {self.frac!r}")

    @property
    def min(self):
        """The smallest integer code."""
        return -(1 << (WIDTH - 1)) if self.signed else 0

    @property
    def max(self):
        """The largest integer code."""
        return (1 << (WIDTH - 1)) - 1 if self.signed else (1 << WIDTH) - 1

    @property
    def dtype(self):
        """The numpy dtype that holds a code of this format."""
        return np.dtype(np.int8 if self.signed else np.uint8)

    def quantize(self, x):
        """Quantize real values: round half up, then saturate.

        The arithmetic is done in float32, the training framework's type, so that a weight
        exported here gets the same code as the one the trained model used.
        """
        x = np.asarray(x, dtype=np.float32)
        q = np.floor(x * np.float32(2.0 ** self.frac) + np.float32(0.5))
        return np.clip(q, self.min, self.max).astype(self.dtype)

    def dequantize(self, q):
        """The real value of integer codes, as float64 (exact)."""
        return np.asarray(q, dtype=np.float64) * 2.0 ** -self.frac

    def to_json(self):
        return {"signed": self.signed, "frac": self.frac}

    @classmethod
    def from_json(cls, obj):
        if not isinstance(obj, dict) or set(obj) != {"signed", "frac"}:
            raise ValueError(f"a format must be an object with keys 'signed' and 'frac', "
                             f"not {obj!r}")
        return cls(signed=obj["signed"], frac=obj["frac"])

    def __str__(self):
        # Q notation: integer bits (sign excluded) . fraction bits
        ints = WIDTH - self.frac - (1 if self.signed else 0)
        return f"{'s' if self.signed else 'u'}{WIDTH} Q{ints}.{self.frac}"


def round_shift(acc, shift):
    """Divide integers by ``2**shift``, rounding halves up (towards +infinity).

    ``shift > 0``: ``(acc + 2**(shift-1)) >> shift`` with an arithmetic (flooring) shift.
    ``shift <= 0``: ``acc << -shift``, which is exact.
    """
    acc = np.asarray(acc, dtype=np.int64)
    if shift > 0:
        return (acc + (1 << (shift - 1))) >> shift
    return acc << -shift


def saturate(x, fmt):
    """Clamp integers to the codes of ``fmt`` (never wrap) and store them in its dtype."""
    return np.clip(x, fmt.min, fmt.max).astype(fmt.dtype)


def requantize(acc, shift, fmt):
    """Round an accumulator down to ``fmt``: :func:`round_shift` then :func:`saturate`.

    With an unsigned ``fmt`` this is also the ReLU: negative sums saturate to 0.
    """
    return saturate(round_shift(acc, shift), fmt)


def signed_width(lo, hi):
    """The fewest two's complement bits that hold every integer in ``[lo, hi]``."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def check_shape(name, value, length):
    """``value`` must be a tuple of ``length`` positive integers (a layer config's shape)."""
    if not (isinstance(value, tuple) and len(value) == length
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"{name} must be a tuple of {length} positive integers, not {value!r}")


def check_count(name, value):
    """``value`` must be a positive integer (a layer config's size)."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class MacLayer:
    """What a convolution and a dense layer share: a sum of products, a bias, a requantisation.

    ``acc = sum(x * w) + (b << bias_shift)`` in the accumulator format ``2**-acc_frac`` with
    ``acc_frac = input.frac + weight.frac``; then ``y = requantize(acc, out_shift, output)``.
    """

    name: str
    input: Format
    weight: Format
    bias: Format
    output: Format
    relu: bool
    #: ReLU's ``max_value`` (ReLU6: 6.0), or None: the codes are then at most
    #: :attr:`out_max`.
    relu_max: float = None

    def _check_mac(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name must be an identifier, not {self.name!r}")
        for field in ("input", "weight", "bias", "output"):
            if not isinstance(getattr(self, field), Format):
                raise TypeError(f"{self.name}: {field} must be a Format, "
                                f"not {getattr(self, field)!r}")
        if not self.weight.signed or not self.bias.signed:
            raise ValueError(f"{self.name}: weights and biases must be signed formats")
        if not isinstance(self.relu, bool):
            raise TypeError(f"{self.name}: relu must be a bool, not {self.relu!r}")
        if self.relu_max is not None and not (
                self.relu and isinstance(self.relu_max, (int, float))
                and not isinstance(self.relu_max, bool) and self.relu_max > 0):
            raise ValueError(f"{self.name}: relu_max must be a number > 0 on a ReLU, not "
                             f"{self.relu_max!r}")
        # ReLU is the saturation of an unsigned output at 0; a linear output keeps its sign.
        if self.output.signed == self.relu:
            raise ValueError(f"{self.name}: the output format must be unsigned with ReLU and "
                             f"signed without, not {self.output} with relu={self.relu}")
        if self.bias.frac > self.acc_frac:
            raise ValueError(f"{self.name}: bias frac {self.bias.frac} exceeds the accumulator's "
                             f"{self.acc_frac} (input {self.input.frac} + weight "
                             f"{self.weight.frac}); the bias must align by a left shift")

    @property
    def out_max(self):
        """The largest output code: the format's, or with :attr:`relu_max` that value's code
        (rounded half up, at most the format's). Rounding is monotone, so rounding
        ``min(x, relu_max)`` is the smaller of ``x``'s code and this one: the clamp can come
        after the requantisation."""
        if self.relu_max is None:
            return self.output.max
        return min(self.output.max, math.floor(self.relu_max * 2.0 ** self.output.frac + 0.5))

    def requantize(self, acc):
        """The layer's output codes of accumulators ``acc``: :func:`requantize`, then at most
        :attr:`out_max`."""
        codes = requantize(acc, self.out_shift, self.output)
        return codes if self.relu_max is None else np.minimum(codes, self.out_max)

    @property
    def acc_frac(self):
        """Fraction bits of the accumulator: ``input.frac + weight.frac``."""
        return self.input.frac + self.weight.frac

    @property
    def bias_shift(self):
        """Left shift that aligns a bias code to the accumulator (never negative)."""
        return self.acc_frac - self.bias.frac

    @property
    def out_shift(self):
        """Right shift (negative: left) from the accumulator to the output format."""
        return self.acc_frac - self.output.frac

    @property
    def acc_range(self):
        """Worst-case accumulator range over every input code, weight code and bias code,
        including the rounding constant added before the output shift."""
        products = [a * b for a in (self.input.min, self.input.max)
                    for b in (self.weight.min, self.weight.max)]
        lo = self.fan_in * min(products) + (self.bias.min << self.bias_shift)
        hi = self.fan_in * max(products) + (self.bias.max << self.bias_shift)
        if self.out_shift > 0:
            hi += 1 << (self.out_shift - 1)
        return lo, hi

    @property
    def acc_width(self):
        """Accumulator bits: the fewest that no 8-bit input, weight or bias can overflow."""
        return signed_width(*self.acc_range)
