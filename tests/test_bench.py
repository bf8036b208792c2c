"""The benchmark stage (bench/run.py) end to end on its --tiny setting, and its helpers.

The tiny run trains, compares and times a tiny random BERT: its timings mean nothing and are never
asserted; what is asserted is behaviour: the JSON's structure, parity with the reference in both
directions, the long document's reach, and the ONNX model's entities.
"""

import importlib.util
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
    p = r["precision"]  # the only speed tables: ours in each precision, the reference, the bare encoders
    for key in ("speed_sentences", "speed_long_documents"):
        assert set(p[key]) == {str(bs) for bs in r["settings"][f"{'long_' if 'long' in key else ''}batch_sizes"]}
        for v in p[key].values():
            for name in ("fp32", "reference", "encoder_fp32") + (("ours_forward",) if key == "speed_sentences" else ()):
                assert v[f"{name}_texts_per_s"] > 0
            assert 0 < v["mac_ceiling_vs_encoder"] < 1 and v["macs"]["gliner_layers"] > 0
            assert v["fp32_vs_encoder"] == v["fp32_texts_per_s"] / v["encoder_fp32_texts_per_s"]
    s = r["settings"]  # batch 1, a text at a time, times the first sentences only; the others all of them
    assert {bs: v["texts"] for bs, v in p["speed_sentences"].items()} == {
        str(bs): s["batch1_sentences"] if bs == 1 else s["sentences"] for bs in s["batch_sizes"]}
    assert f"the first {s['batch1_sentences']} at batch 1" in stdout
    wide = r["speed_wide_encoder"]
    assert wide["encoder"] == r["settings"]["wide_encoder"]
    for bs in r["settings"]["wide_batch_sizes"]:
        v = wide[str(bs)]
        assert v["encoder_texts_per_s"] > 0 and v["ours_forward_texts_per_s"] > 0
        # same sentences and batches: the wider encoder does a larger share of the arithmetic
        assert p["speed_sentences"][str(bs)]["mac_ceiling_vs_encoder"] < v["mac_ceiling_vs_encoder"] < 1
    for name in ("ours", "reference", "ours_no_lstm"):
        t = r["training"][name]
        assert t["steps"] == r["settings"]["steps"]
        assert t["steps_per_s"] > 0 and t["peak_rss_mb"] > 0
        assert 0.0 <= t["f1"]["f1"] <= 1.0
        assert t["f1"]["sweep"]["0.5"] == t["f1"]["f1"] and t["f1"]["best_f1"] == max(t["f1"]["sweep"].values())
    replay = r["training"]["replay"]
    turns = replay["in_turns"]
    assert turns["ours_steps_per_s"] > 0 and turns["reference_steps_per_s"] > 0
    assert turns["turns"] == r["settings"]["steps"] // r["settings"]["turn_steps"]
    # ours took the reference's steps and computed the same losses and weights (float32 rounding apart)
    assert len(replay["losses"]["ours"]) == len(replay["losses"]["reference"]) == r["settings"]["steps"]
    assert replay["max_relative_loss_diff"] < 1e-5 and replay["max_relative_weight_diff"] < 1e-4
    assert replay["max_span_score_diff"] < 1e-4
    assert replay["f1_diff_points"] == 100 * (replay["ours_f1"]["f1"] - replay["reference_f1"]["f1"])
    replay64 = r["training"]["replay_float64"]  # same steps in float64: agreement to its rounding
    assert replay64["dtype"] == "float64" and replay64["steps"] == r["settings"]["replay_float64_steps"]
    assert replay64["max_relative_loss_diff"] < 1e-12
    e = r["extras"]
    assert {"onnx", "torch_compile", "ours_fp32", "with_bilstm", "no_bilstm"} <= set(e)
    for bs, speedup in e["no_bilstm"]["speedup_vs_fp32"].items():  # against its twin trained with the BiLSTM
        assert speedup == pytest.approx(e["no_bilstm"]["texts_per_s"][bs] / e["with_bilstm"]["texts_per_s"][bs])
    from gliner.loading import cpu_has_bf16

    bf16 = r["training"]["replay_bf16"]  # ours in fp32 and in bf16 on the same recorded steps
    if cpu_has_bf16():
        assert len(bf16["losses"]["bf16"]) == len(bf16["losses"]["fp32"]) == r["settings"]["steps"]
        assert bf16["losses"]["fp32"] == pytest.approx(replay["losses"]["ours"], rel=1e-5)  # the replay's own steps
        assert bf16["losses"]["bf16"] != bf16["losses"]["fp32"] and bf16["bf16_steps_per_s"] > 0
        parts = r["training"]["bf16_step_parts"]["configs"]  # the step timed with each part in fp32 or bf16
        assert len(parts) == 4 and parts["fp32"]["speedup_vs_fp32"] == 1.0
        assert all(v["s_per_step"] > 0 for v in parts.values())
    else:
        assert "no bfloat16 units" in bf16["skipped"] and "no bfloat16 units" in r["training"]["bf16_step_parts"]["skipped"]
    # the trained model in each precision, on the evaluation sample standing in for dev and test
    ours = {"fp32", "int8"} | ({"bf16"} if cpu_has_bf16() else set())
    assert set(p["accuracy"]) == {"dev_bench_eval", "bench_eval"}
    for row in p["accuracy"].values():
        assert row["gold"] > 0 and ours <= set(row) and row["fp32"]["same_entities_share"] == 1.0
        assert all(0.0 <= row[k]["same_entities_share"] <= 1.0 for k in ours)
    for v in p["speed_sentences"].values():
        assert all(v[f"{k}_texts_per_s"] > 0 and v[f"{k}_share_of_ceiling"] > 0 for k in ours)
        assert v["reference_texts_per_s"] > 0 and v["fp32_vs_reference"] > 0
    if importlib.util.find_spec("fast_gliner"):  # make setup installs it: it runs on our reference-format export
        for engine in ("fast_gliner", "fast_gliner_int8"):  # as exported, and its int8 quantization
            assert "error" not in p["contenders"][engine], p["contenders"][engine]
            assert p["speed_sentences"]["8"][f"{engine}_texts_per_s"] > 0
            # no candidate for the recommendation: scored on the test sets, not on the dev sets that choose
            assert engine in p["accuracy"]["bench_eval"] and engine not in p["accuracy"]["dev_bench_eval"]
        assert "quantize_dynamic" in p["contenders"]["fast_gliner_int8"]["how"]
    assert p["recommended"]["precision"] in ours
    # the figure is a real PNG of a readable size, and the Markdown table is what the run printed
    png = (out / "figures" / "benchmark.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 800 and height >= 600
    from bench.report import markdown

    table = markdown(r)
    assert table.strip() in stdout
    assert r["machine"]["cpu"] and r["machine"]["cpu"] in table  # ratios change with the CPU's generation: say which
    assert "| sentences | 1 |" in table and "reference checkpoint in ours" in table
    assert "Precision, on the trained model" in table and "Fastest precision whose F1" in table
    assert ("The bf16 training step part by part" in table) == cpu_has_bf16()
    # a share of the MAC ceiling above 1 (end to end faster than its own forward) is called noise
    import copy

    from bench.report import precision_markdown

    noisy = copy.deepcopy(r["precision"])
    for row in noisy["speed_sentences"].values():  # the tiny run's own timings mean nothing: set them all
        row.update({k: 0.9 for k in row if k.endswith("_share_of_ceiling")})
    assert "cannot be" not in precision_markdown(noisy)
    noisy["speed_sentences"][str(r["settings"]["batch_sizes"][0])]["fp32_share_of_ceiling"] = 1.07
    assert f"batch {r['settings']['batch_sizes'][0]} (float32 1.07)" in precision_markdown(noisy)


@pytest.mark.slow
def test_precision_f1_stage_scores_every_sentence(tiny_run, tmp_path):
    """`python -m bench.precision` (the precision_f1 stage) scores every sentence of each test set and its dev
    twin, with a paired bootstrap interval around each F1 difference; the benchmark reads it only for the same
    checkpoint it times."""
    from bench.precision import read_f1_file

    out, r, _ = tiny_run
    assert r["precision"]["f1_sentences"] == f"the first {r['settings']['precision_examples']} of each set"
    model = out / "work" / "ours" / "model"
    examples = [{"tokenized_text": ["Ada", "Lovelace", "lived", "in", "London", "."], "ner": [[0, 1, "person"]],
                 "labels": ["person", "city"]},
                {"tokenized_text": ["Paris", "is", "big", "."], "ner": [[0, 0, "city"]], "labels": ["person", "city"]},
                {"tokenized_text": ["Nothing", "here", "."], "ner": [], "labels": ["person", "city"]}] * 5
    data = tmp_path / "data"
    data.mkdir()
    for name, rows in (("toy.jsonl", examples), ("dev_toy.jsonl", examples[:9])):
        (data / name).write_text("".join(json.dumps(ex) + "\n" for ex in rows))
    result_file = tmp_path / "precision_f1.json"
    cmd = [sys.executable, "-m", "bench.precision", "--model", str(model), "--test-sets", str(data / "toy.jsonl"),
           "--out", str(result_file), "--timing", str(tmp_path / "timing.json")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    f1 = json.loads(result_file.read_text())
    assert f1["model"] == str(model) and f1["sentences"] == "all of each set"
    assert json.loads((tmp_path / "timing.json").read_text())["wall_s"] > 0
    assert {name: (row["sentences"], row["gold"]) for name, row in f1["accuracy"].items()} == {
        "dev_toy": (9, 6), "toy": (15, 10)}
    for row in f1["accuracy"].values():
        assert row["fp32"]["f1_diff_points"] == 0 and row["fp32"]["f1_diff_interval_points"] == [0.0, 0.0]
        for v in row.values():
            if isinstance(v, dict):
                low, high = v["f1_diff_interval_points"]
                assert -100 <= low <= high <= 100
    assert read_f1_file(result_file, model)["accuracy"] == f1["accuracy"]
    with pytest.raises(ValueError, match="precision_f1.json: model: its F1 is of"):
        read_f1_file(result_file, out / "work" / "reference" / "model")


@pytest.mark.slow
def test_tiny_run_parity_both_directions(tiny_run):
    from bench.parity import PARITY_THRESHOLDS

    _, r, _ = tiny_run
    assert set(r["parity"]) == {"ours_checkpoint_in_reference", "reference_checkpoint_in_ours"}
    for direction in r["parity"].values():
        assert direction["spans_equal"] is True
        assert direction["max_span_score_diff"] < 1e-4
        assert direction["max_entity_score_diff"] < 1e-4
        assert direction["span_scores_compared"] > 1000
        # not vacuous: every decoding mode decoded entities at the low threshold (a tiny model's scores
        # cluster, so the default one may keep none), and every run agreed
        assert len(PARITY_THRESHOLDS) >= 2 and len(direction["runs"]) == 3 * len(PARITY_THRESHOLDS)
        assert all(run["spans_equal"] is True for run in direction["runs"].values())
        for mode in ("flat", "nested", "multi_label"):
            assert direction["runs"][f"{mode}@{min(PARITY_THRESHOLDS)}"]["entities"] > 0


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


def test_reference_format_export_gives_our_logits_and_loads_in_fast_gliner(minilm_path, tmp_path):
    import onnxruntime as ort
    import torch

    from bench.onnx_export import REFERENCE_INPUTS, export_reference_format, reference_inputs
    from gliner.processing import encode
    from tests.conftest import make_tiny_model

    model = make_tiny_model(minilm_path, max_width=4, num_rnn_layers=1).train()
    folder = export_reference_format(model, tmp_path / "export")
    assert model.model.training is False  # the export leaves the model in eval mode, dropout off
    session = ort.InferenceSession(str(folder / "onnx" / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == REFERENCE_INPUTS  # the reference's ONNX signature
    for words, labels in [([["Angela", "Merkel", "visited", "Paris", "."], ["Apple"]], ["person", "city"]),
                          ([["w"] * 9], ["person", "city", "company", "date"])]:
        inputs = reference_inputs(model, words, labels)
        logits = torch.from_numpy(session.run(None, {k: inputs[k].numpy() for k in REFERENCE_INPUTS})[0])
        with torch.no_grad():
            ours, _ = model(**encode(model.tokenizer, words, [labels] * len(words), "<<ENT>>", "<<SEP>>"))
        inside = inputs["span_mask"].view(ours.shape[:3])
        assert logits.shape == ours.shape and torch.allclose(logits[inside], ours[inside], atol=1e-4)
        assert (logits[~inside] <= -1e4).all()  # spans past a text's end never decode

    fast_gliner = pytest.importorskip("fast_gliner", reason="make setup installs fast-gliner (--no-deps)")
    engine = fast_gliner.FastGLiNER.from_pretrained(str(folder))
    texts = ["Angela Merkel visited Paris yesterday .", "Apple hired Tim Cook in California ."]
    labels = ["person", "city", "company"]
    theirs = engine.predict_entities(texts, labels)
    # every entity the engine decodes is one of our spans above 0.5 with our score: it reads the graph's
    # inputs, offsets and labels as we do (its own flat decoding picks differently among this random
    # model's near-equal scores; the benchmark counts identical entities on the trained model)
    ours = model.batch_predict_entities(texts, labels, threshold=0.5, flat_ner=False, multi_label=True)
    assert sum(map(len, theirs)) > 0
    for a, b in zip(ours, theirs):
        scores = {(e["start"], e["end"], e["label"]): e["score"] for e in a}
        assert all(abs(scores[(e["start"], e["end"], e["label"])] - e["score"]) < 1e-3 for e in b)


def test_compare_entities_and_offsets():
    from bench.accuracy import char_to_words, compare_entities

    a = [[{"start": 0, "end": 5, "label": "person", "score": 0.9}], []]
    b = [[{"start": 0, "end": 5, "label": "person", "score": 0.85}], []]
    r = compare_entities(a, b)
    assert r["spans_equal"] and r["entities"] == 1 and abs(r["max_entity_score_diff"] - 0.05) < 1e-9
    c = [[{"start": 0, "end": 5, "label": "location", "score": 0.9}], []]
    assert not compare_entities(a, c)["spans_equal"]
    starts, ends = char_to_words(["Anna", "went", "to", "New", "York"])
    text = "Anna went to New York"
    assert starts[text.index("New")] == 3 and ends[len(text)] == 4


def test_ours_word_entities_prompts_each_example_with_its_own_labels(echo_model):
    """The precision check's batched path (each sentence with its own label list, as the silver sets have)
    finds what the grouped path through `batch_predict_entities` finds: the echo model tags a word iff its
    first sub-token is a label's, so the answer is known."""
    from bench.accuracy import ours_word_entities, word_entities

    examples = [{"tokenized_text": ["anna", "met", "paris", "today"], "labels": ["paris", "anna"]},
                {"tokenized_text": ["paris", "is", "big"], "labels": ["big"]},
                {"tokenized_text": ["met", "anna", "in", "june"], "labels": ["paris", "anna"]},
                {"tokenized_text": ["@anna", "big"], "labels": ["anna", "big"]}]
    batched = ours_word_entities(echo_model, examples, [0.5], batch_size=3)[0.5]
    grouped = word_entities(examples, lambda t, lab, th: echo_model.batch_predict_entities(t, lab, threshold=th), 0.5)
    assert batched == grouped
    assert batched[:3] == [{(0, 0, "anna"), (2, 2, "paris")}, {(2, 2, "big")}, {(1, 1, "anna")}]
    # "@anna" splits into "@" and "anna": the entity "anna" starts mid-word, so it maps to no word start
    assert batched[3] == {(-1, 0, "anna"), (1, 1, "big")}


def test_ours_word_entities_decodes_one_pass_at_each_threshold(tiny_model):
    """One pass decoded at several thresholds gives what a prediction at each threshold gives (thresholds at
    the quantiles of a random model's scores, so that each keeps different entities)."""
    import torch

    from bench.accuracy import ours_word_entities, word_entities

    examples = [{"tokenized_text": "Anna Smith flew from Paris to New York on Monday .".split(),
                 "labels": ["person", "city", "day"]},
                {"tokenized_text": "The Rhine runs through Basel".split(), "labels": ["river", "city"]}]
    scores = torch.cat(tiny_model.window_candidates([ex["tokenized_text"] for ex in examples],
                                                    [ex["labels"] for ex in examples], 0.0))[:, 3]
    thresholds = [round(float(q), 4) for q in scores.quantile(torch.tensor([0.5, 0.9, 0.99], dtype=scores.dtype))]
    batched = ours_word_entities(tiny_model, examples, thresholds)
    for t in thresholds:
        assert batched[t] == word_entities(examples, lambda x, lab, th: tiny_model.batch_predict_entities(
            x, lab, threshold=th), t)
    assert len({frozenset().union(*batched[t]) for t in thresholds}) > 1


def test_fast_gliner_is_scored_where_sentences_share_label_lists():
    from bench.precision import shares_label_lists

    same = [{"labels": ["person", "city"]}] * 16
    assert shares_label_lists(same)
    assert not shares_label_lists([{"labels": ["person", f"type {i}"]} for i in range(16)])  # each its own, as silver
    assert not shares_label_lists(same[:8] + [{"labels": [f"type {i}"]} for i in range(8)])  # 9 lists for 16


def test_synthetic_corpus_is_seeded_and_consistent():
    from bench import corpus

    a, b = corpus.synthetic(50, seed=3), corpus.synthetic(50, seed=3)
    assert a == b and a != corpus.synthetic(50, seed=4)
    for ex in a:
        for start, end, label in ex["ner"]:
            assert " ".join(ex["tokenized_text"][start : end + 1]) in corpus.FILLERS[label]


def test_mac_count_matches_torch_flop_counter(tiny_model):
    """bench/flops.py's analytic count equals what torch's FlopCounterMode counts on a real forward
    (eager attention, so its products are counted too; the pooler, which flops.py leaves out, added)."""
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bench.flops import ceiling, forward_macs
    from gliner.processing import encode

    model = copy.deepcopy(tiny_model)
    encoder = model.model.token_rep_layer.bert_layer.model
    encoder.config._attn_implementation = "eager"
    batch = encode(model.tokenizer, [["Anna", "went", "to", "New", "York", "today"], ["Bob", "smiled"]],
                   [["person", "location", "date"], ["person"]], model.config.ent_token, model.config.sep_token)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model.model(**batch)
    macs = forward_macs(model.config, batch)
    pooler = batch["input_ids"].size(0) * encoder.config.hidden_size ** 2
    assert counter.get_total_flops() == 2 * (macs["encoder"] + macs["gliner_layers"] + pooler)
    assert macs["gliner_layers"] == macs["lstm"] + macs["heads"] + macs["projection"] > 0
    both = ceiling(model.config, [batch, batch])
    assert both["encoder"] == 2 * macs["encoder"]
    assert both["ceiling_ours_vs_encoder"] == macs["encoder"] / (macs["encoder"] + macs["gliner_layers"])


@pytest.mark.slow
def test_reference_training_is_reproducible_only_with_fixed_string_hashing(minilm_path, tmp_path):
    """The reference shuffles a set of type names while training: its losses depend on the
    process's hash seed. bench.refclient.reproducible_env fixes it, so a seed gives one result."""
    from bench import common, training
    from bench.refclient import ensure_reference_venv, reproducible_env

    s = dict(common.SETTINGS["tiny"])
    no_files = type("NoFiles", (), {"train_file": None, "eval_file": None})  # prepare_data: synthetic corpus
    data = training.prepare_data(no_files, s, tmp_path)
    backbone = training.tiny_backbone(str(minilm_path), tmp_path / "backbone")
    training.initial_checkpoint(backbone, s, tmp_path / "init")
    cmd, job, _ = training.training_jobs(s, data, tmp_path, backbone, 2, ensure_reference_venv())["reference"]
    (tmp_path / "job.json").write_text(json.dumps(job))

    def losses(env: dict) -> list:
        subprocess.run(cmd + [str(tmp_path / "job.json"), str(tmp_path / "out.json")], env=env, cwd=REPO,
                       capture_output=True, check=True, timeout=600)
        return json.loads((tmp_path / "out.json").read_text())["losses"]

    fixed = losses(reproducible_env())
    assert losses(reproducible_env()) == fixed
    assert losses({**reproducible_env(), "PYTHONHASHSEED": "1"}) != fixed


def test_take_turns_keeps_each_contenders_best():
    from bench.speed import take_turns

    times = {"a": iter([5.0, 3.0, 4.0, 9.0]), "b": iter([1.0, 2.0, 0.5, 7.0])}
    best = take_turns({k: (lambda it=it: next(it)) for k, it in times.items()}, repeats=3)
    assert best == {"a": 3.0, "b": 0.5}  # the warm-up run (5.0, 1.0) does not count


@pytest.mark.slow
def test_bench_train_prints_both_sides(tmp_path):
    """bench/train.py (issue 5's training comparison) on the tiny setting: both train the same
    steps from one checkpoint and the table has every row; the numbers themselves mean nothing."""
    out = tmp_path / "train.json"
    cmd = [sys.executable, "-m", "bench.train", "--tiny", "--seeds", "0", "1", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for row in ("steps/s, whole run (mean over seeds)", "CPU s per step (mean over seeds)",
                "peak RSS, MB (mean over seeds)", "steps/s, in turns on the same batches (seed 0)", "0", "1"):
        assert f"| {row} |" in proc.stdout, proc.stdout
    assert "2 steps, batch 4," in proc.stdout, proc.stdout
    r = json.loads(out.read_text())
    assert r["seeds"] == [0, 1] and set(r["runs"]) == {"0", "1"}
    assert r["runs"]["0"]["data"]["train_examples"] == r["runs"]["1"]["data"]["train_examples"]
    for key in ("f1", "best_f1"):  # the summary is the mean of the per-seed differences
        diffs = [100 * (r["runs"][k]["ours"]["f1"][key] - r["runs"][k]["reference"]["f1"][key]) for k in ("0", "1")]
        summary = r["f1_summary"][key]
        assert summary["seeds"] == 2 and abs(summary["diff_mean_points"] - sum(diffs) / 2) < 1e-9
        assert f"{summary['diff_mean_points']:+.1f} ± {summary['diff_standard_error_points']:.1f} points" in proc.stdout
    assert "replay" in r["runs"]["0"] and "replay" not in r["runs"]["1"]  # the first seed is replayed
    assert "Replay (seed 0, float32): ours takes the reference's own 2 steps" in proc.stdout


def test_int8_quantized_export_keeps_the_inputs_and_runs_integer_matmuls(minilm_path, tmp_path):
    import onnx
    import onnxruntime as ort
    import torch

    from bench.onnx_export import REFERENCE_INPUTS, export_reference_format, quantize_int8, reference_inputs
    from tests.conftest import make_tiny_model

    model = make_tiny_model(minilm_path, max_width=4, num_rnn_layers=1)
    fp32 = export_reference_format(model, tmp_path / "fp32")
    int8 = quantize_int8(export_reference_format(model, tmp_path / "int8"))
    graph = onnx.load(str(int8 / "onnx" / "model.onnx")).graph
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= {node.op_type for node in graph.node}
    assert not list((int8 / "onnx").glob("*partial*"))  # written in place, nothing left beside it
    inputs = reference_inputs(model, [["Angela", "Merkel", "visited", "Paris", "."]], ["person", "city"])
    feed = {k: inputs[k].numpy() for k in REFERENCE_INPUTS}
    a, b = (torch.from_numpy(ort.InferenceSession(str(d / "onnx" / "model.onnx")).run(None, feed)[0]) for d in (fp32, int8))
    inside = inputs["span_mask"].view(a.shape[:3])  # logits: text, start word, width, type
    assert a.shape == b.shape and not torch.equal(a[inside], b[inside])  # quantized: close, not the same
    assert torch.corrcoef(torch.stack([a[inside].flatten(), b[inside].flatten()]))[0, 1] > 0.9
