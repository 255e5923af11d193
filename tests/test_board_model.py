# amaranth: UnusedElaboratable=no
"""The whole board top compiled with CXXRTL (sim.board): it loads its weights from the
driver's flash model at the SPI rate, classifies as the reference does over the UART at bit
level, refuses bad flash contents; the host's receiver, the waveforms and the refusals."""

import concurrent.futures

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.board.protocol import (Status, classify_request, decode_response, frame_bytes,
                            self_test_request, status_request)
from hw.board.top import BoardTop
from hw.fit import built_schedules
from q8 import mnist, reference, weights
from sim.board import CompiledBoard, board_model, uart_waveform
from tests.netgen import random_network

TIMEOUT = 20_000  # cycles without a byte that end a request, shortened for simulation


# The protocol (docs/protocol.md): only these helpers know it.

def _flash_image(top):
    return top.flash_image()


def _status_request():
    return status_request(seq=1)


def _classify_request(image):
    return classify_request(image.reshape(-1), seq=2)


def _response_bytes(classes):
    return frame_bytes(classes)


def _decode(response, classes):
    return decode_response(response, classes=classes)


def _ask(board, request, classes):
    """Send ``request``; the board's response, decoded."""
    board.send(request)
    return _decode(board.receive(_response_bytes(classes), 2 * TIMEOUT), classes)


def _status(board, classes):
    return _ask(board, _status_request(), classes).status


def _loaded_status(board, classes, *, limit=2_000_000):
    """The status once the weights are no longer loading."""
    while board.cycles < limit:
        status = _status(board, classes)
        if status != Status.NOT_READY:
            return status
        board.run(20_000)
    raise AssertionError(f"still loading after {board.cycles} cycles")


def _top(net):
    return BoardTop(net, schedules=built_schedules(net), timeout_cycles=TIMEOUT)


@pytest.fixture(scope="module")
def small():
    """A network with a small first dense layer (338 flash words: a fast load and compile)."""
    net = random_network(np.random.default_rng(3), dense=8)
    top = _top(net)
    return net, top, board_model(top, name="test-board-small", progress=False)


def _powers_up_and_classifies(net, top, model):
    images = mnist.load(download=False).x_test[:2]
    with CompiledBoard(model, flash=_flash_image(top)) as board:
        board.reset()
        assert _status(board, net.classes) == Status.NOT_READY
        assert _loaded_status(board, net.classes) == Status.OK
        assert board.leds() == (1, 0)
        results = [_ask(board, _classify_request(image), net.classes) for image in images]
        assert board.tx_errors == 0
    ref = reference.run(net, images)
    assert [r.status for r in results] == [Status.OK] * 2
    assert [r.cls for r in results] == ref.classes.tolist()
    assert [list(r.logits) for r in results] == ref.logits.tolist()


def test_small_network_powers_up_and_classifies(small):
    _powers_up_and_classifies(*small)


def test_a_top_without_self_test_knows_no_such_command(small):
    net, top, model = small
    assert top.test_images == 0
    with CompiledBoard(model, flash=_flash_image(top)) as board:
        board.reset()
        assert _loaded_status(board, net.classes) == Status.OK
        answer = _ask(board, self_test_request(5, seq=3), net.classes)
        assert (answer.status, answer.seq) == (Status.UNKNOWN_COMMAND, 0)


def test_shipped_network_powers_up_and_classifies():
    net = weights.load(weights.DEFAULT_WEIGHTS)
    top = _top(net)
    _powers_up_and_classifies(net, top, board_model(top, name="test-board-shipped",
                                                    progress=False))


def test_flash_delivers_the_image_at_the_spi_rate(small):
    # The loader's SPI clock is half the system clock: 0xAB (8 bits, 16 cycles), its 150-cycle
    # wait, Read Data and the address (32 bits, 64 cycles), then a byte every 16 cycles. The
    # LED lights a few cycles after the last byte's CRC, never before the bytes can be in.
    _, top, model = small
    image = _flash_image(top)
    earliest = 16 + 150 + 64 + 16 * len(image)
    with CompiledBoard(model, flash=image) as board:
        board.reset(cycles=5)
        board.run(earliest)
        assert board.leds() == (0, 0) and board.cycles == 5 + earliest
        while board.leds() == (0, 0) and board.cycles < 5 + earliest + 32:
            board.run(1)
        assert board.leds() == (1, 0)


@pytest.mark.parametrize("fault", ["erased", "flipped bit", "asleep"])
def test_bad_flash_is_refused(small, fault):
    net, top, model = small
    image = bytearray(_flash_image(top))
    image[1000] ^= 0x10 if fault == "flipped bit" else 0  # a payload bit: the CRC fails
    flash = b"\xff" * 64 if fault == "erased" else bytes(image)
    mode = "asleep" if fault == "asleep" else "normal"  # cipo low: the header is zeros
    with CompiledBoard(model, flash=flash, flash_mode=mode) as board:
        assert _loaded_status(board, net.classes) == Status.BAD_WEIGHTS
        assert board.leds() == (0, 1)


def test_receive_stops_after_its_idle_timeout(small):
    net, top, model = small
    frame = _response_bytes(net.classes)
    byte = 10 * model.divisor  # cycles of a byte's frame: start, 8 data and stop bits
    with CompiledBoard(model, flash=_flash_image(top)) as board:
        board.send(_status_request())
        start = board.cycles
        got = board.receive(frame + 5, 1000)
        # the response's bytes, then 1,000 cycles in which none completes
        assert len(got) == frame and board.pending == 0
        assert (frame - 1) * byte + 1000 < board.cycles - start < frame * byte + 1000 + 200
        start = board.cycles
        assert board.receive(3, 1000) == b"" and board.cycles == start + 1000
        assert board.receive(0, 1000) == b"" and board.cycles == start + 1000
        board.send(_status_request())  # still loading: the same answer
        board.run(frame * byte + 500)
        assert board.pending == frame and board.take() == got and board.pending == 0
        assert board.tx_errors == 0
    # A host receiving at 20 cycles per bit, the board's 16: a byte takes the host 190 cycles
    # to the middle of its stop bit, the board 160, so the host sees fewer bytes than are sent,
    # and some of their stop bits low (the next byte's start bit or a low data bit).
    with CompiledBoard(model, flash=b"", host_bit_cycles=20) as board:
        # (the request at the board's rate: it is the host's receiver under test)
        board.play(*uart_waveform(_status_request(), bit_cycles=model.divisor))
        got = board.receive(frame, 1000)
        assert board.tx_errors > 0 and len(got) + board.tx_errors <= frame * byte // 190 + 1


def test_boards_in_threads_are_independent(small):
    net, top, model = small
    flashes = [_flash_image(top), b"", _flash_image(top)]

    def status(flash):
        with CompiledBoard(model, flash=flash) as board:
            return _loaded_status(board, net.classes), board.cycles

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        (a, cycles_a), (b, _), (c, cycles_c) = pool.map(status, flashes)
    assert (a, b, c) == (Status.OK, Status.BAD_WEIGHTS, Status.OK) and cycles_a == cycles_c


def test_uart_waveform():
    levels, durations = uart_waveform(b"\x01\x80", bit_cycles=16)
    assert levels.tolist() == [0, 1, 0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    assert durations.tolist() == [16] * 20
    # edges at round(k * 2.5), half up: 0, 3, 5, 8, 10, ...
    levels, durations = uart_waveform(b"\xff", bit_cycles=2.5, stop_bit=0)
    assert levels.tolist() == [0] + [1] * 8 + [0]
    assert durations.tolist() == [3, 2] * 5
    assert [a.tolist() for a in uart_waveform(b"", bit_cycles=16)] == [[], []]
    # a host's clock: a random phase and jittered edges, each edge within a cycle of its time
    data = bytes(range(0, 256, 7))
    levels, durations = uart_waveform(data, bit_cycles=4.08, jitter=0.4,
                                      rng=np.random.default_rng(1))
    assert levels.tolist() == uart_waveform(data, bit_cycles=4.08)[0].tolist()
    ideal = np.arange(1, durations.size + 1) * 4.08
    assert np.abs(np.cumsum(durations) - ideal).max() <= 0.5 + 0.5 + 0.4
    assert set(durations.tolist()) > {4, 5}  # edges moved both ways
    with pytest.raises(ValueError, match="jitter needs rng"):
        uart_waveform(data, bit_cycles=4, jitter=0.5)
    with pytest.raises(ValueError, match="jitter must be between 0 and a quarter of bit_cycles"):
        uart_waveform(data, bit_cycles=4, jitter=1.5, rng=np.random.default_rng(1))


class _NotABoard(wiring.Component):
    """A UART loopback without the flash's pins."""
    rx: In(1)
    tx: Out(1)
    divisor = 16

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.tx.eq(self.rx)
        return m


def test_refusals(small):
    _, top, model = small
    cases = [
        (lambda: uart_waveform(b"A", bit_cycles=0.5),
         "bit_cycles must be a number of cycles of at least 1, not 0.5"),
        (lambda: uart_waveform(b"A", bit_cycles=16, stop_bit=2), "stop_bit must be 0 or 1, not 2"),
        (lambda: CompiledBoard(model, flash=b"", flash_mode="off"),
         "flash_mode must be one of normal, asleep, not 'off'"),
        (lambda: CompiledBoard(model, flash=b"", flash_base=1 << 24),
         r"flash_base must be an integer in \[0, 2\*\*24\), not 16777216"),
        (lambda: CompiledBoard(model, flash=bytes(16), flash_base=(1 << 24) - 8),
         "flash must fit in the 16 MiB below 2\\*\\*24 from flash_base 0xfffff8: it is 16 bytes"),
        (lambda: CompiledBoard(model, flash=b"", host_bit_cycles=float("nan")),
         "host_bit_cycles must be a number of cycles of at least 1, not nan"),
        (lambda: CompiledBoard(top, flash=b""), "model must be a BoardModel"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    with CompiledBoard(model, flash=b"") as board:
        for call, message in [
                (lambda: board.run(-1), "cycles must be a non-negative integer, not -1"),
                (lambda: board.receive(2, 1.5),
                 "timeout_cycles must be a non-negative integer, not 1.5"),
                (lambda: board.play([0, 2], [1, 1]), "levels must be a sequence of 0s and 1s"),
                (lambda: board.play([0, 1], [1]),
                 r"durations must be as many non-negative integers as levels \(2\), not 1"),
                (lambda: board.play([0], [-1]), "durations must be as many non-negative")]:
            with pytest.raises(ValueError, match=message):
                call()
        assert board.cycles == 0
    with pytest.raises(ValueError, match="the board is closed"):
        board.run(1)
    with pytest.raises(ValueError, match=r"test-board-not-a-board: the model is not a board top "
                                         r"\(hw.board.top.BoardTop\): port flash__cs_n is missing"):
        CompiledBoard(board_model(_NotABoard(), name="test-board-not-a-board", progress=False),
                      flash=b"")
