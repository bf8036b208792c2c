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


def greedy_decode(cands: torch.Tensor, flat_ner: bool = True, multi_label: bool = False) -> list[Span]:
    """Keep candidates greedily by descending score; return them sorted by start word.

    Each candidate is checked only against the kept spans that can touch it, not against all of
    them (quadratic: an untrained head gives ~20 candidates per word): flat mode records, per
    word, the kept span covering it (O(width)); nested mode indexes kept spans by start word and
    looks only at starts from `start - widest + 1` to `end`, the only ones that can overlap.
    A candidate with the (start, end) of a kept span clashes unless `multi_label`; it then needs
    no further check, since every kept span is compatible with that identical one.
    """
    if cands.numel() == 0:
        return []
    rows = cands[torch.argsort(-cands[:, 3], stable=True)].tolist()
    num_words = int(cands[:, 1].max()) + 1
    kept: list[Span] = []
    if flat_ner:
        owner: list = [None] * num_words  # word -> (start, end) of the kept span covering it
        for start, end, label, score in rows:
            s, e = int(start), int(end)
            if (multi_label and owner[s] == (s, e)) or not any(owner[s:e + 1]):
                owner[s:e + 1] = [(s, e)] * (e - s + 1)
                kept.append((s, e, int(label), score))
    else:
        widest = int((cands[:, 1] - cands[:, 0]).max()) + 1
        ends: list[set[int]] = [set() for _ in range(num_words)]  # start word -> ends of kept spans
        for start, end, label, score in rows:
            s, e = int(start), int(end)
            if e in ends[s]:
                clash = not multi_label
            else:  # partial overlap: a kept span starting before s and ending inside [s, e), or
                # starting inside (s, e] and ending after e (those starting at s are nested)
                clash = (any(s <= b < e for a in range(max(0, s - widest + 1), s) for b in ends[a])
                         or any(b > e for a in range(s + 1, e + 1) for b in ends[a]))
            if not clash:
                ends[s].add(e)
                kept.append((s, e, int(label), score))
    kept.sort(key=lambda s: s[0])
    return kept
