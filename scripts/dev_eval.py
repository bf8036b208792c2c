"""Record the evidence for a recipe choice: a trained model's F1 on the dev sets (never test), added
as one run to a choice file under reports/recipe/, which the report renders into the results block.

    .venv/bin/python scripts/dev_eval.py MODEL_DIR --choice max_steps --run 2000 [--chosen]

MODEL_DIR is a saved model (e.g. models/main/model after `dvc repro train`). Each run of a choice is
evaluated on the same dev sets at threshold 0.5 in `eval.dtype`, with the threshold sweep beside it;
`--chosen` marks the run the recipe in params.yaml now uses. About a minute per model on 2 cores.
Each run's per-sentence counts (tp, fp, fn at 0.5) go to <out-dir>/counts/<choice>.json, for
scripts/dev_compare.py, which compares runs over seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gliner.atomic import atomic_write, write_json
from gliner.evaluate import evaluate
from gliner.loading import dtype_name
from gliner.model import GLiNER
from gliner.pipeline import dev_sets_for, stage_params

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ at the repository root: its cpu_name
from bench.common import cpu_name  # noqa: E402

DEV_OF = ["unseen_types_silver", "heldout_silver"]  # the test sets with a dev_ twin (WNUT-16 has none: it is test only)


def dev_metrics(model_dir: str, params_file: str = "params.yaml") -> dict:
    """Per dev set: gold count, micro P / R / F1 at 0.5 and the sweep's F1 per threshold."""
    eval_params = stage_params("eval", params_file)
    model = GLiNER.from_pretrained(model_dir, dtype=eval_params["dtype"])
    sets = dev_sets_for(DEV_OF, Path(stage_params("train", params_file)["train_file"]).parent)
    result = evaluate(model, sets, eval_params["threshold"], batch_size=eval_params["batch_size"], progress=True)
    return {"dtype": dtype_name(model.dtype), "threshold": eval_params["threshold"],
            "datasets": {name: {"gold": m["micro"]["tp"] + m["micro"]["fn"], "micro": m["micro"],
                                "sweep_f1": {t: s["f1"] for t, s in m["sweep"].items()}}
                         for name, m in result["datasets"].items()},
            "per_example": result["per_example"]}


def counts_file(out_dir, choice: str) -> Path:
    """Where a choice's per-sentence counts live: beside its record, out of the report's reports/recipe/*.json."""
    return Path(out_dir) / "counts" / f"{choice}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--choice", required=True, help="the params key the runs differ in, e.g. max_steps")
    parser.add_argument("--run", required=True, help="this model's value of it, e.g. 2000")
    parser.add_argument("--chosen", action="store_true", help="params.yaml now uses this run's value")
    parser.add_argument("--out-dir", default="reports/recipe")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    path = Path(args.out_dir) / f"{args.choice}.json"
    record = json.loads(path.read_text()) if path.exists() else {"choice": args.choice, "runs": {}}
    metrics = dev_metrics(args.model_dir, args.params)
    counts_path = counts_file(args.out_dir, args.choice)
    counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
    counts[args.run] = metrics.pop("per_example")
    record["runs"][args.run] = {**metrics, "cpu": cpu_name()}
    if args.chosen:
        record["chosen"] = args.run
    atomic_write(counts_path, json.dumps(counts, sort_keys=True) + "\n")  # one line (indented, 4.5x the bytes)
    write_json(path, record)
    for name, m in record["runs"][args.run]["datasets"].items():
        print(f"{args.choice}={args.run} {name} ({m['gold']} gold): F1 {100 * m['micro']['f1']:.1f} "
              f"P {100 * m['micro']['precision']:.1f} R {100 * m['micro']['recall']:.1f}")


if __name__ == "__main__":
    main()
