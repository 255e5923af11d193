"""The fit plan's estimate against full builds.

``python -m bench.fit_check``: for the shipped networks (``weights/``) and each network of
``bench.fit_networks.CHECK`` (seeded random weights), the fit plan (``hw.fit``) and then the
full build, ``python -m hw.build --board icebreaker --weights F --build-dir D --tries 3``
(3 to 4 minutes each; a network that misses 48 MHz still reports its resources); writes
``bench/fit_check.json`` and ``bench/fit_check.md``: estimated and measured logic cells, block
RAMs and DSPs, and the estimate's error. ``--synth-only`` builds to synthesis only (a minute
each; the logic cells and block RAMs are the same), into ``build/fit-check/`` only.
``--network N`` (repeatable) checks those networks only and puts their rows in place of theirs,
the others' staying as last measured (each row names its own date and commit).

The folded networks (LeNet-5 and the keras.io convnet) do not meet 48 MHz: they are built with
the clock and seeds their ``bench.boards`` rows are built with (:data:`BUILD_OPTIONS`), so that
their three tries are not three misses of the same clock.
"""

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np

from hw import fit
from hw.stages.network import NetworkPipeline
from q8 import weights
from sim.rtl import build_model
from . import ROOT
from .boards import BUILD_OPTIONS as BOARD_BUILD_OPTIONS
from .fit_networks import CHECK, network
from .meta import git_facts, versions

__all__ = ["check", "main"]

WORK = os.path.join("build", "fit-check")
OUT_JSON = os.path.join(ROOT, "bench", "fit_check.json")
OUT_MD = os.path.join(ROOT, "bench", "fit_check.md")
#: The shipped weights files (trained), checked first.
SHIPPED = ("weights/mnist_q8.npz", "weights/mnist_q8_conv4.npz", "weights/lenet5_q8.npz",
           "weights/keras_convnet_q8.npz")

#: Place-and-route seeds per build: enough for the resources (which no seed changes) and for a
#: fair look at the clock.
TRIES = 3

def _without_tries(options):
    """``options`` without its ``--tries N`` (this check's own :data:`TRIES` go in)."""
    kept = list(options)
    if "--tries" in kept:
        i = kept.index("--tries")
        del kept[i:i + 2]
    return kept


#: Build options beyond ``--tries``, by network: those of its ``bench.boards`` case.
BUILD_OPTIONS = {"lenet5_q8": _without_tries(BOARD_BUILD_OPTIONS["lenet5-icebreaker"]),
                 "keras_convnet_q8": _without_tries(
                     BOARD_BUILD_OPTIONS["keras-convnet-icebreaker"])}


def _names():
    """Every network's name, in the order checked."""
    return [os.path.basename(path)[:-4] for path in SHIPPED] + [spec for spec, _, _ in CHECK]


def _networks():
    for path in SHIPPED:
        yield os.path.basename(path)[:-4], "trained (shipped)", \
            weights.load(os.path.join(ROOT, path))
    for spec, seed, kind in CHECK:
        yield spec, f"{kind}, seed {seed}", network(spec, seed=seed, weights=kind)


def check(*, synth_only=False, reuse=False, only=None, say=print):
    """Plan and build every network (``only``: those named); returns a list of rows
    (dicts)."""
    rows = []
    for name, made, net in _networks():
        if only and name not in only:
            continue
        plan = fit.plan(net.layers, params=net.params)
        folder = os.path.join(WORK, name.replace(",", "_"))
        os.makedirs(os.path.join(ROOT, folder), exist_ok=True)
        path = os.path.join(folder, "weights.npz")
        weights.save(net, os.path.join(ROOT, path))
        with open(os.path.join(ROOT, path), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        report_path = os.path.join(ROOT, folder, "report.json")
        command = ["python", "-m", "hw.build", "--board", "icebreaker", "--weights", path,
                   "--build-dir", folder, "--tries", str(TRIES), *BUILD_OPTIONS.get(name, [])]
        if synth_only:
            command.append("--synth-only")
        stamp = os.path.join(ROOT, folder, "built-from")
        fresh = reuse and os.path.exists(report_path) and os.path.exists(stamp) and \
            open(stamp).read() == digest + (" synth-only" if synth_only else "")
        status = 0
        if not fresh:
            say(f"{name}: plan ~{plan.used['logic_cells']:,} logic cells; {' '.join(command)}")
            start = time.time()
            result = subprocess.run([sys.executable, *command[1:]], cwd=ROOT,
                                    capture_output=True, text=True)
            status = result.returncode
            if status not in (0, 1) or not os.path.exists(report_path):
                raise RuntimeError(f"{' '.join(command)} failed (exit {status}):\n"
                                   f"{result.stderr[-2000:]}")
            with open(stamp, "w") as f:
                f.write(digest + (" synth-only" if synth_only else ""))
            say(f"  done in {time.time() - start:.0f} s (exit {status})")
        with open(report_path) as f:
            report = json.load(f)
        measured = {k: v["used"] for k, v in report["resources"].items()}
        # the cycles, one image at a time, in the compiled RTL with the plan's schedules
        images = np.random.default_rng(0).integers(0, 256, (3, *net.input_shape[:2]), np.uint8)
        model = build_model(NetworkPipeline(net, schedules=plan.schedules),
                            name=f"fit-check-{len(rows)}", progress=False)
        rtl_cycles = sorted(set(model.run(images).cycles.tolist()))
        lcs = measured["logic_cells"]
        rows.append({
            "network": name, "weights": made, "command": " ".join(command),
            "fits": plan.fits, "schedules": {k: repr(s) for k, s in plan.schedules.items()},
            "estimated": dict(plan.used), "measured": measured,
            "logic_cell_error_percent": round(100 * (plan.used["logic_cells"] - lcs) / lcs, 1),
            "synth_only": bool(report.get("synth_only")),
            "timing_met": report.get("timing_met"),
            "design_clock_mhz": report.get("design_clock_mhz"),
            "fmax_mhz": None if report.get("synth_only") else
            min(x for x in (report["nextpnr_fmax_mhz"], report["icetime_fmax_mhz"])
                if x is not None),
            "build_seconds": report["build_seconds"],
            "latency_cycles": plan.latency, "interval_cycles": plan.interval,
            "rtl_latency_cycles": rtl_cycles,
        })
        say(f"  {name}: {lcs:,} logic cells measured, ~{plan.used['logic_cells']:,} "
            f"estimated ({rows[-1]['logic_cell_error_percent']:+.1f} %)")
    return rows


def _options_note(rows):
    """The build options of the rows' folded networks, as the table's prose says them."""
    named = [f"`{name}` with `{' '.join(options)}`" for name, options in BUILD_OPTIONS.items()
             if any(r["network"] == name for r in rows)]
    return f", {' and '.join(named)} (the clock and first seed of its `bench.boards` " \
        f"build)" if named else ""


def _markdown(rows, meta):
    worst = max(abs(r["logic_cell_error_percent"]) for r in rows)
    lines = [
        "# The fit plan's estimate against full builds",
        "",
        f"Measured by `python -m bench.fit_check` (last run {meta['date']}, commit "
        f"{meta['git']['commit']}; each row's own date and commit in `bench/fit_check.json`): "
        f"for each network, the fit plan (`hw.fit`, its logic-cell "
        f"model `hw.fit.LOGIC_MODEL`) and the build's resources from nextpnr "
        f"(`report.json`). Each build: `python -m hw.build --board icebreaker --weights F "
        f"--build-dir D --tries {TRIES}`"
        + (" --synth-only" if rows[0]["synth_only"] else "")
        + _options_note(rows) + ". The weights of all but "
        "the shipped networks are seeded random codes (`bench.fit_networks`); \"trained\" "
        "convolution weights are drawn like trained ones (fewer canonical signed digits "
        "than uniform codes).",
        "",
        "| network | weights | logic cells: estimated | measured | error | block RAMs: "
        "estimated / measured | DSPs | fmax (MHz) | cycles one at a time: plan / RTL | "
        "back to back (plan) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        est, meas = r["estimated"], r["measured"]
        fmax = "synthesis only" if r["synth_only"] else \
            f"{r['fmax_mhz']:.1f}" + ("" if r["timing_met"] else
                                      f" ({r.get('design_clock_mhz') or 48:g} not met)")
        lines.append(
            f"| `{r['network']}` | {r['weights']} | {est['logic_cells']:,} | "
            f"{meas['logic_cells']:,} | {r['logic_cell_error_percent']:+.1f} % | "
            f"{est['block_rams']} / {meas['block_rams']} | {est['dsps']} / {meas['dsps']} | "
            f"{fmax} | {r['latency_cycles']:,} / "
            f"{', '.join(f'{c:,}' for c in r['rtl_latency_cycles'])} | "
            f"{r['interval_cycles']:,} |")
    lines += ["", f"The largest logic-cell error: {worst:.1f} %. Block RAMs, DSPs and SPRAMs "
              f"are counted, not estimated. The cycles one at a time are the plan's and "
              f"those of the compiled RTL (`sim.rtl.build_model` of the pipeline with the "
              f"plan's schedules, 3 images); back to back, `tests/test_fit.py` checks the "
              f"plan against Amaranth's simulator.",
              ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.fit_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 1 a build failed, 2 bad usage")
    p.add_argument("--synth-only", action="store_true",
                   help="synthesis only (writes build/fit-check/ only, not bench/)")
    p.add_argument("--reuse", action="store_true",
                   help="reuse the reports of builds of the same weights")
    p.add_argument("--network", action="append", choices=_names(),
                   help="check only these networks (repeatable; their rows replace theirs in "
                        "bench/, the others' stay)")
    args = p.parse_args(argv)
    try:
        rows = check(synth_only=args.synth_only, reuse=args.reuse, only=args.network,
                     say=lambda s: print(s, file=sys.stderr, flush=True))
    except RuntimeError as e:
        p.exit(1, f"error: {e}\n")
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "git": git_facts(), "versions": versions()}
    for row in rows:
        row["measured_on"] = {"date": meta["date"], "commit": meta["git"]["commit"]}
    out = os.path.join(ROOT, WORK, "fit_check.json") if args.synth_only else OUT_JSON
    if args.network:
        rows = _merged(rows, path=out)
    result = {**meta, "rows": rows, "logic_model": fit.LOGIC_MODEL}
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    if not args.synth_only:
        with open(OUT_MD, "w") as f:
            f.write(_markdown(rows, meta))
    print(json.dumps({"networks": len(rows), "worst_logic_cell_error_percent":
                      max(abs(r["logic_cell_error_percent"]) for r in rows)}))
    return 0


def _merged(rows, *, path):
    """``rows`` in place of theirs among the rows of ``path`` (the last run), in the order
    checked; the older rows keep their run's date and commit."""
    kept = {}
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        for row in previous["rows"]:
            kept[row["network"]] = {"measured_on": {"date": previous["date"],
                                                    "commit": previous["git"]["commit"]},
                                    **row}
    kept.update({row["network"]: row for row in rows})
    order = _names()
    return sorted(kept.values(), key=lambda r: order.index(r["network"])
                  if r["network"] in order else len(order))


if __name__ == "__main__":
    sys.exit(main())
