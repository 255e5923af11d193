"""The benchmark's pure parts: the limits it computes from the shipped network, the rows and
prose it makes of a run's measurements, and its writers (the measurements themselves are the
commands it runs, tested elsewhere)."""

import json

import pytest
from amaranth.hdl import Fragment

from bench import __main__ as bench_main
from bench import limits, rows, steps, writers
from bench import table as table_module
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
    # protocol v2: 'C', a sequence number, 784 pixels and a 4-byte CRC in; an 18-byte answer
    # (magic, status, seq, class, 10 logits, 4-byte CRC) out; 10 bits a byte
    assert limits.uart_request_bytes(net) == 1 + 1 + 784 + 4
    assert limits.uart_wire_bits(net) == 10 * (790 + 18) == 8080


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


# A run's measurements, written by hand in the shape that bench.steps.measure returns: the
# numbers are small and round so that the rows can be checked against them by eye.
MEASURED = {
    "evaluate": {
        "reference": {"images": 100, "accuracy": 0.98},
        "keras": {"images": 100, "accuracy": 0.98, "agree_with_reference": 100,
                  "logits_agree_with_reference": 99},
        "rtl": {"images": 100, "accuracy": 0.98, "agree_with_reference": 100,
                "logits_agree_with_reference": 100, "seconds": 2.5, "cycles_per_image": 6000.0,
                "cycles_per_image_max": 6000},
        "board-rtl": {"images": 100, "accuracy": 0.98, "agree_with_reference": 100,
                      "logits_agree_with_reference": 100, "seconds": 30.0, "baud": 3_000_000,
                      "images_per_second": 370.0},
        "board-rtl-fast": {"images": 10, "accuracy": 1.0, "agree_with_reference": 10,
                           "logits_agree_with_reference": 10, "seconds": 5.0,
                           "baud": 12_000_000, "images_per_second": 1450.0},
        "board-netlist": {"images": 20, "accuracy": 1.0, "agree_with_reference": 20,
                          "logits_agree_with_reference": 19, "seconds": 400.0},
    },
    "fuzz": {"seed": 0, "sessions": 100, "hangs": 0, "stale": 1, "wrong": 0, "out_of_step": 0,
             "unexpected": 0, "corrupted": 50, "corrupted_refused": 50,
             "simulated_cycles": 50_000_000, "seconds": 20.0, "flash_faults": 186,
             "flash_detected": 186},
    "self_test": {"images": 100, "correct": 97, "reference_correct": 98, "cycles": 1_300_000,
                  "images_per_second": 3692.3, "flash_bound": 3821.7, "seconds": 3.0},
    "baselines": {"float": (98.0, "recorded, not re-measured: the manifest", "recorded"),
                  "ptq_uniform_frac": 3},
    "rtl_seconds": 20.0,
    "cycles": {"images": 2, "latency_cycles": [6000], "throughput_cycles_per_image": [5400, 5408]},
    "build": {"board": "icebreaker", "design_clock_mhz": 48.0, "baud": 3_000_000,
              "nextpnr_fmax_mhz": 50.0, "icetime_fmax_mhz": 48.5, "timing_met": True,
              "build_seconds": 100.0,
              "resources": {name: {"used": 1, "available": 2}
                            for name in ("logic_cells", "block_rams", "sprams", "dsps")}},
    "build_how": "`python -m hw.build`",
}


def rows_of(measured, net):
    return rows.make_rows(measured, net=net, resources=get_board("icebreaker").resources)


def test_rows_from_fixed_measurements(net):
    table, facts = rows_of(MEASURED, net)
    groups = table_module.group_rows(table)
    assert list(groups) == list(rows.TITLES)
    assert [len(members) for members in groups.values()] == [11, 4, 7, 5, 11, 6]
    by_measure = {row.measure: row for row in table}
    # baselines that were not recorded say so rather than vanish
    user = by_measure["float: the user's recipe (Adadelta 1.0, 12 epochs, pixels / 255)"]
    assert user.value is None and user.how == "not recorded: run with --train"
    assert by_measure["QAT: the integer reference (8-bit)"].value == 98.0
    assert by_measure["Keras model: logit vectors equal to the reference's"].ratio == 0.99
    latency = by_measure["latency, one image at a time (Amaranth simulator)"]
    assert (latency.value, latency.limit) == (6000, 5408)
    assert latency.how == "`python -m bench.cycles --images 2` (Amaranth simulator, 2 images)"
    throughput = [row for row in groups["cycles"] if row.measure.startswith("throughput")]
    assert [(row.value, row.limit) for row in throughput] == [(5408, 5408), (5408, 3545)]
    assert throughput[0].how.endswith("; 5,400 to 5,408)")
    clock = by_measure["design clock"]
    assert (clock.value, clock.limit) == (48.0, 48.5)
    assert clock.limit_name == "fmax (the lower of nextpnr and icetime)"
    assert by_measure["latency: microseconds per image"].value == 125.0
    # a 790-byte request and an 18-byte answer, 10 bits a byte, at 3 Mbaud: 8,080 / 3 us
    assert by_measure["wire time per image"].value == 2693.3
    assert facts["fmax"] == 48.5 and facts["latency"] == 6000 and facts["throughput"] == 5408
    assert facts["accuracy"] == {"reference": 98.0, "keras": 98.0, "rtl": 98.0,
                                 "board-rtl": 98.0, "board-rtl-fast": 100.0,
                                 "board-netlist": 100.0}
    # streaming: the wire bound is a 790-byte request's 7,900 bits back to back
    streamed = [row for row in groups["uart"] if "streaming" in row.measure]
    assert [(row.value, row.limit) for row in streamed] == [(370.0, 379.7), (1450.0, 1519.0)]
    assert streamed[1].how.startswith("`python -m sim.evaluate --backend board-rtl --baud "
                                      "12000000 --json --limit 10`: 10 images streamed")
    assert facts["streams"][12_000_000] == {"images_per_second": 1450.0, "bound": 1519.0,
                                            "images": 10}
    # the board top's rows: what each run found, beside what it ran
    netlist = by_measure["synthesised netlist: logit vectors over the UART equal to the "
                         "reference's"]
    assert (netlist.value, netlist.limit) == (19, 20)
    assert netlist.how == "`python -m sim.evaluate --backend board-netlist --json --limit 20`, " \
                          "400 s"
    stale = by_measure["fuzzing: an answer of an older request (stale)"]
    assert (stale.value, stale.limit) == (1, 100)
    assert stale.how == "`python -m sim.fuzz --sessions 100 --json` (seed 0), 50,000,000 " \
                        "cycles in 20 s"
    correct = by_measure["self-test: images classified as their labels (the board's count)"]
    assert (correct.value, correct.limit) == (97, 98)
    rate = by_measure["self-test: images per second on the board (its cycle count at 48 MHz)"]
    assert (rate.value, rate.limit) == (3692.3, 3821.7)
    assert rate.limit_name == "flash bound (785-byte records, single SPI at 24 MHz)"
    refused = by_measure["fuzzing: corrupted requests answered with an error, never OK"]
    assert (refused.value, refused.limit) == (50, 50)
    assert by_measure["flash faults refused (BAD_WEIGHTS, red LED, no classification)"].limit \
        == 186
    summary = " ".join(writers.readme_summary(facts, META).split())
    assert "100/100 logit vectors over the UART equal to the reference's as RTL, 19/20 as the " \
           "synthesised netlist; 100 sessions of random traffic: 0 hangs, 1 stale, 0 wrong, 0 " \
           "out of step, 50 of 50 corrupted requests answered with an error; 186 of 186 flash " \
           "faults refused" in summary


def test_rows_without_icetime(net):
    report = {**MEASURED["build"], "icetime_fmax_mhz": None, "timing_met": False,
              "icetime": "not installed (apt-get install fpga-icestorm)"}
    table, facts = rows_of({**MEASURED, "build": report}, net)
    by_measure = {row.measure: row for row in table}
    icetime = by_measure["fmax, icetime (UP5K worst case, DSPs modelled)"]
    assert icetime.value is None
    assert icetime.how == "icetime not run: not installed (apt-get install fpga-icestorm); " \
                          "`python -m hw.build`"
    assert by_measure["design clock"].limit == 50.0
    assert by_measure["design clock"].how.endswith("timing NOT met")
    assert facts["fmax"] == 50.0 and "icetime not run" in facts["fmax_by"]
    summary = writers.readme_summary(facts, META)
    assert "fmax 50 MHz (nextpnr's; icetime not run)" in " ".join(summary.split())


def test_recorded_baselines_read_both_spellings(net):
    for command in ("python bench/user_recipe.py", "python -m bench.user_recipe"):
        readme = f"| user's recipe | float32 | 97.48 % | `{command}` |\n"
        found = steps.recorded_baselines(net, readme)
        assert found["user"] == (97.48, f"recorded, not re-measured: weights/README.md "
                                        f"(`{command}`)", "recorded")
    assert "user" not in steps.recorded_baselines(net, "no table here\n")


def test_trained_baselines_are_measured():
    raw = {"user_recipe": {"accuracy": 0.9748, "test_images": 10000},
           "train": {"accuracy": {"float": 0.981, "ptq_uniform": 0.9765,
                                  "ptq_calibrated": 0.9806, "ptq_uniform_frac": 3},
                     "agree": {"images": 10000}}}
    found = steps.trained_baselines(raw)
    assert found["user"][::2] == (97.48, "measured")
    assert found["float"][::2] == (98.1, "measured") and found["ptq_uniform_frac"] == 3


META = {"argv": ["--limit", "100"], "date": "2026-01-01 00:00 UTC",
        "git": {"commit": "abc1234", "changed": ["bench/rows.py"]}, "cores": 2,
        "total_seconds": 60.0}


def test_writers_round_trip(net, tmp_path):
    table, facts = rows_of(MEASURED, net)
    kept = "# Results\n\nprose kept\n\n<!-- begin bench: generated -->\nold\n<!-- end bench -->" \
           "\n\n## More prose\n"
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "results.md").write_text(kept)
    (tmp_path / "README.md").write_text(kept)
    written = writers.write_results(rows=table, facts=facts, meta=META, net=net,
                                    step_seconds={"rtl": 20.0}, steps={"cycles": {}},
                                    root=str(tmp_path))
    assert written.startswith("bench/results.json")
    data = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert [Row(**{k: v for k, v in r.items() if k != "ratio"}) for r in data["rows"]] == table
    assert data["figures"] == json.loads(json.dumps(facts)) and data["date"] == META["date"]
    md = (tmp_path / "bench" / "results.md").read_text()
    assert md.startswith("# Results\n\nprose kept\n\n<!-- begin bench") and \
        md.endswith("<!-- end bench -->\n\n## More prose\n")
    assert "at commit abc1234, with uncommitted changes to bench/rows.py" in " ".join(md.split())
    assert "### Cycles per image" in md and writers.RECORDED_NOTE.split()[0] in md
    assert "| wire time per image | 2,693.3 us |" in md
    readme = (tmp_path / "README.md").read_text()
    assert "commit abc1234" in readme and "### " not in readme
    # a second run replaces what the first wrote, and only that
    again = writers.write_results(rows=table, facts=facts, meta=META, net=net,
                                  step_seconds={}, steps={}, root=str(tmp_path))
    assert (tmp_path / "bench" / "results.md").read_text() == md and again == written


def test_quick_run_writes_build_only(net, tmp_path):
    table, facts = rows_of(MEASURED, net)
    written = writers.write_results(rows=table, facts=facts, meta=META, net=net,
                                    step_seconds={}, steps={}, limit=100, root=str(tmp_path))
    assert written.startswith("build/bench/results.json")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == \
        ["results.json", "results.md"]
    md = (tmp_path / "build" / "bench" / "results.md").read_text()
    assert md.startswith("# Benchmark (quick run: --limit 100)\n\nGenerated by")


def test_writing_a_file_without_markers_names_it(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# no markers\n")
    with pytest.raises(SectionError, match=r"README\.md: no generated section"):
        writers.write_section(str(path), "body\n")
    assert path.read_text() == "# no markers\n"


def test_limits_text_names_the_first_dense_layer(net):
    _, facts = rows_of(MEASURED, net)
    text = " ".join(writers.limits_text(net, facts).split())
    assert "the first dense layer's 338 x 128 weights" in text
    assert "8,080 bits per image" in text


def test_cli_refuses_bad_options(capsys):
    for argv, message in ((["--limit", "0"], "--limit must be between 1 and 10000, not 0"),
                          (["--cycle-images", "1"], "--cycle-images must be at least 2")):
        with pytest.raises(SystemExit) as e:
            bench_main.main(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err


def test_boards_merges_a_partial_run_into_the_last(tmp_path):
    from bench import boards
    path = tmp_path / "boards.json"
    old = {"meta": {"date": "then"}, "cases": {
        "lenet5-icebreaker": {"board": "icebreaker", "build": {"x": 1}},
        "shipped-ulx3s-25f": {"board": "ulx3s-25f", "build": {"x": 2}},
        "gone": {"board": "icebreaker"}}}
    path.write_text(json.dumps(old))
    merged = boards._merged({"lenet5-icebreaker": {"board": "icebreaker", "build": {"x": 3},
                                                   "meta": {"date": "now"}}}, path=path)
    # CASES order, cases no longer listed last; the new row replaces its case's, the others
    # keep their run's meta
    assert list(merged) == ["shipped-ulx3s-25f", "lenet5-icebreaker", "gone"]
    assert merged["lenet5-icebreaker"] == {"board": "icebreaker", "build": {"x": 3},
                                           "meta": {"date": "now"}}
    assert merged["shipped-ulx3s-25f"]["meta"] == {"date": "then"}
    assert merged["shipped-ulx3s-25f"]["build"] == {"x": 2}
    # with no file, the measured cases alone
    assert list(boards._merged({"gone": {}}, path=tmp_path / "none.json")) == ["gone"]


def test_boards_build_only_needs_its_cases(capsys):
    from bench import boards
    with pytest.raises(SystemExit) as e:
        boards.main(["--build-only"])
    assert e.value.code == 2
    assert "--build-only needs --case (and no --limit)" in capsys.readouterr().err


def test_fit_check_merges_a_partial_run_into_the_last(tmp_path):
    from bench import fit_check
    path = tmp_path / "fit_check.json"
    old = {"date": "then", "git": {"commit": "aaa"}, "rows": [
        {"network": "keras_convnet_q8", "x": 1}, {"network": "mnist_q8", "x": 2},
        {"network": "gone", "x": 3}]}
    path.write_text(json.dumps(old))
    new = {"network": "keras_convnet_q8", "x": 4,
           "measured_on": {"date": "now", "commit": "bbb"}}
    merged = fit_check._merged([new], path=path)
    # the order checked, networks no longer checked last; the older rows keep their run's
    # date and commit
    assert [r["network"] for r in merged] == ["mnist_q8", "keras_convnet_q8", "gone"]
    assert merged[1] == new
    assert merged[0] == {"network": "mnist_q8", "x": 2,
                         "measured_on": {"date": "then", "commit": "aaa"}}
    assert fit_check._merged([new], path=tmp_path / "none.json") == [new]


def test_fit_check_builds_folded_networks_as_their_boards_rows():
    from bench import boards, fit_check
    # the bench.boards case's clock and first seed, its tries left to the check's own
    assert fit_check.BUILD_OPTIONS["keras_convnet_q8"] == [
        "--clock-mhz", "42", "--seed", "6"]
    assert fit_check._without_tries(["--tries", "2", "--seed", "3"]) == ["--seed", "3"]
    assert boards.BUILD_OPTIONS["keras-convnet-icebreaker"][-2:] == ["--tries", "3"]
    note = fit_check._options_note([{"network": "lenet5_q8"}])
    assert note == (", `lenet5_q8` with `--clock-mhz 45 --seed 6` (the clock and first seed "
                    "of its `bench.boards` build)")
    assert fit_check._options_note([{"network": "mnist_q8"}]) == ""


def test_fit_check_refuses_an_unknown_network(capsys):
    from bench import fit_check
    with pytest.raises(SystemExit) as e:
        fit_check.main(["--network", "resnet50"])
    assert e.value.code == 2 and "invalid choice: 'resnet50'" in capsys.readouterr().err


@pytest.mark.parametrize("spec,folded", [
    ("conv32x3,pool,conv64x3,pool,dense10", True),       # two positions a pass, a queue
    ("conv6x5,pool,conv16x5,pool,dense120,dense84,dense10", True),
    ("conv4x3,pool,dense32,dense10", False)])             # folded by its plan, measured parallel
def test_calibration_measures_each_stage_once_with_its_rows_terms(spec, folded):
    # every stage of the pipeline synthesised alone against its part of the plan's terms:
    # together they are the plan's rows (less the board's), none counted twice or left out
    from bench import fit_calibrate
    from bench.fit_networks import network
    from hw.stages.dense import DenseStage
    net = network(spec, seed=1, weights="trained")
    plan = fit_calibrate.calibration_plan(net, folded=folded)
    assert any(layer.kind == "conv2d" and layer.name in plan.schedules
               for layer in net.layers) is folded
    stages, pipeline = fit_calibrate.pieces(net, plan)
    assert [s for s, *_ in stages] == list(pipeline.stages)
    for stage, *_ in stages:   # each elaborates alone, as it is synthesised
        Fragment.get(stage, None)
    total, expected = {}, {}
    for _, _, _, terms in stages:
        for t, v in terms.items():
            total[t] = total.get(t, 0) + v
    for row in plan.stages:
        if row.kind != "board":
            for t, v in row.terms.items():
                expected[t] = expected.get(t, 0) + v
    assert total == expected
    kinds = {type(s).__name__: kind for s, _, kind, _ in stages}
    if folded:   # each folded piece fitted as its own kind, the engine as a dense stage's
        assert kinds["WindowStage"] == "window" and kinds["SerialPool2DStage"] == "maxpool2d"
        assert all(kind == "dense" for s, _, kind, _ in stages if isinstance(s, DenseStage))
    else:
        assert kinds["Conv2DStage"] == "conv2d"
