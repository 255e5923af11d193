"""The bench's measurements: each is a command of the project, run as it is documented from the
repository's root, whose last line of JSON the bench reads.

Every step returns its command's JSON (a dict; :func:`build` also says how its report was had);
:func:`measure` runs them in order and returns them together, the input of
:func:`bench.rows.make_rows`.
"""

import collections
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time

from hw.board.defaults import BOARD, SELF_TEST_IMAGES
from . import BUILD_DIR, ROOT

__all__ = ["BenchError", "Runner", "CYCLE_IMAGES", "FUZZ_SESSIONS", "NETLIST_IMAGES",
           "FAST_BAUD", "FAST_IMAGES",
           "evaluate", "rtl", "cycles", "fuzz", "self_test",
           "recorded_baselines", "train", "trained_baselines", "check_reusable_build", "build",
           "measure"]

#: Images that ``bench.cycles`` simulates by default: Amaranth's simulator takes about a
#: second an image, and runs them twice (one at a time, then back to back).
CYCLE_IMAGES = 10

#: Random-traffic sessions on the compiled board top (``sim.fuzz``), the bench's longest step.
FUZZ_SESSIONS = 10_000

#: Images through the synthesised board top (``--backend board-netlist``): its simulation is
#: about 65 times slower than the RTL's, and Yosys and the compiler take minutes first.
NETLIST_IMAGES = 20

#: The fastest rate of the iCEBreaker's UART (a build option, ``hw.build --baud``), at which
#: the compiled board top streams the first :data:`FAST_IMAGES` test images.
FAST_BAUD = 12_000_000
FAST_IMAGES = 1000

#: The line of weights/README.md's table that records the user's recipe; the command is matched
#: in both spellings so that the recorded number is found before and after the move to ``-m``.
_USER_RECIPE_LINE = re.compile(
    r"\|\s*([\d.]+) %\s*\|\s*`python (?:-m bench\.user_recipe|bench/user_recipe\.py)`")


class BenchError(RuntimeError):
    """A step failed; the message names it and how to fix it."""


class Runner:
    """Runs the steps' commands from :data:`bench.ROOT` with a line of progress each; their
    output goes to standard error as it comes.

    Parameters
    ----------
    total : int
        The steps this run will take, for the progress lines.

    Members
    -------
    seconds : dict
        ``{step name: wall seconds}`` of the steps run so far.
    """

    def __init__(self, total):
        self.total, self.done, self.seconds = total, 0, {}
        self.start = time.time()

    def say(self, text):
        print(f"bench [{time.time() - self.start:5.0f} s] {text}", file=sys.stderr, flush=True)

    def run(self, name, args, *, fix, expect_json=True, check=True):
        """Run ``python args...``; return its last line of JSON (a dict, or None) and its exit
        code. A failure (unless ``check`` is false) raises :class:`BenchError` with the step's
        name, the end of its output and ``fix``."""
        self.done += 1
        command = "python " + " ".join(args)
        self.say(f"step {self.done}/{self.total}, {name}: {command}")
        start = time.time()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        tail, found = collections.deque(maxlen=15), None
        with subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
            for line in process.stdout:
                print(f"    {line}", end="", file=sys.stderr, flush=True)
                tail.append(line)
                if line.startswith("{"):
                    try:
                        found = json.loads(line)
                    except json.JSONDecodeError:
                        pass
        seconds = time.time() - start
        self.seconds[name] = round(seconds, 1)
        if check and process.returncode:
            raise BenchError(f"step {name!r} failed (exit {process.returncode}) running "
                             f"`{command}`; the end of its output:\n{''.join(tail)}"
                             f"fix: {fix}")
        if expect_json and found is None and not process.returncode:
            raise BenchError(f"step {name!r}: `{command}` printed no JSON line; fix: {fix}")
        status = f"exit {process.returncode}" if process.returncode else "done"
        self.say(f"step {self.done}/{self.total}, {name}: {status} in {seconds:.1f} s")
        return found, process.returncode


def evaluate(runner, backend, *, limit=None, fix="", baud=None):
    """``python -m sim.evaluate --backend <backend> --json``: accuracy and agreement with the
    reference, on the first ``limit`` test images (all without); with ``baud``, the compiled
    board top built for that rate (the step is named ``<backend>-<baud>``)."""
    images = ["--limit", str(limit)] if limit else []
    rate = ["--baud", str(baud)] if baud else []
    name = f"{backend}-{baud}" if baud else backend
    result, _ = runner.run(
        name, ["-m", "sim.evaluate", "--backend", backend, "--json", *images, *rate],
        fix=f"rerun `python -m sim.evaluate --backend {backend} --limit 10"
            f"{' --baud ' + str(baud) if baud else ''}` to see the error alone; MNIST comes "
            f"from $MNIST_PATH (a local mnist.npz){fix}")
    return result


def rtl(runner, *, limit=None):
    """The RTL model's evaluation; its cache goes first, so that the step's time
    (``runner.seconds["rtl"]``) includes the compilation."""
    from sim.rtl import BUILD_DIR as RTL_DIR
    cache = os.path.join(RTL_DIR, "network")
    if os.path.isdir(cache):
        runner.say(f"clearing the RTL model's cache {os.path.relpath(cache, ROOT)}, so that the "
                   f"verification time includes compiling it")
        shutil.rmtree(cache)
    return evaluate(runner, "rtl", limit=limit, fix="; the model's compiler log is "
                    "build/rtl/network/compile.log")


def fuzz(runner, *, sessions):
    """``python -m sim.fuzz --sessions <sessions> --json``: random traffic and flash faults
    on the compiled board top. Its counts go into the table even when they are not all 0
    (the command then exits 1)."""
    result, _ = runner.run("fuzz", ["-m", "sim.fuzz", "--sessions", str(sessions), "--json"],
                           check=False,
                           fix=f"rerun `python -m sim.fuzz --sessions 20` to see the error "
                               f"alone")
    if result is None:
        raise BenchError("step 'fuzz' printed no JSON line; rerun `python -m sim.fuzz "
                         "--sessions 20` to see why")
    return result


def self_test(runner, *, images):
    """``python -m host --sim --self-test --images <images> --json``: the board's self-test
    of MNIST's test images from its simulated flash. In the table even when its count is not
    the reference's (the command then exits 1)."""
    result, _ = runner.run("self-test", ["-m", "host", "--sim", "--self-test", "--images",
                                         str(images), "--json"], check=False,
                           fix="rerun `python -m host --sim --self-test --images 20` to see "
                               "the error alone")
    if result is None:
        raise BenchError("step 'self-test' printed no JSON line; rerun `python -m host --sim "
                         "--self-test --images 20` to see why")
    return result


def cycles(runner, *, images):
    """``python -m bench.cycles``: cycles per image in Amaranth's simulator, one image at a
    time and back to back."""
    result, _ = runner.run("cycles", ["-m", "bench.cycles", "--images", str(images)],
                           fix="rerun `python -m bench.cycles --images 2` to see the error "
                               "alone")
    return result


def recorded_baselines(net, weights_readme):
    """The float and PTQ accuracies recorded when the shipped weights were trained: from the
    weights' manifest (``python -m train`` writes them there) and, for the user's recipe, from
    the table in ``weights_readme`` (the text of weights/README.md).

    Returns ``{key: (percent, how, "recorded")}`` for the keys found among ``"user"``,
    ``"float"``, ``"ptq_uniform"``, ``"ptq_calibrated"``, and ``"ptq_uniform_frac"``.
    """
    acc = net.provenance.get("accuracy", {})
    images = net.provenance.get("eval_images", 0)
    where = "recorded, not re-measured: the shipped weights' manifest (`python -m train`, " \
            f"{images:,} images)"
    found = {k: (round(100 * acc[k], 2), where, "recorded") for k in
             ("float", "ptq_uniform", "ptq_calibrated") if k in acc}
    found["ptq_uniform_frac"] = acc.get("ptq_uniform_frac")
    for line in weights_readme.splitlines():
        match = _USER_RECIPE_LINE.search(line)
        if match:
            command = match.group(0).split("`")[1]
            found["user"] = (float(match.group(1)), f"recorded, not re-measured: "
                             f"weights/README.md (`{command}`)", "recorded")
    return found


#: Where ``--train`` writes its weights, beside (never over) the shipped ones.
TRAIN_OUT = os.path.join(BUILD_DIR, "train", "mnist_q8.npz")


def train(runner, *, limit=None):
    """A new training run (``--train``): the user's recipe, then ``python -m train``; returns
    ``{"user_recipe": its JSON, "train": its JSON}``."""
    user, _ = runner.run("user recipe", ["-m", "bench.user_recipe"],
                         fix="rerun `python -m bench.user_recipe` to see the error alone")
    images = ["--eval-limit", str(limit)] if limit else []
    trained, _ = runner.run("train", ["-m", "train", "--out", TRAIN_OUT, "--json", *images],
                            fix=f"rerun `python -m train --out {TRAIN_OUT}` to see the error "
                                f"alone")
    return {"user_recipe": user, "train": trained}


def trained_baselines(raw):
    """The float and PTQ accuracies of a new training run (:func:`train`'s dict), in the form
    of :func:`recorded_baselines`, marked measured."""
    trained, user = raw["train"], raw["user_recipe"]
    acc = trained["accuracy"]
    where = f"`python -m train --out {TRAIN_OUT}`, {trained['agree']['images']:,} images (a " \
            f"new run, seed 0, beside the shipped weights)"
    found = {k: (round(100 * acc[k], 2), where, "measured") for k in
             ("float", "ptq_uniform", "ptq_calibrated")}
    found["ptq_uniform_frac"] = acc["ptq_uniform_frac"]
    found["user"] = (round(100 * user["accuracy"], 2), "`python -m bench.user_recipe` "
                     f"({user['test_images']:,} images)", "measured")
    return found


def _report_path():
    return os.path.join(ROOT, BUILD_DIR, "report.json")


def check_reusable_build():
    """Raise :class:`BenchError` unless there is a report.json for ``--skip-build`` to reuse."""
    if not os.path.exists(_report_path()):
        raise BenchError(f"step 'build': --skip-build, but there is no {BUILD_DIR}/report.json "
                         f"to reuse; run without --skip-build, or `python -m hw.build --board "
                         f"{BOARD} --build-dir {BUILD_DIR}`")


def build(runner, *, skip=False):
    """The bitstream's report.json (``python -m hw.build``): built now, or reused with
    ``skip``. Returns ``(report, how)``, ``how`` saying which for the table."""
    report_path = _report_path()
    command = f"python -m hw.build --board {BOARD} --build-dir {BUILD_DIR}"
    if skip:
        check_reusable_build()
        when = datetime.datetime.fromtimestamp(os.path.getmtime(report_path))
        how = f"{BUILD_DIR}/report.json of {when:%Y-%m-%d %H:%M}, reused (--skip-build)"
    else:
        start = time.time()
        _, code = runner.run("build", command.split()[1:], expect_json=False, check=False,
                             fix="")
        fresh = os.path.exists(report_path) and os.path.getmtime(report_path) >= start
        if code and not fresh:
            raise BenchError(f"step 'build' failed (exit {code}): `{command}`; fix: see its "
                             f"output above and {BUILD_DIR}/build.log; YoWASP comes with "
                             f"`pip install -e .`, icetime with `apt-get install "
                             f"fpga-icestorm`; --skip-build reuses an earlier report.json")
        if code:
            # a design that misses timing or does not fit is a result, not a failure
            runner.say("the build does not fit or misses timing (see above); its numbers "
                       "go into the table all the same")
        how = f"`python -m hw.build`, {BUILD_DIR}/report.json"
    with open(report_path) as f:
        report = json.load(f)
    if report.get("board") != BOARD:
        raise BenchError(f"step 'build': {BUILD_DIR}/report.json is for board "
                         f"{report.get('board')!r}, not {BOARD!r}; rerun without --skip-build")
    return report, how


def step_count(*, train=False, skip_build=False):
    """The steps :func:`measure` runs: reference, keras, rtl, cycles, the board top's RTL
    (at the default rate and at :data:`FAST_BAUD`) and netlist, the self-test, the fuzzing
    and the build, and with ``train`` two more."""
    return 10 + 2 * train - skip_build


def measure(runner, net, *, limit=None, train_now=False, cycle_images=CYCLE_IMAGES,
            skip_build=False):
    """Run every step; return the measurements that :func:`bench.rows.make_rows` reads.

    Returns
    -------
    dict
        ``evaluate`` (``{backend: sim.evaluate's JSON}``, with ``board-rtl`` and
        ``board-netlist``), ``baselines``, ``rtl_seconds``, ``cycles``, ``fuzz``
        (``sim.fuzz``'s JSON), ``self_test`` (``python -m host --sim --self-test``'s JSON), ``build`` (hw.build's report.json), ``build_how``, and with
        ``train_now`` ``trained`` (the training run's JSON). With ``limit``, the netlist
        takes at most that many images and the fuzzing that many sessions.
    """
    if skip_build:
        check_reusable_build()  # before the other steps' minutes
    measured = {"evaluate": {}}
    for backend in ("reference", "keras"):
        measured["evaluate"][backend] = evaluate(runner, backend, limit=limit)
    if train_now:
        measured["trained"] = train(runner, limit=limit)
        measured["baselines"] = trained_baselines(measured["trained"])
    else:
        with open(os.path.join(ROOT, "weights", "README.md")) as f:
            measured["baselines"] = recorded_baselines(net, f.read())
    measured["evaluate"]["rtl"] = rtl(runner, limit=limit)
    measured["rtl_seconds"] = runner.seconds["rtl"]
    measured["cycles"] = cycles(runner, images=min(cycle_images, limit or cycle_images))
    measured["evaluate"]["board-rtl"] = evaluate(runner, "board-rtl", limit=limit)
    measured["evaluate"]["board-rtl-fast"] = evaluate(
        runner, "board-rtl", limit=min(FAST_IMAGES, limit or FAST_IMAGES), baud=FAST_BAUD)
    measured["evaluate"]["board-netlist"] = evaluate(
        runner, "board-netlist", limit=min(NETLIST_IMAGES, limit or NETLIST_IMAGES))
    measured["self_test"] = self_test(runner, images=min(SELF_TEST_IMAGES,
                                                         limit or SELF_TEST_IMAGES))
    measured["fuzz"] = fuzz(runner, sessions=min(FUZZ_SESSIONS, limit or FUZZ_SESSIONS))
    measured["build"], measured["build_how"] = build(runner, skip=skip_build)
    return measured
