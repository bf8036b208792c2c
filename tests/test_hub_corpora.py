"""The `hub` data stage (converters.prepare_hub_corpora): the paper's corpora from local release files
(tests/fixtures/paper_smoke, laid out as `prepare.hub.local_dir` expects), and failing at the start,
naming the dataset and `prepare.hub.local_dir`, when the hub cannot be reached."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gliner.corpora import converters
from gliner.data import load_jsonl, load_label_map

SMOKE = Path(__file__).parent / "fixtures" / "paper_smoke"
DOMAINS = ("ai", "literature", "music", "politics", "science")


@pytest.fixture
def hub_calls(monkeypatch):
    """`datasets.load_dataset` replaced by one that records its call and fails as an offline machine does."""
    datasets = pytest.importorskip("datasets")
    calls = []

    def offline(*args, **kwargs):
        calls.append(args)
        raise ConnectionError("Couldn't reach 'huggingface.co' (offline)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    return calls


def prepare(out, **kw):
    kw.setdefault("local_dir", SMOKE)
    return converters.prepare_hub_corpora(out, **kw)


def test_local_copies_give_every_corpus_with_labels_stats_and_manifest(tmp_path, hub_calls):
    out = tmp_path / "out"
    paths = prepare(out, multiconer_dir=SMOKE / "multiconer", multiconer_langs=["en"])
    assert hub_calls == []  # with local_dir, nothing touches the hub
    corpora = ["train_pile_ner", *(f"crossner_{d}" for d in DOMAINS), "mit_movie", "mit_restaurant", "multiconer_en"]
    assert list(paths) == [*corpora, "stats", "manifest"]
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(p).name for p in paths.values())  # no temporary left
    sets = {name: load_jsonl(paths[name]) for name in corpora}
    assert len(sets["train_pile_ner"]) == 60 and sum(not e["ner"] for e in sets["train_pile_ner"]) == 5
    assert sets["train_pile_ner"][0] == {"tokenized_text": ["Tim", "Cook", "became", "chief", "executive", "of", "Apple",
                                                            "in", "2011", "."],
                                         "ner": [[0, 1, "person"], [6, 6, "company"], [8, 8, "date"]],
                                         "silver": True, "source": "pile-ner"}  # labelled by a language model
    for name in corpora[1:]:
        assert sets[name] and all(e["labels"] and e["split"] == "test" and e["source"] == name for e in sets[name])
    assert sets["mit_restaurant"][1]["ner"] == [[1, 2, "restaurant name"], [4, 6, "hours"]]
    assert sets["crossner_ai"][4]["ner"] == [[5, 5, "program language"], [8, 8, "product"]]

    stats = json.loads(Path(paths["stats"]).read_text())
    assert list(stats) == corpora
    assert all(stats[n]["examples"] == len(sets[n]) for n in corpora)
    assert stats["crossner_ai"]["entities_per_type"]["metrics"] == 3
    manifest = json.loads(Path(paths["manifest"]).read_text())
    assert manifest["corpora"]["train_pile_ner"]["source"] == str(SMOKE / "pile-ner.json")
    assert manifest["corpora"]["mit_movie"] == {
        "source": str(SMOKE / "mit" / "movie.bio"), "examples": 8,
        "source_sha256": hashlib.sha256((SMOKE / "mit" / "movie.bio").read_bytes()).hexdigest()}
    assert manifest["files"] == {k: hashlib.sha256(Path(p).read_bytes()).hexdigest()
                                 for k, p in paths.items() if k != "manifest"}


def test_labels_are_the_papers_natural_language_names(tmp_path, hub_calls):
    paths = prepare(tmp_path / "out")
    crossner, mit = load_label_map("crossner"), load_label_map("mit")["corpora"]
    for domain in DOMAINS:
        examples = load_jsonl(paths[f"crossner_{domain}"])
        assert all(e["labels"] == crossner["domains"][domain] for e in examples)
        used = {s[2] for e in examples for s in e["ner"]}
        assert used <= set(crossner["tags"].values()) and not used & set(crossner["tags"]) - set(crossner["tags"].values())
    assert "program language" in load_jsonl(paths["crossner_ai"])[0]["labels"]
    assert "else" in load_jsonl(paths["crossner_music"])[0]["labels"]  # CrossNER's misc, as the evaluation prompts it
    movie, restaurant = load_jsonl(paths["mit_movie"]), load_jsonl(paths["mit_restaurant"])
    assert movie[0]["labels"] == list(mit["movie"]["tags"].values())
    assert {"average ratings", "character", "trailer"} <= {s[2] for e in movie for s in e["ner"]}
    assert {"restaurant name", "cuisine", "amenity"} <= {s[2] for e in restaurant for s in e["ner"]}
    for examples in (movie, restaurant, *(load_jsonl(paths[f"crossner_{d}"]) for d in DOMAINS)):
        assert all(label == label.lower() and "_" not in label for e in examples for label in e["labels"])


def test_offline_fails_at_the_start_naming_the_dataset_and_local_dir(tmp_path, hub_calls):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError) as err:
        prepare(out, local_dir=None, mit=["restaurant"])
    message = str(err.value)
    assert message.startswith("prepare.hub.local_dir: could not load urchade/pile-mistral-v0.1 from the Hugging Face hub")
    assert "ConnectionError" in message and "set `prepare.hub.local_dir` to a folder laid out as" in message
    assert "<local_dir>/crossner/<domain>/<split>.txt" in message
    assert [c[0] for c in hub_calls] == ["urchade/pile-mistral-v0.1"]  # the training corpus first, then nothing else
    assert not out.exists()
    with pytest.raises(RuntimeError, match="could not load Universal-NER/Pile-NER-type from"):
        prepare(out, local_dir=None, train="Universal-NER/Pile-NER-type", mit=())


def test_offline_for_real_without_the_patch(tmp_path):
    pytest.importorskip("datasets")
    code = ("from gliner.corpora.converters import prepare_hub_corpora\n"
            f"try:\n    prepare_hub_corpora({str(tmp_path / 'out')!r}, mit=['restaurant'])\n"
            "except RuntimeError as e:\n    print(e)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.stdout.startswith("prepare.hub.local_dir: could not load urchade/pile-mistral-v0.1 from the Hugging Face hub")
    assert "set `prepare.hub.local_dir`" in run.stdout
    assert not (tmp_path / "out").exists()


def test_mit_movie_without_local_dir_fails_before_any_load(tmp_path, hub_calls):
    with pytest.raises(ValueError, match=r"^prepare\.hub\.mit: MIT movie is not on the Hugging Face hub .*"
                                         r"set `prepare\.hub\.local_dir` to a folder holding mit/movie\.bio"):
        prepare(tmp_path / "out", local_dir=None, mit=["movie"])
    with pytest.raises(ValueError, match=r"^prepare\.hub\.mit: MIT movie"):  # the defaults include it
        converters.prepare_hub_corpora(tmp_path / "out")
    assert hub_calls == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("kw, message", [
    ({"crossner": "ai"}, r"prepare\.hub\.crossner: must be a list of distinct names, got 'ai'"),
    ({"crossner": ["ai", "sports"]}, r"prepare\.hub\.crossner: unknown corpus 'sports' \(known: ai, literature"),
    ({"mit": ["cinema"]}, r"prepare\.hub\.mit: unknown corpus 'cinema' \(known: "),
    ({"max_train_examples": 0}, r"prepare\.hub\.max_train_examples: must be a positive integer or null, got 0"),
    ({"max_train_examples": True}, r"prepare\.hub\.max_train_examples: must be a positive integer"),
    ({"train": 3}, r"prepare\.hub\.train: must be a hub id, got 3"),
    ({"multiconer_dir": SMOKE / "multiconer"}, r"prepare\.hub\.multiconer_langs: name the languages"),
    ({"multiconer_dir": SMOKE / "nowhere", "multiconer_langs": ["en"]}, r"prepare\.hub\.multiconer_dir: .*nowhere: not a dir"),
    ({"multiconer_dir": SMOKE / "multiconer", "multiconer_langs": ["fr"]},
     r"prepare\.hub\.multiconer_dir: expected one fr_test\.conll under"),
    ({"local_dir": SMOKE / "nowhere"}, r"prepare\.hub\.local_dir: .*nowhere: not a directory"),
    ({"split": "dev"}, r"prepare\.hub\.local_dir: .*crossner/ai/dev\.txt: no such file"),
])
def test_bad_params_fail_naming_the_key_before_any_load(tmp_path, hub_calls, kw, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        prepare(tmp_path / "out", **kw)
    assert hub_calls == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("file, number, line, place, message", [
    ("crossner/music/test.txt", 4, "Radiohead", ":4: columns:", "need a word and a tag, got 'Radiohead'"),
    ("mit/restaurant.bio", 2, "B-Prize\tfind", ":1: tag 1:", "type 'Prize' is not in the label map"),  # its sentence's line
    ("pile-ner.json", 3, '{"tokenized_text": ["a"], "ner": [[0, 0, "x"]]}}', ":3:", "not valid JSON"),
    ("pile-ner.json", 3, '{"tokenized_text": ["a"], "ner": [[0, 1, "x"]]},', ":[1]: ner[0]:", "out of range for 1 words"),
])
def test_a_bad_line_fails_naming_file_and_line_and_writes_nothing(tmp_path, hub_calls, file, number, line, place, message):
    local = tmp_path / "local"
    shutil.copytree(SMOKE, local)
    lines = (local / file).read_text(encoding="utf-8").split("\n")
    lines[number - 1] = line
    (local / file).write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.json").write_text("old")
    with pytest.raises(ValueError) as err:
        prepare(out, local_dir=local)
    assert str(err.value).startswith(f"prepare.hub.local_dir: {local / file}{place}")
    assert message in str(err.value)
    assert [p.name for p in out.iterdir()] == ["stats.json"] and (out / "stats.json").read_text() == "old"


def test_max_train_examples_keeps_the_first_n(tmp_path, hub_calls):
    full = load_jsonl(prepare(tmp_path / "all", crossner=(), mit=())["train_pile_ner"])
    paths = prepare(tmp_path / "some", max_train_examples=7, crossner=["politics"], mit=["restaurant"],
                    multiconer_langs=[])  # no languages: no MultiCoNER
    assert load_jsonl(paths["train_pile_ner"]) == full[:7]
    assert list(paths) == ["train_pile_ner", "crossner_politics", "mit_restaurant", "stats", "manifest"]
    assert json.loads(Path(paths["stats"]).read_text())["train_pile_ner"]["examples"] == 7
    assert json.loads(Path(paths["manifest"]).read_text())["params"]["max_train_examples"] == 7


def test_multiconer_comes_from_local_dir_or_from_the_hub_repo_of_its_release_files(tmp_path, hub_calls, monkeypatch):
    import huggingface_hub

    local = prepare(tmp_path / "local", crossner=(), mit=(), multiconer_langs=["en"])  # <local_dir>/multiconer
    snapshots = []

    def snapshot(**kwargs):
        snapshots.append(kwargs)
        return str(SMOKE / "multiconer")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    hub = converters.prepare_hub_corpora(tmp_path / "hub", train=str(SMOKE / "pile-ner.json"), crossner=(), mit=(),
                                         multiconer_langs=["en"])
    assert snapshots == [{"repo_id": "tomaarsen/MultiCoNER", "repo_type": "dataset", "allow_patterns": ["*/en_test.conll"]}]
    assert load_jsonl(hub["multiconer_en"]) == load_jsonl(local["multiconer_en"]) and hub_calls == []

    def offline(**kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(RuntimeError, match=r"prepare\.hub\.local_dir: could not load MultiCoNER en \(tomaarsen/MultiCoNER\)"):
        converters.prepare_hub_corpora(tmp_path / "off", train=str(SMOKE / "pile-ner.json"), crossner=(), mit=(),
                                       multiconer_langs=["en"])
    assert not (tmp_path / "off").exists()
