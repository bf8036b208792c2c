"""Converters from the paper's corpora to the span format (see data.py).

Corpora that the Hugging Face hub holds are loaded through `datasets.load_dataset`; without a
network (or a local cache) that fails, and the error says so and names the local alternative:
every loader also reads the corpus's own files from disk.
"""

from __future__ import annotations

import ast
import json
import os
from functools import partial
from pathlib import Path

from ..data import (corpus_stats, fail, load_jsonl, load_label_map, read_conll, read_json, tags_to_spans, text_lines,
                    validate_example, write_corpus_files)
from ..processing import split_words
from .fetch import sha256


def _hub(hub_id: str, config: str | None, split: str, local_hint: str):
    """`datasets.load_dataset`, with an error that says plainly what to do when it cannot load."""
    name = f"{hub_id}{'/' + config if config else ''} (split {split!r})"
    try:
        import datasets
    except ImportError as e:
        raise ImportError(f"loading {name} from the hub needs `pip install datasets`; or {local_hint}") from e
    try:
        return datasets.load_dataset(hub_id, config, split=split)
    except Exception as e:  # connection errors surface as many different types across versions
        raise RuntimeError(
            f"could not load {name} with datasets.load_dataset ({type(e).__name__}: {e}). Without "
            f"network access to the Hugging Face hub, either copy a datasets cache that holds it and set "
            f"HF_DATASETS_OFFLINE=1, or {local_hint}") from e


def _hub_files(repo_id: str, patterns: list[str]) -> Path:
    """A hub dataset repo's files matching `patterns` (corpora kept there in their release formats)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=repo_id, repo_type="dataset", allow_patterns=patterns))
    except Exception as e:  # offline, gated, unknown id: errors differ across huggingface_hub versions
        raise RuntimeError(f"could not download {patterns} from the hub dataset {repo_id} "
                           f"({type(e).__name__}: {e})") from e


def from_hf_dataset(ds, label_map: dict | None = None, scheme: str = "BIO", tag_names=None,
                    tags_column: str | None = None, where: str = "", **fields) -> list[dict]:
    """Rows with `tokens` and integer tags (`ner_tags`, or `tags` as tner's corpora) to spans.

    Tag ids are named by the column's `ClassLabel` names, or by `tag_names` when the column is a
    plain integer sequence (tner's datasets keep the names in a separate label.json). Errors name
    the row as '<where> row <i>: field: ...'.
    """
    rows = list(ds)
    columns = set(rows[0]) if rows else set()
    tags_column = tags_column or next((c for c in ("ner_tags", "tags") if c in columns), None)
    if rows and (tags_column is None or "tokens" not in columns):
        raise ValueError(f"rows need 'tokens' and 'ner_tags' (or 'tags') columns, got {sorted(columns)}")
    if tag_names is None:
        feature = getattr(getattr(ds, "features", {}).get(tags_column), "feature", None)
        tag_names = getattr(feature, "names", None)
        if tag_names is None:
            raise ValueError(f"column {tags_column!r} has no ClassLabel names: pass tag_names=")
    examples = []
    for i, row in enumerate(rows):
        here = f"{where} row {i}".strip()
        ids = row[tags_column]
        if len(ids) != len(row["tokens"]):
            fail(here, tags_column, f"{len(ids)} tags for {len(row['tokens'])} tokens")
        bad = [t for t in ids if not 0 <= t < len(tag_names)]
        if bad:
            fail(here, tags_column, f"tag id {bad[0]} has no name ({len(tag_names)} names)")
        spans = tags_to_spans([tag_names[t] for t in ids], scheme, label_map, here)
        examples.append(validate_example({"tokenized_text": list(row["tokens"]), "ner": spans, **fields}, here))
    return examples


# ----------------------------------------------------------------------------------- Pile-NER

_QUESTION, _QUESTION_END = "What describes ", " in the text?"


def pile_conversation_to_example(row: dict, where: str = "") -> dict:
    """One `Universal-NER/Pile-NER-type` conversation to spans, as the reference prepared it.

    The passage follows 'Text: '; each 'What describes <type> in the text?' is answered by a JSON
    list of strings. Every case-insensitive, word-aligned occurrence of an answer in the passage
    becomes a span of that type (duplicates merged); types answered with [] become `negatives`.
    """
    turns = row.get("conversations") if isinstance(row, dict) else None
    if not isinstance(turns, list) or not turns:
        fail(where, "conversations", "missing or not a list of turns")
    text, words, spans, negatives, asked = None, [], set(), [], None
    for t, turn in enumerate(turns):
        value, speaker = turn.get("value"), turn.get("from")
        if not isinstance(value, str):
            fail(where, f"conversations[{t}].value", "must be a string")
        if speaker == "human" and value.startswith("Text: ") and text is None:
            text = value[len("Text: "):]
            words = split_words(text)
        elif speaker == "human" and value.startswith(_QUESTION) and value.endswith(_QUESTION_END):
            asked = value[len(_QUESTION):-len(_QUESTION_END)].strip()
        elif speaker == "gpt" and asked is not None:
            try:  # the reference reads answers as Python literals: JSON lists and 'single-quoted' ones
                answers = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                fail(where, f"conversations[{t}].value", f"answer is not a list: {value[:60]!r}")
            if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
                fail(where, f"conversations[{t}].value", "answer must be a list of strings")
            if not answers and asked not in negatives:
                negatives.append(asked)
            lowered = [w.lower() for w, _, _ in words]
            for answer in answers:
                target = [w.lower() for w, _, _ in split_words(answer)]
                for i in range(len(words) - len(target) + 1) if target else ():
                    if lowered[i:i + len(target)] == target:
                        spans.add((i, i + len(target) - 1, asked))
            asked = None
    if text is None:
        fail(where, "conversations", "no human turn starting with 'Text: '")
    return validate_example({
        "tokenized_text": [w for w, _, _ in words], "ner": [list(s) for s in sorted(spans)],
        "negatives": negatives, "text": text, "offsets": [[s, e] for _, s, e in words],
        "source": "pile-ner-type"}, where)


def _json_line(path, number: int, line: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        fail(f"{path}:{number}", "json", f"not valid JSON ({e.msg} at column {e.colno})")


def load_pile_ner(path_or_hub_id: str = "urchade/pile-mistral-v0.1", limit: int | None = None) -> list[dict]:
    """Pile-NER from a local .json (a list) or .jsonl file, or from the hub.

    Rows that already are spans (`urchade/pile-mistral-v0.1`) load as they are; conversation rows
    (`Universal-NER/Pile-NER-type`) are converted by `pile_conversation_to_example`.
    """
    path = Path(path_or_hub_id)
    if path.exists():
        lines = list(text_lines(path))
        if lines and lines[0][1].lstrip().startswith("["):
            rows = [(f"{path}:[{i}]", r) for i, r in enumerate(read_json(path, list)[:limit])]
        elif lines and "conversations" in lines[0][1]:
            rows = [(f"{path}:{number}", _json_line(path, number, line)) for number, line in lines[:limit]]
        else:
            return load_jsonl(path)[:limit]
    else:
        split = "train" if limit is None else f"train[:{limit}]"
        ds = _hub(path_or_hub_id, None, split, "download the corpus's train.json and pass its path")
        rows = [(f"{path_or_hub_id}: row {i}", r) for i, r in enumerate(ds)]
    return [pile_conversation_to_example(r, where) if "conversations" in r else validate_example(r, where)
            for where, r in rows]


# ----------------------------------------------------------------------------------- Table 1 benchmark

def load_crossner(domain: str, split: str = "test", local_dir=None) -> list[dict]:
    """CrossNER (ai, literature, music, politics, science), with the labels the evaluation prompts.

    `local_dir` is the original release's `ner_data/` folder: `<domain>/{train,dev,test}.txt`,
    one 'word<TAB>BIO-tag' a line.
    """
    spec = load_label_map("crossner")
    if domain not in spec["domains"]:
        raise ValueError(f"unknown CrossNER domain {domain!r} (known: {', '.join(spec['domains'])})")
    fields = {"labels": spec["domains"][domain], "source": f"crossner_{domain}", "split": split, "lang": "en"}
    if local_dir is not None:
        name = {"validation": "dev"}.get(split, split)
        return read_conll(Path(local_dir) / domain / f"{name}.txt", "BIO", spec["tags"], **fields)
    return _from_tner(spec, domain, split, "pass local_dir= the CrossNER release's ner_data/ folder", fields)


def load_mit(name: str, split: str = "test", local_path=None) -> list[dict]:
    """MIT restaurant / movie (engtest.bio) / movie_trivia, with natural-language labels.

    `local_path` is an original .bio file ('B-Actor<TAB>steve': the tag comes first). The paper's
    'MIT Movie' is the `movie` corpus, which the hub does not hold under tner (only the trivia one).
    """
    corpora = load_label_map("mit")["corpora"]
    if name not in corpora:
        raise ValueError(f"unknown MIT corpus {name!r} (known: {', '.join(corpora)})")
    spec = corpora[name]
    fields = {"labels": list(dict.fromkeys(spec["tags"].values())), "source": f"mit_{name}",
              "split": split, "lang": "en"}
    if local_path is not None:
        return read_conll(local_path, "BIO", spec["tags"], token_col=1, tag_col=0, **fields)
    if spec["hub_id"] is None:
        raise ValueError(f"MIT {name} is not on the hub: pass local_path= its .bio file")
    return _from_tner(spec, None, split, "pass local_path= the corpus's original .bio file", fields)


def _from_tner(spec: dict, config: str | None, split: str, local_hint: str, fields: dict) -> list[dict]:
    """A tner-style hub corpus (BIO tag ids, named by the label map's `tag_names`), split 'dev' read as 'validation'."""
    hf_split = {"dev": "validation"}.get(split, split)
    ds = _hub(spec["hub_id"], config, hf_split, local_hint)
    return from_hf_dataset(ds, spec["tags"], "BIO", tag_names=spec["tag_names"],
                           where=f"{spec['hub_id']}{'/' + config if config else ''} {hf_split}", **fields)


def load_multiconer(data_dir, lang: str, split: str = "test") -> list[dict]:
    """MultiCoNER (I or II) from its CoNLL files: `<lang>_<split>.conll` anywhere under `data_dir`.

    Lines are 'word _ _ TAG' after a '# id ...' line. The label list is the coarse type set (I) when
    every tag of the file is a coarse one, else the fine set (II); a tag in neither is an error.
    """
    matches = sorted(Path(data_dir).rglob(f"{lang.lower()}_{split}.conll"))
    if len(matches) != 1:
        raise FileNotFoundError(f"expected one {lang.lower()}_{split}.conll under {data_dir}, found {len(matches)}")
    spec = load_label_map("multiconer")
    examples = read_conll(matches[0], "BIO", {**spec["coarse"], **spec["fine"]}, comment_prefixes=("# id ", "-DOCSTART-"),
                          source=f"multiconer_{lang.lower()}", split=split, lang=lang.lower())
    coarse = list(spec["coarse"].values())
    labels = coarse if {s[2] for e in examples for s in e["ner"]} <= set(coarse) else list(spec["fine"].values())
    return [{**e, "labels": labels} for e in examples]  # every type is in the set chosen: still valid


# ----------------------------------------------------------------------------------- the `hub` data stage

_LAYOUT = "<local_dir>/pile-ner.json, <local_dir>/crossner/<domain>/<split>.txt, <local_dir>/mit/<name>.bio"


def _load(where: str, key: str, what: str, load):
    """load(); its error prefixed by the params key, and a hub failure told how to use local copies instead."""
    try:
        return load()
    except (RuntimeError, ImportError) as e:  # _hub: no network, no datasets cache, or no `datasets`
        cause = e.__cause__ or e
        raise RuntimeError(f"{where}.local_dir: could not load {what} from the Hugging Face hub "
                           f"({type(cause).__name__}: {cause}). Without a network, set `{where}.local_dir` to a "
                           f"folder laid out as {_LAYOUT} (see gliner.corpora.converters.prepare_hub_corpora)") from e
    except ValueError as e:
        raise ValueError(f"{where}.{key}: {e}") from e


def prepare_hub_corpora(out_dir, train="urchade/pile-mistral-v0.1", local_dir=None, max_train_examples=None,
                        crossner=("ai", "literature", "music", "politics", "science"), mit=("movie", "restaurant"),
                        multiconer_dir=None, multiconer_langs=(), multiconer_hub="tomaarsen/MultiCoNER", split="test",
                        where="prepare.hub") -> dict:
    """The paper's own corpora in the span format, so that training and Table 1 / Table 3 run on what it reports.

    Pile-NER (`train`, a hub id) is loaded first, so an offline machine fails at once; then the CrossNER
    domains and MIT corpora (split `split`), and MultiCoNER's `multiconer_langs` (none: no Table 3) from its
    release files `<LANG-Name>/<lang>_<split>.conll`: in `multiconer_dir`, else `<local_dir>/multiconer`,
    else the hub dataset repo that holds them (`multiconer_hub`; MultiCoNER I, the paper's Table 3, is
    tomaarsen/MultiCoNER). Everything is written together at the end. With `local_dir`, nothing touches
    the hub; it holds the corpora's release files:

        <local_dir>/pile-ner.json                  the hub repo's train.json: a JSON list of span rows
                                                   (or Universal-NER/Pile-NER-type conversation rows)
        <local_dir>/crossner/<domain>/<split>.txt  CrossNER's ner_data/ ('word<TAB>BIO-tag'; dev, not validation)
        <local_dir>/mit/<name>.bio                 MIT's .bio file of the split ('B-Actor<TAB>steve', tag first),
                                                   e.g. engtest.bio for movie, restauranttest.bio for restaurant
        <local_dir>/multiconer/<LANG-Name>/<lang>_<split>.conll   MultiCoNER's release files
    """
    def need(ok, key, msg):
        if not ok:
            raise ValueError(f"{where}.{key}: {msg}")

    is_path = lambda v: isinstance(v, (str, os.PathLike)) and str(v).strip() != ""
    need(is_path(out_dir), "out_dir", f"must be a path, got {out_dir!r}")
    need(isinstance(train, str) and train.strip(), "train", f"must be a hub id, got {train!r}")
    need(local_dir is None or is_path(local_dir), "local_dir", f"must be a path or null, got {local_dir!r}")
    need(max_train_examples is None or type(max_train_examples) is int and max_train_examples > 0,
         "max_train_examples", f"must be a positive integer or null, got {max_train_examples!r}")
    need(isinstance(split, str) and split.strip(), "split", f"must be a split name, got {split!r}")
    crossner_hub, domains = load_label_map("crossner")["hub_id"], load_label_map("crossner")["domains"]
    corpora = load_label_map("mit")["corpora"]
    for key, names, known in (("crossner", crossner, domains), ("mit", mit, corpora),
                              ("multiconer_langs", multiconer_langs, None)):
        need(isinstance(names, (list, tuple)) and all(isinstance(n, str) and n for n in names)
             and len(set(names)) == len(names), key, f"must be a list of distinct names, got {names!r}")
        for n in names:
            need(known is None or n in known, key, f"unknown corpus {n!r} (known: {', '.join(known or ())})")
    for n in mit:
        need(local_dir is not None or corpora[n]["hub_id"], "mit", f"MIT {n} is not on the Hugging Face hub under "
             f"the reference's ids: set `{where}.local_dir` to a folder holding mit/{n}.bio, the release's .bio "
             f"file of the split (layout: {_LAYOUT}), or drop {n} from `{where}.mit`")
    need(multiconer_dir is None or is_path(multiconer_dir) and Path(multiconer_dir).is_dir(), "multiconer_dir",
         f"{multiconer_dir}: not a directory (MultiCoNER's own release folder)")
    need(multiconer_dir is None or multiconer_langs, "multiconer_langs", "name the languages to read (e.g. [en])")
    need(isinstance(multiconer_hub, str) and multiconer_hub.strip(), "multiconer_hub",
         f"must be a hub dataset id, got {multiconer_hub!r}")
    langs = multiconer_langs
    if multiconer_dir is None and local_dir is not None and langs:
        multiconer_dir = Path(local_dir) / "multiconer"

    root = None if local_dir is None else Path(local_dir)
    local = {}  # corpus -> the local file it is read from
    if root is not None:
        need(root.is_dir(), "local_dir", f"{root}: not a directory (lay it out as {_LAYOUT})")
        local["train_pile_ner"] = root / "pile-ner.json"
        name = "dev" if split == "validation" else split
        local.update({f"crossner_{d}": root / "crossner" / d / f"{name}.txt" for d in crossner})
        local.update({f"mit_{n}": root / "mit" / f"{n}.bio" for n in mit})
        missing = [p for p in local.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{where}.local_dir: {missing[0]}: no such file (lay {root} out as {_LAYOUT})")
    for lang in langs if multiconer_dir is not None else ():
        found = sorted(Path(multiconer_dir).rglob(f"{lang.lower()}_{split}.conll"))
        need(len(found) == 1, "multiconer_dir",
             f"expected one {lang.lower()}_{split}.conll under {multiconer_dir}, found {len(found)}")
        local[f"multiconer_{lang.lower()}"] = found[0]

    # corpus -> (the params key its errors name, what it is, its loader); the training corpus first
    key = lambda name: name if root is None else "local_dir"
    jobs = {"train_pile_ner": (key("train"), train, partial(load_pile_ner, str(local.get("train_pile_ner", train)),
                                                            max_train_examples))}
    jobs.update({f"crossner_{d}": (key("crossner"), f"CrossNER {d} ({crossner_hub}/{d})",
                                   partial(load_crossner, d, split, root and root / "crossner")) for d in crossner})
    jobs.update({f"mit_{n}": (key("mit"), f"MIT {n} ({corpora[n]['hub_id']})",
                              partial(load_mit, n, split, local.get(f"mit_{n}"))) for n in mit})
    fetched = {}  # without local files, MultiCoNER's release files come from the hub, one snapshot for all languages

    def multiconer(lang):
        if multiconer_dir is not None:
            return load_multiconer(multiconer_dir, lang, split)
        if "dir" not in fetched:
            fetched["dir"] = _hub_files(multiconer_hub, [f"*/{code.lower()}_{split}.conll" for code in langs])
        return load_multiconer(fetched["dir"], lang, split)

    source = "multiconer_dir" if multiconer_dir is not None else "multiconer_hub"
    jobs.update({f"multiconer_{lang.lower()}": (source, f"MultiCoNER {lang} ({multiconer_dir or multiconer_hub})",
                                                partial(multiconer, lang)) for lang in langs})
    sets = {name: _load(where, param, what, load) for name, (param, what, load) in jobs.items()}
    # Pile-NER's labels were written by a language model: silver, and marked so wherever it is shown
    sets["train_pile_ner"] = [{**row, "silver": True, "source": row.get("source", "pile-ner")} for row in sets["train_pile_ner"]]

    source = lambda name: ({"source": str(local[name]), "source_sha256": sha256(local[name].read_bytes())}
                           if name in local else {"source": jobs[name][1]})
    manifest = {
        "params": {"train": train, "local_dir": local_dir and str(local_dir), "max_train_examples": max_train_examples,
                   "crossner": list(crossner), "mit": list(mit), "multiconer_dir": multiconer_dir and str(multiconer_dir),
                   "multiconer_langs": list(langs), "multiconer_hub": multiconer_hub, "split": split},
        "corpora": {name: {**source(name), "examples": len(rows)} for name, rows in sets.items()}}
    stats = {name: corpus_stats(rows) for name, rows in sets.items()}
    return write_corpus_files(out_dir, sets, {"stats": stats}, manifest)
