"""The benchmark stage (bench/run.py) end to end on its --tiny setting, and its helpers.

The tiny run trains, compares and times a tiny random BERT: its timings mean nothing and are never
asserted; what is asserted is behaviour: the JSON's structure, parity with the reference in both
directions, the long document's reach, and the ONNX model's entities.
"""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, "-m", "bench.run", "--tiny", "--out", str(out / "benchmark.json"),
           "--figure", str(out / "figures" / "benchmark.png"), "--workdir", str(out / "work")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, json.loads((out / "benchmark.json").read_text()), proc.stdout


@pytest.mark.slow
def test_tiny_run_structure(tiny_run):
    out, r, stdout = tiny_run
    assert r["setting"] == "tiny"
    assert r["reference"]["version"] == "0.2.29"
    for key in ("speed_sentences", "speed_long_documents"):
        assert set(r[key]) == {str(bs) for bs in r["settings"][f"{'long_' if 'long' in key else ''}batch_sizes"]}
        for v in r[key].values():
            for name in ("ours", "reference", "encoder"):
                assert v[f"{name}_texts_per_s"] > 0
    for name in ("ours", "reference", "ours_no_lstm"):
        t = r["training"][name]
        assert t["steps"] == r["settings"]["steps"]
        assert t["steps_per_s"] > 0 and t["peak_rss_mb"] > 0
        assert 0.0 <= t["f1"]["f1"] <= 1.0
        assert t["f1"]["sweep"]["0.5"] == t["f1"]["f1"] and t["f1"]["best_f1"] == max(t["f1"]["sweep"].values())
    turns = r["training"]["in_turns"]
    assert turns["ours_steps_per_s"] > 0 and turns["reference_steps_per_s"] > 0
    assert {"int8_dynamic", "onnx", "torch_compile", "ours_fp32", "no_bilstm"} <= set(r["extras"])
    # the figure is a real PNG of a readable size, and the Markdown table is what the run printed
    png = (out / "figures" / "benchmark.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 800 and height >= 600
    from bench.report import markdown

    table = markdown(r)
    assert table.strip() in stdout
    assert "| sentences | 1 |" in table and "reference checkpoint in ours" in table


@pytest.mark.slow
def test_tiny_run_parity_both_directions(tiny_run):
    from bench.run import PARITY_THRESHOLDS

    _, r, _ = tiny_run
    assert set(r["parity"]) == {"ours_checkpoint_in_reference", "reference_checkpoint_in_ours"}
    for direction in r["parity"].values():
        assert direction["spans_equal"] is True
        assert direction["max_span_score_diff"] < 1e-4
        assert direction["max_entity_score_diff"] < 1e-4
        assert direction["span_scores_compared"] > 1000
        # not vacuous: every decoding mode decoded entities at two thresholds or more (a tiny model's
        # scores cluster, so the highest threshold may keep none), and every run agreed
        assert len(direction["runs"]) == 3 * len(PARITY_THRESHOLDS)
        assert all(run["spans_equal"] is True for run in direction["runs"].values())
        for mode in ("flat", "nested", "multi_label"):
            assert sum(direction["runs"][f"{mode}@{t}"]["entities"] > 0 for t in PARITY_THRESHOLDS) >= 2


@pytest.mark.slow
def test_tiny_run_long_document_and_onnx(tiny_run):
    _, r, _ = tiny_run
    d = r["long_document_entities"]
    assert d["words"] >= r["settings"]["long_doc_words"]
    assert d["ours"]["gold_reachable"] == d["gold"]  # windows cover the whole document
    assert d["reference"]["words_scored"] < d["words"]  # the reference cuts the text at max_len
    assert d["reference"]["gold_reachable"] < d["gold"]
    assert d["reference"]["last_entity_word"] < d["reference"]["words_scored"]
    assert d["ours"]["last_entity_word"] >= d["reference"]["words_scored"]
    assert r["extras"]["onnx"]["same_entities_as_fp32"] is True


def test_compare_entities_and_offsets():
    from bench.run import char_to_words, compare_entities

    a = [[{"start": 0, "end": 5, "label": "person", "score": 0.9}], []]
    b = [[{"start": 0, "end": 5, "label": "person", "score": 0.85}], []]
    r = compare_entities(a, b)
    assert r["spans_equal"] and r["entities"] == 1 and abs(r["max_entity_score_diff"] - 0.05) < 1e-9
    c = [[{"start": 0, "end": 5, "label": "location", "score": 0.9}], []]
    assert not compare_entities(a, c)["spans_equal"]
    starts, ends = char_to_words(["Anna", "went", "to", "New", "York"])
    text = "Anna went to New York"
    assert starts[text.index("New")] == 3 and ends[len(text)] == 4


def test_synthetic_corpus_is_seeded_and_consistent():
    from bench import corpus

    a, b = corpus.synthetic(50, seed=3), corpus.synthetic(50, seed=3)
    assert a == b and a != corpus.synthetic(50, seed=4)
    for ex in a:
        for start, end, label in ex["ner"]:
            assert " ".join(ex["tokenized_text"][start : end + 1]) in corpus.FILLERS[label]


def test_take_turns_keeps_each_contenders_best():
    from bench.timing import take_turns

    times = {"a": iter([5.0, 3.0, 4.0, 9.0]), "b": iter([1.0, 2.0, 0.5, 7.0])}
    best = take_turns({k: (lambda it=it: next(it)) for k, it in times.items()}, repeats=3)
    assert best == {"a": 3.0, "b": 0.5}  # the warm-up run (5.0, 1.0) does not count


@pytest.mark.slow
def test_bench_train_prints_both_sides():
    """bench/train.py (issue 5's training comparison) on the tiny setting: both train the same
    steps from one checkpoint and the table has every row; the numbers themselves mean nothing."""
    cmd = [sys.executable, "-m", "bench.train", "--tiny"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for row in ("steps/s, whole run", "CPU s per step", "peak RSS, MB", "steps/s, in turns", "F1 at 0.5",
                "best F1 of the sweep"):
        assert f"| {row} |" in proc.stdout, proc.stdout
    assert "2 steps, batch 4," in proc.stdout, proc.stdout
