"""The replay: ours takes the reference's own training steps (its examples, prompt types, learning rates; no
dropout), in turns, which separates what the implementations compute from what their random draws pick;
and the same recorded steps taken by ours in float32 and in bf16."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from bench.accuracy import f1_of
from bench.common import REFERENCE_LOSS, TRAIN, log
from bench.parity import max_span_score_diff
from bench.refclient import ReferenceWorker


class OursReplay:
    """Our training step as `gliner.train.train` takes it (`make_batch`, `batch_loss`, `make_optimizer`,
    `optimizer_step`), on the steps the reference took: the same examples, prompted with the same types in
    the same order, at the same learning rates; dropout off, as on the reference side."""

    def __init__(self, ckpt: Path, examples: list[dict], lr_factors: list[float], max_len: int, dtype: str = "float32",
                 bf16: bool = False):
        from gliner import GLiNER
        from gliner.train import freeze_pooler, make_optimizer

        self.model = GLiNER.from_pretrained(ckpt).eval().to(getattr(torch, dtype))
        freeze_pooler(self.model)
        self.optimizer = make_optimizer(self.model, TRAIN)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: lr_factors[step])
        self.examples, self.max_len = examples, max_len
        self.params = {**REFERENCE_LOSS, "bf16": bf16}

    def __call__(self, steps: list[dict]) -> tuple[float, list[float]]:
        """Take the reference's recorded steps; returns the seconds they took and their losses."""
        from gliner.train import batch_loss, make_batch, optimizer_step

        model, losses = self.model, []
        t0 = time.perf_counter()
        for step in steps:
            batch = make_batch([self.examples[i] for i in step["examples"]], step["types"], model, self.max_len)
            loss = batch_loss(model, batch, self.params)
            loss.backward()
            optimizer_step(model, self.optimizer, self.scheduler, TRAIN["max_grad_norm"])
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
    from gliner.loading import cpu_has_bf16

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
