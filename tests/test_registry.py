"""One layer kind, one place per side: the model side's registry (``q8.layers``), the
gateware's (``hw.stages.registry``) and the training side's (``train.layers``) know the same
kinds, and an unknown kind is refused by name everywhere."""

import json

import numpy as np
import pytest

from hw.stages import registry as gateware
from q8 import arch, layers, reference, weights


def sides():
    """``{side: set of kind strings}``: every side that builds or runs a layer kind of the
    integer network."""
    from train import layers as training
    return {"model (q8.layers)": set(layers.network_kinds()),
            "gateware (hw.stages.registry)": set(gateware.KINDS),
            "training (train.layers)": {k for k, v in training.KINDS.items()
                                        if v.export is not None}}


def test_training_knows_every_kind_of_an_architecture():
    # dropout too: it is trained, and then not part of the integer network
    from train import layers as training
    assert set(training.KINDS) == set(layers.KINDS)


def one_sided(kinds_by_side):
    """Sentences naming each kind that some side registers and another does not."""
    every = set().union(*kinds_by_side.values())
    return [f"{kind}: not on the {side} side" for kind in sorted(every)
            for side, kinds in kinds_by_side.items() if kind not in kinds]


def test_every_side_registers_the_same_kinds():
    assert one_sided(sides()) == []


def test_a_kind_on_one_side_only_is_reported():
    assert one_sided({"model": {"conv2d", "minpool2d"}, "gateware": {"conv2d"}}) == \
        ["minpool2d: not on the gateware side"]


def test_every_kind_round_trips_its_manifest_entry():
    net = weights.load()
    for layer in net.layers:
        kind = layers.network_kind(layer.kind)
        assert isinstance(layer, kind.config) and layer.has_params == kind.has_params
    again = weights.Network.from_manifest(json.loads(json.dumps(net.manifest())),
                                          {f"{n}.{p}": a for n, ps in net.params.items()
                                           for p, a in ps.items()})
    assert again.layers == net.layers


def test_an_unknown_kind_is_refused_everywhere(tmp_path):
    net = weights.load()
    manifest = net.manifest()
    manifest["layers"][1]["kind"] = "minpool2d"
    with pytest.raises(weights.WeightsError, match="unknown kind 'minpool2d'"):
        weights.Network.from_manifest(manifest, {})
    with pytest.raises(layers.UnknownKindError,
                       match="unknown kind 'minpool2d'; the kinds are avgpool2d, conv2d, "
                             "dense, gavgpool2d, gmaxpool2d, maxpool2d"):
        layers.network_kind("minpool2d")
    # an architecture-only kind is no layer of the integer network
    with pytest.raises(layers.UnknownKindError, match="dropout is training only"):
        layers.network_kind("dropout")
    with pytest.raises(arch.ArchError, match="cannot read 'minpool'"):
        arch.parse("conv2x3,minpool,dense10")
    # the reference, given a layer of a kind it does not know, refuses it
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Odd(layers.MaxPool2DConfig):
        kind = "minpool2d"

    pool = next(l for l in net.layers if l.kind == "maxpool2d")
    odd = Odd(**{f.name: getattr(pool, f.name) for f in dataclasses.fields(pool)})
    bad = dataclasses.replace(net, layers=tuple(odd if l is pool else l for l in net.layers))
    with pytest.raises(layers.UnknownKindError, match="unknown kind 'minpool2d'"):
        reference.run(bad, np.zeros((1, 28, 28), np.uint8))
    # the fit plan and the gateware's registry, given it, refuse it
    from hw.fit import plan
    with pytest.raises(ValueError, match="no gateware for the layer kind 'minpool2d'; the "
                                         "kinds built are avgpool2d, conv2d, dense, "
                                         "gavgpool2d, gmaxpool2d, maxpool2d"):
        plan(bad.layers, board="icebreaker", params=net.params)
    # the training side: no quantised Keras layer to build
    from train import layers as training
    from train.model import build_model
    with pytest.raises(ValueError, match="unknown layer kind 'minpool2d'; the kinds trained "
                                         "are avgpool2d, conv2d, dense, dropout, gavgpool2d, "
                                         "gmaxpool2d, maxpool2d"):
        build_model([{"kind": "minpool2d", "pool": [2, 2]}, {"kind": "dense",
                                                              "out_features": 10,
                                                              "relu": False}],
                    names=["pool", "dense"])
    assert training.for_keras_layer(object()) is None
