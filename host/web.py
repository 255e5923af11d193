"""``python -m host --serve``: a local web page where you draw a digit and the board (or the
simulated board top, or the integer reference) answers, beside the Keras QAT model's and the
reference's logits (``docs/web.md``).

The server is the standard library's ``http.server`` (a thread per request), bound to
127.0.0.1 only: the page is for the machine the board is plugged into, and the standard
library needs nothing installed. The page is plain HTML, JavaScript and CSS in
``host/static/``, so it works offline.

Routes:

- ``GET /``: the page; ``GET /static/NAME``: its script and style.
- ``GET /api/info``: the network's input shape and classes, the back end, the counters.
- ``GET /api/test-image?index=N``: MNIST's test image N (networks that take MNIST's images).
- ``POST /api/classify``: a JSON object, ``{"drawing": {"width", "height", "pixels"}}`` (a
  drawing, centred here as MNIST's digits were: ``host.drawing``) or ``{"pixels": [...]}`` (the
  board's codes as they are); the answer holds the codes sent, the back end's, the reference's
  and the Keras model's classes and logits, the reference's activations and the counters.

Every error is a JSON object ``{"error": message}`` with a 4xx or 5xx status, which the page
shows: a body over :data:`MAX_BODY` bytes (refused before it is read), malformed JSON, an image
of the wrong size, a busy back end, a board that does not answer.
"""

import json
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from hw.board.link import LinkError
from hw.board.protocol import ProtocolError
from q8.dataset import DatasetError
from q8.mnist import MnistError

from .answers import BoardBusy
from .drawing import DrawingError, board_image

__all__ = ["MAX_BODY", "HOST", "make_server", "url_of", "serve", "serve_in_thread"]

#: The largest request body accepted, in bytes: a 1024x1024 drawing's grey levels as JSON
#: (the page's canvas sends far less).
MAX_BODY = 4 * 1024 * 1024

#: Only this machine may connect: the page drives a board on a local serial port.
HOST = "127.0.0.1"

#: Seconds a connection may stall mid-request before it is dropped (a client that announces a
#: body and never sends it must not hold a thread for ever).
SOCKET_TIMEOUT_S = 30.0

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

#: The page's files and their types (only these are served: no path from a request reaches the
#: file system).
FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "style.css": "text/css; charset=utf-8"}


class _Handler(BaseHTTPRequestHandler):
    server_version = "mnist-q8-host"
    timeout = SOCKET_TIMEOUT_S

    def log_message(self, format, *args):  # noqa: A002 -- the base class's signature
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status, obj):
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _error(self, status, message):
        self._json(status, {"error": message})

    def do_GET(self):  # noqa: N802 -- http.server's name
        url = urlsplit(self.path)
        session = self.server.session
        name = "index.html" if url.path in ("/", "/index.html") else \
            url.path[len("/static/"):] if url.path.startswith("/static/") else None
        if name in FILES:
            with open(os.path.join(STATIC, name), "rb") as f:
                return self._send(HTTPStatus.OK, f.read(), FILES[name])
        if url.path == "/api/info":
            return self._json(HTTPStatus.OK, session.info())
        if url.path == "/api/test-image":
            index = parse_qs(url.query).get("index", [""])[0]
            try:
                return self._json(HTTPStatus.OK, session.test_image(
                    int(index) if index.lstrip("-").isdigit() else index))
            except (DrawingError, DatasetError) as e:   # no such image; a misfit data set
                return self._error(HTTPStatus.BAD_REQUEST, str(e))
            except MnistError as e:   # no MNIST on this machine
                return self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(e))
        self._error(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")

    def _body(self):
        """The request's JSON body, or ``None`` once an error has been answered."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._error(HTTPStatus.LENGTH_REQUIRED, "a request needs its Content-Length")
            return None
        if int(length) > MAX_BODY:
            self.close_connection = True   # the body is never read
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        f"the request has {int(length):,} bytes; at most {MAX_BODY:,} are "
                        f"accepted")
            return None
        try:
            return json.loads(self.rfile.read(int(length)))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            self._error(HTTPStatus.BAD_REQUEST, f"the request is not valid JSON: {e}")
            return None

    def do_POST(self):  # noqa: N802 -- http.server's name
        if urlsplit(self.path).path != "/api/classify":
            return self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {self.path}")
        request = self._body()
        if request is None:
            return None
        session = self.server.session
        try:
            image = board_image(request, session.net.input_shape)
            answer = session.classify(image)
        except DrawingError as e:
            return self._error(HTTPStatus.BAD_REQUEST, str(e))
        except BoardBusy as e:
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(e))
        except (LinkError, ProtocolError) as e:
            return self._error(HTTPStatus.BAD_GATEWAY, f"the board did not answer: {e}")
        except Exception as e:   # noqa: BLE001 -- the page shows it rather than a dropped line
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR,
                               f"the server failed: {type(e).__name__}: {e}")
        return self._json(HTTPStatus.OK, answer)


def make_server(session, *, port=0, verbose=False):
    """A :class:`http.server.ThreadingHTTPServer` for ``session`` (a
    :class:`host.answers.Session`) on 127.0.0.1 and ``port`` (0: a free one; the server's
    ``server_address`` says which), not yet serving."""
    server = ThreadingHTTPServer((HOST, port), _Handler)
    server.daemon_threads = True
    server.session, server.verbose = session, verbose
    return server


def url_of(server):
    """The page's address."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve(session, *, port, verbose=False):
    """Serve ``session``'s page on ``port`` until interrupted, printing its address."""
    server = make_server(session, port=port, verbose=verbose)
    print(f"serving the page on {url_of(server)}: {session.backend.label} answers (Ctrl-C to "
          f"stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        session.backend.close()


def serve_in_thread(session, *, port=0):
    """Start serving ``session`` in a daemon thread (the tests' and the screenshot's); returns
    the server (``server.shutdown()`` stops it, ``server.server_close()`` frees its port)."""
    server = make_server(session, port=port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
