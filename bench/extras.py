"""The users' asks, each against our eager float32 model (the trained default) in turns on the same sentences:
torch.compile, ONNX export + onnxruntime, and the BiLSTM left out; speed, same entities, F1. Dynamic int8 is
one of the precisions (bench/precision.py), measured there on every dev and test set."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bench.accuracy import compare_entities, f1_of
from bench.common import log
from bench.sentences import LABELS, SENTENCES
from bench.speed import end_to_end, take_turns


def extras(model, model_dir: Path, short_runs: dict, s: dict, evaluation: list[dict], work: Path, threads: int,
           short_f1: dict) -> dict:
    """torch.compile, ONNX + onnxruntime: each against eager fp32 `model` (loaded from `model_dir`). BiLSTM off:
    `short_runs` holds the short run trained without it ("no_bilstm") and the one trained with it ("with_bilstm",
    the same config otherwise), timed in the same turns; the no-BiLSTM speed-up is against that twin, and the F1
    of both (`short_f1`) is the training section's."""
    from gliner import GLiNER

    texts = SENTENCES[: s["sentences"]]
    # compared at a low threshold too, so that more entities are compared
    reference_entities = model.batch_predict_entities(texts, LABELS, threshold=0.2, batch_size=8)
    variants, info = {"ours_fp32": model}, {}

    try:
        from bench.onnx_export import OnnxGLiNER, export

        t0 = time.perf_counter()
        path = export(model, work / "onnx" / "gliner.onnx")
        variants["onnx"] = OnnxGLiNER(model, path, threads)
        info["onnx"] = {"export_s": time.perf_counter() - t0, "size_mb": path.stat().st_size / 2**20,
                        "how": "torch.onnx.export (opset 17) of bench.onnx_export.ExportForward, onnxruntime CPU"}
    except Exception as err:  # onnx/onnxruntime missing or export failure: recorded, not hidden
        info["onnx"] = {"error": f"{type(err).__name__}: {err}"}

    if s["compile"]:
        try:
            compiled = GLiNER.from_pretrained(model_dir)
            compiled.model = torch.compile(compiled.model, dynamic=True)
            t0 = time.perf_counter()
            for bs in s["extras_batch_sizes"]:
                compiled.batch_predict_entities(texts, LABELS, batch_size=bs)
            variants["torch_compile"] = compiled
            info["torch_compile"] = {"first_calls_s": time.perf_counter() - t0,
                                     "how": "torch.compile(model.model, dynamic=True), inductor"}
        except Exception as err:
            info["torch_compile"] = {"error": f"{type(err).__name__}: {err}"}
    else:
        info["torch_compile"] = {"skipped": "not in this setting (compiling takes minutes on 2 cores): --set compile=true"}
    variants.update(short_runs)

    for name, variant in variants.items():
        found = variant.batch_predict_entities(texts, LABELS, threshold=0.2, batch_size=8)
        info.setdefault(name, {})["same_entities_as_fp32"] = compare_entities(found, reference_entities)["spans_equal"] \
            if name not in short_runs else None  # other trained models: their entities differ by design
        info[name]["entities_at_0.2"] = sum(map(len, found))
    info["no_bilstm"]["speedup_against"] = "with_bilstm"
    for bs in s["extras_batch_sizes"]:
        best = take_turns(end_to_end(variants, None, texts, bs), s["repeats"], warmup=False)  # each ran once above
        for name, seconds in best.items():
            baseline = best[info[name].get("speedup_against", "ours_fp32")]
            info[name].setdefault("texts_per_s", {})[str(bs)] = len(texts) / seconds
            info[name].setdefault("speedup_vs_fp32", {})[str(bs)] = baseline / seconds
        log(f"  extras batch {bs}: " + ", ".join(f"{k} {len(texts) / v:.2f}" for k, v in best.items()))
    for name in ("ours_fp32", "onnx"):
        if name in variants:
            f1 = f1_of(variants[name], evaluation)
            info[name]["f1"], info[name]["best_f1"] = f1["f1"], f1.get("best_f1")
            log(f"  {name}: F1 at 0.5 {f1['f1']:.3f}, best {f1['best_f1']:.3f}")
    for name in short_runs:
        info[name]["f1"], info[name]["best_f1"] = short_f1[name]["f1"], short_f1[name].get("best_f1")
    return info
