"""Why a network does not fit: each problem named with the resource it overflows and the
largest size of one layer with which it would fit, found by planning the network again with
that layer made smaller."""

import math

from hw.fit.plan import RESOURCE_NAMES
from hw.stages import registry as gateware
from hw.stages.network import WEIGHT_WORD_LANES, first_dense_schedule
from hw.vendor.ice40 import SPRAMWeightStore
from q8 import layers as kinds
from q8.weights import build_layers

__all__ = ["problems", "resized"]


def problems(planner, used, params, *, replan, stages=()):
    """The sentences of what does not fit: ``used`` against ``planner.available``, and the
    plan's ``stages`` whose SPRAM store would overflow.
    ``replan(layers, board, params) -> used`` plans a smaller network (``hw.fit.search``)."""
    found = []
    avail = planner.available
    first = planner.dense[0] if planner.dense else None
    words = 0 if first is None else \
        first.in_features * math.ceil(first.out_features / WEIGHT_WORD_LANES)
    if planner.family.weights_from_flash and words > SPRAMWeightStore.WORDS:
        most = WEIGHT_WORD_LANES * (SPRAMWeightStore.WORDS // first.in_features)
        fix = f"at most {most} units" if most else \
            f"no number of units: its {first.in_features:,} inputs are more than the " \
            f"{SPRAMWeightStore.WORDS:,} words; make the layers before it smaller"
        found.append(f"{first.name} needs {words * WEIGHT_WORD_LANES:,} weight bytes; the "
                     f"{SPRAMWeightStore.SPRAMS} SPRAMs hold "
                     f"{SPRAMWeightStore.WORDS * SPRAMWeightStore.LANES:,}: {fix}")
    for s in stages:
        if s.spram_words > SPRAMWeightStore.WORDS:
            found.append(f"{s.name}'s weights in SPRAM would be {s.spram_words:,} words of "
                         f"{s.schedule.lanes} weights; an SPRAM store holds "
                         f"{SPRAMWeightStore.WORDS:,}: more lanes for it, or its weights in "
                         f"block RAM")
            return found
    if used["sprams"] > avail["sprams"]:
        found.append(f"the network needs {used['sprams']} SPRAMs; the board has "
                     f"{avail['sprams']}")
    if used["dsps"] > avail["dsps"]:
        most = 1 + avail["dsps"] - math.ceil(first_dense_schedule(first).lanes / 2) \
            if planner.family.weights_from_flash and first is not None else avail["dsps"]
        found.append(f"the {len(planner.dense)} dense layers need {used['dsps']} DSPs (a "
                     f"multiplier pair each at least); the board has {avail['dsps']}: at "
                     f"most {most} dense layers")
    for resource in ("block_rams", "logic_cells"):
        if used[resource] > avail[resource]:
            found.append(_largest(planner, params, resource, used, replan))
    return found


def _size(layer):
    """The config field that a layer's size is in (its kind's ``size``), or None."""
    return gateware.get(layer.kind).size


def resized(layers, params, name, size):
    """``layers`` with layer ``name``'s filters or units cut to ``size`` (and the inputs of
    what follows), and ``params`` cut to match: the first ``size`` filters or units."""
    specs = []
    for layer in layers:
        spec = {"name": layer.name, "kind": layer.kind,
                **kinds.network_kind(layer.kind).to_spec(layer)}
        if layer.name == name:
            spec[_size(layer)] = size
        specs.append(spec)
    shape = tuple(layers[0].in_shape)
    new = build_layers(shape if len(shape) == 3 else (shape[0], 1, 1), layers[0].input, specs)
    if params is None:
        return new, None
    cut = {n: dict(p) for n, p in params.items()}
    index = [l.name for l in layers].index(name)
    old = getattr(layers[index], _size(layers[index]))
    cut[name] = {"weight": params[name]["weight"][..., :size],
                 "bias": params[name]["bias"][:size]}
    # the next layer with weights takes the first `size` channels or units of its input
    following = next((l for l in new[index + 1:] if l.has_params), None)
    weight = params[following.name]["weight"]
    if weight.ndim == 4:                          # a convolution: (kh, kw, channels, filters)
        weight = weight[:, :, :size, :]
    elif len(layers[index].out_shape) == 3:       # flattened (row, column, channel)
        weight = weight.reshape(-1, old, weight.shape[-1])[:, :size].reshape(
            -1, weight.shape[-1])
    else:
        weight = weight[:size]
    cut[following.name] = {"weight": weight, "bias": params[following.name]["bias"]}
    return new, cut


def _largest(planner, params, resource, used, replan):
    """A problem's sentence for ``resource``: the layer to make smaller (of the layers whose
    kind has a size, the one that needs the least cut) and the largest size of it with which
    the network fits that resource."""
    avail = planner.available[resource]
    layers = planner.layers
    text = f"the network needs {used[resource]:,} {RESOURCE_NAMES[resource]}" + \
        (" (estimated)" if resource == "logic_cells" else "") + f"; the board has {avail:,}"

    def fits(layer, n):
        new, cut = resized(layers, params, layer.name, n)
        return replan(new, planner.board, cut)[resource] <= avail

    best = None
    for i, layer in enumerate(layers[:-1]):
        if _size(layer) is None or not any(l.has_params for l in layers[i + 1:]):
            continue   # no size, or its outputs are the classes (an all-convolutional net's)
        size = getattr(layer, _size(layer))
        lo, hi = 0, size - 1   # the largest n in [1, size - 1] that fits (fewer fit better)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(layer, mid):
                lo = mid
            else:
                hi = mid - 1
        if lo and (best is None or lo / size > best[1] / best[2]):
            best = (layer, lo, size)
    if best is None:
        return f"{text}: no one layer made smaller fits it; make several smaller"
    layer, most, _ = best
    return f"{text}: {layer.name} at most {most} {gateware.get(layer.kind).size_noun}"
