"""The gateware side's layer kinds: each kind's module (:class:`hw.stages.kind.GatewareKind`),
by the kind string of ``q8.layers``. ``hw.stages.network.NetworkPipeline`` makes a layer's
stages through it and the fit planner (``hw.fit``) reads its model through it; a kind that is
not here has no gateware and is refused by both."""

from hw.stages import conv, dense, gavgpool, pool

__all__ = ["KINDS", "get", "UnknownGatewareError"]

#: The kinds with gateware, by kind string. Dropout has none: it is not part of the integer
#: network (``q8.layers``).
KINDS = {k.kind: k for k in (conv.KIND, pool.KIND, pool.AVG_KIND, gavgpool.KIND,
                             gavgpool.MAX_KIND, dense.KIND)}


class UnknownGatewareError(ValueError):
    """A layer kind that the gateware does not build."""


def get(kind):
    """The :class:`~hw.stages.kind.GatewareKind` of ``kind``; raises
    :class:`UnknownGatewareError` naming the kinds built."""
    try:
        return KINDS[kind]
    except KeyError:
        raise UnknownGatewareError(f"no gateware for the layer kind {kind!r}; the kinds built "
                                   f"are {', '.join(sorted(KINDS))}") from None
