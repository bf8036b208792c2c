"""Statistics for the ablation studies: every value runs several seeds, so a figure shows a mean
with its standard error and a difference between two values is called one only when its 95%
interval (a paired bootstrap over evaluation sentences and seeds) excludes 0."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def f1(counts) -> np.ndarray:
    """Micro F1 from (..., 3) arrays of summed (tp, fp, fn); 0 where there is no prediction and no gold."""
    counts = np.asarray(counts, dtype=float)
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def paired_bootstrap(a, b, reps: int = 2000, seed: int = 0) -> dict:
    """F1(b) - F1(a) on the same evaluation sentences: a and b are (seeds, sentences, 3) counts.

    Each replicate draws the sentences with replacement (the same draw for both sides, which is
    what makes it paired) and each side's seeds with replacement, and takes the mean over seeds
    of the micro F1; the interval is the replicates' 2.5th to 97.5th percentile."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"paired_bootstrap: both sides need the same sentences, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    n = a.shape[1]
    diffs = np.empty(reps)
    for r in range(reps):
        sentences = rng.integers(0, n, n)
        side = [f1(x[rng.integers(0, len(x), len(x))][:, sentences].sum(axis=1)).mean() for x in (a, b)]
        diffs[r] = side[1] - side[0]
    diff = f1(b.sum(axis=1)).mean() - f1(a.sum(axis=1)).mean()
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"diff": float(diff), "low": float(lo), "high": float(hi), "reps": reps,
            "differs": bool(lo > 0 or hi < 0)}


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN with one value)."""
    values = [float(v) for v in values]
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var / len(values))


def mean_se_text(values) -> str:
    """'mean ± s.e.' to one decimal, as the tables print a cell over seeds ('mean' with one seed)."""
    mean, se = mean_se(values)
    return f"{mean:.1f}" + (f" ± {se:.1f}" if len(values) > 1 else "")


def summarize(runs: dict[str, dict]) -> dict:
    """Per evaluation set, over the seeds of one value: F1 at 0.5 and at the dev-chosen threshold
    (mean, standard error, per seed) and the gold count behind them."""
    first = next(iter(runs.values()))["datasets"]
    out = {}
    for name in first:
        f1s = [r["datasets"][name]["micro"]["f1"] for r in runs.values()]
        dev = [r["datasets"][name]["f1_at_dev_threshold"] for r in runs.values()]
        micro = first[name]["micro"]
        (m, se), (dm, dse) = mean_se(f1s), mean_se(dev)
        out[name] = {"f1_mean": m, "f1_se": se, "f1_seeds": f1s, "dev_threshold_f1_mean": dm, "dev_threshold_f1_se": dse,
                     "dev_thresholds": [r["datasets"][name]["dev_threshold"] for r in runs.values()],
                     "gold": micro["tp"] + micro["fn"], "num_examples": first[name]["num_examples"]}
    return out


def over_seeds(per_seed: dict) -> dict:
    """The main recipe's test results over its seeds ({seed: gliner.evaluate result}): per set the gold
    count, each seed's micro F1, P and R, the F1's mean and standard error, and each gold type's F1 per
    seed; with WNUT-16, how many of its types each seed gets above 10% F1."""
    results = list(per_seed.values())
    out = {"seeds": list(per_seed), "datasets": {}}
    for name, first in results[0]["datasets"].items():
        micro = [r["datasets"][name]["micro"] for r in results]
        mean, se = mean_se([m["f1"] for m in micro])
        gold_types = [t for t, v in first["per_type"].items() if v["tp"] + v["fn"]]  # every seed counts these (a type only predicted may be missing)
        out["datasets"][name] = {"gold": micro[0]["tp"] + micro[0]["fn"], "f1_mean": mean, "f1_se": se,
                                 **{f"{k}_seeds": [m[k] for m in micro] for k in ("f1", "precision", "recall")},
                                 "per_type_f1_seeds": {t: [r["datasets"][name]["per_type"][t]["f1"] for r in results] for t in gold_types},
                                 "per_type_gold": {t: first["per_type"][t]["tp"] + first["per_type"][t]["fn"] for t in gold_types}}
    if "wnut16_gold" in out["datasets"]:
        per_type = out["datasets"]["wnut16_gold"]["per_type_f1_seeds"].values()
        out["wnut16_gold_types_above_10pct"] = [sum(v > 0.10 for v in f1s) for f1s in zip(*per_type)]
    return out


def seeds_figure(seed_metrics: dict, threshold: float):
    """Left: each test set's F1 per seed with the mean ± s.e.; right (with WNUT-16): its types' F1 over
    the seeds, the 10% line drawn, gold mentions in brackets. `seed_metrics` is `over_seeds`'s."""
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    rows = pd.DataFrame([{"set": f"{name} ({m['gold']:,} gold)", "seed": seed, "f1": 100 * f1}
                         for name, m in seed_metrics["datasets"].items() for seed, f1 in zip(seed_metrics["seeds"], m["f1_seeds"])])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), width_ratios=[1, 1.3])
    sns.pointplot(rows, y="set", x="f1", errorbar="se", linestyle="none", capsize=0.3, color="black", ax=axes[0])
    sns.stripplot(rows, y="set", x="f1", hue="seed", palette="deep", size=7, ax=axes[0])
    axes[0].set(title=f"test F1 at {threshold} over {len(seed_metrics['seeds'])} seeds (dots; bar: mean ± s.e.)",
                xlabel="exact-match micro F1 (%)", ylabel="")
    wnut = seed_metrics["datasets"].get("wnut16_gold")
    if wnut:
        gold = wnut["per_type_gold"]
        per_type = pd.DataFrame([{"type": f"{t} ({gold[t]})", "f1": 100 * f1} for t, f1s in wnut["per_type_f1_seeds"].items() for f1 in f1s])
        order = [f"{t} ({gold[t]})" for t in sorted(gold, key=gold.get, reverse=True)]
        sns.barplot(per_type, y="type", x="f1", order=order, errorbar="se", capsize=0.3, color="tab:blue", ax=axes[1])
        axes[1].axvline(10, color="grey", linestyle=":")
        axes[1].set(title="wnut16_gold per type, mean ± s.e. over seeds (gold mentions)", xlabel="exact-match F1 (%)", ylabel="")
    else:
        axes[1].set_axis_off()
    fig.tight_layout()
    return fig


def counts_path(metrics_path) -> Path:
    """Where a study's per-sentence counts live beside its metrics (kept out of `dvc metrics`)."""
    metrics_path = Path(metrics_path)
    return Path("reports/studies") / metrics_path.parent.name / f"{metrics_path.stem}.counts.json"


def load_counts(metrics_path) -> dict[str, np.ndarray]:
    """{set: (seeds, sentences, 3)} counts at threshold 0.5 of one value of a study."""
    path = counts_path(metrics_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no per-sentence counts for {metrics_path} (re-run its stage)") from None
    seeds = sorted(raw, key=int)
    return {name: np.array([raw[s][name] for s in seeds]) for name in raw[seeds[0]]}


def compare(paths: dict, baseline, reps: int = 2000) -> dict:
    """Every value of a study against `baseline` (a key of `paths`, value -> metrics file), per set."""
    base = load_counts(paths[baseline])
    out = {}
    for value, path in paths.items():
        if value == baseline:
            continue
        other = load_counts(path)
        out[value] = {name: paired_bootstrap(base[name], other[name], reps) for name in base if name in other}
    return out


def reading(study: str, baseline, comparisons: dict) -> str:
    """One generated line per evaluation set: each value against the baseline, called a
    difference only when its 95% interval excludes 0."""
    lines = []
    for name in sorted({name for per_set in comparisons.values() for name in per_set}):
        parts = []
        for value, per_set in comparisons.items():
            if name in per_set:
                c = per_set[name]
                verdict = "a difference" if c["differs"] else "not distinguishable from noise"
                parts.append(f"{study} = {value}: {100 * c['diff']:+.1f} points (95% interval {100 * c['low']:+.1f} to "
                             f"{100 * c['high']:+.1f}; {verdict})")
        lines.append(f"- `{name}`: " + "; ".join(parts) + ".")
    head = (f"**Reading it** (F1 at 0.5 against {study} = {baseline}; paired bootstrap over evaluation sentences "
            "and seeds):")
    return head + "\n\n" + ("\n".join(lines) if lines else "- one value only: nothing to compare.")


def study_frame(stage: str, values, metrics_dir="reports/metrics") -> tuple["pd.DataFrame", dict]:
    """One row per (value, seed, evaluation set, and the pooled 'all sets (micro)'): P/R/F1 at 0.5
    and F1 at the dev-chosen threshold in percent, the gold count, and the run's other figures;
    and each value's metrics path (for `compare`)."""
    import pandas as pd

    rows, paths = [], {}
    for value in values:
        path = Path(metrics_dir) / stage / f"{run_name(stage, value)}.json"
        m = json.loads(path.read_text(encoding="utf-8"))
        if "seeds" not in m:
            raise ValueError(f"{path}: one run, from before the studies had seeds: re-run `dvc repro {stage}`")
        paths[value] = path
        for seed, run in m["seeds"].items():
            extra = {k: run[k] for k in ("inference_texts_per_s", "gold_entities_within_max_width", "train_seconds") if k in run}
            extra.update(m.get("info", {}))
            sets = {name: (d["micro"], d["f1_at_dev_threshold"]) for name, d in run["datasets"].items()}
            sets["all sets (micro)"] = (run["overall"]["micro"], float("nan"))
            for name, (micro, dev_f1) in sets.items():
                rows.append({"value": value, "seed": int(seed), "set": name,
                             **{k: 100 * micro[k] for k in ("precision", "recall", "f1")},
                             "dev_threshold_f1": 100 * dev_f1, "gold": micro["tp"] + micro["fn"], **extra})
    return pd.DataFrame(rows), paths


RUN_PREFIX = {"k_sweep": "K", "negative_sampling": "neg_ratio", "data_scaling": "train_examples",
              "type_dropping": "type_dropping", "type_count": "types"}


def value_text(value) -> str:
    """A parameter value in a file name, as dvc.yaml's foreach writes it (booleans lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def run_name(stage: str, value) -> str:
    """A study value's run name, as its notebook and dvc.yaml write it (K12, type_droppingtrue)."""
    return f"{RUN_PREFIX[stage]}{value_text(value)}"
