"""How the CPU profile's training recipe was chosen: short runs of the `train` section of params.yaml
with one change after another, each evaluated on the first N sentences of the prepared sets.

    .venv/bin/python scripts/cpu_recipe_search.py [--steps 300] [--examples 300] [--only NAME ...]

Needs `prepared/` (dvc repro prepare_data). Prints one row per recipe: F1 at threshold 0.5 and the
best F1 of the threshold sweep (with its threshold), per evaluation set, and the training time.
About 4 minutes per recipe on 2 cores; the full table takes ~40 minutes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from gliner.evaluate import evaluate
from gliner.model import GLiNER
from gliner.pipeline import eval_sets, stage_params
from gliner.train import train

# what the recipe was before (the paper's choices at CPU scale), then one change at a time
BASE = dict(model_config={"embed_ent_token": True}, focal_alpha=-1.0, skip_empty=False, dropout=0.1)
RECIPES = {
    "paper-like (<<ENT>> vector, BCE)": {},
    "lr_encoder 3e-4": dict(lr_encoder=3e-4),
    "lr_others 3e-3": dict(lr_others=3e-3),
    "focal_alpha 0.75": dict(focal_alpha=0.75),
    "focal_alpha 0.9": dict(focal_alpha=0.9),
    "label's first token (embed_ent_token false)": dict(model_config={"embed_ent_token": False}),
    "  + focal_alpha 0.75": dict(model_config={"embed_ent_token": False}, focal_alpha=0.75),
    "  + skip_empty": dict(model_config={"embed_ent_token": False}, focal_alpha=0.75, skip_empty=True),
    "  + dropout 0 (the CPU profile)": dict(model_config={"embed_ent_token": False}, focal_alpha=0.75,
                                             skip_empty=True, dropout=0.0),
}
SETS = ["heldout_silver", "unseen_types_silver", "wnut16_gold"]


def run(changes: dict, steps: int, sets: dict) -> dict:
    params = stage_params("train")
    params.pop("profile")
    params.update(BASE, **changes, max_steps=steps, save_every=0, dvclive_dir=None, progress=False)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        train({**params, "output_dir": out})
        seconds = time.perf_counter() - started
        model = GLiNER.from_pretrained(Path(out) / "model")
    result = evaluate(model, sets, 0.5, progress=False)
    row = {"train_s": seconds}
    for name, metrics in result["datasets"].items():
        sweep = {float(t): m["f1"] for t, m in metrics["sweep"].items()}
        best = max(sweep, key=sweep.get)
        row[name] = (metrics["micro"]["f1"], sweep[best], best)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--examples", type=int, default=300, help="sentences per evaluation set")
    parser.add_argument("--only", nargs="*", help="recipe names (default: all)")
    args = parser.parse_args()
    sets = eval_sets(SETS, max_examples=args.examples)
    print(f"{args.steps} steps, first {args.examples} sentences per set; F1 at 0.5 / best F1 (threshold)")
    print("| recipe | " + " | ".join(SETS) + " | train s |")
    print("|---" * (len(SETS) + 2) + "|")
    for name, changes in RECIPES.items():
        if args.only and name.strip() not in args.only:
            continue
        row = run(changes, args.steps, sets)
        cells = [f"{100 * f1:.1f} / {100 * best:.1f} ({t:g})" for f1, best, t in (row[s] for s in SETS)]
        print(f"| {name} | " + " | ".join(cells) + f" | {row['train_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
