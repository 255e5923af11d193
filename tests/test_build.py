"""The real toolchain builds the real bitstream (YoWASP Yosys and nextpnr, icetime when
installed); bad arguments are refused before any long work."""

import inspect
import json
import os

import numpy as np
import pytest

from bench.fit_networks import network
from board.flash_image import parse_image, parse_test_image
from board.link import SerialBoard
from board.top import flash_words
from hw.build import HOST_TIMEOUT_S, ICETIME_MISSING, main as build_main, min_baud
from q8 import mnist, weights


@pytest.mark.tool("icetime", "fpga-icestorm")
def test_bitstream_builds_fits_and_meets_timing(tmp_path, capsys):
    build_main(["--board", "icebreaker", "--build-dir", str(tmp_path), "--require-icetime"])
    out = capsys.readouterr().out
    assert "place and route" in out and "icebreaker: design clock" in out
    assert "MHz (icetime)" in out and "not installed" not in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["timing_met"] and report["design_clock_mhz"] == 48
    assert report["timing_checked_by"] == ["nextpnr", "icetime"] and "icetime" not in report
    assert report["seed"] == report["seeds_tried"][-1]
    assert report["nextpnr_fmax_mhz"] >= report["design_clock_mhz"]
    assert report["icetime_fmax_mhz"] >= report["design_clock_mhz"]
    lcs = report["resources"]["logic_cells"]
    assert lcs["used"] <= 0.8 * lcs["available"]
    assert report["resources"]["dsps"]["used"] == report["plan"]["resources"]["dsps"] == 5
    assert report["resources"]["sprams"]["used"] == 4
    # the fit plan's estimate beside the measured numbers
    assert abs(report["estimated_logic_cells"] - lcs["used"]) <= 0.15 * lcs["used"]
    assert report["plan"]["resources"]["block_rams"] == report["resources"]["block_rams"]["used"]
    bitstream = (tmp_path / "top.bin").read_bytes()
    assert len(bitstream) > 100_000 and bitstream[:4] == b"\xff\x00\x00\xff"
    # the flash image holds the first dense layer's weight words, as the design expects
    words = flash_words(weights.load())
    assert parse_image((tmp_path / "weights.bin").read_bytes(), words=len(words)) == words
    # and the self-test's images are MNIST's test set with its labels
    images, labels = parse_test_image((tmp_path / "tests.bin").read_bytes())
    data = mnist.load(download=False)
    assert np.array_equal(images, data.x_test.reshape(10_000, -1))
    assert np.array_equal(labels, data.y_test)


def test_without_icetime_nextpnr_decides_and_says_so(capsys, tmp_path, hide_tools):
    # as on a machine with only Python; a clock no seed meets, so that two seeds are tried.
    # A small network: what is checked is the flow, and it places and routes in half the time
    hide_tools("icetime")
    path = tmp_path / "small.npz"
    weights.save(network("conv1x3,pool,dense8,dense10", seed=7), path)
    with pytest.raises(SystemExit) as info:
        build_main(["--weights", str(path), "--clock-mhz", "72", "--tries", "2",
                    "--build-dir", str(tmp_path / "build")])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert "seed 1: " in captured.out and "seed 2: " in captured.out
    assert "MHz (nextpnr; no icetime)" in captured.out
    # the summary says so, in the report's words
    assert f"  icetime: {ICETIME_MISSING}" in captured.out
    assert "apt-get install fpga-icestorm" in ICETIME_MISSING
    assert "the design clock 72 MHz is not met" in captured.err
    report = json.loads((tmp_path / "build" / "report.json").read_text())
    assert report["icetime_fmax_mhz"] is None and report["icetime"] == ICETIME_MISSING
    assert report["timing_checked_by"] == ["nextpnr"]
    assert not report["timing_met"] and report["seeds_tried"] == [1, 2]
    assert report["nextpnr_fmax_mhz"] < 72
    assert (tmp_path / "build" / "top.bin").exists()  # the best seed's bitstream, to look at


def test_require_icetime_fails_at_once_without_it(capsys, tmp_path, hide_tools):
    hide_tools("icetime")
    with pytest.raises(SystemExit) as info:
        build_main(["--require-icetime", "--build-dir", str(tmp_path)])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.err == ("error: icetime is not installed, and --require-icetime asks for "
                            "its worst-case timing check (the DSPs' delays included): "
                            "`apt-get install fpga-icestorm` (Debian/Ubuntu)\n")
    assert "elaborating" not in captured.out and not (tmp_path / "build.log").exists()


def test_three_dense_layers_synthesise_within_the_dsps(tmp_path, capsys):
    # the default schedules of conv2x3,pool,dense64,dense32,dense10 need 4 + 8 + 3 DSPs, and
    # the old build failed in place and route; the fit plan's fit the UP5K's 8. Synthesis and
    # packing only (a minute): the resources are those of the full build
    # (bench/fit_check.md has the full build of this network)
    path = tmp_path / "three.npz"
    weights.save(network("conv2x3,pool,dense64,dense32,dense10", seed=101), path)
    build_main(["--weights", str(path), "--build-dir", str(tmp_path / "build"), "--synth-only"])
    assert "synthesised and packed" in capsys.readouterr().out
    report = json.loads((tmp_path / "build" / "report.json").read_text())
    used = {k: v["used"] for k, v in report["resources"].items()}
    plan = report["plan"]["resources"]
    assert used["dsps"] == plan["dsps"] <= 8
    assert used["block_rams"] == plan["block_rams"] and used["sprams"] == 4
    assert abs(plan["logic_cells"] - used["logic_cells"]) <= 0.15 * used["logic_cells"]
    assert not (tmp_path / "build" / "top.bin").exists()


def _refused(argv, capsys):
    """The error line of a build refused as bad input (exit 2) before any work."""
    with pytest.raises(SystemExit) as info:
        build_main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # not even the elaboration began
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    return captured.err[len("error: "):-1]


def test_unknown_board(capsys):
    assert _refused(["--board", "icebreakr"], capsys) == \
        "unknown board 'icebreakr'; the boards are: icebreaker, icesugar, ulx3s-12f, " \
        "ulx3s-25f, ulx3s-45f, ulx3s-85f"


@pytest.mark.parametrize("args, message", [
    (["--baud", "0"], "--baud must be a positive bit rate, not 0; the default is 3000000"),
    (["--baud", "-3000000"], "--baud must be a positive bit rate, not -3000000; the default "
                             "is 3000000"),
    (["--baud", "1"], "--baud 1 is too slow for the protocol: a request and its answer must "
                      "cross the UART within the host's 1 s wait, which needs at least 8080 "
                      "baud; use a faster rate (the default is 3000000)"),
    (["--baud", "4800"], "--baud 4800 is too slow for the protocol: a request and its answer "
                         "must cross the UART within the host's 1 s wait, which needs at "
                         "least 8080 baud; use a faster rate (the default is 3000000)"),
    (["--baud", "115200"], "--baud: the baud rate 115200 must divide the design clock "
                           "(48000000 Hz) exactly, at least 4 clock cycles per bit: at 48 MHz, "
                           "for example, 12000000, 3000000 or 1000000"),
    (["--clock-mhz", "36", "--baud", "12000000"],
     "--baud: the baud rate 12000000 must divide the design clock (36000000 Hz) exactly, at "
     "least 4 clock cycles per bit: at 48 MHz, for example, 12000000, 3000000 or 1000000"),
    (["--clock-mhz", "inf"], "--clock-mhz must be a positive clock frequency, not inf; the "
                             "default is 48"),
    (["--clock-mhz", "nan"], "--clock-mhz must be a positive clock frequency, not nan; the "
                             "default is 48"),
    (["--clock-mhz", "0"], "--clock-mhz must be a positive clock frequency, not 0; the "
                           "default is 48"),
    (["--clock-mhz", "-48"], "--clock-mhz must be a positive clock frequency, not -48; the "
                             "default is 48"),
    (["--clock-mhz", "47"], "--clock-mhz 47: the icebreaker's PLL cannot make it: no iCE40 "
                            "PLL setting makes exactly 47.0 MHz from 12.0 MHz; try 24, 30, 36, "
                            "48, 60 or 72 MHz"),
    (["--tries", "0"], "--tries must be an integer of at least 1, not 0"),
])
def test_bad_arguments(args, message, capsys, tmp_path):
    assert _refused([*args, "--build-dir", str(tmp_path)], capsys) == message
    assert os.listdir(tmp_path) == []


def test_build_dir_is_a_file(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    assert _refused(["--build-dir", str(tmp_path / "file")], capsys) == \
        f"--build-dir {tmp_path}/file is a file, not a folder: name a folder (default " \
        f"build/<board>)"
    assert _refused(["--build-dir", str(tmp_path / "file" / "x")], capsys) == \
        f"--build-dir {tmp_path}/file/x cannot be created (Not a directory): name a folder " \
        f"this user may write (default build/<board>)"


def test_build_dir_not_writable(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    if os.access(folder, os.W_OK):  # root writes anyway: make the check see what others would
        import hw.build
        monkeypatch.setattr(hw.build, "_unwritable", lambda folder: "Permission denied")
    assert _refused(["--build-dir", str(folder)], capsys) == \
        f"--build-dir {folder} is not writable (Permission denied): name a folder this user " \
        f"may write (default build/<board>)"


def test_slowest_baud_follows_the_host_and_the_protocol():
    # the host's wait that the limit assumes is the host's own
    assert HOST_TIMEOUT_S == inspect.signature(SerialBoard).parameters["timeout"].default
    # command, sequence number, 784 pixels and a 4-byte CRC in, an 18-byte answer out, 10 bits
    # a byte, in 1 s
    assert min_baud(weights.load()) == 10 * (1 + 1 + 784 + 4 + 18)


def test_a_missed_clock_suggests_one_the_pll_makes():
    from hw.build import _slower_clock_hint
    from hw.ice40 import pll_settings
    from platforms import get_board
    board = get_board("icebreaker")
    hint = _slower_clock_hint({"nextpnr_fmax_mhz": 45.0, "icetime_fmax_mhz": 43.4}, board,
                              3_000_000)
    assert "reached 43.4 MHz" in hint and "--clock-mhz 42 " in hint
    # 40 and 41 MHz: no exact PLL setting from 12 MHz, or 3 Mbaud does not divide
    hint = _slower_clock_hint({"nextpnr_fmax_mhz": 41.9, "icetime_fmax_mhz": None}, board,
                              3_000_000)
    assert "--clock-mhz 39 " in hint
    pll_settings(12_000_000, 39_000_000)
