# amaranth: UnusedElaboratable=no
"""The ECP5 boards' board top, compiled (sim.board, sim.board_host): ``BoardTop`` as
``hw.build`` builds it for the ULX3S (every weight in block RAM, no flash load, its own clock
and UART rate, the self-test's images in flash after the bitstream, read through USRMCLK on
the chip), requests and self-tests over the simulated UART and flash against the reference,
and the commands that simulate it (``sim.evaluate``, ``sim.fuzz``, ``host --sim``) naming the
board and the design clock they simulated (an iCE40 board's too, for ``sim.evaluate``).

A small network (a first dense layer of 8) keeps each test's compile and simulation short."""

import json

import numpy as np
import pytest

from hw.board.protocol import Status
from hw.board.uart import divisor_of
from platforms import get_board
from q8 import mnist, reference, weights
from sim.board import board_model
from hw.board.flash_image import TESTS_OFFSETS
from sim.board_host import (board_flash, classify_on_boards, flash_base, power_up,
                            self_test_on_board, simulated_top)
from sim.fuzz import faults, fuzz
from tests.netgen import random_network

BOARD = "ulx3s-25f"


@pytest.fixture(scope="module")
def small():
    net = random_network(np.random.default_rng(3), dense=8)
    top = simulated_top(net, board=BOARD)
    return net, top, board_model(top, board=BOARD, name="board-small-ulx3s-25f",
                                 progress=False)


@pytest.fixture(scope="module")
def small_weights(small, tmp_path_factory):
    path = tmp_path_factory.mktemp("ecp5") / "small.npz"
    weights.save(small[0], path)
    return str(path)


@pytest.fixture(scope="module")
def images():
    return mnist.load(download=False).x_test


def test_the_top_is_the_bitstreams(small):
    # as hw.build builds it for the ULX3S: its weights in the bitstream, the UART's divisor
    # at the board's own clock and rate; in its flash after the bitstream, at 4 MiB, the
    # self-test's images (10,000 of them fit in its 16 MiB), and nothing else
    _, top, _ = small
    board = get_board(BOARD)
    assert not top.weights_in_flash and top.test_images == 10_000
    assert top.tests_offset == flash_base(top) == TESTS_OFFSETS["ecp5"] == 0x400000
    assert top.divisor == divisor_of(board.default_baud, board.default_clock_hz) == 35
    assert top.flash_words is None and top.network_id is None and board_flash(top) == b""
    assert board_flash(top, b"tests") == b"tests"


def test_ready_without_a_flash_load(small):
    # no loader: the first status request, sent right after the reset, answers OK
    _, top, model = small
    board, _, status = power_up(model, top)
    try:
        assert status == Status.OK and board.leds() == (1, 0)
        assert board.cycles < 20_000   # one status request's bits, no 50,000-cycle poll
    finally:
        board.close()


def _classified_as_the_reference(net, images, **kwargs):
    """Classify ``images`` on the ULX3S's compiled top; check the answers against the
    reference and the stats' board and clock."""
    responses, stats = classify_on_boards(net, images, board=BOARD, **kwargs)
    ref = reference.run(net, images)
    assert [(r.cls, r.logits) for r in responses] == \
        [(c, tuple(v)) for c, v in zip(ref.classes, ref.logits)]
    assert stats["retries"] == 0
    assert (stats["board"], stats["clock_mhz"]) == (BOARD, 105.0)


def test_classifies_as_the_reference(small, images):
    _classified_as_the_reference(small[0], images[:4])


def test_the_synthesised_top(small, images):
    # synthesised for the ECP5 as hw.build does, simulated with its cell models (MULT18X18D
    # and DP16KD: sim/models/): UART, protocol and network as gates
    _classified_as_the_reference(small[0], images[:2], synthesize=True)


@pytest.mark.parametrize("backend, board, clock_mhz", [
    ("board-rtl", BOARD, 105.0), ("board-netlist", BOARD, 105.0),
    ("board-rtl", "icesugar", 42.0)])
def test_evaluate_names_the_board_and_clock_simulated(small, small_weights, capsys, backend,
                                                      board, clock_mhz):
    from sim.evaluate import main
    assert main(["--backend", backend, "--board", board, "--weights", small_weights,
                 "--limit", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["board"], result["clock_mhz"]) == (board, clock_mhz)
    assert result["logits_agree_with_reference"] == result["images"] == 2


def test_fuzzing(small, images):
    net, top, model = small
    counts, failures, _, _ = fuzz(net, images, sessions=40, seed=5, model=model, top=top,
                                  board=BOARD, progress=False)
    assert failures == []
    assert counts["sessions"] == 40
    assert all(counts[k] == 0 for k in ("hangs", "stale", "wrong", "out_of_step",
                                        "unexpected"))
    assert counts["corrupted"] == counts["corrupted_refused"]


def test_fuzzing_in_parts_makes_the_sessions_of_one_run(small, images):
    # session k draws from (seed, k): sessions 0-1 then 2-4 are the items one run of 0-4
    # makes (a long run, such as the must-show's 10,000 sessions, in parts)
    net, top, model = small

    def run(sessions, start):
        counts, failures, _, _ = fuzz(net, images, sessions=sessions, seed=8, start=start,
                                      model=model, top=top, board=BOARD, progress=False)
        assert failures == []
        return counts

    whole, first, rest = run(5, 0), run(2, 0), run(3, 2)
    assert whole["sessions"] == 5 and whole["items"] > 5
    assert all(whole[k] == first[k] + rest[k] for k in whole)
    with pytest.raises(ValueError, match="start must be a non-negative integer"):
        fuzz(net, images, sessions=1, start=-1, model=model, top=top, board=BOARD)


def test_fuzz_command_names_the_board_and_has_no_flash_faults(small, small_weights, capsys):
    from sim.fuzz import main
    assert main(["--board", BOARD, "--weights", small_weights, "--sessions", "2",
                 "--start", "3", "--threads", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["board"], result["clock_mhz"]) == (BOARD, 105.0) and result["clean"]
    assert (result["first_session"], result["sessions"]) == (3, 2)
    assert "reads no weights from flash" in result["flash_faults_skipped"]
    assert "flash_faults" not in result


def test_fuzz_command_refuses_an_unknown_board(capsys):
    from sim.fuzz import main
    with pytest.raises(SystemExit) as e:
        main(["--board", "nonesuch"])
    assert e.value.code == 2 and "--board" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--board", BOARD, "--start", "-1"])
    assert e.value.code == 2 and "--start must be 0 or more" in capsys.readouterr().err


def test_no_flash_faults(small):
    net, top, _ = small
    with pytest.raises(ValueError, match="reads no weights from flash"):
        faults(net, top, board=BOARD)


def test_self_test_from_flash_as_the_reference(small):
    # the test images in the simulated flash at 4 MiB, read by the SPI master whose clock the
    # chip's USRMCLK carries: the board's count equals the reference's, and the CRC of what it
    # read equals the host's (run_self_test refuses an answer over other bytes)
    net, top, model = small
    result = self_test_on_board(net, count=12, board=BOARD)
    assert result["images"] == 12 and result["correct"] == result["reference_correct"]
    assert result["clock_mhz"] == 105.0
    # at the flash's pace: a record of 785 bytes at 16 cycles a byte, a little over
    assert 12 * 785 * 16 <= result["cycles"] < 13 * 785 * 16


def test_host_sim_self_test(small_weights, capsys):
    from host.__main__ import main
    assert main(["--sim", "--board", BOARD, "--weights", small_weights, "--self-test",
                 "--images", "6", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 6 and result["correct"] == result["reference_correct"]
    assert result["clock_mhz"] == 105.0


def test_host_sim_classifies_on_the_boards_top(small, small_weights, images, capsys):
    from host.__main__ import main
    assert main(["--sim", "--board", BOARD, "--weights", small_weights,
                 "--mnist-index", "0"]) == 0
    out = capsys.readouterr().out
    ref = reference.run(small[0], images[:1])
    assert f"class {ref.classes[0]}\n" in out
    assert f"logits {' '.join(str(v) for v in ref.logits[0])}\n" in out
    assert f"the {BOARD}'s top at 105 MHz" in out
