"""Prediction in each precision on the trained default model (issue 18), in one run.

Contenders: float32; bfloat16 weights (`from_pretrained(..., dtype="bf16")`, where the CPU has bf16
units); dynamic int8 (`quantize="int8"`); fast-gliner (a Rust engine over ONNX Runtime) on our
checkpoint exported in the reference's ONNX format; the reference 0.2.29 on the same checkpoint.
For each: exact-match F1 at 0.5 on every dev and test set (fast-gliner on the test sets whose sentences share
label lists only: it is no candidate for the recommendation), its difference from float32's with a paired
bootstrap interval, and the share of entities identical to float32's (on every sentence: `python -m
bench.precision`, the precision_f1 stage, which runs beside others since it times nothing); texts/s taken in turns
at each batch size on sentences and on ~2,000-word documents, with each precision's bare encoder (the
limit), float32's forward alone, and the MAC ceiling of ours / encoder. These are the benchmark's only
speed tables: ours against the reference is their float32 column.
The recommended precision is the fastest at the largest batch whose F1 stays within the setting
`precision_f1_tolerance` (points) of float32's on every *dev* set; the test sets are reported, not used to choose.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from bench.accuracy import ours_word_entities, word_entities
from bench.common import REFERENCE_LOSS, TRAIN, log
from bench.sentences import SENTENCES, long_document
from bench.speed import bare_encoder, end_to_end, forward_contenders, in_turns, take_turns, timed


class FastGliner:
    """fast-gliner on a reference-format ONNX export of `model`, behind our `batch_predict_entities`.
    It decodes at 0.5 only (its Python API has no threshold) and reads one window per text."""

    def __init__(self, model, folder: Path, int8: bool = False, exported: Path | None = None):
        """`exported`: a folder export_reference_format already wrote for `model`, copied instead of exporting again."""
        import shutil

        from fast_gliner import FastGLiNER

        from bench.onnx_export import export_reference_format, quantize_int8

        t0 = time.perf_counter()
        if exported is not None:
            shutil.copytree(exported, folder)
        else:
            export_reference_format(model, folder)
        if int8:
            quantize_int8(folder)
        self.export_s = time.perf_counter() - t0
        self.engine = FastGLiNER.from_pretrained(str(folder), execution_provider="cpu")

    def batch_predict_entities(self, texts, labels, threshold=0.5, batch_size=8, **_):
        if threshold != 0.5:
            raise ValueError("fast-gliner decodes at threshold 0.5 only")
        found = []
        for i in range(0, len(texts), batch_size):
            found += self.engine.predict_entities(list(texts[i : i + batch_size]), labels)
        return found


def contenders(model_dir: Path, work: Path) -> tuple[dict, dict]:
    """name -> predictor (our GLiNER in each precision the machine runs, fast-gliner) and how each was made."""
    from gliner import GLiNER
    from gliner.loading import cpu_has_bf16

    models = {"fp32": GLiNER.from_pretrained(model_dir)}
    info = {"fp32": {"how": "GLiNER.from_pretrained(model)"}}
    if cpu_has_bf16():
        models["bf16"] = GLiNER.from_pretrained(model_dir, dtype="bf16")
        info["bf16"] = {"how": "GLiNER.from_pretrained(model, dtype='bf16'): bfloat16 weights and activations"}
    else:
        info["bf16"] = {"skipped": "this CPU has no bfloat16 units (AVX-512 BF16 or AMX)"}
    models["int8"] = GLiNER.from_pretrained(model_dir, quantize="int8")
    info["int8"] = {"how": "GLiNER.from_pretrained(model, quantize='int8'): dynamic int8 Linear layers"}
    for name, int8 in (("fast_gliner", False), ("fast_gliner_int8", True)):  # the export as it is, and in int8
        try:
            exported = work / "reference_format_fast_gliner" if int8 and "fast_gliner" in models else None
            models[name] = FastGliner(models["fp32"], work / f"reference_format_{name}", int8, exported)
            info[name] = {"how": "fast-gliner 0.3.2 (gline-rs, ONNX Runtime) on bench.onnx_export.export_reference_format"
                                 + (", then onnxruntime's quantize_dynamic (int8 weights)" if int8 else ""),
                          "export_s": models[name].export_s}
        except Exception as err:  # not installed, or the export failed: recorded, not hidden
            info[name] = {"error": f"{type(err).__name__}: {err}"}
    return models, info


def is_fast_gliner(name: str) -> bool:
    """fast-gliner's engines are timed beside ours but are no candidates: they decode at 0.5 only, take one
    label list per call and read one window per text."""
    return name.startswith("fast_gliner")


def shares_label_lists(examples: list[dict]) -> bool:
    """Whether the sentences share label lists (8 or more a list on average): fast-gliner's API takes one label list
    per call, so on the silver sets, where each sentence has its own, it would run one sentence at a time."""
    return len({tuple(ex["labels"]) for ex in examples}) * 8 <= len(examples)


def sentence_counts(gold: list[set], found: list[set]) -> list[tuple[int, int, int]]:
    """Each sentence's (tp, fp, fn): what a paired bootstrap over sentences resamples."""
    return [(len(p & g), len(p - g), len(g - p)) for p, g in zip(found, gold, strict=True)]


def accuracy(models: dict, sets: dict[str, list[dict]]) -> dict:
    """F1 at 0.5 (with the gold count behind it) of each contender on each set, its difference from float32's
    with a 95% paired bootstrap interval over the sentences, and the share of its entities identical to
    float32's (|same| / |either|, over all sentences)."""
    from gliner.evaluate import score
    from gliner.studies import paired_bootstrap

    out = {}
    for set_name, examples in sets.items():
        gold = [{(s, e, t) for s, e, t in ex["ner"]} for ex in examples]
        found = {name: ours_word_entities(m, examples, [0.5])[0.5] for name, m in models.items() if not is_fast_gliner(name)}
        if not set_name.startswith("dev_") and shares_label_lists(examples):
            for name in filter(is_fast_gliner, models):
                found[name] = word_entities(examples, lambda t, lab, th, m=models[name]: m.batch_predict_entities(
                    t, lab, threshold=th, batch_size=8), 0.5)
        row = {"sentences": len(examples), "gold": sum(map(len, gold))}
        fp32_f1 = score(gold, found["fp32"])["micro"]["f1"]
        fp32_counts = [sentence_counts(gold, found["fp32"])]
        for name, pred in found.items():
            same = sum(len(p & q) for p, q in zip(pred, found["fp32"]))
            either = sum(len(p | q) for p, q in zip(pred, found["fp32"]))
            micro = score(gold, pred)["micro"]
            diff = paired_bootstrap(fp32_counts, [sentence_counts(gold, pred)])
            row[name] = {"f1": micro["f1"], "precision": micro["precision"], "recall": micro["recall"],
                         "f1_diff_points": 100 * (micro["f1"] - fp32_f1),
                         "f1_diff_interval_points": [100 * diff["low"], 100 * diff["high"]],
                         "same_entities_share": same / either if either else 1.0}
        out[set_name] = row
        log(f"  {set_name} ({row['gold']} gold): " + ", ".join(f"{k} F1 {row[k]['f1']:.3f}" for k in found))
    return out


def speed(models: dict, ref, texts: list[str], batch_sizes: list[int], repeats: int, encoders: tuple[str, ...],
          forward_alone: bool, batch1_texts: int | None = None) -> dict:
    """Texts/s of every contender at each batch size, in turns, beside the bare encoder of each precision in
    `encoders` (its own weights, on float32's batches) and, with forward_alone, float32's forward alone (no
    tokenising or decoding); with the MAC ceiling of ours / encoder (bench/flops.py) and the share of it each
    precision reaches. Batch 1 runs on the first `batch1_texts` texts where given (each row says how many)."""
    out = {}
    for size in batch_sizes:
        timed_texts = texts[:batch1_texts] if size == 1 and batch1_texts else texts

        def contenders(bs: int, batches: list[dict]) -> dict:
            runs = end_to_end(models, ref, timed_texts, bs)
            runs.update({f"encoder_{name}": timed(lambda m=m: bare_encoder(m, batches))
                         for name, m in models.items() if name in encoders})
            if forward_alone:
                runs["ours_forward"] = forward_contenders(models["fp32"], batches)["ours_forward"]
            return runs

        for bs, tps, macs in in_turns(models["fp32"], timed_texts, [size], repeats, contenders, "precision, "):
            row = {"texts": len(timed_texts), **{f"{k}_texts_per_s": v for k, v in tps.items()}}
            if ref is not None:
                row.update({f"{k}_vs_reference": tps[k] / tps["reference"] for k in models})
            limit = row["mac_ceiling_vs_encoder"] = macs["ceiling_ours_vs_encoder"]
            row["macs"] = macs
            row["fp32_vs_encoder"] = tps["fp32"] / tps["encoder_fp32"]
            if forward_alone:
                row["ours_forward_vs_encoder"] = tps["ours_forward"] / tps["encoder_fp32"]
            row.update({f"{k}_share_of_ceiling": tps[k] / tps[f"encoder_{k}"] / limit for k in models
                        if f"encoder_{k}" in tps})
            out[str(bs)] = row
    return out


def recommend(result: dict, tolerance: float) -> dict:
    """The fastest of our precisions at the largest batch whose F1 holds on every dev set."""
    sentences = result["speed_sentences"]
    largest = sentences[max(sentences, key=int)]
    ours = [k for k in ("fp32", "bf16", "int8") if f"{k}_texts_per_s" in largest]
    dev = [row for name, row in result["accuracy"].items() if name.startswith("dev_")]
    if not dev:
        return {"precision": None, "why": "no dev set to choose on"}
    holds = {k: all(abs(row[k]["f1_diff_points"]) <= tolerance for row in dev) for k in ours}
    best = max((k for k in ours if holds[k]), key=lambda k: largest[f"{k}_texts_per_s"])
    return {"precision": best, "f1_holds_on_dev": holds, "tolerance_points": tolerance,
            "speedup_vs_fp32": largest[f"{best}_texts_per_s"] / largest["fp32_texts_per_s"]}


def training_step_parts(model_dir: Path, train_file: Path, s: dict) -> dict:
    """Our training step (train()'s pieces, in training mode) on the trained model's weights and identical
    batches of the training file, in turns: float32; bf16 autocast as train() runs it (the BiLSTM kept in
    float32); the same with the BiLSTM in bf16 too; and with the span head in float32 too. Seconds per step
    of each: which part bf16 speeds up on this CPU, and which it slows."""
    import random

    from gliner import GLiNER
    from gliner.loading import cpu_has_bf16
    from gliner.train import batch_loss, make_batch, make_optimizer, sample_types

    if not cpu_has_bf16():
        return {"skipped": "this CPU has no bfloat16 units (AVX-512 BF16 or AMX)"}
    model = GLiNER.from_pretrained(model_dir).train()
    examples = [ex for ex in (json.loads(line) for line in open(train_file, encoding="utf-8")) if ex["ner"]]
    rng, size = random.Random(0), s["batch_size"]
    vocabulary = sorted({t for ex in examples for *_, t in ex["ner"]})
    batches = []
    for i in range(s["step_parts_batches"]):
        chunk = examples[i * size : (i + 1) * size]
        types = sample_types(chunk, 0.5, True, True, model.config.max_types, rng, 0, vocabulary)
        batches.append(make_batch(chunk, types, model, s["max_words"]))
    optimizer = make_optimizer(model, TRAIN)
    m, head = model.model, model.model.span_rep_layer.span_rep_layer
    fp32_score = head.score

    def head_in_fp32(words, types):
        with torch.autocast("cpu", enabled=False):
            return fp32_score(words.float(), types.float())

    def run(bf16: bool, lstm_fp32: bool = True, head_fp32: bool = False):
        def steps() -> float:
            if hasattr(m, "rnn"):
                m.rnn.fp32_under_cpu_autocast = lstm_fp32
            if head_fp32:
                head.score = head_in_fp32
            else:
                head.__dict__.pop("score", None)
            t0 = time.perf_counter()
            for batch in batches:
                batch_loss(model, batch, {**REFERENCE_LOSS, "bf16": bf16}).backward()
                optimizer.zero_grad(set_to_none=True)  # no update: every configuration sees the same weights
            return time.perf_counter() - t0
        return steps

    configs = {"fp32": run(False), "bf16 (as train() runs it: BiLSTM in fp32)": run(True),
               "bf16, BiLSTM in bf16 too": run(True, lstm_fp32=False),
               "bf16, span head in fp32 too": run(True, head_fp32=True)}
    try:
        best = take_turns(configs, 1)  # a warm-up round, then one timed round
    finally:
        if hasattr(m, "rnn"):
            m.rnn.fp32_under_cpu_autocast = True
        head.__dict__.pop("score", None)
    out = {name: {"s_per_step": seconds / len(batches), "speedup_vs_fp32": best["fp32"] / seconds}
           for name, seconds in best.items()}
    log("  training step parts: " + ", ".join(f"{k} {v['speedup_vs_fp32']:.2f}x" for k, v in out.items()))
    return {"batches": len(batches), "batch_size": size, "configs": out}


def precision_check(models: dict, info: dict, model_dir: Path, sets: dict[str, list[dict]], s: dict,
                    ref=None, f1_file: Path | None = None) -> dict:
    """The whole check on one trained checkpoint's `contenders`; `ref` (a ReferenceWorker) is loaded with the
    same checkpoint and timed beside them. F1 comes from `f1_file` (the precision_f1 stage, on every sentence of
    each set) where given, else from the first `precision_examples` sentences of each set, computed here."""
    if f1_file is not None:
        f1 = read_f1_file(f1_file, model_dir)
    else:
        f1 = {"sentences": f"the first {s['precision_examples']} of each set",
              "accuracy": accuracy(models, {name: examples[: s["precision_examples"]] for name, examples in sets.items()})}
    result = {"model": str(model_dir), "contenders": info, "f1_sentences": f1["sentences"], "accuracy": f1["accuracy"]}
    if ref is not None:
        ref.call("load", ckpt=str(model_dir))
    ours = tuple(k for k in models if not is_fast_gliner(k))
    result["speed_sentences"] = speed(models, ref, SENTENCES[: s["sentences"]], s["batch_sizes"], s["repeats"],
                                      encoders=ours, forward_alone=True, batch1_texts=s.get("batch1_sentences"))
    docs = [long_document(s["long_doc_words"])[0]] * s["long_docs"]
    ours_only = {k: models[k] for k in ours}  # fast-gliner reads one window per text: it would cut them
    result["speed_long_documents"] = speed(ours_only, ref, docs, s["long_batch_sizes"], s["long_repeats"],
                                           encoders=("fp32",), forward_alone=False)
    result["recommended"] = recommend(result, s["precision_f1_tolerance"])
    log(f"  recommended: {result['recommended']}")
    return result


def read_f1_file(path: Path, model_dir: Path) -> dict:
    """The precision_f1 stage's JSON, refused when it scored another checkpoint than the one timed here."""
    f1 = json.loads(Path(path).read_text(encoding="utf-8"))
    if Path(f1.get("model", "")).resolve() != Path(model_dir).resolve():
        raise ValueError(f"{path}: model: its F1 is of {f1.get('model')!r}, but the benchmark times {str(model_dir)!r}; "
                         "run `python -m bench.precision` on the same checkpoint")
    return f1


def precision_sets(files: list[Path], data: dict) -> dict:
    """The precision check's sets: each test file and its dev_ twin (first `precision_examples` sentences are
    taken later); without files, the benchmark's evaluation sample stands in as both."""
    sets = {}
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"--test-sets: {path} does not exist")
        for name, file in ((f"dev_{path.stem}", path.with_name(f"dev_{path.name}")), (path.stem, path)):
            if file.is_file():  # not every test set has a dev twin
                sets[name] = [json.loads(line) for line in file.open(encoding="utf-8")]
    return sets or {"dev_bench_eval": data["eval"], "bench_eval": data["eval"]}


def main(argv=None) -> dict:
    """The F1 half of the check, on every sentence of each set, as a stage of its own (precision_f1): it times
    nothing, so it runs beside other stages, and the benchmark, which times and runs alone, reads its JSON."""
    import argparse
    import tempfile

    from gliner.atomic import write_json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", type=Path, required=True, help="the trained checkpoint")
    parser.add_argument("--test-sets", type=Path, nargs="+", required=True,
                        help="span-JSONL test sets (their dev_ twins beside them are scored too, and choose)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timing", type=Path, help="write the wall time here ({'wall_s': ...}, as every stage does)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gliner-precision-") as work:
        models, info = contenders(args.model, Path(work))
        sets = precision_sets(args.test_sets, {})
        log(f"precision F1: {args.model} in {', '.join(models)} on every sentence of {', '.join(sets)}")
        # the export's seconds stay out: the same checkpoint gives the same bytes, and the benchmark is not re-run
        info = {name: {k: v for k, v in how.items() if k != "export_s"} for name, how in info.items()}
        result = {"model": str(args.model), "contenders": info, "sentences": "all of each set",
                  "accuracy": accuracy(models, sets)}
    write_json(args.out, result)
    if args.timing:
        write_json(args.timing, {"wall_s": round(time.perf_counter() - started, 1)})
    log(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
