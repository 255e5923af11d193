# amaranth: UnusedElaboratable=no
"""Several layers' weights in the UP5K's SPRAMs (``hw.vendor.ice40.SPRAMWeightStore``), each on
SPRAMs of its own: the store's word layout and refusals, the synthesised iCE40 netlist (the
SB_SPRAM256KA models) and the whole compiled board top loading them from its flash model,
bit-exact with the reference."""

import numpy as np
import pytest

from hw.board.top import BoardNetwork, BoardTop, flash_words
from hw.stages.network import DenseSchedule, default_schedule, weight_words
from hw.vendor.ice40 import SPRAMWeightStore
from q8 import mnist, reference
from sim.rtl import build_model
from tests.netgen import network_from_arch

#: a folded convolution on 1 SPRAM (two positions per weight read), the first dense layer
#: on 2, the logits on 1
SCHEDULES = {"conv": DenseSchedule(lanes=2, groups_per_pass=1, spram=True, positions=2),
             "dense1": DenseSchedule(lanes=4, groups_per_pass=1, spram=True),
             "dense2": DenseSchedule(lanes=2, groups_per_pass=1, spram=True)}


def test_store_words_side_by_side():
    words = SPRAMWeightStore.words([([0x0102, 0x0304], 2), ([0x05060708], 4), ([0x09], 1)])
    # reader 0 in SPRAM 0, reader 1 in SPRAMs 1-2, reader 2 in SPRAM 3; zeros past a depth
    assert words == [0x0102 | 0x05060708 << 16 | 0x09 << 48, 0x0304]


def test_store_refusals():
    with pytest.raises(ValueError, match=r"need 5 SPRAMs \(two weights each\); the UP5K has 4"):
        SPRAMWeightStore(readers=[(10, 8), (10, 1)])
    with pytest.raises(ValueError, match="depth must be an integer in \\[1, 16384\\]"):
        SPRAMWeightStore(readers=[(16385, 2)])
    with pytest.raises(ValueError, match="one reader at least"):
        SPRAMWeightStore(readers=[])


@pytest.fixture(scope="module")
def net():
    images = mnist.load(download=False).x_test[:200]
    return network_from_arch(np.random.default_rng(8), "conv4x3,pool,dense16,dense10",
                             calibration=images)


def test_flash_words_hold_every_spram_layer(net):
    words = flash_words(net, SCHEDULES)
    schedules = {**default_schedule(net), **SCHEDULES}
    column = 0
    for name in ("conv", "dense1", "dense2"):
        own = weight_words(net, name, schedules)
        bits = 8 * schedules[name].lanes
        got = [(w >> (16 * column)) & ((1 << bits) - 1) for w in words[:len(own)]]
        assert got == own, name
        column += -(-schedules[name].lanes // 2)
    assert len(words) == max(len(weight_words(net, n, schedules)) for n in SCHEDULES)


def test_three_spram_layers_netlist_is_bit_exact(net):
    # synth_ice40 as hw.build runs it, simulated with Yosys' iCE40 models: the SB_SPRAM256KAs
    # of three readers, written before the images
    images = np.concatenate([mnist.load(download=False).x_test[:6],
                             np.full((1, 28, 28), 255, np.uint8)])
    design = BoardNetwork(net, schedules=SCHEDULES)
    model = build_model(design, name="test-spram-layers-netlist", synthesize=True,
                        words=design.flash_words, board="icebreaker", progress=False)
    run = model.run(images)
    assert np.array_equal(run.logits, reference.run(net, images).logits)


def test_board_top_loads_three_spram_layers_from_flash(net):
    from tests.test_board_model import _ask, _classify_request, _loaded_status, TIMEOUT
    from hw.board.protocol import Status
    from sim.board import CompiledBoard, board_model
    top = BoardTop(net, schedules=SCHEDULES, timeout_cycles=TIMEOUT)
    model = board_model(top, name="test-board-spram-layers", progress=False)
    images = mnist.load(download=False).x_test[10:13]
    with CompiledBoard(model, flash=top.flash_image()) as board:
        board.reset()
        assert _loaded_status(board, net.classes) == Status.OK
        results = [_ask(board, _classify_request(image), net.classes) for image in images]
    ref = reference.run(net, images)
    assert [r.status for r in results] == [Status.OK] * 3
    assert [list(r.logits) for r in results] == ref.logits.tolist()


def test_board_top_refusals(net):
    with pytest.raises(ValueError, match="keep the weights of conv, dense1, dense2 in SPRAM, "
                                         "which a design without weights in flash"):
        BoardTop(net, schedules=SCHEDULES, weights_in_flash=False)
    nowhere = {name: s.replace(spram=False) for name, s in SCHEDULES.items()}
    with pytest.raises(ValueError, match="needs a layer whose schedule keeps its weights in "
                                         "SPRAM"):
        BoardTop(net, schedules=nowhere)
