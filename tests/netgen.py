"""Integer networks made in the tests: random weights and formats of any size and topology."""

import math

import numpy as np

from q8 import arch, reference
from q8.contract import Format
from q8.weights import SCHEMA, VERSION, Network


def _fmt(signed, frac):
    return Format(signed=signed, frac=int(frac)).to_json()


def _random_params(rng, shapes, extreme):
    """``{"<layer>.weight": int8, "<layer>.bias": int8}`` for ``{layer: (weight shape, bias
    shape)}``, drawn in that order; with ``extreme`` every code is +127 or -128."""
    params = {}
    for name, (ws, bs) in shapes.items():
        if extreme:
            params[f"{name}.weight"] = rng.choice(np.array([-128, 127], np.int8), ws)
            params[f"{name}.bias"] = rng.choice(np.array([-128, 127], np.int8), bs)
        else:
            params[f"{name}.weight"] = rng.integers(-128, 128, ws, dtype=np.int8)
            params[f"{name}.bias"] = rng.integers(-128, 128, bs, dtype=np.int8)
    return params


def _manifest(size, specs, channels=1):
    return {"schema": SCHEMA, "version": VERSION,
            "input": {"shape": [size, size, channels], "format": _fmt(False, 8)},
            "layers": specs, "provenance": {"made by": "tests"}}


def random_network(rng, *, size=28, filters=2, dense=128, classes=10, extreme=False):
    """A conv -> pool -> dense -> dense network with random codes and plausible formats.

    With ``extreme``, weights and biases sit at the int8 ends (+127 and -128) to drive
    saturating sums.
    """
    conv_w, d1_w, d2_w = rng.integers(5, 9), rng.integers(6, 10), rng.integers(5, 9)
    conv_out, d1_out, d2_out = rng.integers(3, 7), rng.integers(2, 6), rng.integers(1, 5)
    specs = [
        {"name": "conv", "kind": "conv2d", "kernel": [3, 3], "out_channels": filters,
         "relu": True, "weight": _fmt(True, conv_w), "bias": _fmt(True, conv_w + 4),
         "output": _fmt(False, conv_out)},
        {"name": "pool", "kind": "maxpool2d", "pool": [2, 2]},
        {"name": "dense1", "kind": "dense", "out_features": dense, "relu": True,
         "weight": _fmt(True, d1_w), "bias": _fmt(True, d1_w), "output": _fmt(False, d1_out)},
        {"name": "dense2", "kind": "dense", "out_features": classes, "relu": False,
         "weight": _fmt(True, d2_w), "bias": _fmt(True, d2_w), "output": _fmt(True, d2_out)},
    ]
    pooled = ((size - 2) // 2) ** 2 * filters
    shapes = {"conv": ((3, 3, 1, filters), (filters,)), "dense1": ((pooled, dense), (dense,)),
              "dense2": ((dense, classes), (classes,))}
    return Network.from_manifest(_manifest(size, specs), _random_params(rng, shapes, extreme))


def _weighted(entry):
    """Whether an architecture entry's kind has weights (its formats are chosen here)."""
    from q8.layers import get
    return get(entry["kind"]).has_params


def network_from_arch(rng, layers, *, size=28, channels=1, extreme=False, calibration=None,
                      percentile=None):
    """A network of any topology with random codes and random, calibrated formats.

    Parameters
    ----------
    rng : numpy.random.Generator
    layers : str or list of dict
        An architecture spec (``"conv2x3,conv4x3,pool,dense16,dense10"``, see :mod:`q8.arch`)
        or its layer entries (:func:`q8.arch.parse`; dropouts are left out). Hidden MAC
        layers end in ReLU with unsigned outputs, the last dense layer is linear and signed.
    size, channels : int
        The input is ``size x size x channels`` pixels (u8 Q0.8).
    extreme : bool
        Every weight and bias code at +127 or -128, and output formats calibrated so that
        many sums saturate: codes at 0 and 255 in the hidden layers, at -128 and 127 in the
        logits.
    calibration : uint8 array ``(N, size, size)`` or ``(N, size, size, channels)``, optional
        Images whose accumulators choose each layer's output format (random images if not
        given).
    percentile : float, optional
        The percentile of the accumulators' magnitudes (positive sums under ReLU) that the
        output format just holds (99.5), before a random offset of -1, 0 or +1 fraction bits;
        with ``extreme``, the percentile (50) that lands past the largest code, so that at
        least the rest saturate.

    Formats: weights ``frac`` in [4, 9]; biases a random 0 to 6 bits coarser than the
    accumulator (``bias frac <= input frac + weight frac``, as the contract requires); outputs
    calibrated layer by layer from the reference's accumulators on ``calibration``, so that
    the codes use their range whatever the topology.
    """
    entries = arch.parse(layers) if isinstance(layers, str) else [dict(e) for e in layers]
    entries = [e for e in entries if e["kind"] != "dropout"]
    names = arch.layer_names(entries)
    if calibration is None:
        calibration = rng.integers(0, 256, (64, size, size, channels), np.uint8)
    if percentile is None:
        percentile = 50.0 if extreme else 99.5

    # the shapes, chained with placeholder formats; the parameters; the weight formats, and
    # how many bits coarser than its accumulator each bias is
    specs, shapes, bias_shifts = [], {}, {}
    placeholders = arch.configs(entries, input_shape=(size, size, channels))
    for name, entry, config in zip(names, entries, placeholders):
        spec = {**entry, "name": name}
        if _weighted(entry):
            shapes[name] = (config.weight_shape, config.bias_shape)
            spec["weight"] = _fmt(True, rng.integers(4, 10))
            spec["output"] = _fmt(not entry["relu"], 4)
            bias_shifts[name] = int(rng.integers(0, 7))
        specs.append(spec)
    params = _random_params(rng, shapes, extreme)

    def set_bias(spec, in_frac):
        acc_frac = in_frac + spec["weight"]["frac"]
        spec["bias"] = _fmt(True, min(max(acc_frac - bias_shifts[spec["name"]], -8), 24))

    in_frac = 8
    for spec in specs:  # placeholder biases, each set again once its input format is known
        if _weighted(spec):
            set_bias(spec, in_frac)
            in_frac = spec["output"]["frac"]

    # the output formats, layer by layer: a layer's accumulators depend only on the formats
    # before it
    for index, spec in enumerate(specs):
        if not _weighted(spec):
            continue
        net = Network.from_manifest(_manifest(size, specs, channels), params)
        layer = net.layers[index]
        acc = reference.run(net, calibration, accumulators=True).accumulators[layer.name]
        sums = acc[acc > 0] if layer.relu else np.abs(acc)
        top = float(np.percentile(sums, percentile)) if sums.size else 0.0
        largest = layer.output.max
        shift = math.ceil(math.log2(top / largest)) if top > largest else 0
        # one bit finer under ``extreme``: the percentile lands past the largest code
        shift += -1 if extreme else int(rng.integers(-1, 2))
        frac = min(max(layer.acc_frac - shift, -8), 24)
        spec["output"] = _fmt(layer.output.signed, frac)
        following = next((s for s in specs[index + 1:] if _weighted(s)), None)
        if following is not None:
            set_bias(following, frac)
    return Network.from_manifest(_manifest(size, specs, channels), params)


def check_against_reference_and_plan(spec, size, folds, *, seed, extreme=False, exact=True):
    """Build ``spec`` (random codes, ``size`` x ``size`` inputs) with ``folds`` (folded
    convolutions' ``(lanes, groups per pass, positions)``) and check it in Amaranth's
    simulator: bit-exact with the reference under gaps and back-pressure, every image one at
    a time the plan's latency, and back to back its pace (not ``exact``: at least those)."""
    from hw import fit
    from hw.stages.network import DenseSchedule, NetworkPipeline, default_schedule
    from sim.pysim import simulate_network
    rng = np.random.default_rng(seed)
    net = network_from_arch(rng, spec, size=size, extreme=extreme)
    schedules = {name: DenseSchedule(lanes=lanes, groups_per_pass=per, positions=positions)
                 for name, (lanes, per, positions) in folds.items()}
    plan = fit.plan(net.layers, params=net.params,
                    schedules={**default_schedule(net), **schedules})
    images = rng.integers(0, 256, (3, size, size), np.uint8)
    ref = reference.run(net, images)
    run = simulate_network(NetworkPipeline(net, schedules=plan.schedules), images, seed=1,
                           gap=0.2, stall=0.3)
    assert np.array_equal(run.logits, ref.logits)
    alone = simulate_network(NetworkPipeline(net, schedules=plan.schedules), images)
    streamed = simulate_network(NetworkPipeline(net, schedules=plan.schedules), images,
                                overlap=True)
    assert np.array_equal(streamed.logits, ref.logits)
    if exact:
        assert alone.cycles.tolist() == [plan.latency] * 3
        assert streamed.cycles[1:].tolist() == [plan.interval] * 2
    else:
        assert min(alone.cycles) >= plan.latency and min(streamed.cycles[1:]) >= plan.interval
