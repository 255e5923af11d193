"""The signatures of the weight stores' ports, shared by the layers that read them and the
stores and loaders that implement or fill them."""

from amaranth.hdl import unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.lib.params import check_count

__all__ = ["WeightPort", "WritePort"]


class WeightPort(wiring.Signature):
    """A weight store's read port, seen from the layer: ``addr`` in, ``data`` one cycle later.

    A word holds ``lanes`` signed 8-bit weights, lane ``l`` in bits ``8l .. 8l+7``.
    """

    def __init__(self, *, depth, lanes):
        check_count("depth", depth)
        check_count("lanes", lanes)
        self._depth, self._lanes = depth, lanes
        super().__init__({"addr": Out(range(depth)), "data": In(unsigned(8 * lanes))})

    @property
    def depth(self):
        return self._depth

    @property
    def lanes(self):
        return self._lanes

    def __eq__(self, other):
        return (isinstance(other, WeightPort) and other.depth == self.depth
                and other.lanes == self.lanes)

    def __repr__(self):
        return f"WeightPort(depth={self.depth}, lanes={self.lanes})"


class WritePort(wiring.Signature):
    """A memory's write port, seen from the writer: ``addr``, ``data`` and ``en``, one enable
    bit per ``width // lanes``-bit lane of the word."""

    def __init__(self, *, depth, width, lanes=1):
        super().__init__({"addr": Out(range(depth)), "data": Out(width), "en": Out(lanes)})
