"""The drawing page (``python -m host --serve``; ``host.web``, ``host.answers``,
``host.drawing``): in headless Chromium (Debian's, through Selenium and the system's
chromedriver), a "1" and a "0" drawn as strokes are answered by the compiled board top with
the integer reference's logits, computed here on the very codes the page shows it sent; the
same through ``--port`` with the board top behind a pseudo-terminal (``sim.serve``); and bad
requests, a silent board and a missing Keras are clear messages, never a hang."""

import concurrent.futures
import http.client
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from host import answers, browser
from host.answers import PortBackend, ReferenceBackend, Session, SimulatedBackend
from host.drawing import DrawingError, board_image, centre
from host.web import MAX_BODY, serve_in_thread, url_of
from hw.board.defaults import BOARD
from platforms import get_board
from q8 import mnist, reference
from q8.weights import DEFAULT_WEIGHTS, load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def needs_browser(test):
    """Skipped (with the reason) without Chromium or its driver, unless CI asks for every tool
    (``tests/conftest.py``)."""
    return pytest.mark.tool("chromium", "chromium")(
        pytest.mark.tool("chromedriver", "chromium-driver")(test))


@pytest.fixture(scope="module")
def net():
    return load(DEFAULT_WEIGHTS)


@pytest.fixture(scope="module")
def driver():
    made = browser.chromium()
    yield made
    made.quit()


def serving(session):
    """``session`` served on a free port; the server and the page's address."""
    server = serve_in_thread(session)
    return server, url_of(server)


def stop(server):
    server.shutdown()
    server.server_close()


def request(url, path, body=None, *, headers=None, timeout=30):
    """``(status, JSON)`` of a GET (or of a POST of ``body``, bytes) to the server."""
    host, port = url.split("//")[1].strip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET" if body is None else "POST", path, body=body,
                           headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def assert_the_references(net, shown, expected_class=None):
    """The page's answer (``host.browser.Page.answer``) is the reference's on the codes the page
    shows it sent, in the back end's panel and the reference's."""
    codes = np.array(shown["codes"], np.uint8).reshape(net.input_shape)
    ref = reference.run(net, codes[None])
    for panel in ("board", "reference"):
        assert shown[panel] == {"class": int(ref.classes[0]), "logits": ref.logits[0].tolist()}
    assert shown["reference_mark"] == "✓ identical to the board's"
    if expected_class is not None:
        assert ref.classes[0] == expected_class
    return codes


# ---- in the browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated(net):
    """The compiled board top as ``host --sim`` builds it (the build cache shared with it)."""
    backend = SimulatedBackend(net, board=get_board(BOARD))
    session = Session(net, backend, weights=DEFAULT_WEIGHTS, board=BOARD)
    server, url = serving(session)
    yield url
    stop(server)
    backend.close()


@needs_browser
def test_a_one_and_a_zero_drawn_are_answered_by_the_simulated_board(driver, net, simulated):
    page = browser.Page(driver, simulated)
    assert "board top, simulated" in page.text("board-label")
    for count, (strokes, digit) in enumerate([(browser.ONE, 1), (browser.ZERO, 0)], 1):
        page.draw(strokes)
        shown = page.answer()
        assert shown["error"] == ""
        codes = assert_the_references(net, shown, expected_class=digit)
        # what went over the wire is the drawing centred as MNIST's digits were
        drawing = np.array(page.drawing(), np.uint8)
        assert np.array_equal(codes, centre(drawing, net.input_shape))
        assert codes.max() > 128 and codes.sum() > 20 * 255
        assert shown["counter"]["requests"] == count and shown["counter"]["mismatches"] == 0
        # the Keras QAT model's logits beside them (it loads in the background)
        assert len(shown["keras"]["logits"]) == net.classes, shown["keras_mark"]
        assert [caption.split()[0] for caption in shown["maps"]] == \
            [layer.name for layer in net.layers]


@needs_browser
def test_the_page_on_a_serial_port_answers_from_the_board_behind_a_terminal(driver, net):
    from tests.test_serve import Served
    served = Served("--board", BOARD)
    backend = PortBackend(net, served.path, board=get_board(BOARD), timeout=10)
    server, url = serving(Session(net, backend, weights=DEFAULT_WEIGHTS, keras=False,
                                  board=BOARD))
    try:
        page = browser.Page(driver, url)
        assert served.path in page.text("board-label")
        page.draw(browser.ZERO)
        assert_the_references(net, page.answer(), expected_class=0)
        # a test image picked by its index goes as it is
        driver.find_element("id", "index").clear()
        driver.find_element("id", "index").send_keys("3")
        page.run("document.getElementById('load-test').click()")
        codes = assert_the_references(net, page.answer())
        assert np.array_equal(codes, mnist.load().x_test[3].reshape(net.input_shape))
        assert page.text("label") == f"its label: {mnist.load().y_test[3]}"
    finally:
        stop(server)
        served.close()


@pytest.fixture
def without_keras(monkeypatch):
    """A session of the reference whose Keras side finds no Keras, as where it is not
    installed."""
    monkeypatch.setitem(sys.modules, "train.backend", None)   # its import raises ImportError

    def make(net):
        session = Session(net, ReferenceBackend(net), weights=DEFAULT_WEIGHTS)
        while session.keras.status() == "loading":
            time.sleep(0.01)
        return session
    return make


@needs_browser
def test_bad_requests_and_a_missing_keras_are_shown_on_the_page(driver, net, without_keras):
    server, url = serving(without_keras(net))
    try:
        page = browser.Page(driver, url)
        assert "Keras not installed" in page.text("keras-status")
        page.run("send({pixels: [1, 2, 3]})")
        assert "must be a list of 784 integers 0..255, not 3 values" in page.answer()["error"]
        page.draw(browser.ONE)
        shown = page.answer()
        assert shown["error"] == "" and shown["keras"]["logits"] is None
        assert "Keras not installed" in shown["keras_mark"]
        assert_the_references(net, shown, expected_class=1)
    finally:
        stop(server)


# ---- the server without a browser ----------------------------------------------------------


def test_bad_requests_are_clear_errors_never_a_hang(net):
    server, url = serving(Session(net, ReferenceBackend(net), weights=DEFAULT_WEIGHTS,
                                  keras=False))
    try:
        status, answer = request(url, "/api/classify", b"{not json")
        assert status == 400 and "not valid JSON" in answer["error"]
        status, answer = request(url, "/api/classify", json.dumps({"pixels": [0] * 783}).encode())
        assert status == 400 and "list of 784 integers" in answer["error"]
        status, answer = request(url, "/api/classify", json.dumps(
            {"drawing": {"width": 5000, "height": 1, "pixels": []}}).encode())
        assert status == 400 and "width must be an integer from 1 to 1024" in answer["error"]
        # refused from its Content-Length, before a byte of the body is read
        status, answer = request(url, "/api/classify", b"",
                                 headers={"Content-Length": str(MAX_BODY + 1)}, timeout=10)
        assert status == 413 and f"at most {MAX_BODY:,}" in answer["error"]
        status, answer = request(url, "/api/test-image?index=10000")
        assert status == 400 and "[0, 9999]" in answer["error"]
        status, answer = request(url, "/static/../web.py")
        assert status == 404
        # a good request: the codes it sent, and the reference's answer on them
        status, answer = request(url, "/api/test-image?index=7")
        status, answer = request(url, "/api/classify", json.dumps(answer).encode())
        assert status == 200
        codes = np.array(answer["pixels"], np.uint8).reshape(net.input_shape)
        assert np.array_equal(codes, mnist.load().x_test[7][..., None])
        ref = reference.run(net, codes[None], intermediates=True)
        assert answer["board"]["logits"] == answer["reference"]["logits"] == \
            ref.logits[0].tolist()
        assert answer["layers"][0]["values"] == ref.layers["conv"][0].reshape(-1).tolist()
        assert answer["counter"] == {"requests": 1, "mismatches": 0, "keras_mismatches": 0}
    finally:
        stop(server)


def test_a_silent_or_absent_board_is_an_error_in_bounded_time(net):
    master, slave = os.openpty()   # a terminal nobody answers on
    try:
        backend = PortBackend(net, os.ttyname(slave), board=get_board(BOARD), timeout=0.5)
        server, url = serving(Session(net, backend, weights=DEFAULT_WEIGHTS, keras=False))
        body = json.dumps({"pixels": [0] * net.pixels}).encode()
        start = time.monotonic()
        status, answer = request(url, "/api/classify", body)
        assert status == 502 and "the board did not answer" in answer["error"]
        assert time.monotonic() - start < 15
        stop(server)
        backend = PortBackend(net, "/dev/nosuch-board", board=get_board(BOARD))
        server, url = serving(Session(net, backend, weights=DEFAULT_WEIGHTS, keras=False))
        status, answer = request(url, "/api/classify", body)
        assert status == 502 and "cannot open /dev/nosuch-board" in answer["error"]
        stop(server)
    finally:
        os.close(master)
        os.close(slave)


class SlowBackend(ReferenceBackend):
    """The reference, a second late: a board still busy with the request before."""

    def classify(self, image):
        time.sleep(1.0)
        return super().classify(image)


def test_a_busy_board_is_an_error_not_a_queue(net, monkeypatch):
    monkeypatch.setattr(answers, "BUSY_S", 0.2)
    server, url = serving(Session(net, SlowBackend(net), weights=DEFAULT_WEIGHTS, keras=False))
    body = json.dumps({"pixels": [0] * net.pixels}).encode()
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            done = list(pool.map(lambda _: request(url, "/api/classify", body), range(2)))
        assert sorted(status for status, _ in done) == [200, 503]
        busy = next(answer for status, answer in done if status == 503)
        assert "still answering another request after 0.2 s" in busy["error"]
    finally:
        stop(server)


def test_a_drawing_is_centred_as_mnist_digits_are():
    # a small blob in a corner of a wide drawing: fitted into 20/28 of each side, its centre
    # of mass at the image's centre, whatever the network's input shape
    drawing = np.zeros((60, 90), np.uint8)
    drawing[5:15, 70:75] = 255
    for shape in [(28, 28, 1), (16, 12, 3)]:
        image = centre(drawing, shape).astype(float)
        assert image.shape == shape and np.array_equal(image[..., 0], image[..., -1])
        rows, cols = np.nonzero(image[..., 0])
        assert rows.max() - rows.min() + 1 == round(20 / 28 * shape[0])
        mass = image[..., 0].sum()
        cy = image[..., 0].sum(axis=1) @ np.arange(shape[0]) / mass
        cx = image[..., 0].sum(axis=0) @ np.arange(shape[1]) / mass
        assert abs(cy - (shape[0] - 1) / 2) <= 0.5 and abs(cx - (shape[1] - 1) / 2) <= 0.5
    assert not centre(np.zeros((10, 10), np.uint8), (28, 28, 1)).any()
    for bad, message in [({}, "either"), ({"pixels": [0] * 784, "drawing": {}}, "either"),
                         ({"pixels": [256] + [0] * 783}, "0..255 only"),
                         ({"drawing": {"width": 2, "height": 2, "pixels": [0] * 3}},
                          "list of 4 integers"),
                         ({"drawing": []}, '"drawing" must be an object')]:
        with pytest.raises(DrawingError, match=re.escape(message)):
            board_image(bad, (28, 28, 1))


def test_the_test_images_are_those_of_data(net, tmp_path):
    data = mnist.load()
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=data.x_train[:200], y_train=data.y_train[:200],
             x_test=data.x_test[[42, 7]], y_test=data.y_test[[42, 7]])
    server, url = serving(Session(net, ReferenceBackend(net), weights=DEFAULT_WEIGHTS,
                                  keras=False, data=str(path)))
    try:
        status, test = request(url, "/api/test-image?index=1")
        assert status == 200 and test["label"] == data.y_test[7] and test["data"] == str(path)
        assert test["pixels"] == data.x_test[7].reshape(-1).tolist()
        status, answer = request(url, "/api/test-image?index=2")
        assert status == 400 and "[0, 1]" in answer["error"]
    finally:
        stop(server)


def test_the_page_says_when_keras_is_missing(net, without_keras):
    session = without_keras(net)
    assert session.info()["keras"].startswith("Keras not installed")
    answer = session.classify(mnist.load().x_test[0][..., None])
    assert answer["keras"]["error"].startswith("Keras not installed")
    assert answer["identical"] == {"reference": True, "keras": None}


def test_host_serve_starts_the_page_on_the_port_it_prints(net):
    process = subprocess.Popen(
        [sys.executable, "-m", "host", "--serve", "--reference", "--http-port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
        assert found, (line, process.stderr.read() if process.poll() is not None else "")
        status, info = request(found[1], "/api/info")
        assert status == 200 and info["backend"] == "reference"
        assert (info["height"], info["width"], info["classes"]) == (28, 28, 10)
        status, answer = request(found[1], "/api/classify", json.dumps(
            {"pixels": mnist.load().x_test[2].reshape(-1).tolist()}).encode())
        assert answer["board"]["logits"] == \
            reference.run(net, mnist.load().x_test[2:3]).logits[0].tolist()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


@pytest.mark.parametrize("argv, message", [
    (["--reference", "--mnist-index", "0"], "--reference goes with --serve"),
    (["--sim", "--mnist-index", "0", "--http-port", "8001"], "--http-port goes with --serve"),
    (["--mnist-index", "0"], "one of the arguments --port --sim is required"),
])
def test_host_refuses_serve_options_elsewhere(capsys, argv, message):
    from host.__main__ import main
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err
