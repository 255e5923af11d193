"""The benchmark's pure parts: the limits it computes from the shipped network, and its table
and JSON writers (the measurements themselves are the commands it runs, tested elsewhere)."""

import json

import pytest

from bench import limits
from bench.table import (Row, SectionError, markdown_tables, replace_section, text_table,
                         wrap_prose, write_json)
from platforms import get_board
from q8 import weights


@pytest.fixture(scope="module")
def net():
    return weights.load()


def test_limits_of_the_shipped_network(net):
    resources = get_board("icebreaker").resources
    # by hand: conv 26x26 outputs x 2 channels x 3x3 taps; dense 338x128 and 128x10
    assert limits.macs(net) == {"conv": 12168, "dense1": 43264, "dense2": 1280}
    # 4 SPRAMs x 16 bits = 8 weights per cycle; 338 inputs x 128 / 8 words
    assert limits.weights_per_cycle(sprams=resources["sprams"]) == 8
    assert limits.weight_bandwidth_floor(net, sprams=resources["sprams"]) == 5408
    # 8 SB_MAC16 x 2 products; 56,712 / 16 = 3,544.5, rounded up
    assert limits.products_per_cycle(dsps=resources["dsps"]) == 16
    assert limits.dsp_floor(net, dsps=resources["dsps"]) == 3545
    # 'C' + 784 pixels, 18-byte answer, 10 bits a byte
    assert limits.uart_request_bytes(net) == 785
    assert limits.uart_wire_bits(net) == 8030


def test_limits_follow_the_resources(net):
    assert limits.weight_bandwidth_floor(net, sprams=2) == 338 * 32
    # 10 weights a word: 128 outputs take 13 words per input, the last one part empty
    assert limits.weight_bandwidth_floor(net, sprams=5) == 338 * 13
    assert limits.dsp_floor(net, dsps=1) == 56712 // 2


@pytest.mark.parametrize("call, message", [
    (lambda net: limits.dsp_floor(net, dsps=0), "dsps must be an integer of at least 1, not 0"),
    (lambda net: limits.weight_bandwidth_floor(net, sprams=2.0),
     "sprams must be an integer of at least 1, not 2.0"),
])
def test_limits_refuse_bad_counts(net, call, message):
    with pytest.raises(ValueError, match=message):
        call(net)


ROWS = [
    Row("accuracy", "integer reference", 98.19, "%", "`sim.evaluate`", digits=2),
    Row("accuracy", "float", 97.48, "%", "recorded, not re-measured", digits=2,
        source="recorded"),
    Row("cycles", "throughput", 5408, "cycles", "`bench/cycles.py`", limit=3545,
        limit_name="DSP limit"),
    Row("clock", "design clock", 36.0, "MHz", "a | pipe", limit=41.25, limit_name="fmax",
        digits=2),
]


def test_row_ratio_and_source():
    assert [row.ratio for row in ROWS] == [None, None, 1.526, 0.873]
    assert Row("g", "m", None, "", "", limit=4).ratio is None
    with pytest.raises(ValueError, match="source must be one of measured, computed, recorded, "
                                         "not 'guessed'"):
        Row("g", "m", 1, "", "", source="guessed")


def test_markdown_holds_what_it_is_given():
    text = markdown_tables(ROWS, titles={"cycles": "Cycles per image"})
    lines = text.splitlines()
    assert lines[0] == "### accuracy"
    assert "### Cycles per image" in lines and "### clock" in lines
    assert "| integer reference | 98.19 % |  |  | measured | `sim.evaluate` |" in lines
    assert "| float | 97.48 % |  |  | recorded | recorded, not re-measured |" in lines
    assert ("| throughput | 5,408 cycles | 3,545 cycles DSP limit | 1.53 | measured | "
            "`bench/cycles.py` |") in lines
    assert "| design clock | 36.00 MHz | 41.25 MHz fmax | 0.87 | measured | a \\| pipe |" \
        in lines
    plain = text_table(ROWS)
    assert "5,408 cycles" in plain and "recorded" in plain and "`sim.evaluate`" not in plain


def test_json_holds_what_it_is_given(tmp_path):
    path = str(tmp_path / "results.json")
    write_json(path, ROWS, date="today", limits={"dsp_limit": 3545})
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["date"] == "today" and data["limits"] == {"dsp_limit": 3545}
    assert [Row(**{k: v for k, v in r.items() if k != "ratio"}) for r in data["rows"]] == ROWS
    assert [r["ratio"] for r in data["rows"]] == [row.ratio for row in ROWS]
    assert not (tmp_path / "results.json.tmp").exists()


def test_generated_section_is_replaced_and_the_rest_kept():
    text = "# Title\n\nprose\n<!-- begin bench: generated -->\nold\ntable\n<!-- end bench -->\n" \
           "more prose\n"
    new = replace_section(text, "new table\n")
    assert new == "# Title\n\nprose\n<!-- begin bench: generated -->\nnew table\n" \
                  "<!-- end bench -->\nmore prose\n"
    assert replace_section(new, "new table\n") == new
    with pytest.raises(SectionError, match="no generated section"):
        replace_section("# Title\n<!-- end bench -->\n", "x")


def test_prose_is_wrapped_and_tables_kept():
    table = "| a | b |\n| --- | --- |\n| " + "x" * 120 + " | y |"
    text = wrap_prose(f"{'word ' * 30}\n\n- {'item ' * 25}\n- short\n\n{table}\n", width=40)
    paragraph, items, kept = text.rstrip("\n").split("\n\n")
    assert all(len(line) <= 40 for line in paragraph.splitlines() + items.splitlines())
    assert paragraph.split() == ["word"] * 30
    assert items.splitlines()[0].startswith("- item") and items.splitlines()[1].startswith("  ")
    assert items.splitlines()[-1] == "- short"
    assert kept == table
