import json

import pytest
import torch

from gliner import GLiNER, GLiNERConfig
from gliner.processing import plan_windows, split_words


LABELS = ["person", "location", "organization", "date"]
TEXTS = [
    "Barack Obama visited Zürich — the café on 5th Avenue — in May 2020.",
    "Dr. Zoë O'Neil-Smith joined ACME Corp. on 3/4/2021; e-mail: zoe_o@x.org!",
    "short",
    "Angela Merkel met Emmanuel Macron in Paris, France, and then flew to Berlin on Tuesday evening.",
]


# ------------------------------------------------------------------------------------ words
def test_split_words_offsets_unicode_and_punctuation():
    text = "Dr. Zoë O'Neil-Smith visited Zürich—on 3/4/2021; e-mail: zoe_o@x.org!"
    words = split_words(text)
    assert [w for w, _, _ in words] == [
        "Dr", ".", "Zoë", "O", "'", "Neil-Smith", "visited", "Zürich", "—", "on", "3", "/", "4", "/", "2021",
        ";", "e-mail", ":", "zoe_o", "@", "x", ".", "org", "!"]
    assert all(text[s:e] == w for w, s, e in words)


def test_cjk_splitter_splits_characters_and_keeps_latin_words():
    text = "我爱北京天安门, Tokyo東京タワー 2024年"
    words = split_words(text, "cjk")
    assert [w for w, _, _ in words] == ["我", "爱", "北", "京", "天", "安", "门", ",", "Tokyo", "東", "京", "タ",
                                        "ワ", "ー", "2024", "年"]
    assert all(text[s:e] == w for w, s, e in words)
    assert [w for w, _, _ in split_words("北京欢迎你")] == ["北京欢迎你"]  # the reference splitter cannot


# ------------------------------------------------------------------------------------ config
def test_config_round_trip_keeps_unknown_fields(tmp_path):
    config = GLiNERConfig.from_dict({"max_width": 8, "transformers_version": "4.51.3", "some_future_field": [1, 2]})
    config.to_json_file(tmp_path / "c.json")
    again = GLiNERConfig.from_json_file(tmp_path / "c.json")
    assert again == config and again.extra["some_future_field"] == [1, 2] and again.max_width == 8
    assert json.loads((tmp_path / "c.json").read_text())["model_type"] == "gliner_uni_encoder_span"


@pytest.mark.parametrize("field, value", [("span_mode", "markerV1"), ("subtoken_pooling", "mean"),
                                          ("post_fusion_schema", "l2l-l2t"), ("labels_encoder", "bert-base"),
                                          ("model_type", "gliner_uni_encoder_token"), ("max_width", 0)])
def test_config_rejects_what_is_not_implemented(field, value):
    with pytest.raises(ValueError, match=field):
        GLiNERConfig.from_dict({field: value})


# ------------------------------------------------------------------------------------ model
def test_fused_span_scores_equal_the_reference_formulation(tiny_model):
    torch.manual_seed(1)
    marker = tiny_model.model.span_rep_layer.span_rep_layer
    B, L, K, D, C = 2, 7, marker.max_width, tiny_model.config.hidden_size, 3
    words, types = torch.randn(B, L, D), torch.randn(B, C, D)
    starts = torch.arange(L).repeat_interleave(K)
    span_idx = torch.stack([starts, (starts + torch.arange(K).repeat(L)).clamp(max=L - 1)], -1).expand(B, -1, -1)
    with torch.no_grad():
        expected = torch.einsum("BLKD,BCD->BLKC", marker(words, span_idx), types)
        assert torch.allclose(marker.score(words, types), expected, atol=1e-5)


def test_batching_and_padding_do_not_change_predictions(tiny_model):
    one_by_one = [tiny_model.predict_entities(t, LABELS, threshold=0.3) for t in TEXTS]
    batched = tiny_model.batch_predict_entities(TEXTS, LABELS, threshold=0.3, batch_size=8)
    assert [[(e["start"], e["end"], e["label"]) for e in r] for r in one_by_one] == \
           [[(e["start"], e["end"], e["label"]) for e in r] for r in batched]
    assert any(one_by_one) and all(abs(a["score"] - b["score"]) < 1e-5
                                   for r1, r2 in zip(one_by_one, batched) for a, b in zip(r1, r2))


def test_entities_carry_character_offsets(tiny_model):
    for text, entities in zip(TEXTS, tiny_model.batch_predict_entities(TEXTS, LABELS, threshold=0.3)):
        for e in entities:
            assert text[e["start"]:e["end"]] == e["text"] and e["label"] in LABELS and 0.3 < e["score"] < 1


def test_save_load_round_trip_gives_identical_scores(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) >= ["gliner_config.json", "model.safetensors",
                                                                      "tokenizer.json", "tokenizer_config.json"]
    loaded = GLiNER.from_pretrained(tmp_path / "ckpt")
    inputs = _inputs(tiny_model)
    with torch.no_grad():
        assert torch.equal(tiny_model(**inputs)[0], loaded(**inputs)[0])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left behind


def test_reference_style_pytorch_model_bin_loads(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "ckpt")
    torch.save(tiny_model.model.state_dict(), tmp_path / "ckpt" / "pytorch_model.bin")
    (tmp_path / "ckpt" / "model.safetensors").unlink()
    loaded = GLiNER.from_pretrained(tmp_path / "ckpt")
    with torch.no_grad():
        assert torch.equal(tiny_model(**_inputs(tiny_model))[0], loaded(**_inputs(tiny_model))[0])


def test_failed_save_leaves_the_old_checkpoint_intact(tiny_model, tmp_path, monkeypatch):
    tiny_model.save_pretrained(tmp_path / "ckpt")
    before = {p.name: p.read_bytes() for p in (tmp_path / "ckpt").iterdir()}
    monkeypatch.setattr(tiny_model.tokenizer, "save_pretrained", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        tiny_model.save_pretrained(tmp_path / "ckpt")
    assert {p.name: p.read_bytes() for p in (tmp_path / "ckpt").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def _inputs(model):
    from gliner.processing import encode

    words = [[w for w, _, _ in split_words(t)] for t in TEXTS]
    return encode(model.tokenizer, words, [LABELS] * len(words), model.config.ent_token, model.config.sep_token)


# ------------------------------------------------------------------------------------ bad checkpoints
@pytest.fixture
def saved(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "ckpt")
    return tmp_path / "ckpt"


def test_missing_config_is_named(saved):
    (saved / "gliner_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="gliner_config.json"):
        GLiNER.from_pretrained(saved)


def test_corrupt_config_is_named_with_line(saved):
    (saved / "gliner_config.json").write_text('{\n  "max_width": 12,\n  oops\n}')
    with pytest.raises(ValueError, match=r"gliner_config.json:3"):
        GLiNER.from_pretrained(saved)


def test_missing_weights_are_named(saved):
    (saved / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors or pytorch_model.bin"):
        GLiNER.from_pretrained(saved)


def test_truncated_weights_are_named(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="model.safetensors: unreadable or corrupt"):
        GLiNER.from_pretrained(saved)


def test_weights_that_do_not_fit_the_config_are_named(saved):
    config = json.loads((saved / "gliner_config.json").read_text())
    config["hidden_size"] = 64
    (saved / "gliner_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="model.safetensors: .* has shape"):
        GLiNER.from_pretrained(saved)


def test_hub_id_offline_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OSError, match="could not be downloaded from the Hugging Face hub"):
        GLiNER.from_pretrained("urchade/gliner_small-v2.1")


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(labels=[]), ValueError, "empty"),
    (dict(labels="person"), TypeError, "list of strings"),
    (dict(labels=["person", 3]), TypeError, r"labels\[1\]"),
    (dict(labels=["person", " "]), ValueError, r"labels\[1\]"),
    (dict(labels=["person", "city", "person"]), ValueError, "duplicate label 'person'"),
    (dict(threshold=0.0), ValueError, "threshold"),
    (dict(threshold=1.5), ValueError, "threshold"),
    (dict(texts=["ok", None]), TypeError, r"texts\[1\]"),
    (dict(texts="a string"), TypeError, "texts must be a list"),
])
def test_bad_input_is_refused(tiny_model, kwargs, error, match):
    call = dict(texts=["Obama visited Paris."], labels=["person"], threshold=0.5) | kwargs
    with pytest.raises(error, match=match):
        tiny_model.batch_predict_entities(**call)


def test_empty_text_gives_no_entities(tiny_model):
    assert tiny_model.batch_predict_entities(["", "   "], ["person"]) == [[], []]


# ------------------------------------------------------------------------------------ long texts, many labels
def test_plan_windows_cover_every_span_once():
    windows = plan_windows([1] * 1000, max_words=100, max_tokens=10**6, max_width=12)
    assert windows[0].start == 0 and windows[-1].end == 1000
    for w in windows:
        assert w.end - w.start <= 100 and w.own_start >= w.start
    for w in windows[:-1]:
        assert w.own_end - 1 + 12 - 1 < w.end  # the widest span starting in the own range fits here
    assert [w.own_start for w in windows[1:]] == [w.own_end for w in windows[:-1]]


def test_long_document_entity_at_word_2000_found_once(echo_model):
    echo_model.config.max_len = 384
    words = ["the", "quiet", "river", "runs", "past", "old", "stone", "mills"] * 300  # 2,400 words
    for position in [0, 2000, 2399] + list(range(5, 2400, 97)):  # many land near window borders
        words[position] = "volcano"
    text = " ".join(words)
    entities = echo_model.predict_entities(text, ["volcano", "person"])
    starts = [len(" ".join(words[:p])) + (p > 0) for p, w in enumerate(words) if w == "volcano"]
    assert [e["start"] for e in entities] == starts  # each exactly once, in order, no duplicates
    assert all(e["text"] == "volcano" and e["end"] == e["start"] + 7 for e in entities)
    assert max(tokens for _, tokens in echo_model.model.calls) <= 512 and len(echo_model.model.calls) > 6


def test_long_words_shrink_windows_to_fit_the_encoder(echo_model):
    words = ["x" * 30 + str(i) for i in range(300)]  # ~ 10 sub-tokens a word: 384 words would not fit
    words[250] = "volcano"
    entities = echo_model.predict_entities(" ".join(words), ["volcano"])
    assert [e["text"] for e in entities] == ["volcano"]
    assert max(tokens for _, tokens in echo_model.model.calls) <= 512


def test_more_labels_than_max_types_are_grouped_not_dropped(echo_model):
    echo_model.config.max_types = 2
    labels = ["apple", "river", "music", "house", "green"]
    text = "green house music river apple"
    entities = echo_model.predict_entities(text, labels)
    assert [(e["text"], e["label"]) for e in entities] == [(w, w) for w in text.split()]


def test_tokenless_word_does_not_shift_later_words(echo_model):
    """U+200B is a word for the splitter but has no sub-token; words after it keep their own vectors
    (the reference shifts them one slot left and reports wrong offsets)."""
    text = "Berlin\u200b volcano river"
    entities = echo_model.predict_entities(text, ["volcano", "river"])
    assert [(e["text"], e["start"], e["label"]) for e in entities] == [("volcano", 8, "volcano"), ("river", 16, "river")]


@pytest.mark.parametrize("tail", ["\u200b", "\u200d", "\ufeff", "\u00ad", "\u0301"])
def test_a_last_word_without_sub_token_does_not_fail_the_batch(echo_model, tail):
    """Nothing was truncated: a final word with no sub-token (zero-width characters, a soft hyphen,
    a lone combining accent) gets a zero vector, and the other texts of the batch are unaffected."""
    texts = [f"volcano river {tail}", "river volcano"]
    got = echo_model.batch_predict_entities(texts, ["volcano", "river"])
    assert [[e["text"] for e in row] for row in got] == [["volcano", "river"], ["river", "volcano"]]


def test_a_word_longer_than_the_window_is_read_alone(echo_model):
    """A single 'word' past the encoder's token budget (unspaced Han text, a long URL) gets a window
    of its own, read from its first sub-tokens; the words around it are still found."""
    text = "volcano " + "\u6f22" * 2000 + " river " + "https://example.org/" + "-".join(["segment"] * 400) + " volcano"
    entities = echo_model.predict_entities(text, ["volcano", "river"])
    assert [(e["text"], e["label"]) for e in entities] == [("volcano", "volcano"), ("river", "river"), ("volcano", "volcano")]
    assert max(tokens for _, tokens in echo_model.model.calls) <= 512
    assert plan_windows([3, 600, 2], max_words=10, max_tokens=500, max_width=12)[1].start == 1


def test_training_batch_with_a_tokenless_word_and_real_truncation(tiny_model):
    from gliner.processing import encode

    cfg = tiny_model.config
    batch = encode(tiny_model.tokenizer, [["Berlin", "is", "big", "\u200b"]], [["city"]], cfg.ent_token, cfg.sep_token)
    assert batch["words_mask"].max() == 3 and batch["text_lengths"].tolist() == [4]
    with pytest.raises(ValueError, match="row 0: the tokenizer truncated the input at word"):
        encode(tiny_model.tokenizer, [["word"] * 2000], [["city"]], cfg.ent_token, cfg.sep_token)


def test_reference_argument_order_and_inference_alias(tiny_model):
    """(text, labels, flat_ner, threshold, multi_label) positionally, as in the reference."""
    expected = tiny_model.batch_predict_entities(TEXTS[:2], LABELS, flat_ner=False, threshold=0.3)
    assert tiny_model.batch_predict_entities(TEXTS[:2], LABELS, False, 0.3) == expected
    assert tiny_model.inference(TEXTS[:2], LABELS, False, 0.3) == expected
    for got in (tiny_model.inference(TEXTS[0], LABELS, False, 0.3)[0], tiny_model.predict_entities(TEXTS[0], LABELS, False, 0.3)):
        assert [(e["start"], e["end"], e["label"]) for e in got] == [(e["start"], e["end"], e["label"]) for e in expected[0]]
        assert all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(got, expected[0]))
