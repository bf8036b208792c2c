"""Parity with the reference on one checkpoint: the entities each decodes in every mode and threshold, and
every span's score, so that a difference anywhere in the forward or the decoding shows."""

from __future__ import annotations

from pathlib import Path

import torch

from bench.accuracy import compare_entities
from bench.refclient import ReferenceWorker
from bench.sentences import LABELS

PARITY_THRESHOLDS = [0.5, 0.1]  # the default and a low one, where many more spans pass
MODES = {"flat": dict(flat_ner=True, multi_label=False), "nested": dict(flat_ner=False, multi_label=False),
         "multi_label": dict(flat_ner=True, multi_label=True)}


def ours_scores(model, text: str, labels: list[str]) -> torch.Tensor:
    """Our sigmoid score of every (span, label) of one text, in one window, as the reference scores it."""
    from gliner.processing import encode, split_words

    words = [w for w, _, _ in split_words(text, model.config.words_splitter_type)]
    with torch.inference_mode():
        logits, _ = model(**encode(model.tokenizer, [words], [labels], model.config.ent_token, model.config.sep_token))
    return logits[0].float().sigmoid()


def max_span_score_diff(ours_model, ref: ReferenceWorker, texts: list[str]) -> tuple[float, int]:
    """Largest difference between our score and the reference model's (the one its worker holds)
    over every (span, label) of the texts; and how many were compared."""
    score_diff, spans = 0.0, 0
    for text, theirs in zip(texts, ref.call("scores", texts=texts, labels=LABELS)["texts"]):
        ours = ours_scores(ours_model, text, LABELS)
        theirs_t = torch.tensor(theirs["scores"])
        n = theirs["words"]
        if ours.shape != theirs_t.shape:
            raise RuntimeError(f"score shapes differ: ours {tuple(ours.shape)}, reference {tuple(theirs_t.shape)}")
        valid = (torch.arange(ours.size(0))[:, None] + torch.arange(ours.size(1))[None, :]) < n
        score_diff = max(score_diff, float((ours - theirs_t).abs()[valid].max()))
        spans += int(valid.sum()) * len(LABELS)
    return score_diff, spans


def parity(ours_model, ref: ReferenceWorker, ckpt: Path, texts: list[str]) -> dict:
    """Ours and the reference on one checkpoint: decoded entities and every span's score."""
    ref.call("load", ckpt=str(ckpt))
    runs, same, worst = {}, True, 0.0
    for threshold in PARITY_THRESHOLDS:
        for mode, kwargs in MODES.items():
            ours = ours_model.batch_predict_entities(texts, LABELS, threshold=threshold, batch_size=8, **kwargs)
            theirs = ref.call("predict", texts=texts, labels=LABELS, threshold=threshold, batch_size=8, **kwargs)
            r = compare_entities(ours, theirs["entities"])
            runs[f"{mode}@{threshold}"] = r
            same &= r["spans_equal"]
            worst = max(worst, r["max_entity_score_diff"])
    score_diff, spans = max_span_score_diff(ours_model, ref, texts)
    return {"spans_equal": same, "max_entity_score_diff": worst, "max_span_score_diff": score_diff,
            "span_scores_compared": spans, "texts": len(texts), "runs": runs}
