"""What the web page (``python -m host --serve``) shows for one image: the chosen back end's
answer (the board on a serial port, the compiled board top, or the integer reference), the
integer reference's and the Keras QAT model's logits beside it, the reference's activations
layer by layer, and the session's count of requests and mismatches.

The back ends answer one request at a time (a board has one UART); a request that finds its
back end busy for longer than :data:`BUSY_S` is refused rather than queued without end.
"""

import os
import threading
import time

import numpy as np

from q8 import reference

__all__ = ["BUSY_S", "KERAS_WAIT_S", "BoardBusy", "ReferenceBackend", "SimulatedBackend",
           "PortBackend", "KerasSide", "Session"]

#: Seconds a request waits for the back end to finish the one before it.
BUSY_S = 30.0

#: Seconds a request waits for the Keras model to load (importing Keras and JAX takes seconds;
#: the page shows the board's answer either way).
KERAS_WAIT_S = 120.0

#: A layer's activations with more values than this are not sent to the page (a map that
#: large says nothing at the page's size, and would make every answer heavy).
MAX_SHOWN = 65536


class BoardBusy(RuntimeError):
    """The back end was still answering another request after :data:`BUSY_S` seconds."""


def _answer(cls, logits, start, **extra):
    return {"class": int(cls), "logits": [int(v) for v in logits],
            "milliseconds": round((time.perf_counter() - start) * 1e3, 2), **extra}


class ReferenceBackend:
    """The integer reference (``q8.reference``) as the back end: no board, no simulation."""

    kind = "reference"

    def __init__(self, net):
        self._net = net
        self.label = "the integer reference (q8.reference)"

    def classify(self, image):
        start = time.perf_counter()
        result = reference.run(self._net, image[None])
        return _answer(result.classes[0], result.logits[0], start)

    def close(self):
        pass


class SimulatedBackend:
    """The compiled board top of ``net`` for ``board`` (a ``platforms`` board) at ``baud``, as
    ``python -m host --sim`` builds it (``sim.board_host``; so the compiled model in ``build/``
    is shared with it), powered up once and kept for the session. Its answers carry the
    simulated clock cycles from the request's first bit to the answer's last."""

    kind = "sim"

    def __init__(self, net, *, board, baud=None, progress=None):
        from hw.board.uart import divisor_of
        from sim.board import board_model
        from sim.board_host import BoardNotReady, power_up, simulated_top
        from hw.board.protocol import Status
        clock_hz = board.default_clock_hz
        baud = board.default_baud if baud is None else baud
        top = simulated_top(net, board=board, divisor=divisor_of(baud, clock_hz))
        if progress is not None:
            progress(f"simulating the {board.name}'s board top: compiling it (cached after the "
                     f"first time), powering it up ...")
        model = board_model(top, board=board, progress=progress is not None)
        self._board, self._link, status = power_up(model, top, clock_hz=clock_hz)
        if status != Status.OK:
            self._board.close()
            raise BoardNotReady(f"the simulated board's weights did not load: status "
                                f"{status.name}")
        self.label = f"the {board.name}'s board top, simulated (CXXRTL)"

    def classify(self, image):
        start, cycles = time.perf_counter(), self._board.cycles
        response = self._link.classify(image.reshape(-1))
        return _answer(response.cls, response.logits, start,
                       cycles=int(self._board.cycles - cycles))

    def close(self):
        self._board.close()


class PortBackend:
    """The board on serial ``port`` (``hw.board.link.SerialBoard``), opened for each request
    as ``python -m host --port`` opens it, waiting ``timeout`` seconds for a byte: a board that
    is absent or silent is an error on the page, never a hang."""

    kind = "port"

    def __init__(self, net, port, *, board, baud=None, timeout=1.0):
        self._net, self._port, self._timeout = net, port, timeout
        self._baud = board.default_baud if baud is None else baud
        self.label = f"the {board.name} on {port}"

    def classify(self, image):
        from hw.board.link import SerialBoard
        start = time.perf_counter()
        link = SerialBoard(self._port, classes=self._net.classes, baud=self._baud,
                           timeout=self._timeout)
        try:
            response = link.classify(image.reshape(-1))
        finally:
            link.close()
        return _answer(response.cls, response.logits, start)

    def close(self):
        pass


class KerasSide:
    """The Keras QAT model saved beside the weights file (``train.backend``: ``<weights>.keras``,
    checked to hold the same network), loaded in a thread of its own so that the server starts
    at once; where Keras is not installed, or the model is missing, :attr:`error` says so."""

    def __init__(self, net, weights):
        self.error = None
        self._run = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        threading.Thread(target=self._load, args=(net, weights), daemon=True).start()

    def _load(self, net, weights):
        from types import SimpleNamespace
        try:
            try:
                from train.backend import keras_backend
            except ImportError as e:
                self.error = (f"Keras not installed ({e}); `pip install -e '.[train]'` adds "
                              f"it")
                return
            self._run = keras_backend(net, SimpleNamespace(weights=weights))
        except Exception as e:   # noqa: BLE001 -- the page shows why; the server goes on
            self.error = f"the Keras model could not be loaded: {e}"
        finally:
            self._ready.set()

    def status(self):
        """``"ready"``, ``"loading"`` or the error."""
        if not self._ready.is_set():
            return "loading"
        return self.error or "ready"

    def logits(self, image):
        """``{"class", "logits"}`` of the Keras model for ``image``, or ``{"error"}``."""
        if not self._ready.wait(KERAS_WAIT_S):
            return {"error": f"the Keras model was still loading after {KERAS_WAIT_S:g} s"}
        if self.error:
            return {"error": self.error}
        start = time.perf_counter()
        try:
            with self._lock:   # one model, one prediction at a time
                codes, _ = self._run(image[None])
        except Exception as e:   # noqa: BLE001 -- as in _load
            return {"error": f"the Keras model failed: {e}"}
        return _answer(reference.argmax(codes[0]), codes[0], start)


def _shown_path(path):
    """``path`` relative to the current folder when it is inside it (shorter on the page)."""
    relative = os.path.relpath(os.path.abspath(path))
    return path if relative.startswith(os.pardir) else relative


def _layers(net, result):
    """The reference's activations, layer by layer, for the page's maps."""
    shown = []
    for layer in net.layers:
        values = result.layers[layer.name][0]
        entry = {"name": layer.name, "kind": layer.kind, "shape": list(values.shape)}
        if values.size <= MAX_SHOWN:
            entry["values"] = values.reshape(-1).astype(int).tolist()
        shown.append(entry)
    return shown


class Session:
    """The server's state: the network, its back end, the Keras side and the counters.

    Parameters
    ----------
    net : q8.weights.Network
    backend : ReferenceBackend, SimulatedBackend or PortBackend
    weights : str
        The weights file (the Keras model is looked for beside it).
    keras : bool
        Show the Keras QAT model's logits too (loaded in the background).
    board : str, optional
        The board's name, for the page (none for the reference).
    data : str or q8.dataset.Dataset, optional
        The data set whose test images the page can pick (``q8.dataset``: ``FILE.npz`` or the
        set read from it; MNIST's when not given).
    """

    def __init__(self, net, backend, *, weights, keras=True, board=None, data=None):
        self.net, self.backend, self.weights, self.board = net, backend, weights, board
        self.data = data
        self.keras = KerasSide(net, weights) if keras else None
        self._busy = threading.Lock()
        self._count = threading.Lock()
        self.requests = self.mismatches = self.keras_mismatches = 0
        self._test = None

    def counter(self):
        """The session's requests, and its answers that differ from the reference's."""
        return {"requests": self.requests, "mismatches": self.mismatches,
                "keras_mismatches": self.keras_mismatches}

    def info(self):
        """What the page needs before its first request."""
        from q8 import mnist
        height, width, channels = self.net.input_shape
        return {"height": height, "width": width, "channels": channels,
                "test_images": self.data is not None or
                tuple(self.net.input_shape) == mnist.IMAGE_SHAPE,
                "classes": self.net.classes, "backend": self.backend.kind,
                "label": self.backend.label, "board": self.board,
                "weights": _shown_path(self.weights),
                "layers": [{"name": l.name, "kind": l.kind} for l in self.net.layers],
                "keras": self.keras.status() if self.keras else "not asked for",
                "counter": self.counter()}

    def test_set(self):
        """The test images (``q8.dataset``: ``data``'s, or MNIST's), read once and checked to
        fit the network.

        Raises
        ------
        q8.dataset.DatasetError
            They do not (or ``data`` is no data set).
        q8.mnist.MnistError
            MNIST could not be found.
        """
        from q8 import dataset
        if self._test is None:
            test = self.data if isinstance(self.data, dataset.Dataset) else \
                dataset.load(self.data)
            dataset.check_network(self.net, test, self.weights)
            self._test = test
        return self._test

    def test_image(self, index):
        """Test image ``index`` (of :meth:`test_set`) as codes and its label.

        Raises
        ------
        host.drawing.DrawingError
            ``index`` is out of range.
        """
        from .drawing import DrawingError
        self.test_set()
        count = len(self._test.x_test)
        if not isinstance(index, int) or not 0 <= index < count:
            raise DrawingError(f"the test image's index must be in [0, {count - 1}], not "
                               f"{index!r}")
        return {"pixels": self._test.x_test[index].reshape(-1).astype(int).tolist(),
                "data": self._test.name, "classes": int(self._test.classes),
                "label": int(self._test.y_test[index])}

    def classify(self, image):
        """Everything the page shows for ``image`` (uint8, the network's input shape).

        Raises
        ------
        BoardBusy
            The back end did not come free in :data:`BUSY_S` seconds.
        hw.board.link.LinkError, hw.board.protocol.ProtocolError
            The board did not answer (or answered garbage).
        """
        if not self._busy.acquire(timeout=BUSY_S):
            raise BoardBusy(f"{self.backend.label} was still answering another request after "
                            f"{BUSY_S:g} s; try again")
        try:
            board = self.backend.classify(image)
        finally:
            self._busy.release()
        start = time.perf_counter()
        ref = reference.run(self.net, image[None], intermediates=True)
        expected = _answer(ref.classes[0], ref.logits[0], start)
        keras = self.keras.logits(image) if self.keras else {"error": "not asked for"}
        same = board["logits"] == expected["logits"]
        keras_same = keras.get("logits") == expected["logits"] if "logits" in keras else None
        with self._count:
            self.requests += 1
            self.mismatches += not same
            self.keras_mismatches += keras_same is False
            counter = self.counter()
        return {"pixels": image.reshape(-1).astype(int).tolist(),
                "shape": list(image.shape), "board": board, "reference": expected,
                "keras": keras, "identical": {"reference": same, "keras": keras_same},
                "layers": _layers(self.net, ref), "counter": counter}
