"""Greedy decoding of an untrained head's candidates: the old quadratic pass against `greedy_decode`.

    .venv/bin/python -m bench.decode_speed [--words 10000] [--old-words 1000] [--repeats 3]

An untrained head scores about half of all spans above threshold: ~20 candidates per word here
(12 widths x 4 labels, scores rounded to 2 decimals so ties abound). The old pass checked every
candidate against every kept span, so it runs only on the first `--old-words` words (and twice
that, to show its growth); the new one runs on both and on the full text, in all four modes.
"""

from __future__ import annotations

import argparse

import torch

from bench.speed import take_turns, timed
from gliner.decoding import candidates, greedy_decode


def untrained_candidates(words: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    probs = (torch.rand(words, 12, 4, generator=gen) * 100).round() / 100
    return candidates(probs, words, 0.58)


def old_greedy_decode(cands: torch.Tensor, flat_ner: bool = True, multi_label: bool = False) -> list:
    """The original quadratic greedy_decode (each candidate checked against every kept span): the
    benchmark's baseline and tests/test_decoding.py's oracle."""
    def clash(a, b):
        if a[0] == b[0] and a[1] == b[1]:
            return not multi_label
        disjoint = a[0] > b[1] or b[0] > a[1]
        if flat_ner:
            return not disjoint
        nested = (a[0] <= b[0] and a[1] >= b[1]) or (b[0] <= a[0] and b[1] >= a[1])
        return not (disjoint or nested)

    if cands.numel() == 0:
        return []
    kept: list = []
    for start, end, label, score in cands[torch.argsort(-cands[:, 3], stable=True)].tolist():
        span = (int(start), int(end), int(label), score)
        if not any(clash(span, other) for other in kept):
            kept.append(span)
    kept.sort(key=lambda s: s[0])
    return kept


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=10_000)
    parser.add_argument("--old-words", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    full = untrained_candidates(args.words)
    results = {}
    print(f"{'mode':<18} {'words':>6} {'candidates':>10} {'old s':>8} {'new s':>8} {'old/new':>8}")
    for flat_ner, multi_label in [(True, False), (False, False), (True, True), (False, True)]:
        mode = f"{'flat' if flat_ner else 'nested'}{'+multi' if multi_label else ''}"
        for words in (args.old_words, 2 * args.old_words):
            cands = full[full[:, 1] < words]  # the first `words` words of the text
            assert greedy_decode(cands, flat_ner, multi_label) == old_greedy_decode(cands, flat_ner, multi_label)
            best = take_turns({"old": timed(lambda: old_greedy_decode(cands, flat_ner, multi_label)),
                               "new": timed(lambda: greedy_decode(cands, flat_ner, multi_label))},
                              args.repeats, warmup=False)
            results[f"{mode}_{words}"] = best
            print(f"{mode:<18} {words:>6} {len(cands):>10} {best['old']:>8.3f} {best['new']:>8.3f} "
                  f"{best['old'] / best['new']:>8.0f}")
        new = take_turns({"new": timed(lambda: greedy_decode(full, flat_ner, multi_label))}, args.repeats)["new"]
        # the old pass grows quadratically: scale its time on the largest subset by (size ratio)^2
        old = best["old"] * (len(full) / len(cands)) ** 2
        results[f"{mode}_{args.words}"] = {"old_extrapolated": old, "new": new}
        print(f"{mode:<18} {args.words:>6} {len(full):>10} {old:>7.0f}* {new:>8.3f} {old / new:>8.0f}")
    print("* old at full size: extrapolated quadratically from the largest measured subset")
    return results


if __name__ == "__main__":
    main()
