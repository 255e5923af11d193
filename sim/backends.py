"""The backends of ``python -m sim.evaluate``: each runs a network over a chunk of images and
returns its logits (and, for the gateware, its own classes and cycle counts).

Backends provided by packages above this one (``keras``, from ``train``) are found through the
entry points of :data:`PLUGIN_GROUP`, so that this package never imports them.
"""

import importlib.metadata
import os

import numpy as np

from hw.board.defaults import BOARD
from hw.board.link import SerialBoard
from q8 import reference

__all__ = ["BACK_TO_BACK", "BACKENDS", "PLUGIN_GROUP", "SIMULATED", "BackendError",
           "backend_names", "prepare"]


def _board(args):
    """The board whose build a simulation backend simulates (``--board``)."""
    return getattr(args, "board", None) or BOARD


def _reference_backend(net, args):
    return lambda images: (reference.run(net, images).logits, {})


def _pysim_backend(net, args):
    from hw.fit import built_schedules
    from hw.stages.network import NetworkPipeline
    from .pysim import simulate_network
    pipeline = NetworkPipeline(net, schedules=built_schedules(net, board=_board(args)))

    def run(images):
        result = simulate_network(pipeline, images)
        return result.logits, {"cycles": result.cycles.tolist(), "classes": result.classes}
    return run


def _native_backend(factory):
    """The backend of ``sim.rtl``'s model ``factory`` (a name), on every core."""
    def prepare(net, args):
        from . import rtl
        model = getattr(rtl, factory)(net, board=_board(args))  # a missing or failing tool:
        # ToolError
        threads = len(os.sched_getaffinity(0))

        def run(images):
            result = model.run(images, threads=threads)
            streamed = model.run(images[:BACK_TO_BACK], back_to_back=True)
            return result.logits, {"cycles": result.cycles.tolist(), "classes": result.classes,
                                   "back_to_back": (streamed.logits, streamed.cycles.tolist())}
        return run
    return prepare


#: Images of each chunk that the compiled network's backends also stream back to back (each
#: image's pixels right after the previous image's, whatever the results): their logits are
#: checked as well, and the last interval between their results is the network's pace.
BACK_TO_BACK = 5


def _answers(responses, count):
    return (np.array([r.logits for r in responses], np.int8).reshape(count, -1),
            {"classes": [r.cls for r in responses]})


def _board_backend(net, args):
    if not args.port:
        raise BackendError("the board backend needs --port (the board's serial port)")
    from .board_host import stream_depth
    board = SerialBoard(args.port, classes=net.classes, baud=args.baud)  # or LinkError
    depth = stream_depth(net, board=_board(args))

    def run(images):
        return _answers(list(board.classify_stream((image.reshape(-1) for image in images),
                                                   depth=depth)), len(images))
    return run


def _compiled_board_backend(synthesize):
    """The board top compiled (``sim.board_host``): the images over the simulated UART, on
    a board per core (the netlist's: one board, it is slow to load)."""
    def prepare(net, args):
        from hw.board.uart import divisor_of
        from .board_host import classify_on_boards, simulated_board
        threads = 1 if synthesize else len(os.sched_getaffinity(0))
        try:
            board = simulated_board(_board(args))   # refused, not simulated as another's
        except ValueError as e:
            raise BackendError(f"--board: {e}") from None
        try:
            divisor_of(args.baud, board.default_clock_hz)
        except ValueError as e:
            raise BackendError(f"--baud: {e}") from None

        def run(images):
            # the top built for the data set's self-test (hw.build --data), as it is built
            responses, stats = classify_on_boards(net, images, synthesize=synthesize,
                                                  threads=min(threads, len(images)),
                                                  baud=args.baud, board=board,
                                                  data=getattr(args, "dataset", None))
            logits, measured = _answers(responses, len(images))
            return logits, {**measured, **{k: stats[k] for k in SIMULATED},
                            "stream_cycles": stats["stream_cycles"]}
        return run
    return prepare


class BackendError(RuntimeError):
    """A backend that cannot run with what it was given."""


#: What the compiled board tops' backends report of the design they simulated: the board its top
#: was built for (a name) and its design clock (MHz).
SIMULATED = ("board", "clock_mhz")

#: name -> function(net, args) that prepares the backend and returns a function of a chunk of
#: images, returning int8 logits (N, classes) and a dict (per image, if the backend has them:
#: ``cycles``, and ``classes`` where the backend computes its own argmax; for the chunk, from
#: the compiled board tops: ``stream_cycles``, simulated cycles from the first request to the
#: last answer on all boards, and :data:`SIMULATED`).
BACKENDS = {"reference": _reference_backend, "pysim": _pysim_backend,
            "rtl": _native_backend("rtl_model"), "netlist": _native_backend("netlist_model"),
            "board": _board_backend, "board-rtl": _compiled_board_backend(False),
            "board-netlist": _compiled_board_backend(True)}

#: Backends that packages above this one provide, found through entry points of this group
#: (``keras``: ``train.backend``), so that this module never imports them.
PLUGIN_GROUP = "mnist_q8.backends"


def _plugins():
    return {e.name: e for e in importlib.metadata.entry_points(group=PLUGIN_GROUP)}


def backend_names():
    """The backends' names: this module's and the installed plugins'."""
    return sorted({*BACKENDS, *_plugins()})


def prepare(backend, net, args):
    """The function of a chunk of images that ``backend`` runs for ``net``."""
    if backend in BACKENDS:
        return BACKENDS[backend](net, args)
    plugin = _plugins().get(backend)
    if plugin is None:
        raise BackendError(f"no backend {backend!r}; the backends are: "
                           f"{', '.join(backend_names())}")
    try:
        prepare = plugin.load()
    except ImportError as e:
        raise BackendError(f"the {backend} backend cannot be loaded ({e}); install the "
                           f"project with its extras: pip install -e '.[train]'") from None
    return prepare(net, args)
