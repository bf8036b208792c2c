"""Accuracy helpers shared by the benchmark's parts: entity comparison and exact-match F1 of any predictor."""

from __future__ import annotations

F1_SWEEP = [0.2, 0.3, 0.5]  # each threshold is one more prediction pass per model


def compare_entities(a: list[list[dict]], b: list[list[dict]]) -> dict:
    """Same (start, end, label) in every text? Largest score difference over the shared ones."""
    same, diff, n = True, 0.0, 0
    for x, y in zip(a, b, strict=True):
        kx = {(e["start"], e["end"], e["label"]): e["score"] for e in x}
        ky = {(e["start"], e["end"], e["label"]): e["score"] for e in y}
        same &= set(kx) == set(ky)
        n += len(kx)
        diff = max([diff] + [abs(kx[k] - ky[k]) for k in set(kx) & set(ky)])
    return {"spans_equal": same, "entities": n, "max_entity_score_diff": diff}


def char_to_words(words: list[str]):
    """Character offsets of `" ".join(words)`: start char -> word index, end char -> word index."""
    starts, ends, position = {}, {}, 0
    for i, w in enumerate(words):
        starts[position], ends[position + len(w)] = i, i
        position += len(w) + 1
    return starts, ends


def word_entities(examples: list[dict], predict, threshold: float) -> list[set]:
    """Each example's predicted (start word, end word, label) set: `predict(texts, labels, threshold)` on
    the joined words, each group of examples prompted with its own label list."""
    groups, pred = {}, [set() for _ in examples]
    for i, ex in enumerate(examples):
        groups.setdefault(tuple(ex["labels"]), []).append(i)
    for labels, indices in groups.items():
        found = predict([" ".join(examples[i]["tokenized_text"]) for i in indices], list(labels), threshold)
        for i, entities in zip(indices, found, strict=True):
            starts, ends = char_to_words(examples[i]["tokenized_text"])
            pred[i] = {(starts.get(e["start"], -1), ends.get(e["end"], -1), e["label"]) for e in entities}
    return pred


def f1_from_predictions(examples: list[dict], predict, sweep: bool = True) -> dict:
    """Exact-match micro P/R/F1 of `predict(texts, labels, threshold) -> entities` (character
    offsets) on the examples' joined words, each group of examples prompted with its own label
    list; at threshold 0.5, and (sweep) the F1 at each threshold of F1_SWEEP, for models that a
    small budget leaves under-confident."""
    from gliner.evaluate import score

    gold = [{(s, e, t) for s, e, t in ex["ner"]} for ex in examples]

    def at(threshold: float) -> dict:
        return score(gold, word_entities(examples, predict, threshold))["micro"]

    out = at(0.5)
    if sweep:
        out["sweep"] = {str(t): (out if t == 0.5 else at(t))["f1"] for t in F1_SWEEP}
        best = max(out["sweep"], key=out["sweep"].get)
        out["best_threshold"], out["best_f1"] = float(best), out["sweep"][best]
    return out


