"""Training and evaluation data for the benchmark's "same budget, same data" comparison.

The DVC stage passes the pipeline's prepared span-JSONL files (`--train-file`, `--eval-file`);
without them (the `--tiny` setting of `make test`, or a quick run) a small seeded synthetic corpus
is built from templates, so the comparison needs no data preparation. Both implementations get
exactly the same file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

FILLERS = {
    "person": ["Angela Merkel", "Tim Cook", "Marie Curie", "David Ortiz", "Taylor Swift", "Satya Nadella",
               "Lionel Messi", "Narendra Modi", "Elon Musk", "Anna Schmidt", "John Smith", "Maria Garcia"],
    "organization": ["Apple", "the United Nations", "Microsoft", "Netflix", "the Mayo Clinic", "SpaceX",
                     "Amazon", "the British Museum", "Oxford University", "the Red Cross", "Siemens", "Toyota"],
    "location": ["Paris", "Berlin", "New York", "Cupertino", "Texas", "Mumbai", "London", "Qatar",
                 "Rochester", "San Francisco", "Lyon", "Vienna"],
    "date": ["Monday", "last Tuesday", "March 2021", "October 2022", "December 18", "the summer of 1999",
             "next month", "2020", "Friday", "January 5"],
}
TEMPLATES = [
    "{person} visited {location} on {date} to meet officials from {organization} .",
    "On {date} , {organization} announced that {person} will move to {location} .",
    "{person} said that {organization} opened a new office in {location} .",
    "The deal between {organization} and {organization} was signed in {location} on {date} .",
    "Reporters in {location} asked {person} about the plans of {organization} .",
    "{organization} hired {person} , who grew up near {location} , in {date} .",
    "After the meeting in {location} , {person} and {person} left for {location} .",
    "{date} was the day {person} joined {organization} as its new chief executive .",
]
LABELS = ["person", "organization", "location", "date"]


def synthetic(n: int, seed: int) -> list[dict]:
    """n span-JSONL examples from the templates; entities as [start_word, end_word, type]."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words, ner = [], []
        for piece in rng.choice(TEMPLATES).split():
            if piece.startswith("{"):
                label = piece[1:-1]
                filler = rng.choice(FILLERS[label]).split()
                ner.append([len(words), len(words) + len(filler) - 1, label])
                words += filler
            else:
                words.append(piece)
        out.append({"tokenized_text": words, "ner": ner, "labels": LABELS})
    return out


def load(path: str | Path, n: int, max_words: int, seed: int, with_entities: bool = False) -> list[dict]:
    """Up to n examples of at most max_words words (and, if asked, at least one entity) from a
    span-JSONL file (a seeded sample)."""
    examples = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            ex = json.loads(line)
            if 0 < len(ex["tokenized_text"]) <= max_words and (ex["ner"] or not with_entities):
                examples.append(ex)
    if len(examples) > n:
        examples = random.Random(seed).sample(examples, n)
    return examples


def write(examples: list[dict], path: Path, eval_labels: list[str] | None = None) -> Path:
    """Write span-JSONL; eval examples without their own `labels` get `eval_labels`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for ex in examples:
            row = {"tokenized_text": ex["tokenized_text"], "ner": [list(e) for e in ex["ner"]]}
            labels = ex.get("labels") or eval_labels
            if labels:
                row["labels"] = labels
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
