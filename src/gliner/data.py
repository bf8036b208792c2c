"""The span format every corpus is converted to, its validator, and the readers and writers.

One example per JSONL line, the reference's training format:

    {"tokenized_text": ["John", "lives", "in", "Paris"], "ner": [[0, 0, "person"], [3, 3, "city"]]}

`ner` spans are word indices, end inclusive. Optional fields, checked when present:
`text` and `offsets` (the words' [start, end) character offsets into `text`), `lang`, `source`,
`split`, `id`, `silver` (true when the labels come from a model, not from people), `negatives`
(types known to be absent, as Pile-NER's empty answers), `masked` ([start, end] spans that training
leaves out of the loss: entities whose type no label names; [start, end, type] leaves out that type only) and `labels`. Evaluation sets carry their
label list, in natural language, in every line's `labels` (a line is then self-contained, and a
gold span whose type is not in it is an error). Unknown fields pass through untouched, so
released corpora such as `urchade/pile-mistral-v0.1` load as they are.

Every reader validates every example and names the place of the first bad one as
`file:line: field: what is wrong`; every writer validates first and then writes a temporary file
that it renames, so a failed write never leaves half a file behind.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

from .atomic import atomic_write, atomic_write_all, save_figure

MAX_WIDTH = 12  # K: the longest span, in words, that the model scores


# ----------------------------------------------------------------------------------- validation

def fail(where, field, msg):
    """Raise the ValueError every reader and validator raises: 'where: field: what is wrong'."""
    raise ValueError(f"{where}: {field}: {msg}" if where else f"{field}: {msg}")


def fail_at(path, line, msg):
    """The same for a raw-corpus file, whose lines have no fields: 'path:line: what is wrong'."""
    raise ValueError(f"{path}:{line}: {msg}")


def _check_str_list(values, where, field, distinct=False):
    if not isinstance(values, list):
        fail(where, field, f"must be a list of strings, got {type(values).__name__}")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            fail(where, f"{field}[{i}]", f"must be a string, got {type(value).__name__}")
        if not value.strip():
            fail(where, f"{field}[{i}]", "is empty")
    if distinct and len(set(values)) != len(values):
        dup = next(v for v, n in Counter(values).items() if n > 1)
        fail(where, field, f"{dup!r} is listed twice")


def validate_example(example, where: str = "") -> dict:
    """Check one example; raise ValueError('where: field: what is wrong') or return it unchanged."""
    if not isinstance(example, dict):
        fail(where, "example", f"must be a JSON object, got {type(example).__name__}")
    for field in ("tokenized_text", "ner"):
        if field not in example:
            fail(where, field, "missing")
    words = example["tokenized_text"]
    _check_str_list(words, where, "tokenized_text")
    spans = example["ner"]
    if not isinstance(spans, list):
        fail(where, "ner", f"must be a list of [start, end, type], got {type(spans).__name__}")
    for i, span in enumerate(spans):
        field = f"ner[{i}]"
        if not isinstance(span, (list, tuple)) or len(span) != 3:
            fail(where, field, f"must be [start, end, type], got {span!r}")
        start, end, label = span
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
            fail(where, field, f"start and end must be integers, got {span!r}")
        if not isinstance(label, str) or not label.strip():
            fail(where, field, f"type must be a non-empty string, got {label!r}")
        if end < start:
            fail(where, field, f"end {end} is before start {start}")
        if start < 0 or end >= len(words):
            fail(where, field, f"span [{start}, {end}] is out of range for {len(words)} words")
    for field in ("lang", "source", "split", "id"):
        if field in example and not isinstance(example[field], str):
            fail(where, field, f"must be a string, got {type(example[field]).__name__}")
    if "silver" in example and not isinstance(example["silver"], bool):
        fail(where, "silver", f"must be true or false, got {example['silver']!r}")
    if "negatives" in example:
        _check_str_list(example["negatives"], where, "negatives")
    if "masked" in example:
        if not isinstance(example["masked"], list):
            fail(where, "masked", f"must be a list of [start, end] or [start, end, type], got {type(example['masked']).__name__}")
        for i, span in enumerate(example["masked"]):
            if not (isinstance(span, list) and len(span) in (2, 3) and all(type(x) is int for x in span[:2])
                    and 0 <= span[0] <= span[1] < len(words) and (len(span) == 2 or (isinstance(span[2], str) and span[2]))):
                fail(where, f"masked[{i}]", f"must be [start, end] or [start, end, type] inside the {len(words)} words, got {span!r}")
    if "labels" in example:
        _check_str_list(example["labels"], where, "labels", distinct=True)
        missing = sorted({s[2] for s in spans} - set(example["labels"]))
        if missing:
            fail(where, "ner", f"type {missing[0]!r} is not in this example's labels")
    if "offsets" in example:
        text, offsets = example.get("text"), example["offsets"]
        if not isinstance(text, str):
            fail(where, "offsets", "needs the example's 'text'")
        if not isinstance(offsets, list) or len(offsets) != len(words):
            fail(where, "offsets", f"must be a list of {len(words)} [start, end] pairs")
        for i, (word, pair) in enumerate(zip(words, offsets)):
            ok = isinstance(pair, list) and len(pair) == 2 and all(type(x) is int for x in pair)
            if not (ok and text[pair[0]:pair[1]] == word):
                fail(where, f"offsets[{i}]", f"{pair!r} does not point at word {word!r} in text")
    elif "text" in example and not isinstance(example["text"], str):
        fail(where, "text", f"must be a string, got {type(example['text']).__name__}")
    return example


# ----------------------------------------------------------------------------------- reading and writing

def text_lines(path):
    """(line number, line) of a UTF-8 text file, the line ending ('\\n' or '\\r\\n') and a leading BOM
    removed; a byte that is not UTF-8 fails as 'path:line: encoding: ...'."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:  # e.object: the bytes after a BOM
                byte = e.start + 1 + len(raw) - len(e.object)
                fail(f"{path}:{number}", "encoding", f"not UTF-8 (byte 0x{e.object[e.start]:02x} at byte {byte} of the line)")
            yield number, line.rstrip("\r\n")


def read_json(path, expect: type | None = None, fields: dict | None = None):
    """A whole JSON file (UTF-8, a BOM allowed). Bad bytes or JSON fail as 'path:line: ...', a
    top-level value not of type `expect`, or a `fields` key missing or not of its type, as
    'path: field: ...'."""
    data = path.read_bytes() if hasattr(path, "read_bytes") else Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:  # e.object: the bytes after a BOM
        line = e.object.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 (byte 0x{e.object[e.start]:02x})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    if expect is not None and not isinstance(value, expect):
        fail(str(path), "json", f"must be a JSON {'object' if expect is dict else expect.__name__}, got {type(value).__name__}")
    for key, kind in (fields or {}).items():
        if key not in value:
            fail(str(path), key, "missing")
        if not isinstance(value[key], kind):
            fail(str(path), key, f"must be a {kind.__name__}, got {type(value[key]).__name__}")
    return value


def load_jsonl(path) -> list[dict]:
    """Read and validate a span JSONL file; the first bad line fails as 'path:line: field: msg'."""
    examples = []
    for number, line in text_lines(path):
        where = f"{path}:{number}"
        if not line.strip():
            fail(where, "line", "is empty (one JSON object a line)")
        try:
            example = json.loads(line)
        except json.JSONDecodeError as e:
            fail(where, "json", f"not valid JSON ({e.msg} at column {e.colno})")
        examples.append(validate_example(example, where))
    return examples


def dumps_example(example: dict) -> str:
    """One line, stable bytes: keys in insertion order, UTF-8 kept as is."""
    return json.dumps(example, ensure_ascii=False, separators=(", ", ": "))


def jsonl_text(path, examples) -> str:
    """The JSONL text `write_jsonl` writes, every example validated first ('path: example i: ...')."""
    examples = list(examples)
    for i, example in enumerate(examples):
        validate_example(example, f"{path}: example {i}")
    return "".join(dumps_example(e) + "\n" for e in examples)


def write_jsonl(path, examples) -> Path:
    """Validate all examples, then write them atomically; nothing is written if one is bad."""
    return atomic_write(path, jsonl_text(path, examples))


def write_corpus_files(out_dir, sets: dict, json_files: dict, manifest: dict) -> dict[str, str]:
    """A prepared-corpora folder: each of `sets` as <name>.jsonl (validated), each of `json_files` as
    <name>.json, and manifest.json, `manifest` plus `files` (every other file's sha256). All are made
    first and written last, together (atomic_write_all), so a failure leaves the old files; returns the paths."""
    out = Path(out_dir)
    paths = {name: out / f"{name}.jsonl" for name in sets}
    files = {paths[name]: jsonl_text(paths[name], rows) for name, rows in sets.items()}
    for name, value in json_files.items():
        paths[name] = out / f"{name}.json"
        files[paths[name]] = json.dumps(value, indent=1) + "\n"
    digests = {name: hashlib.sha256(files[path].encode("utf-8")).hexdigest() for name, path in sorted(paths.items())}
    paths["manifest"] = out / "manifest.json"
    files[paths["manifest"]] = json.dumps({**manifest, "files": digests}, indent=1) + "\n"
    atomic_write_all(files)
    return {name: str(path) for name, path in paths.items()}


def load_label_map(name: str) -> dict:
    """A label map shipped in gliner/labels/<name>.json (data, not code)."""
    return read_json(resources.files("gliner").joinpath("labels", f"{name}.json"), dict)


# ----------------------------------------------------------------------------------- tag sequences

def tags_to_spans(tags, scheme: str = "BIO", label_map: dict | None = None, where: str = ""):
    """Turn one sentence's tags into [start, end, type] spans (end inclusive).

    BIO / IOB2 / IOB1 decode alike and leniently, as conlleval does: an I- that does not continue
    a run of its own type (after O, or after another type) starts a new entity, and a B- always
    does. BIOES / IOBES add S- (a one-word entity) and E- (closes the run). With `label_map`
    every raw type must be in it (an unknown type is an error, not silently kept).
    """
    scheme = scheme.upper()
    if scheme not in {"BIO", "IOB2", "IOB1", "BIOES", "IOBES"}:
        raise ValueError(f"unknown tagging scheme {scheme!r} (BIO, IOB2, IOB1, BIOES)")
    allowed = set("BI") | (set("ES") if scheme in {"BIOES", "IOBES"} else set())
    spans, start, current = [], None, None

    def close(end):
        if current is not None:
            spans.append([start, end, current])

    for i, tag in enumerate(tags):
        if tag == "O":
            close(i - 1)
            start = current = None
            continue
        prefix, sep, raw = tag.partition("-")
        if not sep or prefix not in allowed or not raw:
            fail(where, f"tag {i}", f"{tag!r} is not a {scheme} tag")
        if label_map is not None:
            if raw not in label_map:
                fail(where, f"tag {i}", f"type {raw!r} is not in the label map")
            raw = label_map[raw]
        if prefix in "BS" or current != raw:  # B/S, or an I/E that does not continue its run
            close(i - 1)
            start, current = i, raw
        if prefix in "ES":
            close(i)
            start = current = None
    close(len(tags) - 1)
    return spans


def read_conll(path, scheme: str = "BIO", label_map: dict | None = None, token_col: int = 0,
               tag_col: int = -1, comment_prefixes=("-DOCSTART-",), **fields) -> list[dict]:
    """Read column files (one word a line, blank line between sentences) into span examples.

    Columns are split on whitespace; lines starting with a comment prefix are skipped. `fields`
    (e.g. source=, lang=, labels=) are added to every example.
    """
    examples, words, tags, first = [], [], [], None

    def flush():
        if words:
            where = f"{path}:{first}"
            example = {"tokenized_text": list(words),
                       "ner": tags_to_spans(tags, scheme, label_map, where), **fields}
            examples.append(validate_example(example, where))
        words.clear(), tags.clear()

    for number, line in text_lines(path):
        if not line.strip():
            flush()
            continue
        if line.startswith(tuple(comment_prefixes)):
            continue
        columns = line.split()
        if len(columns) < 2:
            fail(f"{path}:{number}", "columns", f"need a word and a tag, got {line.rstrip()!r}")
        if not words:
            first = number
        words.append(columns[token_col])
        tags.append(columns[tag_col])
    flush()
    return examples


# ----------------------------------------------------------------------------------- statistics

def corpus_stats(examples, max_width: int = MAX_WIDTH) -> dict:
    """Examples, words, entities per type, and the span-width histogram (how many exceed K)."""
    per_type, widths, sources = Counter(), Counter(), Counter()
    words = silver = 0
    for example in examples:
        words += len(example["tokenized_text"])
        silver += bool(example.get("silver", False))
        sources[example.get("source", "unknown")] += 1
        for start, end, label in example["ner"]:
            per_type[label] += 1
            widths[end - start + 1] += 1
    n = len(examples)
    return {
        "examples": n, "words": words, "entities": sum(per_type.values()),
        "silver": "all" if n and silver == n else "none" if silver == 0 else f"{silver} of {n}",
        "sources": dict(sorted(sources.items())),
        "entities_per_type": dict(sorted(per_type.items(), key=lambda kv: (-kv[1], kv[0]))),
        "span_width_hist": {str(w): widths[w] for w in sorted(widths)},
        "max_width": max_width, "longer_than_max_width": sum(c for w, c in widths.items() if w > max_width),
    }


def plot_stats(stats: dict, path, top: int = 20) -> Path:
    """One figure: a row per corpus ({name: corpus_stats(...)}), entities of its `top` most
    frequent types and span widths. Silver corpora say so in their titles."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(stats)
    height = max(3.4, 0.22 * min(top, max(len(s["entities_per_type"]) for s in stats.values())) + 1.2)
    fig, axes = plt.subplots(len(names), 2, figsize=(14, height * len(names)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]})
    for row, name in zip(axes, names):
        s = stats[name]
        kind = "silver: labelled by a model" if s["silver"] != "none" else "gold: labelled by people"
        types = list(s["entities_per_type"])[:top][::-1]
        row[0].barh(types, [s["entities_per_type"][t] for t in types], color="tab:blue")
        shown = f"top {top} of {len(s['entities_per_type']):,} types" if len(s["entities_per_type"]) > top else "all types"
        row[0].set_title(f"{name} ({kind})\n{s['entities']:,} entities in {s['examples']:,} examples; {shown}")
        row[0].set_xlabel("entities")
        widths = [int(w) for w in s["span_width_hist"]]
        row[1].bar(widths, list(s["span_width_hist"].values()), color="tab:orange")
        row[1].axvline(s["max_width"] + 0.5, color="k", linestyle="--", label=f"K = {s['max_width']} words")
        row[1].set_yscale("log")
        row[1].set_title(f"{name}: entity length\n({s['longer_than_max_width']:,} longer than K)")
        row[1].set_xlabel("entity length (words)")
        row[1].set_ylabel("entities (log scale)")
        row[1].legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=110, bbox_inches=None)


_FUNCTION_WORDS = {"of", "or", "and", "the", "other", "else", "entity", "name", "number", "group"}


def _content_words(name: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", name.lower()) if w not in _FUNCTION_WORDS}


def type_overlap_table(train_types, eval_sets: dict) -> list[dict]:
    """How zero-shot is each evaluation type? One row per (eval set, type).

    relation = "same" (the training types contain the name), "similar" (a hand-curated pair in
    labels/similar_types.json, or the names share a content word, e.g. 'sports team' ~ 'team'),
    or "unseen". `train_type` names the matching training type(s).
    """
    train_types = list(dict.fromkeys(train_types))
    pairs = {frozenset(p) for p in load_label_map("similar_types")["pairs"]}
    rows = []
    for set_name, types in eval_sets.items():
        for t in types:
            if t in train_types:
                relation, match = "same", [t]
            else:
                match = [u for u in train_types if frozenset((t, u)) in pairs
                         or _content_words(t) & _content_words(u)]
                relation = "similar" if match else "unseen"
            rows.append({"eval_set": set_name, "type": t, "relation": relation, "train_type": match})
    return rows
