"""What the pipeline's notebooks share: their parameters (params.yaml, with a profile switch) and
atomic writes of metrics and figures.

params.yaml holds one section per stage (`prepare`, `train`, `eval`, ...) for the default offline
CPU profile, and `profiles: {gpu: ..., tiny: ...}` with per-stage overrides; the top-level
`profile` key picks one (`dvc exp run -S profile=gpu`). Every stage reads its section through
`stage_params`, which fails at once, naming the file and the key, on anything it does not know or
that is out of range, before any heavy work starts.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .atomic import atomic_write

PROFILES = ("cpu", "gpu", "tiny", "paper-smoke")
SOURCES = ("offline", "hub")  # prepare.source: the corpora pinned by data.dvc, or the paper's (gliner.converters)
# Notebooks with a variant for the hub source: same stage, same outputs, the paper's corpora.
HUB_NOTEBOOKS = {"01_prepare_data": "01_prepare_hub", "03_zero_shot_eval": "03_zero_shot_eval_hub"}


def _positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _fraction(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0


def _int_list(v):
    return isinstance(v, list) and bool(v) and all(_positive_int(x) for x in v)


def _fraction_list(v):
    return isinstance(v, list) and bool(v) and all(_fraction(x) for x in v)


def _optional_int(v):
    return v is None or _positive_int(v)


def _mapping(v):
    return isinstance(v, dict)


def _str_list(v):
    return isinstance(v, list) and bool(v) and all(isinstance(x, str) and x for x in v)


# stage -> key -> (check, what it must be); `prepare` and `train` are checked by their own modules
# (offline.check_params, train.check_params), which know every key.
SCHEMAS = {
    "eval": {"sets": (_str_list, "a non-empty list of prepared evaluation set names"),
             "max_examples": (_optional_int, "a positive integer or null (all)"),
             "threshold": (lambda v: _fraction(v) and 0 < v < 1, "a number in (0, 1)"),
             "batch_size": (_positive_int, "a positive integer")},
    "k_sweep": {"values": (_int_list, "a non-empty list of positive integers (K, in words)"),
                "sets": (lambda v: v is None or _str_list(v), "a non-empty list of prepared evaluation set names, or null (eval.sets)"),
                "seeds": (_positive_int, "a positive integer (seeds 0 .. n-1 per value)"),
                "train": (_mapping, "a mapping of train parameters"),
                "eval_max_examples": (_optional_int, "a positive integer or null"),
                "speed_texts": (_positive_int, "a positive integer")},
    "negative_sampling": {"values": (_fraction_list, "a non-empty list of ratios in [0, 1]"),
                          "sets": (lambda v: v is None or _str_list(v), "a non-empty list of prepared evaluation set names, or null (eval.sets)"),
                          "seeds": (_positive_int, "a positive integer (seeds 0 .. n-1 per value)"),
                          "train": (_mapping, "a mapping of train parameters"),
                          "eval_max_examples": (_optional_int, "a positive integer or null")},
    "data_scaling": {"values": (_int_list, "a non-empty list of positive integers (training sentences)"),
                     "sets": (lambda v: v is None or _str_list(v), "a non-empty list of prepared evaluation set names, or null (eval.sets)"),
                     "seeds": (_positive_int, "a positive integer (seeds 0 .. n-1 per value)"),
                     "train": (_mapping, "a mapping of train parameters"),
                     "eval_max_examples": (_optional_int, "a positive integer or null")},
    "type_dropping": {"values": (lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, bool) for x in v),
                                 "a non-empty list of booleans (type dropping on / off)"),
                      "sets": (lambda v: v is None or _str_list(v), "a non-empty list of prepared evaluation set names, or null (eval.sets)"),
                      "seeds": (_positive_int, "a positive integer (seeds 0 .. n-1 per value)"),
                      "train": (_mapping, "a mapping of train parameters"),
                      "eval_max_examples": (_optional_int, "a positive integer or null")},
    "type_count": {"values": (_int_list, "a non-empty list of positive integers (training types kept, most frequent first)"),
                   "seeds": (_positive_int, "a positive integer (seeds 0 .. n-1 per value)"),
                   "sets": (_str_list, "a non-empty list of prepared evaluation set names"),
                   "train": (_mapping, "a mapping of train parameters"),
                   "eval_max_examples": (_optional_int, "a positive integer or null")},
    "multilingual": {"backbones": (_mapping, "a mapping of name -> backbone path or hub id"),
                     "seeds": (_positive_int, "a positive integer (seeds 0 .. n-1 per backbone)"),
                     "train": (_mapping, "a mapping of train parameters"),
                     "max_examples_per_language": (_optional_int, "a positive integer or null")},
    "report": {"readme": (lambda v: isinstance(v, str), "a path")},
}


# Mappings that name runs (one per entry) are replaced by a profile's, not merged into the base's.
REPLACED_BY_PROFILE = {"backbones"}


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        deep = isinstance(value, dict) and isinstance(out.get(key), dict) and key not in REPLACED_BY_PROFILE
        out[key] = _merge(out[key], value) if deep else value
    return out


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


def read_params(path="params.yaml") -> tuple[dict, str]:
    """The whole params file with the chosen profile's overrides applied, and the profile's name."""
    from .train import read_yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: params file not found (run from the repository root)")
    params = read_yaml(path)
    profile = params.get("profile", "cpu")
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"{path}: profile: must be one of {', '.join(PROFILES)}, got {profile!r}")
    unknown = sorted(set(params) - set(SCHEMAS) - {"profile", "profiles", "prepare", "train"}, key=str)
    if unknown:
        raise ValueError(f"{path}: {unknown[0]}: unknown section (known: profile, profiles, prepare, train, "
                         f"{', '.join(SCHEMAS)})")
    for stage, values in params.items():
        if stage != "profile" and not isinstance(values, dict) and not (stage == "profiles" and values is None):
            raise ValueError(f"{path}: {stage}: must be a mapping of parameters, got {type(values).__name__}")
    overrides = (params.get("profiles") or {}).get(profile) or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: profiles.{profile}: must be a mapping of sections, got {type(overrides).__name__}")
    merged = {k: v for k, v in params.items() if k != "profiles"}
    for stage, values in overrides.items():
        if stage not in merged:
            raise ValueError(f"{path}: profiles.{profile}.{stage}: no such section")
        if not isinstance(values, dict):
            raise ValueError(f"{path}: profiles.{profile}.{stage}: must be a mapping of parameters, got {type(values).__name__}")
        if "values" in values:
            raise ValueError(f"{path}: profiles.{profile}.{stage}.values: dvc.yaml's foreach reads the base list; "
                             f"change {stage}.values instead")
        merged[stage] = _merge(merged[stage], values)
    return merged, profile


def stage_params(stage: str, path="params.yaml") -> dict:
    """One stage's parameters, profile applied, every key checked (message: 'file: stage.key: ...')."""
    params, profile = read_params(path)
    if stage not in params:
        raise ValueError(f"{path}: {stage}: section missing")
    values = dict(params[stage])
    where = f"{path}: {stage}"
    if stage == "prepare":
        from .offline import check_params

        values.setdefault("source", "offline")
        values.setdefault("hub", {})
        if values["source"] not in SOURCES:
            raise ValueError(f"{where}.source: must be one of {', '.join(SOURCES)}, got {values['source']!r}")
        _check_hub(values["hub"], f"{where}.hub")
        check_params({k: v for k, v in values.items() if k not in ("raw_dir", "out_dir", "source", "hub")}, where)
        for key in ("raw_dir", "out_dir"):
            if not isinstance(values.get(key), str) or not values[key]:
                raise ValueError(f"{where}.{key}: must be a folder path, got {values.get(key, '(missing)')!r}")
    elif stage == "train":
        from .train import DEFAULTS, check_params

        unknown = sorted(set(values) - set(DEFAULTS), key=str)
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown parameter (known: {', '.join(DEFAULTS)})")
        check_params(values, where, check_files=False)  # types and ranges now; the file when training starts
    else:
        schema = SCHEMAS[stage]
        for key in sorted(set(values) - set(schema)):
            raise ValueError(f"{where}.{key}: unknown parameter (known: {', '.join(schema)})")
        for key, (check, what) in schema.items():
            if key not in values:
                raise ValueError(f"{where}.{key}: missing")
            if not check(values[key]):
                raise ValueError(f"{where}.{key}: must be {what}, got {values[key]!r}")
    values["profile"] = profile
    return values


def _check_hub(hub, where: str) -> None:
    """prepare.hub's keys are prepare_hub_corpora's arguments."""
    import inspect

    from .converters import prepare_hub_corpora

    if not isinstance(hub, dict):
        raise ValueError(f"{where}: must be a mapping of parameters, got {type(hub).__name__}")
    known = set(inspect.signature(prepare_hub_corpora).parameters) - {"out_dir", "where"}
    for key in sorted(set(hub) - known):
        raise ValueError(f"{where}.{key}: unknown parameter (known: {', '.join(sorted(known))})")


def ablation_train_params(stage: str, path="params.yaml", **changes) -> dict:
    """The main `train` parameters with the ablation's own `train` overrides and `changes` on top."""
    from .train import check_params

    train = stage_params("train", path)
    train.pop("profile")
    overrides = stage_params(stage, path)["train"]
    merged = _merge(_merge(train, overrides), changes)
    check_params(merged, f"{path}: {stage}.train (over train)", check_files=False)
    return merged


def write_json(path, obj) -> Path:
    """Metrics for `dvc metrics`: sorted keys, written atomically."""
    path = Path(path)
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
    return path


def save_figure(fig, path) -> Path:
    """Save a matplotlib figure as PNG atomically, without a date stamp (stable bytes across runs)."""
    import io

    import matplotlib.pyplot as plt


    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return atomic_write(path, png.getvalue())


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


def run_ablation(stage: str, run_name: str, params_file="params.yaml", sets: dict | None = None,
                 dev_sets: dict | None = None, **changes) -> dict:
    """Train one ablation model (the main recipe, the stage's overrides, then `changes`), evaluate
    it zero-shot on `sets` (default: the `eval` sets, cut to the stage's eval_max_examples) at 0.5
    and at the threshold chosen on `dev_sets` (default: their `dev_` twins) and time its
    inference; return the metrics a stage writes, with each sentence's counts under `per_example`.
    """
    import tempfile

    import torch

    from .evaluate import evaluate
    from .model import GLiNER
    from .train import train

    stage_values = stage_params(stage, params_file)
    with tempfile.TemporaryDirectory(prefix=f"{stage}-{run_name}-") as output_dir:  # ablation models are not kept
        params = ablation_train_params(stage, params_file, output_dir=output_dir, **changes)
        started = time.perf_counter()
        summary = train(params)
        train_seconds = time.perf_counter() - started
        device = "cuda" if torch.cuda.is_available() and params["device"] != "cpu" else "cpu"
        model = GLiNER.from_pretrained(Path(output_dir) / "model", map_location=device)
    eval_params = stage_params("eval", params_file)
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
        "train_seconds": train_seconds, "overall": result["overall"],
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


def run_notebook(name: str, parameters: dict | None = None) -> Path:
    """Execute notebooks/<name>.ipynb with papermill into reports/notebooks/ (a run per parameter set:
    `05_k_sweep` with K=4 lands in `05_k_sweep_K4.ipynb`), from the repository root. With
    `prepare.source: hub`, the data and evaluation stages run their hub variant (HUB_NOTEBOOKS)."""
    import papermill

    from .studies import value_text

    if name in HUB_NOTEBOOKS and stage_params("prepare")["source"] == "hub":
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
    papermill.execute_notebook(str(source), str(target), parameters=parameters, cwd=".", kernel_name="python3")
    if name != "08_report":  # the report tabulates every other stage's time (its own would be a cycle)
        write_json(Path("reports/timings") / f"{target.stem}.json", {"wall_s": round(time.perf_counter() - started, 1)})
    return target


def main(argv=None) -> None:
    """`python -m gliner.pipeline 05_k_sweep -p K 4`: what each dvc.yaml stage runs."""
    import argparse

    import yaml

    parser = argparse.ArgumentParser(prog="python -m gliner.pipeline", description=main.__doc__)
    parser.add_argument("notebook", help="a notebook of notebooks/, without .ipynb")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a papermill parameter (the value read as YAML)")
    args = parser.parse_args(argv)
    parameters = {}
    for name, value in args.p:
        try:
            parameters[name] = yaml.safe_load(value)
        except yaml.YAMLError as e:
            parser.error(f"-p {name} {value}: the value is not valid YAML ({getattr(e, 'problem', None) or e})")
    print(run_notebook(args.notebook, parameters))


if __name__ == "__main__":
    main()
