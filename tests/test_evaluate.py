"""Evaluation: exact-match scoring and the error table on hand-built cases, seqeval agreement on a
flat BIO case, and the zero-shot protocol end to end on the echo model (known predictions)."""

import json

import pytest

from gliner.evaluate import decode, error_table, evaluate, prf, score, write_metrics


def test_micro_macro_on_nested_and_wrong_type():
    gold = [{(0, 1, "person"), (0, 0, "first name"), (4, 4, "city")}, {(2, 3, "org")}]
    pred = [{(0, 1, "person"), (0, 0, "first name"), (4, 4, "person")}, {(2, 3, "org"), (5, 5, "city")}]
    m = score(gold, pred)
    # tp: person, first name, org = 3; fp: (4,4,person), (5,5,city) = 2; fn: (4,4,city) = 1
    assert (m["micro"]["tp"], m["micro"]["fp"], m["micro"]["fn"]) == (3, 2, 1)
    assert m["micro"]["precision"] == pytest.approx(3 / 5)
    assert m["micro"]["recall"] == pytest.approx(3 / 4)
    assert m["micro"]["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    per = m["per_type"]
    assert per["person"]["precision"] == pytest.approx(0.5) and per["person"]["recall"] == 1.0
    assert per["city"]["f1"] == 0.0 and (per["city"]["fp"], per["city"]["fn"]) == (1, 1)
    assert per["org"]["f1"] == per["first name"]["f1"] == 1.0
    assert m["macro"]["f1"] == pytest.approx((2 / 3 + 0 + 1 + 1) / 4)


def test_empty_cases():
    assert prf(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0}
    m = score([set()], [set()])
    assert m["micro"]["f1"] == 0.0 and m["macro"]["f1"] == 0.0 and m["per_type"] == {}


def test_error_table_kinds():
    gold = [{(0, 1, "person"), (3, 3, "city"), (5, 7, "org"), (9, 9, "date"), (11, 12, "event")}]
    pred = [{(0, 1, "person"),  # correct
             (3, 3, "country"),  # same span, other type
             (5, 6, "org"),  # overlapping, same type
             (9, 10, "time"),  # overlapping, other type
             (14, 14, "city")}]  # nothing there; (11, 12, event) is missed
    rows = error_table(gold, pred, [{"tokenized_text": [str(i) for i in range(15)]}])
    kinds = {r["kind"]: r for r in rows}
    assert sorted(kinds) == ["false_negative", "false_positive", "wrong_both", "wrong_boundary", "wrong_type"]
    assert len(rows) == 5
    assert kinds["wrong_type"]["gold"] == [3, 3, "city"] and kinds["wrong_type"]["pred"] == [3, 3, "country"]
    assert kinds["wrong_boundary"]["gold"] == [5, 7, "org"] and kinds["wrong_boundary"]["pred_text"] == "5 6"
    assert kinds["wrong_both"]["pred"] == [9, 10, "time"]
    assert kinds["false_positive"]["pred"] == [14, 14, "city"] and kinds["false_positive"]["gold"] is None
    assert kinds["false_negative"]["gold_text"] == "11 12"


def test_error_table_accounts_for_every_entity_once():
    gold = [{(0, 2, "a"), (1, 1, "b"), (4, 4, "a")}, {(0, 0, "a")}]
    pred = [{(0, 2, "b"), (1, 2, "a"), (1, 1, "b"), (6, 6, "a")}, set()]
    rows = error_table(gold, pred)
    m = score(gold, pred)["micro"]
    assert sum(r["gold"] is not None for r in rows) == m["fn"]  # every missed gold entity appears once
    assert sum(r["pred"] is not None for r in rows) == m["fp"]  # every wrong prediction appears once
    # the exact-span pairing wins: (0,2,b) is the wrong type of (0,2,a), not (1,2,a)'s boundary error
    assert {"kind": "wrong_type", "gold": [0, 2, "a"], "pred": [0, 2, "b"]}.items() <= next(
        r for r in rows if r["kind"] == "wrong_type").items()


def test_agrees_with_seqeval_on_flat_bio():
    seqeval = pytest.importorskip("seqeval.metrics")
    from gliner.data import tags_to_spans

    gold_tags = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"], ["O", "B-LOC", "I-LOC", "O", "B-PER"],
                 ["B-ORG", "I-ORG", "I-ORG", "O", "O", "O"]]
    pred_tags = [["B-PER", "O", "O", "B-LOC", "O", "B-PER"], ["O", "B-LOC", "I-LOC", "O", "B-PER"],
                 ["B-ORG", "I-ORG", "O", "O", "B-LOC", "O"]]
    gold = [{tuple(s) for s in tags_to_spans(t)} for t in gold_tags]
    pred = [{tuple(s) for s in tags_to_spans(t)} for t in pred_tags]
    m = score(gold, pred)
    assert m["micro"]["precision"] == pytest.approx(seqeval.precision_score(gold_tags, pred_tags))
    assert m["micro"]["recall"] == pytest.approx(seqeval.recall_score(gold_tags, pred_tags))
    assert m["micro"]["f1"] == pytest.approx(seqeval.f1_score(gold_tags, pred_tags))
    assert m["macro"]["f1"] == pytest.approx(seqeval.f1_score(gold_tags, pred_tags, average="macro"))


def test_decode_thresholds_and_flat_overlaps():
    import torch

    found = [(["a", "b"], torch.tensor([[0, 1, 0, 0.9], [1, 1, 1, 0.8], [3, 3, 0, 0.4]], dtype=torch.float64))]
    assert decode(found, 0.5) == [{(0, 1, "a")}]  # (1,1) overlaps a higher-scoring span
    assert decode(found, 0.5, flat_ner=False) == [{(0, 1, "a"), (1, 1, "b")}]  # nested is allowed
    assert decode(found, 0.3) == [{(0, 1, "a"), (3, 3, "a")}]
    assert decode(found, 0.95) == [set()]


def test_evaluate_end_to_end_with_echo_model(echo_model, tmp_path):
    # the echo model scores a one-word span high iff the word's first sub-token equals the label's
    labels = ["paris", "london", "music"]
    examples = [
        {"tokenized_text": ["paris", "is", "not", "london"], "ner": [[0, 0, "paris"], [3, 3, "london"]], "labels": labels},
        {"tokenized_text": ["i", "like", "music", "in", "paris"], "ner": [[2, 3, "music"]], "labels": labels},
        {"tokenized_text": ["nothing", "here"], "ner": [], "labels": labels},
    ]
    path = tmp_path / "toy_eval.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in examples))
    result = evaluate(echo_model, [path], threshold=0.5, batch_size=2, progress=False)
    m = result["datasets"]["toy_eval"]
    # predicted: (0,0,paris) (3,3,london) | (2,2,music) (4,4,paris); gold (2,3,music) is a boundary error
    assert (m["micro"]["tp"], m["micro"]["fp"], m["micro"]["fn"]) == (2, 2, 1)
    assert m["errors"] == {"false_positive": 1, "wrong_boundary": 1}
    assert m["num_examples"] == 3 and set(m["sweep"]) == {"0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"}
    assert all(s["tp"] == 2 for s in m["sweep"].values())  # echo scores are 0.998 or 0.002
    assert result["overall"]["micro"]["f1"] == pytest.approx(m["micro"]["f1"])
    out = tmp_path / "metrics" / "zero_shot.json"
    write_metrics(result, out)
    written = json.loads(out.read_text())
    assert "error_rows" not in written and "timing" not in written and written["datasets"]["toy_eval"]["micro"]["tp"] == 2


def test_each_set_gets_its_own_labels_and_long_texts_are_windowed(echo_model):
    words = ["x"] * 50 + ["paris"] + ["x"] * 30 + ["rome"]
    sets = {"a": [{"tokenized_text": words, "ner": [[50, 50, "paris"], [81, 81, "rome"]], "labels": ["paris", "rome"]}],
            "b": [{"tokenized_text": words, "ner": [[50, 50, "paris"]], "labels": ["paris"]}]}
    echo_model.config.max_len = 20  # forces several windows
    result = evaluate(echo_model, sets, thresholds=(0.5,), progress=False)
    assert result["datasets"]["a"]["micro"]["f1"] == 1.0 and result["datasets"]["b"]["micro"]["f1"] == 1.0
    assert result["overall"]["macro_f1"] == 1.0
    assert sum(rows for rows, _ in echo_model.model.calls) > 2  # more than one window per text


def test_eval_set_must_carry_labels(tmp_path):
    from gliner.evaluate import load_eval_set

    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"tokenized_text": ["a"], "ner": []}) + "\n")
    with pytest.raises(ValueError, match="bad.jsonl:1: labels"):
        load_eval_set(path)


def test_fast_flat_decoding_equals_greedy_decode():
    import torch

    from gliner.decoding import greedy_decode

    gen = torch.Generator().manual_seed(0)
    for _ in range(30):
        n = 40
        starts = torch.randint(0, 12, (n,), generator=gen)
        widths = torch.randint(0, 4, (n,), generator=gen)
        labels = torch.randint(0, 3, (n,), generator=gen)
        scores = torch.rand(n, generator=gen).round(decimals=1)  # ties too
        cands = torch.stack([starts, starts + widths, labels, scores], 1).double()
        found = [(list("abc"), cands)]
        expected = {(s, e, "abc"[c]) for s, e, c, p in greedy_decode(cands[cands[:, 3] > 0.3], flat_ner=True)}
        assert decode(found, 0.3) == [expected]
