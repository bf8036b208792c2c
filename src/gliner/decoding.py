"""Greedy span decoding (paper section 2.4; the reference's `greedy_search`).

Thresholding runs on tensors; the greedy pass then only walks the few surviving candidates,
highest score first, keeping a span unless it clashes with one already kept:
  flat_ner=True   no two kept spans share a word;
  flat_ner=False  nesting is allowed, partial overlaps are not;
  multi_label     the same (start, end) may be kept with several labels.
"""

from __future__ import annotations

import torch

Span = tuple[int, int, int, float]  # (start_word, end_word_inclusive, label_index, score)


def candidates(scores: torch.Tensor, num_words: int, threshold: float) -> torch.Tensor:
    """Spans above threshold from one row's (L, K, C) probabilities, as rows (start, end, label, score).

    Spans running past `num_words` (padding) are dropped. Order is (start, width, label), the
    order the reference enumerates them in, so ties break the same way.
    """
    start, width, label = torch.where(scores > threshold)
    keep = start + width < num_words
    start, width, label = start[keep], width[keep], label[keep]
    score = scores[start, width, label]
    return torch.stack([start.double(), (start + width).double(), label.double(), score.double()], dim=1)


def _clash(a: Span, b: Span, flat_ner: bool, multi_label: bool) -> bool:
    if a[0] == b[0] and a[1] == b[1]:
        return not multi_label
    disjoint = a[0] > b[1] or b[0] > a[1]
    if flat_ner:
        return not disjoint
    nested = (a[0] <= b[0] and a[1] >= b[1]) or (b[0] <= a[0] and b[1] >= a[1])
    return not (disjoint or nested)


def greedy_decode(cands: torch.Tensor, flat_ner: bool = True, multi_label: bool = False) -> list[Span]:
    """Keep candidates greedily by descending score; return them sorted by start word."""
    if cands.numel() == 0:
        return []
    order = torch.argsort(-cands[:, 3], stable=True)
    kept: list[Span] = []
    for start, end, label, score in cands[order].tolist():
        span = (int(start), int(end), int(label), score)
        if not any(_clash(span, other, flat_ner, multi_label) for other in kept):
            kept.append(span)
    kept.sort(key=lambda s: s[0])
    return kept
