"""The host's real serial path: the compiled board top served on a pseudo-terminal
(``python -m sim.serve``), and the host's own commands (``sim.evaluate --backend board``,
``host --port``) through pyserial and the operating system's serial layer, as with a board:
the test images bit-exact, a garbled byte on the wire retried, a board that stops answering
an error in bounded time, never a hang."""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from q8 import mnist, reference
from q8.weights import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Served:
    """``python -m sim.serve`` in a process of its own, and the terminal it serves on."""

    def __init__(self, *args):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sim.serve", "--exit-after", "30", *args], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()   # after the model's compile and power-up
        found = re.search(r"on (/dev/\S+)", line)
        assert found, (line, self.process.stderr.read() if self.process.poll() else "")
        self.path = found[1]

    def run(self, *args, timeout=600):
        return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)

    def close(self):
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture
def served(request):
    made = []

    def serve(*args):
        made.append(Served(*args))
        return made[-1]

    yield serve
    for s in made:
        s.close()


def test_the_test_images_over_pyserial_are_the_references(served):
    board = served("--board", "icebreaker")
    done = board.run("sim.evaluate", "--backend", "board", "--port", board.path,
                     "--limit", "1000", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["images"] == 1000 and result["board"] == "icebreaker"
    assert result["logits_agree_with_reference"] == 1000


def test_host_port_answers_with_the_references_logits(served):
    board = served("--board", "icebreaker")
    done = board.run("host", "--port", board.path, "--mnist-index", "3", timeout=120)
    assert done.returncode == 0, done.stderr
    ref = reference.run(load(), mnist.load().x_test[3:4])
    assert f"class {ref.classes[0]}" in done.stdout
    assert " ".join(map(str, ref.logits[0])) in done.stdout
    done = board.run("host", "--port", board.path, "--mnist-index", "3", "--json",
                     timeout=120)
    answer = json.loads(done.stdout)
    assert answer["class"] == ref.classes[0] and answer["logits"] == ref.logits[0].tolist()


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-25f"])
def test_the_self_test_over_the_terminal_is_the_references(served, board):
    # the test images from the board's simulated flash (the ULX3S's through USRMCLK)
    served_board = served("--board", board)
    done = served_board.run("host", "--port", served_board.path, "--board", board,
                            "--self-test", "--images", "20", "--json", "--timeout", "60",
                            timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    data = mnist.load()
    expected = int((reference.run(load(), data.x_test[:20]).classes == data.y_test[:20]).sum())
    assert result["images"] == 20 and result["correct"] == expected, result


def test_a_garbled_byte_is_retried_and_answered_right(served):
    # the byte inside the image: the board's CRC check refuses the request, the host sends
    # it again (hw.board.link.Link's one retry) and gets the right answer
    board = served("--board", "icebreaker", "--garble-byte", "100")
    done = board.run("host", "--port", board.path, "--mnist-index", "0", timeout=120)
    assert done.returncode == 0, done.stderr
    ref = reference.run(load(), mnist.load().x_test[:1])
    assert " ".join(map(str, ref.logits[0])) in done.stdout


def test_a_board_that_stops_answering_is_an_error_not_a_hang(served):
    board = served("--board", "icebreaker", "--stop-after", "10")
    start = time.monotonic()
    done = board.run("host", "--port", board.path, "--mnist-index", "0", timeout=120)
    assert done.returncode == 1
    assert "the board did not answer in time" in done.stderr
    assert time.monotonic() - start < 60


def test_the_serve_command_refuses_bad_input():
    done = subprocess.run([sys.executable, "-m", "sim.serve", "--board", "nosuch"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "nosuch" in done.stderr
    done = subprocess.run([sys.executable, "-m", "sim.serve", "--stop-after", "-1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "stop_after must be a non-negative integer" in done.stderr
