"""Draw the knowledge-base mentions (and the persons spaCy adds to the passages) to judge by hand: 220 per source (all of a smaller source),
from training passages, seeded.

    python scripts/sample_mentions.py data src/gliner/labels/judged

Writes <dir>/<source>.jsonl with `judgment` empty; a person fills in "correct" or "wrong" (and a
`note` when wrong); `gliner.corpora.distant.label_precision` reads the files back. A file that exists
is kept: judged rows stay, and when filters added since have removed some of its mentions, new
ones (drawn from the rest, seeded) are appended until 220 of its rows are labelled as today.
A filter designed by reading a sample's mistakes makes that sample flatter the labeller, so after
such a change the old files move to a `roundN/` folder (kept, not read) and ROUND is raised: the
next sample is drawn afresh with a new seed.
"""
import json
import random
import sys
from pathlib import Path

import spacy

from gliner.corpora.distant import kb_corpus, read_first_names
from gliner.corpora.offline import split_of
from gliner.corpora.silver import SPACY_ON_PASSAGES, spacy_on_passages
from gliner.data import load_label_map
from gliner.params import PREPARE_DEFAULTS as DEFAULTS, stage_params

SAMPLE = 220
ROUND = 8  # round 1 (judged/round1/) chose the familiar-type, -ing and date filters; round 2 (judged/round2/,
# wordnet-instance only) the capital-neighbour, head-noun, "vs" and vague-class filters; round 3 (judged/round3/,
# companies and sports-teams) the surname and model-number filters; round 4 (judged/round4/, spacy-person only) the
# contraction and final-initial filters; round 5 (judged/round5/, spacy-person only) the neighbouring-word filters
# (a piece of a longer name); round 6 (judged/round6/, spacy-person only, its last 166 rows drawn as labelled_persons
# adds them) the sentence-boundary filter (a name that runs into the next sentence); round 7 (judged/round7/,
# spacy-person only) the full-name filter (a first name alone only where the passage names that person in full).
# A mention judged in an earlier round is never drawn again: the new round measures the filters on mentions their
# design did not see
raw_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
passages, _ = kb_corpus(raw_dir, DEFAULTS["passage_max_words"])
by_source: dict[str, list] = {}
for doc, ex, sources in passages:
    if split_of(doc.id, DEFAULTS["heldout_percent"]) != "train":
        continue
    spans: dict = {}
    for (s, e, t), source in zip(ex["ner"], sources):
        spans.setdefault((s, e, source), []).append(t)
    for (s, e, source), types in spans.items():
        by_source.setdefault(source, []).append((ex, s, e, types))
# the persons spaCy adds (gliner.corpora.silver.spacy_on_passage): as the recipe's spacy_on_passages adds them where
# it adds any, else as `persons` would; only in the passages training keeps (prepare_offline_corpora drops one with a
# withheld type, and it gets no persons)
recipe = stage_params("prepare")
mode = recipe["spacy_on_passages"] if recipe["spacy_on_passages"] and SPACY_ON_PASSAGES[recipe["spacy_on_passages"]]["add_persons"] else "persons"
withheld = set(recipe["withheld_types"]) | set(recipe["withheld_kb_types"])
train = [ex for doc, ex, _ in passages if split_of(doc.id, DEFAULTS["heldout_percent"]) == "train"
         and not any(t in withheld for *_, t in ex["ner"])]
nlp = spacy.load(DEFAULTS["spacy_model"])
for ex, (added, _) in zip(train, spacy_on_passages(nlp, train, load_label_map("ontonotes")["tags"], read_first_names(raw_dir), mode)):
    by_source.setdefault("spacy-person", []).extend((ex, s, e, [t]) for s, e, t in added)
for source, mentions in sorted(by_source.items()):
    path = out_dir / f"{source}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    now = {(ex["id"], s, e): types for ex, s, e, types in mentions}
    current = sum(now.get((r["id"], *r["span"])) == r["types"] for r in rows)
    earlier = [json.loads(line) for old in sorted(out_dir.glob(f"round*/{source}.jsonl"))
               for line in old.read_text(encoding="utf-8").splitlines()]
    seen = {(r["id"], *r["span"]) for r in rows + earlier}
    fresh = [m for m in random.Random(f"judge:{source}:{len(rows)}" if ROUND == 1 else f"judge{ROUND}:{source}:{len(rows)}").sample(mentions, len(mentions))
             if (m[0]["id"], m[1], m[2]) not in seen]
    for ex, s, e, types in fresh[:max(0, SAMPLE - current)]:
        words = ex["tokenized_text"]
        rows.append({"id": ex["id"], "span": [s, e], "mention": " ".join(words[s:e + 1]), "types": types,
                     "context": " ".join(words[max(0, s - 25):s]) + " [[" + " ".join(words[s:e + 1]) + "]] " + " ".join(words[e + 1:e + 26]),
                     "judgment": "", "note": ""})
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(source, len(mentions), "mentions;", current, "judged rows still labelled;", len(rows), "rows now")
