"""The real toolchain builds the real bitstream (YoWASP Yosys and nextpnr, icetime)."""

import json

import pytest

from hw.build import main as build_main
from board.flash_image import parse_image
from board.top import flash_words
from q8 import weights


def test_bitstream_builds_fits_and_meets_timing(tmp_path, capsys):
    build_main(["--board", "icebreaker", "--build-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "place and route" in out and "icebreaker: design clock" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["timing_met"] and report["design_clock_mhz"] == 48
    assert report["seed"] == report["seeds_tried"][-1]
    assert report["nextpnr_fmax_mhz"] >= report["design_clock_mhz"]
    assert report["icetime_fmax_mhz"] >= report["design_clock_mhz"]
    lcs = report["resources"]["logic_cells"]
    assert lcs["used"] <= 0.8 * lcs["available"]
    assert report["resources"]["dsps"]["used"] == 7
    assert report["resources"]["sprams"]["used"] == 4
    bitstream = (tmp_path / "top.bin").read_bytes()
    assert len(bitstream) > 100_000 and bitstream[:4] == b"\xff\x00\x00\xff"
    # the flash image holds the first dense layer's weight words, as the design expects
    words = flash_words(weights.load())
    assert parse_image((tmp_path / "weights.bin").read_bytes(), words=len(words)) == words


def test_unknown_board(capsys):
    with pytest.raises(SystemExit) as info:
        build_main(["--board", "icebreakr"])
    assert info.value.code == 2
    assert "unknown board 'icebreakr'; the boards are: icebreaker" in capsys.readouterr().err


def test_inexact_baud(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        build_main(["--baud", "115200", "--build-dir", str(tmp_path)])
    assert info.value.code == 1
    assert "must divide the design clock" in capsys.readouterr().err


def test_clock_not_met_keeps_the_best_seed_and_fails(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        build_main(["--clock-mhz", "72", "--tries", "2", "--build-dir", str(tmp_path)])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert "seed 1:" in captured.out and "seed 2:" in captured.out
    assert "the design clock 72 MHz is not met" in captured.err
    report = json.loads((tmp_path / "report.json").read_text())
    assert not report["timing_met"] and report["seeds_tried"] == [1, 2]
    assert min(report["nextpnr_fmax_mhz"], report["icetime_fmax_mhz"]) < 72
    assert (tmp_path / "top.bin").exists()  # the best seed's bitstream, to look at


def test_tries_must_be_positive(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        build_main(["--tries", "0", "--build-dir", str(tmp_path)])
    assert info.value.code == 2
    assert "tries" in capsys.readouterr().err
