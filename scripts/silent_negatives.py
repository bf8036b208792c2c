"""Count the silent negatives of a training file: the entities spaCy finds in its knowledge-base passages
that carry no label and are not masked, so that training treats them as no entity of any prompted type.

    .venv/bin/python scripts/silent_negatives.py prepared/train_silver.jsonl [passages]

Draws `passages` (default 1,500) knowledge-base passages at random (seeded) and prints, per spaCy type,
how many of its entities a label covers exactly, overlaps, or misses; of the missed, how many are masked.
"""
import json
import random
import sys
from collections import Counter

import spacy

from gliner.corpora.silver import spacy_entities
from gliner.data import load_jsonl
from gliner.params import SPACY_MODEL

path, size = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1500
passages = [ex for ex in load_jsonl(path) if ":kb:" in ex.get("source", "")]
passages = random.Random(0).sample(passages, min(size, len(passages)))
nlp = spacy.load(SPACY_MODEL, exclude=["tagger", "parser", "lemmatizer", "attribute_ruler"])
counts = Counter()
for ex, found in zip(passages, spacy_entities(nlp, passages, {label: label for label in nlp.get_pipe("ner").labels})):
    labelled = {(s, e) for s, e, _ in ex["ner"]}
    covered = {i for s, e in labelled for i in range(s, e + 1)}
    masked = {tuple(m) for m in ex.get("masked", ())}
    for s, e, label in found:
        how = ("labelled" if (s, e) in labelled else "overlaps a label" if covered & set(range(s, e + 1))
               else "masked" if (s, e) in masked else "silent negative")
        counts[label, how] += 1
hows = ["labelled", "overlaps a label", "masked", "silent negative"]
print(f"{len(passages)} knowledge-base passages of {path}; spaCy's entities by type:")
print(f"{'type':<12}" + "".join(f"{h:>18}" for h in hows))
for label in sorted({label for label, _ in counts}, key=lambda t: -sum(counts[t, h] for h in hows)):
    print(f"{label:<12}" + "".join(f"{counts[label, h]:>18}" for h in hows))
print(json.dumps({h: sum(v for (_, k), v in counts.items() if k == h) for h in hows}))
