import sys
import time

import pytest
import torch

from bench.decode_speed import old_greedy_decode, untrained_candidates  # the quadratic original, as the oracle
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


# ------------------------------------------------------------- equivalence with the old algorithm
def random_candidates(rng):
    """A small candidate set, in random row order, rich in score ties, nested and crossing spans,
    (start, end) repeated with other labels, and now and then an exact duplicate row."""
    words, widest, labels = rng.randint(1, 12), rng.randint(1, 5), rng.randint(1, 3)
    rows = []
    for _ in range(rng.randint(0, 40)):
        s = rng.randrange(words)
        e = min(words - 1, s + rng.randrange(widest))
        rows.append([s, e, rng.randrange(labels), rng.choice([0.55, 0.6, 0.7, 0.8, 0.9])])
        if rng.random() < 0.2:
            rows.append([s, e, rng.randrange(labels), rng.choice([0.55, 0.6, 0.7, 0.8, 0.9])])
        if rng.random() < 0.05:
            rows.append(list(rows[-1]))
    rng.shuffle(rows)
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 4)


def test_random_candidates_decode_as_the_old_algorithm():
    import random

    rng = random.Random(0)
    modes = [(f, m) for f in (True, False) for m in (False, True)]
    differs = {"flat_vs_nested": 0, "multi_vs_single": 0}
    for _ in range(2000):
        cands = random_candidates(rng)
        expected = {mode: old_greedy_decode(cands, *mode) for mode in modes}
        for mode in modes:
            assert greedy_decode(cands, *mode) == expected[mode], (mode, cands.tolist())
        differs["flat_vs_nested"] += expected[True, False] != expected[False, False]
        differs["multi_vs_single"] += expected[False, True] != expected[False, False]
    assert min(differs.values()) > 100  # the sets do tell the modes apart


# ------------------------------------------------------------------------------------ scale
def lines_run(fn, filename):
    """Python lines executed in `filename` (its generator expressions included) while fn() runs."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if frame.f_code.co_filename != filename:
            return None
        count += event == "line"
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


@pytest.mark.parametrize("flat_ner, multi_label", [(True, False), (False, False), (True, True), (False, True)])
def test_work_grows_linearly_with_candidates(flat_ner, multi_label):
    import gliner.decoding

    small, large = untrained_candidates(500), untrained_candidates(2000)
    work = [lines_run(lambda c=c: greedy_decode(c, flat_ner, multi_label), gliner.decoding.__file__)
            for c in (small, large)]
    assert work[1] / work[0] < 1.5 * len(large) / len(small)  # quadratic would be ~16x for ~4x


def test_work_count_sees_the_old_quadratic_algorithm():
    small, large = untrained_candidates(50), untrained_candidates(200)
    import bench.decode_speed

    work = [lines_run(lambda c=c: old_greedy_decode(c, True, False), bench.decode_speed.__file__) for c in (small, large)]
    assert work[1] / work[0] > 2 * len(large) / len(small)


def test_ten_thousand_words_decode_quickly():
    cands = untrained_candidates(10_000)
    assert len(cands) > 150_000
    t0 = time.perf_counter()
    for flat_ner in (True, False):
        for multi_label in (False, True):
            greedy_decode(cands, flat_ner, multi_label)
    assert time.perf_counter() - t0 < 40  # four decodes; the old algorithm took ~130 s for one
