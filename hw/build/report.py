"""The build's summary for the user: its resources beside the fit plan's, its timing, and a
slower clock that would meet it."""

import math

from hw.board.pins import check_clock
from hw.fit import schedule_json

__all__ = ["estimate", "summary", "slower_clock_hint"]


def estimate(plan):
    """The fit plan's figures, for the report: beside what the build measures."""
    return {"estimated_logic_cells": plan.used["logic_cells"],
            "plan": {"resources": dict(plan.used),
                     "schedules": {k: schedule_json(s) for k, s in plan.schedules.items()},
                     "latency_cycles": plan.latency, "interval_cycles": plan.interval}}


def summary(report):
    if report.get("synth_only"):
        lines = [f"{report['board']}: synthesised and packed in "
                 f"{report['build_seconds']:.0f} s (no place and route: --synth-only)"]
    else:
        icetime = report["icetime_fmax_mhz"]
        lines = [f"{report['board']}: design clock {report['design_clock_mhz']:g} MHz, "
                 f"fmax {report['nextpnr_fmax_mhz']:.1f} MHz (nextpnr)"
                 + (f", {icetime:.1f} MHz (icetime)" if icetime is not None else "")
                 + f"; built in {report['build_seconds']:.0f} s (place-and-route seed "
                   f"{report['seed']})"]
        if "icetime" in report:
            lines.append(f"  icetime: {report['icetime']}")
        if "timing_model" in report:
            lines.append(f"  timing: {report['timing_model']}")
    estimated = report["plan"]["resources"]
    for name, r in report["resources"].items():
        share = f"{100 * r['used'] / r['available']:.0f} %" if r["available"] else "none here"
        lines.append(f"  {name:<12} {r['used']:>5} / {r['available']:<5} "
                     f"({share}; the fit plan: "
                     f"{'~' if name == 'logic_cells' else ''}{estimated[name]})")
    return "\n".join(lines)




def slower_clock_hint(report, board, baud):
    """``"; ... --clock-mhz F"``: the fastest clock below the one reached that the PLL makes and
    the UART rate divides, or nothing."""
    reached = min(v for v in (report["nextpnr_fmax_mhz"], report["icetime_fmax_mhz"])
                  if v is not None)
    for mhz in range(math.floor(reached), board.oscillator_hz // 1_000_000 - 1, -1):
        hz = mhz * 1_000_000
        if hz % baud:
            continue
        try:
            check_clock(board, hz)
        except ValueError:
            continue
        return (f" (reached {reached:.1f} MHz); build with a slower clock, e.g. "
                f"--clock-mhz {mhz} (the UART at {baud:,} baud carries as many images)")
    return ""
