"""``python -m sim.fuzz``: random traffic and flash faults on the compiled board top.

    python -m sim.fuzz --sessions 300 --seed 1 --json

Each session sends items of random traffic, each followed by waiting for the board to fall
quiet and reading every answer: random bytes, requests cut short, unknown commands, a status
request inside an image, a garbled pixel (the CRC no longer matches), a byte with a low stop
bit, the line held low, bursts of glitches, classify requests back to back without waiting
(streaming: each answered OK), status requests faster than their answers (a BUSY answer when a
host keeps more than one beyond the one being answered), a self-test of a few of the test
images in flash (its count and CRC as the host computes them), a valid status request. Then a valid
classify request of a random test image, whose answer must be OK and equal the reference's. Counted, and all must be 0: ``hangs`` (no answer where one is due),
``stale`` (an OK answer carrying another request's sequence number), ``wrong`` (an OK answer
to bytes that held no valid request, or with other logits than the reference's),
``out_of_step`` (bytes that are not whole answer frames: bad magic, CRC, a frame cut short, a
low stop bit from the board) and ``unexpected`` (an error answer other than the one the item
must get). ``corrupted`` counts the corrupted requests sent and ``corrupted_refused`` those
answered with an error (never OK): they must be equal.

``--board`` names the board whose top is fuzzed (its fit plan's schedules, its clock and
UART rate; ``sim.board_host.simulated_top``); the result names it and its design clock
(``board``, ``clock_mhz``).

The flash faults (unless ``--no-flash-faults``) then power up boards whose flash holds a faulty
image:
another network's weights of the same shapes, every header bit flipped, every CRC bit flipped,
a sample of payload bits flipped, truncated images, version 1's layout, erased flash, a flash
of zeros, a flash that never wakes. Each must end BAD_WEIGHTS with the red LED, and a classify
request must be refused. A board whose design reads no weights from flash (the ECP5 boards:
every weight in the bitstream; their flash holds only the self-test's images) has no flash
faults; the result says so (``flash_faults_skipped``).

The board is the bitstream's design compiled with CXXRTL (``sim.board``), with the timeout
(and watchdog) of ``sim.board_host`` (``SIM_TIMEOUT_CYCLES``). Sessions run on one board per
thread, one after another: each starts where the one before left the board.
"""

import argparse
import concurrent.futures
import json
import numbers
import os
import sys
import time

import numpy as np

from hw.board.crc import crc32
from hw.board.defaults import BOARD
from hw.board.flash_image import CRC_BYTES, HEADER_BYTES, TESTS_HEADER_BYTES
from hw.board.self_test import test_image
from hw.board.spi import CYCLES_PER_BYTE
from hw.board.top import flash_image
from hw.fit import built_schedules
from hw.board.protocol import (Command, ProtocolError, Status, classify_request, decode_response,
                            frame_bytes, self_test_fields, self_test_request, status_request)
from hw.stages.network import NetworkError
from hw.build.toolchain import ToolError
from q8 import dataset, mnist, reference
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load
from platforms import boards
from .board import CompiledBoard, board_model, uart_waveform
from .board_host import (SIM_TIMEOUT_CYCLES, board_flash, power_up, quiet_cycles,
                         simulated_board, simulated_top)
from .progress import Progress

__all__ = ["ITEMS", "COUNTS", "fuzz", "flash_faults", "main"]

#: The kinds of random traffic, each equally likely.
ITEMS = ("noise", "cut", "unknown", "status_inside", "garbled_pixel", "broken_stop",
         "held_low", "glitches", "back_to_back", "flood", "self_test", "status")

COUNTS = ("sessions", "items", "answers", "hangs", "stale", "wrong", "out_of_step",
          "unexpected", "corrupted", "corrupted_refused")


class _Session:
    """The host's side of the fuzzing on one board: numbering, sending, reading, counting."""

    def __init__(self, board, top, images, counts, failures, tests):
        self.board, self.net, self.images, self.tests = board, top.net, images, tests
        self.counts, self.failures = counts, failures
        self.frame = frame_bytes(self.net.classes)
        self.bit = top.divisor
        self.seq = 0
        self.quiet = quiet_cycles(top)

    def next_seq(self):
        self.seq = self.seq % 255 + 1
        return self.seq

    def fail(self, kind, what):
        self.counts[kind] += 1
        if len(self.failures) < 20:
            self.failures.append(f"{kind}: {what}")

    def answers(self, item, first_wait=0):
        """Every answer until the board is quiet, decoded; bytes that are no answer count.
        ``first_wait``: cycles the first answer may take beyond the usual quiet."""
        out = []
        while True:
            data = self.board.receive(self.frame, self.quiet + (0 if out else first_wait))
            if not data:
                return out
            try:
                out.append(decode_response(data, classes=self.net.classes))
            except ProtocolError as e:
                self.fail("out_of_step", f"{item}: {e}")
                self.board.receive(1 << 20, self.quiet)  # let it fall quiet
                return out

    def expect(self, item, answers, statuses, *, corrupted=True):
        """``answers`` must be error answers with ``statuses`` in order (None: any number of
        error answers, at least one)."""
        self.counts["answers"] += len(answers)
        if corrupted:
            self.counts["corrupted"] += 1
        oks = [a for a in answers if a.status == Status.OK]
        for a in oks:
            self.fail("wrong", f"{item}: answered OK (seq {a.seq}, class {a.cls})")
        if corrupted and answers and not oks:
            self.counts["corrupted_refused"] += 1
        if not answers:
            self.fail("hangs", f"{item}: no answer")
        elif statuses is not None and [a.status for a in answers] != list(statuses):
            self.fail("unexpected", f"{item}: answers {[a.status.name for a in answers]}, "
                                    f"expected {[s.name for s in statuses]}")

    def check_ok(self, item, answer, seq, index):
        ref = reference.run(self.net, self.images[index:index + 1])
        if answer.status != Status.OK:
            self.fail("unexpected", f"{item}: answered {answer.status.name}")
        elif answer.seq != seq:
            self.fail("stale", f"{item}: OK with seq {answer.seq}, the request's {seq}")
        elif answer.cls != ref.classes[0] or answer.logits != tuple(ref.logits[0]):
            self.fail("wrong", f"{item}: image {index}: class {answer.cls} logits "
                               f"{answer.logits}, the reference's {ref.classes[0]} "
                               f"{tuple(ref.logits[0])}")

    def send(self, data):
        self.board.send(data)

    def image(self, rng):
        index = int(rng.integers(len(self.images)))
        return index, self.images[index].reshape(-1).tobytes()

    def item(self, kind, rng):
        """Send one fuzzing item of ``kind`` (one of :data:`ITEMS`) and check its answers."""
        handler = getattr(self, f"_item_{kind}", None) if kind in ITEMS else None
        if handler is None:
            raise ValueError(f"unknown item {kind!r}")
        self.counts["items"] += 1
        handler(rng)

    def _item_noise(self, rng):
        data = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
        self.send(data)
        answers = self.answers("noise")
        # random bytes may look like anything but a valid request: errors only, if any
        self.counts["answers"] += len(answers)
        for a in answers:
            if a.status == Status.OK:
                self.fail("wrong", f"noise {data.hex()}: answered OK")

    def _item_cut(self, rng):
        seq = self.next_seq()
        request = classify_request(self.image(rng)[1], seq=seq)
        keep = int(rng.integers(1, len(request)))
        self.send(request[:keep])
        self.expect("cut", self.answers("cut"), [Status.TIMEOUT])

    def _item_unknown(self, rng):
        command = int(rng.choice([c for c in range(256) if c not in set(Command)]))
        tail = rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
        self.send(bytes([command]) + tail)
        self.expect("unknown", self.answers("unknown"), [Status.UNKNOWN_COMMAND])

    def _item_status_inside(self, rng):
        request = bytearray(classify_request(self.image(rng)[1], seq=self.next_seq()))
        at = int(rng.integers(2, len(request) - 2))
        request[at:at] = status_request(seq=self.next_seq())
        self.send(bytes(request))
        # the board takes the request's length as the request (its CRC is wrong), and the
        # bytes after it as the next request, which they are not: an error answer
        answers = self.answers("status_inside")
        self.expect("status_inside", answers, None)
        if [a.status for a in answers[:1]] != [Status.BAD_CHECKSUM] or \
                len(answers) != 2:
            self.fail("unexpected", f"status_inside: answers "
                                    f"{[a.status.name for a in answers]}, expected "
                                    f"BAD_CHECKSUM and one error")

    def _item_garbled_pixel(self, rng):
        seq = self.next_seq()
        request = bytearray(classify_request(self.image(rng)[1], seq=seq))
        at = int(rng.integers(2, len(request)))
        request[at] ^= 1 << int(rng.integers(8))
        self.send(bytes(request))
        answers = self.answers("garbled_pixel")
        self.expect("garbled_pixel", answers, [Status.BAD_CHECKSUM])

    def _item_broken_stop(self, rng):
        request = classify_request(self.image(rng)[1], seq=self.next_seq())
        at = int(rng.integers(len(request)))
        levels, durations = uart_waveform(request, bit_cycles=self.bit)
        levels = np.array(levels)
        levels[10 * at + 9] = 0  # that byte's stop self.bit
        self.board.play(levels, durations)
        self.expect("broken_stop", self.answers("broken_stop"), [Status.FRAMING])

    def _item_held_low(self, rng):
        self.board.play([0], [int(rng.integers(11 * self.bit, 3 * SIM_TIMEOUT_CYCLES))])
        self.expect("held_low", self.answers("held_low"), [Status.FRAMING])

    def _item_glitches(self, rng):
        n = int(rng.integers(1, 200))
        durations = rng.integers(1, 3 * self.bit, n)
        levels = np.arange(n) % 2  # starts low
        self.board.play(levels, durations)
        answers = self.answers("glitches")
        self.counts["answers"] += len(answers)
        for a in answers:
            if a.status == Status.OK:
                self.fail("wrong", "glitches: answered OK")

    def _item_back_to_back(self, rng):
        # streaming: each request answered in turn, while the next arrives
        seqs = [self.next_seq() for _ in range(int(rng.integers(2, 4)))]
        chosen = [self.image(rng) for _ in seqs]
        self.send(b"".join(classify_request(pixels, seq=seq)
                           for seq, (_, pixels) in zip(seqs, chosen)))
        answers = self.answers("back_to_back")
        self.counts["answers"] += len(answers)
        if len(answers) != len(seqs):
            self.fail("hangs" if len(answers) < len(seqs) else "unexpected",
                      f"back_to_back: {len(answers)} answers to {len(seqs)} requests")
            return
        for answer, seq, (index, _) in zip(answers, seqs, chosen):
            self.check_ok("back_to_back", answer, seq, index)

    def _item_flood(self, rng):
        # status requests back to back, faster than their answers go out: each is
        # answered until a whole one waits for the answer before it to go out and the
        # next arrives meanwhile: that next burst is answered BUSY, once, when quiet
        seqs = [self.next_seq() for _ in range(int(rng.integers(3, 6)))]
        self.send(b"".join(status_request(seq=seq) for seq in seqs))
        answers = self.answers("flood")
        self.counts["answers"] += len(answers)
        got = [(a.status, a.seq) for a in answers]
        if got != [(Status.OK, seqs[0]), (Status.OK, seqs[1]), (Status.BUSY, 0)]:
            self.fail("unexpected", f"flood: answers {got}")

    def _item_self_test(self, rng):
        # a few of the test images in flash, classified on the board: one answer, OK,
        # with the reference's count and the CRC of the host's records
        if self.tests is None:
            return
        count = int(rng.integers(1, 4))
        seq = self.next_seq()
        self.send(self_test_request(count, seq=seq))
        record = self.net.pixels + 1
        answers = self.answers("self_test", first_wait=count * record * CYCLES_PER_BYTE)
        self.counts["answers"] += len(answers)
        if len(answers) != 1 or answers[0].status != Status.OK or answers[0].seq != seq:
            self.fail("unexpected", f"self_test: {answers}")
            return
        table = np.frombuffer(self.tests[TESTS_HEADER_BYTES:][:count * record],
                              np.uint8).reshape(count, record)
        ref = reference.run(self.net, table[:, :-1].reshape(count, *self.net.input_shape))
        fields = self_test_fields(answers[0])
        expected = {"correct": int(np.sum(ref.classes == table[:, -1])),
                    "data_crc": crc32(table.tobytes())}
        got = {k: fields[k] for k in expected}
        if got != expected:
            self.fail("wrong", f"self_test of {count}: {got}, expected {expected}")

    def _item_status(self, rng):
        seq = self.next_seq()
        self.send(status_request(seq=seq))
        answers = self.answers("status")
        self.counts["answers"] += len(answers)
        if len(answers) != 1 or answers[0].status != Status.OK or answers[0].seq != seq \
                or answers[0].cls or any(answers[0].logits):
            self.fail("unexpected", f"status: {answers}")

    def session(self, rng):
        for kind in rng.choice(ITEMS, int(rng.integers(1, 6))):
            self.item(str(kind), rng)
        seq = self.next_seq()
        index, pixels = self.image(rng)
        self.send(classify_request(pixels, seq=seq))
        answers = self.answers("final")
        self.counts["answers"] += len(answers)
        if not answers:
            self.fail("hangs", "final classify: no answer")
        elif len(answers) > 1:
            self.fail("out_of_step", f"final classify: {len(answers)} answers")
        else:
            self.check_ok("final classify", answers[0], seq, index)
        if self.board.tx_errors:
            self.fail("out_of_step", f"{self.board.tx_errors} bytes from the board with a "
                                     f"low stop bit")
        if self.board.leds() != (1, 0):
            self.fail("unexpected", f"LEDs {self.board.leds()}, not ready")
        self.counts["sessions"] += 1


def fuzz(net, images, *, sessions, seed=0, start=0, threads=1, progress=True, model=None,
         top=None, board=BOARD):
    """Run ``sessions`` sessions, ``start`` to ``start + sessions - 1`` (``seed``: session
    ``k`` draws from ``(seed, k)``, so a long run in parts makes the sessions one run makes)
    on ``threads`` boards of ``top`` compiled (``model``; by default ``board``'s top and its
    model). Returns ``(counts, failures, seconds, cycles)``."""
    if not isinstance(start, numbers.Integral) or isinstance(start, bool) or start < 0:
        raise ValueError(f"start must be a non-negative integer, not {start!r}")
    began = time.time()
    top = top or simulated_top(net, board=board)
    model = model or board_model(top, board=board, progress=progress)
    bar = Progress(sessions, label="fuzz sessions", enabled=progress)
    counts = {k: 0 for k in COUNTS}
    failures = []
    bounds = start + np.linspace(0, sessions, threads + 1).astype(int)
    cycles = []

    # the test images in flash after the weights, as hw.build --program writes them, for the
    # self-test items
    tests = test_image(top.test_images) if top.test_images else None
    flash = board_flash(top, tests)

    def work(a, b):
        board, _, status = power_up(model, top, flash=flash)
        try:
            if status != Status.OK:
                raise RuntimeError(f"the fuzzed board did not load its weights: {status.name}")
            runner = _Session(board, top, images, counts, failures, tests)
            for k in range(a, b):
                runner.session(np.random.default_rng([seed, k]))
                bar.update(1)
            cycles.append(board.cycles)
        finally:
            board.close()

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(work, a, b) for a, b in zip(bounds, bounds[1:]) if b > a]:
            f.result()
    return counts, failures, time.time() - began, int(sum(cycles))


def _flip(image, byte, bit):
    image = bytearray(image)
    image[byte] ^= 1 << bit
    return bytes(image)


def _other_network(net, seed):
    """A network of ``net``'s shapes with other parameters (its weights shuffled)."""
    rng = np.random.default_rng(seed)
    params = {name: {part: rng.permutation(a.reshape(-1)).reshape(a.shape)
                     for part, a in p.items()} for name, p in net.params.items()}
    return type(net)(input_shape=net.input_shape, input=net.input, layers=net.layers,
                     params=params, provenance={})


def faults(net, top, *, payload_bits=16, seed=0, board=BOARD):
    """The flash faults of ``top`` built for ``board``: ``(name, flash bytes, flash mode)``.

    Raises
    ------
    ValueError
        ``top`` reads no weights from flash (they are in the bitstream).
    """
    if not top.weights_in_flash:
        raise ValueError("a board top without weights in flash has no flash faults: its "
                         "design reads no weights from flash")
    good = top.flash_image()
    rng = np.random.default_rng(seed)
    other = flash_image(_other_network(net, seed), built_schedules(net, board=board))
    out = [("another network's weights", other, "normal")]
    out += [(f"header bit {k}", _flip(good, k // 8, k % 8), "normal")
            for k in range(8 * HEADER_BYTES)]
    crc_at = len(good) - CRC_BYTES
    out += [(f"CRC bit {k}", _flip(good, crc_at + k // 8, k % 8), "normal")
            for k in range(8 * CRC_BYTES)]
    for k in rng.choice(8 * (crc_at - HEADER_BYTES), payload_bits, replace=False):
        k = int(k)
        out.append((f"payload bit {k}", _flip(good, HEADER_BYTES + k // 8, k % 8), "normal"))
    for cut in (HEADER_BYTES // 2, HEADER_BYTES, (HEADER_BYTES + crc_at) // 2, crc_at,
                len(good) - 1):
        out.append((f"cut after {cut} bytes", good[:cut], "normal"))
    v1 = bytearray(good)
    v1[4:6] = (1).to_bytes(2, "little")
    out.append(("version 1 header", bytes(v1), "normal"))
    out += [("erased flash", b"\xff" * len(good), "normal"),
            ("flash of zeros", bytes(len(good)), "normal"),
            ("flash that never wakes", good, "asleep")]
    return out


def flash_faults(net, *, payload_bits=16, seed=0, threads=1, progress=True, model=None,
                 top=None, board=BOARD):
    """Power up a board on each fault of :func:`faults` (``top`` and ``model``: by default
    ``board``'s). Returns ``(summary, failures)``: ``faults``, ``detected`` (BAD_WEIGHTS, red
    LED, a classify request refused) counts."""
    top = top or simulated_top(net, board=board)
    cases = faults(net, top, payload_bits=payload_bits, seed=seed, board=board)
    model = model or board_model(top, board=board, progress=progress)
    bar = Progress(len(cases), label="flash faults", enabled=progress)
    failures = []
    pixels = bytes(net.pixels)

    def one(case):
        name, flash, mode = case
        board, link, status = power_up(model, top, flash=flash, flash_mode=mode)
        try:
            leds = board.leds()
            answer = link.request(Command.CLASSIFY, pixels)
        finally:
            board.close()
        bar.update(1)
        if status != Status.BAD_WEIGHTS or leds != (0, 1) or answer.status != \
                Status.BAD_WEIGHTS:
            return f"{name}: status {status.name}, LEDs {leds}, classify {answer.status.name}"
        return None

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, cases))
    failures = [r for r in results if r]
    return {"faults": len(cases), "detected": len(cases) - len(failures)}, failures


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sim.fuzz", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 all counts clean, 1 a failure was "
                                       "counted or a tool failed, 2 bad input or usage")
    p.add_argument("--sessions", type=int, default=300, help="default %(default)s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=0, metavar="K",
                   help="the first session's number (session k draws from seed and k): a "
                        "long run in parts, --start 0 --sessions N then --start N, makes the "
                        "sessions one run makes (default 0)")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="boards simulated side by side (default: the cores)")
    p.add_argument("--payload-bits", type=int, default=16,
                   help="payload bits flipped, one per flash fault (default %(default)s)")
    p.add_argument("--no-flash-faults", action="store_true")
    p.add_argument("--board", default=BOARD,
                   help="the board whose top to fuzz (its build's schedules, clock and UART "
                        f"rate), one of: {', '.join(sorted(boards()))} (default %(default)s)")
    p.add_argument("--json", action="store_true", help="one JSON object on standard output")
    args = p.parse_args(argv)
    for name in ("sessions", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, not {getattr(args, name)}")
    if args.start < 0:
        p.error(f"--start must be 0 or more, not {args.start}")
    if args.payload_bits < 0:
        p.error(f"--payload-bits must be at least 0, not {args.payload_bits}")
    try:
        board = simulated_board(args.board)
    except ValueError as e:   # an unknown board, or one of an unknown family
        p.error(f"--board: {e}")
    try:
        net = load(args.weights)
        data = dataset.load()
        dataset.check_network(net, data, args.weights)
        images = data.x_test
        top = simulated_top(net, board=board)
        model = board_model(top, board=board, progress=True)
        counts, failures, seconds, cycles = fuzz(net, images, sessions=args.sessions,
                                                 seed=args.seed, start=args.start,
                                                 threads=args.threads, model=model, top=top,
                                                 board=board)
        result = {"weights": args.weights, "board": board.name,
                  "clock_mhz": board.default_clock_hz / 1e6, "seed": args.seed,
                  "first_session": args.start, **counts,
                  "simulated_cycles": cycles, "seconds": round(seconds, 1),
                  "timeout_cycles": SIM_TIMEOUT_CYCLES}
        if not args.no_flash_faults and not top.weights_in_flash:
            result["flash_faults_skipped"] = f"the {board.name}'s design reads no weights " \
                "from flash (every weight is in its bitstream)"
        elif not args.no_flash_faults:
            summary, fault_failures = flash_faults(net, payload_bits=args.payload_bits,
                                                   seed=args.seed, threads=args.threads,
                                                   model=model, top=top, board=board)
            result.update({f"flash_{k}": v for k, v in summary.items()})
            failures += fault_failures
    except (WeightsError, mnist.MnistError, dataset.DatasetError, NetworkError) as e:
        p.exit(2, f"error: {e}\n")
    except ToolError as e:
        p.exit(1, f"error: {e}\n")
    clean = all(result[k] == 0 for k in ("hangs", "stale", "wrong", "out_of_step",
                                         "unexpected")) and \
        result["corrupted"] == result["corrupted_refused"] and \
        result.get("flash_faults", 0) == result.get("flash_detected", 0)
    result["clean"] = clean
    if args.json:
        print(json.dumps({**result, "failures": failures}))
    else:
        for key, value in result.items():
            print(f"{key:>20}  {value}")
        for failure in failures:
            print(f"  {failure}")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
