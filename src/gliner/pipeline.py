"""What the pipeline's notebooks share: their parameters (gliner.params), evaluation sets, the ablation and
study runs, atomic writes of metrics and figures, and running a notebook as a stage."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .atomic import write_json
from .params import ablation_train_params, read_params, stage_params, yaml_values  # noqa: F401 (notebooks import them)

# Notebooks with a variant for the hub source: same stage, same outputs, the paper's corpora.
HUB_NOTEBOOKS = {"01_prepare_data": "01_prepare_hub", "03_zero_shot_eval": "03_zero_shot_eval_hub"}


def work_from_repo_root() -> Path:
    """chdir to the repository root (the nearest folder up holding dvc.yaml and params.yaml), so a
    notebook's relative paths mean the same from JupyterLab's kernel in notebooks/ as under papermill."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "params.yaml").is_file():
            os.chdir(folder)
            return folder
    raise FileNotFoundError(f"{here}: no dvc.yaml and params.yaml here or in a parent folder; "
                            "open the notebooks from a clone of this repository")


def eval_sets(names, prepared_dir="prepared", max_examples=None) -> dict:
    """Prepared evaluation sets by name, each cut to its first `max_examples` lines."""
    from .evaluate import load_eval_set

    return {name: load_eval_set(Path(prepared_dir) / f"{name}.jsonl")[:max_examples] for name in names}


def dev_sets_for(names, prepared_dir="prepared", max_examples=None) -> dict:
    """The `dev_` twins that exist of the named evaluation sets (other documents, same types)."""
    return eval_sets([f"dev_{n}" for n in names if (Path(prepared_dir) / f"dev_{n}.jsonl").exists()],
                     prepared_dir, max_examples)


def dev_threshold(result: dict) -> float:
    """The sweep's threshold with the best F1 over all dev sets pooled (0.5 without dev sets):
    short runs leave scores low, and the threshold that fits them is chosen on dev, never on test."""
    from .evaluate import prf

    if not result["datasets"]:
        return 0.5
    pooled = {t: prf(*(sum(m["sweep"][t][k] for m in result["datasets"].values()) for k in ("tp", "fp", "fn")))["f1"]
              for t in next(iter(result["datasets"].values()))["sweep"]}
    return float(max(pooled, key=lambda t: (pooled[t], -abs(float(t) - 0.5))))


def evaluate_over_seeds(trained_result: dict, sets: dict, params_file="params.yaml") -> dict:
    """`studies.over_seeds` of the main recipe: `trained_result` is models/main's evaluation on `sets`
    (seed train.seed); the recipe is trained again from the next eval.seeds - 1 seeds, each model
    evaluated the same way (eval.dtype, eval.threshold) and then discarded."""
    import tempfile

    from .evaluate import evaluate
    from .model import GLiNER
    from .studies import over_seeds
    from .train import device_type, train

    train_params, eval_params = stage_params("train", params_file), stage_params("eval", params_file)
    train_params.pop("profile")
    device = device_type(train_params["device"])
    per_seed = {train_params["seed"]: trained_result}
    for seed in range(train_params["seed"] + 1, train_params["seed"] + eval_params["seeds"]):
        with tempfile.TemporaryDirectory(prefix=f"zero-shot-seed{seed}-") as output_dir:
            train({**train_params, "seed": seed, "output_dir": output_dir, "dvclive_dir": None, "save_every": 0})
            model = GLiNER.from_pretrained(Path(output_dir) / "model", map_location=device, dtype=eval_params["dtype"])
        per_seed[seed] = evaluate(model, sets, eval_params["threshold"], batch_size=eval_params["batch_size"])
    return over_seeds(per_seed)


def run_ablation(stage: str, run_name: str, params_file="params.yaml", sets: dict | None = None,
                 dev_sets: dict | None = None, **changes) -> dict:
    """Train one ablation model (the main recipe, the stage's overrides, then `changes`), evaluate
    it zero-shot in `eval.dtype` on `sets` (default: the `eval` sets, cut to the stage's eval_max_examples) at 0.5
    and at the threshold chosen on `dev_sets` (default: their `dev_` twins) and time its
    inference; return the metrics a stage writes, with each sentence's counts under `per_example`.
    """
    import tempfile

    from .evaluate import evaluate
    from .loading import dtype_name
    from .model import GLiNER
    from .train import device_type, train

    stage_values = stage_params(stage, params_file)
    with tempfile.TemporaryDirectory(prefix=f"{stage}-{run_name}-") as output_dir:  # ablation models are not kept
        params = ablation_train_params(stage, params_file, output_dir=output_dir, **changes)
        started = time.perf_counter()
        summary = train(params)
        train_seconds = time.perf_counter() - started
        device = device_type(params["device"])
        eval_params = stage_params("eval", params_file)
        model = GLiNER.from_pretrained(Path(output_dir) / "model", map_location=device, dtype=eval_params["dtype"])
    prepared = Path(params["train_file"]).parent
    if sets is None:
        sets = eval_sets(eval_params["sets"], prepared, stage_values["eval_max_examples"])
    if dev_sets is None:
        dev_sets = dev_sets_for(eval_params["sets"], prepared, stage_values.get("eval_max_examples"))
    threshold = dev_threshold(evaluate(model, dev_sets, eval_params["threshold"], batch_size=eval_params["batch_size"],
                                       progress=False))
    result = evaluate(model, sets, eval_params["threshold"], batch_size=eval_params["batch_size"], progress=False)
    gold_widths = [e - s + 1 for examples in sets.values() for ex in examples for s, e, _ in ex["ner"]]
    metrics = {
        "run": run_name, "changes": changes, "train_steps": summary["step"], "final_loss": summary["final_loss"],
        "train_seconds": train_seconds, "eval_dtype": dtype_name(model.dtype), "overall": result["overall"],
        "gold_entities_within_max_width": sum(w <= params["max_width"] for w in gold_widths) / max(len(gold_widths), 1),
        "datasets": {name: {"micro": m["micro"], "num_examples": m["num_examples"], "dev_threshold": threshold,
                            "f1_at_dev_threshold": m["sweep"][str(threshold)]["f1"]}
                     for name, m in result["datasets"].items()},
        "dev_sets": {name: len(examples) for name, examples in dev_sets.items()},
        "per_example": result["per_example"],
    }
    if "speed_texts" in stage_values:  # texts/s of batch_predict_entities on the first set's sentences
        first = next(iter(sets.values()))
        texts = [" ".join(ex["tokenized_text"]) for ex in first][: stage_values["speed_texts"]]
        labels = list(first[0]["labels"])
        model.batch_predict_entities(texts[:8], labels)  # warm-up
        seconds = []
        for _ in range(3):  # best of three: one pass is ~1 s, too short to time on a shared CPU
            started = time.perf_counter()
            model.batch_predict_entities(texts, labels, batch_size=8)
            seconds.append(time.perf_counter() - started)
        metrics["inference_texts_per_s"] = len(texts) / min(seconds)
    return metrics


def run_study(stage: str, run_name: str, params_file="params.yaml", info: dict | None = None, **changes) -> dict:
    """`run_ablation` for each of the stage's `seeds` (0 .. n-1) on the same evaluation sentences;
    evaluates on the stage's `sets` (null: `eval.sets`) and chooses thresholds on their `dev_`
    twins; writes reports/metrics/<stage>/<run_name>.json (each seed, `summary`: mean and standard
    error per set, and `info`: what the value means) and the per-sentence counts `studies.compare` reads."""
    from .studies import counts_path, summarize

    S, eval_params = stage_params(stage, params_file), stage_params("eval", params_file)
    prepared = Path(ablation_train_params(stage, params_file)["train_file"]).parent
    names = S["sets"] or eval_params["sets"]
    sets = eval_sets(names, prepared, S["eval_max_examples"])
    dev = dev_sets_for(names, prepared, S["eval_max_examples"])
    runs = {str(seed): run_ablation(stage, f"{run_name}_seed{seed}", params_file, sets, dev, seed=seed, **changes)
            for seed in range(S["seeds"])}
    counts = {seed: run.pop("per_example") for seed, run in runs.items()}
    metrics = {"run": run_name, "changes": changes, "info": info or {}, "seeds": runs, "summary": summarize(runs)}
    path = write_json(Path("reports/metrics") / stage / f"{run_name}.json", metrics)
    write_json(counts_path(path), counts)
    return metrics


def run_notebook(name: str, parameters: dict | None = None, params_file="params.yaml") -> Path:
    """Execute notebooks/<name>.ipynb with papermill into reports/notebooks/ (a run per parameter set:
    `05_k_sweep` with K=4 lands in `05_k_sweep_K4.ipynb`), from the repository root, reading
    `params_file` (a stage reads its resolved file, checked against params.yaml first). With
    `prepare.source: hub`, the data and evaluation stages run their hub variant (HUB_NOTEBOOKS)."""
    import papermill

    from .params import check_resolved
    from .studies import value_text

    check_resolved(params_file)
    if name in HUB_NOTEBOOKS and stage_params("prepare", params_file)["source"] == "hub":
        source = Path("notebooks") / f"{HUB_NOTEBOOKS[name]}.ipynb"
    else:
        source = Path("notebooks") / f"{name}.ipynb"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such notebook (run from the repository root)")
    parameters = parameters or {}
    suffix = "".join(f"_{key}{value_text(value)}" for key, value in parameters.items())
    target = Path("reports/notebooks") / f"{name}{suffix}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    papermill.execute_notebook(str(source), str(target), parameters={**parameters, "params_file": str(params_file)},
                               cwd=".", kernel_name="python3")
    if name != "08_report":  # the report tabulates every other stage's time (its own would be a cycle)
        write_json(Path("reports/timings") / f"{target.stem}.json", {"wall_s": round(time.perf_counter() - started, 1)})
    return target


def main(argv=None) -> None:
    """`python -m gliner.pipeline 05_k_sweep -p K 4`: what each dvc.yaml stage runs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m gliner.pipeline", description=main.__doc__)
    parser.add_argument("notebook", help="a notebook of notebooks/, without .ipynb")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a papermill parameter (the value read as YAML)")
    parser.add_argument("--params", default="params.yaml",
                        help="the params file the notebook reads: a stage's resolved file (reports/params/), or params.yaml")
    args = parser.parse_args(argv)
    parameters = yaml_values([(n, v, f"-p {n} {v}") for n, v in args.p], parser.error)
    print(run_notebook(args.notebook, parameters, args.params))


if __name__ == "__main__":
    main()
