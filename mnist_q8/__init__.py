"""``mnist-q8``: every tool of the project as one console script, which works from any folder.

    mnist-q8 fit --board icebreaker --from model.keras
    mnist-q8 train --from model.keras --out weights/mine.npz
    mnist-q8 build --board icebreaker --weights weights/mine.npz
    mnist-q8 evaluate --weights weights/mine.npz --json
    mnist-q8 host --port /dev/ttyUSB1 --self-test

Each subcommand is the ``python -m`` command of the same job with the same options (``mnist-q8
SUB --help``). ``python -m train`` runs the first ``train`` that Python finds from the working
folder, and so a user's own ``train.py`` (or ``bench.py``, ``host.py``) when there is one:
``python -m`` puts the working folder first on ``sys.path``. A console script does not, so
``mnist-q8 train`` always runs this project's training.
"""

import argparse
import contextlib
import importlib
import sys

__all__ = ["COMMANDS", "main"]

#: ``{subcommand: (the python -m command it is, the module holding its main, what it does)}``
COMMANDS = {
    "fit": ("hw.fit", "hw.fit.cli", "does a network fit a board, and with which schedules"),
    "train": ("train", "train.__main__",
              "train in 8-bit fixed point, or import your Keras model (--from)"),
    "build": ("hw.build", "hw.build.cli", "build a board's bitstream (and flash image)"),
    "evaluate": ("sim.evaluate", "sim.evaluate",
                 "accuracy: reference, Keras, gateware (simulated) or board"),
    "describe": ("sim.describe", "sim.describe", "a weights file's layers, formats and ranges"),
    "fuzz": ("sim.fuzz", "sim.fuzz", "random traffic and flash faults on the compiled board "
                                     "top"),
    "serve": ("sim.serve", "sim.serve", "a simulated board on a pseudo-terminal, as a real "
                                        "board's serial port"),
    "digits": ("train.digits", "train.digits",
               "scikit-learn's 8x8 digits as a --data file (the offline example)"),
    "host": ("host", "host.__main__", "classify an image on the board, or run its self-test"),
    "bench": ("bench", "bench.__main__", "the benchmark (bench/results.md)"),
}

PROG = "mnist-q8"


@contextlib.contextmanager
def _named(module, name):
    """While it lasts, an ``argparse`` parser made with ``prog="python -m <module>"`` is named
    ``name`` instead, so that ``mnist-q8 SUB --help`` and its errors name the command that was
    typed; the modules' own parsers stay as they are for ``python -m``."""
    init = argparse.ArgumentParser.__init__

    def renamed(self, *args, prog=None, **kwargs):
        init(self, *args, prog=name if prog == f"python -m {module}" else prog, **kwargs)

    # the method, not the class: argparse's own __init__ names its class for super()
    argparse.ArgumentParser.__init__ = renamed
    try:
        yield
    finally:
        argparse.ArgumentParser.__init__ = init


def _usage():
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [options]   ({PROG} COMMAND --help: its options)", "",
             "commands: each is the `python -m` command beside it, with the same options"]
    for sub, (module, _, what) in COMMANDS.items():
        lines.append(f"  {sub:<{width}}  {'python -m ' + module:<23} {what}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Run the subcommand that ``argv`` (default: ``sys.argv[1:]``) names with the rest of
    ``argv``; its exit status is the command's."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        sys.stderr.write(_usage())
        return 2
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(_usage())
        return 0
    sub, rest = argv[0], argv[1:]
    if sub not in COMMANDS:
        sys.stderr.write(_usage() + f"{PROG}: error: unknown command {sub!r}; "
                                    f"one of: {', '.join(COMMANDS)}\n")
        return 2
    module, holder, _ = COMMANDS[sub]
    # imported only now: each tool's imports (Keras, Amaranth) cost seconds
    run = importlib.import_module(holder).main
    with _named(module, f"{PROG} {sub}"):
        return run(rest)
