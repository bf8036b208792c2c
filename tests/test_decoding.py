import pytest
import torch

from gliner.decoding import candidates, greedy_decode

# L=5 words, K=3 widths, C=2 labels; (start, width, label) -> probability
SCORES = {
    (0, 1, 0): 0.9,   # A "w0 w1" label 0
    (1, 1, 1): 0.8,   # B "w1 w2" label 1: partial overlap with A
    (0, 0, 1): 0.7,   # C "w0" label 1: nested in A
    (0, 1, 1): 0.6,   # D "w0 w1" label 1: A's span with another label
    (3, 0, 0): 0.55,  # E "w3" label 0
    (4, 2, 0): 0.95,  # runs past the 5th word: never a candidate
    (2, 0, 0): 0.5,   # exactly at the threshold: not above it
}
A, B, C, D, E = (0, 1, 0, 0.9), (1, 2, 1, 0.8), (0, 0, 1, 0.7), (0, 1, 1, 0.6), (3, 3, 0, 0.55)


def decode(flat_ner, multi_label):
    probs = torch.full((5, 3, 2), 0.1)
    for (s, k, c), p in SCORES.items():
        probs[s, k, c] = p
    spans = greedy_decode(candidates(probs, num_words=5, threshold=0.5), flat_ner, multi_label)
    return [(s, e, c, round(p, 4)) for s, e, c, p in spans]


@pytest.mark.parametrize("flat_ner, multi_label, expected", [
    (True, False, [A, E]),
    (False, False, [A, C, E]),
    (True, True, [A, D, E]),
    (False, True, [A, C, D, E]),
])
def test_greedy_modes(flat_ner, multi_label, expected):
    assert decode(flat_ner, multi_label) == [(s, e, c, round(p, 4)) for s, e, c, p in expected]


def test_candidates_drop_padding_and_keep_reference_order():
    probs = torch.zeros(3, 2, 1)
    probs[0, 0, 0] = probs[1, 0, 0] = probs[0, 1, 0] = 0.9
    probs[2, 1, 0] = 0.99  # ends at word 3 of 3: padding
    rows = candidates(probs, num_words=3, threshold=0.5)[:, :3].tolist()
    assert rows == [[0, 0, 0], [0, 1, 0], [1, 1, 0]]


def test_ties_break_by_enumeration_order():
    probs = torch.zeros(2, 2, 1)
    probs[0, 1, 0] = probs[1, 0, 0] = 0.8  # "w0 w1" and "w1" tie; the earlier one wins
    assert [s[:3] for s in greedy_decode(candidates(probs, 2, 0.5))] == [(0, 1, 0)]


def test_empty():
    assert greedy_decode(candidates(torch.zeros(4, 3, 2), 4, 0.5)) == []
