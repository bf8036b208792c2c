"""Draw the knowledge-base mentions to judge by hand: 220 per source (all of a smaller source), from training passages, seeded.

    python scripts/sample_mentions.py data src/gliner/labels/judged

Writes <dir>/<source>.jsonl with `judgment` empty; a person fills in "correct" or "wrong" (and a
`note` when wrong); `gliner.distant.label_precision` reads the files back.
"""
import json
import random
import sys
from pathlib import Path

from gliner.distant import kb_corpus
from gliner.offline import DEFAULTS, _split

raw_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
passages, _ = kb_corpus(raw_dir, DEFAULTS["passage_max_words"])
by_source: dict[str, list] = {}
for doc, ex, sources in passages:
    if _split(doc.id, DEFAULTS["heldout_percent"]) != "train":
        continue
    spans: dict = {}
    for (s, e, t), source in zip(ex["ner"], sources):
        spans.setdefault((s, e, source), []).append(t)
    for (s, e, source), types in spans.items():
        by_source.setdefault(source, []).append((ex, s, e, types))
for source, mentions in sorted(by_source.items()):
    rows = []
    for ex, s, e, types in random.Random(f"judge:{source}").sample(mentions, min(220, len(mentions))):
        words = ex["tokenized_text"]
        rows.append({"id": ex["id"], "span": [s, e], "mention": " ".join(words[s:e + 1]), "types": types,
                     "context": " ".join(words[max(0, s - 25):s]) + " [[" + " ".join(words[s:e + 1]) + "]] " + " ".join(words[e + 1:e + 26]),
                     "judgment": "", "note": ""})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{source}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(source, len(mentions), "mentions;", len(rows), "sampled")
