# amaranth: UnusedElaboratable=no
"""The gateware compiled to native code (sim.rtl): the RTL on all 10,000 test images and the
synthesised iCE40 netlist on real images, bit-exact with the reference and counting the same
cycles as Amaranth's simulator; the driver's watchdog and refusals, with real designs."""

import ctypes
import json
import os
import shlex
import shutil
import sys

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.layouts import element_layout, result_layout
from hw.stages.network import DenseSchedule, NetworkPipeline
from q8 import arch, mnist, reference, weights
from tests.netgen import network_from_arch
from sim.evaluate import main as evaluate_main
from sim.pysim import SimulationTimeout, simulate_network
from hw.build.toolchain import ToolError
from hw.fit import built_schedules, plan as fit_plan
from sim.rtl import SYSTEM_COMPILERS, Model, build_model, compiler, netlist_model, rtl_model

THREADS = len(os.sched_getaffinity(0))


@pytest.fixture(scope="module")
def net():
    return weights.load()


@pytest.fixture(scope="module")
def test_images():
    return mnist.load(download=False).x_test


@pytest.fixture(scope="module")
def model(net):
    return rtl_model(net, progress=False)


def test_rtl_is_bit_exact_on_all_test_images(net, test_images, model):
    assert len(test_images) == 10000
    run = model.run(test_images, threads=THREADS)
    ref = reference.run(net, test_images)
    assert int(np.all(run.logits == ref.logits, axis=1).sum()) == 10000
    assert int(np.sum(run.classes == ref.classes)) == 10000
    # the cycles Amaranth's simulator counts, first pixel accepted to result accepted; the
    # schedule does not depend on the pixels, so every image takes as long
    pysim = simulate_network(NetworkPipeline(net, schedules=built_schedules(net)),
                             test_images[:2])
    assert run.cycles[:2].tolist() == pysim.cycles.tolist()
    assert set(run.cycles.tolist()) == {int(pysim.cycles[0])}
    # back to back: the same logits, and the intervals between results Amaranth's simulator
    # counts (its first: the first result's latency, as the driver's)
    streamed = model.run(test_images[:4], back_to_back=True)
    assert np.array_equal(streamed.logits, ref.logits[:4])
    overlapped = simulate_network(NetworkPipeline(net, schedules=built_schedules(net)),
                                  test_images[:4], overlap=True)
    assert streamed.cycles[1:].tolist() == overlapped.cycles[1:].tolist()


def test_evaluate_rtl_backend(capsys):
    evaluate_main(["--backend", "rtl", "--limit", "300", "--json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["backend"] == "rtl" and result["images"] == 300
    assert result["agree_with_reference"] == 300
    assert result["logits_agree_with_reference"] == 300
    net = weights.load()
    planned = fit_plan(net.layers, params=net.params)
    assert result["cycles_per_image"] == result["cycles_per_image_max"] == planned.latency
    # a chunk's first images back to back too: bit-exact, at the plan's pace
    assert result["back_to_back"] == {"images": 5, "logits_agree_with_reference": 5,
                                      "cycles_per_image": planned.interval}
    assert "network: Yosys cxxrtl" in captured.err  # the build steps' progress


def test_netlist_is_bit_exact_on_real_images(net, test_images, model):
    images = test_images[:100]
    netlist = netlist_model(net, progress=False)
    run = netlist.run(images, threads=THREADS)
    ref = reference.run(net, images)
    assert np.array_equal(run.logits, ref.logits)
    assert np.array_equal(run.classes, ref.classes)
    # the primitives have their fallbacks' latency
    assert np.array_equal(run.cycles, model.run(images).cycles)
    # the first dense layer really reads the SPRAMs: left empty, the answer differs
    empty = Model(netlist.path, words=[], pixel_layout=element_layout(1, net.input),
                  result_layout=result_layout(net.classes)).run(images[:1])
    assert not np.array_equal(empty.logits, ref.logits[:1])


# --- the ECP5 (ULX3S-25F): every weight in block RAM, lanes in DSPs and in logic --------------

ECP5_BOARD = "ulx3s-25f"


@pytest.fixture(scope="module")
def ecp5_model(net):
    return rtl_model(net, board=ECP5_BOARD, progress=False)


def test_ecp5_rtl_is_bit_exact_on_real_images(net, test_images, ecp5_model):
    # the first 2,000 test images (CI's time): python -m bench.boards runs all 10,000
    images = test_images[:2000]
    run = ecp5_model.run(images, threads=THREADS)
    ref = reference.run(net, images)
    assert int(np.all(run.logits == ref.logits, axis=1).sum()) == 2000
    assert int(np.sum(run.classes == ref.classes)) == 2000
    plan = fit_plan(net.layers, params=net.params, board=ECP5_BOARD)
    assert any(s.logic_lanes for s in plan.schedules.values())   # both kinds of lane
    assert set(run.cycles.tolist()) == {plan.latency}


def test_shipped_ecp5_netlist_is_bit_exact_on_real_images(net, test_images, ecp5_model):
    # what the ULX3S is built with: 64 lanes (28 in MULT18X18Ds, 36 in logic), synth_ecp5 as
    # hw.build runs it, Yosys' ECP5 cell models and this project's DP16KD and MULT18X18D
    # models (sim/models/); its eval() in parts (sim.cxxsplit), which g++ can compile
    images = test_images[:100]
    netlist = netlist_model(net, board=ECP5_BOARD, progress=False)
    run = netlist.run(images, threads=THREADS)
    ref = reference.run(net, images)
    assert int(np.all(run.logits == ref.logits, axis=1).sum()) == 100
    assert np.array_equal(run.classes, ref.classes)
    plan = fit_plan(net.layers, params=net.params, board=ECP5_BOARD)
    # the primitives' registers give the RTL's latency, the cycles the plan counts
    assert np.array_equal(run.cycles, ecp5_model.run(images).cycles)
    assert set(run.cycles.tolist()) == {plan.latency}


def test_ecp5_netlist_is_bit_exact_on_real_images(test_images):
    # a small network at the extremes beside the shipped one: every weight at +127 or -128,
    # its weights in DP16KDs, the first dense layer's lanes half in MULT18X18Ds and half in
    # logic (hw.lib.arith.LogicMultiplier's adders), the second's in MULT18X18Ds with their
    # operands registered (the plan's schedule)
    images = test_images[:100]
    net = network_from_arch(np.random.default_rng(11), arch.parse("conv2x3,pool,dense16,dense10"),
                            extreme=True)
    schedules = fit_plan(net.layers, params=net.params, board=ECP5_BOARD).schedules
    first = schedules["dense1"]
    assert first.lanes == 8 and not any(s.logic_lanes for s in schedules.values())
    schedules["dense1"] = DenseSchedule(lanes=8, groups_per_pass=first.groups_per_pass,
                                        logic_lanes=4, registered_weights=True)
    ref = reference.run(net, images)
    netlist = build_model(NetworkPipeline(net, schedules=schedules), name="test-ecp5-netlist",
                          synthesize=True, board=ECP5_BOARD, progress=False)
    run = netlist.run(images, threads=THREADS)
    assert np.array_equal(run.logits, ref.logits)
    assert np.array_equal(run.classes, ref.classes)
    # the MULT18X18Ds' registers give the fallback's latency: the cycles the plan counts
    # (which tests/test_fit.py checks against Amaranth's simulator)
    planned = fit_plan(net.layers, params=net.params, board=ECP5_BOARD, schedules=schedules)
    assert set(run.cycles.tolist()) == {planned.latency}


class AnswersOnce(wiring.Component):
    """Takes every pixel and answers the first image only: a network that hangs."""

    def __init__(self, net):
        super().__init__({"i": In(stream.Signature(element_layout(1, net.input))),
                          "o": Out(stream.Signature(result_layout(net.classes)))})

    def elaborate(self, platform):
        m = Module()
        answered = Signal()
        m.d.comb += self.i.ready.eq(1)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.payload.last & ~answered):
            m.d.sync += [self.o.valid.eq(1), answered.eq(1)]
        return m


class AnswersUnasked(wiring.Component):
    """Answers on every cycle and takes no pixel: results with no image in flight."""

    def __init__(self, net):
        super().__init__({"i": In(stream.Signature(element_layout(1, net.input))),
                          "o": Out(stream.Signature(result_layout(net.classes)))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(0)
        m.d.sync += self.o.valid.eq(1)
        return m


def test_driver_refuses_a_result_with_no_image_in_flight(net, test_images):
    model = build_model(AnswersUnasked(net), name="test-answers-unasked", progress=False)
    for back_to_back in (False, True):
        with pytest.raises(RuntimeError, match=r"answered out of turn: result 1 with no image "
                           r"in flight \(0 of 1568 pixels taken\)"):
            model.run(test_images[:2], back_to_back=back_to_back)


@pytest.fixture(scope="module")
def answers_once(net):
    return build_model(AnswersOnce(net), name="test-answers-once", progress=False)


def test_watchdog_stops_a_design_that_never_answers(test_images, answers_once):
    with pytest.raises(SimulationTimeout, match=r"no transfer on i or o for 1000 cycles in "
                       r"image 1 \(784 of 784 pixels taken\); 1 of 3 images were answered"):
        answers_once.run(test_images[:3], watchdog_cycles=1000)
    # a thread's hang reaches the caller too
    with pytest.raises(SimulationTimeout):
        answers_once.run(test_images[:4], threads=2, watchdog_cycles=1000)
    # its one answer's cycles: from the first pixel's transfer, 783 more pixels, then the result
    assert answers_once.run(test_images[:1]).cycles.tolist() == [783 + 1]
    # back to back, the stream goes on into the second image, which is never answered
    with pytest.raises(SimulationTimeout, match=r"no transfer on i or o for 1000 cycles in "
                       r"image 1 \(784 of 784 pixels taken\), back to back; 1 of 3 images"):
        answers_once.run(test_images[:3], watchdog_cycles=1000, back_to_back=True)


def test_driver_refusals(net, test_images, answers_once):
    # the driver checks what it is given, whoever calls it
    message = ctypes.create_string_buffer(256)
    status = ctypes.CDLL(answers_once.path).mnist_run(
        None, -1, 784, None, 0, 8, 4, 10, ctypes.c_int64(1000), 0, None, None, None,
        ctypes.byref(ctypes.c_int32()), message, len(message))
    assert (status, message.value) == (2, b"a count or a layout is out of range, or an array "
                                         b"is missing")
    # words for a design with no weight store
    no_store = Model(answers_once.path, words=[1, 2], pixel_layout=element_layout(1, net.input),
                     result_layout=result_layout(net.classes), name="no-store")
    with pytest.raises(ValueError, match=r"no-store: the driver refused to run \(status 3\): "
                       r"port w__addr is missing"):
        no_store.run(test_images[:1])
    with pytest.raises(ValueError, match=r"images must be a uint8 array \(N, H, W\) or \(N, H, W, C\), not "
                       r"float64 \(28, 28\)"):
        answers_once.run(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="threads must be an integer of at least 1, not 0"):
        answers_once.run(test_images[:1], threads=0)
    with pytest.raises(ValueError, match=r"name must be a file name .*, not '\.\./x y'"):
        build_model(AnswersOnce(net), name="../x y")


def test_missing_or_failing_compiler(net, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    with pytest.raises(ToolError, match=r"the C\+\+ compiler 'no-such-c\+\+-compiler' \(\$CXX\) "
                       r"is not installed: set \$CXX to a C\+\+17 compiler, or unset it .*"
                       r"`apt-get install g\+\+`"):
        build_model(AnswersOnce(net), name="test-answers-once", progress=False)
    # a real compiler that fails: the error shows the compiler's own words (g++'s when it
    # compiles; zig's clang refuses the option already when asked for its version)
    monkeypatch.delenv("CXX")
    command, _ = compiler()
    monkeypatch.setenv("CXX", shlex.join([*command, "-fno-such-option"]))
    with pytest.raises(ToolError, match=r"(?s)(compiling the model failed \(exit 1\)|"
                       r"--version` failed \(exit 1\)).*(unrecognized command-line option|"
                       r"unknown (clang option|argument)).*-fno-such-option"):
        build_model(AnswersOnce(net), name="test-answers-once", progress=False)


def test_without_a_system_compiler_zig_compiles(monkeypatch, hide_tools):
    monkeypatch.delenv("CXX", raising=False)
    system = compiler()
    # a machine with only Python: zig's clang, from the ziglang package
    hide_tools(*SYSTEM_COMPILERS)
    command, identity = compiler()
    assert command == [sys.executable, "-m", "ziglang", "c++", "-g0"]
    assert identity.startswith("ziglang ") and "clang version" in identity
    if system[0] != command:  # there was a system compiler
        assert system[1] != identity  # so the models' cache tells the two apart


def test_zig_compiles_a_model(net, test_images, monkeypatch, hide_tools, answers_once):
    monkeypatch.delenv("CXX", raising=False)
    with_system = compiler()[0][1:3] != ["-m", "ziglang"]
    hide_tools(*SYSTEM_COMPILERS)
    zig = build_model(AnswersOnce(net), name="test-answers-once-zig", progress=False)
    if with_system:
        assert zig.path != answers_once.path  # the compiler is part of the cache key
    assert zig.run(test_images[:1]).cycles.tolist() == [783 + 1]
