"""End-to-end `batch_predict_entities` throughput against a bare forward of the same encoder.

    .venv/bin/python -m bench.inference [--backbone PATH] [--hidden-size 512] [--repeats 5]

Prints texts/s for ours and for the encoder alone on the same prompt+text inputs (tokenised
beforehand, so it is an upper bound), at batch 1, 8 and 32, and their ratio, in one run, taken in
turns (ours, bare, ours, bare, ...) so that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import json

import torch

from gliner.loading import default_backbone
from bench.sentences import LABELS, SENTENCES
from bench.speed import end_to_end, forward_contenders, in_turns
from gliner import GLiNER
from gliner.processing import split_words


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default=None, help="encoder path or hub id (default: offline MiniLM)")
    parser.add_argument("--hidden-size", type=int, default=512, help="GLiNER hidden size (reference default 512)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--texts", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = GLiNER.from_backbone(args.backbone or default_backbone(), hidden_size=args.hidden_size).eval()
    texts = SENTENCES[: args.texts]
    words = [[w for w, _, _ in split_words(t)] for t in texts]

    def contenders(bs: int, batches: list[dict]) -> dict:
        return {**end_to_end({"ours": model}, None, texts, bs), "encoder": forward_contenders(model, batches)["encoder"]}

    results = {"threads": torch.get_num_threads(), "texts": len(texts), "labels": len(LABELS)}
    print(f"{len(texts)} sentences (~{sum(map(len, words)) / len(words):.0f} words), {len(LABELS)} labels, "
          f"{torch.get_num_threads()} threads")
    print(f"{'batch':>5} {'ours texts/s':>13} {'encoder texts/s':>16} {'ratio':>6}")
    for bs, speed, _ in in_turns(model, texts, args.batch_sizes, args.repeats, contenders, ""):
        ours, limit = speed["ours"], speed["encoder"]
        results[f"batch_{bs}"] = {"ours": ours, "encoder": limit, "ratio": ours / limit}
        print(f"{bs:>5} {ours:>13.1f} {limit:>16.1f} {ours / limit:>6.2f}")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
