"""``python -m sim.serve``: a simulated board on a pseudo-terminal, for the host's real serial
path.

    python -m sim.serve --board icebreaker
    # serving icebreaker's compiled board top on /dev/pts/3
    python -m host --port /dev/pts/3 --mnist-index 0
    python -m sim.evaluate --backend board --port /dev/pts/3 --limit 1000 --json

The board top of ``--weights`` as ``hw.build`` builds it for ``--board``
(``sim.board_host.simulated_top``; its flash as ``hw.build --program`` writes it, the weights
loaded from it first as the board does at power-up, and the self-test's images) is compiled with CXXRTL and served on a new pseudo-terminal, whose
path it prints: the host's commands open that path with pyserial as they open a real board's
port, through the operating system's serial layer, its buffering and its timeouts. The
bytes the host writes go onto the simulated ``rx`` at the board's UART rate; what the board
sends on ``tx`` goes back. The simulation runs while the board may still answer (as long as it
can be silent before an answer, ``sim.board_host.quiet_cycles``, after the last byte either
way, and for :data:`RUN_ON_S` seconds after the host's last byte: a self-test's answer comes
after all its images), and waits for the host otherwise; it is far slower than the chip,
which the host's timeouts allow for an image at a time.

To test what the host does when the wire or the board misbehave: ``--garble-byte K`` flips
the bits of the K-th byte (from 0) the host sends, as noise on the line would (the board
answers that request with an error; the host retries it once); ``--stop-after N`` makes the
board fall silent after its N-th byte (a board that stops mid-stream: the host must time out
with an error, not hang).

Runs until interrupted (or ``--exit-after`` seconds after the simulation last ran on).
"""

import argparse
import os
import select
import sys
import time
import tty

from hw.board.defaults import BOARD
from hw.board.protocol import Status
from platforms import UnknownBoardError, boards, get_board
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load

__all__ = ["PseudoTerminalBoard", "main"]

#: Cycles the simulation runs between looks at the host's side.
CHUNK_CYCLES = 20_000

#: Seconds the simulation runs on after the host's last byte, beyond the top's longest silence
#: before an answer: a self-test's answer comes after its images, far longer.
RUN_ON_S = 60.0

#: Seconds to wait for the rest of what the host is writing before the simulation runs on
#: (a request's bytes come in one write; running meanwhile would put a gap in the simulated
#: line that the chip's UART never sees).
WRITE_WAIT_S = 0.02


class PseudoTerminalBoard:
    """The compiled board top of ``net`` for ``board`` on a new pseudo-terminal.

    Parameters
    ----------
    net : q8.weights.Network
    board : str
        A ``platforms`` board.
    garble_byte : int or None
        Flip the bits of this byte (counted from 0) of the host's.
    stop_after : int or None
        Send no byte after this many of the board's.

    Members
    -------
    path : str
        The terminal the host opens.
    """

    def __init__(self, net, *, board=BOARD, garble_byte=None, stop_after=None, progress=None):
        from .board import board_model
        from hw.board.self_test import test_image
        from .board_host import (BoardNotReady, board_flash, power_up, quiet_cycles,
                                 simulated_top)
        for name, value in (("garble_byte", garble_byte), ("stop_after", stop_after)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or None, not "
                                 f"{value!r}")
        facts = get_board(board)
        top = simulated_top(net, board=facts)
        model = board_model(top, board=facts, progress=progress is not None)
        # the flash as hw.build --program writes it: the weights and the self-test's images
        flash = board_flash(top, test_image(top.test_images) if top.test_images else None)
        self._board, _, status = power_up(model, top, flash=flash,
                                          clock_hz=facts.default_clock_hz)
        if status != Status.OK:
            self._board.close()
            raise BoardNotReady(f"the simulated board's weights did not load: status "
                                f"{status.name}")
        self._quiet = quiet_cycles(top)
        self._garble, self._stop = garble_byte, stop_after
        self._received = self._sent = 0
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)   # no echo, no line discipline: the bytes as they are
        self.path = os.ttyname(self._slave)
        self.board = facts.name

    def _from_host(self, data):
        if self._garble is not None and self._received <= self._garble < \
                self._received + len(data):
            at = self._garble - self._received
            data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
        self._received += len(data)
        self._board.send(data)

    def _to_host(self):
        out = self._board.take()
        if self._stop is not None:
            out = out[:max(0, self._stop - self._sent)]
        if out:
            os.write(self._master, out)
        self._sent += len(out)
        return bool(out)

    def serve(self, *, exit_after=None):
        """Serve until interrupted, or until ``exit_after`` seconds pass with no byte from the
        host and nothing left to answer."""
        idle = self._quiet   # cycles since the last byte either way: nothing is due
        quiet_since = time.monotonic() - RUN_ON_S
        while True:
            busy = idle < self._quiet or time.monotonic() - quiet_since < RUN_ON_S
            ready, _, _ = select.select([self._master], [], [], 0 if busy else 0.2)
            if ready:
                data = os.read(self._master, 1 << 16)
                # the rest of the host's write, before the simulated line goes idle
                while select.select([self._master], [], [], WRITE_WAIT_S)[0]:
                    data += os.read(self._master, 1 << 16)
                self._from_host(data)
                idle, quiet_since = 0, time.monotonic()
            elif busy:
                self._board.run(CHUNK_CYCLES)
                idle += CHUNK_CYCLES
            elif exit_after is not None and time.monotonic() - quiet_since > \
                    RUN_ON_S + exit_after:
                return
            if self._to_host():
                idle = 0

    def close(self):
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._board.close()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sim.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 served, 2 bad input or usage")
    p.add_argument("--board", default=BOARD,
                   help=f"the board whose top to serve, one of: {', '.join(sorted(boards()))} "
                        f"(default %(default)s)")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS)
    p.add_argument("--garble-byte", type=int, default=None, metavar="K",
                   help="flip the bits of the K-th byte from the host (from 0)")
    p.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="the board falls silent after its N-th byte")
    p.add_argument("--exit-after", type=float, default=None, metavar="S",
                   help="exit S seconds after the simulation last ran on (it runs on for "
                        f"{RUN_ON_S:g} s after the host's last byte)")
    args = p.parse_args(argv)
    try:
        get_board(args.board)
        net = load(args.weights)
    except (UnknownBoardError, WeightsError, OSError) as e:
        p.exit(2, f"error: {e}\n")
    try:
        served = PseudoTerminalBoard(net, board=args.board, garble_byte=args.garble_byte,
                                     stop_after=args.stop_after, progress=print)
    except ValueError as e:
        p.exit(2, f"error: {e}\n")
    print(f"serving {served.board}'s compiled board top on {served.path}", flush=True)
    try:
        served.serve(exit_after=args.exit_after)
    except KeyboardInterrupt:
        pass
    finally:
        served.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
