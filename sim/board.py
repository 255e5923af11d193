"""The whole board in native code: the board top (:class:`hw.board.top.BoardTop`: UART, protocol,
flash loader, network) compiled with Yosys' CXXRTL, and the world at its pins in C++
(``sim/board_driver.cc``): an SPI flash holding the weights image and the self-test's images
(only the latter for a top whose weights are all in block RAM, their initial contents compiled
into the model as into the bitstream), and the host's end of the UART at bit level.

:func:`board_model` compiles a top (the RTL, or the netlist synthesised for its board's family
with that family's cell models), cached in ``build/rtl`` as :func:`sim.rtl.build_model` does;
:class:`CompiledBoard` is one board of it. Python plays the host: ``rx`` is driven with
waveforms, runs of a level for a number of cycles (:func:`uart_waveform` makes bytes' frames; a
broken stop bit, a line held low, noise or another baud rate are waveforms too), while the
driver decodes ``tx`` on every cycle into a receive buffer. Each call runs in native code with
the GIL released, so boards (each with its own instance of the model) run in threads.
"""

import ctypes
import math
import numbers
import os

import numpy as np

from hw.board.defaults import BOARD
from hw.board.flash_image import FLASH_OFFSET
from platforms import get_board
from platforms.families import family_of
from .rtl import BUILD_DIR, compile_design

__all__ = ["FLASH_MODES", "BoardModel", "CompiledBoard", "board_model", "uart_waveform"]

_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "board_driver.cc")

# CXXRTL checks a memory port's address on every clock edge, enabled or not, and aborts the
# process on one past the end; the board's image buffer leaves its write address there after an
# image's last pixel (harmless in block RAM, whose address wraps), so the whole Python process
# would die on the first classify. Without the check an access out of range does nothing.
_DEFINES = ("CXXRTL_NDEBUG",)

# The driver's fast cycle (one evaluation) needs a model that settles in one evaluation, as the
# RTL and the iCE40's cell models do; Yosys' ECP5 cell models do not (their wires feed each
# other through processes), so a netlist of another family steps each edge to convergence.
_SETTLE = ("BOARD_SETTLE",)

#: The flash's behaviours: ``"normal"``, or ``"asleep"``: it never leaves deep power-down
#: (ignores every command, ``cipo`` stays low), as a flash that lost its wake-up command.
FLASH_MODES = ("normal", "asleep")

# board_driver.cc's status codes
_OK, _BAD_PORT = 0, 3

_FLASH_BYTES = 1 << 24  # the Read Data command's 24-bit address


def _check_cycles(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
    return int(value)


def _check_bit_cycles(name, value):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or \
            not math.isfinite(value) or value < 1:
        raise ValueError(f"{name} must be a number of cycles of at least 1, not {value!r}")
    return float(value)


def uart_waveform(data, *, bit_cycles, stop_bit=1, jitter=0.0, rng=None):
    """The UART frames of ``data`` (bytes) as a waveform for :meth:`CompiledBoard.play`: per
    byte a start bit (0), 8 data bits LSB first and a stop bit, each ``bit_cycles`` long.

    With a fractional ``bit_cycles`` each edge lies at its exact time rounded to a cycle, so the
    bits are a cycle longer or shorter but the frames do not drift. With ``rng`` (a
    ``numpy.random.Generator``), as a host whose clock is not the board's: the edges' times
    start at a random phase within a cycle, and each moves by up to ``jitter`` cycles either
    way at random, before the rounding (so an edge can land a cycle early or late).

    Parameters
    ----------
    data : bytes-like
    bit_cycles : float
        Cycles per bit, at least 1.
    stop_bit : int
        The stop bit's level: 0 makes every frame a framing error.
    jitter : float
        At most a quarter of ``bit_cycles``; only with ``rng``.
    rng : numpy.random.Generator, optional

    Returns
    -------
    levels : numpy.ndarray of uint8
    durations : numpy.ndarray of int64
        ``levels[k]`` for ``durations[k]`` cycles, one entry per bit.
    """
    bit_cycles = _check_bit_cycles("bit_cycles", bit_cycles)
    if stop_bit not in (0, 1) or isinstance(stop_bit, bool):
        raise ValueError(f"stop_bit must be 0 or 1, not {stop_bit!r}")
    if not isinstance(jitter, numbers.Real) or isinstance(jitter, bool) or \
            not 0 <= jitter <= bit_cycles / 4:
        raise ValueError(f"jitter must be between 0 and a quarter of bit_cycles "
                         f"({bit_cycles / 4:g}), not {jitter!r}")
    if jitter and rng is None:
        raise ValueError("jitter needs rng (a numpy.random.Generator)")
    codes = np.frombuffer(bytes(data), np.uint8)
    bits = np.unpackbits(codes[:, None], axis=1, bitorder="little")
    frames = np.concatenate([np.zeros((len(codes), 1), np.uint8), bits,
                             np.full((len(codes), 1), stop_bit, np.uint8)], axis=1)
    # the edges at round(k * bit_cycles), half up, from the first start bit
    times = np.arange(frames.size + 1) * bit_cycles
    if rng is not None:
        times = times + rng.uniform(-0.5, 0.5) + rng.uniform(-jitter, jitter, times.size)
        times[0] = 0.0  # the waveform starts with the first start bit
    edges = np.maximum.accumulate(np.floor(times + 0.5).astype(np.int64))
    return frames.reshape(-1), np.diff(edges)


class BoardModel:
    """A compiled board top (:func:`board_model`): its shared library and what the host needs
    to know of the top.

    Parameters
    ----------
    path : str
        The shared library (the model and ``sim/board_driver.cc``).
    divisor : int
        The top's UART clock cycles per bit.
    name : str
        For messages.
    """

    def __init__(self, path, *, divisor, name="board"):
        self._divisor, self._name = divisor, name
        lib = ctypes.CDLL(path)
        handle, i32, i64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
        array = np.ctypeslib.ndpointer
        signatures = {
            "board_create": ([ctypes.c_char_p, i64, i64, i32, ctypes.c_double,
                              ctypes.POINTER(i32), ctypes.c_char_p, i32], handle),
            "board_destroy": ([handle], None),
            "board_reset": ([handle, i64], i32),
            "board_play": ([handle, array(np.uint8, flags="C"), array(np.int64, flags="C"),
                            i64], i32),
            "board_run": ([handle, i64], i32),
            "board_receive": ([handle, i64, i64, ctypes.c_char_p], i64),
            "board_take": ([handle, i64, ctypes.c_char_p], i64),
            "board_cycles": ([handle], i64),
            "board_pending": ([handle], i64),
            "board_tx_errors": ([handle], i64),
            "board_unsettled": ([handle], i64),
            "board_leds": ([handle], i32),
        }
        self._lib = lib
        for function, (argtypes, restype) in signatures.items():
            getattr(lib, function).argtypes = argtypes
            getattr(lib, function).restype = restype

    @property
    def name(self):
        """The build folder's name, which messages start with."""
        return self._name

    @property
    def divisor(self):
        """The top's UART clock cycles per bit: the bit period :meth:`CompiledBoard.send`
        uses, and the host's receiving one by default."""
        return self._divisor


def board_model(top, *, synthesize=False, board=BOARD, name=None, build_dir=BUILD_DIR,
                progress=True):
    """Compile the board top ``top`` with the board driver into a :class:`BoardModel`, built in
    ``build_dir/name`` and cached by a hash of every step's inputs.

    Parameters
    ----------
    top : hw.board.top.BoardTop
        Or another design with its ports and its ``divisor``.
    synthesize : bool
        Elaborate for ``board`` (its family's primitives rather than their fallbacks: on the
        iCE40 SPRAM and SB_MAC16, on the ECP5 MULT18X18D), synthesise as ``hw.build`` does and
        simulate the netlist with the family's cell models (``sim.rtl``): far slower to build
        and to run.
    board : str or a ``platforms`` board
        The board ``top`` is built for: the netlist's family, and the build folder's name.
    name : str, optional
        The build folder: ``board-netlist`` or ``board-rtl`` unless given, followed by
        ``-<board>`` for a board other than the default one (one design per folder: a new
        design replaces the old files).
    progress : bool
        A line per step on standard error.

    Raises
    ------
    hw.build.toolchain.ToolError
        A tool is missing or failed; the message says which and how to fix it.
    """
    # BoardTop has a public `divisor` from protocol version 2 on, a private one before
    divisor = getattr(top, "divisor", getattr(top, "_divisor", None))
    if not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"top must be a board top (hw.board.top.BoardTop) with its UART's "
                         f"divisor, not {top!r}")
    board = get_board(board) if isinstance(board, str) else board
    if name is None:
        name = ("board-netlist" if synthesize else "board-rtl") + \
            ("" if board.name == BOARD else f"-{board.name}")
    settle = synthesize and family_of(board).name != "ice40"
    path = compile_design(top, name=name, synthesize=synthesize, build_dir=build_dir,
                          progress=progress, driver=_DRIVER, board=board,
                          defines=_DEFINES + (_SETTLE if settle else ()))
    return BoardModel(path, divisor=divisor, name=name)


class CompiledBoard:
    """One board of a :class:`BoardModel`: the top in its initial (reset) state, ``rx`` idle,
    and an SPI flash (mode 0) holding ``flash`` at byte address ``flash_base`` (0xFF elsewhere).

    The flash starts in deep power-down and ignores everything until Release from Deep
    Power-down (0xAB); then Read Data (0x03, 24-bit address) streams bytes MSB first. It runs
    in the system clock domain: it sees the pins before each clock edge and changes ``cipo`` at
    the edge. The host's receiver decodes ``tx`` on every cycle, in every call, at
    ``host_bit_cycles`` per bit (sampling each bit in its middle); bytes wait in a buffer for
    :meth:`receive` or :meth:`take`; a low stop bit drops the byte and counts in
    :attr:`tx_errors`.

    Parameters
    ----------
    model : BoardModel
    flash : bytes-like
        The flash's contents from ``flash_base`` (``hw.board.flash_image.make_image``).
    flash_base : int
        Their byte address.
    flash_mode : str
        One of :data:`FLASH_MODES`.
    host_bit_cycles : float, optional
        The host's bit period in cycles, sending and receiving; the top's
        (:attr:`BoardModel.divisor`) unless given: another is a baud rate mismatch.
    host_jitter : float
        The host's edges, as :meth:`send` plays them, at a random phase against the board's
        clock and each moved by up to this many cycles either way (:func:`uart_waveform`).
    seed : int
        For the phases and the jitter.

    Raises
    ------
    ValueError
        An argument is out of range, or the model lacks one of the board top's ports.
    """

    def __init__(self, model, *, flash, flash_base=FLASH_OFFSET, flash_mode="normal",
                 host_bit_cycles=None, host_jitter=0.0, seed=0):
        if not isinstance(model, BoardModel):
            raise ValueError(f"model must be a BoardModel (sim.board.board_model), not "
                             f"{model!r}")
        try:
            flash = bytes(memoryview(flash))
        except TypeError:
            raise ValueError(f"flash must be bytes, not {type(flash).__name__}") from None
        if not isinstance(flash_base, numbers.Integral) or isinstance(flash_base, bool) or \
                not 0 <= flash_base < _FLASH_BYTES:
            raise ValueError(f"flash_base must be an integer in [0, 2**24), not {flash_base!r}")
        if len(flash) > _FLASH_BYTES - flash_base:
            raise ValueError(f"flash must fit in the 16 MiB below 2**24 from flash_base "
                             f"{flash_base:#x}: it is {len(flash)} bytes")
        if flash_mode not in FLASH_MODES:
            raise ValueError(f"flash_mode must be one of {', '.join(FLASH_MODES)}, not "
                             f"{flash_mode!r}")
        if host_bit_cycles is None:
            host_bit_cycles = model.divisor
        self._host_bit_cycles = _check_bit_cycles("host_bit_cycles", host_bit_cycles)
        self._jitter = host_jitter
        self._rng = np.random.default_rng(seed) if host_jitter or \
            host_bit_cycles != model.divisor else None
        uart_waveform(b"", bit_cycles=self._host_bit_cycles, jitter=host_jitter,
                      rng=self._rng)  # checks the jitter
        self._model, self._lib = model, model._lib
        status = ctypes.c_int32()
        message = ctypes.create_string_buffer(256)
        self._handle = self._lib.board_create(flash, len(flash), int(flash_base),
                                              FLASH_MODES.index(flash_mode),
                                              self._host_bit_cycles, ctypes.byref(status),
                                              message, len(message))
        if not self._handle:
            text = message.value.decode(errors="replace")
            if status.value == _BAD_PORT:
                raise ValueError(f"{model.name}: the model is not a board top "
                                 f"(hw.board.top.BoardTop): {text}")
            raise ValueError(f"{model.name}: the driver refused to create a board (status "
                             f"{status.value}): {text}")

    @property
    def host_bit_cycles(self):
        """The host's receiving bit period, in cycles."""
        return self._host_bit_cycles

    def _live(self):
        if not self._handle:
            raise ValueError("the board is closed")
        return self._handle

    def _call(self, function, *args):
        """Run ``function`` of the driver; its result."""
        result = getattr(self._lib, function)(self._live(), *args)
        if result < 0 or (function != "board_receive" and result != _OK):
            # the arguments were checked here: a bug here or in the driver
            raise RuntimeError(f"{function} refused its arguments (returned {result})")
        if self._lib.board_unsettled(self._handle):
            raise RuntimeError(f"{self._model.name}: the model's evaluation did not converge "
                               f"at once: the design has combinational feedback, which the "
                               f"board driver's cycle (one evaluation) does not model")
        return result

    def reset(self, cycles=16):
        """``rst`` high for ``cycles`` cycles, then low, with ``rx`` idle: the reset the board
        holds until its PLL locks (``hw.vendor.ice40.ClockGenerator``,
        ``hw.vendor.ecp5.ClockGenerator``)."""
        self._call("board_reset", _check_cycles("cycles", cycles))

    def play(self, levels, durations):
        """Drive ``rx`` at ``levels[k]`` (0 or 1) for ``durations[k]`` cycles each, in order,
        then leave it idle (high)."""
        levels = np.ascontiguousarray(levels)
        durations = np.ascontiguousarray(durations)
        if levels.ndim != 1 or not np.isin(levels, (0, 1)).all():
            raise ValueError("levels must be a sequence of 0s and 1s")
        if durations.shape != levels.shape or (durations.size and (
                not np.issubdtype(durations.dtype, np.integer) or durations.min() < 0)):
            raise ValueError(f"durations must be as many non-negative integers as levels "
                             f"({levels.size}), not {durations.size} of {durations.dtype}")
        self._call("board_play", levels.astype(np.uint8), durations.astype(np.int64),
                   levels.size)

    def send(self, data):
        """``data`` (bytes) on ``rx`` as UART frames at the host's bit period (with its
        phase and jitter, if any)."""
        self.play(*uart_waveform(data, bit_cycles=self._host_bit_cycles, jitter=self._jitter,
                                 rng=self._rng))

    def run(self, cycles):
        """``cycles`` cycles with ``rx`` idle (bytes from ``tx`` still collected)."""
        self._call("board_run", _check_cycles("cycles", cycles))

    def receive(self, count, timeout_cycles):
        """The next ``count`` bytes from the board, running with ``rx`` idle until they are in;
        fewer if ``timeout_cycles`` cycles pass in which no byte completes."""
        count = _check_cycles("count", count)
        timeout_cycles = _check_cycles("timeout_cycles", timeout_cycles)
        out = ctypes.create_string_buffer(max(count, 1))
        got = self._call("board_receive", count, timeout_cycles, out)
        return out.raw[:got]

    def take(self):
        """Every byte received and not yet taken, without running."""
        out = ctypes.create_string_buffer(max(self.pending, 1))
        got = self._lib.board_take(self._live(), len(out), out)
        return out.raw[:got]

    def leds(self):
        """``(ready, error)``: the LEDs' levels now."""
        bits = self._lib.board_leds(self._live())
        return bits & 1, bits >> 1 & 1

    @property
    def cycles(self):
        """System clock cycles since the board was created."""
        return self._lib.board_cycles(self._live())

    @property
    def pending(self):
        """Bytes received and not yet taken."""
        return self._lib.board_pending(self._live())

    @property
    def tx_errors(self):
        """Bytes from ``tx`` with a low stop bit (framing errors), dropped."""
        return self._lib.board_tx_errors(self._live())

    def close(self):
        """Free the model's instance (also on leaving a ``with`` block)."""
        if self._handle:
            self._lib.board_destroy(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # a partly constructed board has no handle
        if getattr(self, "_handle", None):
            self.close()
