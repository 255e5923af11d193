# amaranth: UnusedElaboratable=no
"""The whole pipeline, built from a manifest, in Amaranth's simulator against the reference."""

import numpy as np
import pytest
from amaranth.hdl import Fragment

from hw.stages.network import NetworkError, DenseSchedule, NetworkPipeline
from q8 import mnist, reference, weights
from sim.pysim import simulate_network
from tests.netgen import random_network


@pytest.fixture(scope="module")
def test_images():
    return mnist.load(download=False).x_test


def test_shipped_network_on_real_images(test_images):
    net = weights.load()
    images = test_images[:10]
    run = simulate_network(NetworkPipeline(net), images)
    ref = reference.run(net, images)
    assert np.array_equal(run.logits, ref.logits)
    assert np.array_equal(run.classes, ref.classes)
    # the target: at most 6,000 cycles from the first pixel in to the class out
    assert (run.cycles <= 6000).all()


def test_images_overlap_at_the_weight_bandwidth(test_images):
    net = weights.load()
    images = test_images[10:14]
    run = simulate_network(NetworkPipeline(net), images, overlap=True)
    ref = reference.run(net, images)
    assert np.array_equal(run.logits, ref.logits)
    # after the first, one image per 338 x 16 weight words: the bandwidth floor exactly
    assert run.cycles[1:].tolist() == [338 * 16] * 3


@pytest.mark.parametrize("gap,stall", [(0.0, 0.0), (0.3, 0.5)])
def test_a_smaller_network_builds_and_matches(test_images, gap, stall):
    rng = np.random.default_rng(4)
    net = random_network(rng, filters=4, dense=32)
    images = np.concatenate([test_images[:2], rng.integers(0, 256, (1, 28, 28), np.uint8)])
    pipeline = NetworkPipeline(net)
    assert pipeline.schedules["dense1"] == DenseSchedule(lanes=8, groups_per_pass=1, spram=True)
    assert pipeline.schedules["dense2"] == DenseSchedule(lanes=5, groups_per_pass=2)
    run = simulate_network(pipeline, images, seed=1, gap=gap, stall=stall)
    ref = reference.run(net, images)
    assert np.array_equal(run.logits, ref.logits)
    assert np.array_equal(run.classes, ref.classes)


def test_other_schedules_match(test_images):
    rng = np.random.default_rng(5)
    net = random_network(rng, size=12, filters=3, dense=12, classes=6)
    images = rng.integers(0, 256, (2, 12, 12), np.uint8)
    pipeline = NetworkPipeline(net, schedules={
        "dense1": DenseSchedule(lanes=4, groups_per_pass=3),
        "dense2": DenseSchedule(lanes=2, groups_per_pass=1)})
    run = simulate_network(pipeline, images)
    assert np.array_equal(run.logits, reference.run(net, images).logits)


@pytest.mark.parametrize("per", [1, 3])
def test_many_groups_take_their_biases_from_memory(per):
    # 36 units on 2 lanes: 18 groups, past DenseStage.WIDE_TABLE_GROUPS, so the biases come
    # from a memory of codes; extreme codes (every bias at +127 or -128)
    from hw.stages.dense import DenseStage
    rng = np.random.default_rng(6)
    net = random_network(rng, size=12, filters=2, dense=36, classes=4, extreme=True)
    images = rng.integers(0, 256, (2, 12, 12), np.uint8)
    pipeline = NetworkPipeline(net, schedules={
        "dense1": DenseSchedule(lanes=2, groups_per_pass=per)})
    assert pipeline._dense_stage("dense1").groups > DenseStage.WIDE_TABLE_GROUPS
    run = simulate_network(pipeline, images, stall=0.2)
    assert np.array_equal(run.logits, reference.run(net, images).logits)


def test_builder_refusals():
    net = random_network(np.random.default_rng(0), size=12, filters=2, dense=8)
    with pytest.raises(NetworkError, match="groups_per_pass must divide the 2 groups of dense1"):
        NetworkPipeline(net, schedules={"dense1": DenseSchedule(lanes=4, groups_per_pass=3)})
    with pytest.raises(NetworkError, match=r"not dense layers or convolutions: \['pool'\]"):
        NetworkPipeline(net, schedules={"pool": DenseSchedule(lanes=1, groups_per_pass=1)})
    with pytest.raises(NetworkError, match=r"external_weights names layers that are not dense"):
        NetworkPipeline(net, external_weights=["pool"])


def test_external_weights_port():
    net = random_network(np.random.default_rng(1), size=12, filters=2, dense=8)
    pipeline = NetworkPipeline(net, external_weights=["dense1"])
    port = pipeline.dense1_weights.signature
    assert (port.depth, port.lanes) == (50 * 1, 8)
    assert len(pipeline.weight_words("dense1")) == 50
    Fragment.get(pipeline, None)  # elaborates with the port left to its owner


def test_evaluate_pysim_backend(capsys):
    import json
    from sim.evaluate import main as evaluate_main
    evaluate_main(["--backend", "pysim", "--limit", "2", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "pysim" and result["images"] == 2
    assert result["agree_with_reference"] == 2 and result["logits_agree_with_reference"] == 2
    # the built schedules' latency, which the fit plan computes
    from hw.fit import plan
    net = weights.load()
    assert result["cycles_per_image"] == plan(net.layers, params=net.params).latency


def test_a_layer_kind_without_gateware_is_refused():
    # a kind the model side might know but the stages do not: refused by name before any
    # stage is made, never built as another kind's stage
    import dataclasses
    from q8.layers import MaxPool2DConfig

    @dataclasses.dataclass(frozen=True)
    class MinPool2DConfig(MaxPool2DConfig):
        kind = "minpool2d"

    net = weights.load()
    pool = next(l for l in net.layers if l.kind == "maxpool2d")
    fake = MinPool2DConfig(**{f.name: getattr(pool, f.name)
                              for f in dataclasses.fields(pool)})
    odd = dataclasses.replace(net, layers=tuple(fake if l is pool else l for l in net.layers))
    with pytest.raises(NetworkError, match=r"no gateware for the layers pool \(minpool2d\); "
                                           r"the kinds built are avgpool2d, conv2d, dense, gavgpool2d, "
                                           r"gmaxpool2d, maxpool2d"):
        NetworkPipeline(odd)
