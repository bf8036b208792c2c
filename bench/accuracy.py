"""Accuracy helpers shared by the benchmark's parts: entity comparison, exact-match F1 of any predictor (ours
or the reference in its worker), and the gold entities of the long document each implementation reaches."""

from __future__ import annotations

from bench.refclient import ReferenceWorker
from bench.sentences import LABELS, long_document

F1_SWEEP = [0.2, 0.3, 0.5]  # each threshold is one more prediction pass of the reference (ours decodes one pass at each)


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


def ours_word_entities(model, examples: list[dict], thresholds: list[float], batch_size: int = 8) -> dict:
    """threshold -> `word_entities` of our GLiNER, from one batched pass: each example prompted with its own
    labels (grouping by label list, as the reference's API needs, runs the silver sets, whose every sentence
    has a label list of its own, at batch 1), its candidates above the lowest threshold decoded at each."""
    from gliner.evaluate import decode
    from gliner.processing import split_words

    docs = [split_words(" ".join(ex["tokenized_text"]), model.config.words_splitter_type) for ex in examples]
    labels = [list(ex["labels"]) for ex in examples]
    found = list(zip(labels, model.window_candidates([[w for w, _, _ in words] for words in docs], labels,
                                                     min(thresholds), batch_size), strict=True))
    offsets = [char_to_words(ex["tokenized_text"]) for ex in examples]
    return {threshold: [{(starts.get(words[s][1], -1), ends.get(words[e][2], -1), label) for s, e, label in entities}
                        for entities, words, (starts, ends) in zip(decode(found, threshold), docs, offsets, strict=True)]
            for threshold in thresholds}


def f1_from_entities(examples: list[dict], entities_at, sweep: bool = True) -> dict:
    """Exact-match micro P/R/F1 of `entities_at(threshold)` (each example's (start word, end word, label) set)
    at threshold 0.5, and (sweep) the F1 at each threshold of F1_SWEEP, for models that a small budget leaves
    under-confident."""
    from gliner.evaluate import score

    gold = [{(s, e, t) for s, e, t in ex["ner"]} for ex in examples]

    def at(threshold: float) -> dict:
        return score(gold, entities_at(threshold))["micro"]

    out = at(0.5)
    if sweep:
        out["sweep"] = {str(t): (out if t == 0.5 else at(t))["f1"] for t in F1_SWEEP}
        best = max(out["sweep"], key=out["sweep"].get)
        out["best_threshold"], out["best_f1"] = float(best), out["sweep"][best]
    return out


def f1_of(predictor, examples: list[dict]) -> dict:
    """`f1_from_entities` of our GLiNER (one pass for the sweep), of the reference model loaded in a
    ReferenceWorker, or of anything else with our `batch_predict_entities` (prompted per label list)."""
    if isinstance(predictor, ReferenceWorker):
        def predict(texts, labels, threshold):
            return predictor.call("predict", texts=texts, labels=labels, threshold=threshold)["entities"]
    elif hasattr(predictor, "window_candidates"):
        return f1_from_entities(examples, ours_word_entities(predictor, examples, sorted({0.5, *F1_SWEEP})).__getitem__)
    else:
        def predict(texts, labels, threshold):
            return predictor.batch_predict_entities(texts, labels, threshold=threshold)
    return f1_from_entities(examples, lambda threshold: word_entities(examples, predict, threshold))


def long_document_entities(model, ref: ReferenceWorker, words: int, threshold: float = 0.5) -> dict:
    """Gold 'Paris' mentions of the long document each implementation reaches and finds."""
    from gliner.processing import split_words

    text, gold = long_document(words)
    words = split_words(text, model.config.words_splitter_type)
    word_of = {start: i for i, (_, start, _) in enumerate(words)}
    gold_words = [word_of[s] for s, _ in gold]
    windows = model.windows([w for w, _, _ in words], model.text_token_budget(LABELS))
    ref_words = ref.call("scores", texts=[text], labels=LABELS)["texts"][0]["scored_words"]
    out = {"words": len(words), "gold": len(gold), "gold_label": "location", "threshold": threshold}
    ours_found = model.batch_predict_entities([text], LABELS, threshold=threshold)[0]
    ref_found = ref.call("predict", texts=[text], labels=LABELS, threshold=threshold)["entities"][0]
    reach = {"ours": sum(any(w.own_start <= g < w.own_end and g < w.end for w in windows) for g in gold_words),
             "reference": sum(g < ref_words for g in gold_words)}
    for name, found in (("ours", ours_found), ("reference", ref_found)):
        spans = {(e["start"], e["end"]): e["label"] for e in found}
        last = max((word_of.get(e["start"], 0) for e in found), default=-1)
        out[name] = {"gold_reachable": reach[name], "gold_found": sum(spans.get(g) == "location" for g in gold),
                     "gold_found_any_label": sum(g in spans for g in gold), "entities": len(found),
                     "last_entity_word": last}
    out["reference"]["words_scored"] = ref_words
    return out
