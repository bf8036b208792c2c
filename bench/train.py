"""Training side by side with the reference `gliner` 0.2.29: speed, memory and F1 after the same steps.

    .venv/bin/python -m bench.train [--steps 100] [--seeds 0 1 2] [--train-file F --eval-file F] [--tiny]

Both start from one initial checkpoint (MiniLM backbone, saved by ours), train on the same data
with the same batch size, learning rates and schedule (ours: `gliner.train.train`; the reference:
its own `train_model`, Hugging Face Trainer, in `.venv-ref`), one process each, one after the
other. Prints steps/s, CPU s per step, peak RSS and F1 (threshold 0.5 and the best of a small
sweep) of both, and the ratios. This is the training part of `bench.run`, which runs it as one
section of the full benchmark.

Then, for the first seed, ours replays the reference's own steps (`bench.replay.replay_training`:
the examples and prompt types its collator drew, its loss and optimizer, no dropout), in turns:
the losses step by step, the two trained models' weights, scores and F1, and steps/s on identical
batches. Where the replay agrees, the implementations compute the same training; what separates
the own runs' F1 is their random draws.

With several seeds (each picks the training sample, the initial checkpoint and the training
order; the evaluation sample stays the same), each seed is one paired comparison, and the F1
difference is reported as a mean with its standard error over seeds: one short run's F1 swings
more from seed to seed than the implementations differ.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from bench.accuracy import f1_of
from bench.common import add_data_arguments, parse_settings
from bench.refclient import ReferenceWorker, ensure_reference_venv
from bench.replay import replay_training
from bench.training import prepare, run_training
from gliner.atomic import write_json
from gliner.loading import default_backbone


def one_seed(args, s: dict, ref_python: Path, replay: bool) -> dict:
    """Train ours and the reference on one seed: their runs (timings, RSS, F1) and, with `replay`,
    ours replaying the reference's steps (bench.replay.replay_training: same-batch losses, F1, speed)."""
    from gliner import GLiNER

    with tempfile.TemporaryDirectory(prefix="gliner-bench-train-") as tmp:
        work = Path(tmp)
        _, data, jobs = prepare(args, s, work, default_backbone(), ref_python)
        jobs.pop("ours_no_lstm")
        with open(work / "subprocesses.log", "w") as logfile:
            runs = run_training(jobs, work, parallel=False, logfile=logfile)
            ours = GLiNER.from_pretrained(jobs["ours"][2])
            with ReferenceWorker(ref_python, args.threads, log=logfile) as ref:
                ref.call("load", ckpt=str(jobs["reference"][2]))
                runs["ours"]["f1"], runs["reference"]["f1"] = f1_of(ours, data["eval"]), f1_of(ref, data["eval"])
                if replay:
                    texts = [" ".join(ex["tokenized_text"]) for ex in data["eval"][: s["parity_texts"]]]
                    runs["replay"] = replay_training(ref, work / "init", data["train_file"], data["eval"], texts, s, work,
                                                     args.replay_dtype)
    runs["data"] = data["info"]
    return runs


def mean_and_error(values: list[float]) -> tuple[float, float]:
    """Mean and its standard error (0 for a single value)."""
    return statistics.mean(values), statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0


def print_report(s: dict, seeds: list[int], by_seed: dict, threads: int) -> dict:
    first = by_seed[seeds[0]]
    print(f"\n{s['steps']} steps, batch {s['batch_size']}, {first['data']['train_examples']} training sentences, "
          f"{first['data']['eval_examples']} evaluation sentences, {threads} threads, seeds {seeds}")
    print("| | ours | reference | ours / reference |\n|---|---:|---:|---:|")
    rows = [("steps/s, whole run", "steps_per_s", "{:.2f}", False), ("CPU s per step", "cpu_s_per_step", "{:.2f}", True),
            ("peak RSS, MB", "peak_rss_mb", "{:.0f}", False)]
    for name, key, fmt, inverse in rows:
        a = statistics.mean(by_seed[k]["ours"][key] for k in seeds)
        b = statistics.mean(by_seed[k]["reference"][key] for k in seeds)
        print(f"| {name} (mean over seeds) | {fmt.format(a)} | {fmt.format(b)} | {(b / a if inverse else a / b):.2f}× |")
    in_turns = first["replay"]["in_turns"]
    print(f"| steps/s, in turns on the same batches (seed {seeds[0]}) | {in_turns['ours_steps_per_s']:.2f} | "
          f"{in_turns['reference_steps_per_s']:.2f} | {in_turns['ours_vs_reference']:.2f}× |")
    print("(CPU s per step: the ratio is reference / ours, so above 1 means ours is cheaper.)")

    v = first["replay"]
    print(f"\nReplay (seed {seeds[0]}, {v['dtype']}): ours takes the reference's own {v['steps']} steps (its examples, prompt types, "
          f"loss and optimizer; no dropout). Losses agree to {v['max_relative_loss_diff']:.1e} (worst step, relative), "
          f"weights to {v['max_relative_weight_diff']:.1e}, span scores to {v['max_span_score_diff']:.1e}. F1 at 0.5: "
          f"ours {100 * v['ours_f1']['f1']:.1f}, reference {100 * v['reference_f1']['f1']:.1f} "
          f"({v['f1_diff_points']:+.2f} points); best F1: ours {100 * v['ours_f1']['best_f1']:.1f}, reference "
          f"{100 * v['reference_f1']['best_f1']:.1f} ({v['best_f1_diff_points']:+.2f} points).")
    summary = {}
    print("\nOwn training runs (each draws its own types and order from the seed):")
    print("| seed | ours F1 @0.5 | reference F1 @0.5 | difference | ours best F1 | reference best F1 | difference |"
          "\n|---:|---:|---:|---:|---:|---:|---:|")
    for k in seeds:
        o, r = by_seed[k]["ours"]["f1"], by_seed[k]["reference"]["f1"]
        print(f"| {k} | {100 * o['f1']:.1f} | {100 * r['f1']:.1f} | {100 * (o['f1'] - r['f1']):+.1f} | "
              f"{100 * o['best_f1']:.1f} | {100 * r['best_f1']:.1f} | {100 * (o['best_f1'] - r['best_f1']):+.1f} |")
    for key, label in (("f1", "F1 at 0.5"), ("best_f1", "best F1 of the sweep")):
        ours = [100 * by_seed[k]["ours"]["f1"][key] for k in seeds]
        theirs = [100 * by_seed[k]["reference"]["f1"][key] for k in seeds]
        diff, err = mean_and_error([a - b for a, b in zip(ours, theirs)])
        summary[key] = {"ours_mean": statistics.mean(ours), "reference_mean": statistics.mean(theirs),
                        "diff_mean_points": diff, "diff_standard_error_points": err, "seeds": len(seeds)}
        print(f"{label}: ours {statistics.mean(ours):.1f}, reference {statistics.mean(theirs):.1f}; "
              f"ours - reference = {diff:+.1f} ± {err:.1f} points (mean ± standard error over {len(seeds)} seeds)")
    return summary


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a tiny random backbone, a few steps (numbers mean nothing)")
    parser.add_argument("--steps", type=int, help="training steps for both (default: bench.run's setting)")
    parser.add_argument("--seeds", type=int, nargs="+", help="one paired comparison per seed (default: bench.run's seed)")
    add_data_arguments(parser)
    parser.add_argument("--replay-dtype", choices=["float32", "float64"], default="float32",
                        help="the replay's precision: float64 keeps both within rounding for the whole budget")
    parser.add_argument("--out", type=Path, help="also write every seed's runs and the summary here (JSON)")
    args, s = parse_settings(parser, argv)
    if args.steps:
        s["steps"] = args.steps
    seeds = args.seeds or [s["seed"]]
    if len(set(seeds)) != len(seeds):
        parser.error(f"--seeds {seeds}: each seed once")
    torch.set_num_threads(args.threads)
    ref_python = ensure_reference_venv()
    by_seed = {}
    for i, seed in enumerate(seeds):
        print(f"seed {seed} ({i + 1} of {len(seeds)})", flush=True)
        by_seed[seed] = one_seed(args, dict(s, seed=seed), ref_python, replay=i == 0)
    result = {"settings": s, "seeds": seeds, "runs": {str(k): v for k, v in by_seed.items()},
              "f1_summary": print_report(s, seeds, by_seed, args.threads)}
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
