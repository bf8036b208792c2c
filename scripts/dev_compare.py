"""Compare two sides of a recipe choice over several seeds on the dev sets (never test): a one-run
comparison cannot separate effects smaller than the recipe's own spread from one seed to the next.

    .venv/bin/python scripts/dev_compare.py CHOICE --base RUN [RUN ...] --other RUN [RUN ...] [--margin 2]

The runs are scripts/dev_eval.py runs of CHOICE (their per-sentence counts under <out-dir>/counts/), paired
by position (the same seed on both sides). Per dev set it prints each side's F1 per seed, the mean
difference other - base and its 95% interval (`gliner.studies.paired_bootstrap`: dev sentences and seeds
resampled), and then the rule: the other side is taken if the mean difference is above -margin points on
every dev set. The comparison is written to <out-dir>/compare/<CHOICE>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gliner.atomic import write_json
from gliner.studies import f1, paired_bootstrap

sys.path.insert(0, str(Path(__file__).parent))  # dev_eval.py beside this script, which writes the counts read here
from dev_eval import counts_file  # noqa: E402


def side_counts(counts: dict, runs: list[str], path: Path) -> dict[str, np.ndarray]:
    """{dev set: (seeds, sentences, 3)} of the named runs, in their order."""
    missing = [run for run in runs if run not in counts]
    if missing:
        raise SystemExit(f"{path}: no counts for run(s) {', '.join(missing)} (known: {', '.join(sorted(counts))})")
    return {name: np.array([counts[run][name] for run in runs]) for name in counts[runs[0]]}


def compare(counts: dict, base: list[str], other: list[str], margin: float, path: Path) -> dict:
    """Per dev set: each side's F1 per seed, the paired difference and its interval; and the rule's verdict."""
    if len(base) != len(other):
        raise SystemExit(f"--base has {len(base)} runs and --other {len(other)}: they pair by seed")
    a, b = side_counts(counts, base, path), side_counts(counts, other, path)
    sets = {}
    for name in a:
        diff = paired_bootstrap(a[name], b[name])
        sets[name] = {"gold": int(a[name][0, :, [0, 2]].sum()), "base_f1_seeds": f1(a[name].sum(axis=1)).tolist(),
                      "other_f1_seeds": f1(b[name].sum(axis=1)).tolist(), **diff}
    taken = all(s["diff"] > -margin / 100 for s in sets.values())
    return {"base": base, "other": other, "margin_points": margin, "sets": sets, "other_taken": taken}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("choice")
    parser.add_argument("--base", nargs="+", required=True, help="the recipe's runs, one per seed")
    parser.add_argument("--other", nargs="+", required=True, help="the alternative's runs, the same seeds in order")
    parser.add_argument("--margin", type=float, default=2.0, help="F1 points the mean difference may fall (default 2)")
    parser.add_argument("--out-dir", default="reports/recipe")
    args = parser.parse_args(argv)
    path = counts_file(args.out_dir, args.choice)
    if not path.exists():
        raise SystemExit(f"{path}: no per-sentence counts (run scripts/dev_eval.py ... --choice {args.choice} first)")
    result = compare(json.loads(path.read_text()), args.base, args.other, args.margin, path)
    write_json(Path(args.out_dir) / "compare" / f"{args.choice}.json", result)
    for name, s in result["sets"].items():
        seeds = " / ".join(f"{100 * x:.1f}" for x in s["base_f1_seeds"]), " / ".join(f"{100 * x:.1f}" for x in s["other_f1_seeds"])
        print(f"{name} ({s['gold']} gold): base {seeds[0]}; other {seeds[1]}; other - base {100 * s['diff']:+.2f} points "
              f"(95% interval {100 * s['low']:+.1f} to {100 * s['high']:+.1f}"
              f"{'; a difference' if s['differs'] else '; not distinguishable from noise'})")
    print(f"rule (mean difference above -{args.margin:g} points on every dev set): "
          f"{'taken' if result['other_taken'] else 'not taken'}")
    return result


if __name__ == "__main__":
    main()
