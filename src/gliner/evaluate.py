"""Zero-shot evaluation (paper section 4): exact-match entity P/R/F1, a threshold sweep, an error table.

Each evaluation set is a span-JSONL file whose lines carry their natural-language label list in
`labels`; the model is prompted with exactly that list (no label maps in code). A prediction
counts only with the same start word, end word and type as a gold entity.

    python -m gliner.evaluate --model checkpoints/model --data tmp/prepared/wnut16_gold.jsonl \
        --out reports/metrics/zero_shot.json
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch

from .atomic import write_json
from .decoding import greedy_decode
from .processing import check_labels

Entity = tuple[int, int, str]  # (start_word, end_word_inclusive, type)
SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


# ---------------------------------------------------------------------------------- prediction
def predict_candidates(model, examples: list[dict], min_threshold: float = 0.1, batch_size: int = 16,
                       progress: bool = True) -> list[tuple[list[str], torch.Tensor]]:
    """Per example, its labels and every candidate above min_threshold (the model's windowed scorer),
    so a threshold sweep costs one forward pass. Each example is prompted with its own `labels`."""
    labels = [check_labels(ex["labels"]) for ex in examples]
    found = model.window_candidates([ex["tokenized_text"] for ex in examples], labels, min_threshold, batch_size,
                                    progress)
    return list(zip(labels, found))


def decode(found: list[tuple[list[str], torch.Tensor]], threshold: float, flat_ner: bool = True) -> list[set[Entity]]:
    """Greedy decoding (the model's own) of the candidates above `threshold`, per example."""
    return [{(s, e, labels[c]) for s, e, c, _ in greedy_decode(cands[cands[:, 3] > threshold], flat_ner)}
            for labels, cands in found]


# ---------------------------------------------------------------------------------- scoring
def prf(tp: int, fp: int, fn: int) -> dict:
    """Precision, recall, F1 from counts; 0 where undefined (no predictions / no gold)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp, "fp": fp, "fn": fn}


def score(gold: list[set[Entity]], pred: list[set[Entity]]) -> dict:
    """Exact-match micro P/R/F1, macro (mean over types seen in gold or predictions) and per type."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for g, p in zip(gold, pred, strict=True):
        for *_, t in g & p:
            counts[t]["tp"] += 1
        for *_, t in p - g:
            counts[t]["fp"] += 1
        for *_, t in g - p:
            counts[t]["fn"] += 1
    per_type = {t: prf(c["tp"], c["fp"], c["fn"]) for t, c in sorted(counts.items())}
    total = sum(counts.values(), Counter())
    macro = {k: sum(m[k] for m in per_type.values()) / len(per_type) if per_type else 0.0
             for k in ("precision", "recall", "f1")}
    return {"micro": prf(total["tp"], total["fp"], total["fn"]), "macro": macro, "per_type": per_type}


def error_table(gold: list[set[Entity]], pred: list[set[Entity]], examples: list[dict] | None = None) -> list[dict]:
    """Every error, each gold and predicted entity accounted for once:

    wrong_type        same span, other type;
    wrong_boundary    overlapping span, same type;
    wrong_both        overlapping span, other type;
    false_positive    a prediction overlapping no unmatched gold entity;
    false_negative    a gold entity no remaining prediction overlaps.
    Pairs are formed in that order of preference, so a prediction pairs with an exact-span gold
    entity before an overlapping one.
    """
    rows = []
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        words = examples[i]["tokenized_text"] if examples else None
        text = (lambda e: " ".join(words[e[0] : e[1] + 1])) if words else (lambda e: None)  # noqa: E731
        missed, extra = sorted(g - p), sorted(p - g)
        for kind, match in (("wrong_type", lambda a, b: a[:2] == b[:2]),
                            ("wrong_boundary", lambda a, b: a[2] == b[2] and a[0] <= b[1] and b[0] <= a[1]),
                            ("wrong_both", lambda a, b: a[0] <= b[1] and b[0] <= a[1])):
            for q in list(extra):
                pair = next((e for e in missed if match(q, e)), None)
                if pair is not None:
                    missed.remove(pair)
                    extra.remove(q)
                    rows.append({"example": i, "kind": kind, "gold": list(pair), "pred": list(q),
                                 "gold_text": text(pair), "pred_text": text(q)})
        rows += [{"example": i, "kind": "false_positive", "gold": None, "pred": list(q), "gold_text": None,
                  "pred_text": text(q)} for q in extra]
        rows += [{"example": i, "kind": "false_negative", "gold": list(e), "pred": None, "gold_text": text(e),
                  "pred_text": None} for e in missed]
    return rows


# ---------------------------------------------------------------------------------- the protocol
def load_eval_set(path) -> list[dict]:
    """Read and validate an evaluation set; every line must carry its `labels`."""
    from .data import load_jsonl

    examples = load_jsonl(path)
    if not examples:
        raise ValueError(f"{path}: no examples (an evaluation set needs at least one line)")
    for n, ex in enumerate(examples, 1):
        if not ex.get("labels"):
            raise ValueError(f"{path}:{n}: labels: an evaluation example must carry its label list")
    return examples


def evaluate(model, datasets: dict[str, list[dict]] | list, threshold: float = 0.5, thresholds=SWEEP,
             flat_ner: bool = True, batch_size: int = 16, progress: bool = True) -> dict:
    """Zero-shot metrics for each evaluation set and overall.

    `datasets` maps a name to examples, or is a list of span-JSONL paths (named by file stem).
    Returns {"overall": {micro (pooled counts), macro_f1 (mean of the sets' micro F1, the
    paper's "Avg")}, "datasets": {name: {micro, macro, per_type, errors, sweep}}, "threshold"};
    the full error rows are under result["error_rows"][name], each sentence's (tp, fp, fn) under
    result["per_example"][name] and the model's time per set under result["timing"][name] (none is
    written by `write_metrics`: rows are long, times vary).
    """
    if not isinstance(datasets, dict):
        datasets = {Path(p).stem: load_eval_set(p) for p in datasets}
    result = {"threshold": threshold, "datasets": {}, "error_rows": {}, "per_example": {}, "timing": {}}
    total = Counter()
    for name, examples in datasets.items():
        gold = [{(s, e, t) for s, e, t in ex["ner"]} for ex in examples]
        start = time.perf_counter()
        found = predict_candidates(model, examples, min(threshold, *thresholds), batch_size, progress)
        result["timing"][name] = {"seconds": time.perf_counter() - start,
                                  "sentences_per_s": len(examples) / max(time.perf_counter() - start, 1e-9)}
        pred = decode(found, threshold, flat_ner)
        metrics = score(gold, pred)
        errors = error_table(gold, pred, examples)
        metrics["errors"] = dict(sorted(Counter(r["kind"] for r in errors).items()))
        metrics["sweep"] = {str(t): score(gold, decode(found, t, flat_ner))["micro"] for t in thresholds}
        metrics["num_examples"] = len(examples)
        result["datasets"][name] = metrics
        result["error_rows"][name] = errors
        result["per_example"][name] = [[len(g & p), len(p - g), len(g - p)] for g, p in zip(gold, pred)]
        total.update({k: metrics["micro"][k] for k in ("tp", "fp", "fn")})
    f1s = [m["micro"]["f1"] for m in result["datasets"].values()]
    result["overall"] = {"micro": prf(total["tp"], total["fp"], total["fn"]),
                         "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0}
    return result


def write_metrics(result: dict, path) -> None:
    """The metrics as JSON for `dvc metrics` (error rows and timings left out), written atomically."""
    metrics = {k: v for k, v in result.items() if k not in ("error_rows", "per_example", "timing")}
    write_json(path, metrics)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint directory (GLiNER.save_pretrained format)")
    parser.add_argument("--data", nargs="+", required=True, help="evaluation span-JSONL files with `labels`")
    parser.add_argument("--out", help="write the metrics JSON here")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--nested", action="store_true", help="allow nested entities when decoding")
    args = parser.parse_args(argv)
    from .model import GLiNER

    model = GLiNER.from_pretrained(args.model, map_location="cuda" if torch.cuda.is_available() else "cpu")
    result = evaluate(model, args.data, args.threshold, flat_ner=not args.nested, batch_size=args.batch_size)
    for name, m in result["datasets"].items():
        print(f"{name:30s} P {m['micro']['precision']:.3f}  R {m['micro']['recall']:.3f}  F1 {m['micro']['f1']:.3f}")
    if args.out:
        write_metrics(result, args.out)
    return result


if __name__ == "__main__":
    main()
