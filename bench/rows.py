"""The benchmark's table and the figures its prose quotes, from the steps' measurements and the
limits of ``bench.limits``.

Pure functions: ``measured`` is :func:`bench.steps.measure`'s dict (or one written by hand, as
the tests do), nothing is run or read here.
"""

from . import limits
from .table import Row

__all__ = ["TITLES", "ICETIME_NOT_RUN", "per_second", "fmax_of", "make_rows"]

#: The table's groups, in order, and their headings.
TITLES = {
    "accuracy": "Accuracy on the MNIST test images",
    "cycles": "Cycles per image",
    "clock": "Clock and speed (iCEBreaker bitstream)",
    "uart": "End to end over the UART (computed: no board here)",
    "board": "The board top, compiled with its flash and UART (simulated: no board here)",
    "resources": "Resources and tool times",
}

#: hw.build's report says null for icetime's fmax when icetime is not installed (and why, in
#: its ``icetime`` field); the row and the prose say so rather than leave a bare gap.
ICETIME_NOT_RUN = "icetime not run"


def per_second(us):
    """Whole images per second at ``us`` microseconds an image."""
    return round(1e6 / us)


def fmax_of(report):
    """``(MHz, what it is)``: the lower of nextpnr's and icetime's fmax, or nextpnr's alone when
    icetime did not run (nextpnr is optimistic for the DSPs' paths, so say which)."""
    nextpnr, icetime = report["nextpnr_fmax_mhz"], report.get("icetime_fmax_mhz")
    if icetime is None:
        return nextpnr, f"nextpnr's; {ICETIME_NOT_RUN}"
    return min(nextpnr, icetime), "the lower of nextpnr and icetime"


def _accuracy(add, measured, n):
    baselines, evals = measured["baselines"], measured["evaluate"]
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
        how = f"`python -m sim.evaluate --backend {backend} --json`"
        add("accuracy", f"{what}: classes equal to the reference's", e["agree_with_reference"],
            "images", how, limit=n, limit_name="(all)")
        add("accuracy", f"{what}: logit vectors equal to the reference's",
            e["logits_agree_with_reference"], "images", how, limit=n, limit_name="(all)")


def _board(add, measured, record):
    evals, fuzz = measured["evaluate"], measured["fuzz"]
    for backend, what in (("board-rtl", "RTL"), ("board-netlist", "synthesised netlist")):
        e = evals[backend]
        how = f"`python -m sim.evaluate --backend {backend} --json" + \
            (f" --limit {e['images']}`" if backend == "board-netlist" else "`") + \
            f", {e['seconds']:,.0f} s"
        add("board", f"{what}: logit vectors over the UART equal to the reference's",
            e["logits_agree_with_reference"], "images", how, limit=e["images"],
            limit_name="(all)")
    sessions = fuzz["sessions"]
    how = f"`python -m sim.fuzz --sessions {sessions} --json` (seed {fuzz['seed']}), " \
          f"{fuzz['simulated_cycles']:,} cycles in {fuzz['seconds']:,.0f} s"
    for key, what in (("hangs", "no answer within the timeout"),
                      ("stale", "an answer of an older request"),
                      ("wrong", "an OK answer unlike the reference's"),
                      ("out_of_step", "frames out of step"),
                      ("unexpected", "another answer than the protocol's")):
        add("board", f"fuzzing: {what} ({key})", fuzz[key], "sessions", how, limit=sessions,
            limit_name="(0 wanted)")
    add("board", "fuzzing: corrupted requests answered with an error, never OK",
        fuzz["corrupted_refused"], "requests", how, limit=fuzz["corrupted"],
        limit_name="corrupted requests")
    st = measured["self_test"]
    how = f"`python -m host --sim --self-test --images {st['images']} --json`: the board top " \
          f"compiled, MNIST's test images streamed from its simulated flash, {st['seconds']:,.0f} s"
    add("board", "self-test: images classified as their labels (the board's count)",
        st["correct"], "images", how, limit=st["reference_correct"],
        limit_name="the integer reference's")
    add("board", "self-test: images per second on the board (its cycle count at 48 MHz)",
        st["images_per_second"], "/s", how, limit=st["flash_bound"],
        limit_name=f"flash bound ({record}-byte records, single SPI at 24 MHz)", digits=1)
    if "flash_faults" in fuzz:
        add("board", "flash faults refused (BAD_WEIGHTS, red LED, no classification)",
            fuzz["flash_detected"], "faults", f"`python -m sim.fuzz` (its flash faults: "
            f"another network's weights, every header and CRC bit, truncations, erased, "
            f"zeros, asleep)", limit=fuzz["flash_faults"], limit_name="faults")


def _uart(add, evals, net, *, baud, latency, clock):
    """The UART's rows: a request at a time (computed) and streaming (the board top's RTL).
    Returns ``(bits, wire_us, compute_us, streams)`` for the prose."""
    bits = limits.uart_wire_bits(net)
    wire_us = round(1e6 * bits / baud, 1)
    compute_us = round(latency / clock, 1)
    uart = f"computed: {limits.uart_request_bytes(net)}-byte request + " \
           f"{limits.uart_response_bytes(net)}-byte response, " \
           f"{limits.UART_BITS_PER_BYTE} bits a byte, at {baud:,} baud"
    add("uart", "wire time per image", wire_us, "us", uart, source="computed")
    add("uart", "compute time per image (the latency at the design clock)", compute_us, "us",
        f"computed: {latency:,} cycles at {clock:g} MHz", source="computed")
    add("uart", "images per second, a request at a time (wire + compute)",
        per_second(wire_us + compute_us), "/s", "computed", limit=per_second(wire_us),
        limit_name="wire-time bound", source="computed")
    # streaming: the requests back to back on the line in, the answers meanwhile on the line out
    request_bits = limits.UART_BITS_PER_BYTE * limits.uart_request_bytes(net)
    streams = {}
    for key in ("board-rtl", "board-rtl-fast"):
        e = evals[key]
        bound = round(e["baud"] / request_bits, 1)
        how = f"`python -m sim.evaluate --backend board-rtl --baud {e['baud']} --json" + \
            ("`" if key == "board-rtl" else f" --limit {e['images']}`") + \
            f": {e['images']:,} images streamed over the simulated UART at bit level, " \
            f"simulated time at {clock:g} MHz"
        add("uart", f"images per second streaming at {e['baud'] / 1e6:g} Mbaud (board top, "
            f"RTL)", e["images_per_second"], "/s", how, limit=bound,
            limit_name=f"wire bound ({request_bits:,} request bits back to back)", digits=1)
        streams[e["baud"]] = {"images_per_second": e["images_per_second"], "bound": bound,
                              "images": e["images"]}
    return bits, wire_us, compute_us, streams


def _resources(add, report, build_how, *, n, rtl, rtl_seconds):
    """The build's resources and times."""
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


def make_rows(measured, *, net, resources):
    """The table's rows, and the figures that the prose quotes.

    Parameters
    ----------
    measured : dict
        :func:`bench.steps.measure`'s dict.
    net : q8.weights.Network
        The network measured, for its limits.
    resources : dict
        The board's resources (``platforms``): ``sprams`` and ``dsps`` set the limits.

    Returns
    -------
    (list of Row, dict)
    """
    rows = []

    def add(group, measure, value, unit, how, **kw):
        rows.append(Row(group, measure, value, unit, how, **kw))

    evals, cycles, report = measured["evaluate"], measured["cycles"], measured["build"]
    build_how, rtl_seconds = measured["build_how"], measured["rtl_seconds"]
    n = evals["reference"]["images"]
    _accuracy(add, measured, n)

    sprams, dsps = resources["sprams"], resources["dsps"]
    floor = limits.weight_bandwidth_floor(net, sprams=sprams)
    dsp = limits.dsp_floor(net, dsps=dsps)
    wname, dname = "weight-bandwidth floor", "DSP limit"
    k = cycles["images"]
    pysim = f"`python -m bench.cycles --images {k}` (Amaranth simulator, {k} images"
    latency = max(cycles["latency_cycles"])
    throughput = max(cycles["throughput_cycles_per_image"])

    def spread(values):
        return "" if len(values) == 1 else f"; {min(values):,} to {max(values):,}"

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
    fmax, fmax_by = fmax_of(report)
    icetime = report.get("icetime_fmax_mhz")
    met = "timing met" if report["timing_met"] else "timing NOT met"
    add("clock", "design clock", clock, "MHz", f"{build_how}: {met}", limit=fmax,
        limit_name=f"fmax ({fmax_by})", digits=2)
    add("clock", "fmax, nextpnr", report["nextpnr_fmax_mhz"], "MHz", build_how, digits=2)
    add("clock", "fmax, icetime (UP5K worst case, DSPs modelled)", icetime, "MHz",
        build_how if icetime is not None else
        f"{ICETIME_NOT_RUN}: {report.get('icetime', 'no reason given')}; {build_how}", digits=2)
    at = f"at the fmax, {fmax:g} MHz"
    for what, count in (("latency", latency), ("throughput", throughput)):
        how = f"computed: {count:,} cycles at {clock:g} MHz"
        add("clock", f"{what}: microseconds per image", round(count / clock, 1), "us", how,
            limit=round(count / fmax, 1), limit_name=at, source="computed")
        add("clock", f"{what}: images per second", per_second(count / clock), "/s", how,
            limit=per_second(count / fmax), limit_name=at, source="computed")

    baud = report["baud"]
    bits, wire_us, compute_us, streams = _uart(add, evals, net, baud=baud, latency=latency,
                                               clock=clock)

    _board(add, measured, record=net.pixels + 1)

    _resources(add, report, build_how, n=n, rtl=rtl, rtl_seconds=rtl_seconds)

    facts = {"weight_bandwidth_floor": floor, "dsp_limit": dsp, "macs": limits.macs(net),
             "weights_per_cycle": limits.weights_per_cycle(sprams=sprams),
             "products_per_cycle": limits.products_per_cycle(dsps=dsps), "sprams": sprams,
             "dsps": dsps, "latency": latency, "throughput": throughput, "clock": clock,
             "fmax": fmax, "fmax_by": fmax_by, "baud": baud, "wire_us": wire_us,
             "compute_us": compute_us, "uart_bits": bits, "images": n,
             "accuracy": {b: round(100 * evals[b]["accuracy"], 2) for b in evals},
             "rtl_logits_agree": rtl["logits_agree_with_reference"],
             "resources": report["resources"], "build_seconds": report["build_seconds"],
             "rtl_seconds": round(rtl_seconds, 1),
             "board": {backend: {"images": evals[backend]["images"],
                                 "logits_agree": evals[backend]["logits_agree_with_reference"]}
                       for backend in ("board-rtl", "board-netlist")},
             "fuzz": {k: v for k, v in measured["fuzz"].items() if k != "failures"},
             "streams": streams,
             "self_test": {k: measured["self_test"][k] for k in
                           ("images", "correct", "reference_correct", "images_per_second",
                            "flash_bound")}}
    return rows, facts

