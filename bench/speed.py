"""Inference speed, timed so that it survives a busy machine: every contender runs in turns and the best run
of each counts, on our own tokenised batches, beside the bare encoder on the same batches (the limit) and the
MAC ceiling of ours / encoder on them (bench/flops.py)."""

from __future__ import annotations

import time

import torch

from bench.common import INIT, log, random_bert
from bench.refclient import ReferenceWorker
from bench.sentences import LABELS, SENTENCES


def timed(fn):
    """Wrap a no-argument function so it returns its own wall time in seconds."""
    def run() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    return run


def take_turns(contenders: dict, repeats: int, warmup: bool = True) -> dict:
    """Best seconds of each contender over `repeats` rounds (a, b, c, a, b, c, ...).

    Each contender is a function returning the seconds it took (so a contender running in
    another process can report its own time, without the messaging around it). Taking turns
    means a load spike hits all contenders alike; the best round is the least disturbed one.
    """
    if warmup:
        for fn in contenders.values():
            fn()
    best = {name: float("inf") for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            best[name] = min(best[name], fn())
    return best


def encoder_batches(model, texts: list[str], batch_size: int) -> list[dict]:
    """Our encoder inputs (prompt + words, long texts windowed) as batch_predict_entities builds them."""
    from gliner.processing import split_words

    docs = [[w for w, _, _ in split_words(text, model.config.words_splitter_type)] for text in texts]
    rows = model.encoder_rows(docs, [LABELS] * len(docs))
    return [model.encode_rows(docs, rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]


def bare_encoder(model, batches: list[dict]) -> None:
    """The encoder alone on our tokenised batches: the limit ours is measured against."""
    encoder = model.model.token_rep_layer.bert_layer.model
    with torch.inference_mode():
        for b in batches:
            encoder(input_ids=b["input_ids"], attention_mask=b["attention_mask"])


def forward_contenders(model, batches: list[dict]) -> dict:
    """Timed passes over tokenised batches: the bare encoder, and our whole forward (encoder and
    GLiNER layers, no tokenising or decoding)."""
    def forward():
        with torch.inference_mode():
            for b in batches:
                model.model(**b)

    return {"encoder": timed(lambda: bare_encoder(model, batches)), "ours_forward": timed(forward)}


def end_to_end(models: dict, ref: ReferenceWorker | None, texts: list[str], batch_size: int) -> dict:
    """Timed `batch_predict_entities` of each model (anything with ours' signature) and, given its worker,
    of the reference, which times itself in its own process."""
    runs = {name: timed(lambda m=m: m.batch_predict_entities(texts, LABELS, batch_size=batch_size))
            for name, m in models.items()}
    if ref is not None:
        runs["reference"] = lambda: ref.call("time_predict", texts=texts, labels=LABELS,
                                             batch_size=batch_size)["seconds"][0]
    return runs


def in_turns(model, texts: list[str], batch_sizes: list[int], repeats: int, contenders, label: str):
    """For each batch size, `contenders(bs, batches)` (name -> timed function) run in `repeats` turns on `model`'s
    tokenised batches of `texts`, the first of which warms each up (no separate warm-up round: the best round
    counts): yields the batch size, the texts/s of each and the MACs of those batches."""
    from bench.flops import ceiling

    for bs in batch_sizes:
        batches = encoder_batches(model, texts, bs)
        best = take_turns(contenders(bs, batches), repeats, warmup=False)
        tps = {name: len(texts) / seconds for name, seconds in best.items()}
        macs = ceiling(model.config, batches)
        log(f"  {label}batch {bs}: " + ", ".join(f"{k} {v:.2f} texts/s" for k, v in tps.items())
            + f"; MAC ceiling of ours / encoder {macs['ceiling_ours_vs_encoder']:.2f}")
        yield bs, tps, macs


def texts_per_second(model, texts: list[str], batch_sizes: list[int], repeats: int, contenders, label: str) -> dict:
    """`in_turns`, per batch size: texts/s of each contender (the encoder and, when timed, our forward alone
    among them), their ratios to the bare encoder, and the MAC ceiling of ours / encoder."""
    out = {}
    for bs, tps, macs in in_turns(model, texts, batch_sizes, repeats, contenders, label):
        out[str(bs)] = {**{f"{k}_texts_per_s": v for k, v in tps.items()},
                        **{f"{k}_vs_encoder": v / tps["encoder"] for k, v in tps.items() if k != "encoder"},
                        "mac_ceiling_vs_encoder": macs["ceiling_ours_vs_encoder"], "macs": macs}
    return out


def wide_encoder_speed(tokenizer_path: str, s: dict) -> dict:
    """ours / encoder with a randomly initialised encoder of the paper's size (MiniLM's tokenizer).

    The GLiNER layers cost the same whatever the encoder, so their share shrinks as the encoder
    grows: this measures our overhead where the paper runs. Random weights: only the forward pass
    is timed (end-to-end decoding of an untrained model's noise would measure the noise)."""
    from transformers import AutoTokenizer

    from gliner import GLiNER
    from gliner.config import GLiNERConfig

    model = GLiNER.from_config(GLiNERConfig(model_name="random BERT", hidden_size=s["hidden_size"], **INIT),
                               AutoTokenizer.from_pretrained(tokenizer_path), random_bert(**s["wide_encoder"])).eval()
    texts = SENTENCES[: s["wide_sentences"]]
    speeds = texts_per_second(model, texts, s["wide_batch_sizes"], s["repeats"],
                              lambda bs, batches: forward_contenders(model, batches), "wide encoder, ")
    return {"encoder": s["wide_encoder"], "hidden_size": s["hidden_size"], "texts": len(texts), **speeds}
