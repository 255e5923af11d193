# amaranth: UnusedElaboratable=no
"""The whole board top, compiled (sim.board, sim.board_host): weights from a simulated SPI
flash holding what hw.build writes, the UART at bit timing, the reset held as until the PLL
locks. Protocol version 2 against the reference: classifications, every error answer, the
careless host's requests that version 1 answered OK, fuzzing, flash faults, the watchdog, and
the synthesised netlist of the top.

The tops use ``sim.board_host``'s timeout and watchdog (16,000 cycles each), except where a
test says otherwise."""

import numpy as np
import pytest

from hw.board.flash_image import flash_contents, make_test_image
from hw.board.link import Link, LinkError
from hw.board.self_test import run_self_test
from hw.board.protocol import (SEQ_NONE, Command, Status, classify_request, decode_response,
                            frame_bytes, status_request)
from q8 import mnist, reference, weights
from sim.board import CompiledBoard, board_model
from sim.board_host import (SimulatedTransport, classify_on_boards, power_up, quiet_cycles,
                            simulated_top)
from sim.fuzz import flash_faults, fuzz
from tests.netgen import random_network

FUZZ_SESSIONS = 300


@pytest.fixture(scope="module")
def shipped():
    net = weights.load()
    top = simulated_top(net)
    return net, top, board_model(top, progress=False)


@pytest.fixture(scope="module")
def small():
    # a small first dense layer: its flash image loads in a sixteenth of the shipped one's time
    net = random_network(np.random.default_rng(3), dense=8)
    top = simulated_top(net)
    return net, top, board_model(top, name="board-small", progress=False)


@pytest.fixture(scope="module")
def images():
    return mnist.load(download=False).x_test


def _answers(board, top):
    """Every answer until the board falls quiet."""
    frame = frame_bytes(top.net.classes)
    out = []
    while data := board.receive(frame, quiet_cycles(top)):
        out.append(decode_response(data, classes=top.net.classes))
    return out


def test_loads_and_classifies_as_the_reference(shipped, images):
    net, top, model = shipped
    board = CompiledBoard(model, flash=top.flash_image())
    board.reset()
    link = Link(SimulatedTransport(board, top), classes=net.classes)
    assert link.status() == Status.NOT_READY and board.leds() == (0, 0)
    while (status := link.status()) == Status.NOT_READY:
        board.run(50_000)
    assert status == Status.OK and board.leds() == (1, 0)
    # 43,264 weights at 16 cycles a byte: the load takes at least that long
    assert board.cycles > 16 * len(top.flash_image())
    ref = reference.run(net, images[:3])
    for image, cls, logits in zip(images[:3], ref.classes, ref.logits):
        answer = link.classify(image.reshape(-1))
        assert answer.cls == cls and answer.logits == tuple(logits)
    # a status answer right after a classification carries none of its fields
    board.send(status_request(seq=77))
    assert _answers(board, top) == [decode_response(
        _ok_status(77, net.classes), classes=net.classes)]
    assert link.retried == 0 and board.tx_errors == 0


def _ok_status(seq, classes):
    from hw.board.protocol import Response, encode_response
    return encode_response(Response(status=Status.OK, seq=seq, cls=0, logits=(0,) * classes))


def test_every_error_answer_and_never_ok_for_a_careless_host(shipped, images):
    net, top, model = shipped
    board, link, status = power_up(model, top)
    assert status == Status.OK
    pixels = images[0].reshape(-1).tobytes()
    ref = reference.run(net, images[:1])
    ref2 = reference.run(net, images[1:2])

    def ask(data):
        board.send(data)
        return [(a.status, a.seq) for a in _answers(board, top)]

    # what protocol version 1 answered OK with the wrong image's logits:
    # `C C` + 784 pixels, and a status request inside an image
    # (the second C is taken as the number; the request then lacks its CRC: cut short)
    assert ask(b"CC" + pixels) == [(Status.TIMEOUT, ord("C"))]
    # (the request's length is taken as the request; the 6 bytes after it, the image's last
    # two pixels, 0, and the CRC, as the next: no command)
    request = bytearray(classify_request(pixels, seq=5))
    request[400:400] = status_request(seq=6)
    assert pixels[-2] == 0
    assert ask(bytes(request)) == [(Status.BAD_CHECKSUM, 5), (Status.UNKNOWN_COMMAND, SEQ_NONE)]
    # a garbled pixel
    request = bytearray(classify_request(pixels, seq=7))
    request[300] ^= 0x40
    assert ask(bytes(request)) == [(Status.BAD_CHECKSUM, 7)]
    # cut short: after the command, and inside the image
    assert ask(b"C") == [(Status.TIMEOUT, SEQ_NONE)]
    assert ask(classify_request(pixels, seq=8)[:500]) == [(Status.TIMEOUT, 8)]
    # an unknown command with bytes after it: one answer for the burst
    assert ask(b"X" + bytes(range(50))) == [(Status.UNKNOWN_COMMAND, SEQ_NONE)]
    # classify requests back to back (streaming): each answered in turn, while the next
    # arrives
    second = images[1].reshape(-1).tobytes()
    board.send(classify_request(pixels, seq=9) + classify_request(second, seq=10) +
               classify_request(pixels, seq=11))
    answers = _answers(board, top)
    assert [(a.status, a.seq) for a in answers] == [(Status.OK, 9), (Status.OK, 10),
                                                    (Status.OK, 11)]
    assert [(a.cls, a.logits) for a in answers] == [
        (ref.classes[0], tuple(ref.logits[0])), (ref2.classes[0], tuple(ref2.logits[0])),
        (ref.classes[0], tuple(ref.logits[0]))]
    # but a host that keeps more than one request beyond the one being answered: the third
    # status request arrives while the second waits for the first's answer to go out
    answers = ask(status_request(seq=12) + status_request(seq=13) + status_request(seq=14))
    assert answers == [(Status.OK, 12), (Status.OK, 13), (Status.BUSY, SEQ_NONE)]
    # a byte with a low stop bit, the line held low
    from sim.board import uart_waveform
    levels, durations = uart_waveform(status_request(seq=15), bit_cycles=top.divisor)
    levels = np.array(levels)
    levels[19] = 0  # the second byte's stop bit
    board.play(levels, durations)
    assert [(a.status, a.seq) for a in _answers(board, top)] == [(Status.FRAMING, SEQ_NONE)]
    board.play([0], [5 * top.timeout_cycles])
    assert [(a.status, a.seq) for a in _answers(board, top)] == [(Status.FRAMING, SEQ_NONE)]
    # and in step after all of it
    answer = link.classify(pixels)
    assert answer.cls == ref.classes[0] and answer.logits == tuple(ref.logits[0])
    assert board.leds() == (1, 0) and board.tx_errors == 0


@pytest.fixture(scope="module")
def small_12m(small):
    net = small[0]
    top = simulated_top(net, divisor=4)  # 12 Mbaud at 48 MHz
    return net, top, board_model(top, name="board-small-12m", progress=False)


#: The host's edges at 12 Mbaud: each moves by up to this many cycles either way (3.75 % of a
#: bit), on top of a random phase against the board's clock and the rounding to a cycle.
JITTER_CYCLES = 0.15


@pytest.mark.parametrize("mismatch", [-0.02, 0.02])
def test_12_mbaud_streams_with_a_rate_mismatch_and_jitter(small_12m, images, mismatch):
    # the host's UART 2 % fast or slow, both ways (the board's answers are read at the host's
    # rate too), its edges jittered: images streamed back to back, all as the reference
    net, top, model = small_12m
    board, link, status = power_up(model, top, host_bit_cycles=4 * (1 + mismatch),
                                   host_jitter=JITTER_CYCLES, seed=int(mismatch * 100) % 7)
    assert status == Status.OK
    start = board.cycles
    answers = list(link.classify_stream(image.reshape(-1) for image in images[:12]))
    ref = reference.run(net, images[:12])
    assert [(a.cls, a.logits) for a in answers] == \
        [(c, tuple(v)) for c, v in zip(ref.classes, ref.logits)]
    assert link.retried == 0 and board.tx_errors == 0
    # streaming: the line in carries the requests back to back, so the images take little
    # more than their requests' bits at the host's rate
    request_cycles = 12 * 10 * len(classify_request(bytes(784), seq=1)) * 4 * (1 + mismatch)
    assert board.cycles - start < request_cycles + 10_000


def test_self_test_counts_as_the_reference(small):
    # the test images in flash after the weights, as hw.build --program writes them (here 60
    # of them); a self-test of 40 streams them from the flash into the network
    net, top, model = small
    data = mnist.load(download=False)
    tests = make_test_image(data.x_test[:60], data.y_test[:60])
    assert top.test_images == 10_000
    board, link, status = power_up(model, top, flash=flash_contents(top.flash_image(), tests))
    assert status == Status.OK
    result = run_self_test(link, net, count=40, tests=tests, clock_hz=48_000_000)
    assert result["images"] == 40 and result["correct"] == result["reference_correct"]
    # at the flash's pace: a record (784 pixels and a label) every 785 x 16 cycles
    assert result["flash_bound"] == round(48e6 / (785 * 16), 1)
    assert 0.95 * result["flash_bound"] < result["images_per_second"] < result["flash_bound"]
    # a count of 0, or of more images than the board is built for: BAD_REQUEST
    for count in (0, top.test_images + 1):
        answer = link.request(Command.SELF_TEST, count.to_bytes(2, "big"))
        assert answer.status == Status.BAD_REQUEST
    # other images in flash than the host's: the answer's CRC of what the board read differs
    other = make_test_image(data.x_test[60:120], data.y_test[60:120])
    with pytest.raises(LinkError, match="the board read other test images"):
        run_self_test(link, net, count=5, tests=other, clock_hz=48_000_000)
    # and the board classifies as before
    ref = reference.run(net, data.x_test[:1])
    answer = link.classify(data.x_test[0].reshape(-1))
    assert (answer.cls, answer.logits) == (ref.classes[0], tuple(ref.logits[0]))
    assert board.leds() == (1, 0) and board.tx_errors == 0


def test_fuzzing(shipped, images):
    net, top, model = shipped
    counts, failures, _, _ = fuzz(net, images, sessions=FUZZ_SESSIONS, seed=11, threads=2,
                                  model=model, top=top, progress=False)
    assert failures == []
    assert counts["sessions"] == FUZZ_SESSIONS and counts["items"] >= FUZZ_SESSIONS
    assert all(counts[k] == 0 for k in ("hangs", "stale", "wrong", "out_of_step",
                                        "unexpected"))
    assert counts["corrupted"] == counts["corrupted_refused"] > FUZZ_SESSIONS / 2


def test_flash_faults_are_bad_weights(small):
    net, top, model = small
    summary, failures = flash_faults(net, payload_bits=16, threads=2, model=model, top=top,
                                     progress=False)
    assert failures == [] and summary["faults"] == summary["detected"] == 1 + 128 + 32 + 16 + \
        5 + 1 + 3


def test_another_networks_weights_are_refused(shipped, small):
    # the shipped network's board with the flash of a network of the same shapes
    from hw.board.top import flash_image
    from hw.fit import built_schedules
    from sim.fuzz import _other_network
    net, top, model = shipped
    other = flash_image(_other_network(net, 1), built_schedules(net))
    assert len(other) == len(top.flash_image()) and other != top.flash_image()
    board, link, status = power_up(model, top, flash=other)
    assert status == Status.BAD_WEIGHTS and board.leds() == (0, 1)
    assert link.request(Command.CLASSIFY, bytes(784)).status == Status.BAD_WEIGHTS


def test_watchdog_ends_in_errors(small, images):
    net, _, _ = small
    # a watchdog shorter than the network takes: every classification ends in WATCHDOG, and
    # the board answers nothing but errors after
    top = simulated_top(net, watchdog_cycles=200)
    board, link, status = power_up(board_model(top, name="board-watchdog", progress=False), top)
    assert status == Status.OK
    assert link.request(Command.CLASSIFY, images[0].reshape(-1).tobytes()).status == \
        Status.WATCHDOG
    assert link.status() == Status.WATCHDOG and board.leds() == (0, 1)
    assert link.request(Command.CLASSIFY, images[1].reshape(-1).tobytes()).status == \
        Status.WATCHDOG


def test_the_synthesised_top(small, images):
    # the top synthesised for the iCE40 as hw.build does, simulated with Yosys' cell models:
    # loader, UART, protocol and network as gates
    net, _, _ = small
    responses, stats = classify_on_boards(net, images[:2], synthesize=True)
    ref = reference.run(net, images[:2])
    assert [r.cls for r in responses] == list(ref.classes)
    assert [r.logits for r in responses] == [tuple(v) for v in ref.logits]
    assert stats["retries"] == 0

