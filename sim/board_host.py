"""The host on the compiled board (``sim.board``): the protocol's host side
(:class:`hw.board.link.Link`) over the simulated UART, boards powered up (an iCE40 board's
weights loaded from its simulated flash; an ECP5 board's are in its block RAM's initial
contents, as in its bitstream) and images classified on them, one board per thread.

The board tops built here answer a request cut short, and a garbled burst, after
:data:`SIM_TIMEOUT_CYCLES` of quiet rather than the bitstream's 50 ms, so that a simulation
does not idle for 2,400,000 cycles at each; it is their network's watchdog too. Everything else
is the bitstream's design (``hw.build``'s schedules, divisor and flash offset).
"""

import concurrent.futures
import time

import numpy as np

from hw.board.defaults import BOARD, CLOCK_HZ
from hw.board.flash_image import FLASH_OFFSET, flash_contents
from hw.board.link import Link, LinkError
from hw.board.self_test import run_self_test, test_image
from hw.board.uart import divisor_of
from hw.board.protocol import Status, frame_bytes
from hw.board.built import board_top
from hw.lib.params import check_count
from platforms import get_board
from platforms.families import UnknownFamilyError, family_of
from .board import CompiledBoard, board_model

__all__ = ["SIM_TIMEOUT_CYCLES", "BoardNotReady", "SimulatedTransport", "simulated_top",
           "board_flash", "flash_base", "stream_depth", "quiet_cycles", "power_up",
           "classify_on_boards", "self_test_on_board"]

#: The compiled tops' timeout and watchdog, in cycles: the watchdog longer than a network with
#: its convolutions in parallel takes for an image (:func:`simulated_top` lengthens it for a
#: folded one).
SIM_TIMEOUT_CYCLES = 16_000

def quiet_cycles(top):
    """The longest a board top can be silent before an answer: its timeout or watchdog, then
    the frame's bytes (with room for a slower host)."""
    return max(top.timeout_cycles, top.watchdog_cycles) + 12 * top.divisor * \
        frame_bytes(top.net.classes)


class BoardNotReady(LinkError):
    """The simulated board did not load its weights."""


class SimulatedTransport:
    """A :class:`sim.board.CompiledBoard`'s UART as a transport for :class:`hw.board.link.Link`.

    ``read`` waits for a byte as long as the board can be silent before an answer
    (:func:`quiet_cycles`), or as long as asked (``wait_s`` at the design clock ``clock_hz``).
    """

    def __init__(self, board, top, *, clock_hz=CLOCK_HZ):
        self.board = board
        self._wait = quiet_cycles(top)
        self._clock_hz = clock_hz

    def write(self, data):
        self.board.send(data)

    def read(self, count, wait_s=None):
        wait = self._wait if wait_s is None else max(self._wait, round(wait_s * self._clock_hz))
        return self.board.receive(count, wait)

    def discard(self):
        while self.board.receive(1 << 16, self._wait):
            pass


def simulated_board(board):
    """The ``platforms`` board named ``board`` (or that board) whose top the simulations here
    run: any board of a known family (``platforms.families``), its top as ``hw.build`` builds
    it (:func:`simulated_top`)."""
    board = get_board(board) if isinstance(board, str) else board
    try:
        family_of(board)
    except UnknownFamilyError as e:
        raise ValueError(f"the {board.name}'s board top cannot be simulated: {e}") from None
    return board


def stream_depth(net, *, board=BOARD):
    """Requests on the line at once for ``net`` built for ``board``
    (:meth:`hw.board.link.Link.classify_stream`): 1 if its plan folds a convolution (the
    network then takes an image's pixels slower than the UART brings the next image, which
    would overwrite them in the board's one image buffer), else 2."""
    from hw.fit import built_schedules
    schedules = built_schedules(net, board=board)
    return 1 if any(layer.kind == "conv2d" and layer.name in schedules
                    for layer in net.layers) else 2


def simulated_top(net, *, board=BOARD, **kwargs):
    """The board top of ``net`` as ``hw.build`` builds it for ``board`` (its schedules, its
    UART's divisor at its design clock, its weights from flash or in block RAM as its family
    has them, as many self-test images as its flash holds), with the simulations' timeout
    (and a watchdog of twice the plan's latency where that is longer: a folded network's image
    takes far more than the timeout's cycles)."""
    from hw.fit import plan
    board = simulated_board(board)
    planned = plan(net.layers, board=board, params=net.params)   # as hw.build's
    kwargs.setdefault("timeout_cycles", SIM_TIMEOUT_CYCLES)
    kwargs.setdefault("watchdog_cycles", max(SIM_TIMEOUT_CYCLES, 2 * planned.latency))
    return board_top(net, board=board, schedules=planned.schedules,
                     interval=planned.interval, **kwargs)


def board_flash(top, tests=None):
    """What the simulated flash of ``top`` holds from :func:`flash_base` on, as ``hw.build
    --program`` writes it: its weights image (none for a top whose weights are in the
    bitstream), and the self-test's ``tests`` (``hw.board.self_test.test_image``'s bytes, if
    given) at the top's ``tests_offset``."""
    if top.weights_in_flash:
        return flash_contents(top.flash_image(), tests, tests_offset=top.tests_offset)
    return b"" if tests is None else bytes(tests)


def flash_base(top):
    """The flash address :func:`board_flash`'s bytes start at: the weights image's, or the
    test images' for a top whose weights are in the bitstream (the bitstream before them is
    not simulated)."""
    return FLASH_OFFSET if top.weights_in_flash else top.tests_offset


def power_up(model, top, *, flash=None, flash_mode="normal", poll_cycles=50_000,
             limit_cycles=50_000_000, clock_hz=CLOCK_HZ, **host):
    """A :class:`sim.board.CompiledBoard` of ``model`` (``top`` compiled) with ``flash``
    (:func:`board_flash` unless given) from :func:`flash_base` on, reset, and polled with
    status requests until the weights are no longer loading (a top without weights in flash is
    ready at once). Returns
    ``(board, link, status)``: the last status. ``host``: the board's ``host_bit_cycles``,
    ``host_jitter`` and ``seed``."""
    board = CompiledBoard(model, flash=board_flash(top) if flash is None else flash,
                          flash_base=flash_base(top), flash_mode=flash_mode, **host)
    board.reset()
    link = Link(SimulatedTransport(board, top, clock_hz=clock_hz), classes=top.net.classes)
    while True:
        status = link.status()
        if status != Status.NOT_READY or board.cycles > limit_cycles:
            return board, link, status
        board.run(poll_cycles)


def classify_on_boards(net, images, *, synthesize=False, threads=1, baud=None, board=BOARD,
                       progress=None, data=None):
    """Classify uint8 ``images`` (N, H, W) on the compiled board top of ``net`` built for
    ``board`` (:func:`simulated_board`, :func:`simulated_top`) and ``baud`` (the board's unless
    given), with the self-test of ``data`` (a ``q8.dataset.Dataset``; ``None``: MNIST's) as
    ``hw.build --data`` builds it: each thread powers up a board of its own, waits for its weights and streams its
    share of the images over the simulated UART through :class:`hw.board.link.Link` (numbered,
    checksummed requests; :meth:`hw.board.link.Link.classify_stream`). Returns ``(responses,
    stats)``: the checked answers, in order, and a dict with ``cycles`` (simulated, all
    boards), ``load_cycles`` (power-up to READY, the first board's), ``stream_cycles`` (from
    each board's first request to its last answer, all boards), ``images_per_second`` (the
    images over their stream cycles at the design clock: a board's rate), ``retries``,
    ``seconds``, and what was simulated: ``board`` (the name of the board the top was built
    for) and ``clock_mhz`` (its design clock).

    Raises
    ------
    BoardNotReady
        A board's weights did not load (its last status is named).
    hw.board.link.LinkError, hw.board.protocol.ProtocolError
        A request got no valid OK answer.
    """
    check_count("threads", threads)
    start = time.time()
    board_facts = simulated_board(board)
    clock_hz = board_facts.default_clock_hz
    baud = board_facts.default_baud if baud is None else baud
    top = simulated_top(net, board=board_facts, divisor=divisor_of(baud, clock_hz), data=data)
    depth = stream_depth(net, board=board_facts)
    model = board_model(top, synthesize=synthesize, board=board_facts,
                        progress=progress is not None)
    bounds = np.linspace(0, len(images), threads + 1).astype(int)
    parts = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a] or [(0, 0)]
    done = [0]

    def work(part):
        a, b = part
        board, link, status = power_up(model, top, clock_hz=clock_hz)
        try:
            if status != Status.OK:
                raise BoardNotReady(f"the simulated board's weights did not load: status "
                                    f"{status.name}")
            loaded = board.cycles
            out = []
            for answer in link.classify_stream((image.reshape(-1) for image in images[a:b]),
                                               depth=depth):
                out.append(answer)
                done[0] += 1
                if progress is not None:
                    progress(done[0])
            return out, board.cycles, loaded, link.retried
        finally:
            board.close()

    if len(parts) == 1:
        results = [work(parts[0])]
    else:
        with concurrent.futures.ThreadPoolExecutor(len(parts)) as pool:
            results = list(pool.map(work, parts))
    responses = [r for part in results for r in part[0]]
    streamed = int(sum(r[1] - r[2] for r in results))
    stats = {"cycles": int(sum(r[1] for r in results)), "load_cycles": int(results[0][2]),
             "stream_cycles": streamed,
             "images_per_second": round(len(responses) * clock_hz / streamed, 1)
             if streamed else 0.0,
             "retries": int(sum(r[3] for r in results)),
             "seconds": round(time.time() - start, 3),
             "board": board_facts.name, "clock_mhz": clock_hz / 1e6}
    return responses, stats



def self_test_on_board(net, *, count=None, board=BOARD, progress=None, data=None):
    """The self-test on the compiled board top of ``net`` built for ``board`` (its clock,
    UART rate and flash size): its simulated flash holds the weights (an iCE40 board's) and
    the test images of ``data`` (a ``q8.dataset.Dataset``; ``None``: MNIST's) at the board's offset (:func:`board_flash`, as ``hw.build --program``
    writes them); once ready, a self-test request of the first ``count`` images (all the top
    is built for unless given). Returns ``hw.board.self_test.run_self_test``'s dict and ``seconds``.

    Raises
    ------
    ValueError
        The board or the network cannot run a self-test, or ``count`` is out of range.
    BoardNotReady, hw.board.link.LinkError
    """
    start = time.time()
    board_facts = simulated_board(board)
    clock_hz = board_facts.default_clock_hz
    top = simulated_top(net, board=board_facts, data=data)
    if not top.test_images:
        from hw.fit import plan
        from hw.board.top import self_test_refusal
        interval = plan(net.layers, board=board_facts, params=net.params).interval
        raise ValueError(f"this network's board has no self-test: "
                         f"{self_test_refusal(net, data, interval=interval)}")
    count = top.test_images if count is None else count
    if not isinstance(count, int) or not 1 <= count <= top.test_images:
        raise ValueError(f"count must be between 1 and {top.test_images}, not {count!r}")
    tests = test_image(top.test_images, data)
    model = board_model(top, board=board_facts, progress=progress is not None)
    if progress is not None:
        progress(f"simulating the board top's self-test of {count:,} images (about "
                 f"{count * 0.015:.0f} s) ...")
    board, link, status = power_up(model, top, flash=board_flash(top, tests), clock_hz=clock_hz)
    try:
        if status != Status.OK:
            raise BoardNotReady(f"the simulated board's weights did not load: status "
                                f"{status.name}")
        result = run_self_test(link, net, count=count, tests=tests, clock_hz=clock_hz)
    finally:
        board.close()
    return {**result, "seconds": round(time.time() - start, 1)}
