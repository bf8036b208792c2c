"""The training runs both implementations take from one initial checkpoint on the same data, each in a
process of its own (bench/train_worker.py, bench/ref_worker.py), so that wall time, CPU time and peak RSS
are each run's alone. bench.run and bench.train run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from bench import corpus
from bench.common import EVAL_SEED, INIT, MODEL_NAME, TRAIN, log, random_bert
from bench.refclient import REPO, reproducible_env


def prepare_data(args, s: dict, work: Path) -> dict:
    """One training file both implementations read and the evaluation sample: seeded samples of the given
    files, or the synthetic corpus."""
    if args.train_file:
        # sentences with entities only (the CPU recipe's skip_empty), for both implementations
        train = corpus.load(args.train_file, s["train_examples"], s["max_words"], s["seed"], with_entities=True)
        evaluation = corpus.load(args.eval_file, s["eval_examples"], s["max_words"], EVAL_SEED)
        source = {"train_file": str(args.train_file), "eval_file": str(args.eval_file)}
    else:
        train = corpus.synthetic(s["train_examples"], seed=s["seed"])
        evaluation = corpus.synthetic(s["eval_examples"], seed=EVAL_SEED)
        source = {"synthetic": "bench/corpus.py templates", "labels": corpus.LABELS}
    return {"train_file": corpus.write(train, work / "train.jsonl"), "eval": evaluation,
            "info": {**source, "train_examples": len(train), "eval_examples": len(evaluation),
                     "max_words": s["max_words"]}}


def tiny_backbone(minilm: str, path: Path) -> str:
    """A randomly initialised 2-layer, 32-wide BERT with the MiniLM tokenizer, saved as a HF model."""
    from transformers import AutoTokenizer

    random_bert(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64).save_pretrained(path)
    AutoTokenizer.from_pretrained(minilm).save_pretrained(path)
    return str(path)


def initial_checkpoint(backbone: str, s: dict, path: Path, num_rnn_layers: int = 1) -> Path:
    """What `gliner.train.train` builds for this seed, saved by ours: the reference starts from it."""
    from gliner import GLiNER

    torch.manual_seed(s["seed"])
    model = GLiNER.from_backbone(backbone, model_name=MODEL_NAME, hidden_size=s["hidden_size"],
                                 num_rnn_layers=num_rnn_layers, **INIT)
    model.save_pretrained(path)
    return path


def training_jobs(s: dict, data: dict, work: Path, backbone: str, threads: int, ref_python: Path) -> dict:
    """The three training runs, {name: (command, job, model dir)}: ours, ours without the BiLSTM, the reference."""
    common = dict(train_file=str(data["train_file"]), max_steps=s["steps"], batch_size=s["batch_size"],
                  max_words=s["max_words"], save_every=0, progress=False, device="cpu", seed=s["seed"], **TRAIN,
                  max_width=INIT["max_width"], dropout=INIT["dropout"], max_types=INIT["max_types"],
                  model_config={"embed_ent_token": INIT["embed_ent_token"]},  # = initial_checkpoint's model
                  type_dropping=False)  # the reference 0.2.29's collator drops no types
    jobs = {}
    for name, rnn in (("ours", 1), ("ours_no_lstm", 0)):
        job = dict(common, output_dir=str(work / name), backbone=backbone, model_name=MODEL_NAME,
                   hidden_size=s["hidden_size"], num_rnn_layers=rnn, threads=threads)
        jobs[name] = ([sys.executable, "-m", "bench.train_worker"], job, work / name / "model")
    ref_job = dict(TRAIN, seed=s["seed"], threads=threads, train_file=str(data["train_file"]), init_ckpt=str(work / "init"),
                   output_dir=str(work / "reference_trainer"), model_dir=str(work / "reference" / "model"),
                   steps=s["steps"], batch_size=s["batch_size"])
    jobs["reference"] = ([str(ref_python), str(REPO / "bench" / "ref_worker.py"), "train"], ref_job,
                         work / "reference" / "model")
    return jobs


def prepare(args, s: dict, work: Path, backbone: str, ref_python: Path, reuse: bool = False) -> tuple[str, dict, dict]:
    """The backbone (a tiny random one where the setting says so), the data, the initial checkpoint (kept
    with `reuse` when one is in `work` already) and the training jobs that start from it."""
    if s.get("tiny_backbone"):
        backbone = tiny_backbone(backbone, work / "tiny_backbone")
    data = prepare_data(args, s, work)
    if not (reuse and (work / "init" / "gliner_config.json").is_file()):
        initial_checkpoint(backbone, s, work / "init")
    return backbone, data, training_jobs(s, data, work, backbone, args.threads, ref_python)


def run_training(jobs: dict, work: Path, parallel: bool, logfile, reuse: bool = False) -> dict:
    """Run the jobs (one after another, or all at once for --tiny, where timing means nothing).

    With reuse, a job whose job file in `work` is identical and whose results and model are there
    is not run again: its earlier results (marked "reused") are taken."""
    running, results = {}, {}
    for name, (cmd, job, model_dir) in jobs.items():
        job_file, out_file = work / f"{name}_job.json", work / f"{name}_train.json"
        if reuse and job_file.is_file() and json.loads(job_file.read_text()) == job and out_file.is_file() \
                and (model_dir / "gliner_config.json").is_file():
            log(f"training {name}: reusing the results of an identical earlier run in {work}")
            results[name] = dict(json.loads(out_file.read_text()), reused=True)
            continue
        job_file.write_text(json.dumps(job))
        log(f"training {name}: {job.get('max_steps', job.get('steps'))} steps")
        running[name] = (subprocess.Popen(cmd + [str(job_file), str(out_file)], cwd=REPO, stdout=logfile,
                                          stderr=logfile, env=reproducible_env()), out_file)
        if not parallel:
            running[name][0].wait()
    for name, (proc, out_file) in running.items():
        if proc.wait() != 0:
            raise RuntimeError(f"training {name} failed (exit code {proc.returncode}); see {logfile.name}")
        results[name] = json.loads(out_file.read_text())
    for r in results.values():
        r["steps_per_s"] = r["steps"] / r["loop_s"]
        r["cpu_s_per_step"] = r["loop_cpu_s"] / r["steps"]
    return {name: results[name] for name in jobs}
