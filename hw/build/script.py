"""Amaranth's build script, run a tool at a time (:class:`Script`), with YoWASP's tools or the
system's, and the resources nextpnr reports."""

import json
import os
import re
import signal
import subprocess

from hw.build.toolchain import ToolError, find_yowasp

__all__ = ["Script", "tool_environment", "packed", "PHASES", "NEXTPNR_OPTIONS"]


def tool_environment(toolchain, family):
    env = dict(os.environ)
    for var, tool in family.tools.items():
        if toolchain == "yowasp":
            env[var] = find_yowasp(tool)
        else:
            env.pop(var, None)  # Amaranth then runs yosys, nextpnr-*, *pack from PATH
    return env


PHASES = {"YOSYS": "synthesis (Yosys)", "NEXTPNR_ICE40": "place and route (nextpnr)",
           "NEXTPNR_ECP5": "place and route (nextpnr)", "ICEPACK": "packing (icepack)",
           "ECPPACK": "packing (ecppack)", "PACK": "packing into logic cells (nextpnr)"}

#: nextpnr's options, per run: a shell variable of the build script.
NEXTPNR_OPTIONS = "$NEXTPNR_OPTIONS --timing-allow-fail"


class Script:
    """Amaranth's build script, run a tool at a time (output into ``log_path``), so that
    place and route can be repeated with other seeds."""

    def __init__(self, script, *, family, cwd, env, log_path):
        with open(os.path.join(cwd, script)) as f:
            lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        self._prelude = [l for l in lines if not l.startswith('"$')]
        self._tools = {l[2:l.index('"', 2)]: l for l in lines if l.startswith('"$')}
        # nextpnr packing alone (--pack-only): the same line without the placed design's
        # output, which an unplaced design cannot give
        self._tools["PACK"] = re.sub(rf" {family.placed_option} \S+", "",
                                     self._tools[family.pnr])
        self._cwd, self._env, self._log_path = cwd, env, log_path
        open(log_path, "w").close()

    def run(self, tool, *, timeout=None, **env):
        """Run ``tool``'s line; ``env`` adds variables (the seed). False on a timeout."""
        with open(self._log_path, "a") as log:
            process = subprocess.Popen(
                ["sh", "-c", "\n".join([*self._prelude, self._tools[tool]])], cwd=self._cwd,
                env={**self._env, **env}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the shell and the tool under it
                process.wait()
                return False
        if returncode:
            with open(self._log_path) as f:
                tail = "".join(f.readlines()[-15:])
            raise ToolError(f"{PHASES.get(tool, tool)} failed (exit {returncode}); "
                              f"the end of {self._log_path}:\n{tail}")
        return True




def packed(build_dir, name, family):
    """The resources used in nextpnr's report ``name``, by the board's resource names."""
    with open(os.path.join(build_dir, name)) as f:
        report = json.load(f)
    return report, {family.cells[k]: v["used"] for k, v in report["utilization"].items()
                    if k in family.cells}
